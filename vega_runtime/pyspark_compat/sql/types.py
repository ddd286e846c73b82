"""``pyspark.sql.types`` as far as RDD programs use it: ``Row``, PySpark's canonical home
of it (``from pyspark.sql.types import Row``).  Its data types (``StructType``,
``StringType``, ...) describe DataFrames, which Vega does not have: asking for one raises
the ``ImportError`` that says so."""

from __future__ import annotations

from .row import Row

__all__ = ["Row"]


def __getattr__(name: str):
    if not name[:1].isupper():
        raise AttributeError(f"module 'pyspark.sql.types' has no attribute {name!r}")
    from vega_runtime.pyspark_alias import NotInVega

    raise NotInVega(f"pyspark.sql.types.{name}")
