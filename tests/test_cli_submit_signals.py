"""``vega submit`` stopped by Ctrl-C or a kill: whatever it was doing (a task, a lazy import,
a fork, the Context's stop, the job package's build), it stops, with its exit code and one
line, and leaves nothing behind. A real process (test_cli_submit_errors.py has the exit
codes and error messages)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from proc_helpers import LOCAL_MASTERS as MASTERS
from proc_helpers import (REPO, clean_env, master_and_worker, spawn_vega, vega, wait_for,
                          write_job)

from vega_runtime import Context
from vega_runtime.errors import DriverExit


# -- Ctrl-C -------------------------------------------------------------------------------------

def _children_of(pid: int) -> dict:
    """{child pid: start time} of the live (non-zombie) processes whose parent is ``pid``."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[1] == str(pid) and stat[0] != "Z":
                found[int(entry)] = stat[19]
    return found


def _no_new_children(before: dict) -> bool:
    """Whether this process's children are among ``before`` (a ``_children_of`` taken
    earlier): the test's executors have gone, whatever other tests of the session (a
    session-scoped cluster) left running."""
    return _children_of(os.getpid()).items() <= before.items()


def _stat(pid: int):
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _alive(pid: int, start_time: str) -> bool:
    stat = _stat(pid)
    return bool(stat) and stat[19] == start_time and stat[0] != "Z"


def _pump(stream, lines: "queue.Queue[str]") -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put("")


@pytest.mark.parametrize("master", MASTERS)
@pytest.mark.parametrize("signum, code, said", [(signal.SIGINT, 130, "job cancelled (Ctrl-C)"),
                                                (signal.SIGTERM, 143, "SIGTERM: the job was stopped"),
                                                (signal.SIGHUP, 129, "SIGHUP: the job was stopped")])
