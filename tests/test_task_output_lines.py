"""What tasks print, as ``vega submit`` shows it: whose lines get a task's prefix when the
driver's own threads print beside a task run in its process (``local``), and how a task's
partial lines, carriage returns and descriptors reach the terminal (a real process on each
local master; test_cli_submit_output.py has the rest)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from proc_helpers import LOCAL_MASTERS as MASTERS
from proc_helpers import REPO, clean_env, write_job

PREFIXED = re.compile(r"^\[localhost (?:exec-\d+|driver) \d+\.\d+\] (.*)$")


def payloads(text: str):
    """(plain lines, prefixed lines' payloads) of ``text``."""
    plain, tasks = [], []
    for line in text.split("\n")[:-1]:  # (not splitlines: U+2028 is no line's end)
        match = PREFIXED.match(line)
        (tasks.append(match.group(1)) if match else plain.append(line))
    return plain, tasks


SYNC = """
    import threading
    task_running = threading.Event()   # the task has printed its first line
    driver_printed = threading.Event()  # the driver's thread printed while the task ran
"""


def test_a_driver_thread_printing_while_a_task_runs_in_the_driver_is_not_prefixed(
        vega_cli, tmp_path):
    """On ``local`` a task swapped ``sys.stdout``/``stderr`` (and the root log handlers) for
    the whole driver process: a thread of the driver printing or logging while a task ran
    got that task's prefix.  Now only the task's thread, and the threads it starts, write
    as the task; the driver's thread prints plainly throughout the job."""
    write_job(tmp_path, "sync.py", SYNC)
    job = write_job(tmp_path, "driver_thread.py", """
        import logging, sys, threading
        import sync
        from vega_runtime import Context

        def task(x):
            print("task first")
            sync.task_running.set()
            assert sync.driver_printed.wait(30)
            print("task second", file=sys.stderr)
            logging.warning("task warning")
            started = threading.Thread(target=lambda: print("task's own thread"))
            started.start()
            started.join()
            return x

        stop = threading.Event()

        def chatter():
            count = 0
            while not stop.is_set():
                sys.stdout.write(f"driver tick {count}\\n")  # one write: print() writes the
                sys.stderr.write(f"driver err {count}\\n")  # newline apart, which another
                sys.stdout.flush()  # thread's print may come between
                count += 1
                if sync.task_running.is_set() and not sync.driver_printed.is_set():
                    logging.warning("driver warning")
                    sync.driver_printed.set()
                stop.wait(0.001)

        thread = threading.Thread(target=chatter)
        thread.start()
        with Context() as ctx:
            sys.stdout.write(f"{ctx.parallelize([1], 1).map(task).collect()}\\n")
        stop.set()
        thread.join()
    """)
    result = vega_cli("submit", "--master", "local", job)
    assert result.returncode == 0, result.stderr
    out_plain, out_tasks = payloads(result.stdout)
    err_plain, err_tasks = payloads(result.stderr)
    assert out_tasks == ["task first", "task's own thread"], result.stdout
    assert err_tasks == ["task second", "WARNING root: task warning"], result.stderr
    assert "[1]" in out_plain
    ticks = [line for line in out_plain if line.startswith("driver tick")]
    assert ticks == [f"driver tick {i}" for i in range(len(ticks))]
    assert [line for line in err_plain if "driver warning" in line] == [
        "driver warning"], result.stderr  # (Python's last resort: the root has no handler)
    assert len([line for line in err_plain if line.startswith("driver err")]) == len(ticks)


@pytest.mark.parametrize("master", [*MASTERS, "local-cluster[1,1]"])
def test_a_tasks_line_is_printed_whole_once_ended(vega_cli, tmp_path, master):
    """A line a task printed in pieces, flushing each (``print("Working...", end="",
    flush=True)`` then ``print("done")``), came as two prefixed lines; a tqdm-style
    progress bar's ``\\r`` updates as an empty line and a line per update; U+2028 or a form
    feed inside a line gave it a second prefix; ``print(f"step {i}", end="\\r")`` then
    ``print("done")`` came as one line whose carriage returns took its prefix off on a
    terminal.  Each is one line now, as a terminal shows it (a progress bar its last state,
    "done" written over "step 11"); a last line without its newline comes at the end."""
    job = write_job(tmp_path, "pieces.py", """
        import sys
        from vega_runtime import Context

        def emit(x):
            print("Working...", end="", flush=True)
            print("done")
            for step in range(5):
                print(f"\\r{step * 25:3d}%|{'#' * step:<4}|", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
            print("a\\u2028b\\x0cc")
            print("windows\\r")
            for step in range(12):
                print(f"step {step}", end="\\r")
            print("done")
            print("no newline at the end", end="")
            return x

        with Context() as ctx:
            ctx.parallelize([1], 1).map(emit).collect()
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 0, result.stderr
    out_plain, out_tasks = payloads(result.stdout.replace("127.0.0.1", "localhost"))
    err_plain, err_tasks = payloads(result.stderr.replace("127.0.0.1", "localhost"))
    assert out_tasks == ["Working...done", "a\u2028b\x0cc", "windows", "done 11",
                         "no newline at the end"]
    assert err_tasks == ["100%|####|"]


@pytest.mark.parametrize("master", MASTERS)
def test_libraries_that_need_a_tasks_descriptors_work(vega_cli, tmp_path, master):
    """``sys.stdout.fileno()`` in a task raised io.UnsupportedOperation, so did what calls
    it: ``faulthandler.enable()``, ``subprocess.run(cmd, stdout=sys.stdout)``. A task's
    streams now have the process's descriptors 1 and 2 (as a PySpark worker's have),
    which reach the terminal on local masters as a child process's output does; and
    ``sys.stdout.reconfigure(...)`` (AttributeError) is accepted, as a worker's is."""
    job = write_job(tmp_path, "descriptors.py", """
        import faulthandler, subprocess, sys
        from vega_runtime import Context

        def emit(x):
            faulthandler.enable()
            faulthandler.disable()
            subprocess.run(["echo", "from the child"], stdout=sys.stdout, check=True)
            sys.stdout.reconfigure(encoding="utf-8", line_buffering=True)
            print("fileno", sys.stdout.fileno(), sys.stderr.fileno(), sys.stdout.isatty())
            return x

        with Context() as ctx:
            ctx.parallelize([1], 1).map(emit).collect()
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 0, result.stderr
    assert payloads(result.stdout) == (["from the child"], ["fileno 1 2 False"])


@pytest.mark.parametrize("master", MASTERS)
def test_input_in_a_task_fails_at_once_while_the_drivers_stdin_stays_open(tmp_path, master):
    """``input()`` in a task read the driver's stdin (``vega submit`` at a terminal: the
    job hung, its prompt unseen, until the user typed a line). A task reads an empty
    stdin now, on ``local`` as in a forked executor: EOFError at once."""
    job = write_job(tmp_path, "asks.py", """
        from vega_runtime import Context

        def ask(x):
            try:
                return input("your answer? ")
            except EOFError as exc:
                return f"EOFError: {exc}"

        with Context() as ctx:
            print(ctx.parallelize([1], 1).map(ask).collect())
    """)
    read_end, write_end = os.pipe()  # a terminal's stdin: open, nothing typed
    try:
        result = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master",
                                 master, job], cwd=REPO, env=clean_env(), stdin=read_end,
                                capture_output=True, text=True, timeout=60)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert payloads(result.stdout) == (["['EOFError: EOF when reading a line']"],
                                       ["your answer? "])


def test_a_jobs_logging_basic_config_is_the_drivers_logging(vega_cli, tmp_path):
    """``vega submit`` configured the root logger before running the job, so the job's
    ``logging.basicConfig(level=logging.INFO, format=...)`` did nothing: its INFO records
    were dropped and its warnings printed as ``vega: WARNING ...``, unlike under ``python
    job.py`` or ``spark-submit``. Vega's own records keep their ``vega:`` form, once."""
    job = write_job(tmp_path, "logs_its_own.py", """
        import logging
        from vega_runtime import Context

        logging.basicConfig(level=logging.INFO, format="job %(levelname)s %(name)s: %(message)s")
        log = logging.getLogger("etl")

        def fails_once(x):
            from vega_runtime import TaskContext
            if TaskContext.get().attempt_number() == 0:
                raise ValueError("first try")
            logging.getLogger("vega_runtime.io").warning("one of Vega's, in a task")
            return x

        log.info("starting")
        with Context() as ctx:
            log.warning("rows: %d", sum(ctx.parallelize([3], 1).map(fails_once).collect()))
    """)
    result = vega_cli("submit", "--master", "local[1,2]", job)  # a task tried twice
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("job ")] == [
        "job INFO etl: starting", "job WARNING etl: rows: 3"], result.stderr
    assert [line for line in lines if "first try" in line and "WARNING" in line] == [
        "vega: WARNING task 0.0 (attempt 0) failed on exec-1: ValueError: first try"]
    assert payloads(result.stderr)[1] == ["WARNING vega_runtime.io: one of Vega's, in a task"], \
        result.stderr


