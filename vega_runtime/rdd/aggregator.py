"""How values of one key are combined: PySpark's combineByKey triple."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Optional


class Aggregator:
    """``create_combiner(v)``, ``merge_value(c, v)``, ``merge_combiners(c1, c2)``.

    ``create_combiner=None`` means the value is its own combiner (reduce_by_key),
    which lets the combine loops skip a call per record.
    """

    __slots__ = ("create_combiner", "merge_value", "merge_combiners")

    def __init__(self, create_combiner: Optional[Callable[[Any], Any]],
                 merge_value: Callable[[Any, Any], Any],
                 merge_combiners: Callable[[Any, Any], Any]):
        self.create_combiner = create_combiner
        self.merge_value = merge_value
        self.merge_combiners = merge_combiners

    def __getstate__(self):
        return (self.create_combiner, self.merge_value, self.merge_combiners)

    def __setstate__(self, state):
        self.create_combiner, self.merge_value, self.merge_combiners = state


def reducing(func: Callable[[Any, Any], Any]) -> Aggregator:
    """The aggregator of ``reduce_by_key(func)``."""
    return Aggregator(None, func, func)


def _new_list(value):
    return [value]


def _append(combiner: list, value):
    combiner.append(value)
    return combiner


def _extend(combiner: list, other: list):
    combiner.extend(other)
    return combiner


#: ``group_by_key``: values of a key in input order.
GROUPING = Aggregator(_new_list, _append, _extend)


def append_tagged(groups: tuple, tagged: tuple) -> tuple:
    """``cogroup``'s ``merge_value``: ``(side, value)`` appended to that side's list (the
    combine loops recognise it and append in place, with no call per record)."""
    groups[tagged[0]].append(tagged[1])
    return groups


def extend_groups(mine: tuple, theirs: tuple) -> tuple:
    """``cogroup``'s ``merge_combiners``: each side's values of ``theirs`` after ``mine``'s."""
    for values, more in zip(mine, theirs):
        values.extend(more)
    return mine


def _tag(tag: int, record) -> tuple:
    key, value = record
    return key, (tag, value)


class TaggedValues(map):
    """``(key, (tag, value))`` for each ``(key, value)`` of ``records``: what one side of a
    ``cogroup`` feeds its shuffle. A shuffle's map side may read ``records`` and ``tag``
    instead and put each value straight into its side's list (no tuple, no call per record).

    >>> list(TaggedValues(iter([("a", 1)]), 1))
    [('a', (1, 1))]
    """

    __slots__ = ("records", "tag")

    def __new__(cls, records, tag: int):
        records = iter(records)
        self = super().__new__(cls, partial(_tag, tag), records)
        self.records, self.tag = records, tag
        return self
