"""``pyspark.errors``: the exception names a PySpark program may catch.

A Vega error is a ``PySparkException``, so ``except PySparkException`` catches a failed
job (``TaskFailed``) as a PySpark program expects; the typed ones are also the built-in
exception they are named after.
"""

from pickle import PicklingError
from typing import Dict, Optional

from vega_runtime.errors import PySparkRuntimeError, VegaError

PySparkException = VegaError


class _Conditioned(VegaError):
    """A PySpark error as PySpark's constructor takes one: a message, PySpark's error
    class (its condition) and the message's parameters."""

    def __init__(self, message: str = "", errorClass: Optional[str] = None,  # noqa: N803
                 messageParameters: Optional[Dict[str, str]] = None):  # noqa: N803
        super().__init__(message, errorClass, messageParameters)
        self.message, self.error_class = message, errorClass
        self.message_parameters = messageParameters

    def getMessageParameters(self) -> Optional[dict]:  # noqa: N802 - PySpark's name
        if self.message_parameters is not None:
            return dict(self.message_parameters)
        return super().getMessageParameters()

    def __str__(self) -> str:
        return f"[{self.error_class}] {self.message}" if self.error_class else self.message


class PySparkValueError(_Conditioned, ValueError):
    """PySpark's, a ``ValueError`` too."""


class PySparkTypeError(_Conditioned, TypeError):
    """PySpark's, a ``TypeError`` too."""


class PySparkIndexError(_Conditioned, IndexError):
    """PySpark's, an ``IndexError`` too."""


class PySparkKeyError(_Conditioned, KeyError):
    """PySpark's, a ``KeyError`` too."""


class PySparkAttributeError(_Conditioned, AttributeError):
    """PySpark's, an ``AttributeError`` too."""


class PySparkNotImplementedError(_Conditioned, NotImplementedError):
    """PySpark's, a ``NotImplementedError`` too."""


class PySparkAssertionError(_Conditioned, AssertionError):
    """PySpark's, an ``AssertionError`` too."""


class PySparkPicklingError(_Conditioned, PicklingError):
    """PySpark's, a ``pickle.PicklingError`` too."""


class PySparkImportError(_Conditioned, ImportError):
    """PySpark's, an ``ImportError`` too."""


class PythonException(_Conditioned):
    """PySpark raises it for a Python UDF's failure (SQL, which Vega does not implement):
    here so that programs importing it to catch it run."""


class AnalysisException(_Conditioned):
    """``spark.conf.set`` of a Spark setting the running application uses
    (``CANNOT_MODIFY_CONFIG``, as PySpark's for a core setting)."""


class SparkNoSuchElementException(_Conditioned):
    """``spark.conf.get`` of a key that is not set, without a default
    (``SQL_CONF_NOT_FOUND``, as PySpark's)."""


__all__ = ["PySparkException", "PySparkValueError", "PySparkTypeError", "PySparkRuntimeError",
           "PySparkIndexError", "PySparkKeyError", "PySparkAttributeError",
           "PySparkNotImplementedError", "PySparkAssertionError", "PySparkPicklingError",
           "PySparkImportError", "PythonException", "AnalysisException",
           "SparkNoSuchElementException"]
