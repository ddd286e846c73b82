"""Naming the disk a write found full: a bare ``[Errno 28] No space left on device`` names
no disk, and says nothing of what to do."""

from __future__ import annotations

import contextlib
import errno
from typing import Iterator

#: the errors of a write that found its disk (or the user's quota) full
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def naming_a_full_disk(directory: str, what: str, hint: str) -> Iterator[None]:
    """Re-raise a full disk met by writes of ``what`` into ``directory`` as an error naming
    the directory, what is free there, and ``hint`` (what to do); other errors pass as they
    are."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        import shutil  # here: it imports bz2 and lzma, ~5 ms every driver would pay

        try:
            usage = shutil.disk_usage(directory)
            room = f" ({usage.free / 2**20:.1f} MiB free of {usage.total / 2**20:.1f} MiB)"
        except OSError:
            room = ""
        raise OSError(exc.errno, f"no space left on the disk of {directory}{room} for {what}: "
                                 f"{hint}") from exc
