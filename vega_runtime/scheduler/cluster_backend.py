"""The backend for ``vega://`` and ``local-cluster`` masters.

The driver registers its application with the master (``MasterClient``) and listens
for its executors, which workers launch and which connect back to the driver; each
executor's connection is a handle in the ``ExecutorPool``, which launches tasks on them
directly.  Executor and master connections are served by threads that turn what they
hear into events for the job loop (``poll``); what the master keeps for the application
(task output, events, job metrics) goes through a ``MasterRelay``.  This module ties them
together and adds dynamic allocation's timer.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import threading
import time
from typing import Callable, Dict, List, Optional

from .._version import __version__
from ..config import cluster_mode_driver_id
from ..errors import (ApplicationRefused, ExecutorsCannotStart, JobCancelled, MasterStopped,
                      MasterUnreachable, NoExecutors, VegaError)
from ..executor_loss import LossCause, reaped_description
from ..net.connection import HANDSHAKE_TIMEOUT, Connection
from ..net.framing import ConnectionClosed, ProtocolError
from ..net.messages import (ApplicationKilled, ApplicationWaiting, BarrierSync, CachedBlock,
                            ExecutorAdded, ExecutorHeartbeat, ExecutorRemoved, FetchBroadcast,
                            FetchCachedBlock, KillExecutors,
                            MasterStopping, RegisterApplication, RegisteredExecutor, RegisterExecutor,
                            Removed, Shutdown,
                            TaskFinished, TaskOutput)
from ..net.server import Server
from ..versions import executor_hash_seed, python_version
from .allocation import AllocationSettings, ExecutorAllocationManager, ExecutorView
from .backend import (SHUTDOWN_WAIT, ExecutorAddedEvent, ExecutorLostEvent, ExecutorStatus,
                      OutputCallback, TaskFinishedEvent, TaskLaunch, broadcast_reply,
                      send_staged_file)
from .executor import TaskState
from .executor_pool import ExecutorPool, PoolRemovals
from .event_log import EventWriter
from .heartbeat_receiver import (HUNG_HINT, HeartbeatReceiver, HeartbeatSettings,
                                 hung_description)
from .listener import JobListener, prefix_lines
from .master_client import MasterClient
from .master_relay import MasterRelay

log = logging.getLogger(__name__)

#: Seconds a lost executor's connection waits for its worker to report how it exited (the
#: report usually comes within milliseconds; the wait ends when it does).
EXIT_REASON_WAIT = 5.0
#: How often dynamic allocation looks at the backlog and idle executors (Spark: 100 ms).
ALLOCATION_INTERVAL = 0.1
#: A released executor still connected after this long (its master did not know it) is
#: told to stop by the driver itself.
RELEASE_GRACE = 10.0
#: How often ``wait_for_executors`` asks whether they can still come (a local cluster's
#: daemons still running).
CHECK_INTERVAL = 0.05
#: How long ``stop`` waits for the threads serving executors' connections to end once it
#: has closed those connections (they end within milliseconds).
STOP_WAIT = 5.0


class _RemoteExecutor:
    """An executor that connected to the driver: the pool's handle to it."""

    def __init__(self, executor_id: str, host: str, shuffle_port: int, conn: Connection,
                 block_port: int = 0):
        self.executor_id, self.host, self.shuffle_port, self.conn = executor_id, host, shuffle_port, conn
        #: where it serves its cached partitions to other executors' tasks
        self.block_port = block_port

    def send(self, message) -> None:
        self.conn.send(message)

    def send_many(self, messages: list) -> None:
        self.conn.send_many(messages)


