"""``pyspark.sql``, as far as RDD programs use it: ``SparkSession`` as an entry point, ``Row``.

Spark's own RDD examples start with ``SparkSession.builder...getOrCreate()``, read text
with ``spark.read.text(path).rdd`` (rows whose ``value`` / ``[0]`` is a line) and stop
with ``spark.stop()``, and build records as ``Row(name=..., age=...)``; that is what is
here.  DataFrames, SQL and the rest of ``pyspark.sql`` are not part of Vega: asking for them
raises an ``ImportError`` that says so.
"""

from __future__ import annotations

from .row import Row
from .session import SparkSession

__all__ = ["SparkSession", "Row"]


def __getattr__(name: str):
    # pyspark.sql's classes (DataFrame, Column, Window, ...) are capitalised; its modules
    # (functions, types) are found, and refused, by the import system (pyspark_alias's
    # finder, also for ``from pyspark.sql import functions``).
    if not name[:1].isupper():
        raise AttributeError(f"module 'pyspark.sql' has no attribute {name!r}")
    from vega_runtime.pyspark_alias import NotInVega

    raise NotInVega(f"pyspark.sql.{name}")
