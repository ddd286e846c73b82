"""Shared variables: broadcasts (read-only, shipped once) and accumulators.

A ``Broadcast`` travels to tasks as its id and the path of its pickled value;
each executor loads it once (``TaskContext.load_broadcast``).  An
``Accumulator`` collects a task attempt's additions in its ``TaskContext``;
the driver merges them once per successful task, so retried attempts are
never counted twice.
"""

from __future__ import annotations

import itertools
import os
import pickle
import threading
import weakref
from typing import Any, BinaryIO, Callable, Generic, Optional, TypeVar

from . import serde
from .errors import PySparkRuntimeError, VegaError
from .task_context import TaskContext

T = TypeVar("T")


class Broadcast(Generic[T]):
    """A read-only value sent to each executor once.

    >>> b = ctx.broadcast({"a": 1})
    >>> ctx.parallelize(["a", "a"]).map(lambda k: b.value[k]).collect()
    [1, 1]
    """

    def __init__(self, broadcast_id: int, value: T, path: str,
                 on_unpersist: Optional[Callable[[int, bool], None]] = None):
        self.id = broadcast_id
        self._value = value
        self._path = path
        self._on_unpersist = on_unpersist
        self._destroyed = False

    @property
    def value(self) -> T:
        if self._destroyed:
            raise VegaError(f"broadcast {self.id} was destroyed and can no longer be used")
        if self._path is None or self._on_unpersist is not None:
            return self._value  # the driver's own copy
        tc = TaskContext.get()
        if tc is not None and tc.load_broadcast is not None:
            return tc.load_broadcast(self.id, self._path)
        if self._value is _NOT_LOADED:
            self._value = self.load_from_path(self._path)
        return self._value

    def dump(self, value: T, f: BinaryIO) -> None:
        """Write ``value`` pickled (as a broadcast's value is) to the open binary file ``f``,
        and close it (PySpark's ``Broadcast.dump``)."""
        f.write(serde.dumps(value))
        f.close()

    def load(self, file: BinaryIO) -> T:
        """The value pickled in the open binary ``file`` (PySpark's ``Broadcast.load``)."""
        return pickle.load(file)

    def load_from_path(self, path: str) -> T:
        """The value pickled in the file at ``path`` (PySpark's ``Broadcast.load_from_path``)."""
        with open(path, "rb") as f:
            return self.load(f)

    def unpersist(self, blocking: bool = False) -> None:
        """Drop executors' copies; the value is shipped again if used later.  ``blocking``:
        return once every executor has dropped its copy."""
        self._check_driver("unpersisted", "Broadcast.unpersist()")
        if self._on_unpersist is not None:
            self._on_unpersist(self.id, blocking)

    def destroy(self, blocking: bool = False) -> None:
        """Free the value everywhere; the broadcast cannot be used afterwards.  ``blocking``:
        return once every executor has dropped its copy."""
        self._check_driver("destroyed", "Broadcast.destroy()")
        if self._on_unpersist is not None:
            self._on_unpersist(self.id, blocking)
            try:
                os.unlink(self._path)
            except OSError:
                pass
        self._destroyed = True
        self._value = None

    def _check_driver(self, done: str, call: str) -> None:
        """A task's copy (rebuilt from its id and path) cannot free the driver's value: as
        PySpark's, a PySparkRuntimeError of error class INVALID_BROADCAST_OPERATION."""
        if self._on_unpersist is None and self._path is not None:
            raise PySparkRuntimeError(f"Broadcast can only be {done} in driver: {call} was "
                                      "called inside a task; call it on the driver, once the "
                                      "jobs that use the broadcast have run.",
                                      "INVALID_BROADCAST_OPERATION")

    def __reduce__(self):
        if self._destroyed:
            raise VegaError(f"broadcast {self.id} was destroyed and cannot be sent to tasks")
        return (_rebuild_broadcast, (self.id, self._path))

    def __repr__(self) -> str:
        return f"Broadcast({self.id})"


_NOT_LOADED = object()

#: Broadcast ids are unique in the process: an executor keeps the values it loaded by id,
#: and a job of one Context may read a broadcast of another (a notebook cell's, made before
#: the Context was made again), which must not be taken for the running one's of that number.
_BROADCAST_IDS = itertools.count()


def new_broadcast_id() -> int:
    """An id no other broadcast of the process has."""
    return next(_BROADCAST_IDS)


def _rebuild_broadcast(broadcast_id: int, path: str) -> Broadcast:
    return Broadcast(broadcast_id, _NOT_LOADED, path)


class AccumulatorParam(Generic[T]):
    """How to make a zero value and add two values (PySpark's AccumulatorParam)."""

    def zero(self, value: T) -> T:
        return type(value)() if not isinstance(value, (int, float, complex)) else 0 * value

    def addInPlace(self, value1: T, value2: T) -> T:  # noqa: N802 - PySpark's name
        value1 += value2
        return value1

    add_in_place = addInPlace


