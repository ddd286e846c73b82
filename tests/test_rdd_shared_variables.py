"""Broadcast variables and accumulators."""

import os

import pytest

from vega_runtime import AccumulatorParam, TaskContext, TaskFailed, VegaError

from proc_helpers import executors_up, start_job_in_thread, wait_for


class VectorAccumulatorParam(AccumulatorParam):
    """PySpark's doctest accumulator: element-wise vector addition."""

    def zero(self, value):
        return [0.0] * len(value)

    def addInPlace(self, val1, val2):  # noqa: N802 - PySpark's name
        for i in range(len(val1)):
            val1[i] += val2[i]
        return val1


# -- broadcast -------------------------------------------------------------------------------

def test_broadcast_pyspark_doctest(ctx):
    """PySpark's doctest: the value on the driver and in every task."""
    b = ctx.broadcast([1, 2, 3, 4, 5])
    assert b.value == [1, 2, 3, 4, 5]
    assert ctx.parallelize([0, 0]).flat_map(lambda x: b.value).collect() == [
        1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    b.unpersist()


def test_broadcast_dict_lookup_in_tasks(ctx):
    """Tasks look up keys, unicode and None included, in a broadcast dict."""
    table = ctx.broadcast({"é": 1, None: 2, (1, 2): 3, "🔑": 4})
    keys = ctx.parallelize(["é", None, (1, 2), "🔑", "é"], 3)
    assert keys.map(lambda k: table.value[k]).collect() == [1, 2, 3, 4, 1]


def test_broadcast_large_value(ctx):
    """A 5 MB broadcast value reaches the tasks whole."""
    big = ctx.broadcast("B" * (5 * 1024 * 1024))
    assert ctx.parallelize(range(4), 4).map(lambda i: len(big.value) + i).collect() == [
        5 * 1024 * 1024 + i for i in range(4)]
    same = ctx.parallelize([0], 1).map(lambda _: big.value == "B" * (5 * 1024 * 1024))
    assert same.collect() == [True]


def test_broadcast_usable_after_unpersist(ctx):
    """unpersist drops executors' copies; using it again ships it again."""
    b = ctx.broadcast({"a": 10})
    rdd = ctx.parallelize(["a", "a"], 2)
    assert rdd.map(lambda k: b.value[k]).collect() == [10, 10]
    b.unpersist()
    assert b.value == {"a": 10}
    assert rdd.map(lambda k: b.value[k] + 1).collect() == [11, 11]


def test_broadcast_destroy_makes_it_unusable(ctx):
    """After destroy, neither the driver nor new tasks can use the broadcast."""
    b = ctx.broadcast([1, 2, 3])
    assert ctx.parallelize([0]).map(lambda _: sum(b.value)).collect() == [6]
    b.destroy()
    with pytest.raises(VegaError):
        b.value
    with pytest.raises(VegaError):
        ctx.parallelize([0]).map(lambda _: sum(b.value)).collect()


@pytest.mark.parametrize("master, count", [("local[2]", 2), ("local-cluster[1,1]", 1)])
def test_a_broadcast_destroyed_while_its_job_runs_fails_the_task_not_its_executor(
        fresh_ctx, tmp_path, master, count):
    """A task that loads a broadcast destroyed after its job started fails saying so, and its
    executor stays. Before, it waited for the driver's answer forever (local[N]), or the
    driver dropped the executor that asked (a cluster), so the job failed as ExecutorLost."""
    ctx = fresh_ctx(master=master, conf={"vega.task.max_attempts": 2})
    executors = executors_up(ctx, count)
    b = ctx.broadcast([1, 2, 3])
    started, go = str(tmp_path / "started"), str(tmp_path / "go")

    def use(x):
        open(started, "w").close()
        wait_for(lambda: os.path.exists(go), 60, "the broadcast to be destroyed")
        return sum(b.value)

    thread, outcome = start_job_in_thread(ctx, "destroyed", "uses b",
                                          ctx.parallelize([0], 1).map(use).collect)
    wait_for(lambda: os.path.exists(started), 60, "the task to start")
    b.destroy()
    open(go, "w").close()
    thread.join(60)
    assert not thread.is_alive(), "the job never ended"
    [error] = outcome
    assert isinstance(error, TaskFailed) and error.error_type == "VegaError"
    assert error.message == (f"broadcast {b.id} is no longer on the driver (No such file or "
                             f"directory): it was destroyed while a job used it")
    assert executors_up(ctx, count) == executors


def test_broadcast_dump_load_and_load_from_path_pyspark_doctests(ctx, tmp_path):
    """PySpark's Broadcast.dump/load/load_from_path doctests: a value pickled to a file (which
    dump closes) reads back through any broadcast."""
    b, c = ctx.broadcast([1, 2, 3, 4, 5]), ctx.broadcast(1)
    path = tmp_path / "test.txt"
    with open(path, "wb") as f:
        b.dump(b.value, f)
        assert f.closed
    with open(path, "rb") as f:
        assert c.load(f) == [1, 2, 3, 4, 5]
    assert c.load_from_path(str(path)) == [1, 2, 3, 4, 5]
    with open(path, "wb") as f:
        b.dump(lambda x: x + 1, f)  # what only cloudpickle pickles, as a broadcast's value
    assert c.load_from_path(str(path))(1) == 2


def test_several_broadcasts_in_one_task(ctx):
    """A task can read several broadcasts."""
    a = ctx.broadcast(2)
    c = ctx.broadcast(3)
    assert ctx.parallelize([1, 2, 3], 2).map(lambda x: x * a.value + c.value).collect() == [5, 7, 9]


# -- accumulators -----------------------------------------------------------------------------

def test_accumulator_pyspark_doctests(ctx):
    """PySpark's doctests: value, assignment, += on the driver, other number types."""
    a = ctx.accumulator(1)
    assert a.value == 1
    a.value = 2
    assert a.value == 2
    a += 5
    assert a.value == 7
    assert ctx.accumulator(1.0).value == 1.0
    assert ctx.accumulator(1j).value == 1j


def test_accumulator_add_in_tasks_pyspark_doctest(ctx):
    """PySpark's doctest: foreach adds 1 + 2 + 3 to a running value."""
    a = ctx.accumulator(7)
    rdd = ctx.parallelize([1, 2, 3])

    def f(x):
        a.add(x)

    rdd.foreach(f)
    assert a.value == 13
    b = ctx.accumulator(0)
    rdd.foreach(lambda x: b.add(x))
    assert b.value == 6


def test_accumulator_custom_param_pyspark_doctest(ctx):
    """PySpark's doctest: a vector accumulator with a custom AccumulatorParam."""
    va = ctx.accumulator([1.0, 2.0, 3.0], VectorAccumulatorParam())
    assert va.value == [1.0, 2.0, 3.0]

    def g(x):
        va.add([x] * 3)

    ctx.parallelize([1, 2, 3]).foreach(g)
    assert va.value == [7.0, 8.0, 9.0]


def test_accumulator_without_param_needs_a_number_pyspark_doctest(ctx):
    """PySpark's doctest: sc.accumulator([1.0, 2.0, 3.0]) raises TypeError (no default
    AccumulatorParam for a list); with its AccumulatorParam it works."""
    with pytest.raises(TypeError, match=r"^No default accumulator param for type "
                                        r"<class 'list'>: pass an AccumulatorParam"):
        ctx.accumulator([1.0, 2.0, 3.0])
    assert ctx.accumulator([1.0, 2.0, 3.0], VectorAccumulatorParam()).value == [1.0, 2.0, 3.0]
    assert ctx.accumulator(True).value is True  # a bool is an int, as in PySpark


class _ListParam(AccumulatorParam):
    """A list accumulator whose zero() returns its argument (fine in PySpark, where each
    task unpickles its own copy of the accumulator)."""

    def zero(self, value):
        return value

    def addInPlace(self, value1, value2):
        if isinstance(value2, list):
            value1.extend(value2)
        else:
            value1.append(value2)
        return value1


def test_accumulator_whose_zero_returns_its_argument_counts_each_add_once(ctx):
    """Each task's updates start from its own zero even when zero() returns the value it is
    given: PySpark gives [1, 2, 3, 4], and in a second job (tasks then start from the value
    the driver holds, as PySpark pickles it) each task adds [1, 2, 3, 4] again.  Before, the
    tasks an executor ran in one stage shared one list: [1, 1, 1, 1, 2, 2, 2, 3, 3, 4] on
    local, [1, 1, 1, 2, 3, 3, 4] on local[2]."""
    acc = ctx.accumulator([], _ListParam())
    rdd = ctx.parallelize(range(1, 5), 4)
    rdd.foreach(lambda x: acc.add(x))
    assert sorted(acc.value) == [1, 2, 3, 4]
    rdd.map(lambda x: acc.add(x * 10)).count()
    assert sorted(acc.value) == sorted([1, 2, 3, 4] * 5 + [10, 20, 30, 40])


def test_accumulator_float_and_many_partitions(ctx):
    """Float additions from many partitions add up."""
    acc = ctx.accumulator(0.0)
    ctx.parallelize([0.5] * 100, 10).foreach(lambda x: acc.add(x))
    assert acc.value == 50.0


def test_a_long_lived_context_keeps_no_accumulator_nothing_else_holds(ctx):
    """A notebook's Context lives for hours and cells make accumulators again and again:
    one nothing holds any more is freed (as Spark's, whose driver keeps them by weak
    reference), value and all, and the ones still held go on adding up."""
    import gc
    import weakref

    kept = ctx.accumulator(0)
    dropped = []
    for _ in range(3):
        acc = ctx.accumulator([], _ListParam())
        ctx.parallelize(range(4), 2).foreach(lambda x: (acc.add([x]), kept.add(1)))
        assert sorted(acc.value) == [0, 1, 2, 3]
        dropped.append(weakref.ref(acc))
    del acc
    gc.collect()
    assert [ref() for ref in dropped] == [None, None, None]
    assert kept.value == 12


def test_accumulator_in_transformation_counts_only_when_computed(ctx):
    """A map's additions happen when an action runs, not when the map is defined."""
    acc = ctx.accumulator(0)

    def touch(x):
        acc.add(1)
        return x

    rdd = ctx.parallelize(range(10), 2).map(touch)
    assert acc.value == 0
    rdd.count()
    assert acc.value == 10


def test_accumulator_value_unreadable_in_tasks(ctx):
    """Reading or setting acc.value inside a task fails the task with PySpark's error (a
    PySparkRuntimeError, a RuntimeError, of class VALUE_NOT_ACCESSIBLE; it was a
    DriverOnlyError of class CONTEXT_ONLY_VALID_ON_DRIVER); the error mentions the driver."""
    acc = ctx.accumulator(0)
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1], 1).map(lambda x: acc.value).collect()
    assert "driver" in str(info.value)
    assert info.value.error_type == "PySparkRuntimeError"
    assert info.value.message.startswith(
        "[VALUE_NOT_ACCESSIBLE] Value `Accumulator.value` cannot be accessed inside tasks")

    def caught(_):
        try:
            acc.value = 5
        except RuntimeError as exc:  # PySpark's is a RuntimeError too
            return exc.getCondition()

    assert ctx.parallelize([1], 1).map(caught).collect() == ["VALUE_NOT_ACCESSIBLE"]


