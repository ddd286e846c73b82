"""The combine loop of both sides of a shuffle: fold a batch of pairs into a dict.

It is the hottest code of a shuffle, so it is written out per case: a value that is its
own combiner (``reduce_by_key``) skips the ``create_combiner`` call, and
``group_by_key``'s lists are created and appended to in place, with no Python call per
record (its aggregator's functions are recognised by identity).
"""

from __future__ import annotations

from collections import _count_elements  # Counter.update's C loop: no Python code per key
from operator import add
from typing import Callable, Iterable, Optional

from ..rdd.aggregator import (TaggedValues, _append, _extend, _new_list, append_tagged,
                              extend_groups)
from ..lambda_fusion import fused_loop
from ..user_code import ConstantPairs, MappedRecords, adds, stopped_in

_MISSING = object()


def combine_side(combiners: dict, batch: Iterable, side: int, create: Callable) -> None:
    """``combine_batch`` of one side's ``(key, value)`` pairs into a ``cogroup``'s groups
    (``TaggedValues`` without the tags): the value appended to the key's list ``side``,
    ``create((side, value))`` for a new key."""
    get = combiners.get
    for key, value in batch:
        groups = get(key)
        if groups is None:
            combiners[key] = create((side, value))
        else:
            groups[side].append(value)


def counted_pairs(records, aggregator) -> Optional[ConstantPairs]:
    """``records`` when their map-side combine is a count: pairs ``(key, c)`` made by
    ``lambda w: (w, c)`` (``ConstantPairs``) with ``c`` an ``int``, reduced by addition
    (``add``, ``lambda a, b: a + b``), so each key's combiner is its count times ``c``
    exactly (word count). None otherwise."""
    if (type(records) is ConstantPairs and type(records.constant) is int
            and aggregator.create_combiner is None and adds(aggregator.merge_value)):
        return records
    return None


def mapped_pairs(records, aggregator) -> Optional[MappedRecords]:
    """``records`` when they are ``map(f)``'s records made by a generator
    (``MappedRecords``) combined by addition (``reduce_by_key(add)``) or grouped
    (``group_by_key``): ``combine_mapped`` may call ``f`` in its own loop. None otherwise."""
    if type(records) is MappedRecords and mapped_fold(aggregator) is not None:
        return records
    return None


def mapped_fold(aggregator) -> Optional[str]:
    """``"add"`` or ``"group"``: which of ``combine_mapped``'s loops folds values with
    ``aggregator`` (None for another aggregator)."""
    create, merge = aggregator.create_combiner, aggregator.merge_value
    if create is None and adds(merge):
        return "add"
    if create is _new_list and merge is _append:
        return "group"
    return None


def combine_mapped(combiners: dict, batch: Iterable, f: Callable, fold: str,
                   source=None) -> None:
    """``combine_batch`` of ``map(f, batch)`` with ``mapped_fold``'s ``fold``. ``f``'s body
    runs inside the loop when ``source`` proves it (``lambda_fusion.fused_loop``: no call
    per record); else ``f`` is called in the loop (no generator step per record). A
    StopIteration ``f`` raises fails the task as ``map`` does (``stopped_in``; the ``try``
    costs nothing per record on Python 3.11)."""
    if source is not None:
        loop = fused_loop(f, source, fold)
        if loop is not None:
            stopped = loop(combiners, batch, _MISSING)
            if stopped is not None:
                raise stopped_in(f, stopped) from stopped
            return
    get = combiners.get
    if fold == "add":  # reduce_by_key(add): the values summed
        missing = _MISSING
        for record in batch:
            try:
                key, value = f(record)
            except StopIteration as exc:
                raise stopped_in(f, exc) from exc
            current = get(key, missing)
            combiners[key] = value if current is missing else current + value
    elif fold == "group":  # group_by_key: the values listed in order
        for record in batch:
            try:
                key, value = f(record)
            except StopIteration as exc:
                raise stopped_in(f, exc) from exc
            group = get(key)
            if group is None:
                combiners[key] = [value]
            else:
                group.append(value)
    else:
        raise ValueError(f"combine_mapped folds by 'add' or 'group', not {fold!r}")


def tagged_side(records, aggregator) -> Optional[TaggedValues]:
    """``records`` when they are one side of a ``cogroup`` (``TaggedValues``) combined by
    its aggregator, whose map side ``combine_side`` may do without the tags; else None."""
    if type(records) is TaggedValues and aggregator.merge_value is append_tagged:
        return records
    return None


def count_batch(counts: dict, keys: Iterable) -> None:
    """Add 1 to ``counts[key]`` (0 when new) for each key, in C."""
    _count_elements(counts, keys)


def times(counts: dict, constant: int) -> dict:
    """The combiners of ``counts`` keys each paired with ``constant``: ``n * constant``."""
    if constant == 1:
        return counts
    return {key: n * constant for key, n in counts.items()}


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
    elif merge is append_tagged:  # cogroup, (side, value): appended to the side's list
        for key, tagged in batch:
            groups = get(key)
            if groups is None:
                combiners[key] = create(tagged)
            else:
                groups[tagged[0]].append(tagged[1])
    elif create is None and merge is extend_groups:  # cogroup, groups of a map side
        for key, groups in batch:
            mine = get(key)
            if mine is None:
                combiners[key] = groups
            else:
                for values, more in zip(mine, groups):
                    values.extend(more)
    elif create is None and merge is add:  # reduce_by_key(add)
        missing = _MISSING
        for key, value in batch:
            current = get(key, missing)
            combiners[key] = value if current is missing else current + value
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
