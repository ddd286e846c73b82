"""The DAG scheduler's state transitions, driven with plain method calls."""

from operator import add

import pytest

from vega_runtime import Context
from vega_runtime.errors import FetchFailed, StageFailed, TaskFailed
from vega_runtime.scheduler.dag import (DAGScheduler, JobFailed, JobSucceeded, KillTasks,
                                        LaunchTasks, MergeAccumulators, StageCompleted,
                                        StageSubmitted)
from vega_runtime.scheduler.map_output import MapOutputTracker
from vega_runtime.shuffle.blocks import MapStatus


@pytest.fixture(scope="module")
def ctx():
    with Context(master="local", app_name="dag-tests") as context:
        yield context


def launches(actions):
    return [t for a in actions if isinstance(a, LaunchTasks) for t in a.tasks]


def status(task, shuffle_id, executor="exec-1", reduces=2):
    return MapStatus(shuffle_id, task.partition, executor, "localhost", f"/tmp/s{task.partition}",
                     tuple(range(reduces + 1)))


def failure(task, message="boom"):
    return TaskFailed(task.stage_id, task.partition, 1, "localhost", "exec-1", "ValueError",
                      message, "Traceback ...")


def two_stage_job(ctx):
    rdd = ctx.parallelize(range(10), 3).map(lambda x: (x % 2, x)).reduce_by_key(add, 2)
    return rdd, rdd.deps[0].shuffle_id


def test_job_without_shuffle_is_one_stage_with_a_task_per_partition(ctx):
    """A narrow job submits one result stage with every partition."""
    dag = DAGScheduler(MapOutputTracker())
    actions = dag.submit_job(0, ctx.parallelize(range(6), 3).map(str), list, [0, 1, 2])
    assert [type(a) for a in actions] == [StageSubmitted, LaunchTasks]
    assert [t.partition for t in launches(actions)] == [0, 1, 2]
    done = []
    for task in launches(actions):
        done += dag.task_succeeded(task, [task.partition])
    assert isinstance(done[-1], JobSucceeded)
    assert done[-1].results == [[0], [1], [2]]


def test_shuffle_splits_the_job_and_the_result_stage_waits_for_map_outputs(ctx):
    """The reduce stage is submitted only when every map output is registered."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker())
    maps = launches(dag.submit_job(0, rdd, list, [0, 1]))
    assert len(maps) == 3 and all(t.stage_id == maps[0].stage_id for t in maps)
    assert launches(dag.task_succeeded(maps[0], status(maps[0], shuffle_id))) == []
    assert launches(dag.task_succeeded(maps[1], status(maps[1], shuffle_id))) == []
    actions = dag.task_succeeded(maps[2], status(maps[2], shuffle_id))
    assert isinstance(actions[0], StageCompleted)
    reduces = launches(actions)
    assert [t.partition for t in reduces] == [0, 1]
    assert reduces[0].stage_id != maps[0].stage_id


def test_later_jobs_skip_map_stages_whose_outputs_exist(ctx):
    """Only missing partitions are computed: a second action reuses the shuffle."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker())
    for task in launches(dag.submit_job(0, rdd, list, [0, 1])):
        actions = dag.task_succeeded(task, status(task, shuffle_id))
    for task in launches(actions):
        dag.task_succeeded(task, [])
    second = dag.submit_job(1, rdd, list, [0, 1])
    assert [t.partition for t in launches(second)] == [0, 1]
    assert all(t.stage_id != 0 for t in launches(second))


