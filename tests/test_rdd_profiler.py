"""PySpark's Python profiler (``vega.python.profile``, Spark's ``spark.python.profile``):
every task of a stage runs under cProfile and the stats add up per RDD on the driver,
shown, dumped, or shown at exit, as PySpark's ``SparkContext.show_profiles`` and
``dump_profiles`` do (PySpark's tests/test_profiler.py is the model; it imports Spark SQL,
so it cannot run against Vega as it is)."""

import io
import os
import pstats
import subprocess
import sys
from contextlib import redirect_stdout
from operator import add

import pytest

from vega_runtime import TaskContext
from vega_runtime.errors import PySparkRuntimeError
from vega_runtime.profiler import BasicProfiler

from proc_helpers import REPO, clean_env

MASTERS = ["local", "local[2]", "local-cluster[2,1]"]
PROFILE = {"vega.python.profile": True}


def heavy_key(x):
    return x % 3, x


def shown_profiles(ctx) -> str:
    """What ``ctx.show_profiles()`` prints (and, shown, they are not printed at exit)."""
    out = io.StringIO()
    with redirect_stdout(out):
        ctx.show_profiles()
    return out.getvalue()


def calls_of(stats, name):
    """How many times the function ``name`` was called, over every task profiled."""
    return sum(stat[1] for (_, _, function), stat in stats.stats.items() if function == name)


@pytest.mark.parametrize("master", MASTERS)
def test_each_rdd_a_stage_computes_gets_the_profile_of_all_its_tasks(fresh_ctx, master, tmp_path):
    ctx = fresh_ctx(master, conf=PROFILE)
    pairs = ctx.parallelize(range(30), 3).map(heavy_key)
    sums = pairs.reduce_by_key(add, 2)
    assert sorted(sums.collect()) == [(0, 135), (1, 145), (2, 155)]
    # the map side (its stage computes `pairs`) and the result side, in the order they ran
    ids = [entry[0] for entry in ctx.profiler_collector.profilers]
    assert ids[0] == pairs.id() and len(ids) == 2
    map_side = ctx.profiler_collector.profilers[0][1]
    assert calls_of(map_side.stats(), "heavy_key") == 30  # all three tasks' calls, once each
    shown = shown_profiles(ctx)
    assert [line for line in shown.splitlines() if line.startswith("Profile of")] \
        == [f"Profile of RDD<id={i}>" for i in ids]
    assert "heavy_key" in shown
    assert shown_profiles(ctx) == ""  # what was shown is not shown again
    pairs.count()  # the same RDD computed again: its profile grows
    assert calls_of(map_side.stats(), "heavy_key") == 60
    ctx.dump_profiles(str(tmp_path / "dumped"))
    assert sorted(os.listdir(tmp_path / "dumped")) == sorted(f"rdd_{i}.pstats" for i in ids)
    dumped = pstats.Stats(str(tmp_path / "dumped" / f"rdd_{pairs.id()}.pstats"))
    assert calls_of(dumped, "heavy_key") == 60


def flaky_square(x):
    if TaskContext.get().attempt_number() == 0 and x == 0:
        raise ValueError("first attempt fails")
    return x * x


@pytest.mark.parametrize("master", ["local[2,2]", "local-cluster[2,1]"])
def test_a_failed_attempt_adds_nothing_to_the_profile(fresh_ctx, master):
    """As with any accumulator, only the attempt that succeeds counts."""
    ctx = fresh_ctx(master, conf={**PROFILE, "vega.task.max_attempts": 2})
    squares = ctx.parallelize(range(10), 2).map(flaky_square)
    assert squares.sum() == 285
    (entry,) = ctx.profiler_collector.profilers
    assert calls_of(entry[1].stats(), "flaky_square") == 10
    assert "flaky_square" in shown_profiles(ctx)


class CountingProfiler(BasicProfiler):
    """A custom profiler (PySpark's developer API): its own ``show``."""

    def show(self, id):
        print(f"custom profile of RDD {id}: {calls_of(self.stats(), 'heavy_key')} calls")


def test_a_custom_profiler_class(fresh_ctx):
    ctx = fresh_ctx("local[2]", conf=PROFILE, profiler_cls=CountingProfiler)
    rdd = ctx.parallelize(range(8), 2).map(heavy_key)
    assert rdd.count() == 8
    assert shown_profiles(ctx) == f"custom profile of RDD {rdd.id()}: 8 calls\n"


def test_without_profiling_nothing_is_profiled_and_showing_says_how_to_turn_it_on(fresh_ctx):
    ctx = fresh_ctx("local[2]")
    assert ctx.parallelize(range(4), 2).map(heavy_key).count() == 4
    assert ctx.profiler_collector is None
    with pytest.raises(PySparkRuntimeError) as info:
        ctx.show_profiles()
    assert str(info.value).startswith("[INCORRECT_CONF_FOR_PROFILE] vega.python.profile")


JOB = """
import sys
from vega_runtime import Context
ctx = Context(master="local[2]", conf=dict(sys.argv[1:] and [sys.argv[1:]] or [],
                                           **{"vega.python.profile": True}))
ctx.parallelize(range(6), 2).map(abs).count()  # RDDs 0 and 1: the stage computes 1
"""


def test_profiles_are_shown_at_exit_or_dumped_where_set(tmp_path):
    """PySpark's behaviour at exit: shown on stdout, or written to spark.python.profile.dump."""
    run = subprocess.run([sys.executable, "-c", JOB], cwd=REPO, env=clean_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Profile of RDD<id=1>" in run.stdout and "{built-in method builtins.abs}" in run.stdout
    dump = tmp_path / "profiles"
    run = subprocess.run([sys.executable, "-c", JOB, "vega.python.profile.dump", str(dump)],
                         cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stdout) == (0, ""), run.stderr
    assert calls_of(pstats.Stats(str(dump / "rdd_1.pstats")), "<built-in method builtins.abs>") == 6
