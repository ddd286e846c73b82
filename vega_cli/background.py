"""``vega start-master`` / ``stop-master``: the master as a background daemon with a pidfile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Optional

import click

from vega_runtime.private_files import make_private_dir, open_private
from vega_runtime.processes import pidfile_process, stop_daemon, work_dir_daemon

from .daemons import master_option
from .errors import CommandError
from .options import INSTALLED_SECRET_FILE, ensure_secret_file, secret_file_option


def _pidfile(work_dir: str) -> str:
    return os.path.join(work_dir, "master.pid")


def _master_settings(**given):
    """The master's settings as ``vega master`` resolves them (its defaults <
    conf/vega-defaults.yaml < VEGA_* < the options ``given``, those not None): the master
    started in the background and the one stopped are those of the same work dir and ports."""
    from vega_runtime.deploy.daemon_main import MASTER_OPTIONS, daemon_config

    return daemon_config(MASTER_OPTIONS, given, None)


def _installed_secret(work_dir: str) -> Optional[str]:
    """The cluster secret ``vega start-cluster`` installed in this work dir, if it did: the
    master restarted there by hand needs the secret its workers and drivers hold, not the
    default one (which may be another, or be created)."""
    installed = os.path.join(work_dir, INSTALLED_SECRET_FILE)
    if not os.path.isfile(installed):
        return None
    click.echo(f"using the cluster secret vega start-cluster installed in this work dir: "
               f"{installed}")
    return installed


def read_pid(path: str) -> Optional[int]:
    """The pid in ``path`` if that process is alive and is a Vega master, else None."""
    return pidfile_process(path, "master")[0]


@click.command("start-master")
@click.option("--host", help="Address workers and drivers reach the master at (default: "
                             "vega.master.host, else this machine's address).")
@click.option("--bind", help="Address to listen on (default: the --host address).")
@master_option("--port", "port", "Port for workers and drivers.", type=int)
@master_option("--webui-port", "webui_port", "HTTPS port (UI, JSON API, /metrics).", type=int)
@master_option("--work-dir", "work_dir", "The master's directory.",
               type=click.Path(file_okay=False))
@secret_file_option("Created (mode 0600) when missing.")
def start_master(host: Optional[str], bind: Optional[str], port: Optional[int],
                 webui_port: Optional[int], work_dir: Optional[str],
                 secret_file: Optional[str]) -> None:
    """Start the master in the background (pidfile in the work dir)."""
    conf = _master_settings(port=port, webui_port=webui_port, work_dir=work_dir,
                            secret_file=secret_file)
    asked = (port, webui_port)  # on the command line: a running master must have them
    port, webui_port = conf["vega.master.port"], conf["vega.master.ui.port"]
    work_dir, secret_file = conf["vega.master.work_dir"], conf["vega.secret.file"] or None
    try:
        make_private_dir(work_dir)
    except OSError as exc:  # a file in the way, no permission: a usage error, not a bug
        from vega_runtime.errors import DaemonStartFailed

        raise DaemonStartFailed(
            f"the master in {os.path.abspath(work_dir)}",
            f"its work dir cannot be made ({exc.strerror or exc}: "
            f"{exc.filename or work_dir}): give one it can create and write (--work-dir)"
        ) from None
    pidfile = _pidfile(work_dir)
    running = read_pid(pidfile)
    if running:
        _running_master(work_dir, running, *asked)
        return
    secret = ensure_secret_file(secret_file or os.environ.get("VEGA_SECRET_FILE")
                                or _installed_secret(work_dir))
    ready = os.path.join(work_dir, "master.ready")
    if os.path.exists(ready):
        os.unlink(ready)
    out_path = os.path.join(work_dir, "master.out")
    with open_private(out_path, "ab") as out:
        out_start = out.tell()  # this master's output comes after
        addresses = [*(["--host", host] if host else []), *(["--bind", bind] if bind else [])]
        proc = subprocess.Popen([sys.executable, "-m", "vega_cli.main", "master", *addresses,
                                 "--port", str(port), "--webui-port", str(webui_port),
                                 "--work-dir", work_dir, "--secret-file", secret,
                                 "--ready-file", ready],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        if proc.poll() is not None:
            from vega_runtime.deploy.daemon_main import start_error

            why, _, hint = start_error(out_path, out_start).partition("\n")
            why = why.split("error: ", 1)[-1] or f"it exited with code {proc.returncode}"
            raise CommandError(f"the master did not start: {why}",
                               "\n".join(filter(None, [hint, f"(its output: {out_path})"])))
        if time.monotonic() > deadline:
            proc.terminate()  # no master half started is left behind
            proc.wait()
            raise CommandError("the master did not start listening within 30s, so it was "
                               f"stopped", f"see {out_path} and "
                               f"{os.path.join(work_dir, 'master.log')}")
        time.sleep(0.05)
    with open_private(pidfile, "w") as fh:
        fh.write(f"{proc.pid}\n")
    with open(ready) as fh:
        ports = json.load(fh)
    local = ports.get("host") or "127.0.0.1"
    # the URL workers, drivers and vega status need: --host may have been left to default
    from vega_runtime.net.endpoints import host_port

    click.echo(f"master started (pid {proc.pid}) at vega://{host_port(local, ports['port'])}, "
               f"web UI on port {ports['webui_port']}")
    from vega_runtime.deploy.http_api import TOKEN_FILE, read_token_file, ui_link

    token = read_token_file(os.path.join(work_dir, TOKEN_FILE))
    if token:
        click.echo(f"web UI: {ui_link(local, ports['webui_port'], token)}")
    from vega_runtime.net.tls import CA_FILE

    click.echo(f"CA certificate (for curl --cacert and Prometheus; browsers refuse it): "
               f"{os.path.abspath(os.path.join(work_dir, CA_FILE))}")


def _running_master(work_dir: str, pid: int, port: Optional[int],
                    webui_port: Optional[int]) -> None:
    """Say that the master of ``work_dir`` runs, and where; one asked for on other ports
    (``--port``, ``--webui-port``; None or 0: any) cannot start there (it would be told
    "already running" and its URL lead nowhere)."""
    from vega_runtime.errors import DaemonStartFailed
    from vega_runtime.net.endpoints import host_port

    try:
        with open(os.path.join(work_dir, "master.ready")) as fh:
            ports = json.load(fh)
        url = f"vega://{host_port(ports.get('host') or '127.0.0.1', int(ports['port']))}"
        running = (int(ports["port"]), int(ports["webui_port"]))
    except (OSError, ValueError, KeyError, TypeError):  # started before it wrote one
        click.echo(f"master already running (pid {pid})")
        return
    if any(asked and asked != have for asked, have in zip((port, webui_port), running)):
        raise DaemonStartFailed(
            f"the master in {os.path.abspath(work_dir)}",
            f"another master (pid {pid}) uses that work dir, at {url} (web UI port "
            f"{running[1]}); stop it (vega stop-master --work-dir {work_dir}) or give this "
            "one a work dir of its own")
    click.echo(f"master already running (pid {pid}) at {url}, web UI on port {running[1]}")


@click.command("stop-master")
@master_option("--work-dir", "work_dir", "The master's directory.",
               type=click.Path(file_okay=False))
@click.option("--timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds before SIGKILL.")
def stop_master(work_dir: Optional[str], timeout: float) -> None:
    """Stop the master of the work dir (started by start-master, start-cluster or by hand):
    SIGTERM, then SIGKILL; verifies it is gone."""
    work_dir = _master_settings(work_dir=work_dir)["vega.master.work_dir"]
    pidfile = _pidfile(work_dir)
    # (a master start-cluster started here has its pid in the work dir's lock)
    pid, foreign = work_dir_daemon(pidfile, work_dir, "master")
    if foreign:
        raise CommandError(f"not stopping: {foreign}")
    if pid is None:
        click.echo("master is not running")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        return
    if not stop_daemon(pid, timeout)[1]:
        raise CommandError(f"process {pid} survived SIGKILL")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    click.echo(f"master stopped (pid {pid})")
