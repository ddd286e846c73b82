"""The backend for ``vega://`` and ``local-cluster`` masters.

The driver registers its application with the master and listens for its
executors, which workers launch and which connect back to the driver.  Task
launches go straight to executors over their connections; executor and
master connections are served by threads that turn what they hear into
events for the job loop (``poll``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
import os
import queue
import threading
import time
from typing import Callable, Dict, List, Optional

from .._version import __version__
from ..errors import (ApplicationRefused, ExecutorsCannotStart, JobCancelled,
                      MasterUnreachable, NoExecutors, VegaError)
from ..executor_loss import LossCause
from ..net.connection import HANDSHAKE_TIMEOUT, Connection
from ..net.framing import ConnectionClosed, ProtocolError
from ..net.messages import (AppEvents, AppLog, AppMetrics, ApplicationKilled, ApplicationRejected, BroadcastData,
                            FetchBroadcast, ApplicationWaiting, ExecutorAdded,
                            ExecutorRemoved, RegisterApplication, RegisteredApplication,
                            KillExecutors, KillTask, RegisterExecutor, RemoveBroadcast, RemoveRdd,
                            RequestExecutors, Shutdown, TaskFinished, TaskOutput,
                            UnregisterApplication)
from ..net.server import Server
from ..retry import Backoff
from ..versions import python_version
from .allocation import AllocationSettings, ExecutorAllocationManager, ExecutorView
from .backend import (ExecutorAddedEvent, ExecutorLostEvent, OutputCallback, TaskFinishedEvent, TaskLaunch,
                      TaskQueue, TaskStartedEvent)
from .event_log import EventWriter
from .listener import JobListener, prefix_lines
from .log_buffer import LogRelayBuffer, dropped_notice

log = logging.getLogger(__name__)

#: Event-log lines a driver keeps for a master that is away, and at most this many bytes
EVENT_BUFFER_LINES = 100_000
EVENT_BUFFER_BYTES = 64 << 20
#: Seconds a lost executor's connection waits for its worker to report how it exited (the
#: report usually comes within milliseconds; the wait ends when it does).
EXIT_REASON_WAIT = 5.0
#: How often dynamic allocation looks at the backlog and idle executors (Spark: 100 ms).
ALLOCATION_INTERVAL = 0.1
#: A released executor still connected after this long (its master did not know it) is
#: told to stop by the driver itself.
RELEASE_GRACE = 10.0


class _Slot:
    def __init__(self, executor_id: str, host: str, shuffle_port: int, conn: Connection):
        self.executor_id, self.host, self.shuffle_port, self.conn = executor_id, host, shuffle_port, conn
        self.task: Optional[TaskLaunch] = None
        self.payloads_sent: set = set()
        #: its connection closed: no new task, while its worker is given time to say why
        self.gone = False
        #: when it last became idle (``time.monotonic()``)
        self.idle_since = time.monotonic()
        #: why it is being released (dynamic allocation); it gets no more tasks
        self.releasing: Optional[str] = None
        self.releasing_since = 0.0


class ClusterBackend:
    def __init__(self, master_host: str, master_port: int, secret: Optional[bytes],
                 request: dict, advertise_host: str, bind_host: str,
                 on_output: OutputCallback, on_waiting: Callable[[str], None],
                 locality_wait: float, executor_wait_timeout: float, starting: bool = False,
                 master_reconnect_timeout: float = 60.0,
                 server_limits: Optional[dict] = None,
                 allocation: Optional[AllocationSettings] = None):
        self.on_output = on_output
        self.on_waiting = on_waiting
        self.locality_wait = locality_wait
        self.executor_wait_timeout = executor_wait_timeout
        self.events: "queue.Queue" = queue.Queue()
        self.lock = threading.RLock()
        self.slots: Dict[str, _Slot] = {}
        #: executors that registered and are gone
        self._removed: set = set()
        self.queue = TaskQueue()
        self.waiting_reason = "waiting for executors to start"
        #: whether ``waiting_reason`` is the master's
        self._told_waiting = False
        self._stopping = False
        #: a LocalCluster started for this application, stopped with it
        self.owned_cluster = None
        #: True while a local-cluster's workers are still starting: no waiting messages
        self.starting = starting
        #: where the Context keeps broadcast values (served to executors on other hosts)
        self.broadcast_dir: Optional[str] = None
        #: ``snapshot() -> dict`` of the application's job metrics, relayed to the master
        self.metrics_source = None
        self._metrics_sent = -1
        #: how long a job waits for a lost master to come back before failing
        self.master_reconnect_timeout = master_reconnect_timeout
        #: why the master killed this application, once it has
        self.killed: Optional[str] = None
        #: task output on its way to the master, bounded while the master is away
        self._log_lines = LogRelayBuffer()
        #: event-log lines on their way to the master (its REST API for running apps)
        self._event_lines = LogRelayBuffer(EVENT_BUFFER_LINES, EVENT_BUFFER_BYTES)
        self._log_ready = threading.Condition(threading.Lock())
        self._stop_requested = threading.Event()  # ends the log sender's pauses
        self._executor_seen = threading.Condition(self.lock)
        #: why a worker could not start an executor of this application, the last time
        self.launch_failure: Optional[str] = None
        #: why the master is gone for good, once it is (ends waits for executors)
        self.master_lost: Optional[str] = None
        #: set once the master has given this application its id (executors may connect
        #: the moment it has, before this thread has read the reply)
        self._registered = threading.Event()
        #: dynamic allocation (``vega.dynamic_allocation.*``); None: static allocation
        self.allocation = ExecutorAllocationManager(allocation, time.monotonic()) \
            if allocation is not None else None
        #: ``holds_cached_blocks(executor_id) -> bool``, for dynamic allocation's timeouts
        self.holds_cached_blocks: Callable[[str], bool] = lambda executor_id: False
        self.server = Server(bind_host, 0, secret, self._serve_executor, "driver",
                             **(server_limits or {})).start()
        url = f"vega://{master_host}:{master_port}"
        package_sha = ""
        try:
            if request.get("package"):
                package_sha = self._upload_package(master_host, master_port, secret, request["package"])
            self.master = Connection.connect(master_host, master_port, secret or b"")
        except (OSError, ProtocolError) as exc:
            self.server.stop()
            raise MasterUnreachable(url, str(exc)) from None
        self.master_address = (master_host, master_port)
        self.secret = secret
        self.registration = RegisterApplication(
            request["name"], advertise_host, self.server.port, request["cores_max"],
            request["executor_cores"], request["executor_memory"], python_version(), __version__,
            package_sha, hash_seed=os.environ.get("PYTHONHASHSEED", "0"),
            labels=list(request.get("labels", ())),
            requested_executors=-1 if self.allocation is None else self.allocation.target)
        self.master.send(self.registration)
        reply = self.master.recv()
        if isinstance(reply, ApplicationRejected):
            self.stop()
            raise ApplicationRefused(reply.reason)
        self.app_id = reply.app_id if isinstance(reply, RegisteredApplication) else ""
        self._registered.set()
        threading.Thread(target=self._listen_to_master, name="driver-master", daemon=True).start()
        self._log_sender = threading.Thread(target=self._send_logs, name="driver-logs", daemon=True)
        self._log_sender.start()
        if self.allocation is not None:
            threading.Thread(target=self._allocate, name="driver-allocation", daemon=True).start()

    # -- dynamic allocation ----------------------------------------------------------------
    def _allocate(self) -> None:
        """Ask the master for executors while tasks wait; release idle ones (on a timer, so
        executors are released between jobs too)."""
        while not self._stop_requested.wait(ALLOCATION_INTERVAL):
            try:
                self._allocate_once(time.monotonic())
            except OSError as exc:  # the master is away: asked again after it is back
                log.debug("dynamic allocation could not reach the master: %s", exc)

    def _allocate_once(self, now: float) -> None:
        with self.lock:
            views = [ExecutorView(s.executor_id, s.task is not None, s.idle_since,
                                  s.task is None and self._holds_cached(s.executor_id))
                     for s in self.slots.values()]
            running = sum(1 for s in self.slots.values() if s.task is not None)
            decision = self.allocation.update(now, len(self.queue), running, views)
            released = []
            for executor_id, reason in decision.release:
                slot = self.slots.get(executor_id)
                if slot is not None and slot.task is None and slot.releasing is None:
                    slot.releasing, slot.releasing_since = reason, now
                    released.append(executor_id)
                else:
                    self.allocation.releasing.discard(executor_id)
            overdue = [s for s in self.slots.values()
                       if s.releasing is not None and now - s.releasing_since > RELEASE_GRACE]
            if decision.requested_total is not None:
                self.registration = replace(self.registration,
                                            requested_executors=decision.requested_total)
        if decision.requested_total is not None:
            log.info("dynamic allocation: requesting %d executors", decision.requested_total)
            self.master.send(RequestExecutors(decision.requested_total))
        for slot in overdue:
            slot.releasing_since = now  # told once per grace period
            log.warning("executor %s was released %.0fs ago and still runs: stopping it from "
                        "the driver", slot.executor_id, RELEASE_GRACE)
            try:
                slot.conn.send(Shutdown("released by dynamic allocation"))
            except OSError:
                pass
        if released:
            log.info("dynamic allocation: releasing %s (%s)", ", ".join(released),
                     decision.release[0][1])
            self.master.send(KillExecutors(released, decision.release[0][1]))

    def _holds_cached(self, executor_id: str) -> bool:
        try:
            return self.holds_cached_blocks(executor_id)
        except RuntimeError:  # the scheduler changed the table while we read it
            return True

    # -- logs kept by the master ---------------------------------------------------
    def relay_log(self, text: str) -> None:
        """Queue task output for the master (``vega logs``); sent in batches."""
        with self._log_ready:
            self._log_lines.add(text)
            self._log_ready.notify()

    def relay_events(self, line: str) -> None:
        """Queue one event-log line for the master; sent in batches with the logs."""
        with self._log_ready:
            self._event_lines.add(line + "\n")
            self._log_ready.notify()

    def _send_events(self) -> None:
        with self._log_ready:
            batch = self._event_lines.take()
        if not batch:
            return
        try:
            self.master.send(AppEvents("".join(batch)))
        except OSError:  # the master is away: keep them for later (the oldest may be dropped)
            with self._log_ready:
                self._event_lines.put_back(batch)

    @property
    def log_lines_dropped(self) -> int:
        """Lines of task output that never reached the master (it was away too long)."""
        with self._log_ready:
            return self._log_lines.dropped_total

    def _send_metrics(self) -> None:
        """Send the job metrics snapshot when it changed since the last one."""
        if self.metrics_source is None:
            return
        try:
            snapshot = self.metrics_source()
        except RuntimeError:  # the scheduler changed a table while we read it: next time
            return
        if snapshot["version"] != self._metrics_sent:
            self.master.send(AppMetrics(json.dumps(snapshot)))
            self._metrics_sent = snapshot["version"]

    def _send_logs(self) -> None:
        while True:
            with self._log_ready:
                if not self._log_lines and not self._stopping:
                    self._log_ready.wait(0.5)
                batch = self._log_lines.take()
                dropped, self._log_lines.unreported = self._log_lines.unreported, 0
                stopping = self._stopping
            try:
                self._send_metrics()
            except OSError:
                pass  # the master is away; the next snapshot carries everything
            self._send_events()
            if batch or dropped:
                try:
                    self.master.send(AppLog((dropped_notice(dropped) if dropped else "")
                                            + "".join(batch)))
                except OSError:
                    with self._log_ready:  # the master is away: keep the lines for later
                        self._log_lines.unreported += dropped
                        if stopping:
                            self._log_lines.drop(len(batch))
                            return
                        self._log_lines.put_back(batch)
                    self._stop_requested.wait(0.2)
                    continue
                if dropped:
                    log.warning("%d lines of task output were dropped while the master was "
                                "away (the driver buffers at most %d lines for it)", dropped,
                                self._log_lines.max_lines)
            if stopping and not batch and not dropped:
                return
            if batch:  # let lines accumulate into fewer, larger messages (unless stopping)
                self._stop_requested.wait(0.05)

    @staticmethod
    def _upload_package(host: str, port: int, secret: Optional[bytes], path: str) -> str:
        from ..packaging import Package, sha256_of, upload

        package = Package(path, sha256_of(path), os.path.getsize(path))
        conn = Connection.connect(host, port, secret or b"")
        try:
            upload(conn, package)
        finally:
            conn.close()
        return package.sha256

    # -- peers -----------------------------------------------------------------------
    def _listen_to_master(self) -> None:
        """Follow the master; when it goes away, reconnect and resume the application.

        Executors talk to the driver directly, so running jobs go on while the master
        restarts; the job fails only if the master stays away past the timeout.
        """
        while True:
            try:
                self._follow_master()
            except (OSError, ConnectionClosed, ProtocolError) as exc:
                if self._stopping:
                    return
                self.master.shutdown()  # log lines wait in the buffer, not in a dead socket
                log.warning("lost the connection to the master (%s); reconnecting", exc)
                if not self._reconnect():
                    log.error("the master did not come back within %.0fs",
                              self.master_reconnect_timeout)
                    with self.lock:
                        self.master_lost = str(exc)
                        self._executor_seen.notify_all()
                    self.events.put(MasterLostEvent(str(exc)))
                    return

    def _follow_master(self) -> None:
        while True:
            message = self.master.recv()
            if isinstance(message, ExecutorRemoved):
                self._executor_removed(message.executor_id, message.reason, message.worker_lost,
                                       message.cause, message.detail)
            elif isinstance(message, ApplicationWaiting):
                self.waiting_reason = message.message
                self._told_waiting = True
                if not self.starting:
                    log.warning("waiting: %s", message.message)
                    self.on_waiting(message.message)
            elif isinstance(message, ExecutorAdded):
                self._told_waiting = False  # it waits no more
                log.info("executor %s granted on %s", message.executor_id, message.host)
            elif isinstance(message, ApplicationKilled):
                self.killed = message.reason
                self.events.put(None)

    def _reconnect(self) -> bool:
        """Register this application again, under its id, with backoff."""
        deadline = time.monotonic() + self.master_reconnect_timeout
        backoff = Backoff(0.1, 2.0)
        while not self._stopping and time.monotonic() < deadline:
            try:
                conn = Connection.connect(*self.master_address, self.secret or b"")
                conn.send(replace(self.registration, app_id=self.app_id))
                reply = conn.recv()
                if isinstance(reply, RegisteredApplication):
                    lost, self.master = self.master, conn
                    lost.close()  # shut down when it was lost; now its descriptor goes too
                    log.warning("reconnected to the master; application %s resumed", self.app_id)
                    return True
                conn.close()
                return False
            except (OSError, ConnectionClosed, ProtocolError):
                time.sleep(backoff.next())
        return False

    def _serve_executor(self, conn: Connection) -> None:
        hello = conn.recv()
        self._registered.wait(HANDSHAKE_TIMEOUT)
        if not isinstance(hello, RegisterExecutor) or hello.app_id != self.app_id:
            raise ProtocolError(conn.peer, "expected RegisterExecutor for this application")
        slot = _Slot(hello.executor_id, hello.host, hello.shuffle_port, conn)
        with self.lock:
            self.slots[slot.executor_id] = slot
            self._executor_seen.notify_all()
        log.info("executor %s registered from %s", slot.executor_id, slot.host)
        self.events.put(ExecutorAddedEvent(slot.executor_id, slot.host))  # also wakes the loop
        reason = "closed its connection to the driver"
        try:
            while True:
                message = conn.recv()
                if isinstance(message, TaskOutput):
                    self.on_output(message.task_id, slot.executor_id, slot.host, message.stream,
                                   message.text)
                elif isinstance(message, TaskFinished):
                    with self.lock:
                        slot.task = None
                        slot.idle_since = time.monotonic()
                    self.events.put(TaskFinishedEvent(slot.executor_id, slot.host, message,
                                                      slot.shuffle_port))
                elif isinstance(message, FetchBroadcast):
                    conn.send(BroadcastData(message.broadcast_id, self._broadcast_bytes(message)))
                else:
                    raise ProtocolError(conn.peer, f"unexpected {type(message).__name__}")
        except (ConnectionClosed, OSError) as exc:
            reason = f"closed its connection to the driver ({exc}), and its worker did not " \
                     f"say why within {EXIT_REASON_WAIT:.0f}s"
            slot.gone = True
            if slot.releasing is None:  # released on purpose: nothing to wait for
                self._await_exit_reason(slot.executor_id)
        finally:
            self._executor_removed(slot.executor_id, reason, False, LossCause.CONNECTION.value)

    def _await_exit_reason(self, executor_id: str) -> None:
        """A dropped executor connection usually means its process died: give its worker a
        moment to say how (the master's ExecutorRemoved names the signal or exit code)."""
        if self._stopping:
            return
        with self.lock:
            self._executor_seen.wait_for(lambda: executor_id not in self.slots,
                                         EXIT_REASON_WAIT)

    def _broadcast_bytes(self, request: FetchBroadcast) -> bytes:
        """A broadcast's pickled value, only from this application's broadcast directory."""
        path = os.path.realpath(request.path)
        if self.broadcast_dir is None or not path.startswith(os.path.realpath(self.broadcast_dir) + os.sep):
            raise ProtocolError("executor", f"broadcast path {request.path!r} is not this driver's")
        with open(path, "rb") as fh:
            return fh.read()

    def _executor_removed(self, executor_id: str, reason: str, worker_lost: bool,
                          cause: str = "", detail: str = "") -> None:
        """An executor is gone; ``reason`` says how (``executor_loss``: "exceeded its 1 GiB
        memory limit"), ``cause`` classifies it."""
        with self.lock:
            slot = self.slots.pop(executor_id, None)
            self._executor_seen.notify_all()
        if slot is None:
            if worker_lost:
                self.events.put(ExecutorLostEvent(executor_id, "", reason, [], True, cause))
            elif not self._stopping and executor_id not in self._removed:
                self._launch_failed(executor_id, reason)  # it never registered
            return
        self._removed.add(executor_id)  # a late report of its end is not a failed launch
        slot.conn.close()
        task_ids = [slot.task.spec.task_id] if slot.task else []
        if slot.releasing is not None and not worker_lost:
            log.info("executor %s on %s removed: %s", executor_id, slot.host, slot.releasing)
            self.events.put(ExecutorLostEvent(executor_id, slot.host, slot.releasing, task_ids,
                                              False, released=True))
            return
        self.events.put(ExecutorLostEvent(executor_id, slot.host, reason, task_ids, worker_lost,
                                          cause, detail))

    def _launch_failed(self, executor_id: str, reason: str) -> None:
        """An executor ended before it registered: a worker could not start it."""
        with self.lock:
            repeated = reason == self.launch_failure
            self.launch_failure = reason
            self.waiting_reason = f"executors cannot start: {reason}"
        if not repeated:
            log.warning("executor %s could not start: %s", executor_id, reason)

    def _master_gone_error(self, reason: str) -> VegaError:
        if self.launch_failure is not None:  # the master ends an app whose executors keep failing
            return ExecutorsCannotStart(self.launch_failure)
        return MasterUnreachable("the master", f"connection lost ({reason})")

    # -- Backend -----------------------------------------------------------------------
    def default_parallelism(self) -> int:
        with self.lock:
            return max(2, len(self.slots))

    def wait_for_executors(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.slots) < count:
                if self.master_lost is not None:
                    raise self._master_gone_error(self.master_lost)
                left = deadline - time.monotonic()
                if left <= 0:
                    said = self.waiting_reason if self._told_waiting else ""
                    raise NoExecutors(timeout, f"{len(self.slots)} of {count} executors "
                                               f"registered" + (f"; {said}" if said else ""))
                self._executor_seen.wait(left)
        self.starting = False

    def launch(self, task: TaskLaunch) -> None:
        task.queued_at = time.monotonic()
        with self.lock:
            self.queue.append(task)
            self._dispatch()

    def _dispatch(self) -> None:
        with self.lock:
            for slot in list(self.slots.values()):
                if not self.queue:
                    return
                if slot.task is not None or slot.gone or slot.releasing is not None:
                    continue
                task = self._pick(slot.executor_id)
                if task is None:
                    continue
                include = task.payload_key not in slot.payloads_sent
                slot.task = task
                slot.payloads_sent.add(task.payload_key)
                # before the send: the executor's reply may be queued before this returns
                self.events.put(TaskStartedEvent(task.spec.task_id, slot.executor_id, slot.host,
                                                 time.monotonic()))
                try:
                    slot.conn.send(task.message(include))
                except OSError:
                    slot.task = None
                    self.queue.appendleft(task)

    def _pick(self, executor_id: str) -> Optional[TaskLaunch]:
        alive = {e for e, s in self.slots.items() if s.releasing is None}
        return self.queue.pick(executor_id, alive, self.locality_wait, time.monotonic())

    def poll(self, timeout: float) -> list:
        events = []
        try:
            event = self.events.get(timeout=timeout)
            events.append(event)
            while True:
                events.append(self.events.get_nowait())
        except queue.Empty:
            pass
        if self.killed:
            raise JobCancelled(self.killed)
        for event in events:
            if isinstance(event, MasterLostEvent):
                raise self._master_gone_error(event.reason)
        self._dispatch()
        self._check_starved()
        return [e for e in events if e is not None]

    def _check_starved(self) -> None:
        with self.lock:
            if not self.queue or self.slots:
                self._starved_since = None
                return
            since = getattr(self, "_starved_since", None)
            if since is None:
                self._starved_since = time.monotonic()
            elif time.monotonic() - since > self.executor_wait_timeout:
                raise NoExecutors(self.executor_wait_timeout, self.waiting_reason)

    def kill_tasks(self, task_ids: List[int]) -> None:
        doomed = set(task_ids)
        with self.lock:
            self.queue = self.queue.without(doomed)
            victims = [s for s in self.slots.values() if s.task and s.task.spec.task_id in doomed]
        for slot in victims:  # the slot stays busy until the executor reports the kill
            try:
                slot.conn.send(KillTask(slot.task.spec.task_id))
            except (OSError, AttributeError):
                pass

    def _tell_all(self, message) -> None:
        with self.lock:
            slots = list(self.slots.values())
        for slot in slots:
            try:
                slot.conn.send(message)
            except OSError:
                pass

    def remove_rdd(self, rdd_id: int) -> None:
        self._tell_all(RemoveRdd(rdd_id))

    def remove_broadcast(self, broadcast_id: int) -> None:
        self._tell_all(RemoveBroadcast(broadcast_id))

    def replicate(self, source_executor: str, block) -> Optional[str]:
        with self.lock:
            others = [s for s in self.slots.values() if s.executor_id != source_executor]
        source_host = self.slots[source_executor].host if source_executor in self.slots else None
        others.sort(key=lambda s: (s.host == source_host, s.task is not None))  # another host first
        for slot in others:
            try:
                slot.conn.send(block)
                return slot.executor_id
            except OSError:
                continue
        return None

    def stop(self) -> None:
        with self._log_ready:
            self._stopping = True
            self._log_ready.notify()
        self._stop_requested.set()
        self._log_sender.join(5.0)  # every line reaches the master before we unregister
        if self.log_lines_dropped:
            log.warning("%d lines of task output in all never reached the master; 'vega logs "
                        "%s' lacks them", self.log_lines_dropped, getattr(self, "app_id", ""))
        self._tell_all(Shutdown("application finished"))
        try:
            self.master.send(UnregisterApplication(getattr(self, "app_id", "")))
        except OSError:
            pass
        self.master.close()
        self.server.stop()
        with self.lock:
            for slot in self.slots.values():
                slot.conn.close()
        if self.owned_cluster is not None:
            self.owned_cluster.stop()


class MasterLostEvent:
    def __init__(self, reason: str):
        self.reason = reason


class MasterEventRelay(EventWriter):
    """Sends the application's events to the master as they happen (the event log's lines),
    so the master serves the same REST API and pages for running applications as for
    finished ones, whether or not ``vega.eventlog.dir`` is set."""

    def __init__(self, backend: ClusterBackend):
        self.backend = backend

    def write(self, line: str, flush: bool) -> None:
        self.backend.relay_events(line)

    def close(self) -> None:
        self._write("ApplicationEnd")


class MasterLogRelay(JobListener):
    """Sends task output to the master too, where ``vega logs`` finds it."""

    def __init__(self, backend: ClusterBackend):
        self.backend = backend
        self._dropped_before = 0

    def on_task_output(self, prefix: str, stream: str, text: str) -> None:
        self.backend.relay_log(prefix_lines(prefix, text))

    def on_executor_removed(self, executor_id: str, host: str, reason: str, lost: bool,
                            at: float, cause: str = "") -> None:
        """``vega logs`` says how each executor ended, in the driver's words."""
        if not self.backend._stopping:
            self.backend.relay_log(f"vega: {reason}" + (f" [{cause}]" if cause else "") + "\n")

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        """Say how much of this job's output the master's copy lacks, if any."""
        dropped = self.backend.log_lines_dropped
        if dropped > self._dropped_before:
            log.warning("job %d: %d lines of task output were dropped while the master was "
                        "away; 'vega logs %s' lacks them (this terminal showed every line)",
                        job_id, dropped - self._dropped_before, self.backend.app_id)
            self._dropped_before = dropped