class ClusterBackend(PoolRemovals):
    #: executors come and go between jobs (lost with their worker, released by dynamic
    #: allocation): the Context takes its events in while idle too, or the event log and
    #: the application's pages would show a lost executor active until the next job
    EVENTS_BETWEEN_JOBS = True

    def __init__(self, master_host: str, master_port: int, secret: Optional[bytes],
                 request: dict, advertise_host: str, bind_host: str,
                 on_output: OutputCallback, on_waiting: Callable[[str], None],
                 locality_wait: float, executor_wait_timeout: float, starting: bool = False,
                 master_reconnect_timeout: float = 60.0,
                 server_limits: Optional[dict] = None,
                 allocation: Optional[AllocationSettings] = None,
                 heartbeat: HeartbeatSettings = HeartbeatSettings(),
                 kill_timeout: float = math.inf):
        """``kill_timeout``: ``vega.task.reaper.kill_timeout`` (``math.inf``: never)."""
        self.on_output = on_output
        self.kill_timeout = kill_timeout
        self.on_waiting = on_waiting
        self.executor_wait_timeout = executor_wait_timeout
        #: what the connections' threads report to the job loop (``poll``): events, or lists
        #: of events reported together
        self.events: "queue.Queue" = queue.Queue()
        self.lock = threading.RLock()
        #: tasks sent (``TaskStartedEvent``s), reported by the next ``poll`` before what the
        #: queue holds; only the job loop's thread launches tasks
        self._started: list = []
        #: the executors and the tasks waiting for them (calls hold ``lock``); an executor
        #: whose connection closed is ``gone`` while its worker is given time to say why
        self.pool = ExecutorPool(self._started.append, locality_wait)
        self.barrier = self.pool.barrier
        #: executors that registered and are gone
        self._removed: set = set()
        #: the connections of executors the master said had ended while the Context stops,
        #: still read by their threads to their end (``stop`` waits for them): by executor id
        self._draining: Dict[str, Connection] = {}
        self.waiting_reason = "waiting for executors to start"
        #: whether ``waiting_reason`` is the master's
        self._told_waiting = False
        self._stopping = False
        #: a LocalCluster started for this application, stopped with it
        self.owned_cluster = None
        #: the executors the owned cluster started with (``wait_for_executors``)
        self.started_with = 0
        #: True while a local-cluster's workers are still starting: no waiting messages
        self.starting = starting
        #: where the Context keeps broadcast values (served to executors on other hosts)
        self.broadcast_dir: Optional[str] = None
        #: ``snapshot() -> dict`` of the application's job metrics, relayed to the master
        self.metrics_source = None
        #: why the master killed this application, once it has
        self.killed: Optional[str] = None
        #: task output, event-log lines and job metrics on their way to the master
        self.relay = MasterRelay(lambda message: self.master_client.send(message),
                                 self._metrics_snapshot,
                                 heartbeat_interval=lambda: self.master_client.heartbeat_interval)
        self._stop_requested = threading.Event()  # ends dynamic allocation's timer
        self._executor_seen = threading.Condition(self.lock)
        #: why a worker could not start an executor of this application, the last time
        self.launch_failure: Optional[str] = None
        self._launch_reason: Optional[str] = None  # launch_failure without the log's end
        #: why the master is gone for good, once it is (ends waits for executors), and
        #: whether it is there but refused to take the application back
        self.master_lost: Optional[str] = None
        self._master_refused = False
        #: why the master said it was stopping, until it takes the application back (a
        #: job left with no executor fails at once: nobody will start one)
        self.master_stopped: Optional[str] = None
        #: set once the master has given this application its id (executors may connect
        #: the moment it has, before this thread has read the reply)
        self._registered = threading.Event()
        #: dynamic allocation (``vega.dynamic_allocation.*``); None: static allocation
        self.allocation = ExecutorAllocationManager(allocation, time.monotonic()) \
            if allocation is not None else None
        self.heartbeat = heartbeat
        #: when each executor was last heard from (calls hold ``lock``; None:
        #: ``vega.executor.timeout`` is never)
        self.heartbeats = HeartbeatReceiver(heartbeat.timeout * 1000, _now_ms()) \
            if heartbeat.checked else None
        self._hung_seen = False  # HUNG_HINT is said once
        #: ``holds_cached_blocks(executor_id) -> bool``, for dynamic allocation's timeouts
        self.holds_cached_blocks: Callable[[str], bool] = lambda executor_id: False
        #: the address executors reach the driver at (``server``'s port)
        self.driver_host = advertise_host
        self.server = Server(bind_host, 0, secret, self._serve_executor, "driver",
                             **(server_limits or {})).start()
        #: the application's registration with the master, kept across master restarts
        self.master_client = MasterClient(master_host, master_port, secret,
                                          master_reconnect_timeout)
        try:
            # a cluster-mode driver's package (``config.cluster_mode_package``) is not even
            # asked for: the master keeps it while the driver runs, and an ask counted as a
            # later submitter's, keeping it past the driver's end
            package_sha = request.get("package_sha") or (
                self.master_client.upload_package(request["package"])
                if request.get("package") else "")
            self.app_id = self.master_client.register(RegisterApplication(
                request["name"], advertise_host, self.server.port, request["cores_max"],
                request["executor_cores"], request["executor_memory"], python_version(),
                __version__, package_sha, hash_seed=executor_hash_seed(),
                labels=list(request.get("labels", ())),
                requested_executors=-1 if self.allocation is None else self.allocation.target,
                proposed_id=request.get("proposed_id", ""),
                cores_per_executor=request.get("cores_per_executor", 1),
                executor_resources=dict(request.get("executor_resources", {})),
                executor_env=dict(request.get("executor_env", {})),
                driver_id=cluster_mode_driver_id(),
                executors_per_address=dict(request.get("executors_per_address", {}))))
        except VegaError:
            self.server.stop()
            raise
        self._registered.set()
        self.master_client.follow(self._on_master_message, self._master_gone, self._master_back)
        self.relay.start()
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
                     for s in self.pool]
            decision = self.allocation.update(now, len(self.pool.queue), self.pool.running(),
                                              views)
            released = []
            for executor_id, reason in decision.release:
                slot = self.pool.get(executor_id)
                if slot is not None and slot.task is None and slot.releasing is None:
                    slot.releasing, slot.releasing_since = reason, now
                    released.append(executor_id)
                else:
                    self.allocation.releasing.discard(executor_id)
            overdue = [s for s in self.pool
                       if s.releasing is not None and now - s.releasing_since > RELEASE_GRACE]
        if decision.requested_total is not None:
            log.info("dynamic allocation: requesting %d executors", decision.requested_total)
            self.master_client.request_executors(decision.requested_total)
        for slot in overdue:
            slot.releasing_since = now  # told once per grace period
            log.warning("executor %s was released %.0fs ago and still runs: stopping it from "
                        "the driver", slot.executor_id, RELEASE_GRACE)
            try:
                slot.handle.send(Shutdown("released by dynamic allocation"))
            except OSError:
                pass
        if released:
            log.info("dynamic allocation: releasing %s (%s)", ", ".join(released),
                     decision.release[0][1])
            self.master_client.send(KillExecutors(released, decision.release[0][1]))

    def _holds_cached(self, executor_id: str) -> bool:
        try:
            return self.holds_cached_blocks(executor_id)
        except RuntimeError:  # the scheduler changed the table while we read it
            return True

    # -- what the master is told ---------------------------------------------------------
    def relay_log(self, text: str, stream: str = "stdout") -> None:
        """Queue task output for the master (``vega logs``); sent in batches."""
        self.relay.add_log(text, stream)

    def relay_events(self, line: str, flush: bool = True) -> None:
        """Queue one event-log line for the master; sent in batches with the logs (task-level
        lines, ``flush`` False, wait for the next batch)."""
        self.relay.add_event(line, flush)

    @property
    def log_lines_dropped(self) -> int:
        """Lines of task output that never reached the master (it was away too long)."""
        return self.relay.log_lines_dropped

    def _metrics_snapshot(self) -> Optional[dict]:
        return self.metrics_source() if self.metrics_source is not None else None

    # -- the master ----------------------------------------------------------------------
    @property
    def master(self) -> Connection:
        """The connection to the master of the moment (a new one after it restarts)."""
        return self.master_client.conn

    @property
    def master_address(self) -> tuple:
        """``(host, port)`` of the master."""
        return self.master_client.address

    @property
    def secret(self) -> bytes:
        return self.master_client.secret

    def _on_master_message(self, message) -> None:
        if isinstance(message, ExecutorRemoved):
            self._executor_removed(message.executor_id, message.reason, message.worker_lost,
                                   message.cause, message.detail)
        elif isinstance(message, ApplicationWaiting):
            self.waiting_reason = message.message
            self._told_waiting = True
            with self.lock:
                running = len(self.pool) > 0  # its jobs run on: more executors are waited for
            if running:
                log.info("waiting for more executors: %s", message.message)
            elif not self.starting:
                log.warning("waiting: %s", message.message)
                self.on_waiting(message.message)
        elif isinstance(message, ExecutorAdded):
            self._told_waiting = False  # it waits no more
            log.info("executor %s granted on %s", message.executor_id, message.host)
        elif isinstance(message, ApplicationKilled):
            self.killed = message.reason
            self.events.put(None)
        elif isinstance(message, MasterStopping):
            log.warning("the master is stopping (%s): jobs go on on this application's "
                        "executors; one with none left fails", message.reason)
            with self.lock:
                self.master_stopped = message.reason
                self._executor_seen.notify_all()
            self.events.put(None)  # a wake-up

    def _master_gone(self, reason: str, refused: bool) -> None:
        """The master stayed away past the reconnect timeout: jobs go on on the executors the
        application has (as Spark's drivers do), and one that has none left fails, while the
        master is still tried; or it will not take the application back (``refused``): the
        running job fails."""
        with self.lock:
            self.master_lost, self._master_refused = reason, refused
            self._executor_seen.notify_all()
        self.events.put(MasterLostEvent(reason) if refused else None)  # None: a wake-up

    def _master_back(self) -> None:
        """The master took the application back (after the reconnect timeout too)."""
        with self.lock:
            self.master_lost = self.master_stopped = None
        self.relay.resend_metrics()

    # -- executors -------------------------------------------------------------------------
    def _serve_executor(self, conn: Connection) -> None:
        hello = conn.recv()
        while isinstance(hello, FetchBroadcast):  # an executor about to become the Python
            send_staged_file(conn, hello, self.broadcast_dir)  # that archive holds
            hello = conn.recv()
        self._registered.wait(HANDSHAKE_TIMEOUT)
        if not isinstance(hello, RegisterExecutor) or hello.app_id != self.app_id:
            raise ProtocolError(conn.peer, "expected RegisterExecutor for this application")
        executor = _RemoteExecutor(hello.executor_id, hello.host, hello.shuffle_port, conn,
                                   hello.block_port)
        with self.lock:
            if hello.executor_id in self.pool:  # Spark: "Duplicate executor ID"
                raise ProtocolError(conn.peer, f"executor {hello.executor_id} is already "
                                               "registered: duplicate executor id")
            slot = self.pool.add(executor)
            if self.heartbeats is not None:
                self.heartbeats.executor_added(slot.executor_id, _now_ms())
            self._executor_seen.notify_all()
        log.info("executor %s registered from %s", slot.executor_id, slot.host)
        self.events.put(ExecutorAddedEvent(slot.executor_id, slot.host,  # also wakes the loop
                                           resources=hello.resources))
        reason = "closed its connection to the driver"
        try:
            conn.send(RegisteredExecutor(self.heartbeat.interval))
            while True:
                # the results an executor sent in one write are read together: the pool and
                # the job loop take them in one step (one lock, one wake-up), not one each
                finished = []
                messages = [conn.recv(), *conn.recv_more()]
                if self.heartbeats is not None:
                    with self.lock:
                        self.heartbeats.heard_from(slot.executor_id, _now_ms())
                for message in messages:
                    if isinstance(message, TaskFinished):
                        finished.append(message)
                        continue
                    if finished:  # what came before it first, in order
                        self._tasks_ended(slot, finished, executor.shuffle_port)
                        finished = []
                    if isinstance(message, TaskOutput):
                        self.on_output(message.task_id, slot.executor_id, slot.host,
                                       message.stream, message.text,
                                       slot.in_flight(message.task_id))
                    elif isinstance(message, FetchBroadcast):
                        conn.send(broadcast_reply(message, self.broadcast_dir))
                    elif isinstance(message, BarrierSync):
                        with self.lock:
                            self.pool.sync(slot.executor_id, message)
                    elif isinstance(message, (FetchCachedBlock, CachedBlock)):
                        with self.lock:
                            deliveries = self.pool.relay_cached_block(slot.executor_id, message)
                        self.pool.send_all(deliveries)
                    elif isinstance(message, Removed):
                        with self.lock:
                            self.pool.removed(slot.executor_id, message)
                        self.wake()  # a blocking unpersist may wait for it
                    elif not isinstance(message, ExecutorHeartbeat):
                        raise ProtocolError(conn.peer, f"unexpected {type(message).__name__}")
                if finished:
                    self._tasks_ended(slot, finished, executor.shuffle_port)
        except (ConnectionClosed, OSError) as exc:
            reason = f"closed its connection to the driver ({exc}), and its worker did not " \
                     f"say why within {EXIT_REASON_WAIT:.0f}s"
            with self.lock:
                slot.gone = True
            if slot.releasing is None:  # released on purpose: nothing to wait for
                self._await_exit_reason(slot.executor_id)
        finally:
            self._executor_removed(slot.executor_id, reason, False, LossCause.CONNECTION.value)
            with self.lock:
                if self._draining.pop(slot.executor_id, None) is not None:
                    self._executor_seen.notify_all()

    def _tasks_ended(self, slot, messages: list, shuffle_port: int) -> None:
        """Executor ``slot`` reported the end of tasks: it holds fewer, and the job loop hears
        of them (one event list)."""
        executor_id, host = slot.executor_id, slot.host
        with self.lock:
            for message in messages:
                self.pool.task_ended(executor_id, message.task_id, message.metrics.get("duration"),
                                     message.state == TaskState.SUCCESS)
        self.events.put([TaskFinishedEvent(executor_id, host, message, shuffle_port)
                         for message in messages])

    def _await_exit_reason(self, executor_id: str) -> None:
        """A dropped executor connection usually means its process died: give its worker a
        moment to say how (the master's ExecutorRemoved names the signal or exit code); not
        past the Context's stop, which waits for the connections' ends: a killed
        application's executors drop theirs, and no word of them comes (the stop took 5 s)."""
        with self.lock:
            self._executor_seen.wait_for(lambda: self._stopping or executor_id not in self.pool,
                                         EXIT_REASON_WAIT)

    def _executor_removed(self, executor_id: str, reason: str, worker_lost: bool,
                          cause: str = "", detail: str = "") -> None:
        """An executor is gone; ``reason`` says how (``executor_loss``: "exceeded its 1 GiB
        memory limit"), ``cause`` classifies it."""
        with self.lock:
            slot = self.pool.remove(executor_id)
            if slot is not None and self._stopping and not worker_lost:
                # its process ended (told to stop): its thread reads what it sent to the end
                # (where closing the connection here cut off its tasks' last lines)
                self._draining[executor_id] = slot.handle.conn
            if self.heartbeats is not None:
                self.heartbeats.executor_removed(executor_id)
            self._executor_seen.notify_all()
        if slot is None:
            if worker_lost:
                self.events.put(ExecutorLostEvent(executor_id, "", reason, [], True, cause))
            elif not self._stopping and executor_id not in self._removed:
                self._launch_failed(executor_id, reason, detail)  # it never registered
            return
        self._removed.add(executor_id)  # a late report of its end is not a failed launch
        if executor_id not in self._draining:
            slot.handle.conn.close()
        task_ids = slot.task_ids()
        if slot.releasing is not None and not worker_lost:
            log.info("executor %s on %s removed: %s", executor_id, slot.host, slot.releasing)
            self.events.put(ExecutorLostEvent(executor_id, slot.host, slot.releasing, task_ids,
                                              False, released=True))
            return
        self.events.put(ExecutorLostEvent(executor_id, slot.host, reason, task_ids, worker_lost,
                                          cause, detail))

    def _launch_failed(self, executor_id: str, reason: str, detail: str = "") -> None:
        """An executor ended before it registered: a worker could not start it (``detail``:
        the end of its log, said as a lost executor's is: a bad PYTHONHOME, an import)."""
        said = f"{reason} (its log ends: {detail})" if detail else reason
        with self.lock:
            # (a log's end differs launch to launch, a thread's address say: said once a reason)
            repeated = reason == self._launch_reason
            self._launch_reason, self.launch_failure, reason = reason, said, said
            self.waiting_reason = f"executors cannot start: {reason}"
        if not repeated:
            log.warning("executor %s could not start: %s", executor_id, reason)

    def _no_master_error(self) -> Optional[VegaError]:
        """(Under ``lock``.) Why nobody will start an executor for this application: the
        master is gone for good, or said it was stopping; None while it may."""
        if self.master_lost is not None:
            return self._master_gone_error(self.master_lost, self._master_refused)
        if self.master_stopped is not None and self.launch_failure is None:
            return MasterStopped(self.master_client.url, self.master_stopped)
        return None

    def _master_gone_error(self, reason: str, refused: bool = False) -> VegaError:
        """Why a job fails without its master: it did not take the application back
        (``refused``), or it is away and the application has no executor left."""
        if self.launch_failure is not None:  # the master ends an app whose executors keep failing
            return ExecutorsCannotStart(self.launch_failure)
        if refused:  # it is there: ``reason`` is its answer
            return ApplicationRefused(f"it did not take application {self.app_id} back after "
                                      f"the driver's connection was lost ({reason}); submit "
                                      "the job again")
        return MasterUnreachable(self.master_client.url,
                                 f"connection lost ({reason}) and not back within "
                                 f"vega.master.reconnect_timeout "
                                 f"({self.master_client.reconnect_timeout:g}s), and this "
                                 f"application has no executor left to run its tasks")

    # -- Backend -----------------------------------------------------------------------
    def default_parallelism(self) -> int:
        with self.lock:
            return max(2, len(self.pool))

    @property
    def may_gain_executors(self) -> bool:
        """A cluster's master may give more executors; a local cluster's workers replace
        the ones it lost, up to those it started with (``wait_for_executors``)."""
        if self.owned_cluster is None:
            return True
        return self.max_concurrent_tasks() < self.started_with

    def max_concurrent_tasks(self) -> int:
        with self.lock:
            return sum(1 for slot in self.pool if slot.usable)

    def executors(self) -> List[ExecutorStatus]:
        with self.lock:
            slots = [slot for slot in self.pool if not slot.gone]
        return [ExecutorStatus("driver", self.driver_host, self.server.port, 0, caches=False),
                *(slot.status(slot.handle.shuffle_port) for slot in slots)]

    def wait_for_executors(self, count: int, timeout: float,
                           check: Optional[Callable[[], None]] = None) -> None:
        """Wait until ``count`` executors have registered; ``check``, if given, runs every
        ``CHECK_INTERVAL`` seconds meanwhile and raises what keeps them from coming (a local
        cluster's daemon that exited), which is raised here at once."""
        deadline = time.monotonic() + timeout
        self.started_with = count
        with self.lock:
            while len(self.pool) < count:
                if self._no_master_error() is not None:
                    raise self._no_master_error()
                if check is not None:
                    check()
                left = deadline - time.monotonic()
                if left <= 0:
                    said = self.waiting_reason if self._told_waiting else ""
                    raise NoExecutors(timeout, f"{len(self.pool)} of {count} executors "
                                               f"registered" + (f"; {said}" if said else ""))
                self._executor_seen.wait(left if check is None else min(left, CHECK_INTERVAL))
        self.starting = False

    def launch(self, tasks: List[TaskLaunch]) -> None:
        with self.lock:
            self.pool.submit(tasks)  # an executor a send fails to: its connection's thread

    def wake(self) -> None:
        """Cut a ``poll`` waiting in another thread short (a job submitted or cancelled)."""
        self.events.put(None)

    def poll(self, timeout: float) -> list:
        self._remove_hung()  # (their losses are queued: this poll reports them)
        self._reap_overdue_kills()
        # the tasks sent since the last poll first: a task's start comes before its end
        events = self._started[:]
        self._started.clear()
        master_lost = None
        try:
            item = self.events.get_nowait() if events else self.events.get(timeout=timeout)
            while True:
                if type(item) is list:
                    events += item
                elif isinstance(item, MasterLostEvent):
                    master_lost = item
                elif item is not None:
                    events.append(item)
                item = self.events.get_nowait()
        except queue.Empty:
            pass
        if self.killed:
            raise JobCancelled(self.killed)
        if master_lost is not None:
            raise self._master_gone_error(master_lost.reason, refused=True)
        with self.lock:
            self.pool.dispatch()
            self._check_starved()
            starving = self.pool.starving()
        if starving is not None:
            log.warning("%s", starving)
        return events

    def _remove_hung(self) -> None:
        """Remove the executors silent for longer than ``vega.executor.timeout`` (hung:
        stopped, frozen, deadlocked): the master has their workers kill them (and starts
        others), and their tasks run elsewhere.  Their map outputs stay registered: their
        workers serve them (a worker that hangs too is lost by the master's
        ``vega.worker.timeout``, which forgets them)."""
        if self.heartbeats is None:
            return
        with self.lock:
            hung = {executor_id: silent_ms for executor_id, silent_ms
                    in self.heartbeats.expired(_now_ms()) if executor_id in self.pool}
        if hung and not self._hung_seen:
            self._hung_seen = True
            log.warning("%s", HUNG_HINT)
        self._kill_executors(hung, "hung: no heartbeat", LossCause.EXECUTOR_TIMEOUT,
                             lambda silent_ms, killed: hung_description(
                                 silent_ms / 1000, self.heartbeat, killed))

    def _reap_overdue_kills(self) -> None:
        """Remove the executors that have not reported a killed task's end within
        ``kill_timeout`` (Spark's task reaper: the task caught its interruption and runs
        on, or sits in one C call): the master has their workers kill them and starts
        others, as for hung ones; the idle Context's catch-up polls between jobs too."""
        with self.lock:
            overdue = {executor_id: self.pool.killed_task(executor_id)
                       for executor_id in self.pool.overdue_kills(self.kill_timeout)}
        self._kill_executors(overdue, "a killed task ran on", LossCause.KILL_TIMEOUT,
                             lambda task_id, killed: reaped_description(
                                 task_id, self.kill_timeout, killed))

    def _kill_executors(self, doomed: dict, reason: str, cause: LossCause, describe) -> None:
        """Have the master kill the executors ``doomed`` names (``KillExecutors``: their
        workers kill them and it starts others) and report them lost with ``cause``, as
        ``describe(doomed[executor_id], killed)`` says (``killed`` False: the master was
        unreachable, so the driver only stops using them)."""
        with self.lock:
            doomed = {e: fact for e, fact in doomed.items() if e in self.pool}
            for executor_id in doomed:
                self.pool.get(executor_id).gone = True  # no new task; removed below
        if not doomed:
            return
        killed = True
        try:
            self.master_client.send(KillExecutors(list(doomed), reason))
        except OSError as exc:  # the master is away: the closed connection ends it if it wakes
            log.warning("could not ask the master to kill executors %s (%s): %s",
                        ", ".join(doomed), reason, exc)
            killed = False
        for executor_id, fact in doomed.items():
            self._executor_removed(executor_id, describe(fact, killed), False, cause.value)

    def _check_starved(self) -> None:
        """(Under ``lock``.)"""
        if not self.pool.queue or len(self.pool):
            self._starved_since = None
            return
        if self._no_master_error() is not None:  # nobody to start an executor
            raise self._no_master_error()
        since = getattr(self, "_starved_since", None)
        if since is None:
            self._starved_since = time.monotonic()
        elif time.monotonic() - since > self.executor_wait_timeout:
            raise NoExecutors(self.executor_wait_timeout, self.waiting_reason)

    def kill_tasks(self, task_ids: List[int]) -> Dict[int, str]:
        with self.lock:
            return self.pool.kill(task_ids)

    def _tell_all(self, message) -> None:
        with self.lock:
            self.pool.tell_all(message)

    def replicate(self, source_executor: str, block) -> List[str]:
        with self.lock:
            return self.pool.replicate(source_executor, block)

    def stop(self) -> None:
        with self.lock:
            self._stopping = True
            self._executor_seen.notify_all()  # a connection's end waits no more (above)
        self.master_client.stop_reconnecting()
        self._stop_requested.set()
        # none in place of those about to end (the master, which still has the application
        # until it unregisters below, would launch one for each: a replacement seen in CI
        # still started as the Context removed its directory, and left its log there)
        with contextlib.suppress(OSError):  # (a master away has none to launch)
            self.master_client.request_executors(0)
        with self.lock:
            self.pool.tell_all(Shutdown("application finished"))
            # the connections' threads of those running tasks (killed as the Context stops)
            # show what they send until they close them (the tasks' last lines), where it
            # was cut off unread; not those the master starts meanwhile in place of the
            # ones that ended (closed below), nor idle ones, which have sent all already
            busy = [slot.executor_id for slot in self.pool if slot.tasks]
            self._executor_seen.wait_for(
                lambda: not any(e in self.pool or e in self._draining for e in busy),
                SHUTDOWN_WAIT)
        self.relay.stop()  # every line reaches the master before we unregister
        if self.log_lines_dropped:
            log.warning("%d lines of task output in all never reached the master; 'vega logs "
                        "%s' lacks them", self.log_lines_dropped, self.app_id)
        self.master_client.close()  # unregisters the application
        self.server.stop()
        with self.lock:
            for conn in [*(slot.handle.conn for slot in self.pool), *self._draining.values()]:
                conn.close()
        # as Spark's stop, return once nothing of the application runs here any more (a
        # notebook's next Context must not find this one's threads)
        if not self.server.join_served(STOP_WAIT):
            log.debug("executor connections still being served %gs after the stop", STOP_WAIT)
        if self.owned_cluster is not None:
            self.owned_cluster.stop()


