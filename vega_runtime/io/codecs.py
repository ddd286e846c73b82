"""Hadoop's SnappyCodec and Lz4Codec: raw Snappy or LZ4 blocks in Hadoop's block framing.

Hadoop writes both through its ``BlockCompressorStream``: the data is cut into blocks, and
each block is ``int32 n`` (its uncompressed size, big-endian) followed by compressed chunks,
each ``int32 m`` and ``m`` bytes of one raw Snappy (or LZ4 block-format) buffer, until the
chunks give ``n`` bytes.  A file of no bytes is ``int32 0`` and no chunk.  What Hadoop
decompresses a chunk into is its codec's buffer (256 KiB by default,
``io.compression.codec.snappy.buffersize``/``lz4.buffersize``), so a chunk Vega writes holds
at most what Hadoop's compressor puts in one: the buffer less the codec's worst-case growth.

The same framing holds a ``.snappy``/``.lz4`` text file (Spark's ``part-00000.snappy``)
and each compressed buffer of a SequenceFile.  The raw codecs come from ``cramjam``,
imported only when such a file is read or written.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO, Callable, Dict, Tuple

_INT32 = struct.Struct(">I")
_BUFFER = 256 * 1024
#: the codecs in this framing: suffix -> (Hadoop's class, the largest chunk Vega writes)
BLOCK_CODECS: Dict[str, Tuple[str, int]] = {
    ".snappy": ("SnappyCodec", _BUFFER - (_BUFFER // 6 + 32)),
    ".lz4": ("Lz4Codec", _BUFFER - (_BUFFER // 255 + 16)),
}
#: the first 4 bytes of other formats of these codecs, which Hadoop does not read either
_OTHER_FORMATS = {b"\xff\x06\x00\x00": "Snappy's framing format (a stream starting "
                                     "'sNaPpY', as snzip and python-snappy write it)",
                  b"\x04\x22\x4d\x18": "an LZ4 frame (as the lz4 command writes it)"}
#: Hadoop's class -> suffix
BLOCK_SUFFIXES = {name: suffix for suffix, (name, _) in BLOCK_CODECS.items()}


class CodecError(ValueError):
    """Bytes that are not a codec's framing or data (made an ``InputError`` naming the file
    by the reader)."""


class MissingLibrary(CodecError):
    """The package that holds a codec is not installed."""


def _raw(suffix: str) -> Tuple[Callable[[bytes], bytes], Callable[[bytes, int], bytes]]:
    """The raw ``compress(data)`` and ``decompress(data, size)`` of a codec (``size``: the
    most it may give)."""
    try:
        import cramjam
    except ImportError:
        name = BLOCK_CODECS[suffix][0]
        raise MissingLibrary(f"Hadoop's {name} needs the Python package cramjam, which is "
                             "not installed: pip install cramjam") from None
    if suffix == ".snappy":  # (a raw Snappy buffer starts with its uncompressed length)
        return (lambda data: bytes(cramjam.snappy.compress_raw(data)),
                lambda data, size: bytes(cramjam.snappy.decompress_raw(data)))

    def lz4_decompress(data: bytes, size: int) -> bytes:
        # (decompress_block pads its output to output_len: a chunk may be less than ``size``)
        out = bytearray(min(size, len(data) * 255 + 64))  # LZ4's largest ratio is ~255
        return bytes(out[:cramjam.lz4.decompress_block_into(data, out)])

    return (lambda data: bytes(cramjam.lz4.compress_block(data, store_size=False)),
            lz4_decompress)


def require(suffix: str) -> None:
    """Raises ``MissingLibrary`` (on the driver, before a task runs) if the package a codec
    needs is not installed."""
    _raw(suffix)


def compress(suffix: str, data: bytes) -> bytes:
    """``data`` in Hadoop's block framing, as its codec's compressor stream writes it."""
    raw_compress = _raw(suffix)[0]
    step = BLOCK_CODECS[suffix][1]
    if not data:
        return _INT32.pack(0)
    parts = []
    for at in range(0, len(data), step):
        chunk = data[at:at + step]
        packed = raw_compress(chunk)
        parts.append(_INT32.pack(len(chunk)) + _INT32.pack(len(packed)) + packed)
    return b"".join(parts)


def decompress(suffix: str, data: bytes) -> bytes:
    """The bytes of a whole buffer in Hadoop's block framing (a SequenceFile's)."""
    return BlockReader(io.BytesIO(data), suffix).readall()


class BlockReader(io.RawIOBase):
    """The decompressed bytes of a stream in Hadoop's block framing, block by block; raises
    ``CodecError`` for a truncated or corrupt one."""

    def __init__(self, raw: BinaryIO, suffix: str):
        self.raw, self.suffix = raw, suffix
        self._decompress = _raw(suffix)[1]
        self._left = 0  # of the current block, still to come from its chunks
        self._data, self._at = b"", 0
        self._offset = 0  # in the compressed stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._at >= len(self._data):
            if not self._next_chunk():
                return 0
        size = min(len(buffer), len(self._data) - self._at)
        buffer[:size] = self._data[self._at:self._at + size]
        self._at += size
        return size

    def _next_chunk(self) -> bool:
        """Decompress the next chunk; False at the end of the stream."""
        while self._left == 0:
            head = self._read(4, at_end_ok=True)
            if not head:
                return False
            if self._offset == 4 and head in _OTHER_FORMATS:
                raise CodecError(f"it is {_OTHER_FORMATS[head]}, not Hadoop's "
                                 f"{BLOCK_CODECS[self.suffix][0]} (which Spark reads and "
                                 "writes): decompress it first, or rename it")
            self._left = _INT32.unpack(head)[0]
            if self._left > 1 << 30:
                raise CodecError(f"a block of {self._left} bytes at byte {self._offset - 4}: "
                                 f"not {BLOCK_CODECS[self.suffix][0]} data (corrupt?)")
        at = self._offset
        size = _INT32.unpack(self._read(4))[0]
        if size > 1 << 30:
            raise CodecError(f"a chunk of {size} bytes at byte {at}: not "
                             f"{BLOCK_CODECS[self.suffix][0]} data (corrupt?)")
        packed = self._read(size)
        try:
            data = self._decompress(packed, self._left)
        except Exception as exc:  # cramjam's DecompressionError, or a size it refuses
            raise CodecError(f"{BLOCK_CODECS[self.suffix][0]} data at byte {at} that does "
                             f"not decompress ({exc})") from None
        if not data or len(data) > self._left:
            raise CodecError(f"a chunk at byte {at} gives {len(data)} bytes where its block "
                             f"has {self._left} left (corrupt data)")
        self._left -= len(data)
        self._data, self._at = data, 0
        return True

    def _read(self, size: int, at_end_ok: bool = False) -> bytes:
        data = self.raw.read(size) if size else b""
        while 0 < len(data) < size:
            more = self.raw.read(size - len(data))
            if not more:
                break
            data += more
        if len(data) < size and not (at_end_ok and not data):
            raise CodecError(f"the {BLOCK_CODECS[self.suffix][0]} data ends at byte "
                             f"{self._offset + len(data)}, inside a block (truncated?)")
        self._offset += len(data)
        return data

    def close(self) -> None:
        self.raw.close()
        super().close()


class BlockWriter:
    """Writes Hadoop's block framing to ``out`` (a ``.snappy``/``.lz4`` text part file)."""

    def __init__(self, out: BinaryIO, suffix: str):
        self.out, self.suffix = out, suffix
        self._compress = _raw(suffix)[0]
        self._step = BLOCK_CODECS[suffix][1]
        self._pending = bytearray()
        self._wrote = False

    def __enter__(self) -> "BlockWriter":
        return self

    def write(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= self._step:
            self._flush(bytes(self._pending[:self._step]))
            del self._pending[:self._step]

    def _flush(self, chunk: bytes) -> None:
        packed = self._compress(chunk)
        self.out.write(_INT32.pack(len(chunk)) + _INT32.pack(len(packed)) + packed)
        self._wrote = True

    def __exit__(self, *exc) -> None:
        if self._pending or not self._wrote:
            if self._pending:
                self._flush(bytes(self._pending))
            else:
                self.out.write(_INT32.pack(0))
        self._pending = bytearray()
