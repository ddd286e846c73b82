"""Version checks between cluster processes: same Python minor version, same Vega."""

from __future__ import annotations

import sys
from typing import Optional

from ._version import __version__


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def version_mismatch(peer_python: str, peer_vega: str) -> Optional[str]:
    """None when compatible, else a sentence naming both sides' versions."""
    problems = []
    if peer_python != python_version():
        problems.append(f"Python {python_version()} but the peer runs Python {peer_python}")
    if peer_vega != __version__:
        problems.append(f"Vega {__version__} but the peer runs Vega {peer_vega}")
    if not problems:
        return None
    return "; ".join(problems) + ": install the same versions everywhere"
