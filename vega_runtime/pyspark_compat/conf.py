"""``SparkConf``, and how Spark's settings map to Vega's.

A setting Vega has under another name is translated (``spark.task.maxFailures`` is
``vega.task.max_attempts``: ``spark_settings``); one it has no use for (``spark.ui.port``,
JVM options) is reported once, in one warning, and otherwise ignored; ``vega.*`` settings
pass through.
"""

from __future__ import annotations

import logging
from typing import Dict, Iterable, List, Optional, Tuple

from ..errors import PySparkRuntimeError
from . import system_properties
from ..spark_settings import (IGNORED_WARNING, SPARK_TO_VEGA, ignored_names,  # noqa: F401
                              spark_properties, translate)

log = logging.getLogger(__name__)


def vega_settings(pairs: Iterable[Tuple[str, str]]) -> Dict[str, object]:
    """Vega's settings for Spark's ``pairs`` (``spark_settings.translate``); the ones
    without a Vega meaning, and keys neither Spark's nor Vega's, are logged once,
    together, as ignored (but those ``vega submit`` was given, which it named)."""
    settings, ignored = translate(pairs)
    for key in [k for k in settings if not k.startswith("vega.")]:
        del settings[key]
        ignored.append(key)
    submitted = spark_properties()
    ignored = [key for key in ignored if key not in submitted]
    if ignored:
        log.warning(IGNORED_WARNING, ignored_names(ignored))
    return settings


class SparkConf:
    """PySpark's ``SparkConf``: key-value settings for a ``SparkContext``.

    >>> conf = SparkConf().setMaster("local[2]").setAll([("spark.cores.max", "2")])
    >>> conf.get("spark.master"), conf.contains("spark.cores.max"), conf.get("x", "none")
    ('local[2]', True, 'none')
    """

    def __init__(self, loadDefaults: bool = True, _jvm=None, _jconf=None):
        """``loadDefaults``: once a context has started in this process or a system
        property was set (``SparkContext.setSystemProperty``), the ``spark.*`` system
        properties (:mod:`.system_properties`): the Spark properties ``vega submit``
        (``vega shell``) was given (``spark.master``, ``spark.app.name``,
        ``spark.submit.deployMode``, its ``--conf spark.*`` pairs), then those set, as
        PySpark's loads its JVM's (before either there is no JVM, and PySpark's is empty
        too; in a task, those are the driver's, and PySpark's Python worker has no JVM:
        empty)."""
        from ..context import Context

        self._conf: Dict[str, str] = {}
        if loadDefaults and (Context._active is not None or system_properties.any_set()):
            self._conf.update(system_properties.spark_defaults())

    def set(self, key: str, value) -> "SparkConf":
        self._conf[key] = str(value)
        return self

    def setIfMissing(self, key: str, value) -> "SparkConf":
        if key not in self._conf:
            self.set(key, value)
        return self

    def setMaster(self, value: str) -> "SparkConf":
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> "SparkConf":
        return self.set("spark.app.name", value)

    def setSparkHome(self, value: str) -> "SparkConf":
        return self.set("spark.home", value)

    def setExecutorEnv(self, key: Optional[str] = None, value: Optional[str] = None,
                       pairs: Optional[List[Tuple[str, str]]] = None) -> "SparkConf":
        if (key is None) == (pairs is None):
            raise PySparkRuntimeError("Key-value pair or a list of pairs is required: pass "
                                      "setExecutorEnv(key, value) or "
                                      "setExecutorEnv(pairs=[(key, value), ...]), not both",
                                      "KEY_VALUE_PAIR_REQUIRED")
        for k, v in ([(key, value)] if pairs is None else pairs):
            self.set("spark.executorEnv." + k, v)
        return self

    def setAll(self, pairs: Iterable[Tuple[str, str]]) -> "SparkConf":
        for key, value in pairs:
            self.set(key, value)
        return self

    def get(self, key: str, defaultValue: Optional[str] = None) -> Optional[str]:
        return self._conf.get(key, defaultValue)

    def getAll(self) -> List[Tuple[str, str]]:
        return list(self._conf.items())

    def contains(self, key: str) -> bool:
        return key in self._conf

    def toDebugString(self) -> str:
        """One ``key=value`` line per setting, sorted by key (as Spark's SparkConf)."""
        return "\n".join(f"{k}={v}" for k, v in sorted(self._conf.items()))
