"""Backends for ``local`` (tasks run inline, one at a time) and ``local[N]``
(N executor processes forked once per Context, talking over socket pairs
with the same frames and messages as the cluster)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from typing import List, Optional

from ..processes import describe_exit, die_with_parent, end_descendants, kill_tree, own_descendants
from ..net.framing import ConnectionClosed, ProtocolError, recv_frame, send_frame
from ..net.messages import (RemoveBroadcast, RemoveRdd, Shutdown, TaskFinished, TaskOutput,
                            from_wire, to_wire)
from .backend import (ExecutorAddedEvent, ExecutorLostEvent, OutputCallback, TaskFinishedEvent, TaskLaunch,
                      TaskQueue, TaskStartedEvent)
from .executor import Executor, ExecutorDirs, serve_tasks

log = logging.getLogger(__name__)

HOST = "localhost"


class InlineBackend:
    """``local``: one executor inside the driver process; deterministic, for tests."""

    def __init__(self, app_dir: str, on_output: OutputCallback, memory_budget: int):
        self.on_output = on_output
        self.executor = Executor("driver", HOST, ExecutorDirs.under(app_dir, "driver"),
                                 self._sink, memory_budget)
        self.queue = TaskQueue()

    def _sink(self, task_id: int, stream: str, text: str) -> None:
        self.on_output(task_id, "driver", HOST, stream, text)

    def default_parallelism(self) -> int:
        return 1

    def launch(self, task: TaskLaunch) -> None:
        self.queue.append(task)

    def poll(self, timeout: float) -> list:
        if not self.queue:
            return []
        task = self.queue.popleft()
        started = TaskStartedEvent(task.spec.task_id, "driver", HOST, time.monotonic())
        finished = self.executor.run(task.message(include_payload=True))
        return [started, TaskFinishedEvent("driver", HOST, finished)]

    def kill_tasks(self, task_ids: List[int]) -> None:
        doomed = set(task_ids)
        self.queue = self.queue.without(doomed)

    def remove_rdd(self, rdd_id: int) -> None:
        self.executor.remove_rdd(rdd_id)

    def remove_broadcast(self, broadcast_id: int) -> None:
        self.executor.remove_broadcast(broadcast_id)

    def replicate(self, source_executor: str, block) -> None:
        return None  # one executor: nowhere else to keep a copy

    def stop(self) -> None:
        self.queue = TaskQueue()
        self.executor.blocks.clear()


class _Slot:
    """One forked executor process and what the driver knows of it."""

    def __init__(self, executor_id: str, pid: int, sock: socket.socket):
        self.executor_id = executor_id
        self.pid = pid
        self.sock = sock
        self.task: Optional[TaskLaunch] = None
        self.payloads_sent: set = set()
        self.alive = True
        self.exit_status: Optional[int] = None  # os.waitpid's, once collected


class ProcessPoolBackend:
    """``local[N]``: N long-lived executor processes, forked when the Context starts."""

    def __init__(self, num_executors: int, app_dir: str, on_output: OutputCallback,
                 memory_budget: int, locality_wait: float = 3.0):
        self.app_dir = app_dir
        self.locality_wait = locality_wait
        self.on_output = on_output
        self.memory_budget = memory_budget
        self.queue = TaskQueue()
        self.slots: List[_Slot] = []
        for index in range(num_executors):
            self.slots.append(self._spawn(f"exec-{index + 1}"))
        self._spawned = num_executors
        #: events found outside ``poll`` (executors started, or killed by us), reported next
        self._lost: list = [ExecutorAddedEvent(s.executor_id, HOST) for s in self.slots]

    # -- processes -------------------------------------------------------------
    def _spawn(self, executor_id: str) -> _Slot:
        sys.stdout.flush()
        sys.stderr.flush()
        parent_end, child_end = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the executor process
            code = 0
            try:
                parent_end.close()
                for slot in self.slots:
                    slot.sock.close()
                run_executor_process(child_end, executor_id, self.app_dir, self.memory_budget)
            except BaseException:  # noqa: BLE001 - a child must never return into the driver
                code = 1
            finally:
                try:
                    end_descendants()  # what its tasks started goes with it
                finally:
                    os._exit(code)
        child_end.close()
        return _Slot(executor_id, pid, parent_end)

    def _live_slot(self, index: int) -> _Slot:
        """The slot's executor, replaced by a new one (with a new id) if it died."""
        slot = self.slots[index]
        if not slot.alive:
            self._spawned += 1
            slot = self.slots[index] = self._spawn(f"exec-{self._spawned}")
            self._lost.append(ExecutorAddedEvent(slot.executor_id, HOST))
        return slot

    def _lose(self, slot: _Slot, reason: str, expected: bool = False) -> ExecutorLostEvent:
        """Mark an executor dead, make sure its process is gone, and describe the loss."""
        slot.alive = False
        task_ids = [slot.task.spec.task_id] if slot.task else []
        slot.task = None
        ended = _reap(slot, exit_wait=0.0 if expected else 0.2)
        if ended and not expected:
            reason = f"{reason}; its process {ended}"
        log.log(logging.INFO if expected else logging.WARNING, "executor %s (pid %d) lost: %s",
                slot.executor_id, slot.pid, reason)
        # Shuffle files live in the shared app dir, so the outputs survive the process.
        return ExecutorLostEvent(slot.executor_id, HOST, reason, task_ids, outputs_lost=False)

    # -- Backend ---------------------------------------------------------------
    def default_parallelism(self) -> int:
        return len(self.slots)

    def launch(self, task: TaskLaunch) -> None:
        task.queued_at = time.monotonic()
        self.queue.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        for index in range(len(self.slots)):
            if not self.queue:
                return
            if self.slots[index].task is not None:
                continue
            if self.slots[index].alive and _exited(self.slots[index]):
                self._lost.append(self._lose(self.slots[index], "its process exited"))
            slot = self._live_slot(index)
            task = self._pick(slot.executor_id)
            if task is None:
                continue
            include = task.payload_key not in slot.payloads_sent
            try:
                send_frame(slot.sock, to_wire(task.message(include)))
            except OSError:
                self.queue.appendleft(task)
                self._lost.append(self._lose(slot, "its connection broke"))
                continue
            slot.payloads_sent.add(task.payload_key)
            slot.task = task
            self._lost.append(TaskStartedEvent(task.spec.task_id, slot.executor_id, HOST,
                                               time.monotonic()))

    def _pick(self, executor_id: str) -> Optional[TaskLaunch]:
        alive = {s.executor_id for s in self.slots if s.alive}
        return self.queue.pick(executor_id, alive, self.locality_wait, time.monotonic())

    def _next_locality_deadline(self) -> Optional[float]:
        waits = [t.queued_at + self.locality_wait for t in self.queue if t.preferred]
        return min(waits) - time.monotonic() if waits else None

    def poll(self, timeout: float) -> list:
        events: list = self._lost
        self._lost = []
        if events:
            return events
        busy = {slot.sock: slot for slot in self.slots if slot.task is not None}
        deadline = self._next_locality_deadline() if self.queue else None
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline))
        if not busy:
            if deadline is not None:
                time.sleep(timeout)
                self._dispatch()
            return []
        watched = {slot.sock: slot for slot in self.slots if slot.alive}  # idle ones may die too
        for sock in wait(list(watched), timeout):
            slot = watched[sock]
            try:
                message = from_wire(recv_frame(sock, slot.executor_id), slot.executor_id)
            except (ConnectionClosed, ProtocolError, OSError) as exc:
                events.append(self._lose(slot, f"process exited or broke its connection ({exc})"))
                continue
            if isinstance(message, TaskOutput):
                self.on_output(message.task_id, slot.executor_id, HOST, message.stream, message.text)
            elif isinstance(message, TaskFinished):
                slot.task = None
                events.append(TaskFinishedEvent(slot.executor_id, HOST, message))
        self._dispatch()
        return events

    def kill_tasks(self, task_ids: List[int]) -> None:
        doomed = set(task_ids)
        self.queue = self.queue.without(doomed)
        for slot in self.slots:
            if slot.task is not None and slot.task.spec.task_id in doomed:
                slot.task = None
                self._lost.append(self._lose(slot, "killed to cancel its task", expected=True))

    def _broadcast_message(self, message) -> None:
        for slot in self.slots:
            if slot.alive:
                try:
                    send_frame(slot.sock, to_wire(message))
                except OSError:
                    slot.alive = False

    def remove_rdd(self, rdd_id: int) -> None:
        self._broadcast_message(RemoveRdd(rdd_id))

    def remove_broadcast(self, broadcast_id: int) -> None:
        self._broadcast_message(RemoveBroadcast(broadcast_id))

    def replicate(self, source_executor: str, block) -> Optional[str]:
        for slot in sorted(self.slots, key=lambda s: s.task is not None):
            if slot.alive and slot.executor_id != source_executor:
                try:
                    send_frame(slot.sock, to_wire(block))
                    return slot.executor_id
                except OSError:
                    slot.alive = False
        return None

    def stop(self) -> None:
        self._broadcast_message(Shutdown("context stopped"))
        for slot in self.slots:
            _reap(slot, graceful=slot.alive)
        self.slots = []


