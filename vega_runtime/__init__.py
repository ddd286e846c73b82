"""Vega: a Spark-style distributed data engine with PySpark's RDD API.

>>> from vega_runtime import Context
>>> with Context(master="local") as ctx:
...     dict(ctx.parallelize(["a b", "b"]).flat_map(str.split).count_by_value())
{'a': 1, 'b': 2}

The public names are imported on first use (PEP 562), so daemons and
executors that need only part of the engine start without loading all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .lazy_imports import load_entry_point

#: public name -> the module that defines it
_EXPORTS = {
    "Context": ".context", "SparkContext": ".context", "RDD": ".rdd.base",
    "StorageLevel": ".storage_level", "TaskContext": ".task_context",
    "BarrierTaskContext": ".task_context",
    "Broadcast": ".shared", "Accumulator": ".shared", "AccumulatorParam": ".shared",
    "StatCounter": ".rdd.stats", "SparkFiles": ".files",
    "HdfsIO": ".vega_io", "LocalFsIO": ".vega_io", "Decoders": ".vega_io",
    "VegaError": ".errors", "TaskFailed": ".errors", "ConfigError": ".errors",
    "ClosureNotSerializable": ".errors", "DriverOnlyError": ".errors", "InputError": ".errors",
    "JobCancelled": ".errors", "OutputExistsError": ".errors",
    "ResourceProfileBuilder": ".resources", "TaskResourceRequests": ".resources",
    "ExecutorResourceRequests": ".resources", "ResourceInformation": ".resources",
    # the rest of PySpark's top-level names, so a job leaves ``--pyspark-compat`` by
    # importing them from here (docs/api.md, "Moving a PySpark job to Vega")
    "SparkConf": ".pyspark_compat.conf", "BarrierTaskInfo": ".task_context",
    "RDDBarrier": ".rdd.barrier", "BasicProfiler": ".profiler", "Profiler": ".profiler",
    "StatusTracker": ".scheduler.status", "SparkJobInfo": ".scheduler.status",
    "SparkStageInfo": ".scheduler.status", "InheritableThread": ".pyspark_compat.util",
    "inheritable_thread_target": ".pyspark_compat.util",
}

__all__ = [
    "Context", "SparkContext", "RDD", "StorageLevel", "TaskContext", "BarrierTaskContext",
    "Broadcast", "Accumulator",
    "AccumulatorParam", "StatCounter", "VegaError", "TaskFailed", "ConfigError",
    "ClosureNotSerializable", "DriverOnlyError", "InputError", "JobCancelled",
    "OutputExistsError", "SparkFiles", "HdfsIO", "LocalFsIO", "Decoders", "__version__",
    "ResourceProfileBuilder", "TaskResourceRequests", "ExecutorResourceRequests",
    "ResourceInformation", "SparkConf", "BarrierTaskInfo", "RDDBarrier", "BasicProfiler",
    "Profiler", "StatusTracker", "SparkJobInfo", "SparkStageInfo", "InheritableThread",
    "inheritable_thread_target",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vega_runtime' has no attribute {name!r}")
    value = load_entry_point(f"{__name__}{module}:{name}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from .context import Context, SparkContext
    from .errors import (ClosureNotSerializable, ConfigError, DriverOnlyError, InputError,
                         JobCancelled, OutputExistsError, TaskFailed, VegaError)
    from .files import SparkFiles
    from .profiler import BasicProfiler, Profiler
    from .pyspark_compat.conf import SparkConf
    from .pyspark_compat.util import InheritableThread, inheritable_thread_target
    from .rdd.barrier import RDDBarrier
    from .rdd.base import RDD
    from .rdd.stats import StatCounter
    from .resources import (ExecutorResourceRequests, ResourceInformation,
                            ResourceProfileBuilder, TaskResourceRequests)
    from .shared import Accumulator, AccumulatorParam, Broadcast
    from .storage_level import StorageLevel
    from .scheduler.status import SparkJobInfo, SparkStageInfo, StatusTracker
    from .task_context import BarrierTaskContext, BarrierTaskInfo, TaskContext
    from .vega_io import Decoders, HdfsIO, LocalFsIO
