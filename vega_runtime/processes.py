"""Tying a process's life to its parent's (Linux)."""

from __future__ import annotations

import contextlib
import ctypes
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (no orphans).

    Call it, then check ``os.getppid()``: a parent that died just before is
    not noticed.  Does nothing where ``prctl`` is unavailable.
    """
    with contextlib.suppress(OSError):  # no glibc: nothing to ask
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
