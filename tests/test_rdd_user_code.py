"""User code in tasks: a StopIteration from it fails the task (it never silently ends a
partition); the processes it starts behave as a plain Python process's children."""

import multiprocessing
import signal
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from operator import add, neg

import pytest

from vega_runtime import StorageLevel, TaskFailed
from vega_runtime.errors import StopIterationInUserCode
from vega_runtime.rdd.partitioner import HashPartitioner
from vega_runtime.user_code import fail_on_stopiteration, unwrapped


def stop_at_three(*args):
    """Returns its first argument; an argument 3 (or a pair holding 3) raises StopIteration."""
    if any(a == 3 or (isinstance(a, tuple) and 3 in a) for a in args):
        raise StopIteration
    return args[0]


def stop_always(*args):
    raise StopIteration


EXECUTOR_SIDE = {
    "map": lambda rdd: rdd.map(stop_at_three).collect(),
    "filter": lambda rdd: rdd.filter(stop_at_three).collect(),
    "flat_map": lambda rdd: rdd.flat_map(lambda x: [stop_at_three(x)]).collect(),
    "flat_map_builtin_chain": lambda rdd: rdd.flat_map(stop_always).collect(),
    "key_by": lambda rdd: rdd.key_by(stop_at_three).collect(),
    "sort_by": lambda rdd: rdd.sort_by(stop_at_three).collect(),
    "group_by": lambda rdd: rdd.group_by(stop_at_three).collect(),
    "map_partitions": lambda rdd: rdd.map_partitions(stop_always).collect(),
    "map_partitions_with_index": lambda rdd: rdd.map_partitions_with_index(stop_always).collect(),
    "reduce": lambda rdd: rdd.reduce(stop_at_three),
    "fold": lambda rdd: rdd.fold(0, stop_at_three),
    "aggregate_seq_op": lambda rdd: rdd.aggregate(0, stop_at_three, add),
    "foreach": lambda rdd: rdd.foreach(stop_at_three),
    "foreach_partition": lambda rdd: rdd.foreach_partition(stop_always),
    "map_values": lambda rdd: rdd.key_by(str).map_values(stop_at_three).collect(),
    "flat_map_values": lambda rdd: rdd.key_by(str).flatMapValues(stop_always).collect(),
    "reduce_by_key": lambda rdd: rdd.map(lambda x: (x % 2, x)).reduceByKey(stop_at_three).collect(),
    "map_then_reduce_by_key_add": lambda rdd: rdd.map(lambda x: (stop_at_three(x), x))
    .reduce_by_key(add).collect(),
    "map_then_group_by_key": lambda rdd: rdd.map(lambda x: (stop_at_three(x), x))
    .group_by_key().collect(),
    "combine_by_key_create": lambda rdd: rdd.map(lambda x: (x, x)).combine_by_key(
        stop_at_three, add, add).collect(),
    "aggregate_by_key": lambda rdd: rdd.map(lambda x: (0, x)).aggregate_by_key(
        0, stop_at_three, add).collect(),
    "take_ordered_key": lambda rdd: rdd.take_ordered(2, key=stop_at_three),
    "max_key": lambda rdd: rdd.max(key=stop_at_three),
    "partition_by": lambda rdd: rdd.map(lambda x: (x, x)).partition_by(2, stop_always).collect(),
    "tree_aggregate": lambda rdd: rdd.tree_aggregate(0, stop_at_three, add),
}


@pytest.mark.parametrize("operation", sorted(EXECUTOR_SIDE))
def test_stop_iteration_in_user_function_fails_the_task(ctx, operation):
    """map, filter, sort_by, reduce, ...: a user StopIteration fails the task, no records lost."""
    rdd = ctx.parallelize([1, 2, 3, 4], 2)
    with pytest.raises(TaskFailed) as info:
        EXECUTOR_SIDE[operation](rdd)
    assert info.value.error_type == "StopIterationInUserCode"
    assert info.value.message.startswith(
        "Caught StopIteration thrown from user's code; failing the task: ")


def test_stop_iteration_in_driver_side_combine_raises_vega_error(ctx):
    """aggregate()'s comb_op runs on the driver: its StopIteration becomes an explained error."""
    with pytest.raises(StopIterationInUserCode) as info:
        ctx.parallelize([1, 2, 3, 4], 2).aggregate(0, add, stop_always)
    assert info.value.function.startswith("stop_always (")
    assert isinstance(info.value, RuntimeError)


