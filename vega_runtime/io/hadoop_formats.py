"""PySpark's Hadoop file API (``saveAsHadoopFile``, ``hadoopFile`` and their kin) for the
formats that need no JVM: text and SequenceFiles, in Hadoop's old (``mapred``) and new
(``mapreduce``) APIs.

Pure decisions and formats, no I/O of their own: which format a class name and a job
``conf`` ask for (``output_plan``, ``input_plan``), the lines ``TextOutputFormat`` writes
(``text_line``), the splits ``FileInputFormat`` makes (``hadoop_splits``) and the
``(byte offset, line)`` records ``TextInputFormat``'s reader gives (``offset_lines``).
"""

from __future__ import annotations

import io  # noqa: F401 - the doctests'
import math
import re
from decimal import Decimal
from typing import Any, BinaryIO, Dict, Iterator, List, Optional, Sequence, Tuple

from ..records import FrozenRecord
from . import sequence_file
from .files import InputFile, is_compressed
from . import splits
from .splits import FileSegment

_MAPRED = "org.apache.hadoop.mapred."
_OUT = "org.apache.hadoop.mapreduce.lib.output."
_IN = "org.apache.hadoop.mapreduce.lib.input."

#: output format class -> (what it writes, whether it is of the new API)
OUTPUT_FORMATS = {_MAPRED + "TextOutputFormat": ("text", False),
                  _MAPRED + "SequenceFileOutputFormat": ("sequence", False),
                  _OUT + "TextOutputFormat": ("text", True),
                  _OUT + "SequenceFileOutputFormat": ("sequence", True)}
#: input format class -> (what it reads, whether it is of the new API)
INPUT_FORMATS = {_MAPRED + "TextInputFormat": ("text", False),
                 _MAPRED + "KeyValueTextInputFormat": ("key_value", False),
                 _MAPRED + "SequenceFileInputFormat": ("sequence", False),
                 _IN + "TextInputFormat": ("text", True),
                 _IN + "KeyValueTextInputFormat": ("key_value", True),
                 _IN + "SequenceFileInputFormat": ("sequence", True)}

#: Hadoop's keys of the job settings read here, each with its deprecated spelling
OUTPUT_DIR = ("mapreduce.output.fileoutputformat.outputdir", "mapred.output.dir")
INPUT_DIR = ("mapreduce.input.fileinputformat.inputdir", "mapred.input.dir")
OLD_OUTPUT_FORMAT = ("mapred.output.format.class",)
NEW_OUTPUT_FORMAT = ("mapreduce.job.outputformat.class",)
KEY_CLASS = ("mapreduce.job.output.key.class", "mapred.output.key.class")
VALUE_CLASS = ("mapreduce.job.output.value.class", "mapred.output.value.class")
COMPRESS = ("mapreduce.output.fileoutputformat.compress", "mapred.output.compress")
CODEC = ("mapreduce.output.fileoutputformat.compress.codec", "mapred.output.compression.codec")
COMPRESSION_TYPE = ("mapreduce.output.fileoutputformat.compress.type",
                    "mapred.output.compression.type")
TEXT_SEPARATOR = ("mapreduce.output.textoutputformat.separator",
                  "mapred.textoutputformat.separator")
KEY_VALUE_SEPARATOR = ("mapreduce.input.keyvaluelinerecordreader.key.value.separator",
                       "key.value.separator.in.input.line")
MIN_SPLIT_SIZE = ("mapreduce.input.fileinputformat.split.minsize", "mapred.min.split.size")
MAX_SPLIT_SIZE = ("mapreduce.input.fileinputformat.split.maxsize", "mapred.max.split.size")

DEFAULT_CODEC = "org.apache.hadoop.io.compress.DefaultCodec"


