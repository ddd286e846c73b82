"""Vega in a notebook: IPython's own shell (what a Jupyter kernel runs) in a process of its
own, and what a notebook does to a Context that a script does not.

A cell that fails shows the user's frames and the error, not the engine's frames under
them, and a task's traceback shows the cell's lines; Ctrl-C in the middle of a job cancels
it, says so, and the next cell's job runs, a second Ctrl-C included; a cell that makes a
second Context while one runs is told of it, and the earlier cells' RDDs, accumulators and
broadcasts either work with it as they should or are refused, never mistaken for its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import traceback
import warnings

import pytest

from proc_helpers import REPO, clean_env, vega, write_job
from vega_runtime import Context
from vega_runtime.errors import (ContextMismatch, ContextStoppedError, MultipleContextsWarning,
                                 TaskFailed)

VEGA_DIR = os.path.join(REPO, "vega_runtime", "")

#: Runs each cell given on the command line in IPython's shell, as a notebook kernel does
#: (IPython's own traceback printer, a history thread already running), output on stdout.
#: A cell ``!interrupt MARKER`` arms a thread that sends this process SIGINT (Ctrl-C, what a
#: notebook's interrupt button sends the kernel) once the file MARKER exists.
IPYTHON_RUNNER = textwrap.dedent("""
    import os, signal, sys, threading, time
    from IPython.core.interactiveshell import InteractiveShell

    def interrupt_when(marker):
        deadline = time.monotonic() + 60
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    shell = InteractiveShell.instance(colors="nocolor")
    for cell in sys.argv[1:]:
        if cell.startswith("!interrupt "):
            threading.Thread(target=interrupt_when, args=(cell.split()[1],), daemon=True).start()
            continue
        print("== cell", flush=True)
        shell.run_cell(cell, store_history=True)  # as a kernel runs a cell: In[N]
        sys.stdout.flush()
""")


def run_cells(*cells: str, timeout: float = 120) -> str:
    """What IPython prints running ``cells`` one after the other (escape codes removed)."""
    with tempfile.TemporaryDirectory() as profiles:  # IPython's history, not the user's
        done = subprocess.run([sys.executable, "-c", IPYTHON_RUNNER, *cells], cwd=REPO,
                              env=clean_env(PYTHONPATH=REPO, IPYTHONDIR=profiles),
                              capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)


def vega_frames(tb) -> list:
    """The functions of ``tb``'s frames that are Vega's own."""
    return [f.name for f in traceback.extract_tb(tb) if f.filename.startswith(VEGA_DIR)]


def test_a_failed_job_raises_from_the_users_call_without_vegas_frames_under_it():
    """A job's TaskFailed (and any VegaError) leaves the API with the user's frames: the one
    frame of Vega's left is the public method's entry, whatever ran beneath it."""
    with Context(master="local", app_name="tb") as ctx:
        with pytest.raises(TaskFailed) as failed:
            ctx.parallelize(range(4), 2).map(lambda x: 1 // (x - 3)).collect()
        assert vega_frames(failed.value.__traceback__) == ["call"]
        assert "ZeroDivisionError" in str(failed.value)
    with pytest.raises(ContextStoppedError) as stopped:
        ctx.parallelize([1]).count()
    assert vega_frames(stopped.value.__traceback__) == ["call"]


def test_a_failing_cell_shows_the_users_frames_and_the_error_not_the_engines():
    """In IPython's traceback of a cell whose job failed: the cell's line, the user's function
    and the error, no page of the scheduler's frames."""
    out = run_cells(
        "from vega_runtime import Context\nctx = Context(master='local[2]')",
        "def invert(x):\n    return 1 / (x - 3)\n"
        "ctx.parallelize(range(5), 2).map(invert).collect()",
        "ctx.stop()")
    assert "----> 3 ctx.parallelize(range(5), 2).map(invert).collect()" in out
    assert "TaskFailed: task 1 of stage 0" in out
    assert 'line 2, in invert' in out and "ZeroDivisionError: division by zero" in out
    for internal in ("rdd/actions.py", "context.py", "scheduler/runner.py"):
        assert internal not in out, out


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_ctrl_c_in_a_cell_cancels_its_job_says_so_and_the_next_cell_runs(tmp_path, master):
    """Ctrl-C (a notebook's interrupt) while a job runs: KeyboardInterrupt naming the job it
    cancelled, none of the driver's waiting frames, and the next cell's job runs at once."""
    marker = tmp_path / "started"
    out = run_cells(
        f"from vega_runtime import Context\nimport time\nctx = Context(master={master!r})",
        f"!interrupt {marker}",
        f"ctx.parallelize(range(2), 2).map(lambda x: open({str(marker)!r}, 'a').close()"
        " or time.sleep(120)).collect()",
        "print('next job:', ctx.parallelize(range(10), 2).sum())",
        "ctx.stop()")
    assert "KeyboardInterrupt: job 0 cancelled; its running tasks were stopped" in out, out
    for internal in ("scheduler/runner.py", "selectors.py", "threading.py", "queue.py"):
        assert internal not in out, out
    assert "next job: 45" in out


