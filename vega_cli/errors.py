"""Turning failures into one message and an exit code, in one place."""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_CANCELLED = 130

_CLI_DIR = os.path.dirname(os.path.abspath(__file__))


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


def user_frames(exc: BaseException) -> str:
    """The traceback of an exception raised by the user's job, without Vega's frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_CLI_DIR) and "runpy" not in f.filename
              and "vega_runtime" not in f.filename]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.StackSummary.from_list(frames).format()
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)