def test_ctrl_c_or_a_kill_stops_the_job_and_leaves_nothing(tmp_path, master, signum, code, said):
    """SIGINT (Ctrl-C), SIGTERM or SIGHUP during a running stage exits 128+N within seconds,
    and leaves no executor process and nothing in $TMPDIR."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    job = write_job(tmp_path, "sleepy.py", """
        import time
        from vega_runtime import Context
        with Context() as ctx:
            print("started", flush=True)
            ctx.parallelize(range(4), 4).map(lambda x: time.sleep(60)).collect()
            print("finished")
    """)
    proc = subprocess.Popen([sys.executable, "-m", "vega_cli.main", "submit", "--master", master,
                             job], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**clean_env(), "TMPDIR": str(scratch)})
    out_lines: "queue.Queue[str]" = queue.Queue()
    err_lines: "queue.Queue[str]" = queue.Queue()
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, out_lines), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, err_lines), daemon=True)]
    for pump in pumps:
        pump.start()
    try:
        assert out_lines.get(timeout=60) == "started\n"
        seen = []
        while not any(line.startswith("stage 0 started") for line in seen):
            line = err_lines.get(timeout=60)
            assert line, "vega submit ended before the stage started: " + "".join(seen)
            seen.append(line)
        wanted = 2 if master == "local[2]" else 0  # forked as the stage's tasks are launched
        executors = wait_for(lambda: [found for found in [_children_of(proc.pid)]
                                      if len(found) >= wanted], 30, f"{wanted} executors")[0]
        assert len(executors) == wanted

        proc.send_signal(signum)
        started = time.monotonic()
        assert proc.wait(timeout=15) == code
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pump in pumps:
        pump.join(timeout=10)
    rest = []
    while not err_lines.empty():
        rest.append(err_lines.get())
    assert said in "".join(rest)
    if signum != signal.SIGINT:  # the stage says why, not the exit code ('failed ...: 143')
        ending = f": job cancelled: stopped by {signal.Signals(signum).name}\n"
        assert [line for line in rest if line.startswith("stage 0 failed after")
                and line.endswith(ending)], "".join(rest)
    assert "finished" not in [out_lines.get() for _ in range(out_lines.qsize())]
    assert os.listdir(scratch) == []
    deadline = time.monotonic() + 5  # the kernel reaps the killed executors asynchronously
    while any(_alive(pid, start) for pid, start in executors.items()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid, start in executors.items() if _alive(pid, start)] == []
    assert _children_of(proc.pid) == {}


@pytest.mark.parametrize("press_at, said, summary", [
    # as the job's stages are planned, before any task ran
    ("on_job_graph(self, job_id, stages)",
     ["stage 0 started: group_by_key at job.py:14, 2 tasks",
      "stage 0 failed after Ns: job cancelled: interrupted (Ctrl-C)"],
     "1 job, 1 stage, 0 tasks"),
    # as the map stage's end is told, its tasks' lines printed: the next stage starts then
    ("on_stage_completed(self, stage_id, failure)",
     ["stage 0 started: group_by_key at job.py:14, 2 tasks",
      "stage 0 finished in Ns: group_by_key at job.py:14",
      "stage 1 started: collect at job.py:14, 2 tasks",
      "stage 1 failed after Ns: job cancelled: interrupted (Ctrl-C)"],
     "1 job, 2 stages, 2 tasks")])
def test_ctrl_c_as_a_stage_starts_or_ends_is_told_whole(tmp_path, press_at, said, summary):
    """A Ctrl-C landing between the scheduler's start or end of a stage and the listeners'
    hearing of it (a real one does, now and then, in a job's first milliseconds or at a
    stage boundary): the progress lines and the summary count every stage the job started,
    each ending after it started.  Before, the stage the DAG had started ended unheard of
    ('stage 0 failed after -0.00s', '1 job, 0 stages'); a listener cut short missed the
    end of the stage before it.  The job's own listener presses Ctrl-C (SIGINT to its
    process) at that moment, the first listener told of it."""
    job = write_job(tmp_path, "job.py", f"""
        import os, signal
        from vega_runtime import Context
        from vega_runtime.scheduler.listener import JobListener

        class CtrlC(JobListener):
            def {press_at}:
                os.kill(os.getpid(), signal.SIGINT)

        def shout(x):
            print("task", x, flush=True)
            return x % 2, x

        with Context(listeners=[CtrlC()]) as ctx:
            print(ctx.parallelize(range(2), 2).map(shout).group_by_key().collect())
    """)
    done = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master",
                           "local[2]", job], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env=clean_env())
    assert done.returncode == 130, done.stderr
    lines = [re.sub(r"(after|in) \d+\.\d\ds", r"\1 Ns", line)  # (not -0.00s)
             for line in done.stderr.splitlines() if line.startswith("stage ")]
    assert lines == said, done.stderr
    assert summary in done.stderr
    printed = sorted(line.rpartition("] ")[2] for line in done.stdout.splitlines())
    assert printed == (["task 0", "task 1"] if len(said) > 2 else [])


def _killed_now():
    raise DriverExit(signal.SIGTERM)


class _KilledWhileLoaded:
    """A record whose unpickling is where the kill lands: as a SIGTERM that comes while a
    ``local`` task's closure or records are still being loaded."""

    def __reduce__(self):
        return (_killed_now, ())


def test_a_kill_while_a_local_task_is_loaded_stops_the_driver_not_the_task():
    """On ``local`` the kill's DriverExit goes out of the action at once; it was taken for the
    task failing to load, which was retried, and the next attempt ran its full minute (CI:
    the SIGTERM and SIGHUP cases of the test above, now and then)."""
    with Context("local") as ctx:
        with pytest.raises(DriverExit) as raised:
            ctx.parallelize([_KilledWhileLoaded()], 1).collect()
    assert raised.value.code == 128 + signal.SIGTERM


