"""The seam between the scheduler and whatever runs tasks.

A backend is "something that can run tasks and report what happened": the
runner hands it ``TaskLaunch``es and polls it for events.  Task output is
delivered as it arrives through the ``on_output`` callback given to the
backend, so a long task's prints appear while it runs.
"""

from __future__ import annotations

import collections
import time
from typing import (Any, Callable, Deque, Dict, FrozenSet, Iterable, Iterator, List,
                    NamedTuple, Optional, Protocol, Set)

from ..config_limits import FRAME_LIMIT
from ..ids import path_inside
from ..net.messages import BroadcastData, FetchBroadcast, LaunchTask, TaskFinished
from ..records import Record
from .dag import TaskSpec

#: the most bytes a task's stage payload and partition may pickle to together when it
#: travels in a frame: the frame limit less room for the rest of its ``LaunchTask``
#: (a bigger one was sent, and every executor it went to dropped its connection and
#: exited, replaced to be sent it again: the job ran for ever)
TASK_FRAME_ROOM = FRAME_LIMIT - (1 << 20)
#: seconds executors told to stop (``Shutdown``) have to send what they still hold (a task
#: killed as the Context stops: its last lines) and close their connections, read meanwhile
SHUTDOWN_WAIT = 2.0


class TaskLaunch(Record):
    """A task handed to a backend: its spec, its stage payload and its partition."""
    spec: TaskSpec
    payload_key: tuple  # (stage_id, stage_attempt): an executor needs each payload once
    payload: bytes
    partition_data: bytes
    #: executors holding cached input of this task; others wait ``locality_wait`` first
    preferred: FrozenSet[str]
    queued_at: float
    #: a barrier stage's task: it is launched with all its stage's tasks or not yet
    #: (``ExecutorPool.dispatch``), which sets ``addresses``: where each of them runs
    barrier: bool
    addresses: Optional[List[str]]
    #: the cached blocks this task reads, ``(rdd_id, partition)``, and the executors holding
    #: each (those it avoids too): the one it runs on asks the others for a block it lacks
    #: (``LaunchTask.block_holders``)
    holders: Dict[tuple, FrozenSet[str]]
    #: the scheduler pool of its job (``spark.scheduler.pool``; FAIR mode shares the
    #: executors between pools)
    pool: str
    _not_compared = ("queued_at",)

    def __init__(self, spec, payload_key, payload, partition_data, preferred=frozenset(),
                 queued_at=0.0, barrier=False, addresses=None, holders=None, pool="default"):
        self.spec = spec
        self.payload_key = payload_key
        self.payload = payload
        self.partition_data = partition_data
        self.preferred = preferred
        self.queued_at = queued_at
        self.barrier = barrier
        self.addresses = addresses
        self.holders = {} if holders is None else holders
        self.pool = pool

    def message(self, include_payload: bool, executor_id: str = "",
                block_address: Optional[Callable[[str], str]] = None) -> LaunchTask:
        """The task as sent to ``executor_id``; ``block_address(holder)``: where another
        executor serves its cached partitions ("" where it serves none)."""
        s = self.spec
        elsewhere = [[block[0], block[1], sorted(holders - {executor_id})]
                     for block, holders in self.holders.items() if holders - {executor_id}]
        addresses = None
        if elsewhere and block_address is not None:
            addresses = {e: block_address(e) for entry in elsewhere for e in entry[2]}
            addresses = {e: a for e, a in addresses.items() if a} or None
        return LaunchTask(s.task_id, s.stage_id, s.stage_attempt, s.partition, s.attempt,
                          self.payload if include_payload else None, self.partition_data,
                          self.addresses, elsewhere or None, addresses)


