"""How user errors surface: failed tasks, driver-only APIs in tasks, unpicklable closures."""

import os
import pickle
import re
import threading
import warnings
from operator import add

import pytest

from vega_runtime import (ClosureNotSerializable, DriverOnlyError, TaskContext, TaskFailed,
                          VegaError)
from vega_runtime.errors import LargeStageWarning, PartitionNotSerializable

def explode_on_seven(x):
    if x == 7:
        raise ValueError(f"bad record {x}")
    return x


@pytest.mark.parametrize("master, attempts", [("local", 1), ("local[2,2]", 2)])
def test_task_failure_carries_type_message_and_traceback(fresh_ctx, tmp_path, master, attempts):
    """After its attempts, TaskFailed has the user's error and traceback."""
    ctx = fresh_ctx(master=master)
    marks = str(tmp_path)

    def record_attempt(index, iterator):
        tc = TaskContext.get()
        if any(x == 7 for x in list(iterator)):
            open(f"{marks}/p{index}-a{tc.attempt_number()}", "w").close()
            explode_on_seven(7)
        return []

    with pytest.raises(TaskFailed) as info:
        ctx.parallelize(range(10), 3).map_partitions_with_index(record_attempt).collect()
    error = info.value
    assert error.error_type == "ValueError"
    assert error.message == "bad record 7"
    assert error.attempts == attempts
    assert "explode_on_seven" in error.remote_traceback
    assert "record_attempt" in error.remote_traceback
    assert 'raise ValueError(f"bad record {x}")' in error.remote_traceback
    assert "ValueError" in str(error) and "bad record 7" in str(error)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"p2-a{n}" for n in range(attempts)]


def test_task_failure_in_a_shuffle_map_stage(ctx):
    """An error on the map side of a shuffle also surfaces as TaskFailed."""
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize(range(10), 2).map(lambda x: (x, 1 // (x - 3))).reduce_by_key(add).collect()
    assert info.value.error_type == "ZeroDivisionError"
    assert "division" in info.value.message


def test_context_still_works_after_a_failed_job(ctx):
    """A failed job does not break the Context."""
    with pytest.raises(TaskFailed):
        ctx.parallelize([7], 1).map(explode_on_seven).collect()
    assert ctx.parallelize([1, 2, 3], 2).map(explode_on_seven).collect() == [1, 2, 3]
    assert sorted(ctx.parallelize([(1, 1), (1, 2)], 2).reduce_by_key(add).collect()) == [(1, 3)]


class UnprintableError(Exception):
    """An exception whose str() itself raises."""

    def __str__(self):
        raise RuntimeError("str() of this error fails")


def raise_unprintable(x):
    raise UnprintableError()


def test_an_error_whose_str_raises_fails_its_task_not_the_executor(ctx):
    """A task's exception whose str() raises fails the task with its type and Python's
    "<exception str() failed>", on every master (it ended the executor process, so the job
    failed with ExecutorLost and nothing about the error, and `local` raised the
    RuntimeError of str())."""
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1], 1).map(raise_unprintable).collect()
    assert (info.value.error_type, info.value.message) == (
        "UnprintableError", "<exception str() failed>")
    assert "raise_unprintable" in info.value.remote_traceback
    assert ctx.parallelize([1, 2], 2).sum() == 3


def rebuild_anywhere_but(driver_pid):
    if os.getpid() == driver_pid:
        raise ValueError()  # no message
    return "rebuilt"


class UnloadableOnTheDriver:
    def __init__(self, driver_pid):
        self.driver_pid = driver_pid

    def __reduce__(self):
        return rebuild_anywhere_but, (self.driver_pid,)


def test_a_result_the_driver_cannot_unpickle_fails_its_job_with_that_error(ctx):
    """A task's result whose unpickling on the driver raises an error without a message
    fails the action with that error, and the next job runs (the job's abort took the
    first line of an empty message: an IndexError hid the error, and every later job on
    the Context failed with 'a job is already running')."""
    with pytest.raises(ValueError) as info:
        driver = os.getpid()
        ctx.parallelize([1], 1).map(lambda x: UnloadableOnTheDriver(driver)).collect()
    assert type(info.value) is ValueError and str(info.value) == ""
    assert ctx.parallelize([1, 2], 2).sum() == 3


def test_task_failed_is_a_vega_error(ctx):
    """TaskFailed is part of the VegaError hierarchy."""
    with pytest.raises(VegaError):
        ctx.parallelize([7], 1).map(explode_on_seven).count()


def test_action_inside_a_task_fails_mentioning_the_driver(ctx):
    """Calling an action on an RDD inside a task fails the job at its first attempt (it
    would fail every time; PySpark refuses it before any task runs); the message says
    'driver'."""
    other = ctx.parallelize([1, 2, 3])
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1], 1).map(lambda x: other.count()).collect()
    assert (info.value.error_type, info.value.attempts) == (DriverOnlyError.__name__, 1)
    assert "driver" in str(info.value)


