"""Atomic output: part files under ``_temporary/``, renamed into place on job success.

Protocol (Hadoop's FileOutputCommitter, simplified):

1. ``prepare_output``: on the driver, refuse an existing path (unless
   overwrite), create ``PATH/_temporary``.
2. ``write_part``: each task attempt writes ``_temporary/.part-P.attempt-A``
   and commits it by renaming to ``_temporary/part-P``.  A retried attempt
   replaces its predecessor's file, so no part is ever duplicated.  An attempt
   makes no directory: one still running after its job failed finds
   ``_temporary`` gone and writes nothing, rather than making PATH anew.
3. ``commit_output``: on job success the driver moves the parts into PATH,
   removes ``_temporary`` and writes ``_SUCCESS``.  ``abort_output`` removes
   PATH entirely, so a failed job (or commit) leaves nothing at the target.

Overwriting (``overwrite=True`` on an existing PATH) keeps the old output until the
new one is complete: the job writes a hidden sibling ``.NAME.staging-ID`` as above,
and only its commit swaps it in (old PATH renamed aside to ``.NAME.old-ID``, the
staging directory renamed to PATH, the old one deleted).  A failed or killed job
removes only its staging directory, so PATH still holds the previous output.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
from typing import Any, BinaryIO, Callable, Iterator, List, Optional

from ..errors import OutputExistsError, VegaError
from .codecs import BLOCK_SUFFIXES
from .disk import naming_a_full_disk
from .files import local_path
from .globs import path_text
from ..private_files import current_umask
from .hdfs import HdfsOutput, HdfsSettings, is_hdfs, qualify, split_url

TEMPORARY = "_temporary"
SUCCESS = "_SUCCESS"

PartWriter = Callable[[Iterator[Any], BinaryIO], None]


class LocalDir:
    """Output operations on a local directory."""

    def __init__(self, path: str, file_mode: Optional[int] = None):
        self.url = path
        #: absolute: tasks write where the driver resolved it, whatever their working directory
        self.root = os.path.abspath(local_path(path))
        #: where a commit swaps ``root`` into (an overwrite's staging directory), or None
        self.final: Optional[str] = None
        #: the part files' mode: the driver's umask's (made where the driver is, this
        #: travels to the executors, whose own umask is private, 077)
        self.file_mode = 0o666 & ~current_umask() if file_mode is None else file_mode

    def join(self, *names: str) -> str:
        return os.path.join(self.root, *names)

    def sibling(self, path: str, tag: str) -> str:
        """A new hidden name next to ``path``: ``.NAME.TAG-ID`` in the same directory."""
        parent, name = os.path.split(path.rstrip(os.sep))
        return os.path.join(parent, f".{name}.{tag}-{os.urandom(6).hex()}")

    def staged(self) -> "LocalDir":
        """The same output written to a staging sibling first, swapped in on commit."""
        staging = LocalDir(self.sibling(self.root, "staging"), self.file_mode)
        staging.final = self.root
        return staging

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists; one this account may not look into (an output directory
        the driver made as another account, 0700) is a ``PermissionError`` saying so, not
        False (a task took it for its job's end)."""
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except PermissionError as exc:
            raise self.not_permitted(exc) from None
        return True

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def open_write(self, path: str):
        """``path`` for writing, its mode ``file_mode`` whatever this process's umask: a
        job's output reads the same on every master (before, an executor's 077 made a
        cluster's part files 0600 beside a _SUCCESS and directory of the user's umask)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                         self.file_mode)
        except PermissionError as exc:
            raise self.not_permitted(exc) from None
        try:
            os.fchmod(fd, self.file_mode)
            return os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise

    def not_permitted(self, exc: PermissionError) -> PermissionError:
        """``exc`` saying which account may not write here, and what to do: a task writes
        its part as the account its executor runs as, which may not be the driver's (a
        cluster's workers run as an account of their own)."""
        from ..private_files import account_name

        return PermissionError(errno.EACCES, f"cannot write {self.url} as "
                               f"{account_name(os.geteuid())} ({exc.strerror}: "
                               f"{exc.filename}): save where this account can write; tasks "
                               "write their parts as the account of their executors, which "
                               "may not be the driver's")

    def rename(self, source: str, target: str) -> None:
        os.replace(source, target)

    def list(self, path: str) -> List[str]:
        return sorted(os.listdir(path))

    def delete(self, path: str) -> None:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.unlink(path)


