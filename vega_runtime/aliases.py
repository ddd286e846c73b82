"""PySpark's camelCase names, generated from one table.

Each entry is a Vega (PEP 8) name; its PySpark spelling is derived
mechanically unless ``SPELLINGS`` says otherwise.  So a PySpark RDD job runs
after changing only its import.

``install`` also makes every public method of the class accept PySpark's
keyword names (``num_slices`` as ``numSlices``; irregular ones from
``KEYWORD_SPELLINGS``) under both of its names, and guards the user functions
it is given (``user_code.fail_on_stopiteration``) when called from user code.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Callable, Dict, Iterable, Optional, Tuple

from .logs import hide_vega_frames
from .user_code import (GUARDED_IN_PIPELINE, USER_FUNCTION_PARAMETERS, VALUE_PARAMETERS,
                        fail_on_stopiteration)

RDD_METHODS: Tuple[str, ...] = (
    "map_partitions_with_index", "map_partitions", "flat_map", "key_by", "random_split",
    "zip_with_index", "zip_with_unique_id", "sort_by", "group_by", "map_values",
    "flat_map_values", "reduce_by_key", "fold_by_key", "aggregate_by_key", "combine_by_key",
    "group_by_key", "group_with", "left_outer_join", "right_outer_join", "full_outer_join",
    "subtract_by_key", "partition_by", "sort_by_key", "repartition_and_sort_within_partitions",
    "sample_by_key", "collect_as_map", "count_by_key", "count_by_value", "reduce_by_key_locally",
    "take_ordered", "take_sample", "tree_reduce", "tree_aggregate", "foreach_partition",
    "is_empty", "to_local_iterator", "count_approx", "count_approx_distinct", "sample_stdev",
    "sample_variance", "save_as_text_file", "save_as_pickle_file", "save_as_sequence_file",
    "get_storage_level", "save_as_hadoop_file", "save_as_new_api_hadoop_file",
    "save_as_hadoop_dataset", "save_as_new_api_hadoop_dataset",
    "local_checkpoint", "is_locally_checkpointed", "get_checkpoint_file",
    "set_name", "get_num_partitions", "sum_approx", "mean_approx",
    "collect_with_job_group", "with_resources", "get_resource_profile",
    "clean_shuffle_dependencies",
)

#: PySpark's names of the same thing under another name: camelCase name -> Vega name.
EXTRA_RDD_ALIASES: Dict[str, str] = {"mapPartitionsWithSplit": "map_partitions_with_index",
                                     "_is_barrier": "is_barrier"}

CONTEXT_MEMBERS: Tuple[str, ...] = (
    "text_file", "whole_text_files", "binary_files", "binary_records", "pickle_file",
    "sequence_file", "hadoop_file", "new_api_hadoop_file", "hadoop_rdd", "new_api_hadoop_rdd",
    "empty_rdd",
    "set_checkpoint_dir", "run_job", "default_parallelism", "default_min_partitions",
    "application_id", "app_name", "set_log_level", "get_or_create", "start_time", "ui_web_url",
    "get_checkpoint_dir", "set_local_property", "get_local_property", "set_job_group",
    "cancel_job_group", "cancel_all_jobs", "status_tracker", "add_file", "add_py_file",
    "add_archive", "list_files", "list_archives", "set_job_description",
    "set_interrupt_on_cancel", "add_job_tag", "remove_job_tag", "get_job_tags",
    "clear_job_tags", "cancel_jobs_with_tag", "spark_user",
)

STATUS_TRACKER_METHODS: Tuple[str, ...] = (
    "get_job_ids_for_group", "get_active_job_ids", "get_active_stage_ids", "get_job_info",
    "get_stage_info", "get_executor_infos",
)

STAT_COUNTER_METHODS: Tuple[str, ...] = ("sample_variance", "sample_stdev", "merge_stats",
                                          "as_dict")

#: Where PySpark's spelling is not the mechanical one.
SPELLINGS: Dict[str, str] = {"empty_rdd": "emptyRDD", "get_active_job_ids": "getActiveJobsIds",
                             "ui_web_url": "uiWebUrl", "hadoop_rdd": "hadoopRDD",
                             "new_api_hadoop_rdd": "newAPIHadoopRDD",
                             "new_api_hadoop_file": "newAPIHadoopFile",
                             "save_as_new_api_hadoop_file": "saveAsNewAPIHadoopFile",
                             "save_as_new_api_hadoop_dataset": "saveAsNewAPIHadoopDataset"}

#: method -> {PySpark keyword: Vega parameter} where it is not the mechanical camelCase.
KEYWORD_SPELLINGS: Dict[str, Dict[str, str]] = {
    "parallelize": {"c": "data"}, "make_rdd": {"c": "data"},
    "text_file": {"name": "path"}, "pickle_file": {"name": "path"},
    "set_checkpoint_dir": {"dirName": "directory"}, "set_log_level": {"logLevel": "level"},
    "count_approx_distinct": {"relativeSD": "relative_sd"},
}


#: PySpark's members of ``RDD`` and ``SparkContext`` that Vega lacks, and why: an
#: AttributeError for one says so (:func:`missing_member`), and docs/api.md's compatibility
#: table lists them (scripts/pyspark_compat_table.py)
NOT_IN_VEGA: Dict[str, Dict[str, str]] = {
    "RDD": {
        "toDF": "DataFrames are Spark SQL, which Vega does not implement",
    },
    "SparkContext": {
        "serializer": "the serializer PySpark's RDDs pass records between Python and the "
                      "JVM with, which programs hand to RDD(jrdd, sc, serializer) to wrap a "
                      "JVM RDD; Vega has no JVM RDDs and pickles records itself",
    },
}


def missing_member(obj: object, name: str, owner: str) -> AttributeError:
    """The AttributeError for ``obj.name``, which ``obj`` lacks: Python's message, and for
    a member of PySpark's ``owner`` class (``"RDD"``, ``"SparkContext"``) Vega does not
    implement, that it is not in Vega and why.

    >>> str(missing_member(object(), "toDF", "RDD"))  # doctest: +ELLIPSIS
    "'object' object has no attribute 'toDF': PySpark's RDD.toDF is not in Vega (DataFrames..."
    """
    text = f"{type(obj).__name__!r} object has no attribute {name!r}"
    reason = NOT_IN_VEGA.get(owner, {}).get(name)
    if reason is not None:
        text += f": PySpark's {owner}.{name} is not in Vega ({reason})"
    return AttributeError(text, name=name, obj=obj)


def camel_case(name: str) -> str:
    """``save_as_text_file`` -> ``saveAsTextFile``.

    >>> camel_case("zip_with_index")
    'zipWithIndex'
    """
    if name in SPELLINGS:
        return SPELLINGS[name]
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def install(cls: type, names: Iterable[str], pyspark_class: Optional[str] = None) -> None:
    """Give ``cls`` an alias per name; properties stay properties.

    Every public method (and ``__init__``) first learns PySpark's keyword names
    and guards its user functions, so both spellings of a method do.  With
    ``pyspark_class`` (``"RDD"``, ``"SparkContext"``), a name an instance lacks raises
    :func:`missing_member`'s AttributeError, which says why for PySpark's members.
    """
    for name, member in _public_methods(cls):
        setattr(cls, name, _pyspark_call(name, member))
    for name in names:
        setattr(cls, camel_case(name), _lookup(cls, name))
    if pyspark_class is not None:
        def __getattr__(self, name: str):  # only for names the instance lacks
            raise missing_member(self, name, pyspark_class)

        cls.__getattr__ = __getattr__


def _public_methods(cls: type):
    seen = set()
    for klass in cls.__mro__[:-1]:
        for name, member in klass.__dict__.items():
            if name in seen or (name.startswith("_") and name != "__init__"):
                continue
            seen.add(name)
            if isinstance(member, types.FunctionType):
                yield name, member


def parameter_names(method: Callable) -> Tuple[str, ...]:
    """The names of ``inspect.signature(method).parameters``, in order; read from the code
    of a plain function (and what ``functools.wraps`` wrapped), without loading ``inspect``
    and ``ast`` into every driver.

    >>> def f(a, b=1, *args, c, **kwargs): ...
    >>> parameter_names(f)
    ('a', 'b', 'args', 'c', 'kwargs')
    >>> parameter_names(functools.wraps(f)(lambda *a, **k: None))
    ('a', 'b', 'args', 'c', 'kwargs')
    """
    while hasattr(method, "__wrapped__") and not hasattr(method, "__signature__"):
        method = method.__wrapped__
    if type(method) is not types.FunctionType or hasattr(method, "__signature__"):
        import inspect

        return tuple(inspect.signature(method).parameters)
    code = method.__code__
    positional, keyword = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames
    star = positional + keyword
    out = list(names[:positional])
    if code.co_flags & 0x04:  # CO_VARARGS
        out.append(names[star])
        star += 1
    out.extend(names[positional:positional + keyword])
    if code.co_flags & 0x08:  # CO_VARKEYWORDS
        out.append(names[star])
    return tuple(out)


def keyword_aliases(name: str, method: Callable) -> Dict[str, str]:
    """PySpark keyword -> parameter of ``method`` (called ``name``).

    >>> def parallelize(self, data, num_slices=None): ...
    >>> keyword_aliases("parallelize", parallelize)
    {'numSlices': 'num_slices', 'c': 'data'}
    """
    params = parameter_names(method)
    irregular = {k: v for k, v in KEYWORD_SPELLINGS.get(name, {}).items() if v in params}
    table = {camel_case(p): p for p in params
             if "_" in p.strip("_") and p not in irregular.values()}
    table.update(irregular)
    return {k: v for k, v in table.items() if k not in params}


def _pyspark_call(name: str, method: Callable) -> Callable:
    """``method``, accepting PySpark's keywords and guarding user functions from user code;
    an error it raises to user code leaves without the engine's frames under it
    (``logs.hide_vega_frames``).

    The signature is read at the first call, not at import: a job calls a handful of the
    ~290 methods, and reading them all took a good part of ``import vega_runtime``.
    """
    plan: list = []  # [(renames, guarded)], filled by the first call (one atomic store)

    @functools.wraps(method)
    def call(*args, **kwargs):
        if not plan:
            plan[:] = [_call_plan(name, method)]
        renames, guarded = plan[0]
        if kwargs and renames:
            kwargs = _renamed(name, kwargs, renames)
        if guarded and not sys._getframe(1).f_globals.get("__name__", "").startswith(_PACKAGE):
            args = tuple(fail_on_stopiteration(a) if i in guarded else a
                         for i, a in enumerate(args))
            for key in guarded.values():
                if key in kwargs:
                    kwargs[key] = fail_on_stopiteration(kwargs[key])
        try:
            return method(*args, **kwargs)
        except (Exception, KeyboardInterrupt) as exc:
            if sys._getframe(1).f_globals.get("__name__", "").startswith(_PACKAGE):
                raise
            __tracebackhide__ = True  # noqa: F841 - IPython's: not shown unless the last frame
            # The engine's frames under this one are left out: a Vega error's message says
            # what happened and what to do (vega submit --debug and shell --debug show them)
            raise hide_vega_frames(exc)

    return call


def _call_plan(name: str, method: Callable) -> Tuple[Dict[str, str], Dict[int, str]]:
    """(PySpark keyword -> parameter, position -> parameter of each user function to guard)."""
    params = parameter_names(method)
    guarded = {i: p for i, p in enumerate(params)
               if p in USER_FUNCTION_PARAMETERS and (name, p) not in VALUE_PARAMETERS
               and (name, p) not in GUARDED_IN_PIPELINE}
    return keyword_aliases(name, method), guarded


_PACKAGE = __name__.rpartition(".")[0] + "."


def _renamed(name: str, kwargs: dict, renames: Dict[str, str]) -> dict:
    out, spelled = {}, {}
    for key, value in kwargs.items():
        target = renames.get(key, key)
        if target in out:
            raise TypeError(f"{name}() got {spelled[target]}= and {key}=, two names of its "
                            f"argument {target!r}: pass one")
        out[target], spelled[target] = value, key
    return out


def _lookup(cls: type, name: str):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    raise AttributeError(f"{cls.__name__} has no member {name!r} to alias")
