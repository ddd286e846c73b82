"""``pyspark.SparkContext``: a Vega ``Context`` built the way PySpark builds one."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

from vega_runtime.context import Context

from .conf import SparkConf, vega_settings


class SparkContext(Context):
    """A ``Context`` that takes PySpark's constructor: a master, an application name and a
    ``SparkConf`` (its Spark settings translated to Vega's; see :mod:`.conf`).

    Arguments that concern the JVM (``gateway``, ``jsc``, ``serializer``, profilers,
    ``batchSize``, ``sparkHome``) are accepted and have no effect; ``pyFiles`` are added
    as with ``addPyFile``; ``environment`` becomes ``spark.executorEnv.*`` settings, which
    Vega reports as ignored (executors inherit their worker's environment).
    """

    def __init__(self, master: Optional[str] = None, appName: Optional[str] = None,
                 sparkHome: Optional[str] = None, pyFiles: Optional[Iterable[str]] = None,
                 environment: Optional[Dict[str, Any]] = None, batchSize: int = 0,
                 serializer: Any = None, conf: Optional[SparkConf] = None, gateway: Any = None,
                 jsc: Any = None, profiler_cls: Any = None, udf_profiler_cls: Any = None,
                 memory_profiler_cls: Any = None):
        if conf is not None and not isinstance(conf, SparkConf):
            raise TypeError(f"conf must be a SparkConf, not {type(conf).__name__}")
        self._spark_conf = SparkConf().setAll(conf.getAll() if conf is not None else ())
        if master:
            self._spark_conf.setMaster(master)
        if appName:
            self._spark_conf.setAppName(appName)
        for key, value in (environment or {}).items():
            self._spark_conf.set("spark.executorEnv." + key, value)
        settings = vega_settings(self._spark_conf.getAll())
        super().__init__(master=settings.pop("vega.master", None),
                         app_name=settings.pop("vega.app.name", None), conf=settings)
        for path in pyFiles or ():
            self.add_py_file(path)

    def getConf(self) -> SparkConf:
        """A copy of the settings this context was created with (PySpark's ``getConf``)."""
        return SparkConf().setAll(self._spark_conf.getAll())
