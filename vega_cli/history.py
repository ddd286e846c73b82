"""``vega history``: finished applications from their event logs."""

from __future__ import annotations

import json
import os
from typing import Optional

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vega_runtime import ids
from vega_runtime.config import Config
from vega_runtime.errors import UnsupportedFileSystem
from vega_runtime.io.files import local_path
from vega_runtime.io.globs import path_text
from vega_runtime.io.hdfs import HdfsSettings
from vega_runtime.net.ui_links import application_link
from vega_runtime.private_files import expand_home
from vega_runtime.scheduler.event_log import list_summaries, summary_of

from .errors import CommandError, UsageError
from .progress import counted


@click.command("history")
@click.argument("app_id", required=False)
@click.option("--dir", "directory", help="Event log directory (default: vega.eventlog.dir).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--master", "master_url",
              help="vega://host:port whose web UI shows these logs (its --event-log-dir); "
                   "default: vega.master when it is a cluster. Links to each application's "
                   "pages are printed when it answers.")
def history(app_id: Optional[str], directory: Optional[str], as_json: bool,
            master_url: Optional[str]) -> None:
    """List applications from their event logs, or summarise APP_ID."""
    conf = Config.load()
    ui = None if as_json else _master_ui(master_url or conf["vega.master"], conf)
    hdfs = HdfsSettings(conf["vega.hdfs.user"], conf["vega.hdfs.timeout"],
                        conf["vega.hdfs.datanodes"])
    directory = expand_home(directory or conf["vega.eventlog.dir"], "vega.eventlog.dir")
    try:  # s3a://, or Hadoop's hdfs:/x, which os.path would take for a local path
        directory = local_path(path_text(directory))  # file:/x (file:///x): /x
    except UnsupportedFileSystem as exc:
        raise UsageError(f"--dir {exc}") from None
    if "://" not in directory and os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(f"{directory} is a file, not an event log directory",
                         "Give the directory the drivers' vega.eventlog.dir names with --dir; "
                         "to see one application, vega history APP_ID --dir DIR")
    if "://" not in directory:
        try:
            os.listdir(directory)
        except PermissionError as exc:  # was an empty table, or "no event log directory"
            raise CommandError(f"cannot read the event log directory {directory} "
                               f"({exc.strerror}: {exc.filename})",
                               "It is another account's, or closed to this one: read it as "
                               "its owner, or give another directory with --dir") from None
        except OSError:
            pass  # missing: said below
    console = Console(width=None if Console().is_terminal else 200)
    if app_id:
        if "/" in app_id or "\0" in app_id or app_id.startswith("."):
            raise UsageError(f"{app_id!r} is no application id: ids look like "
                             f"{ids.APP.example}", "List applications with: vega history")
        summary = summary_of(directory, app_id, hdfs)
        if summary is None:
            raise CommandError(f"no event log for {app_id} in {directory}",
                               "List applications with: vega history")
        if as_json:
            click.echo(json.dumps(summary, indent=2))
            return
        _render_one(summary, console)
        if ui:
            console.print(f"web UI: {application_link(ui, summary['app_id'])}",
                          highlight=False, soft_wrap=True)
        return
    if "://" not in directory and not os.path.isdir(directory):
        raise UsageError(f"no event log directory {directory}",
                           "Drivers write event logs where vega.eventlog.dir points "
                           "(vega submit --conf vega.eventlog.dir=DIR); give that directory "
                           "with --dir")
    # the table needs no stage list: each log is read at its ends (``summarize``); --json
    # gives each application's stages, as it always has, reading every log whole
    summaries = list_summaries(directory, hdfs, stages=as_json)
    if as_json:
        click.echo(json.dumps(summaries, indent=2))
        return
    table = Table(title=f"applications ({directory})", title_justify="left")
    for column in ("id", "name", "started", "duration", "jobs", "tasks", "failed", "state"):
        table.add_column(column, overflow="fold")
    # names, file names and errors are any user's: Text, never markup ("[/daily]" would
    # fail the whole table)
    for s in summaries:
        table.add_row(Text(s["app_id"]), Text(s["name"] or ""),
                      _when(s["started"]),  # a log broken before its start says none
                      # (Spark's history server: an incomplete application has no duration)
                      _duration(s["duration_seconds"]) if s["finished"] or s.get("broken")
                      else "—", str(s["jobs"]), str(s["tasks"]),
                      str(s["failed_jobs"]), _state(s))
    console.print(table)
    for s in summaries if ui else ():
        if not s.get("broken"):
            console.print(f"{s['app_id']}: {application_link(ui, s['app_id'])}",
                          highlight=False, soft_wrap=True)