def _now_ms() -> float:
    return time.monotonic() * 1000


class MasterLostEvent:
    def __init__(self, reason: str):
        self.reason = reason


class MasterEventRelay(EventWriter):
    """Sends the application's events to the master as they happen (the event log's lines),
    so the master serves the same REST API and pages for running applications as for
    finished ones, whether or not ``vega.eventlog.dir`` is set.  With ``source`` (the
    driver's own event log) it takes that log's lines (``tee``) instead of listening to
    the scheduler itself; its own are the application's start and end (the master's id)."""

    def __init__(self, backend: ClusterBackend, source: Optional[EventWriter] = None):
        self.backend = backend
        self.source = source

    def start(self, app_id: str, app_name: str, master: str, **ids) -> None:
        """Write the application's start, then follow ``source`` (if any)."""
        self.application_start(app_id, app_name, master, **ids)
        if self.source is not None:
            self.source.tee(self.write)

    def write(self, line: str, flush: bool) -> None:
        self.backend.relay_events(line, flush)

    def close(self) -> None:
        if self.source is not None:
            self.source.untee(self.write)
        self.application_end()


class MasterLogRelay(JobListener):
    """Sends task output to the master too, where ``vega logs`` finds it."""

    def __init__(self, backend: ClusterBackend):
        self.backend = backend
        self._dropped_before = 0

    def on_task_output(self, prefix: str, stream: str, text: str) -> None:
        self.backend.relay_log(prefix_lines(prefix, text), stream)

    def on_executor_removed(self, executor_id: str, host: str, reason: str, lost: bool,
                            at: float, cause: str = "") -> None:
        """``vega logs`` says how each executor ended, in the driver's words."""
        if not self.backend._stopping:
            self.backend.relay_log(f"vega: {reason}" + (f" [{cause}]" if cause else "") + "\n",
                                   "stderr")

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        """Say how much of this job's output the master's copy lacks, if any."""
        dropped = self.backend.log_lines_dropped
        if dropped > self._dropped_before:
            log.warning("job %d: %d lines of task output were dropped while the master was "
                        "away; 'vega logs %s' lacks them (this terminal showed every line)",
                        job_id, dropped - self._dropped_before, self.backend.app_id)
            self._dropped_before = dropped