def broadcast_reply(request: FetchBroadcast, broadcast_dir: Optional[str]) -> BroadcastData:
    """The driver's answer to an executor's FetchBroadcast: the file's bytes, only from this
    application's broadcast directory; else (a broadcast destroyed while its job ran, say)
    the reason, which fails the task, not the executor."""
    path = None if broadcast_dir is None else path_inside(request.path, broadcast_dir)
    if path is None:
        return BroadcastData(request.broadcast_id, b"",
                             f"broadcast path {request.path!r} is not this driver's")
    try:
        with open(path, "rb") as fh:
            return BroadcastData(request.broadcast_id, fh.read())
    except OSError as exc:
        return BroadcastData(request.broadcast_id, b"",
                             f"broadcast {request.broadcast_id} is no longer on the driver "
                             f"({exc.strerror}): it was destroyed while a job used it")


def send_staged_file(conn, request: FetchBroadcast, broadcast_dir: Optional[str]) -> None:
    """The driver's answer to an executor that asks, before it registers, for a file of
    this application's broadcast directory (the archive of the Python it is to become):
    ``PackageData`` (its size and sha256), then its bytes in chunks (``package_stream``:
    an environment may be past a frame's 1 GiB); else ``BroadcastData`` saying why not."""
    import hashlib

    from ..net.cluster_messages import PackageData
    from ..net.package_stream import CHUNK, send_file

    path = None if broadcast_dir is None else path_inside(request.path, broadcast_dir)
    if path is None:
        conn.send(BroadcastData(request.broadcast_id, b"",
                                f"{request.path!r} is not a file of this driver's"))
        return
    try:
        with open(path, "rb") as fh:
            digest = hashlib.sha256()
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                digest.update(chunk)
            size = fh.tell()
            fh.seek(0)
            conn.send(PackageData(digest.hexdigest(), size))
            send_file(conn, fh, size)
    except FileNotFoundError as exc:
        conn.send(BroadcastData(request.broadcast_id, b"", f"{exc.strerror}: {request.path}"))


class TaskQueue:
    """Tasks waiting for an executor, in the order Spark's scheduler offers them.

    Within a pool, FIFO: an older job's tasks first, then within a job an earlier stage's
    (Spark's FIFO order: job id, then stage id), else in launch order.  Between pools
    (``TaskLaunch.pool``: FAIR mode's ``spark.scheduler.pool``; FIFO mode has one) the
    pool running the fewest tasks goes first (Spark's FAIR order, every pool's weight 1 and
    minimum share 0), by name among equals.

    ``pick`` is what an idle executor should run.  While no queued task prefers
    particular executors (the common case) and one pool has tasks, that is the first task
    it is not excluded from, found in constant time; otherwise each pick scans the queue
    for delay scheduling.
    """

    def __init__(self, tasks: Iterable[TaskLaunch] = ()):
        self._tasks: Deque[TaskLaunch] = collections.deque()
        self._preferring = 0  # queued tasks with preferred executors
        self.barrier_tasks = 0  # queued tasks of barrier stages (never ``pick``ed)
        #: queued tasks by pool
        self.pools: Dict[str, int] = {}
        for task in tasks:
            self.append(task)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[TaskLaunch]:
        return iter(self._tasks)

    def _added(self, task: TaskLaunch) -> None:
        self._preferring += bool(task.preferred)
        self.barrier_tasks += task.barrier
        self.pools[task.pool] = self.pools.get(task.pool, 0) + 1

    def _removed(self, task: TaskLaunch) -> None:
        self._preferring -= bool(task.preferred)
        self.barrier_tasks -= task.barrier
        left = self.pools[task.pool] - 1
        if left:
            self.pools[task.pool] = left
        else:
            del self.pools[task.pool]

    def append(self, task: TaskLaunch) -> None:
        """Queue a task after those of its job and stage, before a later job's (or a later
        stage's) already queued."""
        key = (task.spec.job_id, task.spec.stage_id)
        if self._tasks and (self._tasks[-1].spec.job_id, self._tasks[-1].spec.stage_id) > key:
            place = next(i for i, queued in enumerate(self._tasks)
                         if (queued.spec.job_id, queued.spec.stage_id) > key)
            self._tasks.insert(place, task)
        else:  # (a stage's tasks, one job's at a time: the common case)
            self._tasks.append(task)
        self._added(task)

    def appendleft(self, task: TaskLaunch) -> None:
        """Put back a task that could not be sent: it runs next."""
        self._tasks.appendleft(task)
        self._added(task)

    def first(self) -> TaskLaunch:
        """The task queued first (the queue is not empty)."""
        return self._tasks[0]

    def popleft(self) -> TaskLaunch:
        task = self._tasks.popleft()
        self._removed(task)
        return task

    def without(self, task_ids: Set[int]) -> "TaskQueue":
        return TaskQueue(t for t in self._tasks if t.spec.task_id not in task_ids)

    def _in_order(self, running: Optional[Dict[str, int]]) -> Iterable[TaskLaunch]:
        """The queued tasks in the order they are offered: by pool, the pool running the
        fewest tasks (``running``) first, when several pools have tasks queued."""
        if len(self.pools) < 2:
            return self._tasks
        running = running or {}
        order = sorted(self.pools, key=lambda pool: (running.get(pool, 0), pool))
        return [t for pool in order for t in self._tasks if t.pool == pool]

    def pick(self, executor_id: str, alive: Set[str], locality_wait: float,
             now: float, running: Optional[Dict[str, int]] = None) -> Optional[TaskLaunch]:
        """The queued task ``executor_id`` should run, or None (it waits).

        A task avoids executors it is excluded from while another live executor may
        take it; it prefers executors caching its input, waiting up to
        ``locality_wait`` for them (delay scheduling).  With several pools queued, those
        running fewer tasks (``running``: tasks by pool) are served first.  The chosen
        task leaves the queue.
        """
        chosen = None
        for task in self._in_order(running):
            if task.barrier:  # launched with its stage's others (``ExecutorPool.dispatch``)
                continue
            if executor_id in task.spec.excluded and alive - task.spec.excluded:
                continue
            if executor_id in task.preferred:
                chosen = task
                break
            if chosen is None and (not task.preferred & alive
                                   or now - task.queued_at >= locality_wait):
                chosen = task
                if not self._preferring:
                    break  # no later task can prefer this executor
        if chosen is not None:
            self._tasks.remove(chosen)
            self._removed(chosen)
        return chosen