def test_a_task_killed_with_its_job_keeps_its_prefix_for_its_last_output(vega_cli, tmp_path):
    """A task killed by a job's cancel prints its last line (one without its newline,
    forwarded as the task ends) after its job has ended: it came as ``[localhost exec-1
    task 0] ...``, the task id in place of its stage and partition, its job forgotten."""
    job = write_job(tmp_path, "cancelled.py", f"""
        import os, threading, time
        from vega_runtime import Context

        MARK = {str(tmp_path / "started")!r}

        def slow(x):
            print("before the cancel")
            print("the last, unended", end="")
            open(MARK, "w").close()
            time.sleep(60)
            return x

        with Context() as ctx:
            def cancel_once_started():
                while not os.path.exists(MARK):
                    time.sleep(0.05)
                ctx.cancel_all_jobs()
            threading.Thread(target=cancel_once_started).start()
            try:
                ctx.parallelize([1], 1).map(slow).collect()
            except Exception as exc:
                print(type(exc).__name__, flush=True)
            # the one executor runs this task once the killed one has ended
            print(ctx.parallelize([2], 1).map(lambda x: x + 1).collect())
    """)
    result = vega_cli("submit", "--master", "local[1]", job)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[localhost exec-1 0.0] before the cancel", "JobCancelled",
        "[localhost exec-1 0.0] the last, unended", "[3]"], result.stdout