def test_a_context_made_while_another_runs_warns_where_the_user_made_it():
    """Re-running a notebook cell that creates a Context: a second one starts (its own
    executors; the first keeps its own), and the user is told so at the cell's line, with
    what to use instead; PySpark refuses it ("Cannot run multiple SparkContexts at once")."""
    with Context(master="local", app_name="first") as first:
        with pytest.warns(MultipleContextsWarning) as warned:
            second = Context(master="local", app_name="second")
        second.stop()
    assert len(warned) == 1 and warned[0].filename == __file__
    assert str(warned[0].message) == (
        f"another Context is running in this process ({first.application_id}, master local, "
        "app 'first'): this one starts executors of its own, and that one keeps its until its "
        "stop(). Context.get_or_create() gives the running one; stop() it before making "
        "another (PySpark refuses a second SparkContext)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", MultipleContextsWarning)
        Context(master="local", app_name="third").stop()  # the others are stopped: no warning


def test_submit_debug_still_shows_the_engines_frames_the_api_left_out(tmp_path):
    """``vega submit --debug``: the whole traceback, the frames under the API's entry that a
    notebook does not show included; without it, the user's frames only."""
    job = write_job(tmp_path, "fails.py", """
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize(range(4), 2).map(lambda x: 1 // (x - 3)).collect()
    """)
    debug = vega("submit", "--master", "local", "--debug", job)
    plain = vega("submit", "--master", "local", job)
    assert debug.returncode == plain.returncode == 1
    assert "rdd/actions.py" in debug.stderr and "scheduler/runner.py" in debug.stderr
    assert "rdd/actions.py" not in plain.stderr
    assert 'fails.py", line 3, in <lambda>' in plain.stderr


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_a_task_traceback_shows_the_line_of_a_cell_the_executors_never_saw(master):
    """A function defined in a cell after the executors started fails: its traceback shows
    the cell's line, though a cell is no file an executor can read (the cell's lines travel
    with the function's code); before, only 'File "<ipython-input-3-...>", line 2'."""
    out = run_cells(
        f"from vega_runtime import Context\nctx = Context(master={master!r})",
        "ctx.parallelize(range(4), 2).count()",
        "def invert(x):\n    return 1 / (x - 3)  # the failing line\n"
        "ctx.parallelize(range(5), 2).map(invert).collect()",
        "ctx.stop()")
    assert re.search(r'File "[^"]+", line 2, in invert\n'
                     r'    return 1 / \(x - 3\)  # the failing line\n', out), out


def test_rdds_of_two_contexts_are_not_combined_and_a_stopped_contexts_rdd_says_whose_it_is():
    """A notebook cell run again makes a second Context; an RDD of the first joined, unioned
    or zipped with one of the second gave wrong records silently (both Contexts number their
    RDDs and shuffles from 0: the union of a cached [1, 2, 3] and [10, 20, 30] was
    [1, 2, 3, 1, 2, 3]). Refused now, naming both Contexts; and an RDD of a stopped Context
    says which Context it belongs to."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleContextsWarning)
        first = Context(master="local", app_name="a")
        second = Context(master="local", app_name="b")
    try:
        old = first.parallelize([1, 2, 3], 1).cache()
        new = second.parallelize([10, 20, 30], 1).cache()
        assert (old.sum(), new.sum()) == (6, 60)
        for combine in (lambda: old.union(new), lambda: new.join(old.map(lambda x: (x, x))),
                        lambda: second.union([new, old]), lambda: new.cartesian(old),
                        lambda: old.zip(new), lambda: second.run_job(old, list)):
            with pytest.raises(ContextMismatch) as info:
                combine()
            assert "belongs to Context " in str(info.value)
        with pytest.raises(ContextMismatch) as info:
            old.union(new)
        assert str(info.value) == (
            f"cannot use RDDs of two Contexts together: {new!r} belongs to Context "
            f"{second.application_id}, not to {first.application_id}: make a "
            "job's RDDs from one Context (a notebook cell run again makes a new Context: run "
            "the cells that made the older RDDs again, or make the Context with "
            "Context.get_or_create())")
    finally:
        first.stop()
    assert new.union(second.parallelize([4], 1)).sum() == 64
    with pytest.raises(ContextStoppedError) as stopped:
        old.count()
    assert str(stopped.value) == (
        f"the Context {first.application_id} has been stopped; create a new Context to run "
        "more jobs, and make the RDDs again from it (an RDD belongs to the Context that made it)")
    second.stop()


def test_a_task_adds_to_the_accumulator_it_captured_whatever_context_runs_it():
    """A notebook's earlier cell made an accumulator; the Context was made again and a job
    of the new one adds to it: the add reaches that accumulator, as in PySpark (whose ids are
    unique in the process); it went to the new Context's accumulator of the same id (both
    Contexts numbered from 0), leaving the captured one at 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleContextsWarning)
        first = Context(master="local", app_name="a")
        second = Context(master="local", app_name="b")
    try:
        old = first.accumulator(0)
        new = second.accumulator(0)
        second.parallelize(range(4), 2).foreach(lambda x: old.add(x))
        assert (old.value, new.value) == (6, 0)
        second.parallelize(range(4), 2).foreach(lambda x: new.add(1))
        assert (old.value, new.value) == (6, 4)
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("master", ["local", "local[2]"])
def test_a_task_reads_the_broadcast_it_captured_whatever_context_runs_it(master):
    """A broadcast of the earlier cells' Context, read by a job of the Context made again:
    its own value; it was the new Context's broadcast of the same number when that one had
    been read first by the same executors (both numbered from 0), a wrong value silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleContextsWarning)
        first, second = Context(master=master, app_name="a"), Context(master=master, app_name="b")
    try:
        old = first.broadcast([1, 2, 3])
        new = second.broadcast(["x"])
        assert second.parallelize([0], 1).map(lambda _: new.value).collect() == [["x"]]
        assert second.parallelize([0], 1).map(lambda _: old.value).collect() == [[1, 2, 3]]
    finally:
        first.stop()
        second.stop()


SECOND_CTRL_C_JOB = """
    import os, signal, sys, time
    from vega_runtime import Context
    from vega_runtime.scheduler.listener import JobListener

    class CtrlCTwice(JobListener):
        '''Ctrl-C once the job's first task started, and again while the job is being
        cancelled (an impatient second press of a notebook's interrupt button).'''
        first = second = False

        def on_task_start(self, *args, **kwargs):
            if not self.first:
                self.first = True
                os.kill(os.getpid(), signal.SIGINT)

        def on_job_end(self, job_id, error):
            if isinstance(error, KeyboardInterrupt) and not self.second:
                self.second = True
                os.kill(os.getpid(), signal.SIGINT)

    with Context(master=sys.argv[1], listeners=[CtrlCTwice()]) as ctx:
        try:
            ctx.parallelize(range(2), 2).map(lambda x: time.sleep(60)).collect()
        except KeyboardInterrupt as exc:
            print("interrupted:", exc)
        started = time.monotonic()
        print("next job:", ctx.parallelize(range(10), 2).sum(), time.monotonic() - started < 20)
