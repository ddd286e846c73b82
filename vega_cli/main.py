"""``vega``: one click group; each command lives in its own module."""

from __future__ import annotations

import click

from vega_runtime import __version__

from .apps import kill, logs
from .background import start_master, stop_master
from .cluster import start_cluster, start_workers, stop_cluster, stop_workers
from .daemons import master, worker
from .history import history
from .status import status
from .submit import submit


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vega")
def cli() -> None:
    """Vega: a Spark-style distributed data engine in Python."""


for command in (submit, master, worker, status, logs, kill, start_master, stop_master,
                start_cluster, stop_cluster, start_workers, stop_workers, history):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="vega")


if __name__ == "__main__":
    main()
