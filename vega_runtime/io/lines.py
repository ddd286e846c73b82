"""Reading the lines of a byte range of a file, each line exactly once.

Lines end as Hadoop's ``LineRecordReader`` ends them: at ``\\n``, ``\\r\\n`` or a lone
``\\r``; a UTF-8 byte order mark at the start of a file is dropped.  A line belongs to the
segment that holds the line end before it (the first line, to the segment starting at 0),
as in Hadoop: segment ``[start, end)`` reads the lines starting in ``(start, end]``.  A
segment that does not start at 0 skips the line it starts inside (or at); every segment
reads past its end to finish its last line.  Bytes are read in large chunks and decoded in
bulk, which is what makes ``text_file`` fast.
"""

from __future__ import annotations

import codecs
import math
import re
from typing import BinaryIO, Iterator, List, Optional

from .bzip2 import BlockReader
from ..errors import InputError
from .files import input_errors, is_bzip2, open_input
from .hdfs import HdfsSettings

CHUNK = 1 << 22
#: The longest line read, in bytes (Hadoop's ``LineReader``: "Too many bytes before newline"
#: past ``Integer.MAX_VALUE``): a file with no line end in gigabytes (binary data, one JSON
#: document) fails its task once it holds this much of a line (give or take a ``CHUNK``),
#: instead of taking three times its size in memory (a 3 GiB one took 9 GiB before a
#: MemoryError), and a partition looking for its first line gives up after as many bytes
MAX_LINE_BYTES = (1 << 31) - 1
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark
_EOL_TEXT = re.compile("\r\n|\r|\n")
_EOL_BYTES = re.compile(b"\r\n|\r|\n")


def read_lines(path: str, start: int, end: int, splittable: bool = True,
               hdfs: Optional[HdfsSettings] = None,
               max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Lines (without ``\\n``, ``\\r\\n`` or ``\\r``) whose first byte lies in (start, end],
    or [0, end] for ``start`` 0, as Hadoop's ``LineRecordReader`` reads a split (of a
    ``.bz2`` file: see ``bzip2_lines``); an ``InputError`` for a line over ``max_line``
    bytes.  (One generator around ``_lines_until``: each more would cost every line.)"""
    if splittable and is_bzip2(path):
        yield from bzip2_lines(path, start, end, hdfs, max_line)
        return
    with input_errors(path), open_input(path, hdfs) as fh:
        if not splittable:
            start, end = 0, math.inf
        else:  # a line starting at byte ``start`` is the segment before's, one at ``end`` ours
            start, end = (start + 1 if start else 0), end + 1
        try:
            pos = _first_line_start(fh, start, max_line)
            if pos is None or pos >= end:
                return
            head = b""
            if pos == 0:  # read on (compressed streams cannot seek back)
                head = fh.read(len(BOM))
                if head == BOM:  # the first line still starts at 0: it is this segment's
                    head, pos = b"", len(BOM)
            else:
                fh.seek(pos)
            yield from _lines_until(fh, pos, end, head, max_line)
        except _LineTooLong as exc:
            raise _line_too_long(path, str(exc.pos), max_line) from None


class _LineTooLong(Exception):
    def __init__(self, pos: int):
        super().__init__(pos)
        self.pos = pos


def _line_too_long(path: str, where: str, max_line: int) -> InputError:
    """The error of a line at byte ``where`` of ``path``'s text longer than ``max_line``."""
    return InputError(path, f"the line at byte {where} runs on past {max_line} bytes without "
                            "a line end (the longest line text_file reads, as Hadoop's: \"Too "
                            "many bytes before newline\"): it is not text of lines; read it "
                            "with binary_files() or whole_text_files()")


def _first_line_start(fh: BinaryIO, start: int, max_line: int = MAX_LINE_BYTES):
    """The offset of the first line starting at or after ``start``, or None (no more);
    ``_LineTooLong`` when none does in ``max_line`` bytes (a partition of a file with no
    line end read it to its end: each of them, the time squared)."""
    if start == 0:
        return 0
    fh.seek(start - 1)
    pair = fh.read(2)
    before, at = pair[:1], pair[1:]
    if before == b"\n" or (before == b"\r" and at != b"\n"):
        return start
    pos, data = start, at
    while data:
        i = _first_line_end(data)
        if i < 0:
            pos += len(data)
            if pos - start > max_line:
                raise _LineTooLong(start)
            data = fh.read(1 << 16)
            continue
        if data[i:i + 1] == b"\r" and i + 1 == len(data):
            data += fh.read(1)  # is it \r\n?
        return pos + i + (2 if data[i:i + 2] == b"\r\n" else 1)
    return None  # the line started before us runs to the end of the file


