"""Hadoop SequenceFiles, read and written as PySpark's ``sequenceFile`` and
``saveAsSequenceFile`` do, without a JVM.

The format (Hadoop's ``SequenceFile``, version 6): ``SEQ``, the version byte, the key and
value class names, two flags (compressed, block-compressed), the codec's class name when
compressed, metadata (a count of Text pairs) and a 16-byte sync marker.  Records follow,
each ``int32 record length, int32 key length, key, value`` (the value compressed alone in
a record-compressed file); now and then a sync (``int32 -1`` and the marker) stands between
two records.  A block-compressed file holds blocks instead, each after a sync: a VInt
record count and four compressed buffers (key lengths, keys, value lengths, values).

A byte range of a file (a partition's share) owns the records that follow the syncs whose
``-1`` lies in it (the header counts as a sync at byte 0), as Hadoop's
``SequenceFileRecordReader`` reads its split: every record is read once, whatever the cuts.

Writables become Python values as PySpark's ``WritableToJavaConverter`` gives them: Text
``str``, Int/LongWritable ``int``, Double/FloatWritable ``float``, BooleanWritable ``bool``,
BytesWritable ``bytearray``, NullWritable ``None``, MapWritable ``dict``.  Written, Python
values become Writables as PySpark's ``JavaToWritableConverter`` makes them (an ``int`` of
32 bits an IntWritable, a larger one a LongWritable, a ``tuple`` an ArrayWritable).
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Optional, Tuple

from . import codecs
from .codecs import MissingLibrary


MAGIC = b"SEQ"
VERSION = 6
SYNC_ESCAPE = b"\xff\xff\xff\xff"
SYNC_SIZE = 16
#: Hadoop 3's: a sync at the first record boundary at least this many bytes after the last
SYNC_INTERVAL = 5 * 1024 * (4 + SYNC_SIZE)
#: ``io.seqfile.compress.blocksize``: a block is written once its records hold this much
BLOCK_SIZE = 1_000_000

_IO = "org.apache.hadoop.io."
TEXT, INT, LONG = _IO + "Text", _IO + "IntWritable", _IO + "LongWritable"
DOUBLE, FLOAT, BOOLEAN = _IO + "DoubleWritable", _IO + "FloatWritable", _IO + "BooleanWritable"
BYTES, NULL, MAP, ARRAY = (_IO + "BytesWritable", _IO + "NullWritable", _IO + "MapWritable",
                           _IO + "ArrayWritable")
#: the Writables Vega writes (those PySpark converts Python values to)
WRITABLE = frozenset({TEXT, INT, LONG, DOUBLE, BOOLEAN, BYTES, NULL, MAP, ARRAY})
_CODECS = "org.apache.hadoop.io.compress."
#: codecs Vega compresses and decompresses: DefaultCodec and DeflateCodec write zlib's
#: format, GzipCodec gzip's, BZip2Codec bzip2's, SnappyCodec and Lz4Codec Hadoop's block
#: framing of raw Snappy or LZ4 (``codecs``)
CODECS = {_CODECS + "DefaultCodec": "zlib", _CODECS + "DeflateCodec": "zlib",
          _CODECS + "GzipCodec": "gzip", _CODECS + "BZip2Codec": "bzip2",
          _CODECS + "SnappyCodec": ".snappy", _CODECS + "Lz4Codec": ".lz4"}
CODEC_NAMES = "DefaultCodec, DeflateCodec, GzipCodec, BZip2Codec, SnappyCodec or Lz4Codec"
#: AbstractMapWritable's ids of the classes every MapWritable knows without naming them
_MAP_IDS = {ARRAY: -127, BOOLEAN: -126, BYTES: -125, FLOAT: -124, INT: -123, LONG: -122,
            MAP: -121, NULL: -119, TEXT: -116}
_MAP_CLASSES = {i: name for name, i in _MAP_IDS.items()}
READABLE = "Text, IntWritable, LongWritable, DoubleWritable, FloatWritable, BooleanWritable, " \
           "BytesWritable, NullWritable and MapWritable"

_INT32, _INT64 = struct.Struct(">i"), struct.Struct(">q")
_DOUBLE, _FLOAT = struct.Struct(">d"), struct.Struct(">f")


class Corrupt(Exception):
    """Bytes that are not what the format says at ``offset`` (made an ``InputError``
    naming the file by the reader)."""

    def __init__(self, offset: int, reason: str):
        super().__init__(offset, reason)
        self.offset, self.reason = offset, reason

    def __str__(self) -> str:
        return f"{self.reason}, at byte {self.offset}"


# -- VInts and Writables ------------------------------------------------------------------

def read_vint(data, pos: int) -> Tuple[int, int]:
    """Hadoop's ``WritableUtils.readVLong`` at ``data[pos]``: the number and the next position.

    >>> read_vint(write_vint(300) + b"x", 0), read_vint(write_vint(-5000), 0)
    ((300, 3), (-5000, 3))
    """
    first = data[pos]
    first = first - 256 if first > 127 else first
    if first >= -112:
        return first, pos + 1
    negative = first < -120
    size = (-119 - first) if negative else (-111 - first)
    value = int.from_bytes(data[pos + 1:pos + size], "big")
    if len(data) < pos + size:
        raise IndexError("a VInt runs past the end of its data")
    return (~value if negative else value), pos + size


def write_vint(value: int) -> bytes:
    """Hadoop's ``WritableUtils.writeVLong``."""
    if -112 <= value <= 127:
        return bytes([value & 0xFF])
    marker = -112
    if value < 0:
        value, marker = ~value, -120
    size = (value.bit_length() + 7) // 8
    return bytes([(marker - size) & 0xFF]) + value.to_bytes(size, "big")