def test_a_finished_jobs_stages_are_forgotten(ctx):
    """As Spark's DAG scheduler: a job's stages (which hold its RDDs) go when it ends; a
    later job reading the same shuffle gets a new map stage, skipped."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker())
    for task in launches(dag.submit_job(0, rdd, list, [0, 1])):
        actions = dag.task_succeeded(task, status(task, shuffle_id))
    for task in launches(actions):
        actions = dag.task_succeeded(task, [])
    assert isinstance(actions[-1], JobSucceeded)
    assert dag.stage_by_id == {} and dag.stages.shuffle_stages == {}
    second = dag.submit_job(1, rdd, list, [0, 1])
    assert sorted(dag.stage_by_id) == [2, 3]  # the map stage (2) runs nothing
    assert {t.stage_id for t in launches(second)} == {3}


def test_failed_task_is_retried_then_fails_the_job_with_its_error(ctx):
    """Each failure relaunches the partition until max attempts, then JobFailed."""
    dag = DAGScheduler(MapOutputTracker(), max_task_attempts=3)
    task = launches(dag.submit_job(0, ctx.parallelize([1], 1), list, [0]))[0]
    for attempt in (1, 2):
        retry = launches(dag.task_failed(task, failure(task)))
        assert len(retry) == 1 and retry[0].partition == 0 and retry[0].attempt == attempt
        task = retry[0]
    final = dag.task_failed(task, failure(task, "third"))
    outcome = final[-1]
    assert isinstance(outcome, JobFailed)
    assert outcome.error.attempts == 3 and outcome.error.message == "third"


def test_a_result_too_large_fails_the_job_at_once_without_a_retry(ctx):
    """A task whose result is bigger than vega.driver.max_result_size would give the same
    result again: its first failure fails the job, killing the other running tasks."""
    dag = DAGScheduler(MapOutputTracker(), max_task_attempts=4)
    first, second = launches(dag.submit_job(0, ctx.parallelize([1, 2], 2), list, [0, 1]))
    error = TaskFailed(first.stage_id, first.partition, 1, "localhost", "exec-1",
                       "ResultTooLarge", "too large", "")
    actions = dag.task_failed(first, error)
    assert launches(actions) == []
    assert [a.task_ids for a in actions if isinstance(a, KillTasks)] == [[second.task_id]]
    assert isinstance(actions[-1], JobFailed) and actions[-1].error is error
    assert error.attempts == 1


def test_abort_job_fails_the_running_job(ctx):
    """The driver fails a job whose results, counted together, are too large."""
    dag = DAGScheduler(MapOutputTracker())
    assert dag.abort_job(ValueError("no job")) == []
    (task,) = launches(dag.submit_job(0, ctx.parallelize([1], 1), list, [0]))
    error = ValueError("too much")
    actions = dag.abort_job(error)
    assert isinstance(actions[-1], JobFailed) and actions[-1].error is error
    assert dag.job is None


def test_a_task_lost_with_its_executor_runs_again_without_counting_an_attempt(ctx):
    """A loss that is not the task's doing (its worker went) reruns it however often it
    happens; a failure after that still has every attempt."""
    dag = DAGScheduler(MapOutputTracker(), max_task_attempts=2)
    (task,) = launches(dag.submit_job(0, ctx.parallelize([1], 1), list, [0]))
    for _ in range(3):
        (task,) = launches(dag.task_lost(task))
    (task,) = launches(dag.task_failed(task, failure(task)))
    assert isinstance(dag.task_failed(task, failure(task))[-1], JobFailed)


def test_fetch_failure_recomputes_only_the_lost_map_partition(ctx):
    """A lost map output reruns that one map task, then the reduce stage again."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker())
    for task in launches(dag.submit_job(0, rdd, list, [0, 1])):
        actions = dag.task_succeeded(task, status(task, shuffle_id))
    reduce_task = launches(actions)[0]
    actions = dag.fetch_failed(reduce_task, FetchFailed(shuffle_id, 1, 0, "localhost", "gone"))
    assert any(isinstance(a, KillTasks) for a in actions)
    rerun = launches(actions)
    assert [t.partition for t in rerun] == [1]
    resumed = launches(dag.task_succeeded(rerun[0], status(rerun[0], shuffle_id)))
    assert sorted(t.partition for t in resumed) == [0, 1]
    assert all(t.stage_attempt == 1 for t in resumed)