class HdfsDir:
    """Output operations on an HDFS directory (WebHDFS); the client is made lazily."""

    def __init__(self, url: str, settings: HdfsSettings):
        self.url = url = qualify(url, settings)
        self.settings = settings
        self.root = split_url(url)[1].rstrip("/") or "/"
        self._ops: Optional[HdfsOutput] = None
        #: where a commit swaps ``root`` into (an overwrite's staging directory), or None
        self.final: Optional[str] = None

    @property
    def ops(self) -> HdfsOutput:
        if self._ops is None:
            self._ops = HdfsOutput(self.url, self.settings)
        return self._ops

    def __getstate__(self):
        return {"url": self.url, "settings": self.settings, "root": self.root, "_ops": None,
                "final": self.final}

    def join(self, *names: str) -> str:
        return posixpath.join(self.root, *names)

    def sibling(self, path: str, tag: str) -> str:
        """A new hidden name next to ``path``: ``.NAME.TAG-ID`` in the same directory."""
        parent, name = posixpath.split(path.rstrip("/"))
        return posixpath.join(parent, f".{name}.{tag}-{os.urandom(6).hex()}")

    def staged(self) -> "HdfsDir":
        """The same output written to a staging sibling first, swapped in on commit."""
        staging = HdfsDir(self.url, self.settings)
        staging.root, staging.final = self.sibling(self.root, "staging"), self.root
        staging._ops = self._ops
        return staging

    def exists(self, path: str) -> bool:
        return self.ops.exists(path)

    def makedirs(self, path: str) -> None:
        self.ops.makedirs(path)

    def open_write(self, path: str):
        return self.ops.open_write(path)

    def rename(self, source: str, target: str) -> None:
        self.ops.rename(source, target)

    def list(self, path: str) -> List[str]:
        return sorted(self.ops.list(path))

    def delete(self, path: str) -> None:
        self.ops.delete(path)


def output_dir(path: str, hdfs: Optional[HdfsSettings] = None):
    return HdfsDir(path, hdfs or HdfsSettings()) if is_hdfs(path) else LocalDir(path)


def prepare_output(path: str, overwrite: bool, hdfs: Optional[HdfsSettings] = None):
    """On the driver, before any task runs: refuse an existing path unless overwriting, in
    which case the job writes a staging sibling and the old output stays until commit."""
    path = path_text(path)
    if not path.strip():  # it would name the working directory; Hadoop refuses it too
        raise ValueError("the output path is empty: give the directory to write (a path or "
                         "an HDFS URL)")
    target = output_dir(path, hdfs)
    if target.exists(target.root):
        if not overwrite:
            raise OutputExistsError(path)
        target = target.staged()
    target.makedirs(target.join(TEMPORARY))
    return target


def part_name(partition: int, suffix: str = "", prefix: str = "part-") -> str:
    """``part-00003.gz``; Hadoop's new API names its parts ``part-r-00003``."""
    return f"{prefix}{partition:05d}{suffix}"


def write_part(target, partition: int, attempt: int, records: Iterator[Any],
               writer: PartWriter, suffix: str = "", prefix: str = "part-") -> None:
    """Write and commit one task attempt's part file; a failed attempt removes what it
    wrote (on a full disk, its partial part would keep the disk full for the retries)."""
    name = part_name(partition, suffix, prefix)
    temporary = target.join(TEMPORARY)
    staged = target.join(TEMPORARY, f".{name}.attempt-{attempt}")
    # A local open() makes no directory, so this holds at the write too; an HDFS CREATE
    # makes the parents, so there it is checked first.
    if not target.exists(temporary):
        raise FileNotFoundError(errno.ENOENT, f"{target.url} is no longer being written "
                                              "(its job has ended): nothing was written")
    try:
        with naming_a_full_disk(target.root, "part files",
                                "free space there, or save to another disk"):
            with target.open_write(staged) as out:
                writer(records, out)
        target.rename(staged, target.join(TEMPORARY, name))
    except BaseException:
        try:
            target.delete(staged)
        except Exception:  # gone with its directory (the job ended), or HDFS unreachable
            pass
        raise


def commit_output(target) -> None:
    """On job success: parts into place, ``_temporary`` removed, ``_SUCCESS`` written."""
    temporary = target.join(TEMPORARY)
    for name in target.list(temporary):
        if name.startswith("part-"):
            target.rename(target.join(TEMPORARY, name), target.join(name))
    target.delete(temporary)
    with target.open_write(target.join(SUCCESS)):
        pass
    if target.final is not None:
        _swap_into_place(target)


def _swap_into_place(target) -> None:
    """An overwrite's complete output replaces the old one: old aside, new in, old gone.
    If the new one cannot be renamed in, the old one is put back."""
    final = target.final
    old = target.sibling(final, "old") if target.exists(final) else None
    if old is not None:
        target.rename(final, old)
    try:
        target.rename(target.root, final)
    except BaseException:
        if old is not None:
            target.rename(old, final)
        raise
    if old is not None:
        target.delete(old)


