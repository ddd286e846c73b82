"""Reading a ``.bz2`` file block by block from any byte offset, as Hadoop's BZip2Codec splits it.

A bzip2 stream is ``BZh`` and a level digit, then blocks, each starting with the 48-bit
magic ``0x314159265359`` and its CRC, then the 48-bit end-of-stream magic ``0x177245385090``
and the stream's CRC, padded to a byte.  Blocks are not byte-aligned: a marker may start at
any bit.  A file may hold several streams one after another (``cat a.bz2 b.bz2``).

A byte range of the file owns the blocks whose marker's first bit lies in it (the first
block of a file, in its first 5 bytes, belongs to the range starting at 0), as Hadoop's
BZip2Codec and LineRecordReader split it.  The standard library cannot start
decoding mid-stream, so each block, found by its marker, is re-framed as a stream of its
own: a ``BZh9`` header, the block's bits shifted to a byte boundary, the end-of-stream
magic and, as the stream's CRC, the block's own (a one-block stream's combined CRC is its
block's), which ``bz2.decompress`` decodes and checks.

A stream's combined CRC (after its end-of-stream magic: each block's CRC in turn, the total
rotated left by one bit before each) finds a block missing or repeated whose own CRC holds.
It is checked where a reader passes every block of the stream: from the start of the file
or from the end of the stream before (``whole_text_files``, and a ``text_file`` range holding
a whole stream); a range starting inside a stream cannot check it.
"""

from __future__ import annotations

import io
from typing import BinaryIO, Iterator, List, Optional, Tuple

from .codecs import CodecError

BLOCK_MAGIC = 0x314159265359
END_MAGIC = 0x177245385090
_HEADER = int.from_bytes(b"BZh9", "big")
_CHUNK = 1 << 20
#: the most compressed bits one block may take (900k bytes, every one costing < 21 bits)
_LONGEST_BLOCK = 900_000 * 21 + 4096 * 8


#: a block whose marker starts in the file's first bytes (after ``BZh9``, or ``h9``, or at 0)
#: is the first range's, wherever the next range starts (Hadoop's codec skips them)
_HEAD = 5


def _owner(bit: int) -> int:
    """The byte offset that decides which range owns the block whose marker starts at
    ``bit``: its first byte's, or 0 for a block in the file's first ``_HEAD`` bytes."""
    return bit // 8 if bit >= _HEAD * 8 else 0


class Bzip2Error(CodecError):
    """Bytes that are not bzip2 data, or end inside a block (the reader names the file)."""


def _patterns():
    """For each magic and bit shift 0-7 of its first bit in a byte: (the fully covered
    bytes, their index in the 7-byte window, the window's first and last bytes, masks)."""
    patterns = []
    for magic, is_block in ((BLOCK_MAGIC, True), (END_MAGIC, False)):
        for shift in range(8):
            window = (magic << (8 - shift)).to_bytes(7, "big")
            if shift == 0:
                patterns.append((window[:6], 0, 0, 0, 0, 0, shift, is_block))
            else:
                head_mask = (1 << (8 - shift)) - 1
                tail_mask = (0xFF << (8 - shift)) & 0xFF
                patterns.append((window[1:6], 1, window[0] & head_mask, head_mask,
                                 window[6] & tail_mask, tail_mask, shift, is_block))
    return patterns


_PATTERNS = _patterns()


def find_markers(data: bytes, begin: int = 0, final: bool = True) -> List[Tuple[int, bool]]:
    """``(bit offset, is_block)`` of every block and end-of-stream marker whose first bit lies
    in ``data[begin:]``, in order (``final`` false: only those whose 7-byte window is in
    ``data``, so a scan can go on from ``len(data) - 6`` with more bytes).

    >>> import bz2
    >>> stream = bz2.compress(b"x")
    >>> find_markers(stream)  # after 'BZh9'; the end after one block of 80-odd bits
    [(32, True), (...)]
    """
    found = []
    last = len(data) - (6 if final else 7)  # the last window's first byte
    for middle, inset, head, head_mask, tail, tail_mask, shift, is_block in _PATTERNS:
        j = data.find(middle, begin + inset)
        while j >= 0:
            i = j - inset
            if i > last:
                break
            if (not inset or ((data[i] & head_mask) == head
                              and i + 6 < len(data) and (data[i + 6] & tail_mask) == tail)):
                found.append((i * 8 + shift, is_block))
            j = data.find(middle, j + 1)
    found.sort()
    return found


