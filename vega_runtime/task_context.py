"""What a running task knows about itself and may use.

An RDD's ``compute(partition, task_context)`` reaches shuffle input, cached
blocks and broadcast values only through the ``TaskContext`` it is handed;
the executor builds one per task attempt.  ``TaskContext.get()`` returns the
running task's context inside user functions, as in PySpark.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Callable, Iterator, List, Optional

from .records import Record

log = logging.getLogger(__name__)
_current = threading.local()
#: the context of the task this executor process runs now (an executor process runs one task
#: at a time): what ``get()`` gives in threads the task starts, as PySpark's process-wide
#: one; never set in a driver (``local``'s tasks run there, beside the driver's own threads)
_process_task: List[Optional["TaskContext"]] = [None]


#: PySpark's keywords of ``TaskContext(...)`` and the attribute each sets
PYSPARK_FIELDS = {"stageId": "stage", "partitionId": "partition", "attemptNumber": "attempt",
                  "taskAttemptId": "attempt_id", "localProperties": "local_properties",
                  "cpus": "cpu_amount", "cpuAmount": "cpu_amount", "resources": "task_resources"}


class _CurrentOnEmptyCall(type):
    """``TaskContext()`` with no arguments is the running task's context, as in PySpark;
    with PySpark's keywords only (``TaskContext(stageId=3, partitionId=1)``), that context
    given those values (``_set_pyspark_fields``)."""

    def __call__(cls, *args, **kwargs):
        if not args and kwargs and set(kwargs) <= set(PYSPARK_FIELDS):
            return cls._set_pyspark_fields(kwargs)
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
    #: CPUs the task takes (``vega.task.cpus``, or its stage's resource profile)
    cpu_amount: float
    #: its custom resources (GPUs, ...): name -> ``resources.ResourceInformation``
    task_resources: dict
    #: (not a field) made on the driver by PySpark's ``TaskContext(stageId=...)`` for code
    #: that calls ``TaskContext.get()``, not by an executor: the thread is still the driver's
    stand_in = False
    #: (not a field) a weak reference to the Context the task made itself, its running one
    #: (``context_in_task.made_in_task``)
    _own_context = None

    def __init__(self, stage, partition, attempt, attempt_id, executor_id="driver",
                 host="localhost", read_shuffle=None, blocks=None, load_broadcast=None,
                 settings=None, accumulator_updates=None, computed=None, cpu_amount=1.0,
                 task_resources=None):
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
        self.cpu_amount = cpu_amount
        self.task_resources = {} if task_resources is None else task_resources

    @classmethod
    def _set_pyspark_fields(cls, fields: dict) -> "TaskContext":
        """PySpark's ``TaskContext(stageId=..., ...)``: the running context (one made now
        and made this thread's, if there is none) with the values given (not None) set, as
        PySpark's sets them on its process's one; unit tests of code that calls
        ``TaskContext.get()`` make theirs so."""
        context = cls.get()
        if not isinstance(context, cls):
            context = type.__call__(cls, None, None, None, None)
            context.stand_in = True
            _current.stand_in = context  # under any task this thread runs (`local`)
        for name, value in fields.items():
            if value is None:
                continue
            if name == "localProperties":
                context.settings["local_properties"] = dict(value)
            else:
                setattr(context, PYSPARK_FIELDS[name],
                        float(value) if name in ("cpus", "cpuAmount") else value)
        return context

    @staticmethod
    def get() -> Optional["TaskContext"]:
        """The context of the task running in this thread, or in an executor process the
        task it runs (for threads the task starts, as PySpark's); None on the driver (but
        for one PySpark's ``TaskContext(stageId=...)`` made in this thread)."""
        return getattr(_current, "context", None) or _process_task[0] or \
            getattr(_current, "stand_in", None)

    @classmethod
    def from_json(cls, json: dict) -> "TaskContext":
        """A context made of PySpark's JSON form of one (PySpark's ``TaskContext.from_json``):
        ``stageId``, ``partitionId``, ``attemptNumber``, ``taskAttemptId``, ``cpus`` (or the
        exact ``cpuAmount``, a string such as ``"0.5"``), ``resources`` (``{name: {"name",
        "addresses"}}``) and ``localProperties``; a barrier stage's ``addresses`` local
        property (``host:port`` by partition, comma-separated) gives a
        ``BarrierTaskContext``'s ``get_task_infos()``.  It is not made the running task's
        context: ``TaskContext.get()`` stays as it was (PySpark's sets it)."""
        from .resources import ResourceInformation

        amount = json.get("cpuAmount")
        local_properties = dict(json["localProperties"] or {})
        context = cls(json["stageId"], json["partitionId"], json["attemptNumber"],
                      json["taskAttemptId"], settings={"local_properties": local_properties},
                      cpu_amount=float(amount) if amount is not None else json["cpus"],
                      task_resources={name: ResourceInformation(info["name"], info["addresses"])
                                      for name, info in (json["resources"] or {}).items()})
        if isinstance(context, BarrierTaskContext):
            addresses = local_properties.get("addresses", "")
            context.addresses = [a.strip() for a in addresses.split(",")] if addresses else []
        return context

    def stage_id(self) -> int:
        return self.stage

    def partition_id(self) -> int:
        return self.partition

    def attempt_number(self) -> int:
        return self.attempt

    def task_attempt_id(self) -> int:
        return self.attempt_id

    def cpus(self) -> int:
        """The CPUs allocated to this task, rounded up (``vega.task.cpus``,
        ``spark.task.cpus``, or its stage's resource profile)."""
        return max(1, math.ceil(self.cpu_amount))

    def cpu_amount_exact(self):
        """The CPUs allocated to this task exactly, a ``decimal.Decimal`` (PySpark's
        ``cpuAmount()``: ``0.5`` when tasks share a core)."""
        from .resources import task_cpu_amount

        return task_cpu_amount(self.cpu_amount)

    def resources(self) -> dict:
        """The custom resources (GPUs, FPGAs) allocated to this task, by name:
        ``ResourceInformation``s with the addresses it may use
        (``vega.task.resource.NAME.amount``)."""
        return dict(self.task_resources)

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
                              self.executor_id, self.host, None, None, None, settings, None,
                              None, self.cpu_amount, self.task_resources))

    def _call_at_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` as the task ends, whether it succeeded or failed (the last
        given first, as Spark's task completion listeners): a Context the task made
        (``vega.executor.allow_context``) and left running stops then."""
        self.__dict__.setdefault("_at_end", []).append(callback)

    def _end(self) -> None:
        """(the executor, as the task ends) What ``_call_at_end`` was given; one that fails
        is logged, and the others still run."""
        at_end = self.__dict__.pop("_at_end", [])
        while at_end:
            callback = at_end.pop()
            try:
                callback()
            except Exception:  # (the task's outcome is decided already)
                log.warning("what task %d had to do as it ended failed", self.attempt_id,
                            exc_info=True)

    def activate(self, process_wide: bool = False) -> Optional["TaskContext"]:
        """This thread's task context from now on; ``process_wide``: also every other
        thread's of this (executor) process, until ``deactivate(process_wide=True)``.
        Returns the thread's context before it, for ``deactivate`` to restore: a task's own
        Context (``vega.executor.allow_context``) on master ``local`` runs its tasks in it."""
        outer = getattr(_current, "context", None)
        _current.context = self
        if process_wide:
            _process_task[0] = self
        return outer

    @staticmethod
    def deactivate(process_wide: bool = False, outer: Optional["TaskContext"] = None) -> None:
        _current.context = outer
        if process_wide:
            _process_task[0] = None

    # PySpark's spellings.
    stageId = stage_id
    partitionId = partition_id
    attemptNumber = attempt_number
    taskAttemptId = task_attempt_id
    getLocalProperty = get_local_property
    cpuAmount = cpu_amount_exact


class BarrierTaskInfo(Record):
    """Where one task of a barrier stage runs (Spark's ``BarrierTaskInfo``): its executor's
    ``host:port``."""
    address: str

    def __init__(self, address):
        self.address = address


class BarrierTaskContext(TaskContext):
    """The context of a task in a barrier stage (``rdd.barrier().map_partitions(f)``): a
    ``TaskContext`` that can also wait for every task of its stage.

    Inside ``f``::

        context = BarrierTaskContext.get()
        context.barrier()                           # until every task got here
        ranks = context.all_gather(str(context.partition_id()))  # what each one said

    Every task of the stage must make the same calls in the same order (Spark's rule): a
    task that calls ``barrier()`` while another calls ``all_gather()`` fails the stage, and
    a sync not complete within ``vega.barrier.sync_timeout`` fails the task.
    """

    #: ``sync(method, message, epoch) -> messages``: the executor's way to the driver's
    #: ``BarrierCoordinator``; each sync is the next epoch
    sync: Optional[Callable[[str, str, int], List[str]]]
    #: the ``host:port`` of the executor of each task of the stage, by partition
    addresses: List[str]
    #: the syncs it made so far
    epoch: int

    def __init__(self, stage, partition, attempt, attempt_id, executor_id="driver",
                 host="localhost", read_shuffle=None, blocks=None, load_broadcast=None,
                 settings=None, accumulator_updates=None, computed=None, cpu_amount=1.0,
                 task_resources=None, sync=None, addresses=None, epoch=0):
        super().__init__(stage, partition, attempt, attempt_id, executor_id, host,
                         read_shuffle, blocks, load_broadcast, settings, accumulator_updates,
                         computed, cpu_amount, task_resources)
        self.sync = sync
        self.addresses = [] if addresses is None else addresses
        self.epoch = epoch

    @classmethod
    def get(cls) -> "BarrierTaskContext":
        """The context of the running barrier task; raises ``PySparkRuntimeError`` outside
        a barrier stage, as PySpark does (``TaskContext.get()`` works in every task)."""
        current = TaskContext.get()
        if not isinstance(current, BarrierTaskContext):
            from .errors import PySparkRuntimeError

            raise PySparkRuntimeError(
                "It is not in a barrier stage: BarrierTaskContext.get() works only inside a "
                "task of rdd.barrier().map_partitions(...); use TaskContext.get() elsewhere.",
                "NOT_IN_BARRIER_STAGE")
        return current

    def barrier(self) -> None:
        """Wait until every task of this stage calls ``barrier()`` (a global sync, as MPI's
        ``MPI_Barrier``)."""
        self._sync("barrier", "")

    def all_gather(self, message: str = "") -> List[str]:
        """Wait until every task of this stage calls ``all_gather``; the message each one
        gave, by partition."""
        if not isinstance(message, str):
            raise TypeError(f"all_gather() takes a str message, not {type(message).__name__}")
        return self._sync("allGather", message)

    def get_task_infos(self) -> List[BarrierTaskInfo]:
        """Where each task of this stage runs, by partition."""
        return [BarrierTaskInfo(address) for address in self.addresses]

    def _sync(self, method: str, message: str) -> List[str]:
        if self.sync is None:
            raise RuntimeError("this BarrierTaskContext left its task: barrier() and "
                               "all_gather() work only while the task runs")
        self.epoch += 1
        return self.sync(method, message, self.epoch - 1)

    # PySpark's spellings.
    allGather = all_gather
    getTaskInfos = get_task_infos
