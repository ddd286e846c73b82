"""``SparkConf``, and how Spark's settings map to Vega's.

A setting Vega has under another name is translated (``spark.task.maxFailures`` is
``vega.task.max_attempts``); one it has no use for (``spark.ui.port``, JVM options) is
reported once, in one warning, and otherwise ignored; ``vega.*`` settings pass through.
"""

from __future__ import annotations

import logging
import re
from typing import Dict, Iterable, List, Optional, Tuple

from vega_runtime.errors import PySparkRuntimeError

log = logging.getLogger(__name__)

_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def _seconds(value: str) -> float:
    """A Spark duration (``"3s"``, ``"500ms"``, ``"2min"``, a bare number of seconds)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-z]*)\s*", str(value).lower())
    if not match or match.group(2) not in _SECONDS and match.group(2):
        raise ValueError(f"{value!r} is not a Spark duration (e.g. 3s, 500ms, 2min)")
    return float(match.group(1)) * _SECONDS.get(match.group(2) or "s", 1.0)


def _same(value: str) -> str:
    return value


#: Spark setting -> (Vega setting, conversion of the value)
SPARK_TO_VEGA = {
    "spark.master": ("vega.master", _same),
    "spark.app.name": ("vega.app.name", _same),
    "spark.default.parallelism": ("vega.default.parallelism", _same),
    "spark.task.maxFailures": ("vega.task.max_attempts", _same),
    "spark.task.cpus": ("vega.task.cpus", _same),
    "spark.stage.maxConsecutiveAttempts": ("vega.stage.max_attempts", _same),
    "spark.executor.memory": ("vega.executor.memory", _same),
    "spark.executor.cores": ("vega.executor.cores", _same),
    "spark.cores.max": ("vega.cores.max", _same),
    "spark.driver.maxResultSize": ("vega.driver.max_result_size", _same),
    "spark.local.dir": ("vega.local.dir", _same),
    "spark.locality.wait": ("vega.locality.wait", _seconds),
    "spark.python.worker.memory": ("vega.shuffle.memory_bound", _same),
    "spark.python.profile": ("vega.python.profile", _same),
    "spark.python.profile.dump": ("vega.python.profile.dump", _same),
    "spark.barrier.sync.timeout": ("vega.barrier.sync_timeout", _seconds),
    "spark.eventLog.dir": ("vega.eventlog.dir", _same),
    "spark.eventLog.rolling.enabled": ("vega.eventlog.rolling.enabled", _same),
    "spark.eventLog.rolling.maxFileSize": ("vega.eventlog.rolling.max_file_size", _same),
    "spark.log.level": ("vega.log.level", _same),
}


def vega_settings(pairs: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """Vega's settings for Spark's ``pairs``; the ones without a Vega meaning are logged
    once, together, as ignored."""
    settings: Dict[str, str] = {}
    ignored: List[str] = []
    pairs = list(pairs)
    event_log_off = any(k == "spark.eventLog.enabled" and str(v).lower() == "false"
                        for k, v in pairs)
    for key, value in pairs:
        if key.startswith("vega."):
            settings[key] = value
        elif key in SPARK_TO_VEGA:
            target, convert = SPARK_TO_VEGA[key]
            settings[target] = convert(value)
        elif _family_key(key):
            settings[_family_key(key)] = value
        elif key != "spark.eventLog.enabled":
            ignored.append(key)
    if event_log_off:
        settings["vega.eventlog.dir"] = ""
    if ignored:
        log.warning("Vega has no use for these Spark settings and ignores them: %s",
                    ", ".join(sorted(ignored)))
    return settings


def _family_key(key: str) -> Optional[str]:
    """Vega's name of a Spark setting with a name inside: custom resources
    (``spark.executor.resource.gpu.discoveryScript``) and executor environment variables
    (``spark.executorEnv.VAR``); None for any other.

    >>> _family_key("spark.worker.resource.gpu.discoveryScript"), _family_key("spark.x")
    ('vega.worker.resource.gpu.discovery_script', None)
    """
    match = re.match(r"^spark\.(driver|worker|executor|task)\.resource\.(.+)\."
                     r"(amount|discoveryScript|vendor)$", key)
    if match:
        role, name, field = match.groups()
        return f"vega.{role}.resource.{name}.{'discovery_script' if field == 'discoveryScript' else field}"
    if key.startswith("spark.executorEnv."):
        return "vega.executor.env." + key[len("spark.executorEnv."):]
    return None


class SparkConf:
    """PySpark's ``SparkConf``: key-value settings for a ``SparkContext``.

    >>> conf = SparkConf().setMaster("local[2]").setAll([("spark.cores.max", "2")])
    >>> conf.get("spark.master"), conf.contains("spark.cores.max"), conf.get("x", "none")
    ('local[2]', True, 'none')
    """

    def __init__(self, loadDefaults: bool = True, _jvm=None, _jconf=None):
        self._conf: Dict[str, str] = {}

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
