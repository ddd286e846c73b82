"""``--verbose``: the resolved settings and where each came from (vega submit, vega shell,
vega master, vega worker)."""

from __future__ import annotations

import logging
from typing import Iterable, Optional

import click

from vega_runtime.config import Config
from vega_runtime.config_schema import setting_of

from .errors import error_console, print_notice

#: ``--verbose`` of ``vega submit`` and ``vega shell`` (spark-submit's and pyspark's)
VERBOSE_OPTION = click.option("--verbose", "-v", is_flag=True,
                              help="Print the resolved configuration and its sources.")


def print_driver_config(config_file: Optional[str], cli_conf: dict) -> None:
    """``--verbose`` of a driver (vega submit, vega shell): the settings it uses and, against
    a cluster, the link that opens its web UI (a local-cluster's is logged once it has
    started)."""
    from vega_runtime.config_schema import DRIVER
    from vega_runtime.master_url import parse_master
    from vega_runtime.net.connection import resolve_secret_file

    from .status import web_ui_link

    conf = Config.load(config_file=config_file, cli=cli_conf)
    print_config(conf, keys_used_by(conf, DRIVER))
    kind = parse_master(conf["vega.master"]).kind
    if kind == "local-cluster":
        logging.getLogger("vega_runtime.deploy.local_cluster").setLevel(logging.INFO)
    elif kind == "vega":
        link = web_ui_link(conf["vega.master"], resolve_secret_file(conf["vega.secret.file"]))
        print_notice(f"vega: web UI: {link or 'unavailable (the master did not say where)'}")


def print_config(conf: Config, keys: Optional[Iterable[str]] = None,
                 title: str = "resolved configuration") -> None:
    """A table of ``keys`` (default: every setting) with their values and origins, on
    stderr, a value whose key or value names a secret redacted as the event log's are
    (``event_log.redact``), nothing of them cut short: on a narrow terminal a long one folds onto a second
    line; written to a pipe or file the table takes the width it needs (rich's 80 columns
    cut setting names to "vega.dynamic_allocation.cached_executor_idl…")."""
    from rich.table import Table
    from rich.text import Text

    from vega_runtime.scheduler.event_log import redact

    from .status import PIPED_WIDTH

    table = Table(title=title, show_lines=False)
    for column in ("setting", "value", "from"):
        table.add_column(column, overflow="fold")
    for key in sorted(conf if keys is None else keys):  # (Text: a value is never markup)
        table.add_row(Text(key), Text(redact(key, _show(key, conf[key]))),
                      Text(conf.origin(key)))
    console = error_console()
    if not console.is_terminal:
        console.width = max(console.width, PIPED_WIDTH)
    console.print(table)


def print_daemon_config(conf: Config, role: str) -> None:
    """``vega master --verbose`` / ``vega worker --verbose``: the settings the role uses."""
    print_config(conf, keys_used_by(conf, role), f"vega {role}: resolved settings")


def keys_used_by(conf: Config, role: str) -> list:
    """The settings of ``conf`` that ``role`` reads: its own of vega_runtime/config_schema.py's
    table, and those of a family given (``vega.executor.env.VAR``,
    ``vega.worker.resource.NAME.amount``)."""
    return [key for key in conf if role in getattr(setting_of(key), "used_by", ())]


def _show(key: str, value) -> str:
    """``value`` as the setting takes it: a list comma-separated, an application's cores
    without a limit (0 inside) empty, as it is given (a 0 given is refused).

    >>> _show("vega.cores.max", 0), _show("vega.cores.max", 4), _show("vega.worker.cores", 0)
    ('', '4', '0')
    """
    from vega_runtime.config_schema import SETTINGS_BY_KEY
    from vega_runtime.config_values import parse_cores_limit

    if isinstance(value, tuple):
        return ",".join(value)
    setting = SETTINGS_BY_KEY.get(key)
    if setting is not None and setting.parse is parse_cores_limit and value == 0:
        return ""
    return str(value)
