"""Vega: a Spark-style distributed data engine with PySpark's RDD API.

>>> from vega_runtime import Context
>>> with Context(master="local") as ctx:
...     ctx.parallelize(["a b", "b"]).flat_map(str.split).count_by_value()
{'a': 1, 'b': 2}
"""

from . import aliases as _aliases
from ._version import __version__
from .context import Context
from .files import SparkFiles
from .errors import (ClosureNotSerializable, ConfigError, DriverOnlyError, InputError,
                     JobCancelled, OutputExistsError, TaskFailed, VegaError)
from .rdd.base import RDD
from .rdd.stats import StatCounter
from .shared import Accumulator, AccumulatorParam, Broadcast
from .storage_level import StorageLevel
from .task_context import TaskContext
from .vega_io import Decoders, HdfsIO, LocalFsIO

_aliases.install(RDD, _aliases.RDD_METHODS)
_aliases.install(Context, _aliases.CONTEXT_MEMBERS)
_aliases.install(StatCounter, _aliases.STAT_COUNTER_METHODS)

#: PySpark's name for the same thing, so ``SparkContext(...)`` jobs port by import alone.
SparkContext = Context

__all__ = [
    "Context", "SparkContext", "RDD", "StorageLevel", "TaskContext", "Broadcast", "Accumulator",
    "AccumulatorParam", "StatCounter", "VegaError", "TaskFailed", "ConfigError",
    "ClosureNotSerializable", "DriverOnlyError", "InputError", "JobCancelled",
    "OutputExistsError", "SparkFiles", "HdfsIO", "LocalFsIO", "Decoders", "__version__",
]
