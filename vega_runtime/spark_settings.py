"""Spark's names of Vega's settings, wherever settings are given.

A Spark setting Vega has under another name is translated (``spark.task.maxFailures`` is
``vega.task.max_attempts``, a duration written as Spark writes it is read as seconds);
one Vega has no use for (``spark.ui.port``, JVM options) is ignored, and its caller says
so once, in one warning.  ``SparkConf`` (``pyspark_compat``), ``vega submit --conf`` and
every other source of settings (``config``) read Spark's names through this one table, as
``spark-submit --conf`` and ``spark-defaults.conf`` take them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Dict, Iterable, List, Optional, Set, Tuple

_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def _seconds(value: str) -> float:
    """A Spark duration (``"3s"``, ``"500ms"``, ``"2min"``, a bare number of seconds)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-z]*)\s*", str(value).lower())
    if not match or match.group(2) not in _SECONDS and match.group(2):
        raise ValueError(f"{value!r} is not a Spark duration (e.g. 3s, 500ms, 2min)")
    return float(match.group(1)) * _SECONDS.get(match.group(2) or "s", 1.0)


def _seconds_or_never(value: str) -> object:
    """A Spark duration, or ``infinity`` (the default of Spark's
    ``spark.dynamicAllocation.cachedExecutorIdleTimeout``) or a negative one (``-1``, the
    default of ``spark.task.reaper.killTimeout``: no timeout), which Vega calls ``never``.

    >>> _seconds_or_never("infinity"), _seconds_or_never("-1"), _seconds_or_never("2min")
    ('never', 'never', 120.0)
    """
    text = str(value).strip().lower()
    return "never" if text in ("infinity", "inf") or text.startswith("-") else _seconds(value)


def _same(value: str) -> str:
    return value


def _first_directory(value: str) -> str:
    """Spark's ``spark.local.dir``, a comma-separated list of directories (one per disk):
    Vega keeps an application's scratch in one, the first."""
    return str(value).split(",")[0].strip()


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
    "spark.local.dir": ("vega.local.dir", _first_directory),
    "spark.locality.wait": ("vega.locality.wait", _seconds),
    # Vega's only locality level: a task's cached input in an executor's process
    "spark.locality.wait.process": ("vega.locality.wait", _seconds),
    "spark.python.worker.memory": ("vega.shuffle.memory_bound", _same),
    "spark.python.profile": ("vega.python.profile", _same),
    "spark.python.profile.dump": ("vega.python.profile.dump", _same),
    "spark.barrier.sync.timeout": ("vega.barrier.sync_timeout", _seconds),
    "spark.shuffle.io.connectionTimeout": ("vega.shuffle.io.connection_timeout", _seconds),
    "spark.eventLog.dir": ("vega.eventlog.dir", _same),
    "spark.eventLog.rolling.enabled": ("vega.eventlog.rolling.enabled", _same),
    "spark.eventLog.rolling.maxFileSize": ("vega.eventlog.rolling.max_file_size", _same),
    "spark.history.fs.cleaner.enabled": ("vega.history.fs.cleaner.enabled", _same),
    "spark.history.fs.cleaner.interval": ("vega.history.fs.cleaner.interval", _seconds),
    "spark.history.fs.cleaner.maxAge": ("vega.history.fs.cleaner.max_age", _seconds),
    "spark.history.fs.cleaner.maxNum": ("vega.history.fs.cleaner.max_num", _same),
    "spark.log.level": ("vega.log.level", _same),
    "spark.archives": ("vega.archives", _same),
    "spark.pyspark.python": ("vega.executor.python", _same),
    "spark.pyspark.driver.python": ("vega.driver.python", _same),
    "spark.executor.allowSparkContext": ("vega.executor.allow_context", _same),
    "spark.submit.pyFiles": ("vega.py_files", _same),
    "spark.files": ("vega.files", _same),
    "spark.driver.host": ("vega.driver.host", _same),
    "spark.driver.bindAddress": ("vega.driver.bind", _same),
    "spark.worker.resourcesFile": ("vega.worker.resources_file", _same),
    "spark.executor.heartbeatInterval": ("vega.executor.heartbeat_interval", _seconds),
    "spark.network.timeout": ("vega.executor.timeout", _seconds),
    "spark.scheduler.mode": ("vega.scheduler.job_mode", _same),
    "spark.speculation": ("vega.speculation", _same),
    "spark.speculation.multiplier": ("vega.speculation.multiplier", _same),
    "spark.speculation.quantile": ("vega.speculation.quantile", _same),
    "spark.speculation.minTaskRuntime": ("vega.speculation.min_runtime", _seconds),
    # Vega's reaper is always on (spark.task.reaper.enabled is ignored): a killed task that
    # runs on would hold its executor for ever
    "spark.task.reaper.killTimeout": ("vega.task.reaper.kill_timeout", _seconds_or_never),
    **{f"spark.dynamicAllocation.{spark}": (f"vega.dynamic_allocation.{vega}", convert)
       for spark, vega, convert in (
           ("enabled", "enabled", _same),
           ("minExecutors", "min_executors", _same),
           ("maxExecutors", "max_executors", _same),
           ("initialExecutors", "initial_executors", _same),
           ("schedulerBacklogTimeout", "scheduler_backlog_timeout", _seconds),
           ("sustainedSchedulerBacklogTimeout", "sustained_scheduler_backlog_timeout", _seconds),
           ("executorIdleTimeout", "executor_idle_timeout", _seconds),
           ("cachedExecutorIdleTimeout", "cached_executor_idle_timeout", _seconds_or_never))},
}

