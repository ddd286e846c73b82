"""Saving ``(key, value)`` RDDs through PySpark's Hadoop output API: ``save_as_hadoop_file``,
``save_as_new_api_hadoop_file`` and their ``..._dataset`` twins that take everything from
a job ``conf``, for TextOutputFormat and SequenceFileOutputFormat (``io.hadoop_formats``).
A mixin of ``RDD``."""

from __future__ import annotations

from typing import Dict, Optional

from ..io import hadoop_formats, sequence_file


class HadoopOutput:
    """Needs ``self.take`` and ``self._driver``."""

    def save_as_hadoop_file(self, path: str, output_format_class: str,
                            key_class: Optional[str] = None, value_class: Optional[str] = None,
                            key_converter: Optional[str] = None,
                            value_converter: Optional[str] = None,
                            conf: Optional[Dict[str, str]] = None,
                            compression_codec_class: Optional[str] = None,
                            overwrite: bool = False) -> None:
        """``(key, value)`` records through Hadoop's old-API ``output_format_class``:
        ``org.apache.hadoop.mapred.TextOutputFormat`` (a ``key<TAB>value`` line each) or
        ``SequenceFileOutputFormat``, one ``part-NNNNN`` per partition, as PySpark writes
        them; ``compression_codec_class`` or ``conf``'s
        ``mapreduce.output.fileoutputformat.compress(.codec)`` compress them.

        >>> import os, shutil, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "out")
        >>> ctx.parallelize([(1, "a"), (2, None)], 1).save_as_hadoop_file(
        ...     out, "org.apache.hadoop.mapred.TextOutputFormat")
        >>> open(os.path.join(out, "part-00000")).read()
        '1\\ta\\n2\\n'
        >>> shutil.rmtree(os.path.dirname(out))
        """
        method = "saveAsHadoopFile"
        hadoop_formats.refuse_converters(method, key_converter, value_converter)
        self._save_hadoop(method, hadoop_formats.output_plan(
            method, path, output_format_class, key_class, value_class, conf,
            compression_codec_class, new_api=False), overwrite)

    def save_as_new_api_hadoop_file(self, path: str, output_format_class: str,
                                    key_class: Optional[str] = None,
                                    value_class: Optional[str] = None,
                                    key_converter: Optional[str] = None,
                                    value_converter: Optional[str] = None,
                                    conf: Optional[Dict[str, str]] = None,
                                    overwrite: bool = False) -> None:
        """As ``save_as_hadoop_file`` through the new API's ``output_format_class``
        (``org.apache.hadoop.mapreduce.lib.output.TextOutputFormat`` or
        ``SequenceFileOutputFormat``): parts named ``part-r-NNNNN``."""
        method = "saveAsNewAPIHadoopFile"
        hadoop_formats.refuse_converters(method, key_converter, value_converter)
        self._save_hadoop(method, hadoop_formats.output_plan(
            method, path, output_format_class, key_class, value_class, conf, None,
            new_api=True), overwrite)

    def save_as_hadoop_dataset(self, conf: Dict[str, str], key_converter: Optional[str] = None,
                               value_converter: Optional[str] = None) -> None:
        """As ``save_as_hadoop_file``, everything from the job ``conf``: the directory
        (``mapreduce.output.fileoutputformat.outputdir``), the format
        (``mapred.output.format.class``, by default TextOutputFormat) and the key and
        value classes (``mapreduce.job.output.key.class``, ``...value.class``)."""
        method = "saveAsHadoopDataset"
        hadoop_formats.refuse_converters(method, key_converter, value_converter)
        self._save_hadoop(method, hadoop_formats.dataset_plan(method, conf, new_api=False),
                          False)

    def save_as_new_api_hadoop_dataset(self, conf: Dict[str, str],
                                       key_converter: Optional[str] = None,
                                       value_converter: Optional[str] = None) -> None:
        """As ``save_as_hadoop_dataset`` in the new API (its format:
        ``mapreduce.job.outputformat.class``)."""
        method = "saveAsNewAPIHadoopDataset"
        hadoop_formats.refuse_converters(method, key_converter, value_converter)
        self._save_hadoop(method, hadoop_formats.dataset_plan(method, conf, new_api=True),
                          False)

    def _save_hadoop(self, method: str, plan: hadoop_formats.OutputPlan,
                     overwrite: bool) -> None:
        key_class, value_class = plan.key_class, plan.value_class
        if key_class is None or value_class is None:  # PySpark infers them from first()
            first = self.take(1)
            if not first:
                raise ValueError(f"{method}: the RDD is empty, and the key and value classes "
                                 "are those of its first record (as in PySpark, which "
                                 "refuses it too): give keyClass and valueClass, or save "
                                 "records; nothing was written")
            if plan.kind == "sequence":
                first_key, first_value = sequence_file.record_classes(first[0])
                key_class, value_class = key_class or first_key, value_class or first_value
        writer = (hadoop_formats.text_writer(plan) if plan.kind == "text" else
                  hadoop_formats.sequence_writer(plan, key_class, value_class, method))
        self._driver(f"{method}()").save_partitions(self, plan.path, writer, overwrite)
