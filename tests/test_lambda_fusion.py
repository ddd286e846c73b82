"""A lambda mapped before reduce_by_key(add) or group_by_key runs fused into the map
side's combine loop (lambda_fusion): the same results, errors and traceback lines as
calling it, and a lambda whose file no longer holds its source is called as before.

Each fused lambda is checked against an unfused twin: the same expression in a lambda
with an unused default parameter (never fused; ``map`` calls it with one argument)."""

from __future__ import annotations

import re
from operator import add

import pytest

from vega_runtime import Context
from vega_runtime.errors import TaskFailed
from vega_runtime.lambda_fusion import POSITIONS, fused_loop, lambda_source

SCALE = 10

#: The tests that a lambda is fused: before Python 3.11 (no code positions) none is.
fuses = pytest.mark.skipif(not POSITIONS, reason="Python 3.11+ fuses lambdas (PEP 657 "
                           "code positions); before it, nothing is fused")


def grouped(rdd):
    return sorted((k, list(vs)) for k, vs in rdd.collect())


def results(rdd, fold):
    if fold == "add":
        return sorted(rdd.reduce_by_key(add, 3).collect())
    return grouped(rdd.group_by_key(3))


def twins():
    """name -> (fused lambda, unfused twin)."""
    k, r = 7, range(3)
    return {
        "closure": (lambda i: (i % k, i), lambda i, _=0: (i % k, i)),
        "global": (lambda i: (i % SCALE, i * SCALE), lambda i, _=0: (i % SCALE, i * SCALE)),
        "nested comprehensions": (
            lambda i: (i % 3, sum([a * b for a in r for b in [c + i for c in r]])),
            lambda i, _=0: (i % 3, sum([a * b for a in r for b in [c + i for c in r]]))),
        "walrus": (lambda i: ((y := i % k), (y, i)), lambda i, _=0: ((y := i % k), (y, i))),
        "strings": (lambda i: (str(i % 5) * 2, [i]), lambda i, _=0: (str(i % 5) * 2, [i])),
        "two on one line": (lambda i: (i % 4, 1.5 * i), lambda i, _=0: (i % 4, 1.5 * i)),
    }


@fuses
@pytest.mark.parametrize("ctx", ["local[2]"], indirect=True)
@pytest.mark.parametrize("fold", ["add", "group"])
def test_fused_and_called_lambdas_give_the_same_results(ctx, fold):
    numbers = ctx.parallelize(range(1000), 4)
    for name, (fused, called) in twins().items():
        assert fused_loop(fused, lambda_source(fused), fold) is not None, name
        assert fused_loop(called, lambda_source(called), fold) is None, name
        got = results(numbers.map(fused), fold)
        assert got == results(numbers.map(called), fold), name
        expected: dict = {}
        for i in range(1000):
            key, value = fused(i)
            expected.setdefault(key, []).append(value)
        if fold == "add":
            expected = {key: sum(values[1:], values[0]) if not isinstance(values[0], list)
                        else sum(values, []) for key, values in expected.items()}
            assert dict(got) == expected, name
        else:  # values in partition order, record order within each
            assert dict(got) == expected, name