def _master_ui(master_url: str, conf: Config) -> Optional[str]:
    """The link that opens the web UI of the cluster master at ``master_url`` (signed in),
    or None for local masters or when it cannot be had."""
    from vega_runtime.errors import MasterURLError
    from vega_runtime.master_url import parse_master
    from vega_runtime.net.connection import resolve_secret_file

    from .status import web_ui_link

    try:
        if parse_master(master_url).kind != "vega":
            return None
    except MasterURLError:
        return None
    return web_ui_link(master_url, resolve_secret_file(conf["vega.secret.file"]))


def _duration(seconds: float, places: int = 1) -> str:
    """Under a minute to ``places`` decimals (``0.4s``), longer as ``vega status`` shows it
    (``3m07s``, ``72h00m``): an application that ran for days read ``259200.0s``.

    >>> _duration(0.42), _duration(0.42, 2), _duration(259200.0)
    ('0.4s', '0.42s', '72h00m')
    """
    from .status import duration_text

    return f"{seconds:.{places}f}s" if seconds < 60 else duration_text(seconds)


def _when(epoch: Optional[float]) -> str:
    from .status import moment_text

    return moment_text(epoch) if epoch else ""


def _state(s: dict) -> Text:
    if s.get("broken"):
        return Text.assemble(("broken", "red"), f": {s['error']}")
    if s["finished"]:
        return Text("finished")
    return Text(f"incomplete, last updated {_when(s['last_updated'])}")


def _render_one(s: dict, console: Console) -> None:
    if s.get("broken"):
        console.print(Text.assemble(("broken event log", "bold red"),
                                    f" {s['event_log']}: {s['error']}"), highlight=False)
    # (a log broken at its first line names neither)
    named = (f" {s['name']}" if s["name"] else "") + (f" on {s['master']}" if s["master"] else "")
    # a log without its end: its last event is no end (Spark's history server: incomplete)
    lasted = _duration(s["duration_seconds"], 2) if s["finished"] or s.get("broken") else \
        f"incomplete (its log has no end: running, or its driver was killed), " \
        f"last updated {_when(s['last_updated'])}"
    console.print(Text.assemble((s["app_id"], "bold"), f"{named}: {lasted}, "
                                f"{counted(s['jobs'], 'job')} ({s['failed_jobs']} failed), "
                                f"{counted(s['tasks'], 'task')} "
                                f"({counted(s['failed_tasks'], 'failed attempt')})"))
    console.print(f"task time p50 {s['task_seconds']['p50']:.3f}s, p90 "
                  f"{s['task_seconds']['p90']:.3f}s, max {s['task_seconds']['max']:.3f}s; "
                  f"shuffle {s['shuffle_written_bytes']} bytes written, "
                  f"{s['shuffle_read_bytes']} read")
    table = Table(title="stages", title_justify="left")
    for column in ("stage", "attempt", "name", "tasks", "seconds", "status", "failure"):
        table.add_column(column, overflow="fold")
    for stage in s["stages"]:
        # a stage the log has no end of: ACTIVE, timed up to the log's last event
        status = stage["status"]
        table.add_row(str(stage["stage_id"]), str(stage["attempt"]), Text(stage["name"]),
                      str(stage["tasks"]), f"{stage['seconds']:.3f}"
                      + (" so far" if status == "ACTIVE" else ""),
                      status.lower(), Text(stage["failure"] or ""))
    console.print(table)
