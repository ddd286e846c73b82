"""``vega logs`` and ``vega kill``: an application's stored output; cancelling it."""

from __future__ import annotations

import sys
from typing import Optional

import click

from vega_runtime import ids
from vega_runtime.deploy.daemon_main import secret_file_for

from .errors import CommandError, UsageError
from .options import (cluster_master_option, cluster_master_spec, master_unreachable,
                      secret_file_option)


def master_connection(master_url: Optional[str], secret_file: Optional[str],
                      command: str = "submit"):
    """A connection to the master ``vega COMMAND`` asks (``cluster_master_spec``)."""
    from vega_runtime.net.connection import Connection, load_secret
    from vega_runtime.net.framing import ProtocolError

    spec, url, unnamed = cluster_master_spec(master_url, f"vega {command}")
    try:
        return Connection.connect(spec.host, spec.port,
                                  load_secret(secret_file_for(secret_file)) or b"", timeout=5)
    except (OSError, ProtocolError) as exc:
        raise master_unreachable(url, exc, unnamed)


def check_app_id(app_id: str) -> None:
    """Refuse, before asking the master, an id that no application or driver can have (the
    master would drop a connection that sent it: ids become file names there): a usage
    error, exit code 2."""
    if not ids.APP_OR_DRIVER.matches(app_id):
        raise UsageError(f"{app_id!r} is no application or driver id: ids look like "
                         f"{ids.APP_OR_DRIVER.example}", "List them with: vega status")


@click.command("logs")
@click.argument("app_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the application ends.")
@cluster_master_option()
@secret_file_option()
def logs(app_id: str, follow: bool, master_url: Optional[str], secret_file: Optional[str]) -> None:
    """Print the task output of application APP_ID, as stored by the master."""
    check_app_id(app_id)
    conn = master_connection(master_url, secret_file, "logs")
    end = stream_logs(conn, app_id, follow)  # Ctrl-C: 130
    if end.state == "unknown":
        raise CommandError(f"the master knows no application {app_id!r}",
                           "List applications with: vega status")


def stream_logs(conn, app_id: str, follow: bool):
    """Copy an application's (or driver's) stored output to stdout, a cluster-mode driver's
    standard error to stderr (as the driver in ``vega submit`` writes them); returns the
    LogEnd."""
    from vega_runtime.net.messages import FollowLogs, LogChunk, LogEnd

    try:
        conn.send(FollowLogs(app_id, follow))
        while True:
            message = conn.recv()
            if isinstance(message, LogChunk):
                stream = sys.stderr if message.stream == "stderr" else sys.stdout
                stream.write(message.text)
                stream.flush()
            elif isinstance(message, LogEnd):
                return message
    finally:
        conn.close()


@click.command("kill")
@click.argument("app_id")
@cluster_master_option()
@secret_file_option()
def kill(app_id: str, master_url: Optional[str], secret_file: Optional[str]) -> None:
    """Cancel application APP_ID: its tasks and executors stop."""
    from vega_runtime.net.messages import KillApplication

    check_app_id(app_id)
    conn = master_connection(master_url, secret_file, "kill")
    try:
        conn.send(KillApplication(app_id))
        reply = conn.recv()
    finally:
        conn.close()
    if not reply.killed:
        raise CommandError(reply.message,
                           "List applications with: vega status")
    click.echo(f"killed {app_id}")
