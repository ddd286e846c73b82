"""The executors a driver runs tasks on, whatever started them.

Both task-running backends feed one ``ExecutorPool``: ``local[N]`` with the
processes it forks, ``vega://`` and ``local-cluster`` with the executors that
connect back to the driver.  The pool knows each executor only through a small
handle (``ExecutorHandle``: an id, a host, ``send``) and does the rest in one
place: which executor is idle, which queued task it runs next (``TaskQueue.pick``:
exclusions and delay scheduling), sending each stage's payload once per
executor, cancelling tasks, replicating cached blocks, telling a task where the
other holders of its cached input serve them (a task away from its cached partition
fetches it, Spark's remote get), relaying such a fetch for executors that serve no
port (``local[N]``'s, which have connections to the driver only), and executors
released on purpose (dynamic allocation) that get no more work.

Tasks in flight: an executor runs one task at a time, but one whose last task of the
stage was short (under ``SHORT_TASK`` seconds) is sent as many as that task would take
``IN_FLIGHT_WORK`` seconds to run, up to ``TASKS_IN_FLIGHT``; they wait in its own
queue: it starts the next the moment one ends, without waiting for the driver to hear of
the end and send another (the round trip, not the task, bounds a stage of short tasks
otherwise), and the driver's work per task (a wake-up, a read, a write) is shared by
many.  Each executor gets its first task before any gets a second, none more than its
share of the work left (so a stage whose later tasks turn out long has them spread), and
what one executor is sent goes in one write (``send_many``).  Executors running long tasks, and
those starting another stage, get one at a time, so no task waits behind a long one
while another executor idles.

Cancellation has one path: a queued task leaves the queue, a task in flight gets a
``KillTask`` and its executor keeps it until it reports the task ended (the
executor interrupts a running task, and drops one still waiting in its queue; it
does not die).

The pool performs no waiting and owns no thread; a backend that calls it from
several threads holds its own lock around the calls.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Callable, Dict, Iterator, List, Optional, Protocol, Set

from ..net.endpoints import host_port
from ..net.messages import (EXECUTOR_PAYLOADS, BarrierSync, CachedBlock, FetchCachedBlock,
                            KillTask, PutBlock, Removed, RemoveBroadcast,
                            RemoveRdd, RemoveShuffle)
from ..storage_level import StorageLevel
from .backend import TASK_FRAME_ROOM, ExecutorStatus, TaskLaunch, TaskQueue, TaskStartedEvent
from .barrier import BarrierCoordinator
from .dag import TaskSpec


#: Tasks an executor whose tasks are short holds at most (one runs, the others wait there).
TASKS_IN_FLIGHT = 64
#: Seconds under which a finished task counts as short (its executor then gets several).
SHORT_TASK = 0.05
#: Seconds of work an executor running short tasks holds: as many tasks as its last one
#: would take to fill it, up to ``TASKS_IN_FLIGHT`` (so what waits on an executor while
#: another runs out of work is bounded by time, not by count)
IN_FLIGHT_WORK = 0.05
#: Seconds tasks wait in the queue, with a reason to think they may wait for ever (a barrier
#: stage short of idle executors, an executor that has not ended a killed task), before the
#: driver says why, and again every as many seconds (Spark's ``spark.starvation.timeout``,
#: whose "Initial job has not accepted any resources" it logs every 15 s)
STARVATION_TIMEOUT = 15.0


class ExecutorHandle(Protocol):
    """How the pool reaches one executor."""

    executor_id: str
    host: str

    def send(self, message) -> None:
        """Send one wire message; raises ``OSError`` when the executor cannot be reached."""
        ...

    def send_many(self, messages: list) -> None:
        """Send several messages in one write; ``OSError`` as ``send``."""
        ...


class PoolSlot:
    """One executor and what the driver knows of it."""

    def __init__(self, handle: ExecutorHandle, now: float):
        self.handle = handle
        #: the tasks sent to it and not reported ended, in launch order: it runs the first
        #: and runs the others in this order
        self.tasks: Dict[int, TaskLaunch] = {}
        #: how long its last finished task ran (None: none yet), and its stage (payload_key)
        self.last_duration: Optional[float] = None
        self.last_stage: Optional[tuple] = None
        #: the ``TaskLaunch.payload_key``s of the payloads this executor holds, the ones
        #: last sent to it (it keeps ``EXECUTOR_PAYLOADS``, dropping the oldest), in order
        self.payloads_sent: Dict[tuple, None] = {}
        #: unreachable (a send failed, or its connection closed): no new task
        self.gone = False
        #: when it last became idle (``time.monotonic()``)
        self.idle_since = now
        #: why it is being released (dynamic allocation); it gets no more tasks
        self.releasing: Optional[str] = None
        self.releasing_since = 0.0
        #: task id -> when it was told to stop (``KillTask``), until it reports the end
        self.kills: Dict[int, float] = {}

    @property
    def executor_id(self) -> str:
        return self.handle.executor_id

    @property
    def host(self) -> str:
        return self.handle.host

    @property
    def task(self) -> Optional[TaskLaunch]:
        """The task it runs (the first in flight), or None when it is idle."""
        return next(iter(self.tasks.values()), None)

    @property
    def usable(self) -> bool:
        """It may be given a task (when idle)."""
        return not self.gone and self.releasing is None

    def capacity(self, stage: Optional[tuple] = None) -> int:
        """How many tasks it may hold: while its tasks of ``stage`` (a ``payload_key``) are
        short, as many as its last one would take ``IN_FLIGHT_WORK`` seconds to run (at most
        ``TASKS_IN_FLIGHT``), else one (a stage's first task on an executor runs alone)."""
        last = self.last_duration
        if last is None or last >= SHORT_TASK or stage != self.last_stage:
            return 1
        return TASKS_IN_FLIGHT if last * TASKS_IN_FLIGHT <= IN_FLIGHT_WORK \
            else 1 + int(IN_FLIGHT_WORK / last)

    def task_ids(self) -> List[int]:
        """The tasks in flight, the running one first."""
        return list(self.tasks)

    def in_flight(self, task_id: int) -> Optional[TaskSpec]:
        """Task ``task_id``'s spec if it was sent here and its end is not taken in yet: its
        output's prefix (``OutputCallback``).  Read without the pool's lock by the thread that
        reads this executor's messages (a dict's ``get`` is atomic): a task is here from
        before its send until that thread takes in its end, after its output."""
        launch = self.tasks.get(task_id)
        return launch.spec if launch is not None else None

    @property
    def address(self) -> str:
        """``host:port``, the port where it serves blocks (0: it serves none: ``local[N]``'s
        executors share the driver's disk): what a barrier task learns of the others."""
        return host_port(self.host, getattr(self.handle, 'shuffle_port', 0))

    def status(self, port: int = 0) -> ExecutorStatus:
        """It as ``Backend.executors`` lists it: it runs its first task in flight, if any."""
        return ExecutorStatus(self.executor_id, self.host, port, 1 if self.tasks else 0)


class ExecutorPool:
    """Queued tasks and the executors that run them (one at a time each, a few in flight).

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
        #: the syncs of barrier stages' tasks (the job loop ends a stage's there)
        self.barrier = BarrierCoordinator()
        #: cached-block requests passed on to their holder and not answered yet:
        #: the driver's request id -> (requester, its request id, holder)
        self._relayed: Dict[int, tuple] = {}
        self._relay_ids = itertools.count(1)
        #: removals whose replies are awaited (``unpersist(blocking=True)``), by number: the
        #: executors yet to say they did it. Numbered, not keyed by what they remove: two
        #: threads removing the same RDD at once each wait for their own (an executor's
        #: reply to the first released both, the second's removal not done there)
        self._removals: Dict[int, set] = {}
        self._removal_ids = itertools.count(1)
        #: when ``starving`` last said why tasks wait
        self._starvation_said = float("-inf")

    # -- executors ---------------------------------------------------------------------
    def add(self, handle: ExecutorHandle) -> PoolSlot:
        slot = self._slots[handle.executor_id] = PoolSlot(handle, self.clock())
        return slot

    def remove(self, executor_id: str) -> Optional[PoolSlot]:
        """Forget an executor; its slot (with the task it was running, if any), or None if
        the pool did not hold it.  Its task is not requeued: the scheduler decides.  Tasks
        waiting for a cached block from it hear it is lost (they compute the block)."""
        slot = self._slots.pop(executor_id, None)
        for number, waiting in list(self._removals.items()):  # it will never reply
            waiting.discard(executor_id)
            if not waiting:
                self._removals.pop(number, None)
        for relay_id, (requester, request_id, holder) in list(self._relayed.items()):
            if executor_id in (requester, holder):
                del self._relayed[relay_id]
                if holder == executor_id:
                    self.send_all(self._reply_to(requester, CachedBlock(
                        request_id, None, f"executor {executor_id} was lost")))
        return slot

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
        """How many tasks are in flight (sent to an executor, not reported ended)."""
        return sum(len(s.tasks) for s in self._slots.values())

    # -- tasks -------------------------------------------------------------------------
    def submit(self, tasks) -> List[str]:
        """Queue tasks (one ``TaskLaunch``, or a list) and hand out what executors can take;
        returns ``dispatch``'s."""
        now = self.clock()
        for task in tasks if isinstance(tasks, list) else [tasks]:
            task.queued_at = now
            self.queue.append(task)
        return self.dispatch()

    def dispatch(self) -> List[str]:
        """Give usable executors the tasks they should run next: each idle one a task first,
        then those running short tasks more, up to their ``capacity``.  Returns the
        executors a send failed to (marked ``gone``; their new tasks went back to the queue's
        front): the backend finds out why they are unreachable."""
        if not self.queue:
            return []
        usable, now = self._usable_ids(), self.clock()
        batches = self._dispatch_barrier(now)
        # the executor holding the fewest tasks gets the next (the first in order among equals):
        # every idle one a task, then each a second, ... (a heap: many executors stay cheap)
        holders = [(len(slot.tasks), order, slot)
                   for order, slot in enumerate(self._slots.values()) if slot.usable]
        # none holds more than its share of the work left, so a stage's later tasks spread
        # over the executors even if they turn out long
        share = -(-(len(self.queue) + sum(h for h, _, _ in holders)) // max(1, len(holders)))
        heapq.heapify(holders)
        # FAIR mode's pools with tasks queued: each is offered slots by the tasks it runs
        running = self._running_by_pool() if len(self.queue.pools) > 1 else None
        while holders and self.queue:
            held, order, slot = heapq.heappop(holders)
            if held and (held >= share or slot.task.barrier
                         or held >= slot.capacity(self.queue.first().payload_key)):
                continue
            task = self.queue.pick(slot.executor_id, usable, self.locality_wait, now, running)
            if task is None:
                continue
            if running is not None:
                running[task.pool] = running.get(task.pool, 0) + 1
            slot.tasks[task.spec.task_id] = task
            batches.setdefault(slot.executor_id, []).append(task)
            self.emit(TaskStartedEvent(task.spec.task_id, slot.executor_id, slot.host, now,
                                       self.locality(task, slot)))
            heapq.heappush(holders, (held + 1, order, slot))
        broken = []
        for executor_id, tasks in batches.items():
            slot = self._slots[executor_id]
            messages, held = [], dict(slot.payloads_sent)
            for task in tasks:
                # as the executor counts them: a payload earlier in the batch can push out
                # one a later task needs (sent without it, it failed: never sent)
                include = task.payload_key not in held
                if include:
                    held[task.payload_key] = None
                    if len(held) > EXECUTOR_PAYLOADS:
                        del held[next(iter(held))]  # the executor no longer holds it
                messages.append(task.message(include, executor_id, self._block_address))
            try:
                if len(messages) == 1:
                    slot.handle.send(messages[0])
                else:
                    slot.handle.send_many(messages)
            except OSError:
                for task in reversed(tasks):
                    if task.barrier:  # it stays: its executor's loss fails (reruns) its stage
                        continue
                    del slot.tasks[task.spec.task_id]
                    self.queue.appendleft(task)
                slot.gone = True
                broken.append(executor_id)
                continue
            slot.payloads_sent = held
        return broken

    def locality(self, task: TaskLaunch, slot) -> str:
        """Spark's TaskLocality of ``task`` run on ``slot``'s executor: PROCESS_LOCAL on an
        executor caching its input, or for a task that prefers none (as Spark reports its
        tasks without preferred locations); NODE_LOCAL on another executor of such an
        executor's host; else ANY (it waited out ``locality_wait``)."""
        if not task.preferred or slot.executor_id in task.preferred:
            return "PROCESS_LOCAL"
        hosts = {self._slots[e].host for e in task.preferred if e in self._slots}
        return "NODE_LOCAL" if slot.host in hosts else "ANY"

    def _dispatch_barrier(self, now: float) -> Dict[str, list]:
        """Spark's rule for a barrier stage's tasks: they start all at once, one on each of
        as many idle executors, or none does yet (they wait in the queue, which other tasks
        pass); each learns where the others run.  Started part way, they could wait for each
        other in a sync while the rest waited for the executors they hold.  Returns the
        tasks given, by executor."""
        batches: Dict[str, list] = {}
        if not self.queue.barrier_tasks:  # (most stages: no scan of the queue)
            return batches
        stages: Dict[tuple, List[TaskLaunch]] = {}
        for task in self.queue:
            if task.barrier:
                stages.setdefault(task.payload_key, []).append(task)
        for tasks in stages.values():
            idle = [slot for slot in self._slots.values()
                    if slot.usable and not slot.tasks][:len(tasks)]
            if len(idle) < len(tasks):
                continue
            tasks.sort(key=lambda t: t.spec.partition)
            addresses = [slot.address for slot in idle]
            self.queue = self.queue.without({t.spec.task_id for t in tasks})
            for task, slot in zip(tasks, idle):
                task.addresses = addresses
                slot.tasks[task.spec.task_id] = task
                batches[slot.executor_id] = [task]
                self.emit(TaskStartedEvent(task.spec.task_id, slot.executor_id, slot.host, now,
                                           self.locality(task, slot)))
        return batches

    def _running_by_pool(self) -> Dict[str, int]:
        running: Dict[str, int] = {}
        for slot in self._slots.values():
            for task in slot.tasks.values():
                running[task.pool] = running.get(task.pool, 0) + 1
        return running

    def _usable_ids(self) -> set:
        return {e for e, s in self._slots.items() if s.usable}

    def task_ended(self, executor_id: str, task_id: int, duration: Optional[float] = None,
                   succeeded: bool = False) -> Optional[PoolSlot]:
        """The executor reported a task's end (finished, failed or killed; ``duration``: how
        long it ran, when it ran): it holds one task less, and is idle if that was the last.
        A barrier task that finished fails the syncs of its stage it did not make."""
        slot = self._slots.get(executor_id)
        task = slot.tasks.pop(task_id, None) if slot is not None else None
        if task is not None and task.barrier and succeeded:
            s = task.spec
            self._deliver(self.barrier.task_finished(s.stage_id, s.stage_attempt, s.partition,
                                                     len(task.addresses or ())))
        if task is not None:
            slot.kills.pop(task_id, None)
            if duration is not None:
                slot.last_duration, slot.last_stage = duration, task.payload_key
            if not slot.tasks:
                slot.idle_since = self.clock()
        return slot

    def overdue_kills(self, grace: float) -> List[str]:
        """Executors told to kill a task more than ``grace`` seconds ago that have not
        reported its end (the task ignores the interruption, or the kill crossed its
        start): the backend ends them instead (Spark's task reaper)."""
        now = self.clock()
        return [s.executor_id for s in self._slots.values()
                if any(now - at > grace for task_id, at in s.kills.items()
                       if task_id in s.tasks)]

    def next_overdue(self, grace: float) -> Optional[float]:
        """Seconds until an executor is in ``overdue_kills`` (0 once one is), None while no
        killed task is in flight or ``grace`` is infinite: when a backend that nobody polls
        between jobs must be asked again.  Safe beside the job loop's thread (copies)."""
        now = self.clock()
        kills = [at for slot in list(self._slots.values())
                 for task_id, at in list(slot.kills.items()) if task_id in slot.tasks]
        if not kills or grace == float("inf"):
            return None
        return max(0.0, min(kills) + grace - now)

    def killed_task(self, executor_id: str) -> Optional[int]:
        """The task ``executor_id`` was told to kill first and has not reported ended."""
        slot = self._slots.get(executor_id)
        pending = [(at, task_id) for task_id, at in slot.kills.items()
                   if task_id in slot.tasks] if slot is not None else []
        return min(pending)[1] if pending else None

    def starving(self, after: float = STARVATION_TIMEOUT) -> Optional[str]:
        """Why the queue's tasks wait, once the oldest has waited ``after`` seconds and what
        holds it up may never end by itself: a barrier stage that lacks idle executors (its
        tasks start together), executors that have not ended a task ``after`` seconds after
        its kill; each executor's state follows.  Said at most once every ``after`` seconds
        (None meanwhile, and while tasks wait only for others to end)."""
        now = self.clock()
        if not self.queue or now - self._starvation_said < after:
            return None
        overdue = [slot.executor_id for slot in self._slots.values()
                   if any(now - at >= after for task_id, at in slot.kills.items()
                          if task_id in slot.tasks)]
        if not overdue and not self.queue.barrier_tasks:  # (most polls: no scan of the queue)
            return None
        waited = now - min(task.queued_at for task in self.queue)
        if waited < after:
            return None
        idle = sum(1 for slot in self._slots.values() if slot.usable and not slot.tasks)
        stages: Dict[int, int] = {}
        for task in self.queue:
            if task.barrier:
                stages[task.spec.stage_id] = stages.get(task.spec.stage_id, 0) + 1
        reasons = [f"barrier stage {stage_id} needs {tasks} idle executors at once "
                   f"({idle} {'is' if idle == 1 else 'are'} idle)"
                   for stage_id, tasks in sorted(stages.items()) if tasks > idle]
        if overdue:
            reasons.append(f"{', '.join(overdue)} {'has' if len(overdue) == 1 else 'have'} "
                           f"not ended a task {after:g}s after it was killed (its code may "
                           "catch the interruption)")
        if not reasons:
            return None
        self._starvation_said = now
        return (f"{len(self.queue)} queued task{'s' if len(self.queue) > 1 else ''} "
                f"{'have' if len(self.queue) > 1 else 'has'} waited {waited:.0f}s for "
                f"executors: {'; '.join(reasons)}. Executors: "
                + (", ".join(self._state(slot, now) for slot in self._slots.values())
                   or "none"))

    @staticmethod
    def _state(slot: PoolSlot, now: float) -> str:
        """One executor as ``starving`` describes it."""
        if slot.gone:
            return f"{slot.executor_id} unreachable"
        if slot.releasing is not None:
            return f"{slot.executor_id} being released"
        if not slot.tasks:
            return f"{slot.executor_id} idle"
        tasks = []
        for task_id in slot.tasks:
            killed = slot.kills.get(task_id)
            tasks.append(f"{task_id}" if killed is None
                         else f"{task_id} (killed {now - killed:.0f}s ago)")
        return f"{slot.executor_id} holds task{'s' if len(tasks) > 1 else ''} " \
            + ", ".join(tasks)

    def next_locality_deadline(self) -> Optional[float]:
        """Seconds until a queued task stops waiting for its preferred executors, if any."""
        waits = [t.queued_at + self.locality_wait for t in self.queue if t.preferred]
        return max(0.0, min(waits) - self.clock()) if waits else None

    def kill(self, task_ids: List[int]) -> Dict[int, str]:
        """Cancel tasks: queued ones leave the queue, those in flight get a ``KillTask`` (their
        executor keeps them until it reports their end).  Returns those in flight, each with
        its executor (``in_flight_on``): their ends are still to come."""
        doomed = set(task_ids)
        self.queue = self.queue.without(doomed)
        for slot in list(self._slots.values()):
            # the waiting ones first, the running one last: the executor has dropped them
            # by the time the interrupted task ends, and does not start them
            ids = [task_id for task_id in reversed(slot.tasks) if task_id in doomed]
            for task_id in ids:
                slot.kills.setdefault(task_id, self.clock())
            if ids:
                self._send_many(slot, [KillTask(task_id) for task_id in ids])
        return self.in_flight_on(doomed)

    def in_flight_on(self, task_ids: Set[int]) -> Dict[int, str]:
        """Those of ``task_ids`` in flight, each with its executor: sent to it (whether or not
        the job loop has taken in their start) and not reported ended.  A queued task is
        not, nor one whose executor was removed (its loss is reported instead)."""
        return {task_id: slot.executor_id for slot in self._slots.values()
                for task_id in slot.tasks if task_id in task_ids}

    def sync(self, executor_id: str, request: BarrierSync) -> None:
        """A barrier task's sync (``BarrierSync``): send the replies it completes."""
        self._deliver(self.barrier.request(executor_id, request))

    def _deliver(self, replies: list) -> None:
        for executor_id, reply in replies:
            slot = self._slots.get(executor_id)
            if slot is not None:  # (one gone is lost, with its task)
                self._send(slot, reply)

    # -- messages to executors -------------------------------------------------------------
    def tell_all(self, message) -> None:
        """Send a message to every reachable executor."""
        for slot in list(self._slots.values()):
            if not slot.gone:
                self._send(slot, message)

    def remove_everywhere(self, message, reply: bool) -> int:
        """Send a removal (``RemoveRdd``, ``RemoveBroadcast``, ``RemoveShuffle``) to every
        reachable executor; ``reply``: ask each to say (``Removed``) once it is done; the
        removal's number, for ``removal_pending`` (0 when no reply is asked)."""
        if not reply:
            self.tell_all(message)
            return 0
        number = message.reply = next(self._removal_ids)
        targets = [slot for slot in list(self._slots.values()) if not slot.gone]
        # every one awaited before any is sent: a reply may come on another thread (the job
        # loop's) while the others are sent, and one emptying the set ended the wait
        waiting = self._removals[number] = {slot.executor_id for slot in targets}
        for slot in targets:
            if not self._send(slot, message):
                waiting.discard(slot.executor_id)
        if not waiting:  # no executor to hear from (none yet, or none reachable)
            self._removals.pop(number, None)
        return number

    def removed(self, executor_id: str, reply: Removed) -> None:
        """Executor ``executor_id`` did the removal ``reply.request`` asked."""
        waiting = self._removals.get(reply.request)
        if waiting is not None:
            waiting.discard(executor_id)
            if not waiting:
                self._removals.pop(reply.request, None)

    def removals_awaited(self) -> bool:
        """Whether any removal's replies are still awaited (the driver must read them)."""
        return bool(self._removals)

    def removal_pending(self, number: int) -> bool:
        """Whether an executor still reachable has yet to reply to removal ``number`` (one
        lost meanwhile holds nothing any more: it is not waited for)."""
        waiting = self._removals.get(number, ())
        return any(not getattr(self._slots.get(executor_id), "gone", True)
                   for executor_id in list(waiting))

    def replicate(self, source_executor: str, block: PutBlock) -> List[str]:
        """Send a cached block to as many other executors as its level keeps copies besides
        the source's (one for ``*_2``, two for ``DISK_ONLY_3``), on other hosts and idle
        first; the ids of those that took it (fewer when fewer executors are reachable)."""
        source = self._slots.get(source_executor)
        others = [s for s in self._slots.values()
                  if s.executor_id != source_executor and not s.gone]
        others.sort(key=lambda s: (source is not None and s.host == source.host,
                                   s.task is not None))
        copies = StorageLevel.named(block.level).replication - 1
        targets: List[str] = []
        for slot in others:
            if len(targets) >= copies:
                break
            if self._send(slot, block):
                targets.append(slot.executor_id)
        return targets

    def relay_cached_block(self, executor_id: str, message) -> List[tuple]:
        """A cached-block request (``FetchCachedBlock``) from a task on ``executor_id``, or
        a holder's reply (``CachedBlock``): the request goes on to the holder it names
        under an id of the driver's (or, the holder gone, a reply saying so goes back), a
        reply back to the requester.  Returns ``(slot, message)`` pairs for ``send_all``,
        which a backend calls outside its lock (a block may be large)."""
        if isinstance(message, CachedBlock):
            entry = self._relayed.get(message.request_id)
            if entry is None or entry[2] != executor_id:
                return []  # (its requester was lost meanwhile)
            del self._relayed[message.request_id]
            return self._reply_to(entry[0], CachedBlock(entry[1], message.data, message.reason))
        holder = self._slots.get(message.executor_id)
        if holder is None or holder.gone or message.executor_id == executor_id:
            return self._reply_to(executor_id, CachedBlock(
                message.request_id, None, f"executor {message.executor_id} is not reachable"))
        relay_id = next(self._relay_ids)
        self._relayed[relay_id] = (executor_id, message.request_id, holder.executor_id)
        return [(holder, FetchCachedBlock(relay_id, message.rdd_id, message.partition,
                                          executor_id))]

    def _block_address(self, executor_id: str) -> str:
        """Where an executor serves its cached partitions (``host:port``); "" where it
        serves none (``local[N]``'s, asked through the driver) or is gone."""
        slot = self._slots.get(executor_id)
        port = getattr(slot.handle, "block_port", 0) if slot is not None else 0
        return host_port(slot.host, port) if port else ""

    def _reply_to(self, executor_id: str, reply: CachedBlock) -> List[tuple]:
        slot = self._slots.get(executor_id)
        return [] if slot is None else [(slot, reply)]

    def send_all(self, deliveries: List[tuple]) -> None:
        """Send each ``(slot, message)``; a slot a send fails to is marked gone."""
        for slot, message in deliveries:
            self._send(slot, message)

    @staticmethod
    def _send_many(slot: PoolSlot, messages: list) -> bool:
        try:
            slot.handle.send_many(messages)
            return True
        except OSError:
            slot.gone = True
            return False

    @staticmethod
    def _send(slot: PoolSlot, message) -> bool:
        try:
            slot.handle.send(message)
            return True
        except OSError:
            slot.gone = True
            return False


class PoolRemovals:
    """The removals of a backend whose executors are an ``ExecutorPool`` (``self.pool``),
    under the backend's ``self.lock`` (a reply is taken under it: not before it is awaited):
    ``Backend.remove_rdd``, ``remove_broadcast``, ``remove_shuffle`` and ``removal_pending``."""

    #: its tasks travel to executor processes in frames (``Backend.max_task_bytes``)
    max_task_bytes = TASK_FRAME_ROOM

    def remove_rdd(self, rdd_id: int, reply: bool = False) -> int:
        with self.lock:
            return self.pool.remove_everywhere(RemoveRdd(rdd_id), reply)

    def remove_broadcast(self, broadcast_id: int, reply: bool = False) -> int:
        with self.lock:
            return self.pool.remove_everywhere(RemoveBroadcast(broadcast_id), reply)

    def remove_shuffle(self, shuffle_id: int, reply: bool = False, before_task: int = 0) -> int:
        with self.lock:
            return self.pool.remove_everywhere(RemoveShuffle(shuffle_id, 0, before_task), reply)

    def removal_pending(self, number: int) -> bool:
        with self.lock:
            return self.pool.removal_pending(number)