class OutputPlan(FrozenRecord):
    """What a save writes: ``kind`` ("text" or "sequence"), where, the part files' prefix
    (``part-`` in the old API, ``part-r-`` in the new), the key and value classes (None:
    the first record's), the codec (a Hadoop class, or None), whether a SequenceFile is
    compressed by blocks (else by records), and TextOutputFormat's separator."""
    kind: str
    path: str
    prefix: str
    key_class: Optional[str]
    value_class: Optional[str]
    codec: Optional[str]
    block: bool
    separator: bytes

    def __init__(self, kind, path, prefix, key_class, value_class, codec, block, separator):
        for name, value in zip(self.__annotations__, (kind, path, prefix, key_class,
                                                      value_class, codec, block, separator)):
            object.__setattr__(self, name, value)


class InputPlan(FrozenRecord):
    """What a read gives: ``kind`` ("text", "key_value" or "sequence"), from where, in
    the new API or the old, KeyValueTextInputFormat's separator, and the split sizes."""
    kind: str
    path: str
    new_api: bool
    separator: bytes
    min_size: int
    max_size: int

    def __init__(self, kind, path, new_api, separator, min_size, max_size):
        for name, value in zip(self.__annotations__, (kind, path, new_api, separator,
                                                      min_size, max_size)):
            object.__setattr__(self, name, value)


def setting(conf: Optional[Dict[str, Any]], keys: Sequence[str], default: Any = None) -> Any:
    """The first of ``keys`` (a setting's name and its deprecated spellings) ``conf`` has."""
    for key in keys:
        if conf and conf.get(key) is not None:
            return conf[key]
    return default


def _flag(conf: Optional[Dict[str, Any]], keys: Sequence[str]) -> bool:
    """Hadoop's ``getBoolean``: "true" in any case (or True); anything else is false."""
    value = setting(conf, keys, False)
    return value is True or str(value).strip().lower() == "true"


def refuse_converters(method: str, key_converter: Any, value_converter: Any) -> None:
    """Converters are Java classes run in Spark's JVM: refused, saying what to do instead."""
    for name, value in (("keyConverter", key_converter), ("valueConverter", value_converter)):
        if value is not None:
            raise ValueError(f"{method}: {name}={value!r} names a Java class that converts "
                             "records in Spark's JVM, and Vega has no JVM: leave it out and "
                             "convert the records with .map()")


def _class_name(method: str, name: str, value: Any) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{method}: {name} is a Java class name (a str such as "
                        f"'org.apache.hadoop.io.Text'), not {type(value).__name__}")
    return value


#: the classes of Hadoop's ``org.apache.hadoop.io`` package a key or value class may be
#: (Writables and their interfaces): another name there is none of Hadoop's
HADOOP_IO_CLASSES = frozenset({
    "AbstractMapWritable", "ArrayPrimitiveWritable", "ArrayWritable", "BinaryComparable",
    "BooleanWritable", "ByteWritable", "BytesWritable", "CompressedWritable",
    "DoubleWritable", "EnumSetWritable", "FloatWritable", "GenericWritable", "IntWritable",
    "LongWritable", "MD5Hash", "MapWritable", "NullWritable", "ObjectWritable",
    "ShortWritable", "SortedMapWritable", "Text", "TwoDArrayWritable", "UTF8",
    "VIntWritable", "VLongWritable", "VersionedWritable", "Writable", "WritableComparable"})
_HADOOP_IO = "org.apache.hadoop.io."


