"""``--verbose``: the resolved settings and where each came from (vega submit, vega master,
vega worker)."""

from __future__ import annotations

from typing import Iterable, Optional

from vega_runtime.config import Config, settings_used_by

from .errors import error_console


def print_config(conf: Config, keys: Optional[Iterable[str]] = None,
                 title: str = "resolved configuration") -> None:
    """A table of ``keys`` (default: every setting) with their values and origins, on
    stderr, nothing of them cut short: on a narrow terminal a long one folds onto a second
    line; written to a pipe or file the table takes the width it needs (rich's 80 columns
    cut setting names to "vega.dynamic_allocation.cached_executor_idl…")."""
    from rich.table import Table
    from rich.text import Text

    from .status import PIPED_WIDTH

    table = Table(title=title, show_lines=False)
    for column in ("setting", "value", "from"):
        table.add_column(column, overflow="fold")
    for key in sorted(conf if keys is None else keys):  # (Text: a value is never markup)
        table.add_row(Text(key), Text(_show(conf[key])), Text(conf.origin(key)))
    console = error_console()
    if not console.is_terminal:
        console.width = max(console.width, PIPED_WIDTH)
    console.print(table)


def print_daemon_config(conf: Config, role: str) -> None:
    """``vega master --verbose`` / ``vega worker --verbose``: the settings the role uses."""
    print_config(conf, [s.key for s in settings_used_by(role)], f"vega {role}: resolved settings")


def _show(value) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)
