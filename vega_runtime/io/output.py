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

import shutil
from typing import Any, BinaryIO, Callable, Iterator, Optional

from ..errors import OutputExistsError, VegaError
from .files import local_path

TEMPORARY = "_temporary"
SUCCESS = "_SUCCESS"

PartWriter = Callable[[Iterator[Any], BinaryIO], None]


def prepare_output(path: str, overwrite: bool) -> str:
    target = local_path(path)
    if os.path.exists(target):
        if not overwrite:
            raise OutputExistsError(path)
        shutil.rmtree(target) if os.path.isdir(target) else os.unlink(target)
    os.makedirs(os.path.join(target, TEMPORARY))
    return target


def part_name(partition: int, suffix: str = "") -> str:
    return f"part-{partition:05d}{suffix}"


def write_part(target: str, partition: int, attempt: int, records: Iterator[Any],
               writer: PartWriter, suffix: str = "") -> None:
    """Write and commit one task attempt's part file."""
    temporary = os.path.join(target, TEMPORARY)
    attempt_dir = os.path.join(temporary, f"attempt-{partition}-{attempt}")
    os.makedirs(attempt_dir, exist_ok=True)
    name = part_name(partition, suffix)
    staged = os.path.join(attempt_dir, name)
    with open(staged, "wb") as out:
        writer(records, out)
    os.replace(staged, os.path.join(temporary, name))
    os.rmdir(attempt_dir)


def commit_output(target: str) -> None:
    temporary = os.path.join(target, TEMPORARY)
    for name in sorted(os.listdir(temporary)):
        if name.startswith("part-"):
            os.replace(os.path.join(temporary, name), os.path.join(target, name))
    shutil.rmtree(temporary)
    with open(os.path.join(target, SUCCESS), "wb"):
        pass


def abort_output(target: str) -> None:
    shutil.rmtree(target, ignore_errors=True)


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