def record_class(method: str, name: str, value: Any) -> Optional[str]:
    """A key or value class an input method is given: a Java class name, which, in Hadoop's
    ``org.apache.hadoop.io``, is one of its classes.  PySpark's JVM loads the class when the
    method is called and fails then (``ClassNotFoundException``); Vega reads the file's own
    classes, so the name is only checked.

    >>> record_class("sequenceFile", "keyClass", "org.apache.hadoop.io.IntWritable")
    'org.apache.hadoop.io.IntWritable'
    >>> record_class("sequenceFile", "keyClass", "org.apache.hadoop.io.IntWriteable")
    Traceback (most recent call last):
    ...
    ValueError: sequenceFile: keyClass 'org.apache.hadoop.io.IntWriteable' is no class of Hadoop's org.apache.hadoop.io (PySpark fails to load it): give the file's Writable, e.g. org.apache.hadoop.io.IntWritable (Vega reads Text, IntWritable, LongWritable, DoubleWritable, FloatWritable, BooleanWritable, BytesWritable, NullWritable and MapWritable), or None
    """
    _class_name(method, name, value)
    if value is not None and value.startswith(_HADOOP_IO) \
            and value[len(_HADOOP_IO):] not in HADOOP_IO_CLASSES:
        raise ValueError(f"{method}: {name} {value!r} is no class of Hadoop's "
                         f"org.apache.hadoop.io (PySpark fails to load it): give the file's "
                         f"Writable, e.g. {sequence_file.INT} (Vega reads "
                         f"{sequence_file.READABLE}), or None")
    return value


def _format(method: str, table: Dict[str, Tuple[str, bool]], name: str, value: Any,
            new_api: bool) -> str:
    _class_name(method, name, value)
    kind, its_new_api = table.get(value, (None, None))
    if kind is None or its_new_api != new_api:
        ours = sorted(cls for cls, (_, new) in table.items() if new == new_api)
        api = "the new (mapreduce)" if new_api else "the old (mapred)"
        other = (f" ({value} is of the other API: use {_twin(method)})"
                 if kind is not None else "")
        raise ValueError(f"{method}: {name} {value!r} is not a format Vega reads or writes "
                         f"without a JVM{other}; {method} takes {api} API's "
                         f"{', '.join(ours)}")
    return kind


def _twin(method: str) -> str:
    """The same method of the other API.

    >>> [_twin(m) for m in ("saveAsHadoopFile", "newAPIHadoopRDD", "hadoopFile")]
    ['saveAsNewAPIHadoopFile', 'hadoopRDD', 'newAPIHadoopFile']
    """
    if "ewAPIHadoop" in method:
        return method.replace("NewAPIHadoop", "Hadoop").replace("newAPIHadoop", "hadoop")
    return method.replace("Hadoop", "NewAPIHadoop").replace("hadoop", "newAPIHadoop")


def output_plan(method: str, path: Any, format_class: Any, key_class: Any, value_class: Any,
                conf: Optional[Dict[str, Any]], codec: Any, new_api: bool) -> OutputPlan:
    """The output ``saveAsHadoopFile`` (``new_api=False``) or ``saveAsNewAPIHadoopFile``
    asks for.  A ``codec`` given compresses by blocks, as Spark sets it; one in ``conf``
    (``mapreduce.output.fileoutputformat.compress``) by its compression type there
    (Hadoop's default: RECORD).

    >>> plan = output_plan("saveAsHadoopFile", "/out", "org.apache.hadoop.mapred."
    ...                    "TextOutputFormat", None, None, None, None, False)
    >>> plan.kind, plan.prefix, plan.codec, plan.separator
    ('text', 'part-', None, b'\\t')
    """
    kind = _format(method, OUTPUT_FORMATS, "outputFormatClass", format_class, new_api)
    if not isinstance(path, str):
        raise TypeError(f"{method}: path is the directory to write (a str), not "
                        f"{type(path).__name__}")
    key_class = _class_name(method, "keyClass", key_class)
    value_class = _class_name(method, "valueClass", value_class)
    block = False
    if codec is not None:
        codec, block = _class_name(method, "compressionCodecClass", codec), True
    elif _flag(conf, COMPRESS):
        codec = setting(conf, CODEC, DEFAULT_CODEC)
        kind_of_compression = str(setting(conf, COMPRESSION_TYPE, "RECORD")).strip().upper()
        block = kind_of_compression == "BLOCK"
        if kind == "sequence" and kind_of_compression == "NONE":
            codec = None  # (a SequenceFile's NONE: not compressed, whatever the codec)
    if kind == "sequence" and codec is not None:
        codec = sequence_file.codec_class(codec)
    separator = str(setting(conf, TEXT_SEPARATOR, "\t")).encode("utf-8")
    for which, cls in (("keyClass", key_class), ("valueClass", value_class)):
        if kind == "sequence" and cls is not None and cls not in sequence_file.WRITABLE:
            raise ValueError(f"{method}: {which} {cls!r} is not a Writable Vega writes: "
                             f"give one of {', '.join(sorted(sequence_file.WRITABLE))}, "
                             "or None (the first record's)")
    return OutputPlan(kind, path, "part-r-" if new_api else "part-", key_class, value_class,
                      codec, block, separator)


