"""Reading the lines of a byte range of a file, each line exactly once.

A line belongs to the segment that holds its first byte.  A segment that
does not start at 0 skips the partial line it starts inside; every segment
reads past its end to finish its last line.  Bytes are read in large chunks
and decoded in bulk, which is what makes ``text_file`` fast.
"""

from __future__ import annotations

import math
from typing import BinaryIO, Iterator, Optional

from .files import open_input
from .hdfs import HdfsSettings

CHUNK = 1 << 22


def read_lines(path: str, start: int, end: int, splittable: bool = True,
               hdfs: Optional[HdfsSettings] = None) -> Iterator[str]:
    """Lines (without ``\\n`` or ``\\r\\n``) whose first byte lies in [start, end)."""
    with open_input(path, hdfs) as fh:
        if not splittable:
            yield from _lines_until(fh, 0, math.inf)
            return
        pos = _first_line_start(fh, start)
        if pos is None or pos >= end:
            return
        fh.seek(pos)
        yield from _lines_until(fh, pos, end)


def _first_line_start(fh: BinaryIO, start: int):
    if start == 0:
        return 0
    fh.seek(start - 1)
    if fh.read(1) == b"\n":
        return start
    skipped = fh.readline()  # rest of the line that started before us
    if not skipped.endswith(b"\n"):
        return None  # that line runs to the end of the file
    return start + len(skipped)


def _lines_until(fh: BinaryIO, pos: int, end: int) -> Iterator[str]:
    """Yield lines starting at ``pos`` until one would start at or after ``end``."""
    tail = b""
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            if tail:
                yield _strip_cr(tail.decode("utf-8", "replace"))
            return
        block = tail + chunk if tail else chunk
        cut = block.rfind(b"\n")
        if cut < 0:
            tail = block
            continue
        # Lines in block[:cut] start at pos .. pos+cut; stop at the first one >= end.
        if pos + cut + 1 > end:
            stop = block.find(b"\n", max(0, end - 1 - pos))
            yield from _split(block[:stop])
            return
        yield from _split(block[:cut])
        tail = block[cut + 1:]
        pos += cut + 1
        if pos >= end:
            return


def _split(block: bytes) -> list:
    text = block.decode("utf-8", "replace")
    lines = text.split("\n")
    if "\r" in text:
        lines = [_strip_cr(line) for line in lines]
    return lines


def _strip_cr(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line