def test_repeated_fetch_failures_fail_the_job_with_stage_failed(ctx):
    """Stage resubmission is bounded."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker(), max_stage_attempts=2)
    for task in launches(dag.submit_job(0, rdd, list, [0, 1])):
        actions = dag.task_succeeded(task, status(task, shuffle_id))
    for _ in range(2):
        reduce_task = launches(actions)[0]
        actions = dag.fetch_failed(reduce_task, FetchFailed(shuffle_id, 0, 0, "h", "gone"))
        if isinstance(actions[-1], JobFailed):
            break
        rerun = launches(actions)
        actions = dag.task_succeeded(rerun[0], status(rerun[0], shuffle_id))
    assert isinstance(actions[-1], JobFailed)
    assert isinstance(actions[-1].error, StageFailed)


def test_a_stage_that_succeeded_since_its_last_fetch_failure_starts_its_count_again(ctx):
    """max_stage_attempts bounds consecutive failed attempts of a stage, as Spark's (which
    clears a stage's failures when it succeeds, "so that if a stage is re-used many times
    in a long-running job, unrelated failures don't eventually cause the stage to be
    aborted"): a middle stage that failed once, then succeeded, then lost its input again
    as an executor went, failed the job at its second failure of all."""
    inner = ctx.parallelize(range(10), 2).map(lambda x: (x % 2, x)).reduce_by_key(add, 2)
    outer = inner.map(lambda kv: (kv[1] % 2, kv[1])).reduce_by_key(add, 2)
    first, second = inner.deps[0].shuffle_id, outer.deps[0].shuffle_id
    dag = DAGScheduler(MapOutputTracker(), max_stage_attempts=2)
    for task in launches(dag.submit_job(0, outer, list, [0, 1])):
        actions = dag.task_succeeded(task, status(task, first))
    middle = launches(actions)
    actions = dag.fetch_failed(middle[0], FetchFailed(first, 0, 0, "h", "gone"))
    rerun = launches(actions)  # the lost map output of the first stage
    for task in launches(dag.task_succeeded(rerun[0], status(rerun[0], first))):
        actions = dag.task_succeeded(task, status(task, second))  # the middle stage: done
    last = launches(actions)
    actions = dag.fetch_failed(last[0], FetchFailed(second, 0, 0, "h", "gone"))
    middle = launches(actions)  # its lost output again, and its input is lost too:
    actions = dag.fetch_failed(middle[0], FetchFailed(first, 1, 1, "h", "gone"))
    assert not any(isinstance(a, JobFailed) for a in actions)
    rerun = launches(actions)
    for task in launches(dag.task_succeeded(rerun[0], status(rerun[0], first))):
        actions = dag.task_succeeded(task, status(task, second))
    for task in launches(actions):
        actions = dag.task_succeeded(task, [task.partition])
    assert isinstance(actions[-1], JobSucceeded)


def test_a_new_attempt_of_a_stage_counts_its_task_failures_afresh(ctx):
    """vega.task.max_attempts bounds a task's failures within one attempt of its stage, as
    Spark's task set: a reduce task that failed once, then again after a fetch failure
    resubmitted its stage, failed the job (max 2) with one failure in each attempt."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker(), max_task_attempts=2)
    for task in launches(dag.submit_job(0, rdd, list, [0, 1])):
        actions = dag.task_succeeded(task, status(task, shuffle_id))
    first, second = launches(actions)
    [retry] = launches(dag.task_failed(first, failure(first)))
    actions = dag.fetch_failed(second, FetchFailed(shuffle_id, 0, 0, "h", "gone"))
    dag.task_failed(retry, failure(retry, "killed"))  # (the kill of the stale attempt)
    rerun = launches(actions)
    first, second = launches(dag.task_succeeded(rerun[0], status(rerun[0], shuffle_id)))
    actions = dag.task_failed(first, failure(first))
    assert not any(isinstance(a, JobFailed) for a in actions)
    [retry] = launches(actions)
    assert retry.excluded == frozenset({"exec-1"})  # this attempt's failure, not the last's
    dag.task_succeeded(retry, [0])
    assert isinstance(dag.task_succeeded(second, [1])[-1], JobSucceeded)