def test_a_kill_while_a_lazy_module_loads_stops_the_driver_and_the_module_loads_later(
        tmp_path, monkeypatch):
    """The Context's engine modules load on first use (``lazy_module``). A kill landing while
    one runs its code went nowhere: CPython clears an exception raised by the ``__spec__``
    that ``from module import name`` asks first, and the module, left half-executed, failed
    that import, so ``vega submit`` ended with "ImportError: cannot import name 'dumps' from
    'vega_runtime.serde'" (exit 1) instead of 143; a Ctrl-C there went unseen, and later
    imports kept failing."""
    from vega_runtime.lazy_imports import lazy_module

    (tmp_path / "killed_once.py").write_text(
        "import builtins, signal\n"
        "from vega_runtime.errors import DriverExit\n"
        "first = 1\n"
        "if not getattr(builtins, 'killed_once_loaded', False):\n"
        "    builtins.killed_once_loaded = True\n"
        "    raise DriverExit(signal.SIGTERM)  # the kill, landing half-way\n"
        "second = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "killed_once", raising=False)
    import builtins
    monkeypatch.setattr(builtins, "killed_once_loaded", False, raising=False)
    module = lazy_module("killed_once")
    try:
        with pytest.raises(DriverExit) as raised:
            from killed_once import second  # noqa: F401
        assert raised.value.code == 128 + signal.SIGTERM
        from killed_once import first, second  # as after a failed import: it runs again
        assert (first, second, module.second) == (1, 2, 2)
    finally:
        sys.modules.pop("killed_once", None)


def test_a_thread_that_asks_a_lazy_module_another_thread_runs_waits_for_all_of_it(
        tmp_path, monkeypatch):
    """A second thread asking a lazy module for a name while the first runs its code waits
    until the code has run; it got an AttributeError for a name not made yet."""
    from vega_runtime.lazy_imports import lazy_module

    (tmp_path / "slow_to_run.py").write_text(
        "import builtins\n"
        "first = 1\n"
        "builtins.slow_to_run_events[0].set()\n"
        "builtins.slow_to_run_events[1].wait(30)\n"
        "second = 2\n")
    started, go = threading.Event(), threading.Event()
    import builtins
    monkeypatch.setattr(builtins, "slow_to_run_events", (started, go), raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_to_run", raising=False)
    module = lazy_module("slow_to_run")
    got, finished = {}, threading.Event()

    def ask(name):
        try:
            got[name] = getattr(module, name)
        except AttributeError as exc:
            got[name] = exc
        if name == "second":
            finished.set()

    try:
        runner = threading.Thread(target=ask, args=("first",))
        runner.start()
        assert started.wait(30)
        waiter = threading.Thread(target=ask, args=("second",))
        waiter.start()
        assert not finished.wait(0.5), f"answered before the module had run: {got}"
        go.set()
        runner.join(30)
        waiter.join(30)
        assert got == {"first": 1, "second": 2}
    finally:
        go.set()
        sys.modules.pop("slow_to_run", None)


#: while set, the at-fork callback below has the kill land in it (a pytest process cannot
#: take back a callback it registered)
_KILL_AS_A_FORK_ENDS: list = []


def _kill_in_an_at_fork_callback() -> None:
    if _KILL_AS_A_FORK_ENDS:
        _KILL_AS_A_FORK_ENDS.clear()
        os.kill(os.getpid(), signal.SIGTERM)


os.register_at_fork(after_in_parent=_kill_in_an_at_fork_callback)


def test_a_kill_while_a_local_executor_is_forked_stops_the_driver():
    """A SIGTERM (or Ctrl-C) that came while ``local[N]`` forked an executor went to one of
    Python's at-fork callbacks (logging's lock release), which print and drop what they
    raise: "Exception ignored in: <function _releaseLock>... DriverExit: 129", and the job
    ran to its end. The driver holds those signals while it forks."""
    before = _children_of(os.getpid())
    previous = signal.signal(signal.SIGTERM, DriverExit.raise_for)
    try:
        with Context("local[2]") as ctx:
            _KILL_AS_A_FORK_ENDS.append(True)
            with pytest.raises(DriverExit) as raised:
                ctx.parallelize(range(4), 2).map(lambda x: x + 1).collect()
            assert raised.value.code == 128 + signal.SIGTERM
            assert ctx.parallelize(range(4), 2).map(lambda x: x + 1).collect() == [1, 2, 3, 4]
    finally:
        _KILL_AS_A_FORK_ENDS.clear()
        signal.signal(signal.SIGTERM, previous)
    wait_for(lambda: _no_new_children(before), 10, "no executor left")


def test_a_ctrl_c_as_a_local_executor_is_forked_leaves_no_executor(tmp_path):
    """A Ctrl-C that lands in the driver once a ``local[N]`` executor is forked and before the
    backend has it (its SIGINT, blocked across the fork, is taken as it is unblocked): the
    job is cancelled and the Context's stop ends the executor. Before, no one knew of it:
    it ran on until the driver exited, making its directories in the application's deleted
    one (a ``vega-app-*`` directory left in $TMPDIR by one Ctrl-C in 3 in a job's first
    milliseconds)."""
    from vega_runtime.scheduler import local_backend

    def ctrl_c_once_forked(frame, event, arg):
        if frame.f_code is not local_backend.ProcessPoolBackend._spawn.__code__:
            return None

        def line(frame, event, arg):
            if event == "line" and frame.f_locals.get("pid", -1) > 0:
                sys.settrace(None)
                frame.f_trace = None
                os.kill(os.getpid(), signal.SIGINT)
            return line
        return line

    before = _children_of(os.getpid())
    with Context("local[2]") as ctx:
        sys.settrace(ctrl_c_once_forked)
        try:
            with pytest.raises(KeyboardInterrupt):
                ctx.parallelize(range(4), 2).map(lambda x: x + 1).collect()
        finally:
            sys.settrace(None)
        app_dir = ctx.app_dir
    wait_for(lambda: _no_new_children(before), 10, "no executor left")
    assert not os.path.exists(app_dir)


def test_a_kill_while_the_context_stops_leaves_nothing_and_stops_the_driver():
    """A SIGTERM that came while ``Context.stop`` deleted the application's directory cut it
    short: ``vega submit`` exited 143 with a ``vega-app-*`` directory left in $TMPDIR (the
    job had just finished). Held while the Context stops, it is taken once it has."""
    from vega_runtime import private_files

    before = _children_of(os.getpid())
    previous = signal.signal(signal.SIGTERM, DriverExit.raise_for)
    ctx = Context("local[2]")
    app_dir = ctx.app_dir

    def kill_as_the_directory_goes(frame, event, arg):
        if frame.f_code is private_files.remove_tree.__code__ and \
                frame.f_locals.get("path") == app_dir:
            sys.settrace(None)
            os.kill(os.getpid(), signal.SIGTERM)  # handled at this frame's first line
        return None

    try:
        assert ctx.parallelize(range(4), 2).map(lambda x: x * 2).collect() == [0, 2, 4, 6]
        sys.settrace(kill_as_the_directory_goes)
        with pytest.raises(DriverExit) as raised:
            ctx.stop()
        assert raised.value.code == 128 + signal.SIGTERM
    finally:
        sys.settrace(None)
        signal.signal(signal.SIGTERM, previous)
        ctx.stop()
    assert not os.path.exists(app_dir)
    wait_for(lambda: _no_new_children(before), 10, "no executor left")


@pytest.mark.parametrize("command, staged", [("submit", "vega-submit-"), ("shell", "vega-shell-")])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_kill_while_the_job_package_is_built_leaves_nothing(tmp_path, command, staged, signum):
    """``vega submit`` and ``vega shell`` took SIGTERM and SIGHUP only once the job (the
    session) ran: before, while --py-files were staged and a local cluster's job package
    built (or its Context started), the default action killed them and their staging
    directory stayed in $TMPDIR. 64 MiB of random bytes in --py-files keep the packaging
    busy (a second or more) for the kill to land in (a named pipe did, until --py-files
    directories shipped regular files only)."""
    scratch, deps = tmp_path / "scratch", tmp_path / "deps"
    scratch.mkdir()
    deps.mkdir()
    with open(deps / "held.bin", "wb") as fh:
        for _ in range(64):
            fh.write(os.urandom(1 << 20))
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    args = [sys.executable, "-m", "vega_cli.main", command, "--master", "local-cluster[1,1]",
            "--py-files", str(deps)] + ([job] if command == "submit" else [])
    proc = subprocess.Popen(args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**clean_env(), "TMPDIR": str(scratch)})
    try:
        wait_for(lambda: [name for name in os.listdir(scratch) if name.startswith(staged)
                          and os.path.exists(scratch / name / "package" / "package.zip.tmp")],
                 60, "the job package being built")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    if command == "submit":
        assert f"vega: {signal.Signals(signum).name}: the job was stopped" in err
    assert out == ""
    assert os.listdir(scratch) == []


def test_stopping_a_local_cluster_signals_a_daemon_that_does_not_lead_its_group_yet():
    """A kill that stopped a local cluster as it started (``vega submit`` exiting 143) took
    5 s now and then: a daemon the fork server had just forked had not made its session
    yet, so the SIGTERM to its process group went nowhere, and it ran on until the SIGKILL
    after the grace period. Such a daemon is signalled by its pid: here a child of this
    test, in this test's process group."""
    ctx = Context("local-cluster[1,1]")
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ctx.backend.owned_cluster.processes.append(daemon)
    stopping = threading.Thread(target=ctx.stop)
    started = time.monotonic()
    stopping.start()
    stopping.join(timeout=4)
    took = time.monotonic() - started
    if stopping.is_alive():  # stuck waiting for it: end it so the test can end
        daemon.kill()
        stopping.join()
    assert took < 4
    assert daemon.wait(timeout=5) == -signal.SIGTERM


@pytest.mark.parametrize("signum, code, said", [(signal.SIGINT, 130, "job cancelled (Ctrl-C)"),
                                                (signal.SIGTERM, 143, "SIGTERM: the job was stopped")])
def test_a_signal_landing_in_a_weakref_callback_is_not_lost(tmp_path, signum, code, said):
    """Python drops what a weakref callback raises: a Ctrl-C or kill whose handler ran in one
    (importlib's module locks' run at the end of every import) was lost, "Exception ignored
    in: <function _get_module_lock.<locals>.cb>... KeyboardInterrupt", and the job ran on
    (seen with a Ctrl-C in vega submit's first 0.1 s). The signal is sent again."""
    job = write_job(tmp_path, "dropped.py", f"""
        import os, threading, weakref
        from vega_runtime import Context

        class Thing:
            pass

        with Context() as ctx:
            thing = Thing()
            ref = weakref.ref(thing, lambda _: os.kill(os.getpid(), {int(signum)}))
            del thing  # the signal lands in the callback
            threading.Event().wait(30)
            print("finished")
    """)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master", "local",
                           job], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env=clean_env())
    assert (done.returncode, done.stdout) == (code, "")
    assert time.monotonic() - started < 20
    assert said in done.stderr
    assert "Exception ignored" not in done.stderr