def test_camel_case_method_guards_user_functions_too(ctx):
    """flatMap, the PySpark spelling, is guarded like flat_map."""
    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([1, 2, 3]).flatMap(stop_always).collect()
    assert info.value.error_type == "StopIterationInUserCode"


def test_cached_rdd_with_stop_iteration_is_not_cached_short(ctx):
    """A failing cached partition is not stored truncated for later jobs."""
    rdd = ctx.parallelize([1, 2, 3, 4], 1).map(stop_at_three).persist(StorageLevel.MEMORY_ONLY)
    for _ in range(2):
        with pytest.raises(TaskFailed):
            rdd.collect()
    rdd.unpersist()


def test_user_functions_still_work_when_guarded(ctx):
    """Guarding changes nothing for functions that do not raise StopIteration."""
    rdd = ctx.parallelize(range(10), 3)
    assert rdd.map(lambda x: x * 2).filter(lambda x: x % 3).sort_by(lambda x: -x).collect() == \
        [16, 14, 10, 8, 4, 2]
    assert rdd.map(lambda x: (x % 2, x)).reduce_by_key(add).sort_by_key().collect() == \
        [(0, 20), (1, 25)]


def test_fail_on_stopiteration_leaves_builtins_alone():
    """Builtins (operator.add, str.split, int) stay unwrapped and run at C speed."""
    assert fail_on_stopiteration(add) is add
    assert fail_on_stopiteration(str.split) is str.split
    assert fail_on_stopiteration(int) is int


def test_fail_on_stopiteration_wraps_once():
    """Wrapping a wrapped function returns it unchanged; unwrapped() gives the original."""
    once = fail_on_stopiteration(stop_always)
    assert fail_on_stopiteration(once) is once
    assert unwrapped(once) is stop_always
    assert once.__name__ == "stop_always"


def test_partitioner_equality_sees_through_the_guard():
    """HashPartitioners over the same user function are equal, guarded or not."""
    def by_parity(k):
        return k % 2
    assert HashPartitioner(2, fail_on_stopiteration(by_parity)) == HashPartitioner(2, by_parity)


def test_partition_by_twice_with_same_function_does_not_shuffle_again(ctx):
    """partition_by with an equal partitioner returns the same RDD, as before guarding."""
    def by_parity(k):
        return k % 2
    once = ctx.parallelize([(1, 1), (2, 2)]).partition_by(2, by_parity)
    assert once.partition_by(2, by_parity) is once


def test_foreach_partition_runs_a_generator_function_to_its_end(ctx, tmp_path):
    """A generator function given to foreach_partition is iterated, as in PySpark."""
    marks = str(tmp_path)

    def touch_each(records):
        for x in records:
            open(f"{marks}/{x}", "w").close()
            yield x

    ctx.parallelize([1, 2, 3], 2).foreach_partition(touch_each)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1", "2", "3"]


@pytest.mark.parametrize("method, function", [
    ("map", stop_at_three), ("filter", stop_at_three), ("flat_map", stop_always),
    ("key_by", stop_at_three), ("sort_by", stop_at_three)])
def test_stop_iteration_error_names_the_user_function(ctx, method, function):
    """The failure names the user's own function and its file, not a Vega wrapper."""
    with pytest.raises(TaskFailed) as info:
        getattr(ctx.parallelize([1, 2, 3, 4], 2), method)(function).collect()
    assert info.value.message.startswith(
        f"Caught StopIteration thrown from user's code; failing the task: {function.__name__} "
        f"({__file__}:")


def test_map_values_and_flat_map_values_fail_on_stop_iteration(ctx):
    """The pair pipeline's generators turn StopIteration into the same explained failure."""
    pairs = ctx.parallelize([("a", 3)])
    for run in (lambda: pairs.map_values(stop_at_three).collect(),
                lambda: pairs.flat_map_values(stop_always).collect()):
        with pytest.raises(TaskFailed) as info:
            run()
        assert info.value.error_type == "StopIterationInUserCode"