class TaskFinishedEvent(Record):
    """An executor reported a task's end."""
    executor_id: str
    host: str
    finished: TaskFinished
    shuffle_port: int  # where other hosts fetch this executor's map outputs

    def __init__(self, executor_id, host, finished, shuffle_port=0):
        self.executor_id = executor_id
        self.host = host
        self.finished = finished
        self.shuffle_port = shuffle_port


class TaskStartedEvent(Record):
    """A task was sent to an executor (``at``: ``time.monotonic()`` then), at the locality
    level ``locality`` (Spark's TaskLocality: ``ExecutorPool.locality``)."""
    task_id: int
    executor_id: str
    host: str
    at: float
    locality: str = "PROCESS_LOCAL"

    def __init__(self, task_id, executor_id, host, at, locality="PROCESS_LOCAL"):
        self.task_id = task_id
        self.executor_id = executor_id
        self.host = host
        self.at = at
        self.locality = locality


class ExecutorAddedEvent(Record):
    """An executor joined the application."""
    executor_id: str
    host: str
    #: when (``time.time()``): the job loop may hear of it only when the next job runs
    at: float
    #: the addresses of the custom resources it holds, by name (``{"gpu": ["0"]}``)
    resources: Dict[str, List[str]]

    def __init__(self, executor_id, host, at=None, resources=None):
        self.executor_id = executor_id
        self.host = host
        self.at = time.time() if at is None else at
        self.resources = {} if resources is None else resources


class ExecutorLostEvent(Record):
    """An executor is gone, with the tasks it was running."""
    executor_id: str
    host: str
    #: how it ended: with a ``cause``, a description in ``executor_loss``'s words ("exceeded
    #: its 1 GiB memory limit"); without one, what the backend saw ("its connection broke")
    reason: str
    #: the tasks it held, the one it was running first (the others waited behind it)
    task_ids: List[int]
    outputs_lost: bool
    #: an ``executor_loss.LossCause`` value, or "" (unclassified)
    cause: str
    #: the end of the executor's log, when its worker sent it
    detail: str
    #: released on purpose (dynamic allocation), not lost: nothing of it is missed
    released: bool
    #: when (``time.time()``): the job loop may hear of it only when the next job runs
    at: float

    def __init__(self, executor_id, host, reason, task_ids, outputs_lost, cause="", detail="",
                 released=False, at=None):
        self.executor_id = executor_id
        self.host = host
        self.reason = reason
        self.task_ids = task_ids
        self.outputs_lost = outputs_lost
        self.cause = cause
        self.detail = detail
        self.released = released
        self.at = time.time() if at is None else at