#: held while a task's accumulator update changes (``Accumulator.add`` in a task's threads)
_TASK_UPDATES_LOCK = threading.RLock()


class Accumulator(Generic[T]):
    """A variable tasks can only add to; its value is read on the driver.

    >>> acc = ctx.accumulator(0)
    >>> ctx.parallelize([1, 2, 3]).foreach(lambda x: acc.add(x))
    >>> acc.value
    6
    """

    def __init__(self, accumulator_id: int, value: T,
                 param: Optional[AccumulatorParam] = None, on_driver: bool = True):
        self.id = accumulator_id
        self.param = param or AccumulatorParam()
        self._value = value
        self._on_driver = on_driver

    @property
    def aid(self) -> int:
        """PySpark's name of ``id``."""
        return self.id

    @property
    def accum_param(self) -> AccumulatorParam:
        """PySpark's name of ``param``."""
        return self.param

    @property
    def value(self) -> T:
        self._check_driver()
        return self._value

    @value.setter
    def value(self, value: T) -> None:
        self._check_driver()
        self._value = value

    def _check_driver(self) -> None:
        """A task's copy has no value to read or set: as PySpark's, a PySparkRuntimeError of
        error class VALUE_NOT_ACCESSIBLE."""
        if not self._on_driver:
            raise PySparkRuntimeError("Value `Accumulator.value` cannot be accessed inside "
                                      "tasks: a task can only add() to an accumulator; read "
                                      "its value on the driver once the job has run.",
                                      "VALUE_NOT_ACCESSIBLE")

    def add(self, term: T) -> None:
        """Add ``term``: on an executor to this task's update, on the driver directly."""
        tc = TaskContext.get()
        if tc is None or tc.stand_in:
            if not self._on_driver:  # a task's copy, out of its task: the add would be lost
                raise PySparkRuntimeError(
                    f"Accumulator.add() of accumulator {self.id} was called outside its task: "
                    "by a thread that outlived the task, or, on the `local` master (whose "
                    "tasks run in the driver's process), by any thread the task started; add "
                    "in the task's own thread or before it returns, or use local[N]",
                    "ACCUMULATOR_OUTSIDE_TASK")
            self._value = self.param.addInPlace(self._value, term)
            return
        updates = tc.accumulator_updates
        with _TASK_UPDATES_LOCK:  # threads the task started may add at once
            current = updates.get(self.id, _MISSING)
            if current is _MISSING:
                current = self.param.zero(self._value)
                if current is self._value:  # a zero() that returns its argument: this task's
                    import copy  # own (rare: not loaded in every executor)

                    current = copy.deepcopy(current)  # as PySpark's per-task unpickling gives
            updates[self.id] = self.param.addInPlace(current, term)

    def __iadd__(self, term: T) -> "Accumulator[T]":
        self.add(term)
        return self

    def merge(self, update: T) -> None:
        """Fold one successful task's update into the driver's value."""
        self._value = self.param.addInPlace(self._value, update)

    def __reduce__(self):
        return (_rebuild_accumulator, (self.id, self.param.zero(self._value), self.param))

    def __str__(self) -> str:
        """The value's ``str``, as PySpark's (from the value this process holds)."""
        return str(self._value)

    def __repr__(self) -> str:
        return f"Accumulator<id={self.id}, value={self._value!r}>"


_MISSING = object()

#: Accumulator ids are unique in the process, as PySpark's (``SparkContext._next_accum_id``),
#: and the driver's accumulators are found by id here: a job of one Context adding to an
#: accumulator of another (a notebook cell's, made before the Context was made again) adds
#: to that one, not to the running Context's of the same number.
_ACCUMULATOR_IDS = itertools.count()
_DRIVER_ACCUMULATORS: "weakref.WeakValueDictionary[int, Accumulator]" = \
    weakref.WeakValueDictionary()


def new_accumulator(value: Any, param: Optional[AccumulatorParam] = None) -> Accumulator:
    """A driver's accumulator, with an id no other accumulator of the process has."""
    acc = Accumulator(next(_ACCUMULATOR_IDS), value, param)
    _DRIVER_ACCUMULATORS[acc.id] = acc
    return acc


def driver_accumulator(accumulator_id: int) -> Optional[Accumulator]:
    """The driver's accumulator of that id, while something holds it, else None."""
    return _DRIVER_ACCUMULATORS.get(accumulator_id)


def _rebuild_accumulator(accumulator_id: int, zero: Any, param: AccumulatorParam) -> Accumulator:
    return Accumulator(accumulator_id, zero, param, on_driver=False)