def test_transformation_inside_a_task_fails_mentioning_the_driver(ctx):
    """Building an RDD inside a task fails too."""
    other = ctx.parallelize([1, 2, 3])
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1], 1).map(lambda x: other.map(str)).collect()
    assert "driver" in str(info.value)


def test_context_inside_a_task_is_refused_mentioning_the_driver(ctx):
    """A task that uses the Context is refused with an error that mentions the driver."""
    with pytest.raises((TaskFailed, DriverOnlyError, ClosureNotSerializable)) as info:
        ctx.parallelize([1], 1).map(lambda x: ctx.parallelize([x]).count()).collect()
    assert "driver" in str(info.value)


def test_unpicklable_closure_names_the_variable(ctx):
    """Capturing a threading.Lock raises ClosureNotSerializable naming 'lock'."""
    lock = threading.Lock()

    def uses_lock(x):
        with lock:
            return x

    with pytest.raises(ClosureNotSerializable) as info:
        ctx.parallelize([1, 2], 2).map(uses_lock).collect()
    assert info.value.variable == "lock"
    assert "'lock'" in str(info.value)
    assert "uses_lock" in str(info.value)


def test_unpicklable_closure_in_a_lambda_names_the_variable(ctx):
    """The captured variable is named for a lambda inside a shuffle's map side too."""
    guard = threading.Lock()
    with pytest.raises(ClosureNotSerializable) as info:
        ctx.parallelize([1, 2], 2).map(lambda x: (x, guard)).group_by_key().collect()
    assert info.value.variable == "guard"



def test_parallelized_data_that_cannot_be_pickled_fails_its_job_saying_what_and_what_to_do(ctx):
    """``parallelize`` of records holding a lock: the action fails (a PicklingError, and a
    VegaError) naming the partition, the RDD's call site, the element's type and what to
    do; it was a bare ``TypeError: cannot pickle '_thread.lock' object`` out of the
    scheduler. The Context runs the next job."""
    rows = [{"id": 1}, {"id": 2, "guard": threading.Lock()}]
    with pytest.raises(PartitionNotSerializable) as info:
        ctx.parallelize(rows, 2).map(lambda row: row["id"]).collect()
    assert isinstance(info.value, pickle.PicklingError)
    text = str(info.value)
    assert text.startswith("cannot send partition 1 of stage ")
    assert "test_rdd_errors.py" in text
    assert ("to the executors: its data holds a lock, which cannot be pickled (TypeError: "
            "cannot pickle '_thread.lock' object). parallelize() sends its elements with the "
            "tasks: give it plain data") in text
    assert ctx.parallelize(range(4), 2).sum() == 6


def test_a_result_that_cannot_be_pickled_fails_its_job_saying_what_and_what_to_do(ctx):
    """``collect()`` of records holding a lock: the task fails with ResultNotSerializable,
    naming the type and what to do, and no traceback of cloudpickle's; it was "TypeError:
    cannot pickle '_thread.lock' object" under a cloudpickle frame as the user's traceback."""
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize(range(2), 1).map(lambda x: {"id": x, "guard": threading.Lock()}) \
            .collect()
    assert info.value.error_type == "ResultNotSerializable"
    assert info.value.message == (
        "the task's result holds a lock, which cannot be pickled to send it to the driver "
        "(TypeError: cannot pickle '_thread.lock' object): bring back plain data (numbers, "
        "strings, tuples, dicts, arrays): map the records to it before the action")
    assert info.value.remote_traceback == ""


class Counter:
    """An object holding a lock beside the value a function reads."""

    def __init__(self):
        self.lock, self.settings = threading.Lock(), {"step": 3}


def test_an_unpicklable_part_of_a_captured_object_is_named_by_its_path(ctx):
    """A function captures an object whose attribute holds a lock: the error names the path
    from the variable the user wrote ('counter.lock'), not 'lock', which the function's code
    does not name."""
    counter = Counter()
    with pytest.raises(ClosureNotSerializable) as info:
        ctx.parallelize([1, 2], 2).map(lambda x: x + counter.settings["step"]).collect()
    assert info.value.variable == "counter.lock"
    assert "it captures 'counter.lock' of type lock" in str(info.value)
    table = {"a": [1, threading.Lock()]}
    with pytest.raises(ClosureNotSerializable) as info:
        ctx.parallelize([1, 2], 2).map(lambda x: table["a"][0] + x).collect()
    assert info.value.variable == "table['a'][1]"


