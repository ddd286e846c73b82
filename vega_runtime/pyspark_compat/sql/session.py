"""``SparkSession`` as an entry point to a ``SparkContext``, and text read as rows."""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional

from ...spark_settings import is_used, spark_properties
from ..conf import SparkConf
from ..context import SparkContext
from .conf import RuntimeConfig
from .row import Row


def _row(line: str) -> Row:
    return Row(value=line)


class TextLines:
    """What ``spark.read.text(path)`` gives: its ``rdd`` has one ``Row`` per line."""

    def __init__(self, sc: SparkContext, path: str):
        self._sc, self._path = sc, path

    @property
    def rdd(self):
        return self._sc.text_file(self._path).map(_row)


class DataFrameReader:
    def __init__(self, sc: SparkContext):
        self._sc = sc

    def text(self, paths, wholetext: bool = False, lineSep: Optional[str] = None,
             pathGlobFilter=None, recursiveFileLookup=None, modifiedBefore=None,
             modifiedAfter=None) -> TextLines:
        """PySpark's ``spark.read.text``, for its lines only: the other options (PySpark's
        parameters, in its order) are refused unless left at their defaults."""
        given = {"wholetext": wholetext, "lineSep": lineSep, "pathGlobFilter": pathGlobFilter,
                 "recursiveFileLookup": recursiveFileLookup, "modifiedBefore": modifiedBefore,
                 "modifiedAfter": modifiedAfter}
        given = [name for name, value in given.items() if value not in (None, False)]
        if given:
            raise NotImplementedError(
                f"Vega's spark.read.text reads lines only, without {', '.join(given)}: use "
                "sc.textFile(path) (a directory is read recursively) or sc.wholeTextFiles(path) "
                "for whole files")
        path = paths if isinstance(paths, str) else ",".join(paths)
        return TextLines(self._sc, path)


class SparkSession:
    """PySpark's entry point, holding the ``SparkContext`` RDD programs use.

    ``getOrCreate()`` gives a session on the running ``SparkContext`` if there is one (as
    PySpark's), and ``stop()`` stops that context:

    >>> sc = SparkContext("local", "doc")
    >>> spark = SparkSession.builder.appName("doc").getOrCreate()
    >>> spark.sparkContext is sc, spark.sparkContext.parallelize([1, 2, 3]).count()
    (True, 3)
    >>> spark.stop()
    """

    _lock = threading.Lock()
    _active: Optional["SparkSession"] = None

    class Builder:
        def __init__(self):
            self._conf: Dict[str, str] = {}

        def config(self, key: Optional[str] = None, value: Any = None,
                   conf: Optional[SparkConf] = None, map: Optional[Dict[str, Any]] = None
                   ) -> "SparkSession.Builder":
            if conf is not None:
                self._conf.update(conf.getAll())
            if map is not None:
                self._conf.update({k: str(v) for k, v in map.items()})
            if key is not None:
                self._conf[key] = str(value)
            return self

        def master(self, master: str) -> "SparkSession.Builder":
            return self.config("spark.master", master)

        def appName(self, name: str) -> "SparkSession.Builder":
            return self.config("spark.app.name", name)

        def enableHiveSupport(self) -> "SparkSession.Builder":
            return self

        def getOrCreate(self) -> "SparkSession":
            """The running session (a new one on a new or the running context), with the
            builder's keys Vega does not use in its ``conf``: as PySpark's, which gives an
            existing session only its runtime settings."""
            with SparkSession._lock:
                session = SparkSession._active
                if session is None or session.sparkContext._stopped:
                    conf = SparkConf().setAll(self._conf.items())
                    session = SparkSession(SparkContext.getOrCreate(conf))
                    SparkSession._active = session
            for key, value in self._conf.items():
                if not is_used(key):
                    session.conf.set(key, value)
            return session

    class _BuilderDescriptor:
        def __get__(self, instance, owner) -> "SparkSession.Builder":
            return SparkSession.Builder()

    builder = _BuilderDescriptor()

    def __init__(self, sparkContext: SparkContext):
        self._sc = sparkContext
        self._conf: Optional[RuntimeConfig] = None

    @property
    def sparkContext(self) -> SparkContext:
        return self._sc

    @property
    def conf(self) -> RuntimeConfig:
        """The session's runtime configuration (``spark.conf.get``, ``set``): the
        application's Spark properties to begin with."""
        if self._conf is None:
            spark_conf = getattr(self._sc, "_conf", None)  # a SparkContext's (a Context's: none)
            self._conf = RuntimeConfig(dict(spark_conf.getAll()) if spark_conf is not None else {
                **spark_properties(), "spark.master": self._sc.master,
                "spark.app.name": self._sc.app_name})
        return self._conf

    @property
    def version(self) -> str:
        return self._sc.version

    @property
    def read(self) -> DataFrameReader:
        return DataFrameReader(self._sc)

    def stop(self) -> None:
        with SparkSession._lock:
            if SparkSession._active is self:
                SparkSession._active = None
        self._sc.stop()

    def __enter__(self) -> "SparkSession":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
