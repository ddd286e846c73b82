"""Turning failures into one message and an exit code, in one place."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_CANCELLED = 130


def error_console() -> "Console":
    from rich.console import Console  # imported here: daemons start without rich

    return Console(file=sys.__stderr__ if sys.__stderr__ else sys.stderr, highlight=False,
                   soft_wrap=True)


def fail(message: str, code: int, hint: str = "") -> NoReturn:
    """Print ``vega: error: message`` (and a hint) and exit with ``code``."""
    from rich.markup import escape

    console = error_console()
    console.print(f"[bold red]vega: error:[/] {escape(message)}", markup=True)
    if hint:
        console.print(hint, markup=False, style="dim")
    raise SystemExit(code)