"""


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_a_second_ctrl_c_while_the_job_is_cancelled_neither_hides_nor_stops_the_cancel(
        tmp_path, master):
    """Ctrl-C pressed again while the first one's cancel runs (killing the job's tasks): the
    cancel ends, the user is told 'job N cancelled', and the next job runs at once. The
    second Ctrl-C used to cut the cancel short: a bare KeyboardInterrupt, and, when it came
    before the tasks' kill, the next job waited for the cancelled tasks to end (58 s in a
    kernel here)."""
    job = write_job(tmp_path, "twice.py", SECOND_CTRL_C_JOB)
    done = subprocess.run([sys.executable, job, master], cwd=REPO, env=clean_env(PYTHONPATH=REPO),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "interrupted: job 0 cancelled; its running tasks were stopped", "next job: 45 True"]


INTERRUPTED_START_JOB = """
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    from proc_helpers import descendants
    from vega_runtime import Context
    from vega_runtime.scheduler.listener import JobListener

    class CtrlCAtStart(JobListener):
        def on_application_start(self, app_id, ui_link):
            os.kill(os.getpid(), signal.SIGINT)

    try:
        Context(master=sys.argv[1], listeners=[CtrlCAtStart()])
    except KeyboardInterrupt as exc:
        print("interrupted:", exc)
    print("left:", Context.get_active(), descendants(os.getpid()))
    with Context(master="local") as ctx:
        print("next:", ctx.parallelize(range(10), 2).sum())
"""


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_ctrl_c_while_a_context_starts_says_so_and_leaves_nothing_running(tmp_path, master):
    """Ctrl-C in a cell while its Context starts (a local cluster takes a second or so):
    the KeyboardInterrupt says what happened (it was bare), nothing the start began is left
    running, and a Context made next works."""
    job = write_job(tmp_path, "start.py", INTERRUPTED_START_JOB)
    done = subprocess.run([sys.executable, job, master, os.path.join(REPO, "tests")], cwd=REPO,
                          env=clean_env(PYTHONPATH=REPO), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "interrupted: the Context's start was interrupted; what it had started is stopped",
        "left: None []", "next: 45"]


def test_call_sites_in_a_notebook_name_the_cell_as_ipython_does():
    """An RDD made in a cell, a job run from one: their call sites (a failed task's message,
    stage names, progress lines, the web UI) name the cell as IPython's traceback does,
    ``In[2]``, not the name of the cell's code ('<ipython-input-2-4a1b...>' here, a kernel's
    '/tmp/ipykernel_1234/2785136391.py')."""
    out = run_cells(
        "from vega_runtime import Context\nctx = Context(master='local')",
        "rdd = ctx.parallelize(range(5), 2)\n"
        "print(repr(rdd.map(lambda x: 1 // (x - 3))))\n"
        "rdd.map(lambda x: 1 // (x - 3)).collect()",
        "ctx.stop()")
    assert "PythonRDD" not in out and "MapPartitionsRDD[1] at In[2]:2 in <module>" in out, out
    assert "(RDD created at In[2]:3 in <module>) failed once" in out, out