def dataset_plan(method: str, conf: Any, new_api: bool) -> OutputPlan:
    """The output ``saveAsHadoopDataset`` (``new_api=False``) or
    ``saveAsNewAPIHadoopDataset`` asks for: all of it in the job ``conf``, whose format
    is Hadoop's default, TextOutputFormat, unless named, and whose key and value classes
    are LongWritable and Text unless named (they matter to SequenceFiles only)."""
    if not isinstance(conf, dict):
        raise TypeError(f"{method}: conf is the Hadoop job configuration, a dict of str "
                        f"(its output directory, format and classes), not "
                        f"{type(conf).__name__}")
    format_keys = NEW_OUTPUT_FORMAT if new_api else OLD_OUTPUT_FORMAT
    default = (_OUT if new_api else _MAPRED) + "TextOutputFormat"
    path = setting(conf, OUTPUT_DIR)
    if path is None:
        raise ValueError(f"{method}: conf names no output directory: set "
                         f"{OUTPUT_DIR[0]!r} to the directory to write")
    return output_plan(method, path, setting(conf, format_keys, default),
                       setting(conf, KEY_CLASS, sequence_file.LONG),
                       setting(conf, VALUE_CLASS, sequence_file.TEXT), conf, None, new_api)


def input_plan(method: str, path: Any, format_class: Any, key_class: Any, value_class: Any,
               conf: Optional[Dict[str, Any]], new_api: bool) -> InputPlan:
    """The input ``hadoopFile`` (``path`` given) or ``hadoopRDD`` (``path`` None: conf's
    ``mapreduce.input.fileinputformat.inputdir``), or their new-API twins, asks for.  The
    key and value classes are checked to be names only: the records are those the
    format reads, as in PySpark (``record_class``)."""
    kind = _format(method, INPUT_FORMATS, "inputFormatClass", format_class, new_api)
    record_class(method, "keyClass", key_class)
    record_class(method, "valueClass", value_class)
    if conf is not None and not isinstance(conf, dict):
        raise TypeError(f"{method}: conf is a dict of Hadoop settings, not "
                        f"{type(conf).__name__}")
    if path is None:
        path = setting(conf, INPUT_DIR)
        if path is None:
            raise ValueError(f"{method}: conf names no input: set {INPUT_DIR[0]!r} to the "
                             "files to read (a path, a directory, a glob or a comma-"
                             "separated list)")
    if not isinstance(path, str):
        raise TypeError(f"{method}: path is the files to read (a str), not "
                        f"{type(path).__name__}")
    # (Hadoop's reader takes the separator's first char as a byte: its low 8 bits)
    separator = str(setting(conf, KEY_VALUE_SEPARATOR, "\t")) or "\t"
    separator = bytes([ord(separator[0]) & 0xFF])
    min_size = max(1, _bytes(method, conf, MIN_SPLIT_SIZE, 1))
    max_size = _bytes(method, conf, MAX_SPLIT_SIZE, 1 << 63)
    return InputPlan(kind, path, new_api, separator, min_size, max_size)


def _bytes(method: str, conf: Optional[Dict[str, Any]], keys: Sequence[str],
           default: int) -> int:
    value = setting(conf, keys, default)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{method}: conf's {keys[0]} {value!r} is not a whole number of "
                         "bytes (as Hadoop reads it: 1048576, not 1m)") from None


# -- TextOutputFormat -----------------------------------------------------------------------

