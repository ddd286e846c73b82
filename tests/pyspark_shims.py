"""What PySpark's own unit tests import besides the RDD API, for running them against Vega.

PySpark's tests (``pyspark/tests/test_rdd.py`` and friends, read from the installed
PySpark's ``pyspark.zip`` by ``pyspark_run.py``) import their test base classes from
``pyspark.testing``, and a few JVM-side names (``py4j``, ``pyspark.serializers``,
``pyspark.java_gateway``) at module level.  This module provides
those names so that the modules import; it never imports the real PySpark.

- ``pyspark.testing.utils``: the base classes, written here after their documented
  behaviour (one SparkContext per class or per test), on the master under test.
- ``py4j.protocol.Py4JJavaError``: what PySpark raises when a job fails; Vega raises a
  ``VegaError`` (``TaskFailed``), so that is what the name means here.
- ``PySparkErrorTestUtils.check_error``: written after its documented behaviour, on
  PySpark 4's exception API (``getCondition``, ``getMessageParameters``, ...).
- ``sc._jvm.WriteInputFormatTestDataGenerator``: the Scala class test_readwrite's
  ``InputFormatTests`` write their input with (``_InputFormatData``).
- JVM, SQL and serializer names: placeholders that fail when used.  Tests that use them are in
  ``pyspark_run.EXCLUDED`` with the reason.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import time
import types
import unittest

from vega_runtime.errors import VegaError


class NotInVegaStandIn:
    """A PySpark name that only exists for the JVM or for PySpark's internals."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} is PySpark-internal or JVM-side; "
                                  "Vega has no equivalent")


def _stand_in(name: str) -> type:
    return type(name, (NotInVegaStandIn,), {})


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)
    return module


def eventually(timeout=30.0, catch_assertions=False, catch_timeout=False, quiet=True,
               interval=0.1, expected_exceptions=()):
    """Retry a condition until it returns True or None, or fail after ``timeout`` seconds."""
    expected = tuple(expected_exceptions) + ((AssertionError,) if catch_assertions else ()) \
        + ((TimeoutError,) if catch_timeout else ())

    def decorator(condition):
        @functools.wraps(condition)
        def wrapper(*args, **kwargs):
            deadline, last = time.monotonic() + timeout, None
            while time.monotonic() < deadline:
                try:
                    last = condition(*args, **kwargs)
                except expected as exc:
                    last = exc
                if last is True or last is None:
                    return
                time.sleep(interval)
            if isinstance(last, BaseException):
                raise last
            raise AssertionError(f"condition not met after {timeout:g}s: last returned {last!r}")

        return wrapper

    return decorator


class QuietTest:
    """PySpark silences the JVM's log here; Vega has nothing to silence."""

    def __init__(self, sc):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class PySparkErrorTestUtils:
    """``check_error``, as PySpark's documents it: the exception is a ``PySparkException``
    with no query context (none was asked for), of the error class (condition) and message
    parameters given."""

    def check_error(self, exception, errorClass, messageParameters=None,
                    query_context_type=None, fragment=None, matchPVals=False):
        from vega_runtime.pyspark_compat.errors import PySparkException

        self.assertIsInstance(exception, PySparkException)
        self.assertEqual(bool(exception.getQueryContext()), query_context_type is not None)
        self.assertEqual(errorClass, exception.getCondition())
        actual = exception.getMessageParameters()
        if matchPVals:
            self.assertEqual(sorted(messageParameters), sorted(actual))
            for key, pattern in messageParameters.items():
                self.assertRegex(actual[key], pattern)
        else:
            self.assertEqual(messageParameters, actual)


class _InputFormatData:
    """Spark's ``WriteInputFormatTestDataGenerator.generateData(path, jsc)``, which
    test_readwrite's ``InputFormatTests`` call through ``sc._jvm`` to write their input:
    the one file set their tests of the RDD API read, ``sftestdata/sfint``, Spark's six
    ``(int, str)`` records as an IntWritable/Text SequenceFile, written with Vega's
    ``saveAsSequenceFile`` (whose files PySpark reads: tests/test_pyspark_sequence_files.py).  Its
    other files (custom Writables, read with Java converters) are for excluded tests."""

    INT_KEYS = [(1, "aa"), (2, "bb"), (2, "aa"), (3, "cc"), (2, "bb"), (1, "aa")]

    @classmethod
    def generateData(cls, path, jsc):  # noqa: N802 - Spark's name
        jsc.parallelize(cls.INT_KEYS).saveAsSequenceFile(os.path.join(path, "sftestdata",
                                                                      "sfint"))


class _Jvm:
    """``sc._jvm``: only the test data generator above; any other JVM class fails."""

    WriteInputFormatTestDataGenerator = _InputFormatData

    def __getattr__(self, name):
        raise AttributeError(f"{name} is a JVM class; Vega has no JVM")


def _have(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def register(master: str, spark_home: str) -> None:
    """Put the stand-ins in ``sys.modules``; the test base classes use ``master``."""
    import pyspark  # Vega's, through vega_runtime.pyspark_alias

    class PySparkBaseTestCase(unittest.TestCase):
        pass

    class PySparkTestCase(PySparkBaseTestCase):
        """A SparkContext per test."""

        def setUp(self):
            self._old_sys_path = list(sys.path)
            self.sc = pyspark.SparkContext(master, type(self).__name__)

        def tearDown(self):
            self.sc.stop()
            sys.path = self._old_sys_path

    class ReusedPySparkTestCase(PySparkBaseTestCase):
        """A SparkContext per test class."""

        @classmethod
        def conf(cls):
            return pyspark.SparkConf()

        @classmethod
        def master(cls):
            return master

        @classmethod
        def setUpClass(cls):
            cls.sc = pyspark.SparkContext(cls.master(), cls.__name__, conf=cls.conf())
            cls.sc._jvm, cls.sc._jsc = _Jvm(), cls.sc  # (_InputFormatData's caller)

        @classmethod
        def tearDownClass(cls):
            cls.sc.stop()

    _module("py4j")
    _module("py4j.protocol", Py4JJavaError=VegaError)
    _module("pyspark.testing", main=unittest.main)
    _module("pyspark.testing.utils", PySparkBaseTestCase=PySparkBaseTestCase,
            PySparkTestCase=PySparkTestCase, ReusedPySparkTestCase=ReusedPySparkTestCase,
            QuietTest=QuietTest, eventually=eventually, have_numpy=_have("numpy"),
            PySparkErrorTestUtils=PySparkErrorTestUtils,
            have_pandas=_have("pandas"), have_pyarrow=_have("pyarrow"),
            pandas_requirement_message="", pyarrow_requirement_message="",
            SPARK_HOME=spark_home)
    _module("pyspark.testing.sqlutils", SPARK_HOME=spark_home)
    _module("pyspark.shuffle")
    _module("pyspark.memory_profiler_ext", has_memory_profiler=_have("memory_profiler"))
    _module("pyspark.sql.functions", udf=_stand_in("udf"))
    _module("pyspark.java_gateway", launch_gateway=_stand_in("launch_gateway"))
    _module("pyspark.serializers", **{name: _stand_in(name) for name in (
        "CloudPickleSerializer", "BatchedSerializer", "CPickleSerializer", "MarshalSerializer",
        "UTF8Deserializer", "NoOpSerializer", "ChunkedStream")})
    os.environ.setdefault("SPARK_HOME", spark_home)