def test_accumulator_counts_each_successful_task_once_despite_retries(ctx, fresh_ctx):
    """A task that adds then fails on attempt 0 is retried; only the success counts (local
    masters try a task once, as Spark's: local[N,2] stands in for them)."""
    if ctx.master in ("local", "local[2]"):
        ctx = fresh_ctx(master={"local": "local[1,2]", "local[2]": "local[2,2]"}[ctx.master])
    acc = ctx.accumulator(0)
    attempts = ctx.accumulator(0)

    def flaky(iterator):
        records = list(iterator)
        acc.add(len(records))
        attempts.add(1)
        if TaskContext.get().attempt_number() == 0:
            raise RuntimeError("first attempt always fails")
        return records

    result = ctx.parallelize(range(20), 4).map_partitions(flaky).collect()
    assert result == list(range(20))
    assert acc.value == 20
    assert attempts.value == 4


def test_accumulator_ignores_failed_job_tasks(fresh_ctx):
    """Additions of tasks that never succeed are never merged."""
    ctx = fresh_ctx(master="local[1,2]")
    acc = ctx.accumulator(0)

    def always_fails(x):
        acc.add(100)
        raise ValueError("never")

    with pytest.raises(TaskFailed):
        ctx.parallelize([1], 1).map(always_fails).collect()
    assert acc.value == 0


def test_accumulator_exactly_once_with_configured_attempts(fresh_ctx):
    """With two attempts allowed, a once-failing task still counts exactly once."""
    for master in ("local[1,2]", "local[2,2]"):
        ctx = fresh_ctx(master=master)
        acc = ctx.accumulator(0)

        def once(x):
            acc.add(x)
            if TaskContext.get().attempt_number() == 0:
                raise RuntimeError("retry me")
            return x

        assert ctx.parallelize(range(1, 11), 3).map(once).sum() == 55
        assert acc.value == 55


def test_each_task_draws_its_own_random_stream(ctx):
    """``from random import random`` in a closure does not replay the driver's state per task."""
    from random import random as draw

    samples = ctx.parallelize(range(8), 4).map(lambda _: draw()).glom().collect()
    firsts = [part[0] for part in samples]
    assert len(set(firsts)) == 4, samples
    module_draws = ctx.parallelize(range(8), 4).map_partitions(
        lambda it: [__import__("random").random() for _ in it]).collect()
    assert len(set(module_draws)) == 8
