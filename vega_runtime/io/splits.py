"""Planning input partitions.

Without a partition count from the user (``plan_splits``), large files are cut into byte
ranges of at most one split (lines are reassigned at the edges by ``lines.read_lines``);
the pieces, in file order, are then cut into contiguous groups of near-equal bytes, so many
small files share a partition and records keep their order.  With one
(``hadoop_splits``), the ranges are those of Hadoop's ``FileInputFormat.getSplits``, one a
partition, as PySpark's ``textFile(path, minPartitions)`` has them.  Compressed files (but
``.bz2``) are never cut.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

from .files import InputFile
from ..records import FrozenRecord


class FileSegment(FrozenRecord):
    """Bytes ``start`` to ``end`` of one input file."""
    path: str
    start: int
    end: int  # exclusive; for compressed files the file size, read whole

    def __init__(self, path, start, end):
        setattr = object.__setattr__
        setattr(self, "path", path)
        setattr(self, "start", start)
        setattr(self, "end", end)

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_splits(files: Sequence[InputFile], min_partitions: int, split_size: int,
                parallelism: int = 1) -> List[Tuple[FileSegment, ...]]:
    """Group the files' bytes into partitions of roughly equal size, in file order.

    The partition count is at least ``min_partitions`` and total/``split_size``,
    rounded up to a multiple of ``parallelism`` so every executor core gets
    the same share of bytes; empty files alone make no partition.

    >>> plan = plan_splits([InputFile("a", 100), InputFile("b", 10)], 2, 1 << 20)
    >>> [[(s.path, s.start, s.end) for s in p] for p in plan]
    [[('a', 0, 50)], [('a', 50, 100), ('b', 0, 10)]]
    """
    total = sum(f.size for f in files)
    if not total:  # no bytes, no lines: no partition (Spark drops empty splits likewise)
        return []
    count = max(min_partitions, -(-total // max(1, split_size)), 1)
    if count > 1 and parallelism > 1:
        count = -(-count // parallelism) * parallelism
    goal = max(1, -(-total // count))
    pieces: List[FileSegment] = []
    for f in files:
        if f.splittable and f.size > goal * 1.1:
            n = -(-f.size // goal)
            step = -(-f.size // n)
            pieces.extend(FileSegment(f.path, s, min(s + step, f.size))
                          for s in range(0, f.size, step))
        else:
            pieces.append(FileSegment(f.path, 0, f.size))
    return pack_segments(pieces, min(count, len(pieces)))


def pack_segments(pieces: List[FileSegment], bins: int) -> List[Tuple[FileSegment, ...]]:
    """Cut the ordered pieces into at most ``bins`` contiguous groups of near-equal bytes.

    A piece joins the group whose share of the total its midpoint falls in,
    so records keep their file order and groups differ by at most about one
    piece (pieces are at most one split long).

    >>> [[p.path for p in g] for g in pack_segments([FileSegment(c, 0, 10) for c in "abcd"], 2)]
    [['a', 'b'], ['c', 'd']]
    """
    total = sum(p.length for p in pieces)
    groups: List[Tuple[FileSegment, ...]] = []
    current: List[FileSegment] = []
    done = 0
    for piece in pieces:
        boundary = (len(groups) + 1) * total / bins
        if current and len(groups) < bins - 1 and done + piece.length / 2 > boundary:
            groups.append(tuple(current))
            current = []
        current.append(piece)
        done += piece.length
    if current:
        groups.append(tuple(current))
    return groups


#: Hadoop's ``FileInputFormat.SPLIT_SLOP``: a file's last range may be up to 10% longer
#: than the others rather than leave a sliver
SPLIT_SLOP = 1.1


def hadoop_splits(files: Sequence[InputFile], min_partitions: int, block_size: int,
                  min_size: int = 1, max_size: Optional[int] = None,
                  splittable: Callable[[InputFile], bool] = lambda f: f.splittable,
                  ) -> List[Tuple[FileSegment, ...]]:
    """One partition a byte range, the ranges Hadoop's ``FileInputFormat.getSplits(job,
    min_partitions)`` gives (PySpark's ``textFile(path, minPartitions)``).

    The goal size is ``floor(total / min_partitions)``; a splittable file is cut every
    ``max(min_size, min(goal, its block size))`` bytes (an HDFS file's own, else ``block_size``,
    as Hadoop's local file system's 32 MB) while more than ``SPLIT_SLOP`` of that remains,
    the rest its last range; another file is one range.  Empty files make no partition
    (Spark's ``spark.hadoopRDD.ignoreEmptySplits``).  ``min_size``: the input format's
    least range (SequenceFileInputFormat's: ``SequenceFile.SYNC_INTERVAL``, 100 KiB).
    ``max_size``: the new API's rule (``mapreduce``'s FileInputFormat), which cuts every
    ``max(min_size, min(max_size, block size))`` bytes whatever ``min_partitions``.

    >>> plan = hadoop_splits([InputFile("a", 100), InputFile("b", 10)], 3, 1 << 25)
    >>> [[(s.path, s.start, s.end) for s in p] for p in plan]
    [[('a', 0, 36)], [('a', 36, 72)], [('a', 72, 100)], [('b', 0, 10)]]
    >>> [[(s.start, s.end) for s in p] for p in hadoop_splits([InputFile("a", 100)], 3, 64,
    ...                                                       max_size=1 << 63)]
    [[(0, 64)], [(64, 100)]]
    """
    goal = sum(f.size for f in files) // max(1, min_partitions)
    plan: List[Tuple[FileSegment, ...]] = []
    for f in files:
        limit = goal if max_size is None else max_size
        size = max(min_size, 1, min(limit, f.block_size or block_size))
        start = 0
        if splittable(f):
            while (f.size - start) / size > SPLIT_SLOP:
                plan.append((FileSegment(f.path, start, start + size),))
                start += size
        if start < f.size:
            plan.append((FileSegment(f.path, start, f.size),))
    return plan
