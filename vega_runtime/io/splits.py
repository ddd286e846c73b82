"""Planning input partitions balanced by bytes.

Large files are cut into byte ranges (lines are reassigned at the edges by
``lines.read_lines``); small files are packed, largest first, onto the
lightest partition.  Compressed files are never cut.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import List, Sequence, Tuple

from .files import InputFile


@dataclass(frozen=True)
class FileSegment:
    path: str
    start: int
    end: int  # exclusive; for compressed files the file size, read whole

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_splits(files: Sequence[InputFile], min_partitions: int,
                split_size: int) -> List[Tuple[FileSegment, ...]]:
    """Group the files' bytes into partitions of roughly equal size.

    >>> plan = plan_splits([InputFile("a", 100), InputFile("b", 10)], 2, 1 << 20)
    >>> [[(s.path, s.start, s.end) for s in p] for p in plan]
    [[('a', 0, 55)], [('a', 55, 100), ('b', 0, 10)]]
    """
    total = sum(f.size for f in files)
    if not files:
        return []
    goal = max(1, min(split_size, -(-total // max(1, min_partitions))))
    pieces: List[FileSegment] = []
    for f in files:
        if f.splittable and f.size > goal * 1.1:
            count = -(-f.size // goal)
            step = -(-f.size // count)
            pieces.extend(FileSegment(f.path, s, min(s + step, f.size))
                          for s in range(0, f.size, step))
        else:
            pieces.append(FileSegment(f.path, 0, f.size))
    target = max(min_partitions, -(-total // goal), 1)
    target = min(target, len(pieces))
    return pack_segments(pieces, target)


def pack_segments(pieces: List[FileSegment], bins: int) -> List[Tuple[FileSegment, ...]]:
    """Largest piece first onto the lightest bin; each bin keeps file order."""
    order = {id(p): i for i, p in enumerate(pieces)}
    heap = [(0, i, []) for i in range(bins)]
    for piece in sorted(pieces, key=lambda p: -p.length):
        load, i, members = heapq.heappop(heap)
        members.append(piece)
        heapq.heappush(heap, (load + piece.length, i, members))
    packed = [sorted(members, key=lambda p: order[id(p)]) for _, _, members in sorted(heap, key=lambda b: b[1])]
    packed = [tuple(b) for b in packed if b]
    packed.sort(key=lambda b: order[id(b[0])])
    return packed
