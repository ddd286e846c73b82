"""Finding input files: paths, ``file://`` URLs, directories, globs, comma lists."""

from __future__ import annotations

import contextlib
import glob
import io
import os
from typing import Iterator, List, Optional

from ..errors import InputError
from ..records import FrozenRecord
from .codecs import BLOCK_CODECS, CodecError
from .globs import expand_braces, fnmatch_pattern, has_pattern, is_hidden, split_paths, unescape
from .hdfs import HdfsSettings, is_hdfs
from .hdfs import list_files as list_hdfs_files
from .hdfs import open_read as open_hdfs

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".deflate") + tuple(BLOCK_CODECS)
#: Hadoop codecs whose files Vega cannot decompress (read as text they would be garbage):
#: Hadoop itself writes ZStandardCodec only with its native library
UNREADABLE_CODECS = {".zst": "ZStandardCodec"}


class InputFile(FrozenRecord):
    """An input file, its size and its block size (an HDFS file's; 0: the file system's
    default, ``vega.input.split_size``), which Hadoop's split rule caps ranges by."""
    path: str
    size: int
    block_size: int

    def __init__(self, path, size, block_size=0):
        setattr = object.__setattr__
        setattr(self, "path", path)
        setattr(self, "size", size)
        setattr(self, "block_size", block_size)

    @property
    def splittable(self) -> bool:
        return is_splittable(self.path)


def is_compressed(path: str) -> bool:
    """Whether ``path`` names a ``.gz``, ``.bz2``, ``.deflate`` (zlib: Hadoop's
    DefaultCodec), ``.snappy`` or ``.lz4`` file, in any case as Hadoop's codecs are found;
    it is decompressed, and read whole unless it is ``.bz2`` (``is_splittable``)."""
    return path.lower().endswith(COMPRESSED_SUFFIXES)


def is_splittable(path: str) -> bool:
    """Whether ``path``'s text may be read in byte ranges: uncompressed, or ``.bz2``."""
    return is_bzip2(path) or not is_compressed(path)


def is_bzip2(path: str) -> bool:
    """Whether ``path`` names a ``.bz2`` file, split at its block markers as Hadoop's
    BZip2Codec (a SplittableCompressionCodec) splits it."""
    return path.lower().endswith(".bz2")


def refuse_unreadable_codecs(files: List[InputFile]) -> None:
    """On the driver, before a task runs: a file that Hadoop would decompress with a codec
    Vega has not (Spark's ``part-00000.snappy``) is an ``InputError`` naming it."""
    for f in files:
        suffix = os.path.splitext(f.path)[1].lower()
        if suffix in BLOCK_CODECS:
            from .codecs import require

            try:
                require(suffix)
            except CodecError as exc:
                raise InputError(f.path, str(exc)) from None
        if suffix in UNREADABLE_CODECS:
            raise InputError(f.path, f"it is compressed with Hadoop's {UNREADABLE_CODECS[suffix]}, "
                                     "which Vega cannot decompress: write it with SnappyCodec, "
                                     "Lz4Codec, GzipCodec, BZip2Codec or DefaultCodec (or "
                                     "uncompressed), or read its bytes with binary_files")


