"""The driver's side of barrier execution mode: Spark's ``BarrierCoordinator``.

Each task of a barrier stage that calls ``BarrierTaskContext.barrier()`` or
``all_gather()`` sends a ``BarrierSync`` and waits; when every task of its stage
attempt has sent the same epoch's sync, each gets a ``BarrierSyncReply`` with all their
messages by partition.  A sync whose tasks disagree (one calls ``barrier()``, another
``all_gather()``), or that comes for an epoch other than the one being gathered, fails
every task waiting in it, which fails the stage (the scheduler reruns it whole); so does a
sync that a task of the stage finished without making.  Only stage attempts running
(``stage_started`` to ``stage_ended``) have syncs: a late one of an attempt that ended (a
cancelled stage's task still running, killed) fails at once and is not kept.

The coordinator decides and performs no I/O: ``request`` returns the replies to send and
to which executors.  Backends call it from their reader threads, so it holds a lock.
"""

from __future__ import annotations

import threading
from typing import Dict, List, Set, Tuple

from ..net.messages import BarrierSync, BarrierSyncReply

#: ``(executor_id, reply)``: a reply to send
Reply = Tuple[str, BarrierSyncReply]


class _StageSync:
    """The sync of one barrier stage attempt being gathered."""

    def __init__(self, num_tasks: int):
        self.num_tasks = num_tasks
        self.epoch = 0
        #: partition -> (executor_id, request), for the tasks waiting in this epoch
        self.waiting: Dict[int, Tuple[str, BarrierSync]] = {}
        #: partitions whose task finished: no sync from now on can complete
        self.finished: Set[int] = set()


class BarrierCoordinator:
    """The global syncs of barrier stages' tasks (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._syncs: Dict[Tuple[int, int], _StageSync] = {}
        #: the barrier stage attempts running: (stage_id, attempt)
        self._running: Set[Tuple[int, int]] = set()

    def stage_started(self, stage_id: int, stage_attempt: int) -> None:
        """A barrier stage attempt was submitted: its tasks' syncs are taken from now."""
        with self._lock:
            self._running.add((stage_id, stage_attempt))

    def request(self, executor_id: str, request: BarrierSync) -> List[Reply]:
        """Take in a task's sync; the replies to send now (none while others are awaited)."""
        key = (request.stage_id, request.stage_attempt)
        with self._lock:
            if key not in self._running:
                return [(executor_id, _failed(request, (
                    f"the barrier sync of task {request.partition} of stage "
                    f"{request.stage_id} (attempt {request.stage_attempt}) came after that "
                    "stage attempt ended: the task is being killed")))]
            sync = self._syncs.setdefault(key, _StageSync(request.num_tasks))
            if sync.finished:
                return [(executor_id, _failed(request, _finished_first(sync, request)))]
            if request.epoch != sync.epoch:
                return [(executor_id, _failed(request, (
                    f"the barrier sync of task {request.partition} of stage "
                    f"{request.stage_id} is its sync number {request.epoch + 1}, but the "
                    f"stage's tasks are at number {sync.epoch + 1}: every task of a barrier "
                    "stage must call barrier()/all_gather() the same number of times")))]
            sync.waiting[request.partition] = (executor_id, request)
            methods = sorted({r.method for _, r in sync.waiting.values()})
            if len(methods) > 1:
                waiting = list(sync.waiting.values())
                sync.waiting.clear()
                reason = (f"different barrier sync types in sync number {sync.epoch + 1} of "
                          f"stage {request.stage_id}: {', '.join(methods)}; every task of a "
                          "barrier stage must make the same calls in the same order")
                return [(executor, _failed(r, reason)) for executor, r in waiting]
            if len(sync.waiting) < sync.num_tasks:
                return []
            messages = [sync.waiting[p][1].message for p in sorted(sync.waiting)]
            replies = [(executor, BarrierSyncReply(r.task_id, r.epoch, messages))
                       for executor, r in sync.waiting.values()]
            sync.waiting.clear()
            sync.epoch += 1
            return replies

    def task_finished(self, stage_id: int, stage_attempt: int, partition: int,
                      num_tasks: int) -> List[Reply]:
        """A task of a barrier stage finished: the tasks waiting in a sync it did not make
        can never complete it, and fail now (Spark lets them wait out
        ``spark.barrier.sync.timeout``, a year), as will any sync after this."""
        with self._lock:
            if (stage_id, stage_attempt) not in self._running:
                return []  # nobody can be waiting in a sync of an attempt that ended
            sync = self._syncs.setdefault((stage_id, stage_attempt), _StageSync(num_tasks))
            sync.finished.add(partition)
            waiting = list(sync.waiting.values())
            sync.waiting.clear()
            return [(executor, _failed(r, _finished_first(sync, r))) for executor, r in waiting]

    def stage_ended(self, stage_id: int) -> None:
        """Forget a stage's syncs (its attempt ended: its tasks finished, or are killed)."""
        with self._lock:
            for key in [k for k in self._syncs if k[0] == stage_id]:
                del self._syncs[key]
            self._running = {k for k in self._running if k[0] != stage_id}

    def clear(self) -> None:
        with self._lock:
            self._syncs.clear()
            self._running.clear()

    def __len__(self) -> int:
        """How many stage attempts' syncs it holds."""
        return len(self._syncs)


def _finished_first(sync: _StageSync, request: BarrierSync) -> str:
    done = ", ".join(str(p) for p in sorted(sync.finished))
    return (f"task{'s' if len(sync.finished) > 1 else ''} {done} of stage {request.stage_id} "
            f"finished without making sync number {request.epoch + 1}: every task of a "
            "barrier stage must call barrier()/all_gather() the same number of times")


def _failed(request: BarrierSync, reason: str) -> BarrierSyncReply:
    return BarrierSyncReply(request.task_id, request.epoch, [], reason)