class Unconvertible(Exception):
    """A Writable class (read) or Python value (written) PySpark's converters do not take."""


def decode(cls: str, data, pos: int) -> Tuple[Any, int]:
    """The Python value of the Writable ``cls`` serialized at ``data[pos]``, and the
    position after it."""
    if cls == TEXT:
        size, pos = read_vint(data, pos)
        return _exact(data, pos, size).decode("utf-8", "replace"), pos + size
    if cls == INT:
        return _INT32.unpack_from(data, pos)[0], pos + 4
    if cls == LONG:
        return _INT64.unpack_from(data, pos)[0], pos + 8
    if cls == DOUBLE:
        return _DOUBLE.unpack_from(data, pos)[0], pos + 8
    if cls == FLOAT:
        return _FLOAT.unpack_from(data, pos)[0], pos + 4
    if cls == BOOLEAN:
        return _exact(data, pos, 1)[0] != 0, pos + 1
    if cls == BYTES:
        size = _INT32.unpack_from(data, pos)[0]
        return bytearray(_exact(data, pos + 4, size)), pos + 4 + size
    if cls == NULL:
        return None, pos
    if cls == MAP:
        return _decode_map(data, pos)
    if cls == ARRAY:
        raise Unconvertible(f"{cls}, whose elements' class a file does not record (PySpark "
                            "reads only subclasses of it, with a converter)")
    raise Unconvertible(f"a value of {cls}, which PySpark's sequenceFile does not convert "
                        f"to Python values (Vega reads {READABLE})")


def _exact(data, pos: int, size: int) -> bytes:
    if size < 0 or pos + size > len(data):
        raise IndexError("a value runs past the end of its record")
    return bytes(data[pos:pos + size])