def _first_line_end(data: bytes, start: int = 0) -> int:
    """The index of the first ``\\n`` or ``\\r`` in ``data`` from ``start``, or -1 (``find``
    is memchr: a regular expression scans a long line ten times slower)."""
    n, r = data.find(b"\n", start), data.find(b"\r", start)
    return n if r < 0 else r if n < 0 else min(n, r)


def _lines_until(fh: BinaryIO, pos: int, end: int, head: bytes = b"",
                 max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Yield lines starting at ``pos`` (``head`` holding bytes already read from there)
    until one would start at or after ``end``; ``_LineTooLong`` past ``max_line`` bytes
    without a line end."""
    tail = head
    pieces: List[bytes] = []  # chunks of a line that goes on, joined once it ends
    while True:
        chunk = fh.read(CHUNK)
        if chunk and b"\n" not in chunk and b"\r" not in chunk and not tail.endswith(b"\r"):
            if not pieces:  # the line goes on from the tail (the head may hold one before it)
                begins = max(tail.rfind(b"\n"), tail.rfind(b"\r")) + 1
                held = len(tail) - begins  # its bytes so far
            pieces.append(chunk)  # no line ends here: joining each time would be quadratic
            held += len(chunk)
            if held > max_line:
                raise _LineTooLong(pos + begins)
            continue
        if pieces:
            tail, pieces = b"".join([tail, *pieces]), []
        if chunk:
            block = tail + chunk if tail else chunk
            # A \r at the very end may be the first half of a \r\n: decide with the next chunk.
            ready = len(block) - 1 if block.endswith(b"\r") else len(block)
        elif not tail:
            return
        else:  # the end of the file ends the last line
            block = tail if tail.endswith((b"\n", b"\r")) else tail + b"\n"
            ready = len(block)
        cut = max(block.rfind(b"\n", 0, ready), block.rfind(b"\r", 0, ready)) + 1
        if cut == 0:
            tail = block
            continue
        # block[:cut] ends with a line end; its lines start at pos and after each line end.
        if pos + cut > end:
            at = _first_line_end(block, max(0, end - 1 - pos))  # the last line's end
            stop = at + (2 if block[at:at + 2] == b"\r\n" else 1)
            yield from _complete_lines(block[:stop])
            return
        yield from _complete_lines(block[:cut])
        tail = block[cut:]
        pos += cut
        if pos >= end or not chunk:
            return


def bzip2_lines(path: str, start: int, end: int, hdfs: Optional[HdfsSettings] = None,
                max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The lines of the ``.bz2`` blocks whose markers start in [start, end), as Hadoop's
    ``LineRecordReader`` gives a split of a BZip2Codec file: past the first range, the line
    holding the first byte of the range's first block is the range before's, and so is the
    line holding the first byte of the first block after the range.  A line over
    ``max_line`` bytes is an ``InputError``, as ``read_lines``'s (each block decompresses
    to at most 46 MB: the cap holds give or take one)."""
    with input_errors(path), open_input(path, hdfs, decompress=False) as raw:
        reader = BlockReader(raw, start, end)
        try:
            yield from _block_lines(reader.blocks(), start == 0, max_line)
        except _LineTooLong as exc:  # past the first range, bytes are counted from its block
            where = str(exc.pos) if start == 0 else \
                f"{exc.pos} of the text from the bzip2 block at byte {reader.first_block}"
            raise _line_too_long(path, where, max_line) from None


def _block_lines(blocks: Iterator, keep_first: bool,
                 max_line: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Lines of the ``(data, owned)`` blocks that start in the owned ones or at the first byte
    of the first block not owned; the first line (the end of one before) only if
    ``keep_first``; ``_LineTooLong`` for a line going on past ``max_line`` bytes from one
    block into the next (its offset in the blocks' text)."""
    pieces: List[bytes] = []  # since the last line end (a trailing \r stays: \r\n?)
    begins = 0  # the offset of pieces[0] in the blocks' text
    line_at, held = 0, 0  # the line going on: its offset, its bytes so far
    first = True
    for data, owned in blocks:
        if first and keep_first and data.startswith(BOM):
            data, begins, line_at = data[len(BOM):], len(BOM), len(BOM)
        first = False
        if not owned:
            yield from _last_lines(b"".join(pieces), data, blocks, keep_first,
                                   max_line, begins)
            return
        at = _first_line_end(data)
        if held + (len(data) if at < 0 else at) > max_line:
            raise _LineTooLong(line_at)
        if at < 0:
            pieces.append(data)
            held += len(data)
            continue
        block = b"".join([*pieces, data])
        ready = len(block) - 1 if block.endswith(b"\r") else len(block)
        cut = max(block.rfind(b"\n", 0, ready), block.rfind(b"\r", 0, ready)) + 1
        if cut:
            lines = _complete_lines(block[:cut])
            yield from lines if keep_first else lines[1:]
            keep_first, block, begins = True, block[cut:], begins + cut
        pieces = [block]
        # (a \r last ends the line it holds: the next starts after it)
        line_at, held = ((begins + len(block), 0) if block.endswith(b"\r")
                         else (begins, len(block)))
    block = b"".join(pieces)  # the end of the file ends the last line
    if keep_first and block:
        yield from _complete_lines(block if block.endswith(b"\r") else block + b"\n")


def _last_lines(head: bytes, data: bytes, blocks: Iterator, keep_first: bool,
                max_line: int = MAX_LINE_BYTES, offset: int = 0) -> Iterator[str]:
    """The lines of ``head + data + ...`` starting at or before ``len(head)`` (``head``: the
    bytes since the last line end, at ``offset`` in the blocks' text; the first line only if
    ``keep_first``); ``_LineTooLong`` if the line holding byte ``len(head)`` goes on past
    ``max_line`` bytes."""
    limit = len(head)
    text = head + data
    begins = limit if head.endswith(b"\r") else 0  # where that line starts
    if not _ends_line(text, limit):  # read on to the end of the line holding byte ``limit``
        pieces = [text]
        held = len(text) - begins
        for more, _ in blocks:
            pieces.append(more)
            held += len(more)
            if held > max_line:
                raise _LineTooLong(offset + begins)
            if b"\n" in more or b"\r" in more or pieces[-2].endswith(b"\r"):
                text = b"".join(pieces)  # (only then: a line of many blocks joins once)
                if _ends_line(text, limit):
                    break
        text = b"".join(pieces)
    at = _first_line_end(text, limit)
    if (len(text) if at < 0 else at) - begins > max_line:
        raise _LineTooLong(offset + begins)
    pos = 0
    for match in _EOL_BYTES.finditer(text):
        if pos > limit:
            return
        if keep_first:
            yield decode_text(text[pos:match.start()])
        keep_first, pos = True, match.end()
    if keep_first and pos <= limit and pos < len(text):
        yield decode_text(text[pos:])


def _ends_line(text: bytes, start: int) -> bool:
    """Whether ``text`` holds the end of the line holding byte ``start`` (a ``\\r`` at its
    very end may yet be the first half of a ``\\r\\n``)."""
    at = _first_line_end(text, start)
    return at >= 0 and (at + 1 < len(text) or text[at:at + 1] == b"\n")


def _complete_lines(block: bytes) -> List[str]:
    """The lines of ``block``, which ends with a line end."""
    lines = _split(block)
    lines.pop()
    return lines


def decode_text(data: bytes) -> str:
    """UTF-8 ``data`` as Hadoop's ``Text`` decodes it: what is not UTF-8 becomes U+FFFD, a
    UTF-16 surrogate encoded in three bytes (CESU-8, Java's modified UTF-8), or the first
    two of them, one U+FFFD, as Java's decoder counts them (Python's: one a byte).

    >>> decode_text(b"ok \\xff \\xed\\xa0\\x80 \\xe2\\x82").split()  # 1 + 1 + 1
    ['ok', '\\ufffd', '\\ufffd', '\\ufffd']
    """
    return data.decode("utf-8", _JAVA_REPLACE)


def _java_replacement(exc: UnicodeDecodeError):
    surrogate = _SURROGATE.match(exc.object, exc.start)  # Python: one U+FFFD a byte
    return "\ufffd", surrogate.end() if surrogate else exc.end


_JAVA_REPLACE = "vega.java-replace"
#: ED A0..BF [80..BF]: Java's decoder replaces it as one malformed sequence
_SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]?")
codecs.register_error(_JAVA_REPLACE, _java_replacement)


def _split(block: bytes) -> List[str]:
    """The lines of ``block``; a line end at the very end gives a last, empty, element."""
    text = decode_text(block)
    if "\r" in text:
        return _EOL_TEXT.split(text)
    return text.split("\n")
