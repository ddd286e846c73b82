"""Atomic output: part files under ``_temporary/``, renamed into place on job success.

Protocol (Hadoop's FileOutputCommitter, simplified):

1. ``prepare_output``: on the driver, refuse an existing path (unless
   overwrite), create ``PATH/_temporary``.
2. ``write_part``: each task attempt writes ``_temporary/attempt-P-A/part-P``
   and commits it by renaming to ``_temporary/part-P``.  A retried attempt
   replaces its predecessor's file, so no part is ever duplicated.
3. ``commit_output``: on job success the driver moves the parts into PATH,
   removes ``_temporary`` and writes ``_SUCCESS``.  ``abort_output`` removes
   PATH entirely, so a failed job leaves nothing at the target.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from typing import Any, BinaryIO, Callable, Iterator, List, Optional

from ..errors import OutputExistsError, VegaError
from .files import local_path
from .hdfs import HdfsOutput, HdfsSettings, is_hdfs, split_url

TEMPORARY = "_temporary"
SUCCESS = "_SUCCESS"

PartWriter = Callable[[Iterator[Any], BinaryIO], None]


class LocalDir:
    """Output operations on a local directory."""

    def __init__(self, path: str):
        self.url = path
        self.root = local_path(path)

    def join(self, *names: str) -> str:
        return os.path.join(self.root, *names)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def open_write(self, path: str):
        return open(path, "wb")

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
        self.url = url
        self.settings = settings
        self.root = split_url(url)[1].rstrip("/") or "/"
        self._ops: Optional[HdfsOutput] = None

    @property
    def ops(self) -> HdfsOutput:
        if self._ops is None:
            self._ops = HdfsOutput(self.url, self.settings)
        return self._ops

    def __getstate__(self):
        return {"url": self.url, "settings": self.settings, "root": self.root, "_ops": None}

    def join(self, *names: str) -> str:
        return posixpath.join(self.root, *names)

    def exists(self, path: str) -> bool:
        return self.ops.exists(path)

    def makedirs(self, path: str) -> None:
        self.ops.makedirs(path)

    def open_write(self, path: str):
        return self.ops.hdfs.write(path, overwrite=True)

    def rename(self, source: str, target: str) -> None:
        self.ops.rename(source, target)

    def list(self, path: str) -> List[str]:
        return sorted(self.ops.list(path))

    def delete(self, path: str) -> None:
        self.ops.delete(path)


def output_dir(path: str, hdfs: Optional[HdfsSettings] = None):
    return HdfsDir(path, hdfs or HdfsSettings()) if is_hdfs(path) else LocalDir(path)


def prepare_output(path: str, overwrite: bool, hdfs: Optional[HdfsSettings] = None):
    """On the driver, before any task runs: refuse an existing path unless overwriting."""
    target = output_dir(path, hdfs)
    if target.exists(target.root):
        if not overwrite:
            raise OutputExistsError(path)
        target.delete(target.root)
    target.makedirs(target.join(TEMPORARY))
    return target


def part_name(partition: int, suffix: str = "") -> str:
    return f"part-{partition:05d}{suffix}"


def write_part(target, partition: int, attempt: int, records: Iterator[Any],
               writer: PartWriter, suffix: str = "") -> None:
    """Write and commit one task attempt's part file."""
    name = part_name(partition, suffix)
    attempt_dir = target.join(TEMPORARY, f"attempt-{partition}-{attempt}")
    target.makedirs(attempt_dir)
    staged = target.join(TEMPORARY, f"attempt-{partition}-{attempt}", name)
    with target.open_write(staged) as out:
        writer(records, out)
    target.rename(staged, target.join(TEMPORARY, name))
    target.delete(attempt_dir)


def commit_output(target) -> None:
    """On job success: parts into place, ``_temporary`` removed, ``_SUCCESS`` written."""
    temporary = target.join(TEMPORARY)
    for name in target.list(temporary):
        if name.startswith("part-"):
            target.rename(target.join(TEMPORARY, name), target.join(name))
    target.delete(temporary)
    with target.open_write(target.join(SUCCESS)):
        pass


def abort_output(target) -> None:
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


def _codec(codec: Optional[str]):
    if codec is None:
        return _NoClose, ""
    lowered = codec.lower()
    if "gzip" in lowered:
        import gzip

        return (lambda out: gzip.GzipFile(fileobj=out, mode="wb")), ".gz"
    if "bzip2" in lowered or "bz2" in lowered:
        import bz2

        return (lambda out: bz2.BZ2File(out, "wb")), ".bz2"
    raise VegaError(f"unsupported compression codec {codec!r}: use "
                    "'org.apache.hadoop.io.compress.GzipCodec' or 'BZip2Codec'")


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