def _decode_map(data, pos: int) -> Tuple[dict, int]:
    """A MapWritable: the classes it names (id, Java's modified UTF-8 name), then entries."""
    classes = dict(_MAP_CLASSES)
    count, pos = data[pos], pos + 1
    for _ in range(count):
        class_id = data[pos] - 256 if data[pos] > 127 else data[pos]
        size = int.from_bytes(_exact(data, pos + 1, 2), "big")
        classes[class_id] = _exact(data, pos + 3, size).decode("utf-8", "replace")
        pos += 3 + size
    entries, pos = _INT32.unpack_from(data, pos)[0], pos + 4
    result = {}
    for _ in range(entries):
        key, pos = decode(_map_class(classes, data[pos]), data, pos + 1)
        value, pos = decode(_map_class(classes, data[pos]), data, pos + 1)
        result[key] = value
    return result, pos


def _map_class(classes: Dict[int, str], byte: int) -> str:
    class_id = byte - 256 if byte > 127 else byte
    if class_id not in classes:
        raise ValueError(f"a MapWritable entry names class id {class_id}, which it never "
                         "defined")
    return classes[class_id]


def writable_class(value: Any) -> str:
    """The Writable PySpark makes of ``value`` (``JavaToWritableConverter``)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        if -(1 << 31) <= value < (1 << 31):
            return INT
        if -(1 << 63) <= value < (1 << 63):
            return LONG
        raise Unconvertible(f"an int of more than 64 bits ({value}) has no Writable")
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, str):
        return TEXT
    if isinstance(value, (bytes, bytearray)):
        return BYTES
    if isinstance(value, dict):
        return MAP
    if isinstance(value, tuple):
        return ARRAY
    raise Unconvertible(f"{_type_name(value)} has no Writable PySpark converts it to")


def encode(value: Any, cls: Optional[str] = None) -> bytes:
    """``value`` serialized as the Writable ``cls`` (by default the one it converts to)."""
    cls = cls or writable_class(value)
    if cls == TEXT:
        data = value.encode("utf-8", "replace")  # a lone surrogate: "?", as Java's Text
        return write_vint(len(data)) + data
    if cls == INT:
        return _INT32.pack(value)
    if cls == LONG:
        return _INT64.pack(value)
    if cls == DOUBLE:
        return _DOUBLE.pack(value)
    if cls == BOOLEAN:
        return b"\x01" if value else b"\x00"
    if cls == BYTES:
        return _INT32.pack(len(value)) + bytes(value)
    if cls == NULL:
        return b""
    if cls == ARRAY:  # ArrayWritable: a count, then each element without its class
        return _INT32.pack(len(value)) + b"".join(encode(v) for v in value)
    return _encode_map(value)


def _encode_map(value: dict) -> bytes:
    """A MapWritable; classes it has no id for (DoubleWritable) are named first."""
    new: List[str] = []
    body = [_INT32.pack(len(value))]
    for pair in value.items():
        for item in pair:
            cls = writable_class(item)
            if cls not in _MAP_IDS and cls not in new:
                new.append(cls)
            body.append(struct.pack(">b", _MAP_IDS.get(cls) or new.index(cls) + 1))
            body.append(encode(item, cls))
    head = [bytes([len(new)])]
    for i, cls in enumerate(new, 1):
        name = cls.encode("utf-8")
        head.append(bytes([i]) + struct.pack(">H", len(name)) + name)
    return b"".join(head + body)


# -- codecs ---------------------------------------------------------------------------------

def inflate(data: bytes) -> bytes:
    """A DefaultCodec (zlib) or GzipCodec (gzip) buffer's bytes, several streams after one
    another included."""
    out = []
    while data:
        stream = zlib.decompressobj(47)  # 32 + 15: a zlib or a gzip header
        out.append(stream.decompress(data))
        if not stream.eof:
            raise zlib.error("the compressed data ends before its stream does")
        data = stream.unused_data
    return b"".join(out)


def decompressor(codec: str) -> Callable[[bytes], bytes]:
    """A codec's ``decompress(buffer)``; it raises ``ValueError``, ``OSError``, ``EOFError``
    or ``zlib.error`` for data that does not decompress."""
    kind = CODECS[codec]
    if kind == "bzip2":
        return _bunzip2
    if kind.startswith("."):
        return lambda data: codecs.decompress(kind, data)
    return inflate


def _bunzip2(data: bytes) -> bytes:
    """A BZip2Codec buffer: one bzip2 stream or more; Hadoop's reader also takes a stream
    without its ``BZ`` magic (its ``CBZip2OutputStream`` leaves writing it to its caller)."""
    import bz2

    if data[:1] == b"h" and data[:2] != b"BZ":
        data = b"BZ" + data
    return bz2.decompress(data) if data else b""


def compressor(codec: str) -> Callable[[bytes], bytes]:
    kind = CODECS[codec]
    if kind == "gzip":
        import gzip

        return lambda data: gzip.compress(data, mtime=0)
    if kind == "bzip2":
        import bz2

        return bz2.compress
    if kind.startswith("."):
        return lambda data: codecs.compress(kind, data)
    return zlib.compress


def codec_class(name: str) -> str:
    """A codec as ``saveAsSequenceFile`` takes it: a class name Vega has."""
    if name in CODECS:
        if CODECS[name].startswith("."):
            codecs.require(CODECS[name])  # on the driver, before a task runs
        return name
    raise ValueError(f"unsupported compression codec {name!r} for a SequenceFile: use "
                     f"'{_CODECS}' followed by {CODEC_NAMES}")


# -- reading --------------------------------------------------------------------------------

class Header:
    """What a SequenceFile's header says."""

    def __init__(self, key_class: str, value_class: str, codec: Optional[str], block: bool,
                 metadata: Dict[str, str], sync: bytes, end: int):
        self.key_class, self.value_class = key_class, value_class
        self.codec, self.block, self.metadata = codec, block, metadata
        self.sync, self.end = sync, end
        self.decompress = decompressor(codec) if codec else None


