"""What cluster processes must share: the Python minor version, Vega's, the hash seed;
and what an application's environment record names (its platform, Python's full version)."""

from __future__ import annotations

import os
import sys
from typing import Mapping, Optional

from . import ids
from ._version import __version__


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def version_mismatch(peer_python: str, peer_vega: str, peer: str = "the peer") -> Optional[str]:
    """None when compatible, else a sentence naming both sides' versions, ``peer`` as the
    one it is said to ("this worker": it reads the sentence)."""
    problems = []
    if peer_python != python_version():
        problems.append(f"Python {python_version()} but {peer} runs Python {peer_python}")
    if peer_vega != __version__:
        problems.append(f"Vega {__version__} but {peer} runs Vega {peer_vega}")
    if not problems:
        return None
    return "; ".join(problems) + ": install the same versions everywhere"


def executor_hash_seed(environ: Optional[Mapping[str, str]] = None) -> str:
    """The ``PYTHONHASHSEED`` an application's executors run with: the driver's when it is a
    fixed seed, else PySpark's default "0".  Every executor must hash alike (a key's
    partition is its hash modulo the partitions), which "random" would not.

    >>> executor_hash_seed({"PYTHONHASHSEED": "42"}), executor_hash_seed({"PYTHONHASHSEED": "random"})
    ('42', '0')

    Written as Python reads it (``0042`` is 42) and up to 4294967295:

    >>> [executor_hash_seed({"PYTHONHASHSEED": seed}) for seed in ("4294967295", "0042")]
    ['4294967295', '42']
    """
    seed = (os.environ if environ is None else environ).get("PYTHONHASHSEED", "0")
    if seed.isascii() and seed.isdigit():
        seed = str(int(seed))
    return seed if ids.HASH_SEED.matches(seed) else "0"


def hashes_as(seed: str) -> bool:
    """Whether ``hash()`` here is that of a process started with ``PYTHONHASHSEED=seed``.
    Seed 0 shows in ``sys.flags``; another fixed seed only in the environment, which is
    taken at its word."""
    if sys.flags.hash_randomization == 0:
        return seed == "0"
    return seed != "0" and os.environ.get("PYTHONHASHSEED") == seed


def platform_name() -> str:
    """``platform.platform()`` without the ``platform`` module on Linux with glibc (at every
    Context start, for the event log's environment record: importing it, with its regular
    expressions, was ~3 ms of a job's start-up) nor the ``uname -p`` subprocess it runs
    there: the processor it asks for is "unknown" or the machine, both of which
    ``platform()`` leaves out."""
    uname = os.uname()
    try:  # what platform.libc_ver() reads first
        libc = os.confstr("CS_GNU_LIBC_VERSION").split(maxsplit=1)
    except (AttributeError, ValueError, OSError):
        libc = []
    if uname.sysname != "Linux" or len(libc) != 2:
        import platform

        return platform.platform()
    name = "-".join(part.strip() for part in ("Linux", uname.release, uname.machine, "with",
                                              libc[0] + libc[1]) if part)
    for unsafe in ' /\\:;"()':  # platform's clean-up of the parts
        name = name.replace(unsafe, "_" if unsafe == " " else "-")
    name = name.replace("unknown", "")
    while "--" in name:
        name = name.replace("--", "-")
    return name.rstrip("-")


def full_python_version() -> str:
    """``platform.python_version()`` (e.g. ``3.11.7``), read from ``sys.version`` as it is."""
    return sys.version.split()[0]