def test_map_with_builtin_next_still_fails_on_stop_iteration(ctx):
    """``map(next)`` is a builtin that raises StopIteration: never run by the builtin map."""
    rdd = ctx.parallelize([[1], [], [3]], 1).map(iter)
    with pytest.raises(TaskFailed) as info:
        rdd.map(next).collect()
    assert info.value.error_type == "StopIterationInUserCode"


def test_functions_that_pack_values_and_str_methods_give_the_same_records(ctx):
    """The fast path (builtin map/filter) for inert lambdas and str methods: same results."""
    lines = ctx.parallelize(["a b", "", "c a"], 2)
    assert lines.flat_map(str.split).map(lambda w: (w, 1)).collect() == [
        ("a", 1), ("b", 1), ("c", 1), ("a", 1)]
    assert lines.flat_map(str.split).map(lambda w: ("k", w)).collect() == [
        ("k", "a"), ("k", "b"), ("k", "c"), ("k", "a")]
    assert lines.map(lambda w: (w, w)).collect() == [("a b", "a b"), ("", ""), ("c a", "c a")]
    assert lines.filter(lambda line: line).collect() == ["a b", "c a"]
    assert lines.map(str.upper).collect() == ["A B", "", "C A"]


@pytest.mark.parametrize("function, expected", [
    (lambda w: (w, 1), True), (lambda v: [v, None], True), (str.split, True), (bytes.strip, True),
    (lambda i: (i % 3, i), False), (lambda kv: kv[0], False), (next, False), (len, False),
    (list, False), (lambda x: x.attr, False), (fail_on_stopiteration(stop_always), True)])
def test_which_functions_the_builtin_map_may_call(function, expected):
    from vega_runtime.user_code import cannot_stop_iteration

    assert cannot_stop_iteration(function) is expected


#: the signals Vega's drivers and executors handle in Python
HANDLED_SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1]


def start_and_terminate(_):
    """A task: start processes and SIGTERM each one at once, as a pool's ``terminate()``
    may a worker it has just forked; how each one ended."""
    forking = multiprocessing.get_context("fork")
    processes = [forking.Process(target=time.sleep, args=(1,)) for _ in range(10)]
    for process in processes:
        process.start()
        process.terminate()
    for process in processes:
        process.join()
    return [process.exitcode for process in processes]


def test_processes_a_task_starts_end_on_sigterm_at_once(ctx):
    """A process forked in a task inherited its executor's SIGTERM handler (on ``local``,
    the driver's ``DriverExit``): a SIGTERM that came as it started was lost (1 in 2 on a
    cluster) or ended it with code 143, and ``with multiprocessing.Pool(2)`` hung a task
    in one run of five (``terminate()`` waited for a worker that never ended).  It ends
    by the signal, as a plain Python process's child does."""
    codes = ctx.parallelize(range(2), 2).map(start_and_terminate).collect()
    assert codes == [[-signal.SIGTERM] * 10] * 2


def disposition(signum):
    """What this process does on ``signum``: ``SIG_DFL``, ``SIG_IGN`` or its handler's name."""
    handler = signal.getsignal(signum)
    return getattr(handler, "name", None) or getattr(handler, "__qualname__", repr(handler))


def use_child_processes(values):
    """A task that uses processes as user code does: a pool, a process pool executor, a
    command; and the signal dispositions its pool's workers have."""
    values = list(values)
    with multiprocessing.Pool(2) as pool:
        negated = pool.map(neg, values)
        dispositions = pool.map(disposition, HANDLED_SIGNALS)
    with ProcessPoolExecutor(2) as executor:
        restored = list(executor.map(abs, negated))
    echoed = subprocess.run(["echo", *map(str, values)], capture_output=True, text=True,
                            check=True).stdout.split()
    yield negated, restored, echoed, dispositions


def test_pools_and_commands_in_tasks_work_as_in_a_plain_process(ctx):
    """``with Pool(2)``, ``ProcessPoolExecutor`` and ``subprocess.run`` in tasks, job after
    job: their workers have the default action for the signals Vega handles."""
    for _ in range(3):
        assert ctx.parallelize(range(4), 2).map_partitions(use_child_processes).collect() == [
            ([0, -1], [0, 1], ["0", "1"], ["SIG_DFL"] * 3),
            ([-2, -3], [2, 3], ["2", "3"], ["SIG_DFL"] * 3)]
