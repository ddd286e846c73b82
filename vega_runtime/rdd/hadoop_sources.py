"""RDDs of PySpark's Hadoop input API (``hadoopFile``, ``newAPIHadoopFile``, ``hadoopRDD``,
``newAPIHadoopRDD``) for TextInputFormat, KeyValueTextInputFormat and
SequenceFileInputFormat: one partition per split Hadoop's FileInputFormat makes
(``io.hadoop_formats``)."""

from __future__ import annotations

import math
from typing import Iterator

from ..errors import InputError
from ..io import hadoop_formats, sequence_file
from ..io.files import input_errors, is_compressed, open_input
from ..io.globs import path_text
from ..io.lines import decode_text
from .sources import FilesPartition, _FileInput


class HadoopFileRDD(_FileInput):
    """The records ``plan`` (a ``hadoop_formats.InputPlan``) asks for: ``(byte offset,
    line)`` of TextInputFormat, ``(key, value)`` text of KeyValueTextInputFormat (split at
    the first separator), or a SequenceFile's ``(key, value)``."""

    def __init__(self, ctx, plan: hadoop_formats.InputPlan, num_splits: int, split_size: int):
        super().__init__(ctx, plan.path, num_splits, split_size)
        self.plan = plan
        self.decompress = plan.kind != "sequence"  # (compressed inside)
        self.set_name(path_text(plan.path))

    def compute_partitions(self) -> list:
        splits = hadoop_formats.hadoop_splits(self._files(), self._min_partitions,
                                              self._split_size, self.plan)
        return [FilesPartition(i, (split,)) for i, split in enumerate(splits)]

    def compute(self, partition: FilesPartition, tc) -> Iterator:
        split = partition.segments[0]
        if self.plan.kind == "sequence":
            return self._records(split)
        return self._lines(split)

    def _records(self, split) -> Iterator:
        with input_errors(split.path), open_input(split.path, self.hdfs,
                                                  decompress=False) as fh:
            try:
                yield from sequence_file.read_records(fh, split.start, split.end)
            except (sequence_file.Corrupt, sequence_file.Unconvertible) as exc:
                raise InputError(split.path, str(exc)) from None

    def _lines(self, split) -> Iterator:
        whole = is_compressed(split.path)  # read from its start, offsets uncompressed
        start, end = (0, math.inf) if whole else (split.start, split.end)
        separator = self.plan.separator
        with input_errors(split.path), open_input(split.path, self.hdfs) as fh:
            for offset, line in hadoop_formats.offset_lines(fh, start, end):
                if self.plan.kind == "text":
                    yield offset, decode_text(line)
                else:
                    key, _, value = line.partition(separator)
                    yield decode_text(key), decode_text(value)
