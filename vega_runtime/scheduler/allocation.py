"""Dynamic allocation's decisions: how many executors an application asks for, and which
idle ones it gives back (Spark's ``ExecutorAllocationManager``), as pure code.

``ExecutorAllocationManager.update(now, pending, running, executors)`` is called on
a timer with what the backend sees; it returns the new requested total (when it
changed) and the executors to release.  It performs no I/O, so tests drive it
with a fake clock:

>>> manager = ExecutorAllocationManager(AllocationSettings(backlog_timeout=1.0), now=0.0)
>>> manager.update(0.0, pending=8, running=0, executors=[]).requested_total  # backlog starts
>>> manager.update(1.0, pending=8, running=0, executors=[]).requested_total  # after 1 s: one
1
>>> manager.update(2.0, pending=8, running=0, executors=[]).requested_total  # then two more
3
>>> manager.update(3.0, pending=8, running=0, executors=[]).requested_total  # then four
7

Executors run one task at a time (one core each), so the executors a stage can use
are its waiting plus running tasks.  While tasks wait, the request grows after
``backlog_timeout`` by 1, then 2, 4, ... each further ``sustained_backlog_timeout``,
never past what the tasks could use or ``max_executors``; when fewer are needed it
drops at once (down to ``min_executors``).  An executor idle for ``idle_timeout``
(``cached_idle_timeout`` if it holds cached blocks) is released, unless that would
leave fewer than the requested total or ``min_executors``.  Its map outputs stay
readable: the worker's shuffle service serves them.
"""

from __future__ import annotations

import math
from typing import Iterable, List, Optional, Set, Tuple

from ..records import FrozenRecord, Record


class AllocationSettings(FrozenRecord):
    """``vega.dynamic_allocation.*`` (Spark's ``spark.dynamicAllocation.*``)."""
    min_executors: int
    #: 0: as many as the tasks can use
    max_executors: int
    #: requested before the first job (at least ``min_executors``)
    initial_executors: int
    backlog_timeout: float
    #: between further requests while the backlog lasts (Spark: the backlog timeout)
    sustained_backlog_timeout: Optional[float]
    idle_timeout: float
    #: for executors holding cached blocks; ``math.inf``: never released
    cached_idle_timeout: float

    def __init__(self, min_executors: int = 0, max_executors: int = 0,
                 initial_executors: int = 0, backlog_timeout: float = 1.0,
                 sustained_backlog_timeout: Optional[float] = None,
                 idle_timeout: float = 60.0, cached_idle_timeout: float = math.inf):
        for name, value in (("min_executors", min_executors), ("max_executors", max_executors),
                            ("initial_executors", initial_executors),
                            ("backlog_timeout", backlog_timeout),
                            ("sustained_backlog_timeout", sustained_backlog_timeout),
                            ("idle_timeout", idle_timeout),
                            ("cached_idle_timeout", cached_idle_timeout)):
            object.__setattr__(self, name, value)

    @classmethod
    def from_conf(cls, conf) -> "Optional[AllocationSettings]":
        """The settings of ``vega.dynamic_allocation.*``; None when it is off."""
        key = "vega.dynamic_allocation."
        if not conf[key + "enabled"]:
            return None
        for name in ("min_executors", "max_executors", "initial_executors",
                     "scheduler_backlog_timeout", "sustained_scheduler_backlog_timeout",
                     "executor_idle_timeout", "cached_executor_idle_timeout"):
            if conf[key + name] < 0:
                _refuse(conf, key + name, f"is {conf[key + name]}: it cannot be negative")
        if conf[key + "max_executors"] and conf[key + "max_executors"] < conf[key + "min_executors"]:
            _refuse(conf, key + "max_executors",
                    f"({conf[key + 'max_executors']}) is below min_executors "
                    f"({conf[key + 'min_executors']}): raise it, or set it to 0 for no limit")
        return cls(conf[key + "min_executors"], conf[key + "max_executors"],
                   conf[key + "initial_executors"], conf[key + "scheduler_backlog_timeout"],
                   conf[key + "sustained_scheduler_backlog_timeout"] or None,
                   conf[key + "executor_idle_timeout"],
                   conf[key + "cached_executor_idle_timeout"])

    @property
    def ceiling(self) -> float:
        return self.max_executors or math.inf

    @property
    def initial(self) -> int:
        return max(self.min_executors, self.initial_executors)

    @property
    def sustained(self) -> float:
        if self.sustained_backlog_timeout is None:
            return self.backlog_timeout
        return self.sustained_backlog_timeout


