"""Whether what a command writes to a stream is plain lines whatever rich would find, so
that it can be written without importing rich (~45 ms of a ~250 ms command): progress
(``progress.ProgressDisplay``) and errors (``errors.print_error``)."""

from __future__ import annotations

import builtins
import os

#: the control characters rich drops from text it prints (``rich.control``: bell,
#: backspace, vertical tab, form feed, carriage return): a plain line drops them too
DROPPED_CONTROLS = {7: None, 8: None, 11: None, 12: None, 13: None}


def surely_lines(stream) -> bool:
    """Whether output on ``stream`` is plain lines whatever rich would find (a Console on
    it: no terminal, no Jupyter): outside IPython (rich looks for its ``get_ipython``),
    with neither ``TTY_COMPATIBLE=1`` nor ``FORCE_COLOR`` set, and not a terminal.  Most
    jobs' and commands' output is a file or a pipe."""
    if hasattr(builtins, "get_ipython") or os.environ.get("TTY_COMPATIBLE") == "1" \
            or os.environ.get("FORCE_COLOR"):
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed: rich says no terminal too
        return True


def plain_line(text: str) -> str:
    """``text`` as rich prints it, without markup, where its lines are plain: its control
    characters dropped (``DROPPED_CONTROLS``), its tabs expanded to 8 columns, and a
    newline.

    >>> plain_line("a\\rb\\x07 [bold]c[/]\\td")
    'ab [bold]c[/]   d\\n'
    """
    return text.translate(DROPPED_CONTROLS).expandtabs(8) + "\n"
