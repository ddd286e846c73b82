"""The combine loop of both sides of a shuffle: fold a batch of pairs into a dict.

It is the hottest code of a shuffle, so it is written out per case: a value that is its
own combiner (``reduce_by_key``) skips the ``create_combiner`` call, and
``group_by_key``'s lists are created and appended to in place, with no Python call per
record (its aggregator's functions are recognised by identity).
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from ..rdd.aggregator import _append, _extend, _new_list

_MISSING = object()


def combine_batch(combiners: dict, batch: Iterable, create: Optional[Callable],
                  merge: Callable) -> None:
    """Fold ``(key, value)`` pairs into ``combiners``: ``create(value)`` for a new key
    (the value itself when ``create`` is None), ``merge(combiner, value)`` for a known one."""
    get = combiners.get
    if create is _new_list and merge is _append:  # group_by_key, values
        for key, value in batch:
            group = get(key)
            if group is None:
                combiners[key] = [value]
            else:
                group.append(value)
    elif create is None and merge is _extend:  # group_by_key, lists of values
        for key, values in batch:
            group = get(key)
            if group is None:
                combiners[key] = values
            else:
                group.extend(values)
    elif create is None:
        missing = _MISSING
        for key, value in batch:
            current = get(key, missing)
            combiners[key] = value if current is missing else merge(current, value)
    else:
        missing = _MISSING
        for key, value in batch:
            current = get(key, missing)
            combiners[key] = create(value) if current is missing else merge(current, value)