class _Stream:
    """A file read from a position, counting bytes, failing on a short read."""

    def __init__(self, fh: BinaryIO, pos: int):
        self.fh, self.pos = fh, pos

    def read(self, size: int, what: str) -> bytes:
        data = self.fh.read(size) if size else b""
        if len(data) < size:
            raise Corrupt(self.pos, f"the file ends inside {what} (truncated?)")
        self.pos += size
        return data

    def read_int(self, what: str) -> int:
        return _INT32.unpack(self.read(4, what))[0]

    def read_vint(self, what: str) -> int:
        first = self.read(1, what)
        byte = first[0] - 256 if first[0] > 127 else first[0]
        size = 1 if byte >= -112 else (-119 - byte) if byte < -120 else (-111 - byte)
        return read_vint(first + self.read(size - 1, what), 0)[0]

    def read_text(self, what: str) -> str:
        size = self.read_vint(what)
        if size < 0:
            raise Corrupt(self.pos, f"{what} has a negative length")
        return self.read(size, what).decode("utf-8", "replace")


def read_header(fh: BinaryIO) -> Header:
    """The header at the start of ``fh``; raises ``Corrupt`` for what is not a version-6
    SequenceFile, ``Unconvertible`` for classes or codecs Vega has not."""
    stream = _Stream(fh, 0)
    magic = stream.read(3, "the header")
    if magic != MAGIC:
        raise Corrupt(0, f"not a SequenceFile: it starts with {magic!r}, not b'SEQ'")
    version = stream.read(1, "the header")[0]
    if version != VERSION:
        raise Corrupt(3, f"a SequenceFile of version {version}; Vega reads version {VERSION} "
                         "(what Hadoop 0.20 and later write)")
    key_class = stream.read_text("the key class name")
    value_class = stream.read_text("the value class name")
    compressed, block = (flag != 0 for flag in stream.read(2, "the compression flags"))
    codec = stream.read_text("the codec class name") if compressed else None
    if codec is not None and codec not in CODECS:
        raise Unconvertible(f"it is compressed with Hadoop's {codec}, which Vega cannot "
                            f"decompress: write it with {CODEC_NAMES} (or uncompressed)")
    metadata = {}
    for _ in range(stream.read_int("the metadata")):
        name = stream.read_text("the metadata")
        metadata[name] = stream.read_text("the metadata")
    sync = stream.read(SYNC_SIZE, "the sync marker")
    for cls in (key_class, value_class):
        if cls not in _READABLE_CLASSES:
            which = "keys" if cls == key_class else "values"
            raise Unconvertible(f"its {which} are {cls}, which PySpark's sequenceFile does not "
                                f"convert to Python values (Vega reads {READABLE})")
    return Header(key_class, value_class, codec, block, metadata, sync, stream.pos)


