"""What a running task knows about itself and may use.

An RDD's ``compute(partition, task_context)`` reaches shuffle input, cached
blocks and broadcast values only through the ``TaskContext`` it is handed;
the executor builds one per task attempt.  ``TaskContext.get()`` returns the
running task's context inside user functions, as in PySpark.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

_current = threading.local()


class _CurrentOnEmptyCall(type):
    """``TaskContext()`` with no arguments is the running task's context, as in PySpark."""

    def __call__(cls, *args, **kwargs):
        if args or kwargs:
            return super().__call__(*args, **kwargs)
        current = cls.get()
        if current is None:
            from .errors import VegaError

            raise VegaError("TaskContext() is the running task's context and exists only inside "
                            "a task; on the driver TaskContext.get() returns None")
        return current


@dataclass
class TaskContext(metaclass=_CurrentOnEmptyCall):
    """The running task's identity and services.

    Inside a function given to a transformation::

        rdd.map(lambda x: (TaskContext.get().partition_id(), x))
    """

    stage: int
    partition: int
    attempt: int
    attempt_id: int
    executor_id: str = "driver"
    host: str = "localhost"
    #: ``read_shuffle(dependency, reduce_id) -> iterator of records``.
    read_shuffle: Optional[Callable[[Any, int], Iterator]] = None
    #: The executor's block store for cached partitions (``storage.BlockStore``).
    blocks: Any = None
    #: ``load_broadcast(broadcast_id, path) -> value``; cached per executor.
    load_broadcast: Optional[Callable[[int, str], Any]] = None
    #: Settings the task may need (memory bounds, batch sizes, scratch dir).
    settings: dict = field(default_factory=dict)
    #: Accumulator id -> value added by this task attempt; merged on the driver.
    accumulator_updates: dict = field(default_factory=dict)
    #: Partition ids of RDDs computed (not read from cache) by this attempt.
    computed: list = field(default_factory=list)

    @staticmethod
    def get() -> Optional["TaskContext"]:
        """The context of the task running in this thread, or None on the driver."""
        return getattr(_current, "context", None)

    def stage_id(self) -> int:
        return self.stage

    def partition_id(self) -> int:
        return self.partition

    def attempt_number(self) -> int:
        return self.attempt

    def task_attempt_id(self) -> int:
        return self.attempt_id

    def get_local_property(self, key: str) -> Optional[str]:
        """A local property the driver's submitting thread had set when the job started
        (``Context.set_local_property``), or None."""
        return self.settings.get("local_properties", {}).get(key)

    def activate(self) -> "TaskContext":
        _current.context = self
        return self

    @staticmethod
    def deactivate() -> None:
        _current.context = None

    # PySpark's spellings.
    stageId = stage_id
    partitionId = partition_id
    attemptNumber = attempt_number
    taskAttemptId = task_attempt_id
    getLocalProperty = get_local_property