def test_results_of_stale_attempts_are_ignored(ctx):
    """A task finishing after its stage was resubmitted changes nothing."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker())
    for task in launches(dag.submit_job(0, rdd, list, [0, 1])):
        actions = dag.task_succeeded(task, status(task, shuffle_id))
    first, second = launches(actions)
    dag.fetch_failed(first, FetchFailed(shuffle_id, 0, 0, "h", "gone"))
    assert dag.task_succeeded(second, ["late"]) == []


def test_accumulator_updates_are_merged_once_per_partition(ctx):
    """A duplicate success of the same partition yields no second merge."""
    dag = DAGScheduler(MapOutputTracker())
    task = launches(dag.submit_job(0, ctx.parallelize([1, 2], 2), list, [0, 1]))[0]
    actions = dag.task_succeeded(task, [1], {7: 1})
    assert [a.updates for a in actions if isinstance(a, MergeAccumulators)] == [{7: 1}]
    assert dag.task_succeeded(task, [1], {7: 1}) == []


def test_executor_loss_forgets_its_map_outputs(ctx):
    """Outputs on a lost host are recomputed by the next job that needs them."""
    rdd, shuffle_id = two_stage_job(ctx)
    tracker = MapOutputTracker()
    dag = DAGScheduler(tracker)
    for task in launches(dag.submit_job(0, rdd, list, [0, 1])):
        executor = "exec-2" if task.partition == 2 else "exec-1"
        actions = dag.task_succeeded(task, status(task, shuffle_id, executor))
    for task in launches(actions):
        dag.task_succeeded(task, [])
    dag.executor_lost("exec-2", outputs_lost=True)
    assert tracker.missing(shuffle_id) == [2]
    again = launches(dag.submit_job(1, rdd, list, [0, 1]))
    assert [t.partition for t in again] == [2]


def test_cancel_kills_running_tasks_and_fails_the_job(ctx):
    """Cancellation returns kill actions and a JobFailed with JobCancelled."""
    from vega_runtime.errors import JobCancelled

    dag = DAGScheduler(MapOutputTracker())
    tasks = launches(dag.submit_job(0, ctx.parallelize(range(4), 4), list, [0, 1, 2, 3]))
    actions = dag.cancel_job("interrupted")
    kills = [a for a in actions if isinstance(a, KillTasks)][0]
    assert sorted(kills.task_ids) == sorted(t.task_id for t in tasks)
    assert isinstance(actions[-1].error, JobCancelled)


def test_what_tasks_did_is_forgotten_with_their_stage_while_other_jobs_run(ctx):
    """A driver whose jobs always overlap (a long job, short ones from other threads) never
    has no active job: the attempts, failures and exclusions of each finished job's tasks
    stayed until then, an entry per task for ever (and every launch after one failure
    scanned all of them). They go with their stage, as Spark's task set goes."""
    dag = DAGScheduler(MapOutputTracker())
    [long_task] = launches(dag.submit_job(0, ctx.parallelize([0], 1), list, [0]))
    rdd = ctx.parallelize(range(4), 4)
    for job_id in range(1, 301):
        tasks = launches(dag.submit_job(job_id, rdd, list, [0, 1, 2, 3]))
        tasks[0] = launches(dag.task_failed(tasks[0], failure(tasks[0])))[0]
        for task in tasks:
            actions = dag.task_succeeded(task, [task.partition])
        assert isinstance(actions[-1], JobSucceeded)
    key = (long_task.stage_id, 0)
    assert (dag.launches, dag.failures, dag.failed_on, dag.stage_failures) == \
        ({key: 1}, {}, {}, {})
    assert isinstance(dag.task_succeeded(long_task, [0])[-1], JobSucceeded)


