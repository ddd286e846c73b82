"""``vega logs`` and ``vega kill``: an application's stored output; cancelling it."""

from __future__ import annotations

import os
import sys
from typing import Callable, Dict, Optional

import click

from vega_runtime import ids
from vega_runtime.net.connection import secret_file_for

from .errors import CommandError, UsageError, print_notice
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


def master_patience() -> float:
    """How long a cluster command waits for each answer of the master (one that accepts
    connections and never answers: stopped, frozen): vega.master.reconnect_timeout."""
    from vega_runtime.config import Config

    return Config.load()["vega.master.reconnect_timeout"]


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
    """Print the task output of application APP_ID, as stored by the master: all that it
    keeps, its rotated files oldest first (with --follow, then what comes)."""
    check_app_id(app_id)
    if follow:  # across a restart of the master too
        from vega_runtime.config import Config

        url = cluster_master_spec(master_url, "vega logs")[1]
        end = follow_run(lambda: master_connection(master_url, secret_file, "logs"), url,
                         app_id, Config.load()["vega.master.reconnect_timeout"])
    else:
        url, unnamed = cluster_master_spec(master_url, "vega logs")[1:]
        try:
            end = stream_logs(master_connection(master_url, secret_file, "logs"), app_id, False,
                              reply_timeout=master_patience())
        except TimeoutError as exc:
            raise master_unreachable(url, exc, unnamed) from None
    if end.state == "unknown":
        raise CommandError(f"the master knows no application {app_id!r}",
                           "List applications with: vega status")


def stream_logs(conn, app_id: str, follow: bool, offsets: Optional[Dict[str, int]] = None,
                reply_timeout: Optional[float] = None):
    """Copy an application's (or driver's) stored output to stdout, what its tasks (or a
    cluster-mode driver) wrote to standard error to stderr (as ``vega submit`` prints
    them); returns the
    LogEnd.  ``offsets`` (``{"stdout": N, "stderr": M, "generation": G}``): where to start
    in the stored streams (and which rotated generation of them), kept up to date with what was printed, so that a follower whose master went
    away can go on from there.  ``reply_timeout``: how long each message may take
    (``TimeoutError`` past it; None: no bound, as a followed run may print nothing for
    hours)."""
    from vega_runtime.net.messages import FollowLogs, LogChunk, LogEnd

    try:
        conn.send(FollowLogs(app_id, follow, [] if offsets is None else
                             [offsets.get("stdout", 0), offsets.get("stderr", 0)], True,
                             -1 if offsets is None else offsets.get("generation", -1)))
        one_file = _one_file(sys.stdout, sys.stderr)
        while True:
            message = conn.recv() if reply_timeout is None else conn.recv_within(reply_timeout)
            if isinstance(message, LogChunk):
                _print_runs(message.runs(), one_file)
                if offsets is not None and message.generation >= 0 and \
                        message.generation != offsets.get("generation", -1):
                    # files of a generation after: nothing of them was printed before this
                    offsets.update(stdout=0, stderr=0, generation=message.generation)
                if offsets is not None and message.offset >= 0:
                    offsets[message.stream] = message.offset
                other = "stdout" if message.stream == "stderr" else "stderr"
                if offsets is not None and message.then_offset >= 0:
                    offsets[other] = message.then_offset
            elif isinstance(message, LogEnd):
                return message
    finally:
        conn.close()


def _one_file(out, err) -> bool:
    """Whether ``out`` and ``err`` write to the same file, pipe or terminal (``2>&1``)."""
    try:
        a, b = os.fstat(out.fileno()), os.fstat(err.fileno())
    except (OSError, ValueError, AttributeError):  # (io.StringIO has no fileno)
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _print_runs(runs, one_file: bool) -> None:
    """Each ``(stream, text)`` run on its stream, in order; into one file (``one_file``:
    stdout and stderr are the same) at once, as what one write puts there."""
    if one_file and len(runs) > 1:
        try:
            sys.stdout.write("".join(text for _, text in runs))
        except UnicodeEncodeError:  # (stderr's text escaped as stderr escapes it, below)
            pass
        else:
            sys.stdout.flush()
            return
    for stream, text in runs:
        if text:
            out = sys.stderr if stream == "stderr" else sys.stdout
            out.write(text)
            out.flush()


def follow_run(connect: Callable[[], object], url: str, run_id: str,
               reconnect_timeout: float):
    """Follow a cluster-mode driver's (or an application's) output to its end (``vega
    submit --deploy-mode cluster``, as spark-submit's
    spark.standalone.submit.waitAppCompletion; ``vega logs --follow``); returns the LogEnd.
    ``connect()``: a new connection to the master at ``url``.  A master that goes away
    meanwhile (a crash, a restart: the restarted master starts a supervised driver again)
    is connected to again, with backoff, for up to ``reconnect_timeout`` seconds, and the
    output goes on from where it was, each line printed once.  Raises ``CommandError``
    when it stays away."""
    import time

    from vega_runtime.errors import VegaError
    from vega_runtime.retry import Backoff

    from .errors import stdout_closed

    offsets = {"stdout": 0, "stderr": 0}
    lost: Optional[BaseException] = None  # why the master was lost, while it is away
    away_since, backoff = 0.0, Backoff(0.1, 2.0)
    while True:
        try:
            conn = connect()
        except VegaError as exc:  # not back yet
            if lost is None:  # at the start: the usual "cannot reach the master"
                raise
            if time.monotonic() - away_since >= reconnect_timeout:
                raise _lost_master(url, run_id, lost, reconnect_timeout) from None
            time.sleep(backoff.next())
            continue
        try:
            end = stream_logs(conn, run_id, True, offsets)
        except (OSError, VegaError) as exc:  # the master went away while we followed
            if stdout_closed(exc):  # | head -1: the driver runs on; the command ends quietly
                raise
            lost, away_since, backoff = exc, time.monotonic(), Backoff(0.1, 2.0)
            print_notice(
                f"vega: lost the master while following {run_id} ({exc}); "
                f"following it again once the master is back (for up to "
                f"{reconnect_timeout:g}s, vega.master.reconnect_timeout)", style="yellow")
            continue
        if end.state == "unknown" and lost is not None:
            raise CommandError(f"the master came back without {run_id} (it restarted "
                               "without its recovery state): its end and exit code are "
                               "unknown", "See the master's log, and: vega status")
        return end


def _lost_master(url: str, run_id: str, exc: BaseException, waited: float) -> CommandError:
    return CommandError(f"lost the master while following {run_id} ({exc}; it was not back "
                        f"within {waited:g}s); it may still be running",
                        f"Follow it again with: vega logs --follow --master {url} {run_id}")


@click.command("kill")
@click.argument("app_id")
@cluster_master_option()
@secret_file_option()
def kill(app_id: str, master_url: Optional[str], secret_file: Optional[str]) -> None:
    """Kill application APP_ID (its tasks and executors stop) or cluster-mode driver
    DRIVER_ID (spark-submit --kill), with the application it runs."""
    from vega_runtime.net.messages import KillApplication

    check_app_id(app_id)
    conn = master_connection(master_url, secret_file, "kill")
    try:
        conn.send(KillApplication(app_id))
        reply = conn.recv_within(master_patience())
    except TimeoutError as exc:
        url, unnamed = cluster_master_spec(master_url, "vega kill")[1:]
        raise master_unreachable(url, exc, unnamed) from None
    finally:
        conn.close()
    if not reply.killed:
        raise CommandError(reply.message,
                           "List applications with: vega status")
    click.echo(f"killed {app_id}")
