"""How values of one key are combined: PySpark's combineByKey triple."""

from __future__ import annotations

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
