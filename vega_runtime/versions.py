"""What cluster processes must share: the Python minor version, Vega's, the hash seed."""

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
    """
    seed = (os.environ if environ is None else environ).get("PYTHONHASHSEED", "0")
    return seed if ids.HASH_SEED.matches(seed) else "0"


def hashes_as(seed: str) -> bool:
    """Whether ``hash()`` here is that of a process started with ``PYTHONHASHSEED=seed``.
    Seed 0 shows in ``sys.flags``; another fixed seed only in the environment, which is
    taken at its word."""
    if sys.flags.hash_randomization == 0:
        return seed == "0"
    return seed != "0" and os.environ.get("PYTHONHASHSEED") == seed