def test_a_driver_redirect_across_a_tasks_end_leaves_the_drivers_prints_plain(vega_cli,
                                                                              tmp_path):
    """A driver thread's ``contextlib.redirect_stdout`` that began while a task ran on
    ``local`` and ended after it put the task's stream back as ``sys.stdout``: every print
    of the driver from then on came as ``[localhost driver task 0] ...``.  (What the task
    printed meanwhile went to the redirect then: the test below.)"""
    write_job(tmp_path, "sync.py", SYNC + "    task_done = threading.Event()\n")
    job = write_job(tmp_path, "redirects.py", """
        import contextlib, io, sys, threading
        import sync
        from vega_runtime import Context

        def task(x):
            print("task starts")
            sync.task_running.set()
            assert sync.driver_printed.wait(30)
            return x

        def redirect_across_the_task():
            assert sync.task_running.wait(30)
            with contextlib.redirect_stdout(io.StringIO()):
                sync.driver_printed.set()
                assert sync.task_done.wait(30)

        with Context() as ctx:
            thread = threading.Thread(target=redirect_across_the_task)
            thread.start()
            ctx.parallelize([1], 1).map(task).collect()
            sync.task_done.set()
            thread.join()
            print("after the first job")
            ctx.parallelize([1], 1).foreach(lambda _: print("the second job's task"))
            print("after the second job")
    """)
    result = vega_cli("submit", "--master", "local", job)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[localhost driver 0.0] task starts", "after the first job",
        "[localhost driver 1.0] the second job's task", "after the second job"]



def test_a_driver_threads_redirect_gets_its_own_prints_not_the_running_tasks(vega_cli,
                                                                              tmp_path):
    """On ``local`` a driver thread's ``contextlib.redirect_stdout`` begun while a job ran
    on another thread got the tasks' prints (``sys.stdout`` is one for the process), not
    the terminal with their prefix, as on ``local[N]``, whose tasks print in executors.
    Now the redirect takes its thread's prints only; one inside a task takes the task's.
    A redirect begun before a task and ended while it ran put the terminal back as
    ``sys.stdout``, for the task too: its later prints came without their prefix."""
    write_job(tmp_path, "sync.py", SYNC + "    second_running = threading.Event()\n"
                                          "    redirect_ended = threading.Event()\n")
    job = write_job(tmp_path, "thread_redirect.py", """
        import contextlib, io, threading
        import sync
        from vega_runtime import Context

        def task(x):
            print("task starts")
            sync.task_running.set()
            assert sync.driver_printed.wait(30)
            print("task prints while the driver redirects")
            with contextlib.redirect_stdout(io.StringIO()) as own:
                print("the task's own capture")
            print("task captured", repr(own.getvalue()))

        with Context() as ctx:
            job = threading.Thread(target=lambda: ctx.parallelize([1], 1).foreach(task))
            job.start()
            assert sync.task_running.wait(30)
            with contextlib.redirect_stdout(io.StringIO()) as captured:
                print("the driver's own line")
                sync.driver_printed.set()
                job.join()
                print("the driver's line after the job")
            print("driver captured", repr(captured.getvalue()))
            ctx.parallelize([1], 1).foreach(lambda _: print("the second job's task"))
            print("after the second job")

            def outlives_the_redirect(x):
                sync.second_running.set()
                assert sync.redirect_ended.wait(30)
                print("task after the driver's redirect ended")

            with contextlib.redirect_stdout(io.StringIO()) as before:
                job = threading.Thread(
                    target=lambda: ctx.parallelize([1], 1).foreach(outlives_the_redirect))
                job.start()
                assert sync.second_running.wait(30)
            print("driver after its redirect", repr(before.getvalue()))
            sync.redirect_ended.set()
            job.join()
            print("after the third job")
    """)
    result = vega_cli("submit", "--master", "local", job)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[localhost driver 0.0] task starts",
        "[localhost driver 0.0] task prints while the driver redirects",
        "[localhost driver 0.0] task captured \"the task's own capture\\n\"",
        "driver captured \"the driver's own line\\nthe driver's line after the job\\n\"",
        "[localhost driver 1.0] the second job's task", "after the second job",
        "driver after its redirect ''",
        "[localhost driver 2.0] task after the driver's redirect ended",
        "after the third job"], result.stdout


