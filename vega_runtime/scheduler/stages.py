"""Stages: the pieces of a job that run without a shuffle in between."""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Optional, Tuple

from ..records import Record
from ..resources import ResourceError, ResourceProfile
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
    #: a barrier stage (``rdd.barrier()``): its tasks run all at once and rerun together
    barrier: bool
    #: the tasks of its latest attempt (0 until it is submitted)
    num_tasks: int

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, stage_id, rdd, parents, shuffle_dep=None, attempt=0, failures=0, name="",
                 barrier=False, num_tasks=0):
        self.stage_id = stage_id
        self.rdd = rdd
        self.parents = parents
        self.shuffle_dep = shuffle_dep
        self.attempt = attempt
        self.failures = failures
        self.name = name
        self.barrier = barrier
        self.num_tasks = num_tasks

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


def stage_rdds(rdd: RDD) -> Iterator[RDD]:
    """The RDD each stage of a job on ``rdd`` computes: ``rdd`` first, then those of the
    map stages it needs."""
    yield rdd
    seen, stack = set(), shuffle_dependencies(rdd)
    while stack:
        dep = stack.pop()
        if dep.shuffle_id not in seen:
            seen.add(dep.shuffle_id)
            yield dep.rdd
            stack.extend(shuffle_dependencies(dep.rdd))


def barrier_stages(rdd: RDD, partitions: List[int]) -> List[Tuple[RDD, int]]:
    """The barrier stages of a job on ``partitions`` of ``rdd``: each one's RDD and how
    many tasks it runs (all at the same time)."""
    return [(r, len(set(partitions)) if r is rdd else r.get_num_partitions())
            for r in stage_rdds(rdd) if r.is_barrier()]


def stage_profile(rdd: RDD) -> Optional[ResourceProfile]:
    """The resource profile of the stage computing ``rdd``: that of its RDDs (up to the
    shuffles) that have one (``with_resources``); two different ones are refused, as Spark
    refuses them (it merges them only with spark.scheduler.resource.profileMergeConflicts)."""
    profiles = []
    for ancestor in narrow_ancestors(rdd):
        if ancestor.resource_profile is not None and ancestor.resource_profile not in profiles:
            profiles.append(ancestor.resource_profile)
    if len(profiles) > 1:
        raise ResourceError(f"the stage computing {rdd!r} has RDDs of {len(profiles)} "
                            "different resource profiles (with_resources): give its RDDs one "
                            "profile, or put a shuffle between the RDDs of each")
    return profiles[0] if profiles else None


def unsupported_barrier_stage(rdd: RDD, tasks: int) -> Optional[str]:
    """Why the barrier stage of ``rdd`` cannot run ``tasks`` tasks, or None (Spark's check,
    SPARK-24820/24821): a barrier stage runs one task per partition of each of its RDDs, so
    all have as many partitions as it has tasks (no ``union``, ``coalesce``, nor
    ``first``/``take``, which run a job on some partitions), and none joins two barrier RDDs."""
    for ancestor in narrow_ancestors(rdd):
        barrier_parents = sum(d.rdd.is_barrier() for d in ancestor.dependencies())
        if ancestor.get_num_partitions() != tasks or barrier_parents > 1:
            return (f"the barrier stage of {rdd!r} cannot run: a barrier stage runs one task "
                    f"per partition of each of its RDDs ({tasks} here), and {ancestor!r} has "
                    f"{ancestor.get_num_partitions()} partitions"
                    + (f" and depends on {barrier_parents} barrier RDDs"
                       if barrier_parents > 1 else "")
                    + ". Not allowed in a barrier stage: RDDs of other partition counts "
                    "(union(), coalesce()), first()/take() (which run a job on some "
                    "partitions: use collect()[0]), an RDD that depends on two barrier RDDs "
                    "(zip() of two)")
    return None


class StageBuilder:
    """Creates stages; a shuffle's map stage is created once per job (``shuffle_stages``
    holds those of the running job)."""

    def __init__(self) -> None:
        self.next_stage_id = 0
        self.shuffle_stages: Dict[int, Stage] = {}

    def new_stage(self, rdd: RDD, shuffle_dep: Optional[ShuffleDependency],
                  on_map_stage: Callable[[Stage], None], name: str = "") -> Stage:
        """A stage computing ``rdd``: a shuffle's map stage (``shuffle_dep``), or a job's
        result stage named ``name`` (Spark's: the job's, ``count at job.py:12``)."""
        parents = [self.map_stage(dep, on_map_stage) for dep in shuffle_dependencies(rdd)]
        if shuffle_dep is not None:  # PySpark's: where the shuffle was asked for
            name = shuffle_dep.creation_site
        stage = Stage(self.next_stage_id, rdd, parents, shuffle_dep,
                      name=name or rdd.creation_site or repr(rdd), barrier=rdd.is_barrier())
        self.next_stage_id += 1
        return stage

    def map_stage(self, dep: ShuffleDependency, on_map_stage: Callable[[Stage], None]) -> Stage:
        stage = self.shuffle_stages.get(dep.shuffle_id)
        if stage is None:
            stage = self.new_stage(dep.rdd, dep, on_map_stage)
            self.shuffle_stages[dep.shuffle_id] = stage
            on_map_stage(stage)
        return stage