_READABLE_CLASSES = {TEXT, INT, LONG, DOUBLE, FLOAT, BOOLEAN, BYTES, NULL, MAP}


def read_records(fh: BinaryIO, start: int, end: int) -> Iterator[Tuple[Any, Any]]:
    """The ``(key, value)`` records of bytes ``start`` to ``end`` of a SequenceFile open in
    ``fh`` (seekable): those after the syncs that start in that range (the header's for the
    range holding byte 0).  Raises ``Corrupt`` (with the offset) and ``Unconvertible``."""
    header = read_header(fh)
    if start > 0:
        start = _next_sync(fh, max(start, header.end), end, header.sync)
        if start is None:
            return
    else:
        start = header.end
    fh.seek(start)
    stream = _Stream(fh, start)
    if header.block:
        yield from _blocks(stream, header, end)
    else:
        yield from _records(stream, header, end)


def _next_sync(fh: BinaryIO, start: int, end: int, sync: bytes) -> Optional[int]:
    """Where the first sync (its ``-1``) at or after ``start`` begins, if before ``end``."""
    marker = SYNC_ESCAPE + sync
    fh.seek(start)
    pos, data = start, b""
    while pos + len(data) < end + len(marker):
        chunk = fh.read(1 << 16)
        if not chunk:
            return None
        data += chunk
        found = data.find(marker)
        if found >= 0:
            return pos + found if pos + found < end else None
        keep = len(marker) - 1
        pos, data = pos + len(data) - keep, data[-keep:]
    return None


def _records(stream: _Stream, header: Header, end: int) -> Iterator[Tuple[Any, Any]]:
    """Records of an uncompressed or record-compressed file, up to the first sync at or
    after ``end``."""
    record_compressed = header.codec is not None
    while True:
        at = stream.pos
        head = stream.fh.read(4)
        if not head:
            return
        if len(head) < 4:
            raise Corrupt(at, "the file ends inside a record's length (truncated?)")
        stream.pos += 4
        length = _INT32.unpack(head)[0]
        if length == -1:
            _check_sync(stream, header)
            if at >= end:
                return
            continue
        key_length = stream.read_int("a record")
        if length < 0 or not 0 <= key_length <= length:
            raise Corrupt(at, f"a record of {length} bytes with a key of {key_length}")
        data = stream.read(length, "a record")
        value = data[key_length:]
        if record_compressed:
            value = _inflated(header, value, at)
        yield _pair(header, data[:key_length], value, at)


