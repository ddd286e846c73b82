"""``vega status``: the master, its workers and applications."""

from __future__ import annotations

import json
import os
import time
from typing import Optional

import click
from rich.console import Console
from rich.table import Table

from vega_runtime.errors import MasterURLError
from vega_runtime.master_url import parse_master

from .daemon_run import secret_file_for
from .daemons import SECRET_FILE_HELP
from .errors import EXIT_UNREACHABLE, EXIT_USAGE, fail


def fetch_status(master_url: str, secret_file: str) -> dict:
    from vega_runtime.net.connection import Connection, load_secret
    from vega_runtime.net.framing import ProtocolError
    from vega_runtime.net.messages import RequestStatus, StatusReply

    spec = parse_master(master_url)
    try:
        conn = Connection.connect(spec.host, spec.port, load_secret(secret_file) or b"", timeout=5)
        try:
            conn.send(RequestStatus())
            reply = conn.recv()
        finally:
            conn.close()
    except (OSError, ProtocolError) as exc:
        fail(f"cannot reach the master at {master_url}: {exc}", EXIT_UNREACHABLE,
             "Is it running (vega start-master / vega master)? Is the address right, and does "
             "this host have the cluster secret?")
    if not isinstance(reply, StatusReply):
        fail(f"unexpected reply from {master_url}: {type(reply).__name__}", EXIT_UNREACHABLE)
    return json.loads(reply.status_json)


@click.command("status")
@click.option("--master", "master_url", help="vega://host:port (default: VEGA_MASTER).")
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON form.")
@click.option("--secret-file", help=SECRET_FILE_HELP)
@click.option("--token", "print_token", is_flag=True,
              help="Print the HTTP API token (for the web UI from other hosts, and kill).")
def status(master_url: Optional[str], as_json: bool, secret_file: Optional[str],
           print_token: bool) -> None:
    """Show the master, its workers and applications."""
    if print_token:
        from vega_runtime.deploy.http_api import api_token
        from vega_runtime.net.connection import load_secret

        click.echo(api_token(load_secret(secret_file_for(secret_file))))
        return
    url = master_url or os.environ.get("VEGA_MASTER") or "vega://127.0.0.1:7077"
    try:
        if parse_master(url).kind != "vega":
            raise MasterURLError(url)
    except MasterURLError:
        fail(f"vega status needs a vega://host:port master, not {url!r}", EXIT_USAGE)
    data = fetch_status(url, secret_file_for(secret_file))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    render(data, Console())


def render(data: dict, console: Console) -> None:
    m = data["master"]
    console.print(f"[bold]master[/] {m['url']}  version {m['version']}  "
                  f"up {_duration(m['uptime_seconds'])}")
    workers = Table(title="workers", title_justify="left")
    workers.add_column("id", overflow="fold")
    for column in ("host", "state", "cores", "memory", "heartbeat", "executors"):
        workers.add_column(column)
    for w in data["workers"]:
        style = {"alive": "green", "lost": "yellow", "dead": "red"}.get(w["state"], "")
        workers.add_row(w["id"], w["host"], f"[{style}]{w['state']}[/]",
                        f"{w['cores_used']}/{w['cores']}",
                        f"{w['memory_used_bytes'] >> 20}/{w['memory_bytes'] >> 20} MiB",
                        f"{w['last_heartbeat_seconds_ago']}s ago", str(len(w["executors"])))
    console.print(workers)
    apps = Table(title="applications", title_justify="left")
    apps.add_column("id", overflow="fold")
    for column in ("name", "state", "cores", "started", "duration"):
        apps.add_column(column)
    for a in data["applications"]:
        apps.add_row(a["id"], a["name"], a["state"], str(a["cores"]),
                     time.strftime("%H:%M:%S", time.localtime(a["started"])),
                     _duration(a["duration_seconds"]))
    console.print(apps)
    if data.get("drivers"):
        drivers = Table(title="drivers (cluster deploy mode)", title_justify="left")
        drivers.add_column("id", overflow="fold")
        for column in ("name", "state", "restarts", "exit code", "duration"):
            drivers.add_column(column)
        for d in data["drivers"]:
            drivers.add_row(d["id"], d["name"], d["state"], str(d["restarts"]),
                            "" if d["exit_code"] is None else str(d["exit_code"]),
                            _duration(d["duration_seconds"]))
        console.print(drivers)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
