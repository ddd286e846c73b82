"""The master and worker daemons' lives, without the command line (no click).

``vega master`` and ``vega worker`` (``vega_cli.daemons``) parse their options
and call ``run_master`` / ``run_worker``; a local cluster's fork server calls
``fork_entry`` with the same options, skipping the parsing layer and its
imports.  Each function serves until SIGTERM or SIGINT and exits the process.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from typing import List, Optional

from vega_runtime.config import parse_size
from vega_runtime.errors import MasterURLError, VegaError
from vega_runtime.master_url import parse_master
from vega_runtime.net.addresses import advertise_address
from vega_runtime.net.connection import (create_secret_file, default_secret_file, load_secret,
                                         resolve_secret_file)

from .errors import EXIT_USAGE, fail

log = logging.getLogger("vega_cli")

WORKER_TIMEOUT = 15.0
EVENT_LOG_DIR = "~/.vega/events"
DEATH_TIMEOUT = 60.0
WORK_DIR_TTL = 3600.0


def secret_file_for(option: Optional[str]) -> str:
    """--secret-file, else VEGA_SECRET_FILE, else ~/.vega/secret if it exists, else ''."""
    path = resolve_secret_file(option or os.environ.get("VEGA_SECRET_FILE"))
    if path and not os.path.isfile(path):
        fail(f"secret file {path!r} does not exist", EXIT_USAGE,
             f"Create one with: vega start-master (it writes {default_secret_file()}), or "
             "point --secret-file at the cluster's secret")
    return path


def ensure_secret_file(path: Optional[str]) -> str:
    """The absolute path of ``path`` (default ~/.vega/secret), creating the secret there
    (mode 0600) and saying so when it does not exist yet."""
    path = os.path.abspath(os.path.expanduser(path or default_secret_file()))
    if not os.path.exists(path):
        create_secret_file(path)
        print(f"created cluster secret {path} (mode 0600): give it to workers and drivers")
    return path


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
    stop.wait()  # interrupted by the signal, whose handler sets it


def run_master(host: str, port: int, webui_port: int, work_dir: str,
               secret_file: Optional[str] = None, worker_timeout: float = WORKER_TIMEOUT,
               ready_file: Optional[str] = None, daemonize: bool = False,
               pidfile: Optional[str] = None, log_file: Optional[str] = None,
               event_log_dir: str = EVENT_LOG_DIR, open_reads: bool = False,
               ui_allowed_hosts: str = "") -> None:
    """Run the master (``vega master``)."""
    from vega_runtime.deploy.http_api import TOKEN_FILE, allowed_hosts, master_token, start_http
    from vega_runtime.deploy.master import Master

    _detach_if_asked(daemonize, pidfile, log_file, work_dir, "master")
    setup_daemon_logging(work_dir, "master")
    secret_path = secret_file_for(secret_file)
    secret = load_secret(secret_path)
    advertise = host if host not in ("0.0.0.0", "") else _this_host_address()
    try:
        daemon = Master(host, port, secret, advertise, work_dir, worker_timeout, secret_path,
                        event_log_dir).start()
        hosts = allowed_hosts(host, advertise, ui_allowed_hosts.split(","))
        http = start_http(host, webui_port, daemon, open_reads=open_reads,
                          token=master_token(secret, daemon.work_dir), hosts=hosts)
        daemon.webui = {"webui_port": http.server_address[1],
                        "token_file": os.path.join(daemon.work_dir, TOKEN_FILE)}
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


def run_worker(master_url: str, host: Optional[str], cores: int, memory: str, port: int,
               webui_port: int, work_dir: str, labels: str = "", secret_file: Optional[str] = None,
               death_timeout: float = DEATH_TIMEOUT, work_dir_ttl: float = WORK_DIR_TTL,
               daemonize: bool = False, pidfile: Optional[str] = None,
               log_file: Optional[str] = None) -> None:
    """Run a worker (``vega worker``)."""
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
    secret_path = secret_file_for(secret_file)
    _detach_if_asked(daemonize, pidfile, log_file, work_dir, "worker")
    setup_daemon_logging(work_dir, "worker")
    advertise = advertise_address(host, spec.host)
    bind = advertise if not secret_path else "0.0.0.0"
    try:
        daemon = Worker(spec.host, spec.port, load_secret(secret_path), secret_path, advertise,
                        bind, port, cores, memory_bytes, [x for x in labels.split(",") if x],
                        work_dir, death_timeout, work_dir_ttl, adopt_orphans=True)
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


def fork_entry(argv: List[str]) -> None:
    """``[ROLE, JSON_OPTIONS]``: run the master or a worker with these options (the entry
    point local clusters give their fork server)."""
    role, options = argv[0], json.loads(argv[1])
    {"master": run_master, "worker": run_worker}[role](**options)


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
