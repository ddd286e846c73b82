"""Backends for ``local`` (tasks run inline, one at a time) and ``local[N]``
(N executor processes forked once per Context, at its first job, talking over socket
pairs with the same frames and messages as the cluster)."""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import queue
import select
import selectors
import signal
import socket
import sys
import threading
import time
from typing import Dict, List, Optional

from .. import executor_python
from ..executor_loss import LossCause, reaped_description
from ..logs import hold_task_routing
from ..processes import (HeldSignals, command_title, describe_exit, die_with_parent,
                         end_descendants, fork_holding_signals, kill_tree, own_descendants,
                         read_no_input, title_argv, write_to_own_descriptors)
from ..net.connection import Connection
from ..net.framing import ConnectionClosed, ProtocolError, set_send_timeout
from ..net.messages import (BarrierSync, CachedBlock, FetchBroadcast, FetchCachedBlock,
                            RegisteredExecutor, Removed,
                            Shutdown, TaskFinished, TaskOutput)
from .backend import (SHUTDOWN_WAIT, ExecutorAddedEvent, ExecutorLostEvent, ExecutorStatus,
                      OutputCallback, TaskFinishedEvent, TaskLaunch, TaskQueue,
                      TaskStartedEvent, broadcast_reply)
from .barrier import BarrierCoordinator
from ..shuffle.blocks import remove_dead_executor_output
from .executor import Executor, ExecutorDirs, TaskState
from .executor_loop import serve_cancellable
from .executor_pool import ExecutorPool, PoolRemovals, PoolSlot
from .heartbeat_receiver import (HUNG_HINT, HeartbeatReceiver, HeartbeatSettings,
                                 hung_description)

#: how many writes of an overdue executor are read, looking for the killed task's end,
#: before it is ended all the same (a task that ignores the kill may print without end)
MAX_READS_BEFORE_REAPING = 1000
log = logging.getLogger(__name__)

HOST = "localhost"


class InlineBackend:
    """``local``: one executor inside the driver process; deterministic, for tests."""

    may_gain_executors = False
    max_task_bytes = None  # its tasks are never sent: no frame holds them

    def __init__(self, app_dir: str, on_output: OutputCallback, memory_budget: int,
                 resources: Optional[Dict[str, List[str]]] = None):
        """``resources``: the addresses its tasks may use (the driver's)."""
        self.on_output = on_output
        self.executor = Executor("driver", HOST, ExecutorDirs.under(app_dir, "driver"),
                                 self._sink, memory_budget, in_driver=True,
                                 resources=resources or {})
        self.executor.barrier_sync = self._barrier_sync
        self.barrier = BarrierCoordinator()
        self.queue = TaskQueue()
        self._running = 0  # 1 while ``poll`` runs a task
        #: the numbers of the blocking removals waiting for the running task's reads of
        #: their blocks (each on its own: two threads may remove the same RDD at once)
        self._removing: set = set()
        self._removal_ids = itertools.count(1)
        #: whether the driver's output routing is held installed while tasks wait here
        #: (``logs.hold_task_routing``), and the lock of its changes (a cancel's thread)
        self._holding = False
        self._holding_lock = threading.Lock()

    def _hold_routing(self, held: bool) -> None:
        with self._holding_lock:
            if held != self._holding:
                hold_task_routing(held)
                self._holding = held

    def _sink(self, task_id: int, stream: str, text: str) -> None:
        self.on_output(task_id, "driver", HOST, stream, text, None)

    def _barrier_sync(self, request: BarrierSync, timeout: float):
        # the one task a barrier stage here can have (max_concurrent_tasks) completes it
        return self.barrier.request("driver", request)[0][1]

    def default_parallelism(self) -> int:
        return 1

    def max_concurrent_tasks(self) -> int:
        return 1

    def launch(self, tasks: List[TaskLaunch]) -> None:
        for task in tasks:
            if task.barrier:  # a stage of one task (max_concurrent_tasks)
                task.addresses = [f"{HOST}:0"]
            self.queue.append(task)

    def poll(self, timeout: float) -> list:
        if not self.queue:
            return []
        task = self.queue.popleft()
        started = TaskStartedEvent(task.spec.task_id, "driver", HOST, time.monotonic())
        self._running = 1
        if self.queue:  # more to run: the output routing stays for them (put back after)
            self._hold_routing(True)
        try:
            finished = self.executor.run(task.message(include_payload=True))
        finally:
            self._running = 0
            if not self.queue:
                self._hold_routing(False)
        return [started, TaskFinishedEvent("driver", HOST, finished)]

    def executors(self) -> List[ExecutorStatus]:
        return [ExecutorStatus("driver", HOST, 0, self._running)]

    def kill_tasks(self, task_ids: List[int]) -> Dict[int, str]:
        doomed = set(task_ids)
        self.queue = self.queue.without(doomed)
        if not self.queue and not self._running:  # (else once the running task ends)
            self._hold_routing(False)
        return {}  # none in flight: a task runs within a poll, in the job loop's thread

    def remove_rdd(self, rdd_id: int, reply: bool = False) -> int:
        # done on return, unless the running task (another thread's) reads the blocks:
        # ``removal_pending`` until its reads end
        number, on_removed = 0, None
        if reply:
            number = next(self._removal_ids)
            self._removing.add(number)
            on_removed = lambda: self._removing.discard(number)  # noqa: E731
        self.executor.remove_rdd(rdd_id, on_removed)
        return number

    def remove_shuffle(self, shuffle_id: int, reply: bool = False, before_task: int = 0) -> int:
        self.executor.remove_shuffle(shuffle_id, before_task)
        return 0  # done on return

    def remove_broadcast(self, broadcast_id: int, reply: bool = False) -> int:
        self.executor.remove_broadcast(broadcast_id)
        return 0  # done on return

    def removal_pending(self, number: int) -> bool:
        return number in self._removing

    def replicate(self, source_executor: str, block) -> List[str]:
        return []  # one executor: nowhere else to keep a copy

    def stop(self) -> None:
        self.queue = TaskQueue()
        self._hold_routing(False)
        self.executor.blocks.clear()


