"""The worker's I/O: sockets, processes and disk, driven by ``WorkerState``.

One per host.  Launches and supervises executor processes and serves shuffle blocks
from its disk to executors on other hosts.  Every decision (when to register, retry,
send a heartbeat, give up on the master, report or kill an executor, clean work
directories) is made by ``vega_runtime.deploy.worker_state.WorkerState``; this module
turns sockets, processes and timers into its events and carries out its actions.

One thread (``run``) applies events in order.  Work that waits (connecting to the
master, reading from it and sending to it, fetching and unpacking a package, watching
an executor, killing a process group, cleaning the disk) runs in threads of its own
that post events back; no lock is held while anything waits on a socket or the disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Set, Tuple

from .. import ids, packaging
from .._version import __version__
from ..config import Config
from ..config_limits import rpc_limits
from ..errors import BadPackage, DaemonStartFailed, VegaError
from ..forkserver import (ADOPTED_CHECK, FORK_ONLY_ENV, ForkServer, command_title,
                          compatible, python_module)
from ..net.connection import Connection
from ..net.endpoints import host_port
from ..net.framing import ProtocolError
from ..net.messages import (ApplicationEnded, BlockData, BlockUnavailable, ExecutorExited,
                            FetchBlock, FetchPackage, KillExecutor as KillExecutorMessage,
                            LaunchExecutor, PackageData, PackageStatus, RegisteredWorker, RegisterWorker,
                            RegisterWorkerFailed, WorkerHeartbeat, WorkerStopping)
from ..net.package_stream import receive_file
from ..net.server import Server
from ..processes import (SIGNAL_CHECK_SECONDS, become_subreaper, end_adopted, end_group,
                         oom_kill_count)
from ..shuffle.blocks import SERVICE_MAX_REQUEST_BYTES, remove_dead_executor_output
from ..private_files import make_private_dir, set_aside_foreign
from ..scheduler.event_log_cleaner import FUTURE_SLACK_SECONDS
from ..resources import EXECUTOR_RESOURCES_ENV, discover
from ..versions import python_version
from .log_files import wait_rotating_output
from .worker_state import (AbandonSession, ApplicationFinished, CleanWorkDirs, Connect, ExecutorLaunchFailed,
                           ExecutorProcessExited, ExecutorStarted, KillExecutor, KillRequested,
                           LaunchRequested, Refused, Registered, RegistrationFailed,
                           RemoveAppData, ReportExecutorExit, SendHeartbeat, SessionLost,
                           Shutdown, Started,
                           StartExecutor, StopRequested, Tick, WorkerState, expired_app_dirs,
                           expired_packages)

log = logging.getLogger(__name__)

EXECUTOR_MODULE = "vega_runtime.deploy.executor_main"
#: what the worker's fork server imports before forking executors
EXECUTOR_PRELOAD = ("vega_runtime.deploy.executor_preload",)
#: the largest offset a file can have (``seek`` takes a signed 64-bit one)
MAX_FILE_OFFSET = (1 << 63) - 1
#: at most this many applications with data are reported at registration (the rest wait
#: for --work-dir-ttl)
MAX_REPORTED_APPS = 1000

Key = Tuple[str, str]  # (app_id, executor_id)


class Worker:
    """A worker of the master at ``master_host:master_port``, configured by ``conf``
    (``vega.worker.*``, ``vega.net.*``) with its host, cores and memory resolved:
    ``vega.worker.host`` is the address it advertises, and its shuffle service listens on
    ``vega.worker.bind`` (by default the same address)."""

    def __init__(self, conf: Config, master_host: str, master_port: int,
                 secret: Optional[bytes], secret_file: str, use_forkserver: bool = True,
                 adopt_orphans: bool = False):
        self.conf = conf
        self.master = (master_host, master_port)
        self.secret = secret
        self.secret_file = secret_file
        self.host = conf["vega.worker.host"]
        #: the address its ports listen on
        self.bind_host = conf["vega.worker.bind"] or self.host
        self.cores, self.memory = conf["vega.worker.cores"], conf["vega.worker.memory"]
        self.labels = list(conf["vega.worker.labels"])
        #: custom resources it offers (name -> addresses), found by their discovery scripts
        self.resources = {name: info.addresses for name, info in discover(conf, "worker").items()}
        #: the addresses each running executor holds (LaunchExecutor's), told to a new master
        self.held: Dict[Tuple[str, str], Dict[str, List[str]]] = {}
        #: hold each executor to the memory it was granted (executor_main --memory-limit)
        self.limit_memory = conf["vega.worker.executor_memory_limit"]
        self.work_dir = make_private_dir(os.path.abspath(conf["vega.worker.work_dir"]))
        # none another account could have put there (a link app-X -> /etc, whose directories
        # remove_earlier_app_data would delete; packages, run as they are found)
        set_aside_foreign(self.work_dir, "in the worker's work dir")
        set_aside_foreign(os.path.join(self.work_dir, "packages"), "cached job packages")
        self.work_dir_ttl = conf["vega.worker.cleanup.app_data_ttl"]
        #: this process hashes with a random seed it was forked with (a local cluster's, its
        #: driver's): its executors must be forks, as no new interpreter hashes like it
        self.fork_only = os.environ.get(FORK_ONLY_ENV) == "1"
        #: warm executors (see vega_runtime.forkserver); None: each one is a new interpreter.
        #: Started first: a fork must happen before this process has threads or sockets.
        self.forkserver = self._start_forkserver() if use_forkserver else None
        self.shuffle = Server(self.bind_host, conf["vega.worker.port"], secret,
                              self._serve_blocks, "shuffle-service", **rpc_limits(conf))
        #: counts for /metrics (executor launches and exits are counted by ``state``)
        self.served = {"blocks": 0, "bytes": 0, "missing": 0}
        self.worker_id = f"worker-{time.strftime('%Y%m%d%H%M%S')}-{self.host}-{self.shuffle.port}"
        #: the decisions; touched only by the thread in ``run``
        self.state = WorkerState(conf["vega.worker.death_timeout"], self.work_dir_ttl,
                                 heartbeat_interval=conf["vega.worker.heartbeat_interval"],
                                 max_retry=conf["vega.worker.reconnect.max_backoff"],
                                 registration_timeout=conf["vega.worker.registration_timeout"])
        #: events for ``run``; SimpleQueue.put is safe from a signal handler
        self.events: "queue.SimpleQueue" = queue.SimpleQueue()
        #: guards ``executors``, ``conn`` and ``stopping`` (never held while waiting)
        self.lock = threading.Lock()
        self.executors: Dict[Key, subprocess.Popen] = {}
        #: the job package each application's executors here run (``packages/SHA256``)
        self.packages_of: Dict[str, str] = {}
        #: the registered session's connection to the master, if any
        self.conn: Optional[Connection] = None
        self.stopping = False
        #: {session: its connection (None while connecting)} while a session's thread runs;
        #: an abandoned session is removed, and its thread then goes quietly
        self.sessions: Dict[int, Optional[Connection]] = {}
        self._cleaning = threading.Lock()
        #: messages for the master, sent by their own thread so the event loop never waits
        #: on the master's socket
        self.outbox: "queue.SimpleQueue" = queue.SimpleQueue()
        #: executors being started as this process's children, not yet in ``executors``
        self.launching = 0
        #: make this process a subreaper that kills orphans re-parented to it: only for a
        #: process of its own (``vega worker``), as it kills every child it did not start
        self.adopt_orphans = adopt_orphans

    # -- the event loop ----------------------------------------------------------------
    def run(self) -> int:
        """Serve until stopped or the master is gone for good; returns an exit code."""
        self.shuffle.start()
        log.info("worker %s: shuffle service on %s:%d (listening on %s)", self.worker_id,
                 self.host, self.shuffle.port, self.bind_host)
        self.remove_earlier_app_data()  # before it registers: no executor of its may run yet
        self.events.put(Started())
        _spawn(self._send_outbox)
        if self.adopt_orphans and become_subreaper():
            _spawn(self._end_adopted_orphans)
        try:
            while True:
                wakeup = self.state.next_wakeup()
                wait = SIGNAL_CHECK_SECONDS if wakeup is None else \
                    max(0.0, min(SIGNAL_CHECK_SECONDS, wakeup - time.monotonic()))
                try:
                    event = self.events.get(timeout=wait)  # a SIGTERM's handler runs between
                except queue.Empty:
                    event = Tick()
                for action in self.state.handle(event, time.monotonic()):
                    if isinstance(action, Shutdown):
                        return self._shut_down(action)
                    self._carry_out(action)
        finally:
            self.outbox.put(None)
            self.shuffle.stop()
            if self.forkserver is not None:
                self.forkserver.close()

    def request_stop(self) -> None:
        """Say goodbye to the master and end ``run`` (safe from a signal handler)."""
        self.events.put(StopRequested())

    def wake(self) -> None:
        """Wake ``run``'s wait now (a signal's handler runs in that thread only)."""
        self.events.put(Tick())

    def _carry_out(self, action) -> None:
        if isinstance(action, Connect):
            with self.lock:
                self.sessions[action.session] = None
            _spawn(self._session, action)
        elif isinstance(action, AbandonSession):
            with self.lock:
                conn = self.sessions.pop(action.session, None)
            if conn is not None:
                conn.close()  # its thread's recv fails; the state has moved on already
        elif isinstance(action, SendHeartbeat):
            self.outbox.put(WorkerHeartbeat(self.worker_id))
        elif isinstance(action, StartExecutor):
            self._replace_dead_forkserver()  # here: its parent must be a thread that stays
            _spawn(self._run_executor, action.order)
        elif isinstance(action, KillExecutor):
            with self.lock:
                proc = self.executors.get((action.app_id, action.executor_id))
            if proc is not None:
                _spawn(_kill_group, proc)
        elif isinstance(action, ReportExecutorExit):
            self.outbox.put(ExecutorExited(action.app_id, action.executor_id, action.exit_code,
                                           action.reason, action.cause, action.detail))
        elif isinstance(action, CleanWorkDirs):
            _spawn(self._clean_in_background, action.keep)
        elif isinstance(action, RemoveAppData):
            _spawn(self.remove_app_data, action.app_id)
        else:
            raise TypeError(f"unknown worker action {action!r}")

    def _shut_down(self, action: Shutdown) -> int:
        log.info("worker %s stopping: %s", self.worker_id, action.reason)
        with self.lock:
            self.stopping = True
            conn, self.conn = self.conn, None
            doomed = list(self.executors.values())
        if conn is not None:
            if action.goodbye:
                try:
                    conn.send(WorkerStopping(self.worker_id))
                except OSError:
                    pass
            conn.close()
        killers = [_spawn(_kill_group, proc) for proc in doomed]
        for killer in killers:
            killer.join()
        self.remove_earlier_app_data("this worker's executors")  # its service stops with it
        return action.exit_code

    # -- the master ------------------------------------------------------------------
    def _session(self, order: Connect) -> None:
        """Connect and register, then turn what the master says into events until the
        connection ends (or the session is abandoned)."""
        session = order.session
        try:
            conn = Connection.connect(*self.master, self.secret or b"")
        except (OSError, VegaError) as exc:
            self.events.put(RegistrationFailed(session, _why(exc)))
            return
        with self.lock:
            abandoned = session not in self.sessions
            if not abandoned:
                self.sessions[session] = conn
        if abandoned:
            conn.close()
            return
        try:
            self._follow_master(session, conn, order.executors)
        except Exception as exc:  # a bug here must not leave the worker without a master
            log.exception("session %d with the master failed", session)
            self.events.put(SessionLost(session, f"internal error: {exc!r}"))
        finally:
            with self.lock:
                self.sessions.pop(session, None)
                if self.conn is conn:
                    self.conn = None
            conn.close()

    def _follow_master(self, session: int, conn: Connection, executors: List[List[str]]) -> None:
        try:
            with self.lock:
                held = {f"{a} {e}": self.held[(a, e)] for a, e in executors
                        if self.held.get((a, e))}
            conn.send(RegisterWorker(self.worker_id, self.host, self.shuffle.port, self.cores,
                                     self.memory, self.labels, python_version(), __version__,
                                     os.getpid(), executors, self.resources, held,
                                     self.apps_with_data({a for a, _ in executors})))
            reply = conn.recv()
            if isinstance(reply, RegisterWorkerFailed):
                self.events.put(Refused(session, reply.reason))
                return
            if not isinstance(reply, RegisteredWorker):
                raise ProtocolError(conn.peer, f"expected RegisteredWorker, got {type(reply).__name__}")
        except (OSError, VegaError) as exc:
            self.events.put(RegistrationFailed(session, _why(exc)))
            return
        with self.lock:
            if self.stopping or session not in self.sessions:  # stopped, or abandoned
                return
            self.conn = conn
        log.info("registered with master %s:%d as %s", *self.master, self.worker_id)
        self.events.put(Registered(session))
        try:
            while True:
                self.events.put(self._event_from(conn, conn.recv()))
        except (OSError, VegaError) as exc:
            self.events.put(SessionLost(session, _why(exc)))

    @staticmethod
    def _event_from(conn: Connection, message):
        if isinstance(message, LaunchExecutor):
            return LaunchRequested(message)
        if isinstance(message, KillExecutorMessage):
            return KillRequested(message.app_id, message.executor_id)
        if isinstance(message, ApplicationEnded):
            return ApplicationFinished(message.app_id)
        raise ProtocolError(conn.peer, f"unexpected {type(message).__name__} from the master")

    def _send_outbox(self) -> None:
        """Send queued messages on the registered session, if there is one (a broken
        connection is noticed by the session's reader; the next registration tells the
        master which executors still run)."""
        while True:
            message = self.outbox.get()
            if message is None:
                return
            with self.lock:
                conn = self.conn
            if conn is not None:
                try:
                    conn.send(message)
                except OSError:
                    pass

    def _start_forkserver(self) -> ForkServer:
        """A fork of this process when it already has the executors' hash seed (sharing
        its imports), else a new interpreter with that seed."""
        if sys.flags.hash_randomization == 0 or self.fork_only:  # PYTHONHASHSEED=0, or forks
            forked = ForkServer.fork(EXECUTOR_PRELOAD)
            if forked is not None:
                return forked
            if self.fork_only:
                raise DaemonStartFailed("the worker", "it has threads already, so it cannot "
                                        "fork its executors' fork server, and no new "
                                        "interpreter would hash like it (a local cluster's)")
        return ForkServer.spawn({**os.environ, "PYTHONHASHSEED": "0"}, EXECUTOR_PRELOAD,
                                os.path.join(self.work_dir, "forkserver.log"))

    def _replace_dead_forkserver(self) -> None:
        """Start a new fork server if the one there was died (the OOM killer's pick, say):
        the dead one is reaped, so the worker keeps no zombie for the rest of its life, and
        executors are forked again instead of each starting a new interpreter.  Called by
        the event loop's thread, which lives as long as the worker: a new fork server dies
        with the thread that started it (``die_with_parent``), and a launch's thread ends
        with its executor.  A local cluster's worker, which can only fork one and cannot
        once it has threads, is left without (its launches say so)."""
        server = self.forkserver
        if server is None or not server.gone:
            return
        server.close()  # reaps it
        log.warning("the executors' fork server (pid %d) is gone (exit code %s); starting a "
                    "new one", server.server.pid, server.server.returncode)
        with self.lock:  # a child the orphan reaper must not take for an orphan
            self.launching += 1
        try:
            self.forkserver = self._start_forkserver()
        except (OSError, DaemonStartFailed) as exc:
            log.error("no new fork server (%s): executors start as new interpreters",
                      _why(exc))
            self.forkserver = None
        finally:
            self._launched()

    # -- executors ---------------------------------------------------------------------
    def _run_executor(self, order: LaunchExecutor) -> None:
        """Start an executor, report it started, wait for its exit and report that."""
        key = (order.app_id, order.executor_id)
        with self.lock:
            self.launching += 1
        try:  # LaunchExecutor's ids were checked when it was decoded: this is the second line
            log_path = os.path.join(self.work_dir, ids.APP.check(order.app_id),
                                    f"{ids.EXECUTOR.check(order.executor_id)}.log")
            proc = self._start_executor(order, log_path)
        except (OSError, VegaError) as exc:
            self._launched()
            self.events.put(ExecutorLaunchFailed(*key, f"{_why(exc)} (on worker {self.worker_id})"))
            return
        except Exception as exc:  # a bug: the launch fails, the worker goes on
            self._launched()
            log.exception("launching %s of %s failed", order.executor_id, order.app_id)
            self.events.put(ExecutorLaunchFailed(*key, f"internal error on worker "
                                                       f"{self.worker_id}: {exc!r}"))
            return
        with self.lock:
            self.executors[key] = proc
            self.held[key] = json.loads(order.env.get(EXECUTOR_RESOURCES_ENV) or "{}")
            self.launching -= 1
            stopping = self.stopping
        if stopping:  # the worker stopped while this one was starting
            _kill_group(proc)
        log.info("launched %s of %s (pid %d)", order.executor_id, order.app_id, proc.pid)
        self.events.put(ExecutorStarted(*key))
        oom_kills = oom_kill_count()
        code = wait_rotating_output(proc, log_path)
        oom_kills = oom_kill_count() - oom_kills
        with self.lock:
            self.executors.pop(key, None)
            self.held.pop(key, None)
        self._remove_unfinished_output(*key, os.path.dirname(log_path))
        self.events.put(ExecutorProcessExited(*key, code, _tail(log_path),
                                              order.memory if self.limit_memory else 0,
                                              oom_kills))

    def _remove_unfinished_output(self, app_id: str, executor_id: str, app_dir: str) -> None:
        """(Its process ended, whatever ended it.) Delete what the executor's map attempts in
        flight had half-written in the application's shuffle directory, which its other
        executors here share, and its spill directory: else a task reaped or killed over and
        over, or executors OOM-killed mid-write, fill this disk with dead runs until the
        application ends. Committed map outputs stay: this worker serves them."""
        from ..scheduler.executor import ExecutorDirs  # (here: the worker's start does without)

        dirs = ExecutorDirs.named(app_dir, executor_id)
        try:
            removed = remove_dead_executor_output(dirs.shuffle, dirs.spill)
        except OSError as exc:  # (a disk gone bad): the application's end deletes them
            log.warning("could not delete the unfinished map output of %s of %s: %s",
                        executor_id, app_id, exc)
            return
        if removed:
            log.info("deleted %d unfinished map output files of %s of %s: %s", len(removed),
                     executor_id, app_id, ", ".join(removed))

    def _launched(self) -> None:
        with self.lock:
            self.launching -= 1

    def _end_adopted_orphans(self) -> None:
        """The worker is a subreaper: what an executor that died without cleaning up left
        behind (an executor started as a new interpreter and SIGKILLed, or everything under
        a fork server that died) re-parents here and is killed, once a second."""
        while True:
            time.sleep(ADOPTED_CHECK)
            with self.lock:
                if self.launching:  # a new child may not be in ``executors`` yet
                    continue
                known = {proc.pid for proc in self.executors.values()}
            forkserver = self.forkserver
            if forkserver is not None:
                known.add(forkserver.server.pid)
            end_adopted(known)

    def _start_executor(self, order: LaunchExecutor, log_path: str) -> subprocess.Popen:
        app_dir = os.path.dirname(log_path)
        os.makedirs(app_dir, exist_ok=True)
        package_args: List[str] = []
        if order.package_sha:
            package_args = ["--package-dir", self.package_dir(order.package_sha)]
            with self.lock:
                self.packages_of[order.app_id] = order.package_sha
        args = ["--driver", host_port(order.driver_host, order.driver_port),
                "--app-id", order.app_id, "--executor-id", order.executor_id,
                "--worker-id", self.worker_id, "--host", self.host,
                "--shuffle-port", str(self.shuffle.port), "--bind", self.bind_host,
                "--app-dir", app_dir,
                "--memory", str(order.memory), "--secret-file", self.secret_file,
                *package_args]
        if self.limit_memory:
            args += ["--memory-limit", str(order.memory)]
        env = {**os.environ, **order.env}
        forkserver = self.forkserver
        if forkserver is not None:
            proc = forkserver.launch(f"{EXECUTOR_MODULE}:main", args, env, log_path,
                                     command_title(EXECUTOR_MODULE, args), tie=True)
            if proc is not None:
                return proc
        if self.fork_only and self.forkserver is not None and \
                not compatible(env, self.forkserver.env):
            raise VegaError(
                "a local cluster's executors are forks of the driver's interpreter, so they "
                "cannot have Python start-up variables of their own ("
                + ", ".join(sorted(k for k in {*env, *self.forkserver.env}
                                   if k.startswith("PYTHON")
                                   and env.get(k) != self.forkserver.env.get(k)))
                + "): set them in the driver's environment before it starts, or give them "
                "on a vega:// cluster")
        if self.fork_only:
            raise VegaError("this local cluster's executors must be forked from its "
                            "worker's fork server, which is gone (they hash like the driver, "
                            "whose hash seed is random, and no new interpreter can): stop the "
                            "Context and start it again")
        with open(log_path, "ab") as log_file:
            return subprocess.Popen([*python_module(EXECUTOR_MODULE), *args],
                                    stdin=subprocess.DEVNULL, stdout=log_file,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**env, "VEGA_WORKER_PID": str(os.getpid())})

    def package_dir(self, sha256: str) -> str:
        """The extracted job package, fetched from the master the first time; raises
        ``PackageUnavailable`` (or ``BadPackage``) saying why it cannot be had."""
        directory = os.path.join(self.work_dir, "packages", ids.PACKAGE.check(sha256))
        if os.path.isdir(directory):
            os.utime(directory)  # used now: the cleaner keeps it for another TTL
            return directory
        os.makedirs(os.path.dirname(directory), exist_ok=True)
        # one per thread: a worker fetches the package for each executor it starts in a
        # thread of its own
        path = f"{directory}.{os.getpid()}.{threading.get_ident()}.zip.tmp"
        try:
            self._fetch_package(sha256, path)
            packaging.extract(path, directory)
        finally:
            with contextlib.suppress(OSError):
                os.remove(path)
        log.info("cached package %s", sha256[:12])
        return directory

    def _fetch_package(self, sha256: str, path: str) -> None:
        """Write the package to ``path`` as it comes from the master, in chunks, hashing it;
        ``PackageUnavailable`` (or ``BadPackage``: no room for it here) unless it all came
        and hashes to its name."""
        try:
            conn = Connection.connect(*self.master, self.secret or b"")
        except (OSError, VegaError) as exc:
            raise PackageUnavailable(sha256, f"the master is unreachable ({_why(exc)})") from None
        problem, failed, digest = None, None, ""
        try:
            conn.send(FetchPackage(sha256))
            reply = conn.recv()
            if isinstance(reply, PackageStatus) and not reply.present:
                problem = PackageUnavailable(sha256, "the master does not have it")
            elif not isinstance(reply, PackageData):
                problem = PackageUnavailable(sha256, f"the master sent {type(reply).__name__}")
            elif room := packaging.space_problem(reply.size, os.path.dirname(path)):
                problem = BadPackage(room)
            else:
                with open(path, "wb") as out:
                    digest, failed = receive_file(conn, reply.size, out)
        except (OSError, VegaError) as exc:  # a package cut short: ConnectionClosed
            raise PackageUnavailable(sha256, f"the connection to the master failed ({_why(exc)})"
                                     ) from None
        finally:
            conn.close()
        if problem is not None:
            raise problem
        if failed is not None:
            raise PackageUnavailable(sha256, f"it could not be written to {path} "
                                             f"({failed.strerror or failed})")
        if digest != sha256:
            raise PackageUnavailable(sha256, "what the master sent does not match its sha256")

    # -- work dir cleanup --------------------------------------------------------------
    def _clean_in_background(self, keep) -> None:
        if self._cleaning.acquire(blocking=False):  # one cleaner at a time
            try:
                self.clean_work_dirs(time.time(), keep)
            finally:
                self._cleaning.release()

    def clean_work_dirs(self, now: float, keep) -> List[str]:
        """Delete the directories of applications not in ``keep``, idle past the TTL."""
        changes = {}
        for name in os.listdir(self.work_dir):
            path = os.path.join(self.work_dir, name)
            if name.startswith("app-") and os.path.isdir(path):
                changes[name] = _last_change(path, now)
        removed = expired_app_dirs(changes, keep, now, self.work_dir_ttl)
        for name in removed:
            shutil.rmtree(os.path.join(self.work_dir, name), ignore_errors=True)
        if removed:
            log.info("cleaned work dirs of finished applications: %s", ", ".join(removed))
        return removed + self._clean_packages(now, keep)

    def remove_app_data(self, app_id: str) -> None:
        """Delete what a finished application's executors left here but their logs: its
        shuffle output, spills and cached blocks would otherwise fill the disk for
        ``--work-dir-ttl`` though nobody can read them any more."""
        self._delete_app_data(ids.APP.check(app_id))
        log.info("application %s ended: deleted its shuffle output and scratch files; its "
                 "executors' logs stay for %.0fs", app_id, self.work_dir_ttl)

    def apps_with_data(self, running: Set[str]) -> List[str]:
        """The applications not in ``running`` whose shuffle output or scratch files
        (directories in their application directory) are here: the master tells this
        worker to delete those of the ones it knows ended."""
        try:
            names = sorted(os.listdir(self.work_dir))
        except OSError:
            return []
        return [name for name in names if ids.APP.matches(name) and name not in running
                and self._holds_data(name)][:MAX_REPORTED_APPS]

    def _holds_data(self, app_dir_name: str) -> bool:
        path = os.path.join(self.work_dir, app_dir_name)
        try:
            return not os.path.islink(path) and any(
                entry.is_dir(follow_symlinks=False) for entry in os.scandir(path))
        except OSError:
            return False

    def remove_earlier_app_data(self, left_by: str = "an earlier run of this worker") -> List[str]:
        """Delete what executors of an earlier process of this worker left in its work dir
        but their logs (it was stopped or killed while applications ran), or those of this
        one as it stops (``left_by`` says which): those executors and that shuffle service
        are gone, so no driver reads this data any more (it recomputes what it lost), and
        nothing else would delete it before the TTL.  Returns the applications whose data
        went."""
        cleaned = [name for name in sorted(os.listdir(self.work_dir))
                   if ids.APP.matches(name) and self._delete_app_data(name)]
        if cleaned:
            log.info("deleted the shuffle output and scratch files %s left for %s; their "
                     "executors' logs stay for %.0fs", left_by, ", ".join(cleaned),
                     self.work_dir_ttl)
        return cleaned

    def _delete_app_data(self, app_dir_name: str) -> bool:
        """Delete the directories in an application's work dir; whether there were any."""
        path = os.path.join(self.work_dir, app_dir_name)
        if os.path.islink(path):  # not followed: its target's directories are not ours to delete
            return False
        try:
            entries = list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            return False
        doomed = [entry for entry in entries if entry.is_dir(follow_symlinks=False)]
        for entry in doomed:
            shutil.rmtree(entry.path, ignore_errors=True)
        return bool(doomed)

    def _clean_packages(self, now: float, keep) -> List[str]:
        """Delete job packages no running application uses, unused past the TTL."""
        packages = os.path.join(self.work_dir, "packages")
        with self.lock:
            for app_id in [a for a in self.packages_of if a not in keep]:
                del self.packages_of[app_id]
            in_use = set(self.packages_of.values())
        try:
            names = os.listdir(packages)
            last_used = {sha: _changed(os.path.join(packages, sha), now)
                         for sha in names if ids.PACKAGE.matches(sha)}
        except OSError:  # no package yet (or one went meanwhile: the next round)
            return []
        for name in names:  # a fetch or an unpacking cut off (the worker killed): its part,
            path = os.path.join(packages, name)  # up to a package's size, unwritten a TTL
            with contextlib.suppress(OSError):
                if ".tmp" not in name or now - os.path.getmtime(path) <= self.work_dir_ttl:
                    continue
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
        removed = expired_packages(last_used, in_use, now, self.work_dir_ttl)
        for sha in removed:
            shutil.rmtree(os.path.join(packages, sha), ignore_errors=True)
        if removed:
            log.info("cleaned job packages no application uses: %s",
                     ", ".join(sha[:12] for sha in removed))
        return [f"packages/{sha}" for sha in removed]

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
        path = ids.path_inside(request.path, self.work_dir)
        if path is None:
            return BlockUnavailable(f"{request.path} is not a shuffle file of this worker")
        if not 0 <= request.length <= SERVICE_MAX_REQUEST_BYTES:
            return BlockUnavailable(f"{request.length} bytes asked at once; a shuffle service "
                                    f"sends at most {SERVICE_MAX_REQUEST_BYTES} per request")
        if request.offset > MAX_FILE_OFFSET:  # (seek takes a signed 64-bit offset)
            return BlockUnavailable(f"{request.path}: offset {request.offset} is past the end "
                                    "of any file")
        try:
            with open(path, "rb") as fh:
                fh.seek(request.offset)
                data = fh.read(request.length)
        except OSError as exc:
            return BlockUnavailable(f"{request.path}: {exc.strerror or exc}")
        if len(data) != request.length:
            return BlockUnavailable(f"{request.path} is shorter than expected")
        return BlockData(data)


class PackageUnavailable(VegaError):
    """A worker could not get an application's job package from the master."""

    def __init__(self, sha256: str, problem: str):
        super().__init__(sha256, problem)
        self.sha256, self.problem = sha256, problem

    def __str__(self) -> str:
        return (f"job package {self.sha256[:12]} could not be fetched from the master: "
                f"{self.problem}; submit the job again")


def _spawn(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _kill_group(proc: subprocess.Popen) -> None:
    """End an executor's process group (the executor kills what it started, daemonized
    grandchildren included; its tree goes with SIGKILL if it lingers)."""
    end_group(proc, grace=2.0)


def _last_change(path: str, now: float) -> float:
    """The newest modification time of a directory tree (``_changed``)."""
    newest = _changed(path, now)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                newest = max(newest, _changed(os.path.join(root, name), now))
            except OSError:
                pass
    return newest


def _changed(path: str, now: float) -> float:
    """The modification time of ``path``; one more than ``FUTURE_SLACK_SECONDS`` after
    ``now`` (written while the clock was ahead, then set back) is set to ``now``, from which
    it ages: it kept its directory until the clock caught up with it (a clock a year ahead:
    a year of executor logs)."""
    changed = os.path.getmtime(path)
    if changed > now + FUTURE_SLACK_SECONDS:
        with contextlib.suppress(OSError):
            os.utime(path, (now, now), follow_symlinks=False)
        return now
    return changed


def _tail(path: str, lines: int = 5) -> str:
    """The last lines of a log, joined with " | " ("" if there is none)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - 4000))
            text = fh.read().decode("utf-8", "replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return " | ".join(text)
