"""The executors a driver runs tasks on, whatever started them.

Both task-running backends feed one ``ExecutorPool``: ``local[N]`` with the
processes it forks, ``vega://`` and ``local-cluster`` with the executors that
connect back to the driver.  The pool knows each executor only through a small
handle (``ExecutorHandle``: an id, a host, ``send``) and does the rest in one
place: which executor is idle, which queued task it runs next (``TaskQueue.pick``:
exclusions and delay scheduling), sending each stage's payload once per
executor, cancelling tasks, replicating cached blocks, and executors released on
purpose (dynamic allocation) that get no more work.

Cancellation has one path: a queued task leaves the queue, a running one gets a
``KillTask`` and its executor stays busy until it reports the task ended (the
executor interrupts the task; it does not die).

The pool performs no waiting and owns no thread; a backend that calls it from
several threads holds its own lock around the calls.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, Iterator, List, Optional, Protocol

from ..net.messages import KillTask
from .backend import TaskLaunch, TaskQueue, TaskStartedEvent


class ExecutorHandle(Protocol):
    """How the pool reaches one executor."""

    executor_id: str
    host: str

    def send(self, message) -> None:
        """Send one wire message; raises ``OSError`` when the executor cannot be reached."""
        ...


class PoolSlot:
    """One executor and what the driver knows of it."""

    def __init__(self, handle: ExecutorHandle, now: float):
        self.handle = handle
        self.task: Optional[TaskLaunch] = None
        #: ``TaskLaunch.payload_key``s this executor has received
        self.payloads_sent: set = set()
        #: unreachable (a send failed, or its connection closed): no new task
        self.gone = False
        #: when it last became idle (``time.monotonic()``)
        self.idle_since = now
        #: why it is being released (dynamic allocation); it gets no more tasks
        self.releasing: Optional[str] = None
        self.releasing_since = 0.0
        #: when its running task was told to stop (``KillTask``), until it reports the end
        self.kill_sent_at: Optional[float] = None

    @property
    def executor_id(self) -> str:
        return self.handle.executor_id

    @property
    def host(self) -> str:
        return self.handle.host

    @property
    def usable(self) -> bool:
        """It may be given a task (when idle)."""
        return not self.gone and self.releasing is None

    def task_ids(self) -> List[int]:
        return [self.task.spec.task_id] if self.task is not None else []


class ExecutorPool:
    """Queued tasks and the executors that run them, one task per executor at a time.

    ``emit`` receives each ``TaskStartedEvent``, before the task is sent (the
    executor's answer may arrive on another thread before ``send`` returns).
    """

    def __init__(self, emit: Callable[[object], None], locality_wait: float,
                 clock: Callable[[], float] = time.monotonic):
        self.emit = emit
        self.locality_wait = locality_wait
        self.clock = clock
        self.queue = TaskQueue()
        self._slots: Dict[str, PoolSlot] = {}

    # -- executors ---------------------------------------------------------------------
    def add(self, handle: ExecutorHandle) -> PoolSlot:
        slot = self._slots[handle.executor_id] = PoolSlot(handle, self.clock())
        return slot

    def remove(self, executor_id: str) -> Optional[PoolSlot]:
        """Forget an executor; its slot (with the task it was running, if any), or None if
        the pool did not hold it.  Its task is not requeued: the scheduler decides."""
        return self._slots.pop(executor_id, None)

    def get(self, executor_id: str) -> Optional[PoolSlot]:
        return self._slots.get(executor_id)

    def __contains__(self, executor_id: str) -> bool:
        return executor_id in self._slots

    def __len__(self) -> int:
        return len(self._slots)

    def __iter__(self) -> Iterator[PoolSlot]:
        return iter(list(self._slots.values()))

    def executor_ids(self) -> List[str]:
        return list(self._slots)

    def running(self) -> int:
        """How many executors run a task."""
        return sum(1 for s in self._slots.values() if s.task is not None)

    # -- tasks -------------------------------------------------------------------------
    def submit(self, task: TaskLaunch) -> List[str]:
        """Queue a task and hand out what idle executors can run; returns ``dispatch``'s."""
        task.queued_at = self.clock()
        self.queue.append(task)
        return self.dispatch()

    def dispatch(self) -> List[str]:
        """Give each idle, usable executor the task it should run next.  Returns the
        executors a send failed to (marked ``gone``; their task went back to the queue's
        front): the backend finds out why they are unreachable."""
        broken = []
        for slot in list(self._slots.values()):
            if not self.queue:
                break
            if slot.task is not None or not slot.usable:
                continue
            task = self.queue.pick(slot.executor_id, self._usable_ids(), self.locality_wait,
                                   self.clock())
            if task is None:
                continue
            include = task.payload_key not in slot.payloads_sent
            slot.task = task
            self.emit(TaskStartedEvent(task.spec.task_id, slot.executor_id, slot.host,
                                       self.clock()))
            try:
                slot.handle.send(task.message(include))
            except OSError:
                slot.task = None
                slot.gone = True
                self.queue.appendleft(task)
                broken.append(slot.executor_id)
                continue
            slot.payloads_sent.add(task.payload_key)
        return broken

    def _usable_ids(self) -> set:
        return {e for e, s in self._slots.items() if s.usable}

    def task_ended(self, executor_id: str) -> Optional[PoolSlot]:
        """The executor reported its task's end (finished, failed or killed): it is idle."""
        slot = self._slots.get(executor_id)
        if slot is not None:
            slot.task = None
            slot.kill_sent_at = None
            slot.idle_since = self.clock()
        return slot

    def overdue_kills(self, grace: float) -> List[str]:
        """Executors told to kill their task more than ``grace`` seconds ago that have not
        reported its end (the task ignores the interruption, or the kill crossed its
        start): the backend ends them instead (Spark's task reaper)."""
        now = self.clock()
        return [s.executor_id for s in self._slots.values()
                if s.task is not None and s.kill_sent_at is not None
                and now - s.kill_sent_at > grace]

    def next_locality_deadline(self) -> Optional[float]:
        """Seconds until a queued task stops waiting for its preferred executors, if any."""
        waits = [t.queued_at + self.locality_wait for t in self.queue if t.preferred]
        return max(0.0, min(waits) - self.clock()) if waits else None

    def kill(self, task_ids: List[int]) -> None:
        """Cancel tasks: queued ones leave the queue, running ones get a ``KillTask`` (their
        executor stays busy until it reports the task's end)."""
        doomed = set(task_ids)
        self.queue = self.queue.without(doomed)
        for slot in list(self._slots.values()):
            if slot.task is not None and slot.task.spec.task_id in doomed:
                if slot.kill_sent_at is None:
                    slot.kill_sent_at = self.clock()
                self._send(slot, KillTask(slot.task.spec.task_id))

    # -- messages to executors -------------------------------------------------------------
    def tell_all(self, message) -> None:
        """Send a message to every reachable executor."""
        for slot in list(self._slots.values()):
            if not slot.gone:
                self._send(slot, message)

    def replicate(self, source_executor: str, block) -> Optional[str]:
        """Send a cached block to another executor, on another host and idle if there is
        one; its id, or None when no other executor took it."""
        source = self._slots.get(source_executor)
        others = [s for s in self._slots.values()
                  if s.executor_id != source_executor and not s.gone]
        others.sort(key=lambda s: (source is not None and s.host == source.host,
                                   s.task is not None))
        for slot in others:
            if self._send(slot, block):
                return slot.executor_id
        return None

    @staticmethod
    def _send(slot: PoolSlot, message) -> bool:
        try:
            slot.handle.send(message)
            return True
        except OSError:
            slot.gone = True
            return False
