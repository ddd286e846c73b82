"""The worker: one per host.  Launches and supervises executor processes and
serves shuffle blocks from its disk to executors on other hosts.

Executors run in their own process groups; the worker kills a group when
its application ends, when the master tells it to, or when the worker
itself stops.  A worker that loses its master keeps reconnecting with
backoff and gives up (killing its executors) after ``death_timeout``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

from .. import packaging
from ..errors import VegaError
from .._version import __version__
from ..net.connection import Connection
from ..net.framing import ConnectionClosed, ProtocolError
from ..net.messages import (ApplicationEnded, BlockData, BlockUnavailable, ExecutorExited,
                            FetchBlock, FetchPackage, PackageData, KillExecutor, LaunchExecutor, RegisteredWorker,
                            RegisterWorker, RegisterWorkerFailed, WorkerHeartbeat,
                            WorkerStopping)
from ..net.server import Server
from ..versions import python_version
from ..forkserver import ForkServer, command_title

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
EXECUTOR_MODULE = "vega_runtime.deploy.executor_main"
#: what the worker's fork server imports before forking executors
EXECUTOR_PRELOAD = ("vega_runtime.deploy.executor_preload",)
#: reconnecting to the master: quick at first (it may be starting too), then backing off
FIRST_RETRY_SECONDS = 0.005
MAX_RETRY_SECONDS = 5.0


class WorkerRefused(Exception):
    pass


class Worker:
    def __init__(self, master_host: str, master_port: int, secret: Optional[bytes],
                 secret_file: str, advertise_host: str, bind_host: str, port: int, cores: int,
                 memory: int, labels: List[str], work_dir: str, death_timeout: float = 60.0,
                 work_dir_ttl: float = 3600.0, use_forkserver: bool = True):
        self.master = (master_host, master_port)
        self.secret = secret
        self.secret_file = secret_file
        self.host = advertise_host
        self.cores, self.memory, self.labels = cores, memory, labels
        self.work_dir = os.path.abspath(work_dir)
        self.death_timeout = death_timeout
        self.work_dir_ttl = work_dir_ttl
        os.makedirs(self.work_dir, exist_ok=True)
        #: warm executors (see vega_runtime.forkserver); None: each one is a new interpreter.
        #: Started first: a fork must happen before this process has threads or sockets.
        self.forkserver = self._start_forkserver() if use_forkserver else None
        self.shuffle = Server(bind_host, port, secret, self._serve_blocks, "shuffle-service")
        #: counts for /metrics
        self.served = {"blocks": 0, "bytes": 0, "missing": 0, "executors_launched": 0,
                       "executors_exited": 0}
        self.worker_id = f"worker-{time.strftime('%Y%m%d%H%M%S')}-{advertise_host}-{self.shuffle.port}"
        self.executors: Dict[Tuple[str, str], subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.conn: Optional[Connection] = None
        #: when the current session registered; None between sessions
        self.registered_at: Optional[float] = None

    # -- lifecycle -------------------------------------------------------------------
    def run(self) -> int:
        """Serve until stopped or the master is gone for good; returns an exit code."""
        self.shuffle.start()
        log.info("worker %s: shuffle service on %s:%d", self.worker_id, self.host, self.shuffle.port)
        threading.Thread(target=self._cleaner, name="work-dir-cleaner", daemon=True).start()
        last_contact = time.monotonic()
        delay = FIRST_RETRY_SECONDS
        try:
            while not self.stopped.is_set():
                try:
                    self._session()
                except WorkerRefused as exc:
                    log.error("the master refused this worker: %s", exc)
                    return 1
                except (OSError, ConnectionClosed, ProtocolError) as exc:
                    if self.stopped.is_set():
                        break
                    if self.registered_at is not None:  # the master was there until now
                        last_contact = time.monotonic()
                        self.registered_at = None
                        delay = FIRST_RETRY_SECONDS
                    gone = time.monotonic() - last_contact
                    if gone > self.death_timeout:
                        log.error("master %s:%d unreachable for %.0fs (%s); stopping",
                                  *self.master, gone, exc)
                        return 1
                    # a master starting alongside its workers is normal for a moment
                    log.log(logging.WARNING if gone > 1.0 else logging.DEBUG,
                            "master %s:%d unreachable (%s); retrying in %.2fs",
                            *self.master, exc, delay)
                    self.stopped.wait(delay)
                    delay = min(delay * 1.5, MAX_RETRY_SECONDS)
            return 0
        finally:
            self.shutdown()

    def request_stop(self) -> None:
        """Say goodbye to the master and end ``run`` (safe from a signal handler)."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        if self.conn is not None:
            try:
                self.conn.send(WorkerStopping(self.worker_id))
            except OSError:
                pass
            self.conn.close()

    def shutdown(self) -> None:
        self.request_stop()
        self.shuffle.stop()
        with self.lock:
            doomed = list(self.executors.items())
            self.executors.clear()
        for (_, executor_id), proc in doomed:
            _kill_group(proc)
        if self.forkserver is not None:
            self.forkserver.close()

    def _session(self) -> None:
        conn = Connection.connect(*self.master, self.secret or b"")
        self.conn = conn
        with self.lock:
            running = [[app, ex] for (app, ex) in self.executors]
        conn.send(RegisterWorker(self.worker_id, self.host, self.shuffle.port, self.cores,
                                 self.memory, self.labels, python_version(), __version__,
                                 os.getpid(), running))
        reply = conn.recv()
        if isinstance(reply, RegisterWorkerFailed):
            raise WorkerRefused(reply.reason)
        if not isinstance(reply, RegisteredWorker):
            raise ProtocolError(conn.peer, f"expected RegisteredWorker, got {type(reply).__name__}")
        self.registered_at = time.monotonic()
        log.info("registered with master %s:%d as %s", *self.master, self.worker_id)
        beating = threading.Thread(target=self._heartbeat, args=(conn,), daemon=True)
        beating.start()
        while not self.stopped.is_set():
            message = conn.recv()
            if isinstance(message, LaunchExecutor):
                self._launch(message)
            elif isinstance(message, KillExecutor):
                self._kill(message.app_id, message.executor_id)
            elif isinstance(message, ApplicationEnded):
                self._end_application(message.app_id)
            else:
                raise ProtocolError(conn.peer, f"unexpected {type(message).__name__} from the master")

    def _start_forkserver(self) -> ForkServer:
        """A fork of this process when it already has the executors' hash seed (sharing
        its imports), else a new interpreter with that seed."""
        if sys.flags.hash_randomization == 0:  # PYTHONHASHSEED=0
            forked = ForkServer.fork(EXECUTOR_PRELOAD)
            if forked is not None:
                return forked
        return ForkServer.spawn({**os.environ, "PYTHONHASHSEED": "0"}, EXECUTOR_PRELOAD,
                                os.path.join(self.work_dir, "forkserver.log"))

    def _heartbeat(self, conn: Connection) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS) and not conn.closed:
            try:
                conn.send(WorkerHeartbeat(self.worker_id))
            except OSError:
                return

    # -- executors ---------------------------------------------------------------------
    def _package_dir(self, sha256: str) -> str:
        """The extracted job package, fetched from the master the first time."""
        directory = os.path.join(self.work_dir, "packages", sha256)
        if not os.path.isdir(directory):
            conn = Connection.connect(*self.master, self.secret or b"")
            try:
                conn.send(FetchPackage(sha256))
                reply = conn.recv()
            finally:
                conn.close()
            if not isinstance(reply, PackageData) or not packaging.verify(reply.data, sha256):
                raise ProtocolError(conn.peer, f"package {sha256[:12]} could not be fetched intact")
            packaging.extract(reply.data, directory)
            log.info("cached package %s", sha256[:12])
        return directory

    def _launch(self, order: LaunchExecutor) -> None:
        app_dir = os.path.join(self.work_dir, order.app_id)
        os.makedirs(app_dir, exist_ok=True)
        package_args: List[str] = []
        if order.package_sha:
            try:
                package_args = ["--package-dir", self._package_dir(order.package_sha)]
            except (OSError, VegaError) as exc:  # ConnectionClosed, ProtocolError, BadPackage
                log.error("cannot get package %s: %s", order.package_sha[:12], exc)
                self.conn.send(ExecutorExited(order.app_id, order.executor_id, 1,
                                              f"its job package could not be fetched: {exc}"))
                return
        args = ["--driver", f"{order.driver_host}:{order.driver_port}",
                "--app-id", order.app_id, "--executor-id", order.executor_id,
                "--worker-id", self.worker_id, "--host", self.host,
                "--shuffle-port", str(self.shuffle.port), "--app-dir", app_dir,
                "--memory", str(order.memory), "--secret-file", self.secret_file,
                *package_args]
        env = {**os.environ, **order.env}
        log_path = os.path.join(app_dir, f"{order.executor_id}.log")
        proc = None
        if self.forkserver is not None:
            proc = self.forkserver.launch(f"{EXECUTOR_MODULE}:main", args, env, log_path,
                                          command_title(EXECUTOR_MODULE, args), tie=True)
        if proc is None:
            with open(log_path, "ab") as log_file:
                proc = subprocess.Popen([sys.executable, "-m", EXECUTOR_MODULE, *args],
                                        stdin=subprocess.DEVNULL, stdout=log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**env, "VEGA_WORKER_PID": str(os.getpid())})
        with self.lock:
            self.executors[(order.app_id, order.executor_id)] = proc
            self.served["executors_launched"] += 1
        log.info("launched %s of %s (pid %d)", order.executor_id, order.app_id, proc.pid)
        threading.Thread(target=self._watch, args=(order.app_id, order.executor_id, proc, log_path),
                         daemon=True).start()

    def _watch(self, app_id: str, executor_id: str, proc: subprocess.Popen, log_path: str) -> None:
        code = proc.wait()
        with self.lock:
            expected = self.executors.pop((app_id, executor_id), None) is None
        if expected or self.stopped.is_set():
            return
        reason = f"exited with code {code}" + _tail(log_path)
        self.served["executors_exited"] += 1
        log.warning("executor %s of %s %s", executor_id, app_id, reason)
        if self.conn is not None:
            try:
                self.conn.send(ExecutorExited(app_id, executor_id, code, reason))
            except OSError:
                pass

    def _kill(self, app_id: str, executor_id: str) -> None:
        with self.lock:
            proc = self.executors.pop((app_id, executor_id), None)
        if proc is not None:
            _kill_group(proc)

    def _end_application(self, app_id: str) -> None:
        with self.lock:
            doomed = [(key, p) for key, p in self.executors.items() if key[0] == app_id]
            for key, _ in doomed:
                del self.executors[key]
        for _, proc in doomed:
            _kill_group(proc)
        log.info("application %s ended: %d executors stopped", app_id, len(doomed))

    # -- work dir cleanup -----------------------------------------------------------------
    def _cleaner(self) -> None:
        interval = max(1.0, min(60.0, self.work_dir_ttl / 2))
        while not self.stopped.wait(interval):
            self.clean_work_dirs(time.time())

    def clean_work_dirs(self, now: float) -> List[str]:
        """Delete the directories of applications with no executor here, idle past the TTL."""
        with self.lock:
            running = {app for app, _ in self.executors}
        removed = []
        for name in os.listdir(self.work_dir):
            path = os.path.join(self.work_dir, name)
            if not name.startswith("app-") or name in running or not os.path.isdir(path):
                continue
            if now - _last_change(path) > self.work_dir_ttl:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
        if removed:
            log.info("cleaned work dirs of finished applications: %s", ", ".join(removed))
        return removed

    # -- shuffle service -----------------------------------------------------------------
    def _serve_blocks(self, conn: Connection) -> None:
        while True:
            request = conn.recv()
            if not isinstance(request, FetchBlock):
                raise ProtocolError(conn.peer, f"unexpected {type(request).__name__} at the shuffle service")
            reply = self._read_block(request)
            if isinstance(reply, BlockData):
                self.served["blocks"] += 1
                self.served["bytes"] += len(reply.data)
            else:
                self.served["missing"] += 1
            conn.send(reply)

    def _read_block(self, request: FetchBlock):
        path = os.path.realpath(request.path)
        if not path.startswith(self.work_dir + os.sep):
            return BlockUnavailable(f"{request.path} is not a shuffle file of this worker")
        try:
            with open(path, "rb") as fh:
                fh.seek(request.offset)
                data = fh.read(request.length)
        except OSError as exc:
            return BlockUnavailable(f"{request.path}: {exc.strerror or exc}")
        if len(data) != request.length:
            return BlockUnavailable(f"{request.path} is shorter than expected")
        return BlockData(data)


def _kill_group(proc: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM the executor's process group, then SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(grace)
            if sig == signal.SIGTERM:
                os.killpg(proc.pid, signal.SIGKILL)  # anything the executor forked
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            pass
        break


def _last_change(path: str) -> float:
    """The newest modification time of a directory tree."""
    newest = os.path.getmtime(path)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
            except OSError:
                pass
    return newest


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - 4000))
            text = fh.read().decode("utf-8", "replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return (": " + " | ".join(text)) if text else ""