def last_frame(failure: TaskFailed) -> tuple:
    """The innermost frame of a task's traceback: file, line, function and source line."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n +(.+)\n',
                        failure.remote_traceback)
    return frames[-1]


@pytest.mark.parametrize("ctx", ["local[2]"], indirect=True)
@pytest.mark.parametrize("fold", ["add", "group"])
def test_errors_in_the_fused_expression_fail_as_calling_it(ctx, fold):
    """The same error type and message, the same innermost traceback line (the lambda's);
    a StopIteration fails the task as map's does."""
    numbers = ctx.parallelize(range(20), 2)
    fused, called = lambda i: (1 // (i - 13), i), lambda i, _=0: (1 // (i - 13), i)
    stop, stop_called = (lambda i: (next(iter(())) if i == 5 else i, i),
                         lambda i, _=0: (next(iter(())) if i == 5 else i, i))
    failures = {}
    for name, f in {"fused": fused, "called": called, "stop": stop,
                    "stop_called": stop_called}.items():
        with pytest.raises(TaskFailed) as info:
            results(numbers.map(f), fold)
        failures[name] = info.value
    assert failures["fused"].error_type == failures["called"].error_type == "ZeroDivisionError"
    assert failures["fused"].message == failures["called"].message
    here = __file__
    line = str(fused.__code__.co_firstlineno)
    assert last_frame(failures["fused"])[:3] == (here, line, "<lambda>")
    assert last_frame(failures["fused"]) == last_frame(failures["called"])
    for name, f in (("stop", stop), ("stop_called", stop_called)):
        assert failures[name].error_type == "StopIterationInUserCode", name
        assert failures[name].message == (
            "Caught StopIteration thrown from user's code; failing the task: "
            "test_errors_in_the_fused_expression_fail_as_calling_it.<locals>.<lambda> ("
            f"{here}:{f.__code__.co_firstlineno}) raised StopIteration(). Inside a function "
            "given to Vega a StopIteration would silently end its partition early; raise "
            "another exception or return a value (call next(it, default) instead of "
            "next(it)).")


EDITED = """
SHIFT = 1000


def pairs(keys):
    return lambda i: (i % keys, i + SHIFT)
"""


@fuses
@pytest.mark.parametrize("ctx", ["local[2]"], indirect=True)
def test_lambda_of_a_file_edited_after_import_is_called(ctx, tmp_path):
    """The driver reads the edited file, whose text is no longer the lambda's body: the
    executor refuses to fuse it and calls the lambda (the code it was given)."""
    path = tmp_path / "edited_job.py"
    path.write_text(EDITED)
    namespace = {"__name__": "edited_job"}  # not importable: shipped by value
    exec(compile(EDITED, str(path), "exec"), namespace)
    f = namespace["pairs"](3)
    path.write_text(EDITED.replace("i + SHIFT", "i - SHIFT"))
    assert lambda_source(f)[2] == "(i % keys, i - SHIFT)"
    assert fused_loop(f, lambda_source(f), "add") is None
    numbers = ctx.parallelize(range(30), 2)
    assert sorted(numbers.map(f).reduce_by_key(add).collect()) == [
        (k, sum(i + 1000 for i in range(k, 30, 3))) for k in range(3)]
    assert grouped(numbers.map(f).group_by_key()) == [
        (k, [i + 1000 for i in range(k, 30, 3)]) for k in range(3)]


@fuses
def test_fused_on_a_local_cluster():
    """Executors of a local cluster (other processes, their own workers) fuse the same way."""
    keys = 11
    summing, grouping = (lambda i: (i % keys, i)), (lambda i: (i % keys, -i))
    failing = lambda i: (1 // (i - 4000), i)  # noqa: E731
    for f in (summing, grouping, failing):
        assert fused_loop(f, lambda_source(f), "add") is not None
    with Context(master="local-cluster[2,1]", app_name="fusion") as ctx:
        numbers = ctx.parallelize(range(5000), 4)
        summed = numbers.map(summing).reduce_by_key(add).collect()
        grouped_ = grouped(numbers.map(grouping).group_by_key(2))
        with pytest.raises(TaskFailed) as info:
            numbers.map(failing).reduce_by_key(add).collect()
    assert sorted(summed) == [(k, sum(range(k, 5000, keys))) for k in range(keys)]
    assert grouped_ == [(k, [-i for i in range(k, 5000, keys)]) for k in range(keys)]
    assert info.value.error_type == "ZeroDivisionError"
    assert last_frame(info.value) == (__file__, str(failing.__code__.co_firstlineno),
                                      "<lambda>",
                                      "failing = lambda i: (1 // (i - 4000), i)  # noqa: E731")


@pytest.mark.parametrize("ctx", ["local[2]"], indirect=True)
def test_reduce_of_a_fused_map_sums_as_calling_it(ctx):
    """rdd.map(lambda).reduce(add): the map's body summed in one loop per partition, the
    same exact sums (ints, floats in record order, strings), empty partitions skipped,
    a StopIteration failing the task."""
    numbers = ctx.parallelize(range(1000), 4)
    assert numbers.map(lambda i: i * 3 - 1).reduce(add) == sum(i * 3 - 1 for i in range(1000))
    assert numbers.map(lambda i: i * 3 - 1).reduce(lambda a, b: a + b) == 1497500
    floats = [i * 0.1 for i in range(1000)]
    parts = [floats[p * 250:(p + 1) * 250] for p in range(4)]
    got = numbers.map(lambda i: i * 0.1).reduce(add)
    assert got == sum([sum(part[1:], part[0]) for part in parts][1:],
                      sum(parts[0][1:], parts[0][0]))
    assert ctx.parallelize(range(3), 6).map(lambda i: str(i)).reduce(add) == "012"
    with pytest.raises(TaskFailed) as info:
        numbers.map(lambda i: next(iter(())) if i == 7 else i).reduce(add)
    assert info.value.error_type == "StopIterationInUserCode"
