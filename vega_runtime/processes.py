"""Tying a process's life to its parent's (Linux), and saying how a process ended."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (no orphans).

    Call it, then check ``os.getppid()``: a parent that died just before is
    not noticed.  Does nothing where ``prctl`` is unavailable.
    """
    with contextlib.suppress(OSError):  # no glibc: nothing to ask
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def describe_exit(status: int) -> str:
    """How a process ended, from its ``os.waitpid`` status, naming a fatal signal.

    >>> describe_exit(11)
    'was killed by signal 11 (SIGSEGV: Segmentation fault)'
    >>> describe_exit(3 << 8)
    'exited with code 3'
    """
    if os.WIFSIGNALED(status):
        return describe_returncode(-os.WTERMSIG(status))
    return describe_returncode(os.WEXITSTATUS(status))


def describe_returncode(code: int) -> str:
    """The same from a ``subprocess`` return code (negative: the signal's number).

    >>> describe_returncode(-9)
    'was killed by signal 9 (SIGKILL: Killed)'
    """
    if code >= 0:
        return f"exited with code {code}"
    number = -code
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown signal"
    return f"was killed by signal {number} ({name}: {signal.strsignal(number)})"
