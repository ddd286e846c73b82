"""Stages: the pieces of a job that run without a shuffle in between."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from ..records import Record
from ..rdd.base import RDD, narrow_ancestors
from ..rdd.dependency import ShuffleDependency


class Stage(Record):
    """A set of tasks, one per partition of ``rdd``, between shuffle boundaries (equal only
    to itself)."""
    stage_id: int
    rdd: RDD
    parents: List["Stage"]
    #: set for shuffle map stages: the dependency whose map side this stage writes.
    shuffle_dep: Optional[ShuffleDependency]
    attempt: int
    #: how many times this stage was resubmitted after lost map outputs
    failures: int
    name: str

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, stage_id, rdd, parents, shuffle_dep=None, attempt=0, failures=0, name=""):
        self.stage_id = stage_id
        self.rdd = rdd
        self.parents = parents
        self.shuffle_dep = shuffle_dep
        self.attempt = attempt
        self.failures = failures
        self.name = name

    @property
    def is_map(self) -> bool:
        return self.shuffle_dep is not None

    @property
    def num_partitions(self) -> int:
        return self.rdd.get_num_partitions()

    def __repr__(self) -> str:
        kind = "ShuffleMapStage" if self.is_map else "ResultStage"
        return f"{kind}({self.stage_id}, {self.rdd!r})"


def shuffle_dependencies(rdd: RDD) -> List[ShuffleDependency]:
    """Shuffle dependencies reached from ``rdd`` through narrow dependencies only."""
    found = []
    for ancestor in narrow_ancestors(rdd):
        found.extend(d for d in ancestor.dependencies() if isinstance(d, ShuffleDependency))
    return found


class StageBuilder:
    """Creates stages; a shuffle's map stage is created once per job (``shuffle_stages``
    holds those of the running job)."""

    def __init__(self) -> None:
        self.next_stage_id = 0
        self.shuffle_stages: Dict[int, Stage] = {}

    def new_stage(self, rdd: RDD, shuffle_dep: Optional[ShuffleDependency],
                  on_map_stage: Callable[[Stage], None]) -> Stage:
        parents = [self.map_stage(dep, on_map_stage) for dep in shuffle_dependencies(rdd)]
        stage = Stage(self.next_stage_id, rdd, parents, shuffle_dep, name=rdd.call_site)
        self.next_stage_id += 1
        return stage

    def map_stage(self, dep: ShuffleDependency, on_map_stage: Callable[[Stage], None]) -> Stage:
        stage = self.shuffle_stages.get(dep.shuffle_id)
        if stage is None:
            stage = self.new_stage(dep.rdd, dep, on_map_stage)
            self.shuffle_stages[dep.shuffle_id] = stage
            on_map_stage(stage)
        return stage
