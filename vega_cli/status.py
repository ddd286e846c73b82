"""``vega status``: the master, its workers and applications."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Optional

import click

from vega_runtime.errors import MasterURLError
from vega_runtime.master_url import parse_master
from vega_runtime.net.connection import secret_file_for

from .errors import CommandError, UsageError
from .options import (cluster_master_option, cluster_master_spec, cluster_master_url,
                      master_unreachable, secret_file_option)

if TYPE_CHECKING:  # (rich is imported to print a table: other commands use this module)
    from rich.console import Console


def fetch_status(master_url: str, secret_file: str, unnamed: str = "") -> dict:
    """``unnamed``: the hint when nobody named this master (``cluster_master_url``)."""
    from vega_runtime.net.framing import ProtocolError

    try:
        return request_status(master_url, secret_file)
    except (OSError, ProtocolError) as exc:
        raise master_unreachable(master_url, exc, unnamed)


def request_status(master_url: str, secret_file: str) -> dict:
    """The master's status document; OSError or ProtocolError if it cannot be had."""
    from vega_runtime.net.connection import load_secret
    from vega_runtime.net.status_request import fetch_master_status

    from .apps import master_patience

    spec = parse_master(master_url)
    return fetch_master_status(spec.host, spec.port, load_secret(secret_file) or b"",
                               reply_timeout=master_patience())


def http_token(secret_file: str, status: Optional[dict]) -> Optional[str]:
    """The master's HTTP API token: derived from the cluster secret, else (a master without
    one, on this host) read from the token file it names in its status."""
    from vega_runtime.deploy.http_api import api_token, read_token_file
    from vega_runtime.net.connection import load_secret

    secret = load_secret(secret_file)
    if secret:
        return api_token(secret)
    token_file = ((status or {}).get("master") or {}).get("token_file")
    return read_token_file(token_file) if token_file else None


def web_ui_link(master_url: str, secret_file: str, status: Optional[dict] = None) -> Optional[str]:
    """``https://HOST:PORT/?token=...`` for the master at ``master_url``, or None when the
    master cannot be asked for its web UI port or the token cannot be had."""
    from vega_runtime.deploy.http_api import ui_link
    from vega_runtime.net.framing import ProtocolError

    if status is None:
        try:
            status = request_status(master_url, secret_file)
        except (OSError, ProtocolError):
            return None
    port = status.get("master", {}).get("webui_port")
    token = http_token(secret_file, status)
    return ui_link(parse_master(master_url).host, port, token) if port and token else None


@click.command("status")
@click.argument("submission_id", metavar="[ID]", required=False)
@cluster_master_option()
@click.option("--json", "as_json", is_flag=True, help="Print the documented JSON form.")
@secret_file_option()
@click.option("--token", "print_token", is_flag=True,
              help="Print the HTTP API token (Authorization: Bearer TOKEN) and, on stderr, the "
                   "link that opens the web UI.")
@click.option("--ca-cert", "print_ca", is_flag=True,
              help="Print the cluster CA's certificate (PEM), made from the secret, for HTTPS "
                   "clients to trust: curl --cacert, Prometheus tls_config.ca_file (not a "
                   "browser, which refuses its Ed25519 signature: docs/monitoring.md).")
def status(submission_id: Optional[str], master_url: Optional[str], as_json: bool,
           secret_file: Optional[str], print_token: bool, print_ca: bool) -> None:
    """Show the master, its workers and applications; with ID, one cluster-mode driver
    (spark-submit --status ID) or application: its state, host, start, application."""
    url, unnamed = cluster_master_url(master_url)
    if print_ca:
        from vega_runtime.net.connection import default_secret_file, load_secret
        from vega_runtime.net.tls import ca_certificate_pem

        secret = load_secret(secret_file_for(secret_file))
        if not secret:
            click.echo("vega: no cluster secret here (no --secret-file, no VEGA_SECRET_FILE, "
                       f"no {default_secret_file()}): this is the well-known CA of daemons "
                       "without one (loopback only)", err=True)
        click.echo(ca_certificate_pem(secret or b"").decode(), nl=False)
        return
    if print_token:
        return _print_token(url, secret_file_for(secret_file))
    if submission_id is not None:
        from .apps import check_app_id

        check_app_id(submission_id)
    cluster_master_spec(master_url, "vega status")
    data = fetch_status(url, secret_file_for(secret_file), unnamed)
    if submission_id is not None:
        return _print_one(data, submission_id, as_json)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a pipe or file: rich's 80 columns would fold the ids
        console = Console(width=max(console.width, PIPED_WIDTH))
    render(data, console)