class _ExecutorProcess:
    """One forked executor process: the pool's handle to it (``send``), and its pid."""

    def __init__(self, executor_id: str, pid: int, sock: socket.socket):
        self.executor_id = executor_id
        self.host = HOST
        self.pid = pid
        self.conn = Connection(sock, executor_id)
        self.exit_status: Optional[int] = None  # os.waitpid's, once collected
        #: a read or write of its socket made no progress for vega.executor.timeout: hung
        self.stalled = False

    def send(self, message) -> None:
        self.send_many([message])

    def send_many(self, messages: list) -> None:
        try:
            self.conn.send_many(messages)
        except BlockingIOError:  # no progress for vega.executor.timeout (ProcessPoolBackend._spawn)
            self.stalled = True
            raise


class ProcessPoolBackend(PoolRemovals):
    """``local[N]``: N long-lived executor processes, forked when the first tasks are
    launched; one that dies is replaced (under a new id) when there is work for it.

    Forked then, not when the Context starts, they inherit every module the driver loaded
    to plan and pickle that job: its RDD classes, and cloudpickle only if the job's code
    needed it (``serde.dumps_closure``), so a job of Vega's own functions loads it nowhere
    and a job with a lambda loads it once, in the driver, not again in each executor."""

    may_gain_executors = False

    def __init__(self, num_executors: int, app_dir: str, on_output: OutputCallback,
                 memory_budget: int, locality_wait: float = 3.0,
                 heartbeat: HeartbeatSettings = HeartbeatSettings(),
                 executor_env: Optional[Dict[str, str]] = None,
                 executor_resources: Optional[List[Dict[str, List[str]]]] = None,
                 context_id: str = "", kill_timeout: float = math.inf):
        """``executor_env``: environment variables of every executor process;
        ``executor_resources``: the addresses of each (the driver's, shared out);
        ``context_id``: the application's, named in each executor's title;
        ``kill_timeout``: ``vega.task.reaper.kill_timeout`` (``math.inf``: never)."""
        self.app_dir = app_dir
        self.kill_timeout = kill_timeout
        self.context_id = context_id
        self.on_output = on_output
        self.memory_budget = memory_budget
        self.num_executors = num_executors
        self.executor_env = executor_env or {}
        #: each executor's addresses, by its place (an executor replacing a lost one takes
        #: its place) and which executor holds each place
        self.executor_resources = executor_resources or [{}] * num_executors
        self._places: Dict[str, int] = {}
        #: events found outside ``poll`` (executors started or lost, tasks sent), reported next
        self._events: list = []
        self.pool = ExecutorPool(self._events.append, locality_wait)
        self.barrier = self.pool.barrier
        self.processes: Dict[str, _ExecutorProcess] = {}
        self._spawned = 0
        #: forks for jobs run outside the main thread (``_fork``), started on first need
        self._forker: Optional[_Forker] = None
        self.heartbeat = heartbeat
        self._hung_seen = False  # HUNG_HINT is said once
        #: when each executor was last heard from (None: ``vega.executor.timeout`` never)
        self.heartbeats = HeartbeatReceiver(heartbeat.timeout * 1000, _now_ms()) \
            if heartbeat.checked else None
        #: ``wake`` writes a byte here to end a ``poll`` waiting in another thread
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        #: the one lock rule here: the user's threads reach the pool only to remove blocks
        #: and broadcasts (``remove_rdd``, ``remove_broadcast``, ``removal_pending``), under
        #: this lock, which the job loop's thread holds where it changes what they read (an
        #: executor gone, a removal's reply)
        self.lock = threading.RLock()

    def wake(self) -> None:
        """Cut a ``poll`` waiting in another thread short (a job submitted or cancelled)."""
        try:
            os.write(self._wake_write, b"w")
        except OSError:  # full (a wake-up is pending anyway) or closed (stopped)
            pass

    def _woken(self) -> None:
        try:
            while os.read(self._wake_read, 512):
                pass
        except OSError:
            pass

    # -- processes -------------------------------------------------------------
    def _start_missing(self) -> None:
        """Fork executors until there are ``num_executors`` (before a launch's tasks are
        dispatched: the first launch forks them all)."""
        while len(self.processes) < self.num_executors:
            self._spawned += 1
            executor_id = f"exec-{self._spawned}"
            taken = {self._places[e] for e in self.processes}
            self._places[executor_id] = min(set(range(self.num_executors)) - taken)
            # a Ctrl-C (blocked across the fork, taken as it is unblocked) lands once the
            # executor is known: before, the new executor no one knew of ran on past the
            # Context's stop, making its directories in the deleted application directory
            with HeldSignals():
                process = self._fork(executor_id)
                self.processes[process.executor_id] = process
            self.pool.add(process)
            try:
                process.send(RegisteredExecutor(self.heartbeat.interval))
            except OSError:
                pass  # it died at once: its connection's end says so
            if self.heartbeats is not None:
                self.heartbeats.executor_added(process.executor_id, _now_ms())
            self._events.append(ExecutorAddedEvent(process.executor_id, HOST))

    def _fork(self, executor_id: str) -> _ExecutorProcess:
        """``_spawn`` from a thread that lives as long as the executor: an executor dies with
        the thread that forked it (``die_with_parent``), and a job may run in a thread of its
        own that ends before the Context. The main thread lives until the process ends; the
        others have the backend's forker thread fork for them."""
        if threading.current_thread() is threading.main_thread():
            return self._spawn(executor_id)
        if self._forker is None:
            self._forker = _Forker()
        return self._forker.call(self._spawn, executor_id)

    def _spawn(self, executor_id: str) -> _ExecutorProcess:
        sys.stdout.flush()
        sys.stderr.flush()
        parent_end, child_end = socket.socketpair()
        title = executor_title(executor_id, self.context_id, self.app_dir)
        # Ctrl-C is the driver's: blocked across the fork, so that none reaches the executor
        # before it ignores them, where the driver's handler (a shell's) would end it (a
        # Ctrl-C at a shell's prompt as a thread's job forked the executors failed that job)
        mask, pid = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}), -1
        try:
            pid = fork_holding_signals()
        finally:
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if pid == 0:  # the executor process
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            code = 0
            try:
                parent_end.close()
                for process in self.processes.values():
                    process.conn.sock.close()
                # before touching the environment, which setproctitle relocates (imported
                # here: the driver of a job on local[N] has no use for it)
                import setproctitle

                setproctitle.setproctitle(title)
                # its own command's, as a cluster's executor's (its tasks saw the driver's)
                sys.argv = title_argv(title)
                os.environ.update(self.executor_env)
                resources = self.executor_resources[self._places[executor_id]]
                code = self._become_shipped_python(child_end, executor_id, resources)
                if code == executor_python.RUN_AS_IS:
                    code = run_executor_process(child_end, executor_id, self.app_dir,
                                                self.memory_budget, resources)
            except BaseException:  # noqa: BLE001 - a child must never return into the driver
                code = 1
            finally:
                try:
                    end_descendants()  # what its tasks started goes with it
                finally:
                    os._exit(code)
        child_end.close()
        if self.heartbeat.checked:
            # the job loop reads and writes every executor's socket: one that stops reading
            # (its buffer full) or stops half way through a message holds it no longer than
            # vega.executor.timeout (BlockingIOError), not forever
            set_send_timeout(parent_end, self.heartbeat.timeout, receive=True)
        return _ExecutorProcess(executor_id, pid, parent_end)

    def _become_shipped_python(self, sock: socket.socket, executor_id: str,
                               resources: Dict[str, List[str]]) -> int:
        """In a forked executor: become the Python the application ships, if it names one
        (``executor_python``), keeping its connection to the driver; ``RUN_AS_IS`` else."""
        shipped = executor_python.pending(os.environ)
        if shipped is None:
            return executor_python.RUN_AS_IS
        argv = [str(sock.fileno()), executor_id, self.app_dir, str(self.memory_budget),
                json.dumps(resources)]
        return executor_python.become(
            shipped, ExecutorDirs.under(self.app_dir, executor_id).files,
            "vega_runtime.scheduler.local_executor_main", argv, _on_this_host,
            keep_fds=(sock.fileno(),))

    def _lose(self, executor_id: str, reason: str, cause: str = "",
              connection_ended: bool = False) -> ExecutorLostEvent:
        """Forget a dead executor, make sure its process is gone, and describe the loss
        (``cause``: an ``executor_loss.LossCause`` value when the driver knows why; the
        scheduler then says so, once).  ``connection_ended``: the loss is its connection's
        end, which its process's end (when it has ended) says better."""
        process = self.processes.pop(executor_id)
        self._places.pop(executor_id, None)
        if process.stalled and cause != LossCause.EXECUTOR_TIMEOUT.value:  # no progress
            reason = hung_description(self.heartbeat.timeout, self.heartbeat)
            cause = LossCause.EXECUTOR_TIMEOUT.value
        if cause == LossCause.EXECUTOR_TIMEOUT.value and not self._hung_seen:
            self._hung_seen = True
            log.warning("%s", HUNG_HINT)
        if cause in (LossCause.EXECUTOR_TIMEOUT.value, LossCause.KILL_TIMEOUT.value):
            kill_tree(process.pid)  # SIGKILL ends a stopped process too
        with self.lock:
            slot = self.pool.remove(executor_id)
        if self.heartbeats is not None:
            self.heartbeats.executor_removed(executor_id)
        task_ids = slot.task_ids() if slot is not None else []
        ended = _reap(process, exit_wait=0.2)
        dirs = ExecutorDirs.named(self.app_dir, executor_id)
        remove_dead_executor_output(dirs.shuffle, dirs.spill)
        if cause:
            log.info("executor %s (pid %d) removed: %s", executor_id, process.pid, reason)
        else:
            if ended:  # (its connection ended because it did, as a cluster's says)
                reason = f"its process {ended}" if connection_ended else \
                    f"{reason}; its process {ended}"
            # (the scheduler warns of the loss, once, in the sentence a cluster's reads)
            log.info("executor %s (pid %d) lost: %s", executor_id, process.pid, reason)
        # Shuffle files live in the shared app dir, so the outputs survive the process.
        return ExecutorLostEvent(executor_id, HOST, reason, task_ids, outputs_lost=False,
                                 cause=cause)

    def _remove_hung(self) -> list:
        """Kill the executors silent for longer than ``vega.executor.timeout`` (hung: stopped,
        frozen, deadlocked); their losses, whose tasks the scheduler runs elsewhere."""
        if self.heartbeats is None:
            return []
        return [self._lose(executor_id, hung_description(silent_ms / 1000, self.heartbeat),
                           LossCause.EXECUTOR_TIMEOUT.value)
                for executor_id, silent_ms in self.heartbeats.expired(_now_ms())
                if executor_id in self.processes]

    # -- Backend ---------------------------------------------------------------
    def default_parallelism(self) -> int:
        return self.num_executors

    def max_concurrent_tasks(self) -> int:
        return self.num_executors

    def executors(self) -> List[ExecutorStatus]:
        return [ExecutorStatus("driver", HOST, 0, 0, caches=False),
                *(slot.status() for slot in self.pool)]

    def launch(self, tasks: List[TaskLaunch]) -> None:
        now = time.monotonic()
        for task in tasks:
            task.queued_at = now
            self.pool.queue.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        if not self.pool.queue:
            return
        for slot in self.pool:  # idle executors that died are replaced before they get work
            if slot.task is None and (slot.gone or _exited(self.processes[slot.executor_id])):
                self._events.append(self._lose(slot.executor_id, "its process exited"))
        self._start_missing()
        for executor_id in self.pool.dispatch():
            self._events.append(self._lose(executor_id, "its connection broke"))
        starving = self.pool.starving()
        if starving is not None:
            log.warning("%s", starving)

    def poll(self, timeout: float) -> list:
        events: list = self._reap_overdue_kills()
        events += self._events
        self._events.clear()
        if events:
            return events
        deadline = self.pool.next_locality_deadline() if self.pool.queue else None
        if deadline is not None:
            timeout = min(timeout, deadline)
        if not self.pool.running() and not self.pool.removals_awaited():
            # nothing to hear from: wait as asked (or until woken), not at once (a job loop
            # whose job waits on nothing here would spin a core), then place what waits
            # (locality, a barrier)
            if _readable([self._wake_read], timeout):
                self._woken()
            self._dispatch()
            return []
        watched = {p.conn: p for p in self.processes.values()}  # idle ones may die too
        ready = [conn for conn in watched if conn.buffered]  # a message read already waits
        for conn in ready or _readable([*watched, self._wake_read], timeout):
            if conn == self._wake_read:
                self._woken()
                continue
            self._receive(watched[conn], events)
        events += self._remove_hung()
        self._dispatch()
        return events

    def _receive(self, process: "_ExecutorProcess", events: list) -> bool:
        """Take in what one write of ``process`` sent (task output, a task's end, a request),
        appending the events it makes to ``events``; False when the executor is lost."""
        conn = process.conn
        try:
            messages = [conn.recv(), *conn.recv_more()]  # what one write sent, together
        except BlockingIOError:  # it stopped half way through a message (_spawn)
            process.stalled = True
            events.append(self._lose(process.executor_id, "it stopped mid-message"))
            return False
        except (ConnectionClosed, ProtocolError, OSError) as exc:
            events.append(self._lose(process.executor_id, f"it broke its connection ({exc})",
                                     connection_ended=True))
            return False
        if self.heartbeats is not None:
            self.heartbeats.heard_from(process.executor_id, _now_ms())
        slot = self.pool.get(process.executor_id)
        for message in messages:
            if isinstance(message, TaskOutput):
                self.on_output(message.task_id, process.executor_id, HOST, message.stream,
                               message.text, slot and slot.in_flight(message.task_id))
            elif isinstance(message, TaskFinished):
                self.pool.task_ended(process.executor_id, message.task_id,
                                     message.metrics.get("duration"),
                                     message.state == TaskState.SUCCESS)
                events.append(TaskFinishedEvent(process.executor_id, HOST, message))
            elif isinstance(message, FetchBroadcast):  # its file is gone: destroyed
                try:
                    process.send(broadcast_reply(message,
                                                 os.path.join(self.app_dir, "broadcast")))
                except OSError as exc:
                    events.append(self._lose(process.executor_id,
                                             f"its broadcast reply could not be sent ({exc})"))
                    return False
            elif isinstance(message, BarrierSync):
                self.pool.sync(process.executor_id, message)
            elif isinstance(message, (FetchCachedBlock, CachedBlock)):
                self.pool.send_all(self.pool.relay_cached_block(process.executor_id, message))
            elif isinstance(message, Removed):
                with self.lock:
                    self.pool.removed(process.executor_id, message)
        return True

    def _reap_overdue_kills(self) -> list:
        """End the executors that have not reported a killed task's end within
        ``kill_timeout`` (Spark's task reaper); their losses, after the events of what they
        had sent.  What an executor sent while nobody polled (between jobs: a cancelled
        job's kill is not waited for) is read first: it may be that end, and the executor
        was then ended for nothing, with the next job's tasks on it."""
        events: list = []
        for executor_id in self.pool.overdue_kills(self.kill_timeout):
            process = self.processes.get(executor_id)
            if process is None:
                continue
            for _ in range(MAX_READS_BEFORE_REAPING):
                if executor_id not in self.pool.overdue_kills(self.kill_timeout) or not (
                        process.conn.buffered or _readable([process.conn], 0.0)):
                    break
                if not self._receive(process, events):
                    break
            task_id = self.pool.killed_task(executor_id)
            if executor_id in self.pool.overdue_kills(self.kill_timeout) and \
                    executor_id in self.processes:
                events.append(self._lose(executor_id,
                                         reaped_description(task_id, self.kill_timeout),
                                         LossCause.KILL_TIMEOUT.value))
        return events

    def next_overdue_kill(self) -> Optional[float]:
        """Seconds until an executor's killed task is overdue (``_reap_overdue_kills``), None
        while none runs: the Context, which nobody else polls between jobs, asks then
        (``context_jobs``)."""
        return self.pool.next_overdue(self.kill_timeout)

    def kill_tasks(self, task_ids: List[int]) -> Dict[int, str]:
        return self.pool.kill(task_ids)

    def _take_last_output(self, process: "_ExecutorProcess", slot: PoolSlot) -> bool:
        """What an executor told to stop sends until it closes its connection, within
        ``SHUTDOWN_WAIT`` seconds: the output of a task killed as the Context stops (its last
        lines, and one not ended, forwarded as it ends, named by ``slot``'s tasks in flight)
        is shown; it was read and dropped.
        True if the executor closed its connection."""
        deadline = time.monotonic() + SHUTDOWN_WAIT
        try:
            while True:
                message = process.conn.recv_within(max(0.0, deadline - time.monotonic()))
                if isinstance(message, TaskOutput):
                    self.on_output(message.task_id, process.executor_id, HOST, message.stream,
                                   message.text, slot.in_flight(message.task_id))
        except ConnectionClosed:
            return True
        except (OSError, ProtocolError):  # (a timeout too)
            return False

    def replicate(self, source_executor: str, block) -> List[str]:
        return self.pool.replicate(source_executor, block)

    def stop(self) -> None:
        self.pool.tell_all(Shutdown("context stopped"))
        for executor_id, process in self.processes.items():
            slot = self.pool.get(executor_id)
            closed = slot is not None and not slot.gone and self._take_last_output(process, slot)
            _reap(process, exit_wait=1.0 if closed else 0.0)  # closed: ending, collected soon
        self.processes.clear()
        for fd in (self._wake_read, self._wake_write):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_read = self._wake_write = -1  # (a number another file may get next)
        if self._forker is not None:  # after the executors it forked are gone
            self._forker.close()
            self._forker = None