def java_double(value: float) -> str:
    """Java's ``Double.toString``, as DoubleWritable prints: decimal from 10^-3 to 10^7,
    else computerized scientific notation.

    >>> [java_double(x) for x in (1.0, 0.1, 1e20, 1e-05, -0.0, 12345678.9, float("inf"))]
    ['1.0', '0.1', '1.0E20', '1.0E-5', '-0.0', '1.23456789E7', 'Infinity']
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digits, exponent = Decimal(repr(abs(value))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exponent  # digits before the decimal point
    minus = "-" if value < 0 else ""
    if 1e-3 <= abs(value) < 1e7:
        if point <= 0:
            return f"{minus}0.{'0' * -point}{text}"
        whole, fraction = text[:point].ljust(point, "0"), text[point:]
        return f"{minus}{whole}.{fraction or '0'}"
    return f"{minus}{text[0]}.{text[1:] or '0'}E{point - 1}"


def writable_text(item: Any) -> bytes:
    """What ``TextOutputFormat`` writes of ``item``: the ``toString()`` of the Writable
    PySpark converts it to (Text's own bytes).

    >>> [writable_text(x) for x in ("a", 7, 2.5, True, b"ab")]
    [b'a', b'7', b'2.5', b'true', b'61 62']
    """
    cls = sequence_file.writable_class(item)
    if cls == sequence_file.TEXT:
        return item.encode("utf-8", "replace")  # a lone surrogate: "?", as Java's Text
    if cls == sequence_file.BOOLEAN:
        return b"true" if item else b"false"
    if cls in (sequence_file.INT, sequence_file.LONG):
        return str(int(item)).encode()
    if cls == sequence_file.DOUBLE:
        return java_double(item).encode()
    if cls == sequence_file.BYTES:
        return bytes(item).hex(" ").encode()
    raise sequence_file.Unconvertible(
        f"{type(item).__name__} becomes {cls.rsplit('.', 1)[1]}, whose text is not the "
        "records' (Java prints a HashMap's entries in hash order, an array as its address)")


def text_line(record: Any, separator: bytes) -> Optional[bytes]:
    """The line ``TextOutputFormat`` writes of a ``(key, value)`` record, ``\\n`` included:
    ``key SEPARATOR value``; a None key or value is left out with the separator, and a
    record of two Nones writes nothing (None).

    >>> [text_line(r, b"\\t") for r in ((1, "a"), (None, "b"), (2, None), (None, None))]
    [b'1\\ta\\n', b'b\\n', b'2\\n', None]
    """
    if not (isinstance(record, tuple) and len(record) == 2):
        raise TypeError(f"TextOutputFormat saves (key, value) tuples; a record is "
                        f"{type(record).__name__}: {record!r:.80}")
    key, value = record
    if key is None and value is None:
        return None
    if key is None:
        return writable_text(value) + b"\n"
    if value is None:
        return writable_text(key) + b"\n"
    return writable_text(key) + separator + writable_text(value) + b"\n"


def text_writer(plan: OutputPlan) -> tuple:
    """``save_partitions``' writer of ``(key, value)`` records as TextOutputFormat's lines,
    the part files' suffix (the codec's: ``.gz``) and their prefix."""
    from .output import compressed_stream

    opener, suffix = compressed_stream(plan.codec)
    separator = plan.separator

    def write(records: Iterator[Any], out: BinaryIO) -> None:
        with opener(out) as stream:
            buffer: List[bytes] = []
            for record in records:
                try:
                    line = text_line(record, separator)
                except sequence_file.Unconvertible as exc:
                    raise TypeError(f"TextOutputFormat cannot save {record!r:.80}: {exc}; "
                                    "convert it to a str before saving") from None
                if line is not None:
                    buffer.append(line)
                if len(buffer) >= 4096:
                    stream.write(b"".join(buffer))
                    buffer.clear()
            if buffer:
                stream.write(b"".join(buffer))

    return write, suffix, plan.prefix


def sequence_writer(plan: OutputPlan, key_class: str, value_class: str, method: str) -> tuple:
    """``save_partitions``' writer of ``(key, value)`` records as SequenceFiles of
    ``key_class`` and ``value_class``, no suffix, and the part files' prefix."""
    given = tuple(which for which, cls in (("key", plan.key_class), ("value", plan.value_class))
                  if cls is not None)
    write, suffix = sequence_file.part_writer(key_class, value_class, plan.codec, plan.block,
                                              method, given)
    return write, suffix, plan.prefix


