"""The master: registers workers, admits applications, allocates executors.

One connection per worker and per driver; the first message says which it
is.  All state changes happen under one lock; messages to peers are sent
after the state change, from the thread that made it.  Executors are
granted one core each (an executor process runs one task at a time),
spread over the workers with the most free cores.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .._version import __version__
from ..net.connection import Connection
from ..net.framing import ProtocolError
from ..net.messages import (AppLog, AppMetrics, ApplicationEnded, ApplicationKilled, FollowLogs,
                            DriverSubmitted, KillApplication, KillResult, LogChunk, LogEnd,
                            SubmitDriver, ApplicationRejected, ApplicationWaiting,
                            ExecutorAdded, ExecutorExited, ExecutorRemoved, LaunchExecutor, RegisterApplication, RegisteredApplication,
                            RegisteredWorker, RegisterWorker, RegisterWorkerFailed,
                            FetchPackage, PackageData, PackageQuery, PackageStatus,
                            RequestStatus, StatusReply, UnregisterApplication, UploadPackage,
                            WorkerHeartbeat, WorkerStopping)
from ..net.server import Server
from .drivers import DriverRunner
from .recovery import RecoveryStore
from ..packaging import verify
from ..versions import python_version, version_mismatch

log = logging.getLogger(__name__)

#: An application whose executors keep dying is failed after this many exits.
MAX_EXECUTOR_FAILURES = 10


@dataclass
class WorkerInfo:
    worker_id: str
    host: str
    port: int
    cores: int
    memory: int
    labels: List[str]
    pid: int
    conn: Connection
    state: str = "alive"  # alive | lost | dead
    registered: float = field(default_factory=time.time)
    last_heartbeat: float = field(default_factory=time.monotonic)
    executors: Dict[Tuple[str, str], int] = field(default_factory=dict)  # (app, exec) -> memory

    @property
    def cores_used(self) -> int:
        return len(self.executors)

    @property
    def memory_used(self) -> int:
        return sum(self.executors.values())


@dataclass
class AppInfo:
    app_id: str
    request: RegisterApplication
    conn: Connection
    state: str = "waiting"  # waiting | running | finished | failed
    submitted: float = field(default_factory=time.time)
    ended: Optional[float] = None
    executors: Dict[str, str] = field(default_factory=dict)  # executor_id -> worker_id
    next_executor: int = 1
    executor_failures: int = 0
    waiting_reason: str = ""
    #: the driver's latest cumulative job metrics (JobMetrics.snapshot)
    metrics: dict = field(default_factory=dict)

    def record(self) -> dict:
        """What survives a master restart."""
        return {"name": self.request.name, "state": self.state, "submitted": self.submitted,
                "ended": self.ended, "next_executor": self.next_executor}


class Master:
    def __init__(self, host: str, port: int, secret: Optional[bytes], advertise_host: str,
                 work_dir: str, worker_timeout: float = 15.0, secret_file: str = "",
                 event_log_dir: str = ""):
        self.work_dir = os.path.abspath(work_dir)
        #: where drivers write event logs, for finished applications in the UI
        self.event_log_dir = os.path.expanduser(event_log_dir) if event_log_dir else ""
        self.drivers = DriverRunner(self.work_dir, lambda: self.url, secret_file,
                                    on_change=self.save_state)
        self.lock = threading.RLock()
        self.workers: Dict[str, WorkerInfo] = {}
        self.apps: Dict[str, AppInfo] = {}
        self.started = time.time()
        self.worker_timeout = worker_timeout
        self._app_ids = itertools.count()
        #: monotonically increasing event counts for /metrics
        self.counters: Dict[str, int] = {"executor_losses": 0, "log_lines": 0}
        self.recovery = RecoveryStore(self.work_dir)
        saved = self.recovery.load()
        #: applications from before a restart, by id (their drivers may reconnect)
        self.recovered: Dict[str, dict] = saved["apps"]
        #: workers from before a restart that have not registered again
        self.recovered_workers: Dict[str, dict] = saved["workers"]
        #: cluster-mode drivers from before a restart (no longer this master's children)
        self.recovered_drivers: List[dict] = [d for d in saved["drivers"] if d["state"] != "finished"]
        self.server = Server(host, port, secret, self._serve, "master")
        self.advertise_host = advertise_host
        self._stopped = threading.Event()
        #: the last write of the recovery state failed; retried on every heartbeat check
        self._unsaved = False

    @property
    def url(self) -> str:
        return f"vega://{self.advertise_host}:{self.server.port}"

    def start(self) -> "Master":
        self.server.start()
        threading.Thread(target=self._check_heartbeats, name="master-heartbeats",
                         daemon=True).start()
        log.info("master listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._stopped.set()
        self.server.stop()
        self.drivers.stop()
        with self.lock:
            for info in self.workers.values():
                info.conn.close()
            for app in self.apps.values():
                app.conn.close()

    # -- connections -------------------------------------------------------------
    def _serve(self, conn: Connection) -> None:
        first = conn.recv()
        if isinstance(first, RegisterWorker):
            self._serve_worker(conn, first)
        elif isinstance(first, RegisterApplication):
            self._serve_driver(conn, first)
        elif isinstance(first, RequestStatus):
            conn.send(StatusReply(json.dumps(self.status())))
        elif isinstance(first, (PackageQuery, UploadPackage, FetchPackage)):
            self._serve_packages(conn, first)
        elif isinstance(first, FollowLogs):
            self._serve_logs(conn, first)
        elif isinstance(first, SubmitDriver):
            if not os.path.exists(os.path.join(self.work_dir, "packages", f"{first.package_sha}.zip")):
                raise ProtocolError(conn.peer, "SubmitDriver for a package never uploaded")
            conn.send(DriverSubmitted(self.drivers.submit(first).driver_id))
        elif isinstance(first, KillApplication):
            killed = (self.drivers.kill(first.app_id)
                      or self.kill_application(first.app_id, "killed with vega kill"))
            conn.send(KillResult(killed, "killed" if killed else
                                 f"{first.app_id} is not a running application"))
        else:
            raise ProtocolError(conn.peer, f"{type(first).__name__} before registering")

    def _serve_packages(self, conn: Connection, message) -> None:
        """Job packages: submitters ask for and upload them, workers fetch them."""
        while True:
            path = os.path.join(self.work_dir, "packages", f"{message.sha256}.zip")
            if isinstance(message, PackageQuery):
                conn.send(PackageStatus(message.sha256, os.path.exists(path)))
            elif isinstance(message, UploadPackage):
                if not verify(message.data, message.sha256):
                    raise ProtocolError(conn.peer, "uploaded package does not match its sha256")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path + ".tmp", "wb") as out:
                    out.write(message.data)
                os.replace(path + ".tmp", path)
                log.info("stored package %s (%d bytes)", message.sha256[:12], len(message.data))
                conn.send(PackageStatus(message.sha256, True))
            elif isinstance(message, FetchPackage):
                try:
                    with open(path, "rb") as fh:
                        data = fh.read()
                except FileNotFoundError:  # a clean "not found", not a dropped session
                    log.warning("%s asked for package %s, which this master does not have",
                                conn.peer, message.sha256[:12])
                    conn.send(PackageStatus(message.sha256, False))
                else:
                    conn.send(PackageData(message.sha256, data))
            else:
                raise ProtocolError(conn.peer, f"unexpected {type(message).__name__}")
            message = conn.recv()

    def _serve_worker(self, conn: Connection, register: RegisterWorker) -> None:
        mismatch = version_mismatch(register.python_version, register.vega_version)
        if mismatch:
            log.warning("refused worker %s on %s: %s", register.worker_id, register.host, mismatch)
            conn.send(RegisterWorkerFailed(f"this master runs {mismatch}"))
            return
        info = WorkerInfo(register.worker_id, register.host, register.port, register.cores,
                          register.memory, list(register.labels), register.pid, conn)
        with self.lock:
            old = self.workers.get(register.worker_id)
            if old is not None and old.state == "alive":
                old.conn.close()
            self.workers[register.worker_id] = info
            self.recovered_workers.pop(register.worker_id, None)
            for app_id, executor_id in register.executors:  # still running from before
                app = self.apps.get(app_id)
                info.executors[(app_id, executor_id)] = app.request.executor_memory if app else 0
                if app is not None:
                    app.executors[executor_id] = info.worker_id
            conn.send(RegisteredWorker(__version__))
            log.info("worker %s registered: %s, %d cores, %d MiB", register.worker_id,
                     register.host, register.cores, register.memory >> 20)
            self._save()
            self._schedule()
        try:
            while True:
                message = conn.recv()
                if isinstance(message, WorkerHeartbeat):
                    info.last_heartbeat = time.monotonic()
                elif isinstance(message, ExecutorExited):
                    self._executor_exited(info, message)
                elif isinstance(message, WorkerStopping):
                    self._worker_gone(info, "it stopped", state="dead")
                    return
                else:
                    raise ProtocolError(conn.peer, f"unexpected {type(message).__name__} from a worker")
        finally:
            self._worker_gone(info, "its connection closed")

    def _serve_driver(self, conn: Connection, request: RegisterApplication) -> None:
        mismatch = version_mismatch(request.python_version, request.vega_version)
        if mismatch:
            conn.send(ApplicationRejected(f"the cluster runs {mismatch}"))
            return
        with self.lock:
            # admitted and answered under one lock: a worker registering meanwhile must not
            # schedule (and announce) executors before the driver knows its application id
            app = self._admit(conn, request)
            if app is None:
                return
            app_id = app.app_id
            try:
                conn.send(RegisteredApplication(app_id))
            except OSError:
                self._app_finished(app, "finished")
                raise
        try:
            with self.lock:
                log.info("application %s (%s) %s from %s", app_id, request.name,
                         "resumed" if request.app_id else "registered", request.driver_host)
                self._claim_executors(app)
                self._save()
                self._schedule()
            with open(self._log_path(app_id), "ab") as log_file:
                while True:
                    message = conn.recv()
                    if isinstance(message, AppMetrics):
                        app.metrics = json.loads(message.snapshot_json)
                    elif isinstance(message, AppLog):
                        self.counters["log_lines"] += message.text.count("\n")
                        log_file.write(message.text.encode("utf-8"))
                        log_file.flush()
                    elif isinstance(message, UnregisterApplication):
                        break
                    else:
                        raise ProtocolError(conn.peer,
                                            f"unexpected {type(message).__name__} from a driver")
        finally:
            self._app_finished(app, "finished")

    def _admit(self, conn: Connection, request: RegisterApplication) -> Optional[AppInfo]:
        """A new application, or a known one whose driver reconnected (with the lock held)."""
        if not request.app_id:
            app_id = time.strftime("app-%Y%m%d%H%M%S-", time.localtime()) + \
                f"{next(self._app_ids):04d}"
            app = self.apps[app_id] = AppInfo(app_id, request, conn)
            return app
        app = self.apps.get(request.app_id)
        if app is not None and app.state not in ("waiting", "running"):
            conn.send(ApplicationRejected(f"application {request.app_id} has {app.state}"))
            return None
        if app is not None:  # the same master: the driver's connection was replaced
            app.conn = conn
            return app
        saved = self.recovered.pop(request.app_id, {})
        app = AppInfo(request.app_id, request, conn, state="running",
                      submitted=saved.get("submitted", time.time()),
                      next_executor=saved.get("next_executor", 1000))
        self.apps[request.app_id] = app
        return app

    def _claim_executors(self, app: AppInfo) -> None:
        """Executors workers reported before this application's driver came back."""
        for worker in self.workers.values():
            for (app_id, executor_id) in list(worker.executors):
                if app_id == app.app_id and executor_id not in app.executors:
                    worker.executors[(app_id, executor_id)] = app.request.executor_memory
                    app.executors[executor_id] = worker.worker_id
        if app.executors:
            app.state = "running"

    def _save(self) -> None:
        """Persist workers, applications and drivers (call with the lock held).

        A failed write is logged at ERROR and retried on the next heartbeat check: it
        must not escape into (and end) the thread that changed the state."""
        try:
            self._write_state()
        except Exception as exc:  # noqa: BLE001 - a full disk must not stop the master
            self._unsaved = True
            log.error("cannot write the recovery state to %s: %s (retrying every second)",
                      self.recovery.directory, exc)
        else:
            if self._unsaved:
                log.info("recovery state written again to %s", self.recovery.path)
            self._unsaved = False

    def _write_state(self) -> None:
        records = dict(self.recovered)
        records.update({a.app_id: a.record() for a in self.apps.values()})
        workers = dict(self.recovered_workers)
        workers.update({w.worker_id: {"host": w.host, "port": w.port, "cores": w.cores,
                                      "memory": w.memory, "labels": w.labels, "state": w.state}
                        for w in self.workers.values()})
        self.recovery.save(records, workers, self.recovered_drivers + self.drivers.status())

    def save_state(self) -> None:
        with self.lock:
            self._save()

    def _log_path(self, app_id: str) -> str:
        directory = os.path.join(self.work_dir, "apps", app_id)
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, "output.log")

    def _serve_logs(self, conn: Connection, request: FollowLogs) -> None:
        """Send an application's stored output; with ``follow``, until it ends."""
        with self.lock:
            app = self.apps.get(request.app_id)
        driver = self.drivers.drivers.get(request.app_id)
        path = os.path.join(self.work_dir, "apps", request.app_id, "output.log")
        if app is None and driver is None and not os.path.exists(path):
            conn.send(LogEnd("unknown", 1))
            return
        offset = 0
        while True:
            if driver is not None:
                finished = driver.done
            else:
                finished = app is None or app.state not in ("waiting", "running")
            data = b""
            if os.path.exists(path):
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(1 << 20)
            if data:
                offset += len(data)
                conn.send(LogChunk(data.decode("utf-8", "replace")))
                continue
            if finished or not request.follow:
                if driver is not None:
                    conn.send(LogEnd(driver.state, driver.exit_code or 0))
                else:
                    conn.send(LogEnd(app.state if app else "finished"))
                return
            self._stopped.wait(0.2)

    # -- state changes (call with the lock held) -----------------------------------------
    def _schedule(self) -> None:
        for app in sorted(self.apps.values(), key=lambda a: a.submitted):
            if app.state not in ("waiting", "running"):
                continue
            granted = self._grant(app)
            if app.executors:
                app.state = "running"
            if not granted and not app.executors:
                self._tell_waiting(app)

    def _grant(self, app: AppInfo) -> int:
        request = app.request
        granted = 0
        while not request.cores_max or len(app.executors) < request.cores_max:
            worker = self._worker_for(app)
            if worker is None:
                return granted
            executor_id = f"exec-{app.next_executor}"
            app.next_executor += 1
            worker.executors[(app.app_id, executor_id)] = request.executor_memory
            app.executors[executor_id] = worker.worker_id
            worker.conn.send(LaunchExecutor(app.app_id, executor_id, 1, request.executor_memory,
                                            request.driver_host, request.driver_port,
                                            {"PYTHONHASHSEED": request.hash_seed},
                                            request.package_sha))
            _send_quietly(app.conn, ExecutorAdded(executor_id, worker.worker_id, worker.host, 1))
            log.info("executor %s of %s launched on %s", executor_id, app.app_id, worker.worker_id)
            granted += 1
        return granted

    def _worker_for(self, app: AppInfo) -> Optional[WorkerInfo]:
        request = app.request
        candidates = []
        for worker in self.workers.values():
            mine = sum(1 for (a, _) in worker.executors if a == app.app_id)
            if (worker.state == "alive" and worker.cores_used < worker.cores
                    and worker.memory - worker.memory_used >= request.executor_memory
                    and (not request.executor_cores or mine < request.executor_cores)):
                candidates.append((mine, -(worker.cores - worker.cores_used), worker.worker_id, worker))
        return min(candidates)[3] if candidates else None

    def _tell_waiting(self, app: AppInfo) -> None:
        alive = [w for w in self.workers.values() if w.state == "alive"]
        if not alive:
            reason = ("no workers are registered with the master yet: the job will start "
                      "when one registers (vega worker vega://MASTER:PORT)")
        elif max(w.memory for w in alive) < app.request.executor_memory:
            reason = (f"no worker can give an executor {app.request.executor_memory >> 20} MiB "
                      f"(the largest has {max(w.memory for w in alive) >> 20} MiB): lower "
                      "--executor-memory or add a larger worker")
        else:
            reason = "all worker cores are in use by other applications; waiting for free cores"
        if reason != app.waiting_reason:
            app.waiting_reason = reason
            _send_quietly(app.conn, ApplicationWaiting(reason))

    def _executor_exited(self, worker: WorkerInfo, message: ExecutorExited) -> None:
        with self.lock:
            worker.executors.pop((message.app_id, message.executor_id), None)
            app = self.apps.get(message.app_id)
            if app is None or app.executors.pop(message.executor_id, None) is None:
                return
            log.warning("executor %s of %s exited (%s)", message.executor_id, app.app_id,
                        message.reason)
            self.counters["executor_losses"] += 1
            _send_quietly(app.conn, ExecutorRemoved(message.executor_id, message.reason, False))
            if app.state in ("waiting", "running"):
                # an executor ends on its own only when something is wrong (a crash, or no
                # driver to serve): counted whatever its exit code, so it is not relaunched
                # forever
                app.executor_failures += 1
                if app.executor_failures >= MAX_EXECUTOR_FAILURES:
                    log.error("application %s failed: executors keep exiting", app.app_id)
                    app.conn.close()
                    return
                self._schedule()

    def _worker_gone(self, worker: WorkerInfo, reason: str, state: str = "lost") -> None:
        with self.lock:
            if worker.state != "alive" or self.workers.get(worker.worker_id) is not worker:
                return
            worker.state = state
            log.warning("worker %s %s: %s", worker.worker_id, state, reason)
            for app_id, executor_id in list(worker.executors):
                app = self.apps.get(app_id)
                if app is not None and app.executors.pop(executor_id, None) is not None:
                    self.counters["executor_losses"] += 1
                    _send_quietly(app.conn, ExecutorRemoved(
                        executor_id, f"worker {worker.worker_id} was lost ({reason})", True))
            worker.executors.clear()
            worker.conn.close()
            self._save()
            self._schedule()

    def _app_finished(self, app: AppInfo, state: str) -> None:
        with self.lock:
            if app.state in ("finished", "failed", "killed"):
                return
            app.state = state
            app.ended = time.time()
            for executor_id, worker_id in app.executors.items():
                worker = self.workers.get(worker_id)
                if worker is not None:
                    worker.executors.pop((app.app_id, executor_id), None)
            for worker_id in set(app.executors.values()):
                if worker_id in self.workers:
                    _send_quietly(self.workers[worker_id].conn, ApplicationEnded(app.app_id))
            app.executors.clear()
            log.info("application %s %s", app.app_id, state)
            self._save()
            self._schedule()

    def application_detail(self, app_id: str) -> Optional[dict]:
        """One application for the web UI: status, stages, executors, cached RDDs."""
        with self.lock:
            app = self.apps.get(app_id)
            if app is None:
                return None
            summary = [a for a in self.status()["applications"] if a["id"] == app_id][0]
            metrics = app.metrics or {}
            return {**summary, "executors": dict(app.executors),
                    "jobs": metrics.get("job_progress", []),
                    "stages": metrics.get("stage_progress", []),
                    "cached_rdds": metrics.get("cached_rdds", []),
                    "logs": f"/api/v1/applications/{app_id}/logs"}

    def history(self) -> List[dict]:
        """Summaries of the applications whose event logs are in ``event_log_dir``."""
        from ..scheduler.event_log import list_summaries

        return list_summaries(self.event_log_dir) if self.event_log_dir else []

    def history_of(self, app_id: str) -> Optional[dict]:
        from ..scheduler.event_log import summary_of

        return summary_of(self.event_log_dir, app_id) if self.event_log_dir else None

    def application_output(self, app_id: str, limit: int = 1 << 20) -> Optional[str]:
        """The last ``limit`` bytes of an application's (or driver's) stored output."""
        path = os.path.join(self.work_dir, "apps", app_id, "output.log")
        if not os.path.exists(path):
            return None if app_id not in self.apps else ""
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - limit))
            return fh.read().decode("utf-8", "replace")

    def kill_application(self, app_id: str, reason: str) -> bool:
        with self.lock:
            app = self.apps.get(app_id)
            if app is None or app.state not in ("waiting", "running"):
                return False
            _send_quietly(app.conn, ApplicationKilled(reason))
            self._app_finished(app, "killed")
            return True

    def _check_heartbeats(self) -> None:
        while not self._stopped.wait(1.0):
            try:
                now = time.monotonic()
                with self.lock:
                    for worker in list(self.workers.values()):
                        if worker.state == "alive" and now - worker.last_heartbeat > self.worker_timeout:
                            self._worker_gone(worker, f"no heartbeat for {self.worker_timeout:.0f}s")
                    if self._unsaved:
                        self._save()
            except Exception:  # this thread is the only one that notices silent workers
                log.exception("checking worker heartbeats failed; checking again in 1s")

    # -- status ----------------------------------------------------------------------
    def status(self) -> dict:
        """The documented JSON status (``vega status --json``, ``/api/v1/status``)."""
        now = time.time()
        with self.lock:
            return {
                "master": {"url": self.url, "version": __version__,
                           "python": python_version(), "started": self.started,
                           "uptime_seconds": round(now - self.started, 1)},
                "workers": [{
                    "id": w.worker_id, "host": w.host, "port": w.port, "state": w.state,
                    "cores": w.cores, "cores_used": w.cores_used,
                    "memory_bytes": w.memory, "memory_used_bytes": w.memory_used,
                    "labels": w.labels,
                    "last_heartbeat_seconds_ago": round(time.monotonic() - w.last_heartbeat, 1),
                    "executors": [f"{a}/{e}" for a, e in w.executors],
                } for w in self.workers.values()] + [{
                    "id": worker_id, "host": w["host"], "port": w["port"], "state": "lost",
                    "cores": w["cores"], "cores_used": 0, "memory_bytes": w["memory"],
                    "memory_used_bytes": 0, "labels": w["labels"],
                    "last_heartbeat_seconds_ago": None, "executors": [],
                } for worker_id, w in self.recovered_workers.items()],
                "applications": [{
                    "id": a.app_id, "name": a.request.name, "state": a.state,
                    "cores": len(a.executors), "driver": f"{a.request.driver_host}:{a.request.driver_port}",
                    "started": a.submitted,
                    "duration_seconds": round((a.ended or now) - a.submitted, 1),
                    "waiting_reason": a.waiting_reason if a.state == "waiting" else "",
                } for a in self.apps.values()] + [{
                    "id": app_id, "name": r["name"],
                    "state": "recovering" if r["state"] in ("waiting", "running") else r["state"],
                    "cores": 0, "driver": "", "started": r["submitted"],
                    "duration_seconds": round((r["ended"] or now) - r["submitted"], 1),
                    "waiting_reason": "",
                } for app_id, r in self.recovered.items()],
                "drivers": self.drivers.status() + [
                    {**d, "state": "unknown" if d["state"] in ("running", "restarting", "submitted")
                     else d["state"]} for d in self.recovered_drivers],
            }


def _send_quietly(conn: Connection, message) -> None:
    """Send to a peer that may have gone; its own loop notices and cleans up."""
    try:
        conn.send(message)
    except OSError:
        pass