def _exited(slot: _Slot) -> bool:
    """True when the executor process has died (it is then reaped)."""
    try:
        pid, status = os.waitpid(slot.pid, os.WNOHANG)
    except ChildProcessError:
        return True
    if pid != 0:
        slot.exit_status = status
    return pid != 0


def _wait_for_exit(slot: _Slot, seconds: float) -> Optional[int]:
    """The exit status if the process ends within ``seconds`` (a crashed executor's socket
    closes a moment before it can be collected), else None."""
    deadline = time.monotonic() + seconds
    while slot.exit_status is None:
        if _exited(slot) or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return slot.exit_status


def _reap(slot: _Slot, graceful: bool = False, exit_wait: float = 0.0) -> str:
    """Make sure the process is gone and collected; says how it ended when it ended by
    itself (``describe_exit``), else returns ''."""
    if graceful:
        slot.sock.settimeout(2.0)
        try:
            while slot.sock.recv(1 << 16):
                pass
        except OSError:
            pass
    status = _wait_for_exit(slot, exit_wait)
    if status is None:
        kill_tree(slot.pid)  # with whatever its tasks started (it is a subreaper)
        try:
            os.waitpid(slot.pid, 0)
        except ChildProcessError:
            pass
    slot.sock.close()
    return "" if status is None else describe_exit(status)


def run_executor_process(sock: socket.socket, executor_id: str, app_dir: str,
                         memory_budget: int) -> None:
    """The main loop of a forked ``local[N]`` executor."""
    from ..logs import setup_executor_logging

    die_with_parent()
    if os.getppid() == 1:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    own_descendants()  # a subreaper: ``_spawn`` kills what its tasks started as it exits
    setup_executor_logging()

    def sink(task_id: int, stream: str, text: str) -> None:
        send_frame(sock, to_wire(TaskOutput(task_id, stream, text)))

    executor = Executor(executor_id, HOST, ExecutorDirs.under(app_dir, executor_id), sink,
                        memory_budget)
    serve_tasks(executor, lambda: from_wire(recv_frame(sock, "driver"), "driver"),
                lambda message: send_frame(sock, to_wire(message)))
