"""Inputs of records saved by RDDs: the Context's ``pickle_file`` and ``sequence_file``.

A mixin of ``Context`` (``text_file`` and the whole-file inputs stay in ``context``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .lazy_imports import lazy_module

sources = lazy_module("vega_runtime.rdd.sources")

if TYPE_CHECKING:
    from .rdd.base import RDD


class Inputs:
    """Needs ``self.conf`` and ``self.default_min_partitions``."""

    def pickle_file(self, path: str, min_partitions: Optional[int] = None) -> RDD:
        """Records written by ``RDD.save_as_pickle_file``."""
        return sources.PickleFileRDD(self, path, min_partitions or self.default_min_partitions,
                                     self.conf["vega.input.split_size"])

    def sequence_file(self, path: str, key_class: Optional[str] = None,
                      value_class: Optional[str] = None, key_converter: Optional[str] = None,
                      value_converter: Optional[str] = None, min_splits: Optional[int] = None,
                      batch_size: int = 0) -> RDD:
        """``(key, value)`` records of Hadoop SequenceFiles (a file, a directory, a glob or a
        comma-separated list, local or HDFS), as PySpark's ``sequenceFile`` gives them: Text
        as ``str``, Int/LongWritable ``int``, Double/FloatWritable ``float``,
        BooleanWritable ``bool``, BytesWritable ``bytearray``, NullWritable ``None``,
        MapWritable ``dict``; uncompressed, or compressed with DefaultCodec, GzipCodec,
        BZip2Codec, SnappyCodec or Lz4Codec.
        Large files are split at their sync markers.  The records are read as the file's
        own classes, as Hadoop's reader reads them (``key_class`` and ``value_class`` are
        taken for PySpark's sake); ``batch_size`` is PySpark's pickling batch (none here).

        >>> import os, shutil, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "seq")
        >>> ctx.parallelize([(1, "a"), (2, "b")]).save_as_sequence_file(out)
        >>> sorted(ctx.sequence_file(out).collect())
        [(1, 'a'), (2, 'b')]
        >>> shutil.rmtree(os.path.dirname(out))
        """
        for name, value in (("keyClass", key_class), ("valueClass", value_class)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} is a Java class name (a str such as "
                                f"'org.apache.hadoop.io.Text'), not {type(value).__name__}")
        for name, value in (("keyConverter", key_converter),
                            ("valueConverter", value_converter)):
            if value is not None:
                raise ValueError(f"{name}={value!r} names a Java class that converts Writables "
                                 "in Spark's JVM, and Vega has no JVM: read without it and "
                                 "convert the records with .map()")
        return sources.SequenceFileRDD(self, path, min_splits or self.default_min_partitions,
                                       self.conf["vega.input.split_size"])