def test_a_kill_landing_as_the_staging_directory_is_made_leaves_nothing(tmp_path, monkeypatch):
    """A SIGHUP that landed in ``mkdtemp`` once it had made ``vega submit``'s staging
    directory (before the command's cleanup was in place) left it, empty, in $TMPDIR."""
    import tempfile

    from vega_cli.staging import staging_directory

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def kill_once_made(frame, event, arg):
        if frame.f_code is not tempfile.mkdtemp.__code__:
            return None

        def line(frame, event, arg):
            if event == "line" and os.path.isdir(str(frame.f_locals.get("file", ""))):
                sys.settrace(None)
                frame.f_trace = None
                os.kill(os.getpid(), signal.SIGHUP)  # handled before mkdtemp returns
            return line
        return line

    previous = signal.signal(signal.SIGHUP, DriverExit.raise_for)
    try:
        sys.settrace(kill_once_made)
        with pytest.raises(DriverExit) as raised:
            with staging_directory("vega-submit-"):
                pytest.fail("the kill is taken on the way in")
    finally:
        sys.settrace(None)
        signal.signal(signal.SIGHUP, previous)
    assert raised.value.code == 128 + signal.SIGHUP
    assert os.listdir(tmp_path) == []


# -- cluster deploy mode ------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_or_a_kill_of_a_cluster_mode_submit_kills_its_driver(tmp_path, signum):
    """vega submit --deploy-mode cluster, following its driver, stopped by Ctrl-C, SIGTERM or
    SIGHUP: the driver is killed, as the README says of all three, with one line naming it
    and the signal, and the exit code is 128+N (SIGTERM and SIGHUP left the driver running
    and said nothing)."""
    job = write_job(tmp_path, "sleepy.py", """
        import time
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize([1], 1).map(lambda x: time.sleep(60)).collect()
    """)
    with master_and_worker(tmp_path / "cluster") as cluster:
        env = {**cluster["env"], "VEGA_MASTER": cluster["url"]}
        proc = spawn_vega("submit", "--deploy-mode", "cluster", job, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        err_lines: "queue.Queue[str]" = queue.Queue()
        pump = threading.Thread(target=_pump, args=(proc.stderr, err_lines), daemon=True)
        pump.start()
        seen = []
        try:
            while not any(line.startswith("stage 0 started") for line in seen):
                line = err_lines.get(timeout=60)
                assert line, "vega submit ended before the stage started: " + "".join(seen)
                seen.append(line)
            proc.send_signal(signum)
            assert proc.wait(timeout=30) == 128 + signum
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pump.join(timeout=10)
        while not err_lines.empty():
            seen.append(err_lines.get())
        [driver_id] = {word for line in seen for word in line.split()
                       if word.startswith("driver-")}
        said = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        assert f"vega: driver {driver_id} killed ({said})\n" in seen, "".join(seen)

        def state():
            status = json.loads(vega("status", "--json", env=env).stdout)
            return [d["state"] for d in status["drivers"] if d["id"] == driver_id]

        assert wait_for(lambda: state() != ["running"] and state(), 30,
                        "the driver to end") == ["killed"]
