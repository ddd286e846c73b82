"""``vega master`` and ``vega worker``: the cluster daemons in the foreground."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from typing import Optional

import click

from vega_runtime.config import parse_size
from vega_runtime.errors import MasterURLError, VegaError
from vega_runtime.master_url import parse_master
from vega_runtime.net.addresses import advertise_address
from vega_runtime.net.connection import load_secret

from .errors import EXIT_USAGE, fail

log = logging.getLogger("vega_cli")

SECRET_FILE_HELP = "File holding the cluster secret (default: VEGA_SECRET_FILE, then conf/vega-secret)."


def resolve_secret_file(option: Optional[str]) -> str:
    """--secret-file, else VEGA_SECRET_FILE, else conf/vega-secret if it exists, else ''."""
    path = option or os.environ.get("VEGA_SECRET_FILE") or ""
    if not path and os.path.isfile(os.path.join("conf", "vega-secret")):
        path = os.path.join("conf", "vega-secret")
    if path and not os.path.isfile(path):
        fail(f"secret file {path!r} does not exist", EXIT_USAGE,
             "Create one with: vega start-master (it writes conf/vega-secret), or point "
             "--secret-file at the cluster's secret")
    return os.path.abspath(path) if path else ""


def setup_daemon_logging(work_dir: str, name: str) -> None:
    os.makedirs(work_dir, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (logging.StreamHandler(), logging.FileHandler(os.path.join(work_dir, f"{name}.log"))):
        handler.setFormatter(fmt)
        root.addHandler(handler)


def exit_now(code: int) -> None:
    """End a daemon whose state is saved and whose children are gone: flush the logs and
    exit without tearing down the interpreter (its server threads and modules), which
    takes longer than everything before it."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass


@click.command("master")
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=7077, show_default=True, help="Port for workers and drivers.")
@click.option("--webui-port", default=8080, show_default=True, help="HTTP port (UI, JSON API).")
@click.option("--work-dir", default="work/master", show_default=True, type=click.Path(file_okay=False))
@click.option("--secret-file", help=SECRET_FILE_HELP)
@click.option("--worker-timeout", default=15.0, show_default=True,
              help="Seconds without a heartbeat before a worker is marked lost.")
@click.option("--ready-file", hidden=True, help="Write the bound ports here as JSON once listening.")
@click.option("--daemonize", is_flag=True, help="Detach (used by start-cluster); needs --pidfile.")
@click.option("--pidfile", type=click.Path(dir_okay=False))
@click.option("--log-file", type=click.Path(dir_okay=False), help="stdout/stderr when detached.")
@click.option("--event-log-dir", default="~/.vega/events", show_default=True,
              help="Where drivers write event logs; the UI shows finished applications from it.")
@click.option("--ui-open", "open_reads", is_flag=True,
              help="Let anyone read the web UI and JSON API (default: loopback, or the token).")
def master(host: str, port: int, webui_port: int, work_dir: str, secret_file: Optional[str],
           worker_timeout: float, ready_file: Optional[str], daemonize: bool,
           pidfile: Optional[str], log_file: Optional[str], event_log_dir: str,
           open_reads: bool) -> None:
    """Run the master in the foreground."""
    from vega_runtime.deploy.http_api import start_http
    from vega_runtime.deploy.master import Master

    _detach_if_asked(daemonize, pidfile, log_file, work_dir, "master")
    setup_daemon_logging(work_dir, "master")
    secret_path = resolve_secret_file(secret_file)
    secret = load_secret(secret_path)
    advertise = host if host not in ("0.0.0.0", "") else _this_host_address()
    try:
        daemon = Master(host, port, secret, advertise, work_dir, worker_timeout, secret_path,
                        event_log_dir).start()
        http = start_http(host, webui_port, daemon, secret, open_reads)
    except (OSError, VegaError) as exc:
        fail(f"cannot start the master on {host}:{port}: {exc}", 1)
    if ready_file:
        tmp = ready_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"port": daemon.server.port, "webui_port": http.server_address[1]}, fh)
        os.replace(tmp, ready_file)
    log.info("master %s ready; web UI on port %d", daemon.url, http.server_address[1])
    wait_for_signal()
    daemon.stop()
    http.server_close()
    exit_now(0)


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
@click.option("--death-timeout", default=60.0, show_default=True,
              help="Seconds without a master before the worker stops.")
@click.option("--work-dir-ttl", default=3600.0, show_default=True,
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
    from vega_runtime.deploy.worker import Worker

    try:
        spec = parse_master(master_url)
    except MasterURLError as exc:
        fail(str(exc), EXIT_USAGE)
    if spec.kind != "vega":
        fail(f"a worker needs a vega://host:port master URL, not {master_url!r}", EXIT_USAGE)
    try:
        memory_bytes = parse_size(memory) if memory else _default_memory()
    except ValueError as exc:
        fail(f"--memory: {exc}", EXIT_USAGE)
    secret_path = resolve_secret_file(secret_file)
    _detach_if_asked(daemonize, pidfile, log_file, work_dir, "worker")
    setup_daemon_logging(work_dir, "worker")
    advertise = advertise_address(host, spec.host)
    bind = advertise if not secret_path else "0.0.0.0"
    try:
        daemon = Worker(spec.host, spec.port, load_secret(secret_path), secret_path, advertise,
                        bind, port, cores, memory_bytes, [x for x in labels.split(",") if x],
                        work_dir, death_timeout, work_dir_ttl)
    except (OSError, VegaError) as exc:
        fail(f"cannot start the worker: {exc}", 1)
    from vega_runtime.deploy.http_api import start_metrics_http
    from vega_runtime.deploy.metrics import WorkerCollector

    try:
        metrics = start_metrics_http(bind, webui_port, WorkerCollector(daemon))
        log.info("worker metrics on http://%s:%d/metrics", advertise, metrics.server_address[1])
    except OSError as exc:
        log.warning("no /metrics: cannot listen on port %d (%s)", webui_port, exc)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.request_stop())
    exit_now(daemon.run())


def _detach_if_asked(daemonize: bool, pidfile: Optional[str], log_file: Optional[str],
                     work_dir: str, name: str) -> None:
    if not daemonize:
        return
    if not pidfile:
        fail("--daemonize needs --pidfile", EXIT_USAGE)
    from .background import daemonize as detach

    detach(pidfile, log_file or os.path.join(work_dir, f"{name}.out"))


def _this_host_address() -> str:
    import socket

    if os.environ.get("VEGA_LOCAL_IP"):
        return os.environ["VEGA_LOCAL_IP"]
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _default_memory() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 30
    return max(512 << 20, total - (1 << 30))
