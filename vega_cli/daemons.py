"""``vega master`` and ``vega worker``: the cluster daemons in the foreground."""

from __future__ import annotations

import os
from typing import Optional

import click

from .daemon_run import (DEATH_TIMEOUT, EVENT_LOG_DIR, WORK_DIR_TTL, WORKER_TIMEOUT, run_master,
                         run_worker)

SECRET_FILE_HELP = "File holding the cluster secret (default: VEGA_SECRET_FILE, then ~/.vega/secret)."

@click.command("master")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=7077, show_default=True, help="Port for workers and drivers.")
@click.option("--webui-port", default=8080, show_default=True, help="HTTP port (UI, JSON API).")
@click.option("--work-dir", default="work/master", show_default=True, type=click.Path(file_okay=False))
@click.option("--secret-file", help=SECRET_FILE_HELP)
@click.option("--worker-timeout", default=WORKER_TIMEOUT, show_default=True,
              help="Seconds without a heartbeat before a worker is marked lost.")
@click.option("--ready-file", hidden=True, help="Write the bound ports here as JSON once listening.")
@click.option("--daemonize", is_flag=True, help="Detach (used by start-cluster); needs --pidfile.")
@click.option("--pidfile", type=click.Path(dir_okay=False))
@click.option("--log-file", type=click.Path(dir_okay=False), help="stdout/stderr when detached.")
@click.option("--event-log-dir", default=EVENT_LOG_DIR, show_default=True,
              help="Where drivers write event logs; the UI shows finished applications from it.")
@click.option("--ui-open", "open_reads", is_flag=True,
              help="Let anyone who can reach the port read the web UI and JSON API without the "
                   "token (default: every request but /metrics needs it).")
@click.option("--ui-allowed-hosts", default="", envvar="VEGA_UI_ALLOWED_HOSTS",
              help="More host names (comma-separated) the HTTP port answers to, besides its "
                   "own names, localhost and IP addresses; * answers to any (behind a proxy).")
def master(host: str, port: int, webui_port: int, work_dir: str, secret_file: Optional[str],
           worker_timeout: float, ready_file: Optional[str], daemonize: bool,
           pidfile: Optional[str], log_file: Optional[str], event_log_dir: str,
           open_reads: bool, ui_allowed_hosts: str) -> None:
    """Run the master in the foreground."""
    run_master(host, port, webui_port, work_dir, secret_file, worker_timeout, ready_file,
               daemonize, pidfile, log_file, event_log_dir, open_reads, ui_allowed_hosts)


@click.command("worker")
@click.argument("master_url")
@click.option("--host", help="Address others reach this worker at (default: VEGA_LOCAL_IP, "
                             "then the local address routing to the master).")
@click.option("--cores", type=int, default=os.cpu_count() or 1, show_default=True)
@click.option("--memory", default="", help="Memory for executors, e.g. 8g (default: RAM - 1g).")
@click.option("--port", default=0, show_default=True, help="Shuffle service port (0: any).")
@click.option("--webui-port", default=8081, show_default=True,
              help="HTTP port for /metrics (0: any free port).")
@click.option("--work-dir", default="work/worker", show_default=True, type=click.Path(file_okay=False))
@click.option("--labels", default="", help="Comma-separated labels.")
@click.option("--secret-file", help=SECRET_FILE_HELP)
@click.option("--death-timeout", default=DEATH_TIMEOUT, show_default=True,
              help="Seconds without a master before the worker stops.")
@click.option("--work-dir-ttl", default=WORK_DIR_TTL, show_default=True,
              help="Seconds after which a finished application's work dir is deleted.")
@click.option("--daemonize", is_flag=True, help="Detach (used by start-cluster); needs --pidfile.")
@click.option("--pidfile", type=click.Path(dir_okay=False))
@click.option("--log-file", type=click.Path(dir_okay=False), help="stdout/stderr when detached.")
def worker(master_url: str, host: Optional[str], cores: int, memory: str, port: int,
           webui_port: int,
           work_dir: str, labels: str, secret_file: Optional[str], death_timeout: float,
           work_dir_ttl: float, daemonize: bool, pidfile: Optional[str],
           log_file: Optional[str]) -> None:
    """Run a worker for the master at MASTER_URL (vega://host:port) in the foreground."""
    run_worker(master_url, host, cores, memory, port, webui_port, work_dir, labels, secret_file,
               death_timeout, work_dir_ttl, daemonize, pidfile, log_file)