# -- FileInputFormat ------------------------------------------------------------------------

def hadoop_splits(files: Sequence[InputFile], num_splits: int, block_size: int,
                  plan: InputPlan) -> List[FileSegment]:
    """``FileInputFormat.getSplits`` (``splits.hadoop_splits``) of the old API (the total
    over ``num_splits``, at most a block) or the new (a block), for ``plan``'s format:
    compressed text files whole (their offsets count uncompressed bytes from the start).

    >>> old = InputPlan("text", "", False, b"\\t", 1, 1 << 63)
    >>> [(s.start, s.end) for s in hadoop_splits([InputFile("a", 100)], 3, 1 << 25, old)]
    [(0, 33), (33, 66), (66, 100)]
    >>> new = InputPlan("text", "", True, b"\\t", 1, 1 << 63)
    >>> [(s.start, s.end) for s in hadoop_splits([InputFile("a", 100)], 3, 1 << 25, new)]
    [(0, 100)]
    """
    whole = plan.kind != "sequence"  # (a SequenceFile is compressed inside)
    ranges = splits.hadoop_splits(files, num_splits, block_size, plan.min_size,
                                  plan.max_size if plan.new_api else None,
                                  lambda f: not (whole and is_compressed(f.path)))
    return [segments[0] for segments in ranges]


# -- TextInputFormat ------------------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"
_EOL = re.compile(b"\r\n|\r|\n")


def offset_lines(fh: BinaryIO, start: int, end: float) -> Iterator[Tuple[int, bytes]]:
    """``(byte offset, line)`` of the lines Hadoop's LineRecordReader gives a split
    [start, end] of an open file: those starting after ``start`` (a split not at 0 skips
    the line it starts inside or at) up to and including one starting at ``end``; lines
    end at ``\\n``, ``\\r\\n`` or ``\\r``; a UTF-8 byte order mark at 0 is dropped."""
    if start:
        fh.seek(start)
    lines = _raw_lines(fh)
    pos = start
    if start:
        for _, size in lines:
            pos += size
            break
    for line, size in lines:
        if pos > end:
            return
        yield pos, (line[3:] if pos == 0 and line.startswith(_BOM) else line)
        pos += size


def _raw_lines(fh: BinaryIO, chunk: int = 1 << 22) -> Iterator[Tuple[bytes, int]]:
    """Each line without its end, and its size with it; a chunk at a time (split at
    ``\\n`` when it holds no ``\\r``: searching each line's ends one by one is ~20 times
    slower than ``text_file``).

    >>> list(_raw_lines(io.BytesIO(b"a\\r\\nb\\rc\\n\\nd"), chunk=2))
    [(b'a', 3), (b'b', 2), (b'c', 2), (b'', 1), (b'd', 1)]
    """
    buf = b""
    while True:
        data = fh.read(chunk)
        eof = not data
        buf = buf + data if buf else data
        # a \r at the end may be the first half of a \r\n: decide with the next chunk
        end = len(buf) - 1 if not eof and buf.endswith(b"\r") else len(buf)
        cut = 0
        if b"\r" not in buf:
            cut = buf.rfind(b"\n", 0, end) + 1
            if cut:
                for line in buf[:cut - 1].split(b"\n"):
                    yield line, len(line) + 1
        else:
            for match in _EOL.finditer(buf, 0, end):
                yield buf[cut:match.start()], match.end() - cut
                cut = match.end()
        if eof:
            if cut < len(buf):
                yield buf[cut:], len(buf) - cut
            return
        buf = buf[cut:]
