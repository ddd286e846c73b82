"""The application the REST API and browser tests look at: a shuffle, a task whose first
attempt fails and is retried, and a cached RDD."""

from operator import add

from vega_runtime import StorageLevel, TaskContext

#: the partition whose first attempt fails
FLAKY_PARTITION = 2


def flaky(x):
    tc = TaskContext.get()
    if tc.partition_id() == FLAKY_PARTITION and tc.attempt_number() == 0:
        raise RuntimeError("the first attempt fails on purpose")
    return x


def run_workload(ctx):
    """Job 0: stage 0 (shuffle map over the cached ``numbers``, 4 tasks, one retried) and
    stage 1 (the reduce, 4 tasks); job 1: a count of the cached RDD (stage 2)."""
    numbers = ctx.parallelize(range(40), 4).set_name("numbers").persist(StorageLevel.MEMORY_ONLY)
    sums = numbers.map(flaky).map(lambda x: (x % 3, x)).reduce_by_key(add, 4).collect()
    assert sorted(sums) == [(0, 273), (1, 247), (2, 260)]
    assert numbers.count() == 40
    return numbers


def task_events(event_log_path, stage_id, attempt=0):
    """The TaskInfo events of one stage attempt in an event log."""
    import json

    with open(event_log_path) as fh:
        events = [json.loads(line) for line in fh]
    return [e for e in events if e["event"] == "TaskInfo" and e["stage_id"] == stage_id
            and e["stage_attempt"] == attempt]