class ExecutorStatus(NamedTuple):
    """What the driver knows of one executor (or of itself) at a moment, for
    ``StatusTracker.getExecutorInfos``: ``port`` is where it serves blocks (0: nowhere),
    ``running`` the tasks it runs, ``caches`` whether it runs tasks and so caches partitions
    (a driver whose tasks run elsewhere does not)."""

    executor_id: str
    host: str
    port: int
    running: int
    caches: bool = True


#: ``on_output(task_id, executor_id, host, stream, text, spec)``: ``spec`` is the task's
#: ``TaskSpec`` while it is in flight on that executor (sent, its end not yet taken in), so
#: its lines name its stage and partition whatever the job loop has taken in; None where the
#: backend does not know it (``local``'s tasks, and what a task's threads print after its end)
OutputCallback = Callable[[int, str, str, str, str, Optional[TaskSpec]], None]


class Backend(Protocol):
    """Runs tasks somewhere and reports their outcomes."""

    #: the ``BarrierCoordinator`` the executors' ``BarrierSync``s go to
    barrier: Any
    #: executors may join while a job waits (a cluster's); else there are as many as now
    may_gain_executors: bool
    #: the most bytes a task's stage payload and partition may pickle to together, when
    #: tasks travel to executors in frames (``TASK_FRAME_ROOM``); None for ``local``'s
    max_task_bytes: Optional[int]

    def default_parallelism(self) -> int: ...

    def max_concurrent_tasks(self) -> int:
        """How many tasks can run at the same time now (Spark's ``maxNumConcurrentTasks``):
        a barrier stage of more tasks cannot run."""
        ...

    def launch(self, tasks: List[TaskLaunch]) -> None:
        """Queue tasks (a stage's, or a retry) and start what executors can take."""
        ...

    def poll(self, timeout: float) -> list: ...

    def kill_tasks(self, task_ids: List[int]) -> Dict[int, str]:
        """Stop tasks: queued ones never run, those in flight are told to stop.  Returns
        those in flight (sent to an executor, their end not reported yet), each with its
        executor: each reports its end later, whether it ran or was dropped unstarted, unless
        its executor is lost first."""
        ...

    def remove_rdd(self, rdd_id: int, reply: bool = False) -> int:
        """Tell every executor to drop the RDD's cached partitions; ``reply``: ask each to
        say when it has; the removal's number for ``removal_pending`` (0 without ``reply``)."""
        ...

    def remove_shuffle(self, shuffle_id: int, reply: bool = False, before_task: int = 0) -> int:
        """Delete a shuffle's map output files wherever an executor can reach them, after the
        tasks each was given before (those of tasks whose id is below ``before_task``; 0:
        all); ``reply``: ask each to say when it has; the removal's number for
        ``removal_pending`` (0 without ``reply``)."""
        ...

    def replicate(self, source_executor: str, block) -> List[str]:
        """Send a cached block (``PutBlock``) to as many other executors as its level keeps
        copies besides the source's; the ids of those that took it."""
        ...

    def remove_broadcast(self, broadcast_id: int, reply: bool = False) -> int: ...

    def removal_pending(self, number: int) -> bool:
        """Whether a reachable executor has yet to confirm the removal numbered ``number``
        (``remove_rdd``'s, ``remove_shuffle``'s or ``remove_broadcast``'s with ``reply``): each removal is waited
        for on its own, two threads removing the same RDD at once included."""
        ...

    def executors(self) -> List[ExecutorStatus]:
        """The driver, then each executor it holds, as they are now (from any thread)."""
        ...

    def stop(self) -> None: ...