def test_a_retried_task_avoids_the_executor_it_failed_on(ctx):
    """The retry excludes the failing executor; two failures there exclude it for the stage."""
    dag = DAGScheduler(MapOutputTracker())
    first, second = launches(dag.submit_job(0, ctx.parallelize(range(2), 2), list, [0, 1]))
    retry = launches(dag.task_failed(first, failure(first)))[0]
    assert retry.excluded == frozenset({"exec-1"})
    other = launches(dag.task_failed(second, failure(second)))[0]
    assert other.excluded == frozenset({"exec-1"})
    again = launches(dag.task_failed(retry, TaskFailed(0, 0, 1, "h", "exec-2", "E", "m", "")))[0]
    assert again.excluded == frozenset({"exec-1", "exec-2"})


def test_pick_task_skips_excluded_executors_while_others_live():
    """An excluded executor waits; it takes the task when it is the only one left."""
    from vega_runtime.scheduler.backend import TaskLaunch, TaskQueue
    from vega_runtime.scheduler.dag import TaskSpec

    spec = TaskSpec(1, 0, 0, 0, 0, 1, frozenset({"exec-1"}))
    queue = TaskQueue([TaskLaunch(spec, (0, 0), b"", b"")])
    assert queue.pick("exec-1", {"exec-1", "exec-2"}, 3.0, 0.0) is None
    assert queue.pick("exec-1", {"exec-1"}, 3.0, 0.0).spec is spec
    assert len(queue) == 0


def test_pick_prefers_a_later_task_caching_its_input_else_the_first():
    """Delay scheduling: an executor takes a queued task whose input it caches first; a task
    preferring another live executor waits for it until ``locality_wait`` has passed."""
    from vega_runtime.scheduler.backend import TaskLaunch, TaskQueue
    from vega_runtime.scheduler.dag import TaskSpec

    def task(task_id, preferred=()):
        return TaskLaunch(TaskSpec(task_id, 0, 0, task_id, 0, 1), (0, 0), b"", b"",
                          frozenset(preferred), queued_at=0.0)

    queue = TaskQueue([task(1, {"exec-2"}), task(2), task(3, {"exec-1"}), task(4)])
    alive = {"exec-1", "exec-2"}
    assert queue.pick("exec-1", alive, 3.0, 1.0).spec.task_id == 3
    assert queue.pick("exec-1", alive, 3.0, 1.0).spec.task_id == 2  # task 1 waits for exec-2
    assert queue.pick("exec-1", alive, 3.0, 5.0).spec.task_id == 1  # waited long enough
    assert queue.pick("exec-2", alive, 3.0, 5.0).spec.task_id == 4
    assert queue.pick("exec-2", alive, 3.0, 5.0) is None


def test_a_stale_fetch_failure_does_not_unregister_recomputed_output(ctx):
    """A second reducer's failure from the old stage attempt leaves the new map output alone."""
    rdd, shuffle_id = two_stage_job(ctx)
    tracker = MapOutputTracker()
    dag = DAGScheduler(tracker)
    for task in launches(dag.submit_job(0, rdd, list, [0, 1])):
        actions = dag.task_succeeded(task, status(task, shuffle_id))
    first, second = launches(actions)
    rerun = launches(dag.fetch_failed(first, FetchFailed(shuffle_id, 0, 0, "h", "gone")))[0]
    dag.task_succeeded(rerun, status(rerun, shuffle_id, "exec-2"))
    assert dag.fetch_failed(second, FetchFailed(shuffle_id, 0, 1, "h", "gone")) == []
    assert tracker.missing(shuffle_id) == []