POOLED = """
    import multiprocessing

    def square(i):
        print(f"child {i} of the pool")
        return i * i

    def task(x):
        pool = multiprocessing.get_context("fork").Pool(2)
        squares = pool.map(square, range(4))
        pool.close()
        pool.join()
        print("pool result", squares)
        return sum(squares)
"""


@pytest.mark.parametrize("master", [*MASTERS, "local-cluster[1,1]"])
def test_a_multiprocessing_pools_children_print_as_child_processes(vega_cli, tmp_path, master):
    """A task's ``multiprocessing`` pool (forked, Linux's default) gave its workers the
    task's stream: on a cluster they wrote to the executor's connection to the driver
    beside the executor, which broke it (``executor exec-1 exited with code 0 while running
    task 0.0``, attempt after attempt, the job failed); on local masters their lines came
    prefixed as the task's, through the driver's printer or the executor's connection
    from another process.  A process forked in a task now writes to its descriptors, as a
    child process does (the terminal on local masters, the executor's log on a cluster)."""
    module = write_job(tmp_path, "pooled.py", POOLED)
    job = write_job(tmp_path, "pools.py", """
        import pooled
        from vega_runtime import Context

        with Context() as ctx:
            print(ctx.parallelize([1], 1).map(pooled.task).collect())
    """)
    result = vega_cli("submit", "--master", master, "--py-files", module, job)
    assert result.returncode == 0, result.stderr
    plain, tasks = payloads(result.stdout.replace("127.0.0.1", "localhost"))
    children = [] if master.startswith("local-cluster") else [
        f"child {i} of the pool" for i in range(4)]
    assert (sorted(plain), tasks) == (sorted(children + ["[14]"]),
                                      ["pool result [0, 1, 4, 9]"])
    assert "exited" not in result.stderr


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_a_task_killed_as_the_context_stops_shows_every_line_it_printed(vega_cli, tmp_path,
                                                                       master):
    """A job cancelled and the Context stopped at once: what its task had printed, and what
    it printed as it ended (a cleanup taking a moment, a last line without its newline),
    was lost where the stop closed the executors' connections unread (``local[N]`` read and
    dropped what was left; a cluster's driver closed each connection on the master's word
    that its executor had ended, or the worker killed it first).  Every line a task printed
    before the stop returned is shown."""
    cue = str(tmp_path / "printed")
    os.mkfifo(cue)
    job = write_job(tmp_path, "stopped.py", f"""
        import sys, threading, time
        from vega_runtime import Context

        def slow(x):
            for i in range(200):
                print("line", i)
            try:  # (entered before the cue: the kill that follows it lands inside)
                with open({cue!r}, "w") as fh:  # the driver cancels once it is closed
                    fh.write("printed")
                time.sleep(60)
            finally:  # a cleanup that takes a moment, run as the task is killed
                print("cleaning up")
                time.sleep(0.3)
                print("cleaned up", end="")
            return x

        ctx = Context()

        def run():
            ctx.set_job_group("slow", "cancelled as the Context stops")
            try:
                ctx.parallelize([1], 1).map(slow).collect()
            except Exception as exc:  # (one write: the task's lines may still come)
                sys.stdout.write(type(exc).__name__ + "\\n")

        job = threading.Thread(target=run)
        job.start()
        with open({cue!r}) as fh:
            fh.read()
        ctx.cancel_job_group("slow")
        job.join()
        ctx.stop()
        print("stopped", flush=True)
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 0, result.stderr
    plain, tasks = payloads(result.stdout.replace("127.0.0.1", "localhost"))
    assert plain == ["JobCancelled", "stopped"], result.stdout
    assert tasks == [f"line {i}" for i in range(200)] + ["cleaning up", "cleaned up"], \
        result.stdout


def test_a_cluster_task_killed_before_the_driver_took_in_its_start_keeps_its_prefix(
        vega_cli, tmp_path):
    """The driver kept a task's ``stage.partition`` for its output prefix from its launch,
    but dropped it when the task was killed before the job loop had taken in its start (the
    loop busy right after the launch, then a cancel): the task's last lines came as
    ``[localhost exec-1 task 0] ...``.  A task's lines carry its stage and partition from
    the moment it is sent to its end.  Here the loop is held between the launch of one map
    stage's task and the next stage's (whose data it pickles), until the task prints and
    the job is cancelled."""
    cue = str(tmp_path / "running")
    os.mkfifo(cue)
    job = write_job(tmp_path, "early.py", f"""
        import sys, time
        from vega_runtime import Context

        def slow(x):
            print("first")
            try:
                with open({cue!r}, "w") as fh:  # the driver cancels once it is closed
                    fh.write("running")
                time.sleep(60)
            finally:
                print("cleaning up")
            return x

        class CancelWhenPickled:
            \"\"\"Pickled by the job loop as it launches its stage, right after it sent
            the other stage's task: waits until that task runs, and cancels the job.\"\"\"
            armed = False

            def __reduce__(self):
                if CancelWhenPickled.armed:
                    CancelWhenPickled.armed = False
                    with open({cue!r}) as fh:
                        fh.read()
                    ctx.cancel_all_jobs()
                return (int, (0,))

        ctx = Context()
        first = ctx.parallelize([1], 1).map(slow).map(lambda x: (x, x)).reduce_by_key(max)
        second = ctx.parallelize([CancelWhenPickled()], 1).map(lambda x: (x, x)) \\
            .reduce_by_key(max)
        CancelWhenPickled.armed = True
        try:
            second.union(first).collect()
        except Exception as exc:  # (one write: the task's lines may still come)
            sys.stdout.write(type(exc).__name__ + "\\n")
        ctx.stop()
        print("stopped", flush=True)
    """)
    result = vega_cli("submit", "--master", "local-cluster[2,1]", job)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.replace("127.0.0.1", "localhost").splitlines()
    executor = "exec-2" if "[localhost exec-2 0.0] first" in lines else "exec-1"
    assert sorted(lines) == ["JobCancelled", f"[localhost {executor} 0.0] cleaning up",
                             f"[localhost {executor} 0.0] first", "stopped"], result.stdout


def test_a_tasks_streams_are_freed_with_it_not_left_to_the_cycle_collector():
    """Each stream of a task held a reference cycle (the stream and its ``buffer``), freed
    only by the cycle collector: on ``local``, whose tasks run in the driver's process, a
    job of 20,000 tiny tasks took 75-110 µs (CPU) a task more than without the capture, its
    tasks' io objects and their finalizers left to the collector; 0-4 µs since.  A task's
    streams are freed with it."""
    import gc
    import weakref

    from vega_runtime.logs import OutputCapture

    sent = []
    gc.disable()
    try:
        capture = OutputCapture(7, lambda *args: sent.append(args[1:]), per_thread=True)
        with capture:
            print("a line")
            sys.stderr.buffer.write(b"bytes, unended")
        streams = [weakref.ref(capture.out), weakref.ref(capture.err)]
        del capture
        assert [stream() for stream in streams] == [None, None]
    finally:
        gc.enable()
    assert sent == [("stdout", "a line\n"), ("stderr", "bytes, unended")]


def test_the_drivers_streams_are_its_own_again_after_each_local_job():
    """``local`` keeps its output routing installed from the first task of a task set to its
    last (installed and put back around each task, it was most of what the capture cost a
    tiny task): after a job, and after a failed one whose tasks left were dropped, the
    driver's ``sys.stdout``, ``sys.stderr`` and root log handlers are its own again."""
    import logging

    from vega_runtime import Context

    def own():
        return sys.stdout, sys.stderr, list(logging.getLogger().handlers)

    def fail_at_2(x):
        if x == 2:
            raise ValueError("two")
        return x

    before = own()
    with Context(master="local") as ctx:
        assert ctx.parallelize(range(6), 6).map(lambda x: x * 2).collect() == [0, 2, 4, 6, 8, 10]
        assert own() == before
        with pytest.raises(Exception, match="two"):
            ctx.parallelize(range(6), 6).map(fail_at_2).collect()
        assert own() == before
