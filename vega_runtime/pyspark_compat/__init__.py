"""PySpark's names for Vega's classes: ``import pyspark`` in ``vega submit --pyspark-compat``.

With the compatibility switched on (``vega submit --pyspark-compat`` or
``vega.pyspark_compat: true``), ``import pyspark`` and ``import pyspark.<module>`` resolve
to this package and its modules (:mod:`vega_runtime.pyspark_alias`), on the driver and, for
an ``import pyspark`` inside a task's function, on the executors (the switch travels with
each job's tasks); what the driver pickles refers to the real modules.
It maps names only: the classes are Vega's (``SparkContext`` is a ``Context`` that also
takes PySpark's constructor arguments and a ``SparkConf``).  The real ``pyspark``
package, if installed, is never imported.

>>> from vega_runtime.pyspark_compat import SparkConf, SparkContext
>>> conf = SparkConf().setAppName("doc").setMaster("local").set("spark.task.maxFailures", "2")
>>> with SparkContext(conf=conf) as sc:
...     sc.parallelize(range(4), numSlices=2).map(lambda x: x * x).sum()
14
"""

from vega_runtime.files import SparkFiles
from vega_runtime.profiler import BasicProfiler, Profiler
from vega_runtime.rdd.barrier import RDDBarrier
from vega_runtime.rdd.base import RDD
from vega_runtime.rdd.stats import StatCounter
from vega_runtime.scheduler.status import SparkJobInfo, SparkStageInfo, StatusTracker
from vega_runtime.shared import Accumulator, AccumulatorParam, Broadcast
from vega_runtime.storage_level import StorageLevel
from vega_runtime.task_context import BarrierTaskContext, BarrierTaskInfo, TaskContext

from .conf import SparkConf
from .context import SparkContext
from .sql.row import Row
from .util import InheritableThread, inheritable_thread_target

__all__ = ["SparkContext", "SparkConf", "RDD", "StorageLevel", "Broadcast", "Accumulator",
           "AccumulatorParam", "TaskContext", "SparkFiles", "StatCounter", "InheritableThread",
           "inheritable_thread_target", "BasicProfiler", "Profiler", "RDDBarrier",
           "BarrierTaskContext", "BarrierTaskInfo", "StatusTracker", "SparkJobInfo",
           "SparkStageInfo", "Row"]
__version__ = "4.3.0"  # the PySpark release whose RDD API this follows