def test_two_jobs_share_a_running_map_stage(ctx):
    """A job submitted while another computes the shuffle it reads waits for that map
    stage (Spark's DAGScheduler shares it): no map task runs twice, both jobs succeed."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker())
    maps = launches(dag.submit_job(0, rdd, list, [0, 1]))
    assert launches(dag.submit_job(1, rdd, len, [0, 1])) == []
    assert sorted(dag.jobs) == [0, 1] and dag.job_stage_ids(1)[0] == maps[0].stage_id
    actions = []
    for task in maps:
        actions += dag.task_succeeded(task, status(task, shuffle_id))
    reduces = launches(actions)
    assert sorted((t.job_id, t.partition) for t in reduces) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    ends = []
    for task in reduces:
        ends += [a for a in dag.task_succeeded(task, ["r"]) if isinstance(a, JobSucceeded)]
    assert sorted((e.job_id, e.results) for e in ends) == [(0, [["r"], ["r"]]),
                                                           (1, [["r"], ["r"]])]
    assert dag.jobs == {} and dag.stage_by_id == {}


def test_cancelling_one_job_keeps_the_map_stage_another_needs(ctx):
    """Cancelling a job kills only the tasks no other active job needs."""
    rdd, shuffle_id = two_stage_job(ctx)
    dag = DAGScheduler(MapOutputTracker())
    maps = launches(dag.submit_job(0, rdd, list, [0, 1]))
    dag.submit_job(1, rdd, list, [0, 1])
    actions = dag.cancel_job("not needed", 0)
    assert [a.task_ids for a in actions if isinstance(a, KillTasks)] == [[]]
    assert [a.job_id for a in actions if isinstance(a, JobFailed)] == [0]
    for task in maps:
        actions = dag.task_succeeded(task, status(task, shuffle_id))
    for task in launches(actions):
        actions = dag.task_succeeded(task, ["r"])
    assert isinstance(actions[-1], JobSucceeded) and actions[-1].job_id == 1


def test_a_stage_failing_fails_only_the_jobs_that_need_it(ctx):
    """A task failing its last attempt fails its stage's job; another job goes on."""
    dag = DAGScheduler(MapOutputTracker(), max_task_attempts=1)
    (first,) = launches(dag.submit_job(0, ctx.parallelize([1], 1), list, [0]))
    (second,) = launches(dag.submit_job(1, ctx.parallelize([2], 1), list, [0]))
    actions = dag.task_failed(second, failure(second))
    assert [a.job_id for a in actions if isinstance(a, JobFailed)] == [1]
    assert [a.task_ids for a in actions if isinstance(a, KillTasks)] == [[]]
    assert dag.task_succeeded(first, [1])[-1] == JobSucceeded(0, [[1]])


def test_lost_map_outputs_of_a_shared_stage_are_recomputed_once_for_both_jobs(ctx):
    """An executor lost while a map stage two jobs wait on runs: its outputs are computed
    again, once, and then both jobs' result stages run."""
    rdd, shuffle_id = two_stage_job(ctx)
    tracker = MapOutputTracker()
    dag = DAGScheduler(tracker)
    maps = launches(dag.submit_job(0, rdd, list, [0, 1]))
    dag.submit_job(1, rdd, list, [0, 1])
    dag.task_succeeded(maps[0], status(maps[0], shuffle_id, "exec-2"))
    dag.executor_lost("exec-2", outputs_lost=True)
    dag.task_succeeded(maps[1], status(maps[1], shuffle_id))
    again = launches(dag.task_succeeded(maps[2], status(maps[2], shuffle_id)))
    assert [(t.stage_id, t.partition) for t in again] == [(maps[0].stage_id, 0)]
    reduces = launches(dag.task_succeeded(again[0], status(again[0], shuffle_id)))
    assert sorted((t.job_id, t.partition) for t in reduces) == [(0, 0), (0, 1), (1, 0), (1, 1)]