def _print_one(data: dict, submission_id: str, as_json: bool) -> None:
    """``vega status ID``: one ``name  value`` line each (Spark's state words), or JSON."""
    from vega_runtime.deploy.master_status import submission_status

    record = submission_status(data, submission_id)
    if record is None:
        raise CommandError(f"the master knows no application or driver {submission_id!r}",
                           "It keeps the latest ended ones only (vega.master.retained_drivers, "
                           "vega.master.retained_applications); list them with: vega status")
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    driver = submission_id.startswith("driver-")
    started = moment_text(record["started"])
    lines = [("driver" if driver else "application", submission_id),
             ("state", record["spark_state"]), ("name", record["name"])]
    if driver:
        application = record["application"] and \
            f"{record['application']} ({record['application_state']})"
        lines += [("host", record["host"]), ("pid", str(record["pid"] or "")),
                  ("started", started), ("restarts", str(record["restarts"])),
                  ("exit code", "" if record["exit_code"] is None else str(record["exit_code"])),
                  ("application", application), ("error", record.get("error", ""))]
    else:
        lines += [("driver", record["driver_id"] or record["driver"]), ("started", started),
                  ("executors", str(record["executors"]))]
    lines.append(("duration", duration_text(record["duration_seconds"])))
    for name, value in lines:
        if value:
            click.echo(f"{name:<13}{value}")


#: columns of ``vega status`` written to a pipe or file (the tables take what they need)
PIPED_WIDTH = 200


def _print_token(url: str, secret_file: str) -> None:
    """The token on stdout (for scripts: ``Authorization: Bearer $(vega status --token)``),
    and the link that opens the web UI on stderr, when the master can be asked for it."""
    from vega_runtime.net.framing import ProtocolError

    unasked = ""
    try:
        status = request_status(url, secret_file) if parse_master(url).kind == "vega" else None
    except (OSError, ProtocolError, MasterURLError) as exc:
        status, unasked = None, str(exc)
    token = http_token(secret_file, status)
    if token is None:
        raise UsageError("no cluster secret here, and the master's token file cannot be read",
                         "Run this as the master's user on its host (it writes "
                         "MASTER_WORK_DIR/master.token), or give the cluster's secret "
                         "(--secret-file)")
    click.echo(token)
    if unasked:  # the token of this secret, which the master may not have
        click.echo(f"vega: warning: the master at {url} could not be asked ({unasked}): this "
                   f"is the token of the secret in {secret_file}, which works only if the "
                   f"master has that secret", err=True)
    link = web_ui_link(url, secret_file, status) if status else None
    if link:
        click.echo(f"web UI: {link}", err=True)


def _executors(app: dict) -> str:
    """``3``, or ``3 (requested 5)`` while dynamic allocation asks for another number."""
    count, requested = app.get("executors", app["cores"]), app.get("requested_executors")
    return str(count) if requested is None or requested == count else \
        f"{count} (requested {requested})"