def _blocks(stream: _Stream, header: Header, end: int) -> Iterator[Tuple[Any, Any]]:
    """Records of a block-compressed file, block by block, up to the first block whose sync
    is at or after ``end``."""
    while True:
        at = stream.pos
        head = stream.fh.read(4)
        if not head:
            return
        stream.pos += 4
        if head != SYNC_ESCAPE:
            raise Corrupt(at, "a block does not start with a sync")
        _check_sync(stream, header)
        if at >= end:
            return
        count = stream.read_vint("a block")
        buffers = []
        for _ in range(4):  # key lengths, keys, value lengths, values
            size = stream.read_vint("a block")
            if size < 0:
                raise Corrupt(stream.pos, "a block's buffer has a negative length")
            buffers.append(_inflated(header, stream.read(size, "a block"), at))
        key_lengths, keys, value_lengths, values = buffers
        key_at = value_at = key_length_at = value_length_at = 0
        try:
            for _ in range(count):
                size, key_length_at = read_vint(key_lengths, key_length_at)
                key = keys[key_at:key_at + size]
                key_at += size
                size, value_length_at = read_vint(value_lengths, value_length_at)
                value = values[value_at:value_at + size]
                value_at += size
                yield _pair(header, key, value, at)
        except IndexError:
            raise Corrupt(at, "a block holds fewer records than it says") from None


def _check_sync(stream: _Stream, header: Header) -> None:
    at = stream.pos - 4
    if stream.read(SYNC_SIZE, "a sync marker") != header.sync:
        raise Corrupt(at, "a sync marker that is not the header's (corrupt data)")


def _inflated(header: Header, data: bytes, at: int) -> bytes:
    try:
        return header.decompress(data)
    except MissingLibrary as exc:
        raise Unconvertible(str(exc)) from None
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        raise Corrupt(at, f"compressed data that does not decompress ({exc})") from None


def _pair(header: Header, key: bytes, value: bytes, at: int) -> Tuple[Any, Any]:
    try:
        key_value, end = decode(header.key_class, key, 0)
        value_value, value_end = decode(header.value_class, value, 0)
    except (IndexError, struct.error, ValueError, UnicodeError) as exc:
        raise Corrupt(at, f"a record whose bytes are not its classes' ({exc})") from None
    if end != len(key) or value_end != len(value):
        raise Corrupt(at, "a record whose bytes are not its classes' (bytes left over)")
    return key_value, value_value


# -- writing --------------------------------------------------------------------------------

class Writer:
    """Writes a SequenceFile of ``key_class`` keys and ``value_class`` values to ``out``:
    uncompressed, or with ``codec`` block-compressed (as Spark's ``saveAsSequenceFile``)
    or, ``block=False``, record-compressed."""

    def __init__(self, out: BinaryIO, key_class: str, value_class: str,
                 codec: Optional[str] = None, block: bool = True,
                 sync_interval: int = SYNC_INTERVAL, block_size: int = BLOCK_SIZE):
        self.out, self.key_class, self.value_class = out, key_class, value_class
        self.codec, self.block = codec, bool(codec) and block
        self.compress = compressor(codec) if codec else None
        self.sync_interval, self.block_size = sync_interval, block_size
        self.sync = os.urandom(SYNC_SIZE)
        self.pos = self.last_sync = 0
        self._keys: List[bytes] = []
        self._values: List[bytes] = []
        self._buffered = 0
        header = [MAGIC, bytes([VERSION]), _text(key_class), _text(value_class),
                  bytes([bool(codec), self.block])]
        if codec:
            header.append(_text(codec))
        self._write(b"".join(header) + _INT32.pack(0) + self.sync)

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.pos += len(data)

    def _sync(self) -> None:
        if self.last_sync != self.pos:
            self._write(SYNC_ESCAPE + self.sync)
            self.last_sync = self.pos

    def append(self, key: bytes, value: bytes) -> None:
        """One record: the key's and the value's serialized Writables."""
        if self.block:
            self._keys.append(key)
            self._values.append(value)
            self._buffered += len(key) + len(value)
            if self._buffered >= self.block_size:
                self._write_block()
            return
        if self.pos >= self.last_sync + self.sync_interval:
            self._sync()
        if self.compress:
            value = self.compress(value)
        self._write(_INT32.pack(len(key) + len(value)) + _INT32.pack(len(key)) + key + value)

    def _write_block(self) -> None:
        if not self._keys:
            return
        self._sync()
        parts = [write_vint(len(self._keys))]
        for buffer in (b"".join(write_vint(len(k)) for k in self._keys), b"".join(self._keys),
                       b"".join(write_vint(len(v)) for v in self._values),
                       b"".join(self._values)):
            compressed = self.compress(buffer)
            parts.append(write_vint(len(compressed)) + compressed)
        self._write(b"".join(parts))
        self._keys, self._values, self._buffered = [], [], 0

    def close(self) -> None:
        """Writes the last block (the file stays open: its owner closes it)."""
        if self.block:
            self._write_block()


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    return write_vint(len(data)) + data


