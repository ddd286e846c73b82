"""``local[N]``'s executor processes: forked at the Context's first job (so they inherit what
the driver loaded for it), by a thread that outlives them, and dead with a SIGKILLed driver.

Real processes throughout: the drivers that are killed run as their own processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from proc_helpers import REPO, pid_alive, wait_for
from vega_runtime import serde


def test_executors_are_forked_at_the_first_job_not_before(fresh_ctx):
    """A Context that runs no job forks no executor; its first job forks all N."""
    idle = fresh_ctx("local[2]")
    assert idle.backend.processes == {}
    idle.stop()
    ctx = fresh_ctx("local[3]")
    assert ctx.backend.processes == {}
    assert ctx.parallelize([1], 1).count() == 1
    pids = [p.pid for p in ctx.backend.processes.values()]
    assert len(pids) == 3 and all(pid_alive(pid) for pid in pids)


def test_an_executor_that_exits_is_said_lost_by_its_exit_once(fresh_ctx, caplog):
    """A local[N] task that ends its executor (os._exit(7)): the job's error says how the
    process ended, as a cluster's does, and the loss is warned of once. Before: 'was lost
    (process exited or broke its connection (connection to exec-1 closed); its process
    exited with code 7)', warned twice (the backend's line with the pid, then the
    scheduler's)."""
    import re

    from vega_runtime.errors import TaskFailed

    ctx = fresh_ctx("local[2]")
    with pytest.raises(TaskFailed) as failed:
        ctx.parallelize(range(1), 1).map(lambda _: os._exit(7)).collect()
    assert re.fullmatch(r"executor exec-\d on localhost was lost \(its process exited with "
                        r"code 7\) while running task \d+\.0", failed.value.message), \
        failed.value.message
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and
              "lost" in r.getMessage()]
    assert warned == [failed.value.message], warned


def test_executors_forked_for_a_job_in_a_thread_outlive_the_thread(fresh_ctx):
    """A first job run in a thread of its own that then ends: its executors (tied to the
    thread that forked them) serve the next job, from the main thread, as the same
    processes."""
    ctx = fresh_ctx("local[2]")
    first = []
    thread = threading.Thread(target=lambda: first.append(
        sorted(set(ctx.parallelize(range(4), 2).map(lambda _: os.getpid()).collect()))))
    thread.start()
    thread.join(60)
    assert len(first) == 1 and len(first[0]) == 2
    again = sorted(set(ctx.parallelize(range(4), 2).map(lambda _: os.getpid()).collect()))
    assert again == first[0] == sorted(p.pid for p in ctx.backend.processes.values())


KILLED_DRIVER = """
import os, sys, threading
from vega_runtime import Context

started = sys.argv[1]

def hold_the_gil(x):
    open(os.path.join(started, str(os.getpid())), "w").close()
    return sum(range(10 ** 13))  # a C loop: no thread of the executor runs meanwhile

ctx = Context(master="local[2]")
job = lambda: ctx.parallelize(range(2), 2).map(hold_the_gil).collect()
if sys.argv[2] == "thread":
    threading.Thread(target=job).start()
else:
    job()
"""


