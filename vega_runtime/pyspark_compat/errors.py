"""``pyspark.errors``: the exception names a PySpark program may catch.

A Vega error is a ``PySparkException``, so ``except PySparkException`` catches a failed
job (``TaskFailed``) as a PySpark program expects; the typed ones are also the built-in
exception they are named after.
"""

from pickle import PicklingError

from vega_runtime.errors import PySparkRuntimeError, VegaError

PySparkException = VegaError


class PySparkValueError(VegaError, ValueError):
    pass


class PySparkTypeError(VegaError, TypeError):
    pass


class PySparkIndexError(VegaError, IndexError):
    pass


class PySparkKeyError(VegaError, KeyError):
    pass


class PySparkAttributeError(VegaError, AttributeError):
    pass


class PySparkNotImplementedError(VegaError, NotImplementedError):
    pass


class PySparkAssertionError(VegaError, AssertionError):
    pass


class PySparkPicklingError(VegaError, PicklingError):
    pass


class PySparkImportError(VegaError, ImportError):
    pass


class PythonException(VegaError):
    """PySpark raises it for a Python UDF's failure (SQL, which Vega does not implement):
    here so that programs importing it to catch it run."""


__all__ = ["PySparkException", "PySparkValueError", "PySparkTypeError", "PySparkRuntimeError",
           "PySparkIndexError", "PySparkKeyError", "PySparkAttributeError",
           "PySparkNotImplementedError", "PySparkAssertionError", "PySparkPicklingError",
           "PySparkImportError", "PythonException"]