#: what a caller logs, with the ignored names after it (``ignored_names``)
IGNORED_WARNING = "Vega has no use for these Spark settings and ignores them: %s"


#: (file, names) of the settings files whose ignored Spark settings this process named:
#: each ``Config.load`` reads them again (``vega submit`` and its job: six times)
_WARNED_FILES: Set[Tuple[str, str]] = set()


def warn_ignored(keys: Iterable[str], origin: str) -> None:
    """Log IGNORED_WARNING for ``keys`` given by ``origin``: once per process for a
    settings file, each time for another source (a Context's ``conf``)."""
    names = ignored_names(keys)
    if os.path.isfile(origin):
        if (os.path.realpath(origin), names) in _WARNED_FILES:
            return
        _WARNED_FILES.add((os.path.realpath(origin), names))
    logging.getLogger("vega_runtime.config").warning(IGNORED_WARNING + " (%s)", names, origin)


def ignored_names(keys: Iterable[str]) -> str:
    """The Spark settings ``keys`` Vega ignores, for IGNORED_WARNING: sorted, each that is
    one letter or so off a setting Vega uses with that one, since a misspelt Spark name is
    ignored as any other (Spark keeps every ``spark.*`` property) and the job runs without
    it.  Real Spark settings near a used one (``spark.driver.cores``) get no suggestion.

    >>> ignored_names(["spark.ui.port", "spark.exeutor.memory"])
    'spark.exeutor.memory (did you mean spark.executor.memory?), spark.ui.port'
    """
    import difflib

    used = [*SPARK_TO_VEGA, "spark.eventLog.enabled"]
    named = []
    for key in sorted(set(keys)):
        close = difflib.get_close_matches(key, [name for name in used if name != key], n=1,
                                          cutoff=0.9)
        named.append(f"{key} (did you mean {close[0]}?)" if close else key)
    return ", ".join(named)


def is_spark_name(key: str) -> bool:
    return str(key).startswith("spark.")


#: Set by ``vega submit`` and ``vega shell`` for the job: JSON of the Spark properties
#: spark-submit puts in the driver JVM's system properties (``submitted_properties``), which
#: PySpark's ``SparkConf()`` loads once a SparkContext has started (``pyspark_compat.conf``).
SPARK_PROPERTIES_ENV = "VEGA_SPARK_PROPERTIES"


def spark_pairs(texts: Iterable[str]) -> List[Tuple[str, str]]:
    """The Spark settings among ``--conf KEY=VALUE`` arguments (checked already), as given.

    >>> spark_pairs(["spark.myapp.input=/in", "vega.cores.max=2", " spark.x = 1=2"])
    [('spark.myapp.input', '/in'), ('spark.x', ' 1=2')]
    """
    pairs = [(key.strip(), value) for key, _, value in (text.partition("=") for text in texts)]
    return [(key, value) for key, value in pairs if is_spark_name(key)]


def flag_properties(master: str, executor_memory: Optional[str], executor_cores: Optional[int],
                    total_executor_cores: Optional[int]) -> List[Tuple[str, str]]:
    """The properties spark-submit makes of its resource flags on a cluster master (its
    standalone master's; on ``local`` masters, ``local-cluster`` too, none).

    >>> flag_properties("vega://h:7077", "2g", None, 4)
    [('spark.executor.memory', '2g'), ('spark.cores.max', '4')]
    >>> flag_properties("local-cluster[2,1]", "2g", None, 4)
    []
    """
    if not master.startswith("vega://"):
        return []
    given = (("spark.executor.memory", executor_memory), ("spark.executor.cores", executor_cores),
             ("spark.cores.max", total_executor_cores))
    return [(key, str(value)) for key, value in given if value is not None]