@pytest.mark.parametrize("first_job_in", ["main", "thread"])
def test_executors_die_with_a_sigkilled_driver(tmp_path, first_job_in):
    """SIGKILL the driver while its executors run tasks that hold the GIL in C (so no
    executor thread can notice the closed connection): the kernel ends them
    (``PR_SET_PDEATHSIG``), whichever driver thread ran the job that forked them."""
    started = tmp_path / "started"
    started.mkdir()
    script = tmp_path / "driver.py"
    script.write_text(KILLED_DRIVER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    driver = subprocess.Popen([sys.executable, str(script), str(started), first_job_in], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    executors = []
    try:
        wait_for(lambda: len(os.listdir(started)) == 2, 60, "a task running on each executor")
        executors = [int(name) for name in os.listdir(started)]
        driver.kill()
        driver.wait(30)
        wait_for(lambda: not any(pid_alive(pid) for pid in executors), 30,
                 f"the executors {executors} to die with their driver")
    finally:
        driver.kill()
        driver.wait(30)
        for pid in executors:  # never leave a spinning executor behind, even on failure
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


PROBE = """
import os, sys

WATCHED = ("cloudpickle", "inspect", "dataclasses", "ast", "dis", "platform", "uuid", "ctypes",
           "tempfile", "shutil", "bz2", "lzma")


def loaded():
    return sorted(name for name in WATCHED if name in sys.modules
                  and not type(sys.modules[name]).__name__.startswith("_Lazy"))


def report(directory):
    # runs where a Probe is unpickled (an executor, reading its task's partition): what that
    # process has loaded, and where its cloudpickle module lives (a forked process shares
    # its parent's addresses)
    cloudpickle = sys.modules.get("cloudpickle")
    with open(os.path.join(directory, str(os.getpid())), "w") as out:
        out.write(repr((loaded(), cloudpickle and id(cloudpickle))))
    return 0


class Probe:
    def __init__(self, directory):
        self.directory = directory

    def __reduce__(self):
        return report, (self.directory,)
"""

PROBED_JOBS = """
import os, sys
from probe import Probe, loaded
from vega_runtime import Context

plain, lambdas = sys.argv[1:]
with Context(master="local[2]") as ctx:
    assert ctx.parallelize([Probe(plain)] * 2, 2).count() == 2
    print(loaded())
with Context(master="local[2]") as ctx:
    assert ctx.parallelize([Probe(lambdas)] * 2, 2).map(lambda x: x).count() == 2
    print(id(sys.modules["cloudpickle"]))
"""


def test_executors_load_cloudpickle_only_with_the_driver(tmp_path):
    """``count()`` ships Vega's own (importable) function with plain pickle: the driver and
    its executors load neither cloudpickle (with ``inspect``, ``ast``, ``dis``,
    ``dataclasses``, ``platform``, ``uuid``) nor ``ctypes``. A first job with a lambda
    loads cloudpickle in the driver before the executors fork: they have it from the driver
    (the same module object), not from an import of their own."""
    (tmp_path / "probe.py").write_text(PROBE)
    (tmp_path / "jobs.py").write_text(PROBED_JOBS)
    plain, lambdas = tmp_path / "plain", tmp_path / "lambdas"
    plain.mkdir()
    lambdas.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(tmp_path), REPO, os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, str(tmp_path / "jobs.py"), str(plain), str(lambdas)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    in_driver, cloudpickle_id = done.stdout.splitlines()
    assert in_driver == "[]"
    reports = [eval((plain / name).read_text()) for name in os.listdir(plain)]
    assert reports and all(report == ([], None) for report in reports), reports
    reports = [eval((lambdas / name).read_text()) for name in os.listdir(lambdas)]
    assert reports and all(report[1] == int(cloudpickle_id) for report in reports), reports


PLAIN_OR_CLOUDPICKLE = """
import operator, pickle, sys
from vega_runtime import serde

def job_function(x):
    return x

plain = serde.dumps_closure([operator.add, len], "library code")
print("cloudpickle" in sys.modules, pickle.loads(plain) == [operator.add, len])
by_value = serde.dumps_closure([operator.add, job_function], "the job's code")
print("cloudpickle" in sys.modules, b"job_function" in by_value, pickle.loads(by_value)[1](7))
"""


def test_job_code_is_pickled_plainly_until_it_needs_cloudpickle():
    """A closure of importable functions is pickled with plain pickle (cloudpickle is not
    even imported); one holding a function of ``__main__`` goes by value with cloudpickle,
    which plain pickle would send as a mere name."""
    done = subprocess.run([sys.executable, "-c", PLAIN_OR_CLOUDPICKLE], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False True", "True True 7"]


def test_plain_pickled_closures_unpickle_as_cloudpickle_would_have_them():
    """What plain pickle ships (importable functions, partials of them, the process's random
    generator by reference) reads back as what cloudpickle makes of it."""
    import functools
    import operator
    import pickle
    import random

    code = [functools.partial(operator.mul, 3), len, textwrap.dedent, random.random]
    plain = pickle.loads(serde.dumps_closure(code, "code"))
    assert plain[0](5) == 15 and plain[1:3] == [len, textwrap.dedent]
    assert plain[3].__self__ is random._inst  # this process's generator, not a copy


FROZEN_AT_EXIT = """
import atexit, gc
from vega_runtime import Context

at_start = gc.get_freeze_count()  # (not 0 on Python 3.12: it counts some objects of its own)
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > at_start))  # runs last
ctx = Context(master="local[2]")
print(ctx.parallelize([1, 2, 3]).count())
ctx.stop()
print("frozen after stop:", gc.get_freeze_count() > at_start)
"""


def test_exit_leaves_the_objects_of_a_process_with_a_context_to_the_os():
    """A process that started a Context skips interpreter exit's last garbage collection:
    after every Context's shutdown, at exit, its objects are frozen (``gc.freeze``); not
    before (a stopped Context leaves the program's garbage collection as it was)."""
    done = subprocess.run([sys.executable, "-c", FROZEN_AT_EXIT], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["3", "frozen after stop: False", "frozen at exit: True"]


def test_a_backend_with_nothing_running_waits_its_poll_timeout_instead_of_spinning(tmp_path):
    """poll(timeout) with no task running and none queued returns nothing after waiting the
    timeout, as a cluster backend's does: a job loop waiting on a job whose task was lost
    would otherwise call it again at once, spinning a core (seen at 90% CPU for 45 minutes)."""
    import time

    from vega_runtime.scheduler.local_backend import ProcessPoolBackend

    backend = ProcessPoolBackend(2, str(tmp_path), lambda *output: None, 1 << 20)
    try:
        started = time.monotonic()
        assert backend.poll(0.2) == []
        assert time.monotonic() - started >= 0.2
        assert backend.processes == {}  # (nothing queued: no executor forked for nothing)
    finally:
        backend.stop()


def _own_title_and_environment(_):
    """(In a task.) Its process's command line, and TITLE_PROBE as the task and a
    program it starts see it."""
    with open("/proc/self/cmdline", "rb") as fh:
        argv = fh.read().rstrip(b"\0").decode()
    shell = subprocess.run(["sh", "-c", "echo \"$TITLE_PROBE\""], capture_output=True,
                           text=True, check=True).stdout.strip()
    return os.getpid(), argv, os.environ.get("TITLE_PROBE"), shell


def test_local_executors_show_what_they_are_in_ps(fresh_ctx):
    """A local[N] executor's command line names it (module, application, executor id,
    driver pid, app dir) as a cluster executor's does, not its driver's; the executor
    environment still reaches its tasks and what they start."""
    long_value = "x" * 4096  # (longer than any title: setproctitle relocated the environment)
    ctx = fresh_ctx("local[2]", conf={"spark.executorEnv.TITLE_PROBE": long_value})
    with open("/proc/self/cmdline", "rb") as fh:
        driver_argv = fh.read()
    seen = dict((pid, rest) for pid, *rest in ctx.parallelize(range(8), 8).map(
        _own_title_and_environment).collect())
    executors = {p.executor_id: p.pid for p in ctx.backend.processes.values()}
    assert sorted(seen) == sorted(executors.values())
    for executor_id, pid in executors.items():
        argv, env, shell = seen[pid]
        assert argv == (f"{sys.executable} -m vega_runtime.scheduler.local_backend "
                        f"--app-id {ctx.application_id} --executor-id {executor_id} "
                        f"--driver-pid {os.getpid()} --app-dir {ctx.app_dir}")
        assert env == shell == long_value
    with open("/proc/self/cmdline", "rb") as fh:
        assert fh.read() == driver_argv