# -- saving an RDD --------------------------------------------------------------------------

def record_classes(record: Any) -> Tuple[str, str]:
    """The key and value classes of a saved RDD's files: its first record's, as PySpark
    decides them (``TypeError`` for a record that is not a pair or has no Writable)."""
    key, value = _pair_of(record)
    return _class_of(key, "key"), _class_of(value, "value")


def _pair_of(record: Any) -> Tuple[Any, Any]:
    if not (isinstance(record, tuple) and len(record) == 2):
        raise TypeError(f"saveAsSequenceFile saves (key, value) tuples; a record is "
                        f"{_type_name(record)}: {_shown(record)}")
    return record


def _class_of(item: Any, which: str) -> str:
    try:
        return writable_class(item)
    except Unconvertible as exc:
        raise TypeError(f"saveAsSequenceFile cannot save a {which} {_shown(item)}: {exc} "
                        "(PySpark converts None, bool, int, float, str, bytes, bytearray, "
                        "dict and tuple); convert it before saving (to a str, say)") from None


def _type_name(value: Any) -> str:
    """``an int``, ``a list``, ``a numpy.int64``."""
    cls = type(value)
    return _article(cls.__qualname__ if cls.__module__ == "builtins" else
                    f"{cls.__module__}.{cls.__qualname__}")


def _article(name: str) -> str:
    return ("an " if name[0].lower() in "aeiou" else "a ") + name


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def part_writer(key_class: str, value_class: str, codec: Optional[str],
                block: bool = True, method: str = "saveAsSequenceFile",
                given: Tuple[str, ...] = ()) -> tuple:
    """``save_partitions``' writer of ``(key, value)`` records as one SequenceFile a part
    (with ``codec``, compressed by blocks, else by records), and its (empty) suffix:
    Spark's parts are ``part-NNNNN`` whatever the codec.  Errors name ``method``, and
    the classes ``given`` (``"key"``, ``"value"``) as the caller's, not the first record's."""

    def write(records: Iterator[Any], out: BinaryIO) -> None:
        writer = Writer(out, key_class, value_class, codec, block)
        for number, record in enumerate(records):
            key, value = _pair_of(record)
            writer.append(_encoded(key, key_class, "key", number, method, given),
                          _encoded(value, value_class, "value", number, method, given))
        writer.close()

    return write, ""


def _encoded(item: Any, cls: str, which: str, number: int, method: str,
             given: Tuple[str, ...]) -> bytes:
    found = _class_of(item, which)
    if found != cls:
        source = (f"the {which}Class given: give {which}s of that type, or leave "
                  f"{which}Class out (the first record's is then taken)" if which in given else
                  f"the class of the RDD's first {which} (as PySpark decides it): give every "
                  f"{which} one type")
        raise TypeError(f"{method}: record {number} of this partition has a {which} "
                        f"{_shown(item)} ({type(item).__name__}), {_article(_short(found))}, "
                        f"but the files' {which}s are {_short(cls)}s, {source} (an int of "
                        "more than 32 bits is a LongWritable)")
    try:
        return encode(item, cls)
    except Unconvertible as exc:  # inside a dict or tuple
        raise TypeError(f"{method} cannot save a {which} {_shown(item)}: {exc}") from None


def _short(cls: str) -> str:
    return cls.rsplit(".", 1)[-1]
