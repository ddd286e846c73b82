"""``pyspark.sql.conf``: ``spark.conf``, a session's runtime configuration."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ...spark_settings import is_used
from ..errors import AnalysisException, PySparkTypeError, SparkNoSuchElementException

#: ``get``'s default when none is given (``None`` is a default)
_NO_DEFAULT = object()


class RuntimeConfig:
    """``spark.conf`` (PySpark's ``RuntimeConfig``): the application's Spark properties,
    and keys set at run time (a job's own parameters, ``spark.sql.*`` lines a notebook
    starts with), which Vega keeps and reads nothing of: it has no SQL configuration, so
    ``isModifiable`` is False for every key.  A Spark setting Vega uses cannot change once
    the application runs: setting or unsetting one raises PySpark's ``CANNOT_MODIFY_CONFIG``
    ``AnalysisException``, as PySpark does for its core settings.

    >>> conf = RuntimeConfig({"spark.app.name": "doc"})
    >>> conf.set("spark.sql.shuffle.partitions", 8)
    >>> conf.get("spark.sql.shuffle.partitions"), conf.get("missing", "default")
    ('8', 'default')
    >>> conf.get("missing")
    Traceback (most recent call last):
    ...
    vega_runtime.pyspark_compat.errors.SparkNoSuchElementException: [SQL_CONF_NOT_FOUND] The SQL config "missing" cannot be found. Please verify that the config exists.
    >>> conf.set("spark.executor.memory", "2g")
    Traceback (most recent call last):
    ...
    vega_runtime.pyspark_compat.errors.AnalysisException: [CANNOT_MODIFY_CONFIG] Cannot modify the value of the Spark config: "spark.executor.memory".
    """

    def __init__(self, properties: Dict[str, str]):
        self._values = dict(properties)

    def set(self, key: str, value: Any) -> None:
        _check_str(key, "key")
        _check_modifiable(key)
        # as the JVM's conf keeps them: True is "true", 5 is "5"
        self._values[key] = str(value).lower() if isinstance(value, bool) else str(value)

    def get(self, key: str, default: Any = _NO_DEFAULT) -> Optional[str]:
        _check_str(key, "key")
        if key in self._values:
            return self._values[key]
        if default is _NO_DEFAULT:
            raise SparkNoSuchElementException(
                f'The SQL config "{key}" cannot be found. Please verify that the config '
                "exists.", "SQL_CONF_NOT_FOUND", {"sqlConf": f'"{key}"'})
        if default is not None:
            _check_str(default, "default")
        return default

    @property
    def getAll(self) -> Dict[str, str]:  # noqa: N802 - PySpark's name (a property since 4.0)
        return dict(self._values)

    def unset(self, key: str) -> None:
        _check_str(key, "key")
        _check_modifiable(key)
        self._values.pop(key, None)

    def isModifiable(self, key: str) -> bool:  # noqa: N802
        return False


def _check_str(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise PySparkTypeError(f"Argument `{name}` should be str, got {type(value).__name__}.",
                               "NOT_EXPECTED_TYPE", {"arg_name": name, "expected_type": "str",
                                                     "arg_type": type(value).__name__})


def _check_modifiable(key: str) -> None:
    if is_used(key):
        raise AnalysisException(f'Cannot modify the value of the Spark config: "{key}".',
                                "CANNOT_MODIFY_CONFIG", {"key": f'"{key}"'})
