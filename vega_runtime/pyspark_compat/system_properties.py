"""PySpark's Java system properties, without a JVM: ``SparkContext.setSystemProperty`` and
``getSystemProperty``, and the ``spark.*`` ones a ``SparkConf()`` loads as its defaults.

PySpark sets and reads them in its driver's JVM (``java.lang.System``), which holds one set
per process for as long as it runs, across SparkContexts; a ``SparkConf(loadDefaults=True)``
made after they were set starts with every ``spark.*`` one, so
``SparkContext.setSystemProperty("spark.executor.memory", "2g")`` before a context is
created sets the next context's executor memory (an old PySpark idiom).  Vega keeps them
the same way: one store per driver process (:data:`_SET`, this module's only state,
standing for that JVM), never shipped anywhere, and read or set only on the driver (in a
task, ``DriverOnlyError``: on ``local`` and ``local[N]`` the task's process would otherwise
see the driver's, on a cluster none; a SparkContext a task makes, with
``spark.executor.allowSparkContext``, starts with none of them).  So a property reaches
the executors only as Spark's does: a ``spark.*`` one through the settings of the context
made after it.

Besides what was set, the store answers with what spark-submit sets in PySpark's JVM: the
Spark properties ``vega submit`` (``vega shell``) was given (``spark.master``,
``spark.app.name``, ``--conf spark.*``), and ``SPARK_SUBMIT`` ("true": every PySpark driver's
JVM is started by spark-submit).  The JVM's own properties (``java.version``,
``java.home``, ``user.dir``, ...) are unset (None, as Java's ``getProperty`` answers for an
unset key): Vega has no JVM, and a Python program asks ``sys``, ``os`` and ``platform``.
"""

from __future__ import annotations

from typing import Dict, Optional

from ..context_in_task import in_task
from ..errors import DriverOnlyError
from ..spark_settings import spark_properties

#: the properties set in this process (``set_property``): the driver's JVM's System
#: properties in PySpark, one set per process for as long as it runs
_SET: Dict[str, str] = {}

#: what PySpark's JVM has set when a program asks: spark-submit started it
JVM_SET: Dict[str, str] = {"SPARK_SUBMIT": "true"}


def set_property(key: str, value: str) -> None:
    """Set ``key`` to ``value`` for this process (Java's ``System.setProperty``).

    >>> set_property("spark.executor.memory", 2)
    Traceback (most recent call last):
    TypeError: a system property's value is a str, not int: setSystemProperty('spark.executor.memory', '2')
    """
    _check_key(key, "SparkContext.setSystemProperty")
    if not isinstance(value, str):
        raise TypeError(f"a system property's value is a str, not {type(value).__name__}: "
                        f"setSystemProperty({key!r}, {str(value)!r})")
    _SET[key] = value


def get_property(key: str) -> Optional[str]:
    """The value of ``key`` in this process (Java's ``System.getProperty``): the one set,
    else vega submit's Spark property, else what PySpark's JVM would have set; None for a
    property none of them has.

    >>> get_property("SPARK_SUBMIT"), get_property("java.version")
    ('true', None)
    """
    _check_key(key, "SparkContext.getSystemProperty")
    if key in _SET:
        return _SET[key]
    return spark_properties().get(key, JVM_SET.get(key))


def spark_defaults() -> Dict[str, str]:
    """The ``spark.*`` properties a ``SparkConf(loadDefaults=True)`` starts with (Spark's
    ``loadFromSystemProperties``): vega submit's, then those set in this process; none in
    a task (a SparkContext made there, ``spark.executor.allowSparkContext``, is the task's
    own: the process's properties are the driver's, and PySpark's Python worker has no JVM)."""
    if in_task():
        return {}
    return {**spark_properties(),
            **{key: value for key, value in _SET.items() if key.startswith("spark.")}}


def any_set() -> bool:
    """Whether a property was set in this process (PySpark's JVM runs from then on)."""
    return bool(_SET)


def _check_key(key: str, what: str) -> None:
    if in_task():
        raise DriverOnlyError(what)
    if not isinstance(key, str):
        raise TypeError(f"a system property's key is a str, not {type(key).__name__}")
    if not key:
        raise ValueError("a system property's key can't be empty")
