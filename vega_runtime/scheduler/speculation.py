"""Speculation's decision: which running tasks are stragglers worth a copy (Spark's
``TaskSetManager.checkSpeculatableTasks``), as pure code over plain times.

Once ``quantile`` of a stage attempt's tasks have succeeded, a task running longer
than ``multiplier`` times their median duration (and at least ``min_runtime``),
with no copy yet, is speculatable.  The runner feeds the tracker when attempts
start and end and asks it on a timer; tests drive it with a fake clock:

>>> tracker = SpeculationTracker(SpeculationPolicy(multiplier=1.5, quantile=0.75, min_runtime=1.0))
>>> for task_id in range(4):
...     tracker.task_started(task_id, stage=(0, 0), partition=task_id, num_tasks=4, now=0.0)
>>> for task_id in range(3):
...     tracker.task_succeeded(task_id, now=2.0)
>>> tracker.speculatable(now=3.0)      # 3 s is exactly 1.5 x the 2 s median: not yet
[]
>>> tracker.speculatable(now=3.1)
[((0, 0), 3)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

StageKey = Tuple[int, int]  # (stage_id, stage_attempt)


@dataclass(frozen=True)
class SpeculationPolicy:
    """``vega.speculation.*`` (Spark's ``spark.speculation.*``)."""
    multiplier: float = 1.5
    quantile: float = 0.75
    min_runtime: float = 1.0

    @classmethod
    def from_conf(cls, conf) -> "Optional[SpeculationPolicy]":
        """The policy of ``vega.speculation.*``; None when speculation is off."""
        if not conf["vega.speculation"]:
            return None
        from ..errors import ConfigError

        checks = (("multiplier", lambda v: v > 0, "must be above 0 (e.g. 1.5)"),
                  ("quantile", lambda v: 0 < v <= 1, "must be a fraction in (0, 1] (e.g. 0.75)"),
                  ("min_runtime", lambda v: v >= 0, "cannot be negative"))
        for name, valid, rule in checks:
            key = f"vega.speculation.{name}"
            if not valid(conf[key]):
                raise ConfigError(conf.origin(key) if hasattr(conf, "origin") else "", key,
                                  f"is {conf[key]}: it {rule}")
        return cls(conf["vega.speculation.multiplier"], conf["vega.speculation.quantile"],
                   conf["vega.speculation.min_runtime"])


@dataclass
class _StageAttempt:
    """What speculation tracks of one stage attempt's tasks."""
    num_tasks: int
    durations: List[float] = field(default_factory=list)  # of successful tasks
    succeeded: Set[int] = field(default_factory=set)  # partitions
    running: Dict[int, Dict[int, float]] = field(default_factory=dict)  # partition -> {task: start}
    speculated: Set[int] = field(default_factory=set)  # partitions given a copy


class SpeculationTracker:
    def __init__(self, policy: SpeculationPolicy):
        self.policy = policy
        self._stages: Dict[StageKey, _StageAttempt] = {}
        self._tasks: Dict[int, Tuple[StageKey, int, float]] = {}  # task -> (stage, partition, start)

    def task_started(self, task_id: int, stage: StageKey, partition: int, num_tasks: int,
                     now: float) -> None:
        """An attempt began running on an executor."""
        attempt = self._stages.setdefault(stage, _StageAttempt(num_tasks))
        attempt.running.setdefault(partition, {})[task_id] = now
        self._tasks[task_id] = (stage, partition, now)

    def task_succeeded(self, task_id: int, now: float) -> None:
        found = self._ended(task_id)
        if found is None:
            return
        attempt, partition, started = found
        if partition not in attempt.succeeded:
            attempt.succeeded.add(partition)
            attempt.durations.append(now - started)

    def task_ended(self, task_id: int) -> None:
        """An attempt failed, was killed or lost."""
        self._ended(task_id)

    def stage_ended(self, stage_id: int) -> None:
        """Every attempt of the stage is over (finished, failed or resubmitted)."""
        for key in [k for k in self._stages if k[0] == stage_id]:
            del self._stages[key]
        for task_id in [t for t, (s, _, _) in self._tasks.items() if s[0] == stage_id]:
            del self._tasks[task_id]

    def running_attempts(self) -> int:
        return len(self._tasks)

    def _ended(self, task_id: int):
        stage, partition, started = self._tasks.pop(task_id, (None, 0, 0.0))
        attempt = self._stages.get(stage) if stage is not None else None
        if attempt is None:
            return None
        running = attempt.running.get(partition, {})
        running.pop(task_id, None)
        if not running:
            attempt.running.pop(partition, None)
        return attempt, partition, started

    def threshold(self, stage: StageKey) -> float:
        """Seconds past which a task of ``stage`` is a straggler (inf: too few finished)."""
        attempt = self._stages.get(stage)
        if attempt is None:
            return math.inf
        needed = max(math.floor(self.policy.quantile * attempt.num_tasks), 1)
        if len(attempt.succeeded) < needed:
            return math.inf
        return max(self.policy.multiplier * _median(attempt.durations), self.policy.min_runtime)

    def speculatable(self, now: float) -> List[Tuple[StageKey, int]]:
        """(stage, partition) pairs to give a copy now; each is returned once."""
        found = []
        for stage, attempt in sorted(self._stages.items()):
            threshold = self.threshold(stage)
            if threshold == math.inf:
                continue
            for partition, starts in sorted(attempt.running.items()):
                if partition in attempt.succeeded or partition in attempt.speculated \
                        or len(starts) != 1:
                    continue
                if now - next(iter(starts.values())) > threshold:
                    attempt.speculated.add(partition)
                    found.append((stage, partition))
        return found


def _median(values: List[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
