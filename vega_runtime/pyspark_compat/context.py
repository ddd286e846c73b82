"""``pyspark.SparkContext``: a Vega ``Context`` built the way PySpark builds one."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Dict, Iterable, Iterator, Optional, Sequence

from vega_runtime.context import Context
from vega_runtime.context_in_task import in_task
from vega_runtime.versions import executor_hash_seed

from . import system_properties
from .conf import SparkConf, vega_settings


class SparkContext(Context):
    """A ``Context`` that takes PySpark's constructor: a master, an application name and a
    ``SparkConf`` (its Spark settings translated to Vega's; see :mod:`.conf`).

    ``profiler_cls`` profiles the RDDs' tasks with ``spark.python.profile`` on; arguments
    that concern the JVM or Spark SQL (``gateway``, ``jsc``, ``serializer``,
    ``udf_profiler_cls``, ``memory_profiler_cls``, ``sparkHome``) are accepted and have no
    effect, and so is ``batchSize`` (how many records PySpark pickles together: Vega sizes
    its batches itself), but one PySpark's jobs fail with is refused (``_check_batch_size``);
    ``pyFiles`` are added
    as with ``addPyFile``; ``environment`` becomes ``spark.executorEnv.*`` settings (every
    executor's environment variables).
    """

    #: PySpark's: the files ``addPyFile`` and ``pyFiles`` put on ``sys.path`` themselves
    #: (zip archives, as ``add_py_file`` does); a ``.py`` file imports from the SparkFiles
    #: directory, which is there
    PACKAGE_EXTENSIONS: Iterable[str] = (".zip", ".egg", ".jar")

    #: the running SparkContext of this process (PySpark's class attribute of the name)
    _active_spark_context: Optional["SparkContext"] = None
    _active_lock = threading.Lock()

    def __init__(self, master: Optional[str] = None, appName: Optional[str] = None,
                 sparkHome: Optional[str] = None, pyFiles: Optional[Iterable[str]] = None,
                 environment: Optional[Dict[str, Any]] = None, batchSize: int = 0,
                 serializer: Any = None, conf: Optional[SparkConf] = None, gateway: Any = None,
                 jsc: Any = None, profiler_cls: Any = None, udf_profiler_cls: Any = None,
                 memory_profiler_cls: Any = None):
        if isinstance(pyFiles, str):  # each character would be taken for a file
            raise TypeError("pyFiles is a list of .py, .zip or .egg files, not one str: "
                            f"pyFiles=[{pyFiles!r}]")
        if conf is not None and not isinstance(conf, SparkConf):
            raise TypeError(f"conf must be a SparkConf, not {type(conf).__name__}")
        _check_batch_size(batchSize)
        #: PySpark's attribute: the batch size asked for (-1 unlimited, 0 automatic)
        self._batchSize = batchSize
        #: PySpark's ``_conf`` (``sc._conf.getAll()`` is a common idiom): the ``spark.*``
        #: system properties (vega submit's, and those ``setSystemProperty`` set), under the
        #: job's own (PySpark's context loads its JVM's system properties, then its conf's;
        #: in a task, none: those are the driver's, as a JVM's are in Spark, whose task's
        #: context starts a JVM of its own)
        self._conf = SparkConf(False).setAll(system_properties.spark_defaults().items()) \
            .setAll(conf.getAll() if conf is not None else ())
        if master:
            self._conf.setMaster(master)
        if appName:
            self._conf.setAppName(appName)
        for key, value in (environment or {}).items():
            self._conf.set("spark.executorEnv." + key, value)
        settings = vega_settings(self._conf.getAll())
        with self._running_one(in_task()):
            super().__init__(master=settings.pop("vega.master", None),
                             app_name=settings.pop("vega.app.name", None), conf=settings,
                             profiler_cls=profiler_cls)
        try:
            for path in pyFiles or ():
                self.add_py_file(path)
        except BaseException:  # as PySpark's: no half-made context stays the running one
            self.stop()
            raise
        self._set_pyspark_attributes(sparkHome)

    @classmethod
    def _of_settings(cls, conf: Dict[str, Any], config_file: Optional[str],
                     listeners: Sequence[Any]) -> "SparkContext":
        """pyspark's shell's ``sc`` (``vega shell --pyspark-compat``): a SparkContext made
        of Vega's settings, a settings file and listeners, as a ``Context`` takes them."""
        sc = cls.__new__(cls)
        sc._conf = SparkConf(False).setAll(system_properties.spark_defaults().items())
        with sc._running_one(nested=False):
            Context.__init__(sc, conf=conf, config_file=config_file, listeners=listeners)
        sc._set_pyspark_attributes(None)
        return sc

    @contextlib.contextmanager
    def _running_one(self, nested: bool) -> Iterator[None]:
        """While the block starts this context: PySpark's one running SparkContext of a
        process, a second refused, this one it once started.  One made in a task
        (``nested``, ``spark.executor.allowSparkContext``) is the task's own, as in PySpark's
        Python worker: neither (the running one on master ``local`` is the driver's, whose
        process runs the task)."""
        if nested:
            yield
            return
        with SparkContext._active_lock:
            SparkContext._refuse_a_second()
            yield
            SparkContext._active_spark_context = self

    @staticmethod
    def _refuse_a_second() -> None:
        """PySpark's refusal of a second running SparkContext (``_active_lock`` held)."""
        running = SparkContext._active_spark_context
        if running is not None:
            raise ValueError(f"Cannot run multiple SparkContexts at once; existing "
                             f"SparkContext(app={running.app_name}, "
                             f"master={running.master_spec.url}) is running: stop it "
                             "first, or use SparkContext.getOrCreate()")

    def _set_pyspark_attributes(self, spark_home: Optional[str]) -> None:
        #: PySpark's attribute: the Spark installation named (``sparkHome``, ``spark.home``);
        #: Vega uses none
        self.sparkHome = spark_home or self._conf.get("spark.home")
        #: PySpark's attribute: the executors' environment variables (``environment`` and
        #: ``spark.executorEnv.*``) and the ``PYTHONHASHSEED`` they hash with
        self.environment = {**self.resource_plan.executor_env,
                            "PYTHONHASHSEED": executor_hash_seed()}

    def stop(self) -> None:
        with SparkContext._active_lock:
            if SparkContext._active_spark_context is self:
                SparkContext._active_spark_context = None
        super().stop()

    @classmethod
    def setSystemProperty(cls, key: str, value: str) -> None:
        """Set a system property of this process (PySpark's sets a Java system property),
        such as ``spark.executor.memory``, before the SparkContext is created: a
        ``spark.*`` one is a setting of the contexts made after it (a ``SparkConf()`` made
        after it starts with it), under their own conf's; one reaches executors only that
        way (:mod:`.system_properties`)."""
        system_properties.set_property(key, value)

    @classmethod
    def getSystemProperty(cls, key: str) -> Optional[str]:
        """A system property of this process: one set with ``setSystemProperty``, a Spark
        property vega submit was given, ``SPARK_SUBMIT`` ("true", as in every PySpark
        driver); None for another, the JVM's own included (``java.home``): Vega has none.

        >>> SparkContext.getSystemProperty("SPARK_SUBMIT")
        'true'
        """
        return system_properties.get_property(key)

    @property
    def _temp_dir(self) -> str:
        """The driver's scratch directory of this application (PySpark's ``_temp_dir``)."""
        return self.app_dir

    def getConf(self) -> SparkConf:
        """A copy of the settings this context was created with (PySpark's ``getConf``)."""
        return SparkConf().setAll(self._conf.getAll())


def _check_batch_size(size: Any) -> None:
    """Refuse a ``batchSize`` PySpark accepts but fails every job with (its pickling's
    ``islice(records, batchSize)``: a ValueError for -5 or 2.5 in the first task, a
    TypeError for "100" in ``parallelize``): 0 (automatic, the default), 1 (no batching),
    -1 (unlimited), None (unlimited) or a count of records are what it runs with.

    >>> _check_batch_size(-2)
    Traceback (most recent call last):
    ValueError: batchSize is 0 (automatic), -1 (unlimited) or a number of records per batch, not -2
    """
    if size is None or (isinstance(size, int) and size >= -1):
        return
    message = ("batchSize is 0 (automatic), -1 (unlimited) or a number of records per batch, "
               f"not {size!r}")
    raise (ValueError if isinstance(size, int) else TypeError)(message)


def _new_lock_in_child() -> None:
    """A forked process's own ``_active_lock``: a local cluster's fork server and local[N]'s
    executors are forked while the starting SparkContext holds it, and its copy stays held
    with no thread to release it (a task's own SparkContext, stopping there, waited forever)."""
    SparkContext._active_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)