def _resource_use(name: str, use: dict) -> str:
    """``gpu 1/2 used``, as Spark's master shows a worker's resources, and of the addresses
    an application's executors share, how many hold each of how many that may: ``gpu 1/2
    used (0: 2/4 executors)``.

    >>> _resource_use("gpu", {"addresses": ["0", "1"], "free": ["1"], "used": ["0"],
    ...                       "shared": {"0": {"application": "app-1", "executors": 2,
    ...                                        "most": 4}}})
    'gpu 1/2 used (0: 2/4 executors)'
    >>> _resource_use("gpu", {"addresses": ["0", "1"], "free": ["1"]})  # (an older master)
    'gpu 1/2 used'
    """
    used = use.get("used", [a for a in use["addresses"] if a not in use["free"]])
    shared = " ".join(f"{address}: {s['executors']}/{s['most']} executors"
                      for address, s in (use.get("shared") or {}).items())
    return f"{name} {len(used)}/{len(use['addresses'])} used" + (f" ({shared})" if shared else "")


def render(data: dict, console: "Console") -> None:
    from rich.table import Table
    from rich.text import Text

    m = data["master"]
    console.print(f"[bold]master[/] {m['url']}  version {m['version']}  "
                  f"up {duration_text(m['uptime_seconds'])}")
    workers = Table(title="workers", title_justify="left")
    workers.add_column("id", overflow="fold")
    for column in ("host", "state", "cores", "memory", "heartbeat", "executors", "labels"):
        workers.add_column(column, no_wrap=True)
    # cells as Text, not markup: a table of hundreds of workers renders in half the time
    for w in data["workers"]:
        style = {"alive": "green", "lost": "yellow", "dead": "red"}.get(w["state"], "")
        workers.add_row(Text(w["id"]), Text(w["host"]), Text(w["state"], style=style),
                        f"{w['cores_used']}/{w['cores']}",
                        f"{w['memory_used_bytes'] >> 20}/{w['memory_bytes'] >> 20} MiB",
                        _heartbeat(w["last_heartbeat_seconds_ago"]), str(len(w["executors"])),
                        Text(",".join([*(w.get("labels") or []), *(
                            _resource_use(name, r)
                            for name, r in (w.get("resources") or {}).items())])))
    console.print(workers)
    apps = Table(title="applications", title_justify="left")
    apps.add_column("id", overflow="fold")
    for column in ("name", "state", "cores", "executors", "started", "duration"):
        apps.add_column(column)
    # names are any user's: Text, never markup ("[/daily]" would fail the whole table)
    for a in data["applications"]:
        apps.add_row(Text(a["id"]), Text(a["name"]), Text(a["state"]), str(a["cores"]),
                     _executors(a),
                     time.strftime("%H:%M:%S", time.localtime(a["started"])),
                     duration_text(a["duration_seconds"]))
    console.print(apps)
    for a in data["applications"]:
        if a.get("waiting_reason"):
            console.print(Text(f"{a['id']} waits: {a['waiting_reason']}", style="yellow"))
    if data.get("drivers"):
        drivers = Table(title="drivers (cluster deploy mode)", title_justify="left")
        drivers.add_column("id", overflow="fold")
        for column in ("name", "state", "restarts", "exit code", "duration"):
            drivers.add_column(column)
        for d in data["drivers"]:
            drivers.add_row(Text(d["id"]), Text(d["name"]), Text(d["state"]), str(d["restarts"]),
                            "" if d["exit_code"] is None else str(d["exit_code"]),
                            duration_text(d["duration_seconds"]))
        console.print(drivers)


def _heartbeat(seconds_ago: Optional[float]) -> str:
    """``1.5s ago``; ``none yet`` for a worker known from the recovery state only (the
    restarted master has not heard from it)."""
    return "none yet" if seconds_ago is None else f"{seconds_ago}s ago"


def moment_text(epoch: float) -> str:
    """A moment as ``vega status`` and ``vega history`` show one: its date and local time,
    ``2026-12-07 11:32:05``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def duration_text(seconds: float) -> str:
    """``1.0s``, ``42s``, ``3m07s``, ``52h10m``: a duration as ``vega status`` shows it
    (under 10 s to a tenth, so an application of 0.98 s does not read ``0s``).

    >>> duration_text(0.98), duration_text(42.7), duration_text(187), duration_text(187800.0)
    ('1.0s', '42s', '3m07s', '52h10m')
    """
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
