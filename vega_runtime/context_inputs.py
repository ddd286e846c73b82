"""Inputs of records saved by RDDs: the Context's ``pickle_file``, ``sequence_file`` and
PySpark's Hadoop input API (``hadoop_file``, ``new_api_hadoop_file``, ``hadoop_rdd``,
``new_api_hadoop_rdd``).

A mixin of ``Context`` (``text_file`` and the whole-file inputs stay in ``context``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional

from .lazy_imports import lazy_module

sources = lazy_module("vega_runtime.rdd.sources")
hadoop_sources = lazy_module("vega_runtime.rdd.hadoop_sources")
hadoop_formats = lazy_module("vega_runtime.io.hadoop_formats")

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
        only checked: ``hadoop_formats.record_class``); ``batch_size`` is PySpark's pickling batch (none here).

        >>> import os, shutil, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "seq")
        >>> ctx.parallelize([(1, "a"), (2, "b")]).save_as_sequence_file(out)
        >>> sorted(ctx.sequence_file(out).collect())
        [(1, 'a'), (2, 'b')]
        >>> shutil.rmtree(os.path.dirname(out))
        """
        hadoop_formats.record_class("sequenceFile", "keyClass", key_class)
        hadoop_formats.record_class("sequenceFile", "valueClass", value_class)
        for name, value in (("keyConverter", key_converter),
                            ("valueConverter", value_converter)):
            if value is not None:
                raise ValueError(f"{name}={value!r} names a Java class that converts Writables "
                                 "in Spark's JVM, and Vega has no JVM: read without it and "
                                 "convert the records with .map()")
        return sources.SequenceFileRDD(self, path, min_splits or self.default_min_partitions,
                                       self.conf["vega.input.split_size"],
                                       hadoop_ranges=bool(min_splits))

    def hadoop_file(self, path: str, input_format_class: str, key_class: str, value_class: str,
                    key_converter: Optional[str] = None, value_converter: Optional[str] = None,
                    conf: Optional[Dict[str, str]] = None, batch_size: int = 0) -> RDD:
        """Records of files through Hadoop's old-API ``input_format_class``, as PySpark's
        ``hadoopFile`` gives them: ``org.apache.hadoop.mapred.TextInputFormat``'s
        ``(byte offset, line)``, ``KeyValueTextInputFormat``'s ``(key, value)`` (a line
        split at its first tab) or ``SequenceFileInputFormat``'s records (as
        ``sequence_file``); one partition per split of Hadoop's (the files' bytes over
        ``default_min_partitions``, at most a block).  ``key_class`` and ``value_class``
        are taken for PySpark's sake: the records are what the format reads.  ``conf`` is
        not applied, as in PySpark (whose ``hadoopFile`` reads with the context's Hadoop
        configuration): ``hadoop_rdd`` and ``new_api_hadoop_file`` apply theirs.

        >>> import os, shutil, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "lines")
        >>> ctx.parallelize(["ab", "c"], 1).save_as_text_file(out)
        >>> ctx.hadoop_file(out, "org.apache.hadoop.mapred.TextInputFormat",
        ...                 "org.apache.hadoop.io.LongWritable",
        ...                 "org.apache.hadoop.io.Text").collect()
        [(0, 'ab'), (3, 'c')]
        >>> shutil.rmtree(os.path.dirname(out))
        """
        return self._hadoop_input("hadoopFile", path, input_format_class, key_class,
                                  value_class, key_converter, value_converter, None, False)

    def new_api_hadoop_file(self, path: str, input_format_class: str, key_class: str,
                            value_class: str, key_converter: Optional[str] = None,
                            value_converter: Optional[str] = None,
                            conf: Optional[Dict[str, str]] = None, batch_size: int = 0) -> RDD:
        """As ``hadoop_file`` through the new API's ``input_format_class``
        (``org.apache.hadoop.mapreduce.lib.input.TextInputFormat``, ...), whose splits are
        a block each (a small file is one partition)."""
        return self._hadoop_input("newAPIHadoopFile", path, input_format_class, key_class,
                                  value_class, key_converter, value_converter, conf, True)

    def hadoop_rdd(self, input_format_class: str, key_class: str, value_class: str,
                   key_converter: Optional[str] = None, value_converter: Optional[str] = None,
                   conf: Optional[Dict[str, str]] = None, batch_size: int = 0) -> RDD:
        """As ``hadoop_file`` reading what ``conf``'s
        ``mapreduce.input.fileinputformat.inputdir`` names."""
        return self._hadoop_input("hadoopRDD", None, input_format_class, key_class,
                                  value_class, key_converter, value_converter, conf, False)

    def new_api_hadoop_rdd(self, input_format_class: str, key_class: str, value_class: str,
                           key_converter: Optional[str] = None,
                           value_converter: Optional[str] = None,
                           conf: Optional[Dict[str, str]] = None, batch_size: int = 0) -> RDD:
        """As ``new_api_hadoop_file`` reading what ``conf``'s
        ``mapreduce.input.fileinputformat.inputdir`` names."""
        return self._hadoop_input("newAPIHadoopRDD", None, input_format_class, key_class,
                                  value_class, key_converter, value_converter, conf, True)

    def _hadoop_input(self, method, path, input_format_class, key_class, value_class,
                      key_converter, value_converter, conf, new_api: bool) -> RDD:
        hadoop_formats.refuse_converters(method, key_converter, value_converter)
        plan = hadoop_formats.input_plan(method, path, input_format_class, key_class,
                                         value_class, conf, new_api)
        return hadoop_sources.HadoopFileRDD(self, plan, self.default_min_partitions,
                                            self.conf["vega.input.split_size"])