def _refuse(conf, key: str, problem: str) -> None:
    from ..errors import ConfigError

    raise ConfigError(conf.origin(key) if hasattr(conf, "origin") else "", key, problem)


class ExecutorView(FrozenRecord):
    """What the backend knows of one registered executor."""
    executor_id: str
    busy: bool
    #: when it last became idle (or registered)
    idle_since: float
    holds_cached_blocks: bool

    def __init__(self, executor_id: str, busy: bool, idle_since: float,
                 holds_cached_blocks: bool = False):
        object.__setattr__(self, "executor_id", executor_id)
        object.__setattr__(self, "busy", busy)
        object.__setattr__(self, "idle_since", idle_since)
        object.__setattr__(self, "holds_cached_blocks", holds_cached_blocks)


class AllocationDecision(Record):
    """What dynamic allocation decided this time: a new executor total, executors to release."""
    #: the new total to ask the master for; None: unchanged
    requested_total: Optional[int]
    #: (executor_id, reason) pairs to release
    release: List[Tuple[str, str]]

    def __init__(self, requested_total: Optional[int] = None,
                 release: Optional[List[Tuple[str, str]]] = None):
        self.requested_total = requested_total
        self.release = [] if release is None else release


class ExecutorAllocationManager:
    def __init__(self, settings: AllocationSettings, now: float):
        if settings.max_executors and settings.max_executors < settings.min_executors:
            raise ValueError(f"vega.dynamic_allocation.max_executors ({settings.max_executors}) "
                             f"is below min_executors ({settings.min_executors})")
        self.settings = settings
        #: the total requested from the master
        self.target = settings.initial
        self._to_add = 1
        self._add_at: Optional[float] = None
        #: until tasks first arrive (or an idle timeout passes) the initial request stands
        self._initializing_until = now + settings.idle_timeout
        self._initializing = True
        #: released, not yet gone
        self.releasing: Set[str] = set()

    def update(self, now: float, pending: int, running: int,
               executors: Iterable[ExecutorView]) -> AllocationDecision:
        """``pending`` tasks wait for an executor, ``running`` run on one."""
        executors = list(executors)
        self.releasing &= {e.executor_id for e in executors}
        decision = AllocationDecision()
        before = self.target
        if pending or running or now >= self._initializing_until:
            self._initializing = False
        self._update_target(now, pending, running)
        if self.target != before:
            decision.requested_total = self.target
        decision.release = self._idle_to_release(now, executors)
        self.releasing |= {executor_id for executor_id, _ in decision.release}
        return decision

    # -- requests -------------------------------------------------------------------------
    def _update_target(self, now: float, pending: int, running: int) -> None:
        s = self.settings
        if pending:
            if self._add_at is None:
                self._add_at = now + s.backlog_timeout
        else:
            self._add_at, self._to_add = None, 1
        if self._initializing:
            return
        needed = pending + running  # one task per executor
        if needed < self.target:
            self.target = max(needed, s.min_executors)
            self._to_add = 1
        elif self._add_at is not None and now >= self._add_at:
            self._add(needed)
            self._add_at = now + s.sustained

    def _add(self, needed: int) -> None:
        s = self.settings
        if self.target >= s.ceiling:
            self._to_add = 1
            return
        old = self.target
        self.target = int(max(min(self.target + self._to_add, needed, s.ceiling), s.min_executors))
        delta = self.target - old
        self._to_add = self._to_add * 2 if delta == self._to_add else 1

    # -- releases ---------------------------------------------------------------------------
    def _idle_to_release(self, now: float, executors: List[ExecutorView]) -> List[Tuple[str, str]]:
        s = self.settings
        remaining = len(executors) - len(self.releasing)
        release = []
        for e in sorted(executors, key=lambda e: (e.idle_since, e.executor_id)):
            if e.busy or e.executor_id in self.releasing:
                continue
            timeout = s.cached_idle_timeout if e.holds_cached_blocks else s.idle_timeout
            if now - e.idle_since < timeout:
                continue
            if remaining - 1 < max(s.min_executors, self.target):
                break
            remaining -= 1
            what = "holding cached blocks, idle" if e.holds_cached_blocks else "idle"
            release.append((e.executor_id, f"released by dynamic allocation: {what} for "
                                           f"{now - e.idle_since:.1f}s"))
        return release