def submitted_properties(master: str, app_name: str, deploy_mode: str,
                         pairs: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """What spark-submit gives the driver as system properties: every ``--conf spark.*``
    pair as given (whether Vega uses it or not: a job may read its own parameters there),
    ``spark.submit.deployMode`` and ``spark.submit.pyFiles`` ("": no ``--py-files``) unless
    a pair gives them, and the master and application name the command resolved.

    >>> submitted_properties("local", "wc", "client", [("spark.myapp.input", "/in")])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'spark.myapp.input': '/in', 'spark.submit.deployMode': 'client',
     'spark.submit.pyFiles': '', 'spark.master': 'local', 'spark.app.name': 'wc'}
    """
    properties = dict(pairs)
    properties.setdefault("spark.submit.deployMode", deploy_mode)
    properties.setdefault("spark.submit.pyFiles", "")
    properties.update({"spark.master": master, "spark.app.name": app_name})
    return properties


def spark_properties() -> Dict[str, str]:
    """The Spark properties ``vega submit`` or ``vega shell`` gave this process
    (``SPARK_PROPERTIES_ENV``); none without them."""
    try:
        given = json.loads(os.environ.get(SPARK_PROPERTIES_ENV) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}


def translate(pairs: Iterable[Tuple[str, object]]) -> Tuple[Dict[str, object], List[str]]:
    """``(settings, ignored)``: Vega's settings for ``pairs`` and the Spark names among
    them that mean nothing to Vega.  Every key not Spark's passes through as it is (the
    caller checks it).  A value Spark's way of writing it does not fit raises ValueError.

    >>> translate([("spark.task.maxFailures", "2"), ("spark.locality.wait", "500ms"),
    ...            ("spark.ui.port", "4050"), ("vega.cores.max", "4")])
    ({'vega.task.max_attempts': '2', 'vega.locality.wait': 0.5, 'vega.cores.max': '4'}, ['spark.ui.port'])
    >>> translate([("spark.eventLog.enabled", "false")])
    ({'vega.eventlog.dir': ''}, [])
    """
    settings: Dict[str, object] = {}
    ignored: List[str] = []
    # a level's own wait beats spark.locality.wait, whichever was given first
    pairs = sorted(pairs, key=lambda pair: pair[0] == "spark.locality.wait.process")
    for key, value in pairs:
        if not is_spark_name(key):
            settings[key] = value
        elif key in SPARK_TO_VEGA:
            target, convert = SPARK_TO_VEGA[key]
            settings[target] = convert(value)
        elif family_key(key):
            settings[family_key(key)] = value
        elif key != "spark.eventLog.enabled":
            ignored.append(key)
    if any(k == "spark.eventLog.enabled" and str(v).lower() == "false" for k, v in pairs):
        settings["vega.eventlog.dir"] = ""
    if "spark.network.timeout" in dict(pairs):  # as in Spark, the fetch timeout's default too
        settings.setdefault("vega.shuffle.io.connection_timeout",
                            settings["vega.executor.timeout"])
    return settings, ignored


def given_as(keys: Iterable[str]) -> Dict[str, str]:
    """Vega's name -> the Spark name it was given as, for the Spark settings among ``keys``
    that Vega uses: an error about the value names what the user wrote.

    >>> given_as(["spark.task.maxFailures", "spark.ui.port", "vega.cores.max"])
    {'vega.task.max_attempts': 'spark.task.maxFailures'}
    """
    names = {}
    for key in keys:
        target = SPARK_TO_VEGA[key][0] if key in SPARK_TO_VEGA else family_key(str(key))
        if target:
            names[target] = key
    return names


def is_used(key: str) -> bool:
    """Whether Vega uses the Spark setting ``key`` (it has a Vega name).

    >>> is_used("spark.executor.memory"), is_used("spark.sql.shuffle.partitions")
    (True, False)
    """
    return key in SPARK_TO_VEGA or family_key(key) is not None or key == "spark.eventLog.enabled"


def family_key(key: str) -> Optional[str]:
    """Vega's name of a Spark setting with a name inside: custom resources
    (``spark.executor.resource.gpu.discoveryScript``) and executor environment variables
    (``spark.executorEnv.VAR``); None for any other.

    >>> family_key("spark.worker.resource.gpu.discoveryScript"), family_key("spark.x")
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
