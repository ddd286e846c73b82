"""The seam between the scheduler and whatever runs tasks.

A backend is "something that can run tasks and report what happened": the
runner hands it ``TaskLaunch``es and polls it for events.  Task output is
delivered as it arrives through the ``on_output`` callback given to the
backend, so a long task's prints appear while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, FrozenSet, List, Optional, Protocol, Set

from ..net.messages import LaunchTask, TaskFinished
from .dag import TaskSpec


@dataclass
class TaskLaunch:
    spec: TaskSpec
    payload_key: tuple  # (stage_id, stage_attempt): an executor needs each payload once
    payload: bytes
    partition_data: bytes
    #: executors holding cached input of this task; others wait ``locality_wait`` first
    preferred: FrozenSet[str] = frozenset()
    queued_at: float = field(default=0.0, compare=False)

    def message(self, include_payload: bool) -> LaunchTask:
        s = self.spec
        return LaunchTask(s.task_id, s.stage_id, s.stage_attempt, s.partition, s.attempt,
                          self.payload if include_payload else None, self.partition_data)


def pick_task(queue, executor_id: str, alive: Set[str], locality_wait: float,
              now: float) -> Optional[TaskLaunch]:
    """The queued task an idle executor should run, or None (it waits).

    A task avoids executors it is excluded from while another live executor may
    take it; it prefers executors caching its input, waiting up to
    ``locality_wait`` for them (delay scheduling).  The chosen task leaves the queue.
    """
    chosen = None
    for task in queue:
        if executor_id in task.spec.excluded and alive - task.spec.excluded:
            continue
        if executor_id in task.preferred:
            chosen = task
            break
        if chosen is None and (not task.preferred & alive
                               or now - task.queued_at >= locality_wait):
            chosen = task
    if chosen is not None:
        queue.remove(chosen)
    return chosen


@dataclass
class TaskFinishedEvent:
    executor_id: str
    host: str
    finished: TaskFinished
    shuffle_port: int = 0  # where other hosts fetch this executor's map outputs


@dataclass
class ExecutorAddedEvent:
    executor_id: str
    host: str


@dataclass
class ExecutorLostEvent:
    executor_id: str
    host: str
    reason: str
    task_ids: List[int]
    outputs_lost: bool


#: ``on_output(task_id, executor_id, host, stream, text)``
OutputCallback = Callable[[int, str, str, str, str], None]


class Backend(Protocol):
    """Runs tasks somewhere and reports their outcomes."""

    def default_parallelism(self) -> int: ...

    def launch(self, task: TaskLaunch) -> None: ...

    def poll(self, timeout: float) -> list: ...

    def kill_tasks(self, task_ids: List[int]) -> None: ...

    def remove_rdd(self, rdd_id: int) -> None: ...

    def replicate(self, source_executor: str, block) -> "str | None":
        """Send a cached block (``PutBlock``) to another executor; its id, or None."""
        ...

    def remove_broadcast(self, broadcast_id: int) -> None: ...

    def stop(self) -> None: ...