def abort_output(target) -> None:
    """A failed job: its output goes (an overwrite's staging directory; the old output
    it was to replace stays)."""
    target.delete(target.root)


def text_lines_writer(codec: Optional[str]) -> tuple:
    """A writer of ``str(x)`` lines, and the part file suffix for ``codec``."""
    opener, suffix = _codec(codec)

    def write(records: Iterator[Any], out: BinaryIO) -> None:
        with opener(out) as stream:
            buffer = []
            for record in records:
                if isinstance(record, bytes):
                    buffer.append(record)
                else:
                    buffer.append(str(record).encode("utf-8"))
                if len(buffer) >= 4096:
                    stream.write(b"\n".join(buffer) + b"\n")
                    buffer.clear()
            if buffer:
                stream.write(b"\n".join(buffer) + b"\n")

    return write, suffix


#: Spark's short names of Hadoop's codecs (its ``CompressionCodecs.shortCompressionCodecNames``,
#: which its DataFrame writers take), in any case -> the class; none and uncompressed: no codec
SHORT_CODEC_NAMES = {"none": None, "uncompressed": None, "bzip2": "BZip2Codec",
                     "deflate": "DeflateCodec", "gzip": "GzipCodec", "lz4": "Lz4Codec",
                     "snappy": "SnappyCodec"}


def compressed_stream(codec: Optional[str]):
    """The opener of a part file compressed with ``codec`` (None: not compressed) and the
    file's suffix, as ``save_as_text_file`` writes them."""
    return _codec(codec)


def _codec(codec: Optional[str]):
    """The opener of a part file and its suffix for ``codec``: Hadoop's class (by its name's
    end: ``org.apache.hadoop.io.compress.SnappyCodec``) or Spark's short name (``snappy``).

    >>> [_codec(name)[1] for name in (None, "SNAPPY", "lz4", "Deflate", "none", "BZip2Codec")]
    ['', '.snappy', '.lz4', '.deflate', '', '.bz2']
    """
    if codec is None:
        return _NoClose, ""
    lowered = str(codec).lower()  # (5: refused below as any other name it lacks)
    if lowered in SHORT_CODEC_NAMES:
        if SHORT_CODEC_NAMES[lowered] is None:
            return _NoClose, ""
        lowered = SHORT_CODEC_NAMES[lowered].lower()
    if "gzip" in lowered:
        import gzip

        # as Hadoop's GzipCodec: no file name, time 0 (the same records, the same bytes)
        return (lambda out: gzip.GzipFile("", "wb", fileobj=out, mtime=0)), ".gz"
    if "bzip2" in lowered or "bz2" in lowered:
        import bz2

        return (lambda out: bz2.BZ2File(out, "wb")), ".bz2"
    if lowered.endswith(("defaultcodec", "deflatecodec")):
        return _ZlibWriter, ".deflate"
    for name, suffix in BLOCK_SUFFIXES.items():
        if lowered.endswith(name.lower()):
            from .codecs import BlockWriter, require

            require(suffix)
            return (lambda out: BlockWriter(out, suffix)), suffix
    raise VegaError(f"unsupported compression codec {codec!r}: use one of Spark's short names "
                    f"({', '.join(SHORT_CODEC_NAMES)}; in any case) or Hadoop's class, "
                    "'org.apache.hadoop.io.compress.GzipCodec', 'BZip2Codec', 'DefaultCodec', "
                    "'DeflateCodec', 'SnappyCodec' or 'Lz4Codec'")


class _ZlibWriter:
    """A zlib stream, as Hadoop's DefaultCodec writes ``.deflate`` files."""

    def __init__(self, out: BinaryIO):
        import zlib

        self.out, self._deflate = out, zlib.compressobj()

    def __enter__(self) -> "_ZlibWriter":
        return self

    def write(self, data: bytes) -> None:
        self.out.write(self._deflate.compress(data))

    def __exit__(self, *exc) -> None:
        self.out.write(self._deflate.flush())


class _NoClose:
    def __init__(self, out: BinaryIO):
        self.out = out

    def __enter__(self) -> BinaryIO:
        return self.out

    def __exit__(self, *exc) -> None:
        pass


def pickle_batches_writer(batch_size: int) -> tuple:
    def write(records: Iterator[Any], out: BinaryIO) -> None:
        from ..serde import dump_batches

        dump_batches(records, out, max(1, batch_size))

    return write, ""


