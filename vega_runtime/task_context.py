"""What a running task knows about itself and may use.

An RDD's ``compute(partition, task_context)`` reaches shuffle input, cached
blocks and broadcast values only through the ``TaskContext`` it is handed;
the executor builds one per task attempt.  ``TaskContext.get()`` returns the
running task's context inside user functions, as in PySpark.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, Optional

from .records import Record

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


class TaskContext(Record, metaclass=_CurrentOnEmptyCall):
    """The running task's identity and services.

    Inside a function given to a transformation::

        rdd.map(lambda x: (TaskContext.get().partition_id(), x))
    """

    stage: int
    partition: int
    attempt: int
    attempt_id: int
    executor_id: str
    host: str
    #: ``read_shuffle(dependency, reduce_id) -> iterator of records``.
    read_shuffle: Optional[Callable[[Any, int], Iterator]]
    #: The executor's block store for cached partitions (``storage.BlockStore``).
    blocks: Any
    #: ``load_broadcast(broadcast_id, path) -> value``; cached per executor.
    load_broadcast: Optional[Callable[[int, str], Any]]
    #: Settings the task may need (memory bounds, batch sizes, scratch dir).
    settings: dict
    #: Accumulator id -> value added by this task attempt; merged on the driver.
    accumulator_updates: dict
    #: Partition ids of RDDs computed (not read from cache) by this attempt.
    computed: list

    def __init__(self, stage, partition, attempt, attempt_id, executor_id="driver",
                 host="localhost", read_shuffle=None, blocks=None, load_broadcast=None,
                 settings=None, accumulator_updates=None, computed=None):
        self.stage = stage
        self.partition = partition
        self.attempt = attempt
        self.attempt_id = attempt_id
        self.executor_id = executor_id
        self.host = host
        self.read_shuffle = read_shuffle
        self.blocks = blocks
        self.load_broadcast = load_broadcast
        self.settings = {} if settings is None else settings
        self.accumulator_updates = {} if accumulator_updates is None else accumulator_updates
        self.computed = [] if computed is None else computed

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

    def cpus(self) -> int:
        """The CPUs allocated to this task: 1, as each task takes one core of its executor
        (Spark's ``spark.task.cpus`` default, which Vega does not change)."""
        return 1

    def get_local_property(self, key: str) -> Optional[str]:
        """A local property the driver's submitting thread had set when the job started
        (``Context.set_local_property``), or None."""
        return self.settings.get("local_properties", {}).get(key)

    def __reduce__(self):
        """A context that leaves its task (a function may return it, as PySpark's examples
        do) keeps the task's identity and local properties; the executor's services (shuffle
        reads, block store, broadcasts) stay behind."""
        settings = {"local_properties": self.settings.get("local_properties", {})}
        return (TaskContext, (self.stage, self.partition, self.attempt, self.attempt_id,
                              self.executor_id, self.host, None, None, None, settings))

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