def block_stream(data: bytes, first: int, last: int) -> bytes:
    """Bits ``[first, last)`` of ``data`` (one block, from its magic to the next marker) as a
    bzip2 stream of their own.

    >>> import bz2
    >>> stream = bz2.compress(b"hello")
    >>> (start, _), (end, _) = find_markers(stream)
    >>> bz2.decompress(block_stream(stream, start, end))
    b'hello'
    """
    count = last - first
    if count < 80:
        raise Bzip2Error(f"a block of {count} bits at byte {first // 8}: not bzip2 data "
                         "(corrupt?)")
    raw = data[first >> 3:(last + 7) >> 3]
    bits = int.from_bytes(raw, "big") >> (len(raw) * 8 - (first & 7) - count)
    bits &= (1 << count) - 1
    crc = (bits >> (count - 80)) & 0xFFFFFFFF
    value = ((((_HEADER << count) | bits) << 48 | END_MAGIC) << 32) | crc
    size = 32 + count + 80
    pad = -size % 8
    return (value << pad).to_bytes((size + pad) // 8, "big")


class BlockReader:
    """The blocks of a ``.bz2`` file from the first whose marker starts at or after byte
    ``start``: ``blocks()`` yields ``(decompressed bytes, owned)``, owned while the marker
    starts before byte ``end``, then the blocks after, until the caller stops."""

    def __init__(self, raw: BinaryIO, start: int, end: int):
        self.raw, self.start, self.end = raw, start, end
        self._base = start  # the file offset of self._data[0]
        self._data = b""
        self._markers: List[Tuple[int, bool]] = []  # found, not yet passed (absolute bits)
        self._scanned = 0  # the index in self._data the next scan starts at
        self._eof = False
        self._keep = start * 8  # the first bit still needed (the block being found)
        #: the byte the first block read starts in (once ``blocks()`` found it)
        self.first_block: Optional[int] = None

    def blocks(self) -> Iterator[Tuple[bytes, bool]]:
        if self.start == 0:
            self._check_header()
        self.raw.seek(self.start)
        # (a range starting inside the first 5 bytes looks from there, as Hadoop's codec)
        marker = self._next_marker(max(self.start, _HEAD) * 8 if self.start else 0)
        # the combined CRC of the stream so far, while every block of it has been passed
        combined = 0 if self.start == 0 else None
        stream_head = marker[0] if marker and self.start == 0 else -1
        while marker is not None:
            at, is_block = marker
            if not is_block:  # an end of stream: the next stream's blocks may follow
                if combined is not None or at == stream_head:
                    self._check_stream(at, combined or 0)
                # the next stream's first block: after the padding to a byte and 'BZh9'
                stream_head = (at + 80 + 7) // 8 * 8 + 32
                marker = self._next_marker(at + 48)
                combined = 0 if marker and marker[0] == stream_head else None
                continue
            self._keep = at
            if self.first_block is None:
                self.first_block = at // 8
            if combined is not None:
                crc = self._bits(at + 48, 32)
                combined = ((combined << 1 | combined >> 31) & 0xFFFFFFFF) ^ crc
            following = self._next_marker(at + 48)
            if following is None:
                raise Bzip2Error(f"the file ends inside the bzip2 block at byte {at // 8} "
                                 "(truncated?)")
            if _owner(at) < self.end:
                yield self._decompress(at, following[0]), True
            else:  # read on only as far as the caller's last line goes
                yield from ((piece, False) for piece in self._pieces(at, following[0]))
            marker = following

    def _bits(self, first: int, count: int) -> int:
        """Bits ``[first, first + count)`` of the file (at or after the block being found)."""
        while (first + count + 7) // 8 > self._base + len(self._data) and not self._eof:
            self._read_more()
        raw = self._data[first // 8 - self._base:(first + count + 7) // 8 - self._base]
        if len(raw) * 8 < (first & 7) + count:
            raise Bzip2Error(f"the file ends inside the bzip2 end-of-stream marker at byte "
                             f"{(first - 48) // 8} (truncated?)")
        value = int.from_bytes(raw, "big") >> (len(raw) * 8 - (first & 7) - count)
        return value & ((1 << count) - 1)

    def _check_stream(self, at: int, combined: int) -> None:
        """The stream ending at bit ``at`` holds the blocks its combined CRC was made of."""
        self._keep = at
        stored = self._bits(at + 48, 32)
        if stored != combined:
            raise Bzip2Error(f"the bzip2 stream ending at byte {at // 8} has the combined CRC "
                             f"{stored:#010x}, but its blocks make {combined:#010x}: a block is "
                             "missing or repeated, the file is corrupt")

    def _check_header(self) -> None:
        """A file starts ``BZh`` and a level or, as Hadoop's codec also reads them, ``h`` and
        a level (Hadoop's CBZip2OutputStream leaves the ``BZ`` to its caller) or a block."""
        self.raw.seek(0)
        head = self.raw.read(10)
        if head[:6] == BLOCK_MAGIC.to_bytes(6, "big"):
            return
        for offset in (3, 1):
            if (head[offset - 1:offset] == b"h" and head[:offset - 1] == b"BZ"[:offset - 1]
                    and b"1" <= head[offset:offset + 1] <= b"9"):
                return
        raise Bzip2Error(f"it starts with {head[:4]!r}, not a bzip2 header ('BZh' and a "
                         "level 1-9) nor a block: it is not bzip2 data, or it is corrupt")

    def _next_marker(self, after: int) -> Optional[Tuple[int, bool]]:
        """The first marker whose first bit is at or after bit ``after`` of the file."""
        while True:
            while self._markers and self._markers[0][0] < after:
                self._markers.pop(0)
            if self._markers:
                return self._markers[0]
            if self._eof:
                return None
            self._read_more()

    def _read_more(self) -> None:
        """Read the next chunk, dropping what lies before the block being found, and scan it."""
        drop = max(0, min(self._keep // 8 - self._base, self._scanned))
        if drop:
            self._data = self._data[drop:]
            self._base += drop
            self._scanned -= drop
        if len(self._data) > _LONGEST_BLOCK // 8 + _CHUNK:
            raise Bzip2Error(f"no bzip2 block marker in the {len(self._data)} bytes after "
                             f"byte {self._base}: not bzip2 data (corrupt?)")
        chunk = self.raw.read(_CHUNK)
        self._eof = not chunk
        self._data += chunk
        found = find_markers(self._data, self._scanned, final=self._eof)
        self._scanned = max(self._scanned, len(self._data) - 6)
        self._markers.extend((self._base * 8 + bit, is_block) for bit, is_block in found)

    def _decompress(self, first: int, last: int) -> bytes:
        import bz2  # (here: an executor that reads no .bz2 file does not load it)

        base = self._base * 8
        try:
            return bz2.decompress(block_stream(self._data, first - base, last - base))
        except (OSError, ValueError, EOFError) as exc:
            raise _corrupt(first, exc) from None

    def _pieces(self, first: int, last: int) -> Iterator[bytes]:
        """A block's bytes, 64 KiB then 1 MiB at a time: the first bytes of a block cost a
        fifth of the whole (most of bzip2's work is in giving its bytes)."""
        import bz2

        base = self._base * 8
        decompressor, size = bz2.BZ2Decompressor(), 1 << 16
        data = block_stream(self._data, first - base, last - base)
        while not decompressor.eof:
            try:
                piece = decompressor.decompress(data, max_length=size)
            except (OSError, ValueError, EOFError) as exc:
                raise _corrupt(first, exc) from None
            if not piece and decompressor.needs_input:
                raise _corrupt(first, "it ends early")
            data, size = b"", 1 << 20
            yield piece


def _corrupt(first: int, reason) -> Bzip2Error:
    return Bzip2Error(f"the bzip2 block at byte {first // 8} does not decompress ({reason}): "
                      "the file is corrupt")


class Bzip2Reader(io.RawIOBase):
    """The decompressed bytes of a whole ``.bz2`` file, block by block, in any of the forms
    Hadoop's codec reads (``whole_text_files``; PySpark's ``wholeTextFiles`` reads a file
    without its ``BZ``, or its header, too)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self._blocks = BlockReader(raw, 0, 1 << 62).blocks()
        self._data, self._at = b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._at >= len(self._data):
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._data, self._at = block[0], 0
        size = min(len(buffer), len(self._data) - self._at)
        buffer[:size] = self._data[self._at:self._at + size]
        self._at += size
        return size

    def close(self) -> None:
        self.raw.close()
        super().close()
