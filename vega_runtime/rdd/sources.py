"""RDDs that read data: driver collections, files, checkpoints."""

from __future__ import annotations

import itertools
import operator
import os
import posixpath
from typing import Iterable, Iterator, List, Sequence

from ..io.files import (InputFile, absolute_paths, input_errors, is_splittable,
                        list_input_files, open_input, refuse_unreadable_codecs)
from ..errors import InputError, VegaError
from ..io.globs import path_text
from ..io.hdfs import is_hdfs
from ..io.lines import decode_text, read_lines
from ..io.splits import FileSegment, hadoop_splits, pack_segments, plan_splits
from ..serde import read_batch_file
from .base import RDD, Partition


class SlicePartition(Partition):
    """A slice of a driver-side collection; travels with its task, not the stage."""

    __slots__ = ("values",)

    def __init__(self, index: int, values: Sequence):
        super().__init__(index)
        self.values = values


#: PySpark's most records a batch of ``parallelize``'s data (``SparkContext._batchSize``
#: 0: "auto", 1024)
PARALLELIZE_BATCH = 1024


def slice_collection(data: Iterable, num_slices: int) -> List[Sequence]:
    """PySpark's slicing.  A ``range`` stays lazy: slice i is ``data[i*n//k : (i+1)*n//k]``.
    Other data is cut as PySpark's ``parallelize`` cuts a list: into batches of
    ``b = max(1, min(n // k, 1024))`` records (what it pickles for the JVM), and those into
    ``k`` slices as Spark's ``ParallelCollectionRDD`` slices a sequence, slice i holding
    batches ``i*m//k`` to ``(i+1)*m//k`` of the ``m``: where ``k`` does not divide ``n``, a
    later slice may hold a batch more (10 records into 4: 2, 2, 2, 4).

    >>> slice_collection(range(10), 3)
    [range(0, 3), range(3, 6), range(6, 10)]
    >>> [len(s) for s in slice_collection(list(range(10)), 4)]
    [2, 2, 2, 4]
    >>> slice_collection([1, 2], 3)
    [[], [1], [2]]
    """
    if num_slices < 1:
        raise ValueError(f"the number of slices must be positive, not {num_slices}")
    if isinstance(data, range):
        n = len(data)
        return [data[i * n // num_slices:(i + 1) * n // num_slices] for i in range(num_slices)]
    seq = data if isinstance(data, list) else list(data)
    batch = max(1, min(len(seq) // num_slices, PARALLELIZE_BATCH))
    batches = -(-len(seq) // batch)
    return [seq[i * batches // num_slices * batch:(i + 1) * batches // num_slices * batch]
            for i in range(num_slices)]


class ParallelCollectionRDD(RDD):
    def __init__(self, ctx, data: Iterable, num_slices: int):
        super().__init__(ctx)
        self._slices = slice_collection(data, num_slices)

    def compute_partitions(self) -> list:
        return [SlicePartition(i, s) for i, s in enumerate(self._slices)]

    def compute(self, partition: SlicePartition, tc) -> Iterator:
        return iter(partition.values)

    def __getstate__(self):
        state = super().__getstate__()
        state["_slices"] = None  # each task carries its own slice
        return state


class EmptyRDD(RDD):
    def compute_partitions(self) -> list:
        return []

    def compute(self, partition, tc) -> Iterator:
        return iter(())


class FilesPartition(Partition):
    __slots__ = ("segments",)

    def __init__(self, index: int, segments: Sequence[FileSegment]):
        super().__init__(index)
        self.segments = tuple(segments)


class _FileInput(RDD):
    """Base of RDDs reading files: lists them (locally or on HDFS) on the driver when its
    partitions are first needed, as Spark does, so a path may appear after the RDD is made
    and a missing one fails the first action."""

    #: PySpark's textFile and pickleFile refuse a negative minPartitions (Hadoop's
    #: "Illegal Capacity: -1"); its wholeTextFiles and binaryFiles take it as 1
    negative_min_partitions = False
    #: whether the files are decompressed (all but ``binary_files``' are)
    decompress = True
    #: PySpark's name of the parameter, for errors
    min_partitions_name = "minPartitions"

    def __init__(self, ctx, path: str, min_partitions: int, split_size: int):
        super().__init__(ctx)
        self.path = path
        self._spec = absolute_paths(path)  # relative to the working directory of now
        self.hdfs = ctx.hdfs_settings
        self._min_partitions = self._checked(min_partitions)
        self._split_size = split_size

    def _checked(self, min_partitions) -> int:
        """``min_partitions`` as PySpark takes it: an int, negative only where allowed."""
        try:
            count = operator.index(min_partitions)
        except TypeError:
            raise TypeError(f"{self.min_partitions_name} must be an int, not "
                            f"{type(min_partitions).__name__}") from None
        if count < 0 and not self.negative_min_partitions:
            raise ValueError(f"{self.min_partitions_name} must be 0 or more (0: the default), "
                             f"not {count}")
        return max(count, 1)

    def _files(self) -> List[InputFile]:
        files = list_input_files(self._spec, self.hdfs)
        if self.decompress:
            refuse_unreadable_codecs(files)
        return files

    def _open(self, path: str, mode: str = "rb"):
        return open_input(path, self.hdfs)


class TextFileRDD(_FileInput):
    """Lines of text files, split by bytes on line boundaries; ``str``, or with
    ``use_unicode=False`` their UTF-8 ``bytes`` (as PySpark gives them)."""

    def __init__(self, ctx, path: str, min_partitions: int, split_size: int,
                 use_unicode: bool = True, hadoop_ranges: bool = False):
        super().__init__(ctx, path, min_partitions, split_size)
        self._parallelism = ctx.default_parallelism
        self.use_unicode = use_unicode
        #: the user gave ``min_partitions``: PySpark's partitions (Hadoop's getSplits), not
        #: Vega's balanced ones (see ``io.splits``)
        self._hadoop_ranges = hadoop_ranges
        self.set_name(path_text(path))  # as Spark's textFile: repr reads "PATH TextFileRDD[..."

    def compute_partitions(self) -> list:
        if self._hadoop_ranges:
            plan = hadoop_splits(self._files(), self._min_partitions, self._split_size)
        else:
            plan = plan_splits(self._files(), self._min_partitions, self._split_size,
                               self._parallelism)
        return [FilesPartition(i, segments) for i, segments in enumerate(plan)]

    def compute(self, partition: FilesPartition, tc) -> Iterator:
        lines = itertools.chain.from_iterable(
            read_lines(s.path, s.start, s.end, is_splittable(s.path), self.hdfs)
            for s in partition.segments)
        return lines if self.use_unicode else (line.encode("utf-8") for line in lines)


def pack_whole_files(files: Sequence[InputFile], min_partitions: int,
                     split_size: int) -> List[tuple]:
    """Whole files packed into partitions balanced by bytes, never split.

    ``split_size=0`` asks for exactly ``min_partitions`` partitions (fewer only
    when there are fewer files: no partition is ever empty).
    """
    if not files:
        return []
    whole = [InputFile(f.path, f.size) for f in files]
    total = sum(f.size for f in whole)
    by_size = -(-total // split_size) if split_size else 0
    bins = min(len(whole), max(min_partitions, by_size, 1))
    segments = [FileSegment(f.path, 0, f.size) for f in whole]
    return pack_segments(segments, bins)


class _WholeFileInput(_FileInput):
    """Base of RDDs that read each input file whole, files packed by bytes."""

    def compute_partitions(self) -> list:
        plan = pack_whole_files(self._files(), self._min_partitions, self._split_size)
        return [FilesPartition(i, segments) for i, segments in enumerate(plan)]


class WholeFilesRDD(_WholeFileInput):
    """``(path, content)`` per file: the file's bytes as stored (``binary``: a ``.gz`` file
    is not decompressed, as in Spark), else the text, as ``str`` or
    with ``use_unicode=False`` as UTF-8 ``bytes``, path included (as PySpark gives them)."""

    negative_min_partitions = True

    def __init__(self, ctx, path: str, min_partitions: int, split_size: int, binary: bool,
                 use_unicode: bool = True):
        super().__init__(ctx, path, min_partitions, split_size)
        self.binary = binary
        self.decompress = not binary
        self.use_unicode = use_unicode
        self.set_name(path_text(path))  # as Spark's wholeTextFiles and binaryFiles

    def compute(self, partition: FilesPartition, tc) -> Iterator:
        for segment in partition.segments:
            with input_errors(segment.path), \
                    open_input(segment.path, self.hdfs, decompress=self.decompress) as fh:
                data = fh.read()
            key = segment.path if is_hdfs(segment.path) else "file:" + os.path.abspath(segment.path)
            if self.binary:
                yield key, data
            elif self.use_unicode:
                yield key, decode_text(data)
            else:
                yield key.encode("utf-8"), decode_text(data).encode("utf-8")


class PickleFileRDD(_WholeFileInput):
    """Records saved by ``save_as_pickle_file`` (pickled batches per part file)."""

    def compute(self, partition: FilesPartition, tc) -> Iterator:
        import pickle

        for segment in partition.segments:
            with input_errors(segment.path):
                try:
                    yield from read_batch_file(segment.path, self._open)
                except pickle.UnpicklingError as exc:  # a text part, say: name the file
                    raise InputError(segment.path, "not the pickled batches save_as_pickle_file "
                                                   f"writes ({exc})") from None


class SequenceFileRDD(_FileInput):
    """``(key, value)`` records of Hadoop SequenceFiles (``sequence_file``), split at their
    sync markers as text files are at line ends (see ``io.sequence_file``)."""

    decompress = False  # (compressed inside: the file's name says nothing)
    min_partitions_name = "minSplits"

    def __init__(self, ctx, path: str, min_partitions: int, split_size: int,
                 hadoop_ranges: bool = False):
        super().__init__(ctx, path, min_partitions, split_size)
        self._parallelism = ctx.default_parallelism
        self._hadoop_ranges = hadoop_ranges  # min_splits given: PySpark's (see TextFileRDD)
        self.set_name(path_text(path))

    def compute_partitions(self) -> list:
        if self._hadoop_ranges:  # (SequenceFileInputFormat's least range: SYNC_INTERVAL)
            from ..io.sequence_file import SYNC_INTERVAL

            plan = hadoop_splits(self._files(), self._min_partitions, self._split_size,
                                 SYNC_INTERVAL)
        else:
            plan = plan_splits(self._files(), self._min_partitions, self._split_size,
                               self._parallelism)
        return [FilesPartition(i, segments) for i, segments in enumerate(plan)]

    def compute(self, partition: FilesPartition, tc) -> Iterator:
        from ..io import sequence_file

        for s in partition.segments:
            with input_errors(s.path), open_input(s.path, self.hdfs, decompress=False) as fh:
                try:
                    yield from sequence_file.read_records(fh, s.start, s.end)
                except sequence_file.Corrupt as exc:
                    raise InputError(s.path, str(exc)) from None
                except sequence_file.Unconvertible as exc:
                    raise InputError(s.path, str(exc)) from None


class CheckpointRDD(RDD):
    """A checkpointed RDD's partitions, read back from ``directory``."""

    def __init__(self, ctx, directory: str, num_partitions: int, partitioner=None):
        super().__init__(ctx)
        self.directory = directory
        self.hdfs = ctx.hdfs_settings
        self.num_partitions = num_partitions
        self.partitioner = partitioner

    def compute_partitions(self) -> list:
        return [Partition(i) for i in range(self.num_partitions)]

    def compute(self, partition: Partition, tc) -> Iterator:
        path = posixpath.join(self.directory, f"part-{partition.index:05d}")
        return read_batch_file(path, lambda p, mode: open_input(p, self.hdfs))


class LocalCheckpointRDD(RDD):
    """A locally checkpointed RDD's partitions: the blocks its executors keep of RDD
    ``rdd_id`` at ``level``, fetched from whichever holds each; one no executor holds any
    more cannot be computed again (its lineage is cut), as Spark's."""

    def __init__(self, ctx, rdd_id: int, level, num_partitions: int, partitioner=None):
        super().__init__(ctx)
        self.checkpointed_id, self.level = rdd_id, level
        self.num_partitions = num_partitions
        self.partitioner = partitioner

    def compute_partitions(self) -> list:
        return [Partition(i) for i in range(self.num_partitions)]

    def compute(self, partition: Partition, tc) -> Iterator:
        def lost() -> Iterator:
            raise VegaError(
                f"Checkpoint block rdd_{self.checkpointed_id}_{partition.index} not found! "
                "Either the executor that originally checkpointed this partition is no "
                "longer alive, or the original RDD is unpersisted. A local checkpoint is "
                "kept by the executors only: use checkpoint() (with set_checkpoint_dir) "
                "where losing an executor must not fail the job")

        return tc.blocks.get_or_compute(self.checkpointed_id, partition.index, self.level,
                                        lost)


class FixedLengthRecords:
    """``binary_records``' function: a ``(path, bytes)`` file's ``record_length``-byte
    records; a file that is not a whole number of them is an ``InputError``."""

    def __init__(self, record_length: int):
        self.record_length = record_length

    def __call__(self, named_content) -> list:
        name, data = named_content
        size = self.record_length
        if len(data) % size:
            raise InputError(name, f"its {len(data)} bytes are not a whole number of "
                                   f"{size}-byte records")
        return [data[i:i + size] for i in range(0, len(data), size)]