class _Forker:
    """A daemon thread that runs calls for other threads (``call``) until ``close``: the
    thread that forks a local executor must outlive it."""

    def __init__(self):
        self._calls: "queue.SimpleQueue" = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="vega-executor-forker", daemon=True).start()

    def call(self, function, *args):
        """``function(*args)`` run in the forker thread; what it returns or raises."""
        done = threading.Event()
        outcome: list = []
        self._calls.put((function, args, outcome, done))
        done.wait()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def close(self) -> None:
        self._calls.put(None)

    def _serve(self) -> None:
        while True:
            request = self._calls.get()
            if request is None:
                return
            function, args, outcome, done = request
            try:
                outcome.append(function(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
                outcome.append(exc)
            done.set()


def _now_ms() -> float:
    return time.monotonic() * 1000


def _readable(conns: list, timeout: float) -> list:
    """The connections with something to read within ``timeout`` seconds (what
    ``multiprocessing.connection.wait`` does, without loading multiprocessing and subprocess)."""
    with selectors.PollSelector() as selector:
        for conn in conns:
            selector.register(conn, selectors.EVENT_READ)
        return [key.fileobj for key, _ in selector.select(timeout)]


def _exited(slot: _ExecutorProcess) -> bool:
    """True when the executor process has died (it is then reaped)."""
    try:
        pid, status = os.waitpid(slot.pid, os.WNOHANG)
    except ChildProcessError:
        return True
    if pid != 0:
        slot.exit_status = status
    return pid != 0


def _wait_for_exit(slot: _ExecutorProcess, seconds: float) -> Optional[int]:
    """The exit status if the process ends within ``seconds`` (a crashed executor's socket
    closes a moment before it can be collected), else None."""
    deadline = time.monotonic() + seconds
    pidfd = _pidfd(slot.pid) if seconds > 0 else None
    try:
        while slot.exit_status is None:
            if _exited(slot) or time.monotonic() >= deadline:
                break
            if pidfd is None:
                time.sleep(0.01)
            else:  # readable the moment the process has ended
                select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return slot.exit_status


def _pidfd(pid: int) -> Optional[int]:
    """A file descriptor that becomes readable when process ``pid`` ends, where the system
    has them (Linux 5.3); else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _reap(slot: _ExecutorProcess, exit_wait: float = 0.0) -> str:
    """Make sure the process is gone and collected, given ``exit_wait`` seconds to end by
    itself; says how it ended when it did (``describe_exit``), else returns ''."""
    status = _wait_for_exit(slot, exit_wait)
    if status is None:
        kill_tree(slot.pid)  # with whatever its tasks started (it is a subreaper)
        try:
            os.waitpid(slot.pid, 0)
        except ChildProcessError:
            pass
    slot.conn.close()
    return "" if status is None else describe_exit(status)


def executor_title(executor_id: str, context_id: str, app_dir: str) -> str:
    """The command line a forked ``local[N]`` executor shows in ``ps`` and
    ``/proc/PID/cmdline``: what it is, as a cluster's executor's does (it would show its
    driver's, ``python job.py``, otherwise), with its driver's pid.

    >>> executor_title("1", "app-1", "/tmp/a").split(" ", 1)[1]  # doctest: +ELLIPSIS
    '-m vega_runtime.scheduler.local_backend --app-id app-1 --executor-id 1 --driver-pid ... --app-dir /tmp/a'
    """
    return command_title(__name__, ["--app-id", context_id, "--executor-id", executor_id,
                                    "--driver-pid", str(os.getpid()), "--app-dir", app_dir])


def _on_this_host(path: str, out_path: str) -> None:
    """(``local[N]``'s executors find the driver's files on their host: nothing is fetched.)"""
    raise FileNotFoundError(path)


def run_executor_process(sock: socket.socket, executor_id: str, app_dir: str,
                         memory_budget: int,
                         resources: Optional[Dict[str, List[str]]] = None) -> int:
    """The main loop of a forked ``local[N]`` executor (``resources``: the addresses its
    tasks may use); its exit code."""
    from ..logs import setup_executor_logging

    die_with_parent()
    if os.getppid() == 1:
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    for ending in (signal.SIGTERM, signal.SIGHUP):  # the driver's handlers are its own
        signal.signal(ending, signal.SIG_DFL)
    own_descendants()  # a subreaper: ``_spawn`` kills what its tasks started as it exits
    # what it prints outside its tasks (a task's thread after the task, its own messages)
    # goes to its descriptors, not through the driver's sys.stdout (a Jupyter kernel's)
    write_to_own_descriptors()
    read_no_input()  # the driver's stdin is the driver's: a task's input() ends at once
    setup_executor_logging()
    conn = Connection(sock, "driver")

    def sink(task_id: int, stream: str, text: str) -> None:
        conn.send(TaskOutput(task_id, stream, text))

    executor = Executor(executor_id, HOST, ExecutorDirs.under(app_dir, executor_id), sink,
                        memory_budget, resources=resources or {})
    return serve_cancellable(executor, conn)
