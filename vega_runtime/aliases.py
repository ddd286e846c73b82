"""PySpark's camelCase names, generated from one table.

Each entry is a Vega (PEP 8) name; its PySpark spelling is derived
mechanically unless ``SPELLINGS`` says otherwise.  So a PySpark RDD job runs
after changing only its import.
"""

from __future__ import annotations

from typing import Dict, Iterable, Tuple

RDD_METHODS: Tuple[str, ...] = (
    "map_partitions_with_index", "map_partitions", "flat_map", "key_by", "random_split",
    "zip_with_index", "zip_with_unique_id", "sort_by", "group_by", "map_values",
    "flat_map_values", "reduce_by_key", "fold_by_key", "aggregate_by_key", "combine_by_key",
    "group_by_key", "group_with", "left_outer_join", "right_outer_join", "full_outer_join",
    "subtract_by_key", "partition_by", "sort_by_key", "repartition_and_sort_within_partitions",
    "sample_by_key", "collect_as_map", "count_by_key", "count_by_value", "reduce_by_key_locally",
    "take_ordered", "take_sample", "tree_reduce", "tree_aggregate", "foreach_partition",
    "is_empty", "to_local_iterator", "count_approx", "count_approx_distinct", "sample_stdev",
    "sample_variance", "save_as_text_file", "save_as_pickle_file", "get_storage_level",
    "local_checkpoint", "is_checkpointed", "is_locally_checkpointed", "get_checkpoint_file",
    "set_name", "get_num_partitions", "to_debug_string",
)

CONTEXT_MEMBERS: Tuple[str, ...] = (
    "text_file", "whole_text_files", "binary_files", "pickle_file", "empty_rdd",
    "set_checkpoint_dir", "run_job", "default_parallelism", "default_min_partitions",
    "application_id", "set_log_level",
)

STAT_COUNTER_METHODS: Tuple[str, ...] = ("sample_variance", "sample_stdev", "merge_stats")

#: Where PySpark's spelling is not the mechanical one.
SPELLINGS: Dict[str, str] = {"empty_rdd": "emptyRDD"}


def camel_case(name: str) -> str:
    """``save_as_text_file`` -> ``saveAsTextFile``.

    >>> camel_case("zip_with_index")
    'zipWithIndex'
    """
    if name in SPELLINGS:
        return SPELLINGS[name]
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def install(cls: type, names: Iterable[str]) -> None:
    """Give ``cls`` an alias per name; properties stay properties."""
    for name in names:
        member = _lookup(cls, name)
        setattr(cls, camel_case(name), member)


def _lookup(cls: type, name: str):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise AttributeError(f"{cls.__name__} has no member {name!r} to alias")
