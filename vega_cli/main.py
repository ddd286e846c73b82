"""``vega``: one click group; each command lives in its own module, imported
only when that command runs (so ``vega master`` does not load ``submit``)."""

from __future__ import annotations

import importlib
from typing import List, Optional

import click

from vega_runtime import __version__

#: command name -> "module:attribute" defining it
COMMANDS = {
    "submit": "vega_cli.submit:submit",
    "shell": "vega_cli.shell:shell",
    "master": "vega_cli.daemons:master",
    "worker": "vega_cli.daemons:worker",
    "status": "vega_cli.status:status",
    "logs": "vega_cli.apps:logs",
    "kill": "vega_cli.apps:kill",
    "start-master": "vega_cli.background:start_master",
    "stop-master": "vega_cli.background:stop_master",
    "start-cluster": "vega_cli.cluster:start_cluster",
    "stop-cluster": "vega_cli.cluster:stop_cluster",
    "start-workers": "vega_cli.cluster:start_workers",
    "stop-workers": "vega_cli.cluster:stop_workers",
    "history": "vega_cli.history:history",
    "slurm-cluster": "vega_cli.slurm_cluster:slurm_cluster",
    "slurm-worker": "vega_cli.slurm_cluster:slurm_worker",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vega")
def cli() -> None:
    """Vega: a Spark-style distributed data engine in Python."""


def main(argv: Optional[List[str]] = None) -> None:
    """Run ``vega ARGV`` (default: this process's arguments); exits with its code."""
    cli(args=argv, prog_name="vega")


if __name__ == "__main__":
    main()