def local_path(url: str) -> str:
    """``file:///a/b`` and ``file:/a/b`` -> ``/a/b``; bare paths unchanged."""
    if url.startswith("file://"):
        return url[len("file://"):]
    return url[len("file:"):] if url.startswith("file:") else url


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL of another file system (``hdfs://nn/x``), not a local path
    or a ``file:`` URI.

    >>> [is_url(p) for p in ("hdfs://nn/x", "file:///x", "file:/x", "data/x.csv")]
    [True, False, False, False]
    """
    return "://" in path and not path.startswith("file:")


def file_uri(path: str) -> str:
    """A path as Spark reports it: ``/a/b`` -> ``file:/a/b``; URLs (``hdfs://...``) unchanged.

    >>> file_uri("/tmp/ckpt"), file_uri("hdfs://nn:9870/ckpt")
    ('file:/tmp/ckpt', 'hdfs://nn:9870/ckpt')
    """
    if ":" in path.split("/", 1)[0]:
        return path
    return "file:" + os.path.abspath(path)


def absolute_paths(spec: str) -> str:
    """``spec`` with its relative local paths made absolute (in the working directory of
    now), touching no file: executors, whatever their directory, find the same files.

    >>> absolute_paths("/a/x.txt,hdfs://nn:9870/y,file:///b/{c,d}")
    '/a/x.txt,hdfs://nn:9870/y,/b/{c,d}'
    """
    return ",".join(part if not part or is_hdfs(part) else os.path.abspath(local_path(part))
                    for part in (p.strip() for p in split_paths(spec)))


def list_input_files(spec: str, hdfs: Optional[HdfsSettings] = None) -> List[InputFile]:
    """Every file named by ``spec``, sorted by path within each comma-separated part.

    Parts are local paths (relative ones resolved in the working directory: see
    ``absolute_paths``), ``file://`` URLs or ``hdfs://``/``webhdfs://`` URLs.  Globs are
    Hadoop's: ``*``, ``?``, ``[ab]``, ``[^ab]`` and ``{a,b}`` (whose commas do not
    separate parts); a backslash makes the character after it itself (``q\\?.txt``).
    Hidden files and names starting with ``_`` (``_SUCCESS``) inside
    directories or matched by a glob are skipped, as Hadoop does.
    """
    files: List[InputFile] = []
    for part in (p.strip() for p in split_paths(spec)):
        if not part:  # as Hadoop's "Can not create a Path from an empty string"
            raise InputError(repr(spec), "an empty path names no file: give a file, a "
                                         "directory, a glob or a URL")
        if is_hdfs(part):
            files.extend(InputFile(url, size, block_size) for url, size, block_size in
                         list_hdfs_files(part, hdfs or HdfsSettings()))
            continue
        path = os.path.abspath(local_path(part))
        if has_pattern(path):
            matches = sorted({m for pattern in expand_braces(path)
                              for m in glob.glob(fnmatch_pattern(pattern))
                              if not is_hidden(os.path.basename(m))})
            if not matches:
                raise InputError(part, "no file matches this pattern")
        elif os.path.exists(unescape(path)):  # q\?.txt names q?.txt, as in Hadoop
            matches = [unescape(path)]
        else:
            raise InputError(part, "no such file or directory")
        for match in matches:
            files.extend(_expand(match))
    return files


def _expand(path: str) -> List[InputFile]:
    if not os.path.isdir(path):
        return [_input_file(path)]
    found, seen = [], set()
    # Symbolic links to directories are directories (as Hadoop's local file system sees
    # them); each real directory is read once, so a link loop ends.
    for root, dirs, names in os.walk(path, onerror=_unreadable, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        found.extend(_input_file(os.path.join(root, name)) for name in sorted(names)
                     if not is_hidden(name))
    return found


def _input_file(path: str) -> InputFile:
    try:
        return InputFile(path, os.path.getsize(path))
    except OSError as exc:  # a broken symbolic link, say
        raise InputError(path, exc.strerror or str(exc)) from None


def _unreadable(exc: OSError):
    """A directory the walk cannot list fails the input, never reads as empty."""
    raise InputError(exc.filename, exc.strerror or str(exc)) from None


def open_input(path: str, hdfs: Optional[HdfsSettings] = None, decompress: bool = True):
    """Open a local file or HDFS URL for binary reading, decompressing ``.gz``, ``.bz2``,
    ``.deflate``, ``.snappy`` and ``.lz4`` unless ``decompress`` is false (``binary_files``
    gives the file's bytes)."""
    raw = open_hdfs(path, hdfs or HdfsSettings()) if is_hdfs(path) else open(local_path(path), "rb")
    if not decompress:
        return raw
    if path.lower().endswith(".gz"):
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")
    if is_bzip2(path):
        from .bzip2 import Bzip2Reader

        return io.BufferedReader(Bzip2Reader(raw), buffer_size=1 << 20)
    if path.lower().endswith(".deflate"):
        return io.BufferedReader(_ZlibReader(raw), buffer_size=1 << 20)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in BLOCK_CODECS:
        from .codecs import BlockReader

        try:
            return io.BufferedReader(BlockReader(raw, suffix), buffer_size=1 << 20)
        except CodecError:
            raw.close()
            raise
    return raw


@contextlib.contextmanager
def input_errors(path: str) -> Iterator[None]:
    """Errors met reading ``path`` (a truncated or corrupt ``.gz``, a file that is gone or
    unreadable) as an ``InputError`` naming it: among many input files, the one at fault."""
    import zlib

    try:
        yield
    except (EOFError, OSError, zlib.error, CodecError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise InputError(path, reason or type(exc).__name__) from None


class _ZlibReader(io.RawIOBase):
    """The decompressed bytes of a zlib stream (or several, one after another): what
    Hadoop's DefaultCodec writes as ``.deflate`` files."""

    def __init__(self, raw):
        import zlib

        self.raw, self._new = raw, zlib.decompressobj
        self._inflate = self._new()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._inflate.eof:
                rest = self._inflate.unused_data
                self._inflate = self._new()
            else:
                rest = self._inflate.unconsumed_tail or self.raw.read(1 << 16)
                if not rest:
                    return 0
            data = self._inflate.decompress(rest, len(buffer))
            if data:
                buffer[:len(data)] = data
                return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()