def test_a_stage_whose_functions_capture_a_large_value_warns_to_broadcast_it(ctx):
    """A function capturing a list of 400,000 numbers (~2 MiB pickled) ships it with every
    stage that runs it: warned of at the user's line (Spark: "Stage 0 contains a task of
    very large size"), saying to broadcast it, once per line (Python's rule for a message
    it showed there), not once per job of a loop; a broadcast of it warns of nothing."""
    big = list(range(400_000))
    with pytest.warns(LargeStageWarning) as warned:
        assert ctx.parallelize(range(4), 2).map(lambda x: len(big)).sum() == 1_600_000
    assert len(warned) == 1 and warned[0].filename == __file__
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("default")  # Python's own rule, once per message and line
        for _ in range(3):
            ctx.parallelize(range(4), 2).map(lambda x: len(big)).count()
    assert len([w for w in again if w.category is LargeStageWarning]) == 1
    text = str(warned[0].message)
    assert re.fullmatch(r"the functions of a stage of this job and the values they capture "
                        r"pickle to [\d.]+ MiB, sent to its executors \(Spark warns past 1000 "
                        r"KiB\): a large value a function captures \(a list, a dict, a model\) "
                        r"is pickled and sent again by every job that uses it; broadcast\(\) it "
                        r"once and read its \.value in the function", text), text
    shared = ctx.broadcast(big)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LargeStageWarning)
        assert ctx.parallelize(range(4), 2).map(lambda x: len(shared.value)).sum() == 1_600_000

def fail_first_attempt_of_stage_0_partition_0(index, iterator):
    tc = TaskContext.get()
    if (tc.stage_id(), index, tc.attempt_number()) == (0, 0, 0):
        raise RuntimeError("the first attempt fails")
    return iterator


@pytest.mark.parametrize("master", ["local[1,2]", "local-cluster[1,1]"])
def test_a_retry_after_more_stages_than_an_executor_keeps_payloads_of(fresh_ctx, master):
    """One executor runs the tasks of 24 stages (more than the stage payloads it keeps)
    before the retry of the first stage's failed task: the retry is sent its stage's
    payload again and the job succeeds, as in PySpark (it failed 4 times with "stage (0,
    0) payload was never sent to exec-1")."""
    ctx = fresh_ctx(master=master)
    shuffles = [ctx.parallelize([(k, n) for k in range(4)], 2)
                .map_partitions_with_index(fail_first_attempt_of_stage_0_partition_0)
                .reduce_by_key(add) for n in range(24)]
    assert sorted(ctx.union(shuffles).collect()) == sorted((k, n) for k in range(4)
                                                           for n in range(24))


class UnloadableOnExecutors:
    """Pickles on the driver; unpickling (on an executor) raises ValueError, as a module
    missing there would raise ModuleNotFoundError."""

    def __reduce__(self):
        return int, ("not loadable here",)


def test_a_stage_that_cannot_be_loaded_fails_with_its_error_on_every_attempt(fresh_ctx):
    """Every attempt of a stage an executor cannot unpickle reports why, also on an executor
    that already failed to load it (it is sent once per executor): before, later attempts
    there failed with "stage payload was never sent", hiding the cause."""
    ctx = fresh_ctx(master="local[2,3]")
    token = UnloadableOnExecutors()
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize(range(4), 4).map(lambda x: (x, token)).collect()
    assert info.value.error_type == "ValueError"
    assert "invalid literal for int() with base 10: 'not loadable here'" in info.value.message
    assert "could not load the task" in info.value.message
    assert ctx.parallelize([1, 2, 3], 2).map(explode_on_seven).collect() == [1, 2, 3]


@pytest.mark.parametrize("master, attempts", [
    ("local", 1), ("local[2]", 1), ("local[*]", 1), ("local[2,2]", 2), ("local[*, 2]", 2),
    ("local-cluster[1,1]", 3)])
def test_local_masters_try_a_task_once_unless_their_url_gives_attempts(fresh_ctx, tmp_path,
                                                                        master, attempts):
    """As Spark's: ``local`` and ``local[N]`` try a task once whatever
    spark.task.maxFailures says, ``local[N,F]`` F times; other masters take the setting."""
    ctx = fresh_ctx(master=master, conf={"spark.task.maxFailures": 3})
    marks = str(tmp_path)

    def fail_and_mark(index, iterator):
        open(f"{marks}/p{index}-a{TaskContext.get().attempt_number()}", "w").close()
        raise ValueError("every attempt fails")

    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1], 1).map_partitions_with_index(fail_and_mark).collect()
    assert info.value.attempts == attempts
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"p0-a{n}" for n in range(attempts)]


def test_a_local_master_warns_once_that_it_ignores_the_configured_attempts(fresh_ctx, caplog):
    """A configured task attempts setting a local master does not use is named once, with
    the master URL that would use it."""
    with caplog.at_level("WARNING", logger="vega_runtime"):
        fresh_ctx(master="local[2]", conf={"spark.task.maxFailures": 3})
        fresh_ctx(master="local[2,3]", conf={"spark.task.maxFailures": 3})
        fresh_ctx(master="local[2]")
    assert [r.getMessage() for r in caplog.records if "attempts" in r.getMessage()] == [
        "vega.task.max_attempts (spark.task.maxFailures) is 3 but local[2] tries each task "
        "once, as Spark's local mode does: use master local[2,3] for 3 attempts a task"]
