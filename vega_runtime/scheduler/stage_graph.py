"""What the event log records of a job's graph: each stage, its parent stages and the RDDs
it runs (with their narrow edges), so a UI can draw the job's stage DAG (Spark's
``StageInfo.rddInfos``) without the driver."""

from __future__ import annotations

from typing import List

from ..rdd.base import narrow_ancestors
from ..rdd.dependency import NarrowDependency, ShuffleDependency
from .stages import Stage


def stage_info(stage: Stage) -> dict:
    """One stage as plain data: id, kind, tasks, parent stage ids and its RDDs (oldest
    first), each RDD with its narrow parents inside the stage and its shuffle parents."""
    rdds = sorted(narrow_ancestors(stage.rdd), key=lambda r: r.rdd_id)
    return {"stage_id": stage.stage_id, "kind": "shuffle map" if stage.is_map else "result",
            "name": stage.name, "num_tasks": stage.num_partitions,
            "parent_ids": sorted(p.stage_id for p in stage.parents),
            "rdds": [rdd_info(r) for r in rdds]}


def rdd_info(rdd) -> dict:
    deps = rdd.dependencies()
    return {"rdd_id": rdd.rdd_id, "name": rdd.name() or type(rdd).__name__,
            "call_site": rdd.call_site, "num_partitions": rdd.get_num_partitions(),
            "storage_level": rdd.storage_level.name,
            "parent_ids": sorted(d.rdd.rdd_id for d in deps if isinstance(d, NarrowDependency)),
            "shuffle_parent_ids": sorted(d.rdd.rdd_id for d in deps
                                         if isinstance(d, ShuffleDependency))}


def job_graph(stages: List[Stage]) -> List[dict]:
    return [stage_info(s) for s in sorted(stages, key=lambda s: s.stage_id)]
