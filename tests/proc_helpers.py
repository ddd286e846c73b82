"""Helpers for tests that run real processes: waiting, reading /proc, and the ``vega`` command.

One implementation each, shared by the cluster, chaos, protocol-fuzz, network-partition and
SSH tests (``tests/`` is on ``sys.path``)::

    from proc_helpers import processes_matching, vega, wait_for

Waits poll a condition with a deadline and fail naming what they waited for; nothing here
sleeps blindly.  The /proc readers are Linux-only and treat a process that is gone (or
vanishes while being read) as absent.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Dict, List, Optional

from vega_runtime.processes import command_line

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLL = 0.1  # seconds between two looks at a condition; never poll faster than this
#: the masters `vega submit` tests run every job on
LOCAL_MASTERS = ["local", "local[2]"]
EXECUTOR_MODULE = "vega_runtime.deploy.executor_main"  # what a worker runs an executor as
#: what Vega daemons run as: ``vega master|worker``, or a local cluster's daemons
DAEMON_MODULES = ("vega_cli.main", "vega_runtime.deploy.daemon_main")


# -- waiting -----------------------------------------------------------------------------------

def errors_of_threads(target, count: int) -> list:
    """Run ``target()`` in ``count`` threads at once and wait for them; the exceptions they
    raised (a thread's failed assertion would otherwise be lost)."""
    errors = []

    def run():
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - collected for the test to assert on
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Call ``predicate`` every ``POLL`` seconds until it returns something truthy; return that.

    The predicate is tried at least once, and once more after the deadline has passed, so a
    slow predicate is not cut short.  Raises AssertionError naming ``what`` after ``timeout``
    seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL)


def wait_for_file_in_task(path, timeout: float = 60.0) -> bool:
    """(In a task, to hold it until the test lets it go.) Whether ``path`` appeared within
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def partial_files(root) -> List[str]:
    """Map output files under ``root`` no finished attempt owns: spilled runs and unrenamed
    indexes."""
    return sorted(name for _, _, names in os.walk(root) for name in names
                  if name.startswith("shuffle_") and (".run" in name or name.endswith(".tmp")))


def read_text(path: str) -> str:
    """The text of a file (a log, say) as far as it is written, or "" if it does not exist yet."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


# -- /proc -------------------------------------------------------------------------------------

def _stat_fields(pid: int) -> Optional[List[bytes]]:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        # "pid (comm) S ppid ...": comm may hold spaces and parentheses, so split at the last ')'.
        return data[data.rindex(b")") + 2:].split()
    except (OSError, ValueError):
        return None


def proc_state(pid: int) -> Optional[str]:
    """The one-letter state of ``pid`` (``'Z'`` for a zombie), or None if it is gone."""
    fields = _stat_fields(pid)
    return fields[0].decode() if fields else None


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    state = proc_state(pid)
    return state is not None and state != "Z"


def parent_pid(pid: int) -> Optional[int]:
    """The parent of ``pid``, or None if ``pid`` is gone."""
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def worker_of(pid: int) -> Optional[int]:
    """The worker daemon ``pid`` is or runs under (an executor's parent, or the worker that
    forked the fork server an executor was forked from), or None if there is none."""
    while pid and pid > 1:
        argv = cmdline(pid)
        if any(module in argv for module in DAEMON_MODULES) and "worker" in argv:
            return pid
        pid = parent_pid(pid) or 0
    return None


def _pids() -> List[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def descendants(pid: int) -> List[int]:
    """All live descendants of ``pid`` (children, grandchildren, ...)."""
    children: Dict[int, List[int]] = {}
    for child in _pids():
        parent = parent_pid(child)
        if parent is not None:
            children.setdefault(parent, []).append(child)
    found, frontier = [], [pid]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if pid_alive(child):
                found.append(child)
                frontier.append(child)
    return found


def cmdline(pid: int) -> List[str]:
    """The argv of ``pid``, or [] if it is gone (``vega_runtime.processes.command_line``:
    a fork server's child shows one title string, split at spaces; the tests' paths have none)."""
    return command_line(pid)


def arg_value(argv: List[str], flag: str) -> Optional[str]:
    """The argument after ``flag`` in ``argv`` (``--work-dir DIR`` gives DIR), or None."""
    return argv[argv.index(flag) + 1] if flag in argv else None


def processes_matching(*markers: str) -> Dict[int, List[str]]:
    """{pid: argv} of the live (non-zombie) processes, other than this one, whose command line
    contains every marker (as a substring: a directory marker matches paths below it)."""
    found = {}
    for pid in _pids():
        if pid == os.getpid():
            continue
        argv = cmdline(pid)
        text = "\0".join(argv)
        if argv and all(m in text for m in markers) and pid_alive(pid):
            found[pid] = argv
    return found


def executor_processes(*markers: str) -> Dict[int, List[str]]:
    """{pid: argv} of the live executor processes whose command line contains every marker."""
    return processes_matching(EXECUTOR_MODULE, *markers)


def vega_processes(marker: str) -> List[int]:
    """Sorted pids of live Vega processes (``vega`` daemons and drivers, executors) whose
    command line contains ``marker``; other processes naming it (sshd, say) do not count."""
    return sorted(pid for pid, argv in processes_matching(marker).items()
                  if any(module in a for module in (*DAEMON_MODULES, "executor_main")
                         for a in argv))


# -- jobs and their output --------------------------------------------------------------------

def write_job(directory, name: str, source: str) -> str:
    """Write a job script (dedented, leading blank lines dropped, so line 1 is its first line
    of code) into ``directory`` and return its path."""
    path = os.path.join(str(directory), name)
    with open(path, "w") as fh:
        fh.write(textwrap.dedent(source).lstrip("\n"))
    return path


def frame_lines(stderr: str) -> List[str]:
    """The ``File "...", line N, in f`` lines of the tracebacks in ``stderr``."""
    return [line for line in stderr.splitlines() if line.lstrip().startswith('File "')]


# -- the vega command --------------------------------------------------------------------------

def vega_argv(*args: str) -> List[str]:
    """The command line of ``vega ARGS`` as this interpreter runs it: python -m vega_cli.main."""
    return [sys.executable, "-m", "vega_cli.main", *args]


def clean_env(**extra: str) -> dict:
    """This environment without what would point ``vega`` elsewhere (a master, a secret file,
    submit configuration, the terminal width), plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VEGA_MASTER", "VEGA_SECRET_FILE", "VEGA_SUBMIT_CONF", "COLUMNS")}
    env.update(extra)
    return env


def vega(*args: str, env=None, cwd=REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``vega ARGS`` to the end, from the repo root by default, its output captured as text.

    ``env`` defaults to ``clean_env()``; ``timeout`` raises subprocess.TimeoutExpired.
    """
    return subprocess.run(vega_argv(*args), cwd=cwd, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)


def spawn_vega(*args: str, cwd=REPO, **popen) -> subprocess.Popen:
    """Start ``vega ARGS`` in the background; ``popen`` are subprocess.Popen's keywords
    (``env``, the streams, ``start_new_session`` ...)."""
    return subprocess.Popen(vega_argv(*args), cwd=cwd, **popen)


def run_into_closed_pipe(*args: str, env=None, cwd=REPO, timeout: float = 120,
                         input: Optional[str] = None) -> subprocess.CompletedProcess:
    """``vega ARGS`` whose stdout is a pipe its reader has already closed (``| head -0``):
    every write to it fails with EPIPE.  ``input``: its stdin.  Returns the
    CompletedProcess, stderr as text."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(vega_argv(*args), cwd=cwd, env=env or clean_env(), stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=timeout, input=input)
    finally:
        os.close(write_end)


# -- stopping ----------------------------------------------------------------------------------

def kill_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session=True``), then
    SIGKILL it if anything is left; waits up to ``grace`` seconds at each step."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass


def stop_processes(procs: List[subprocess.Popen], marker: str) -> None:
    """``kill_group`` each of ``procs``, newest first, then SIGKILL every process left whose
    command line contains ``marker``: executors run in sessions of their own, and none may
    outlive a failed test."""
    for proc in reversed(procs):
        kill_group(proc)
    for pid in processes_matching(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def executors_up(ctx, count: int) -> List[str]:
    """The sorted ids of a Context's ``count`` executors, once they are all up: a
    ``local[N]`` Context forks its executors at its first job, so a one-task job runs first
    (on a cluster it waits for an executor, as any job)."""
    ctx.parallelize([0], 1).count()
    wait_for(lambda: len(ctx.backend.pool) == count, 60, f"{count} executors")
    return sorted(ctx.backend.pool.executor_ids())


def start_job_in_thread(ctx, group: Optional[str], description: str, action,
                        pool: Optional[str] = None):
    """Run ``action()`` (a job) in a thread under job group ``group`` (None: none) and
    scheduler pool ``pool``; return the thread and a list that receives its result, or the
    exception it raised (for the test to inspect)."""
    import threading

    outcome = []

    def job():
        if group is not None:
            ctx.setJobGroup(group, description)
        if pool is not None:
            ctx.setLocalProperty("spark.scheduler.pool", pool)
        try:
            outcome.append(action())
        except BaseException as exc:  # recorded for the test to inspect
            outcome.append(exc)

    thread = threading.Thread(target=job)
    thread.start()
    return thread, outcome


@contextlib.contextmanager
def master_and_worker(home, settings: str = "", worker_args=(), host: str = "127.0.0.1",
                      master_env=None, worker_env=None):
    """A real master (``vega master``, its ``--config`` the YAML ``settings``, its event log
    dir ``home/events``) and a 1-core worker (``vega worker ... WORKER_ARGS``) on loopback
    (``host``: ``::1`` for IPv6), with a secret, in ``home``; yields ``{url, env, webui_port,
    ca_file, home, master_pid, worker_pid}``.  ``env`` (for ``vega`` commands) sets TMPDIR to
    ``home/tmp``: a driver a test kills with SIGKILL leaves its scratch directory there.
    ``master_env``, ``worker_env``: variables added to that daemon's environment alone (a
    fake clock: ``faketime_env``)."""
    from vega_runtime.net.connection import create_secret_file
    from vega_runtime.net.endpoints import host_port

    create_secret_file(os.path.join(str(home), "secret"))
    config = os.path.join(str(home), "master.yaml")
    with open(config, "w") as fh:
        fh.write(settings)
    os.makedirs(os.path.join(str(home), "tmp"))
    env = clean_env(VEGA_SECRET_FILE=os.path.join(str(home), "secret"),
                    TMPDIR=os.path.join(str(home), "tmp"))
    ready = os.path.join(str(home), "master.ready")
    quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 start_new_session=True)
    procs = [spawn_vega("master", "--host", host, "--port", "0", "--webui-port", "0",
                        "--work-dir", os.path.join(str(home), "master"), "--config", config,
                        "--ready-file", ready, "--event-log-dir",
                        os.path.join(str(home), "events"),
                        **{**quiet, "env": {**env, **(master_env or {})}})]
    try:
        ports = wait_for(lambda: os.path.exists(ready) and read_text(ready) and
                         json.loads(read_text(ready)), what="the master")
        url = f"vega://{host_port(host, ports['port'])}"
        procs.append(spawn_vega("worker", url, "--host", host, "--cores", "1",
                                "--memory", "1g", "--webui-port", "0", "--work-dir",
                                os.path.join(str(home), "worker"), *worker_args,
                                **{**quiet, "env": {**env, **(worker_env or {})}}))
        wait_for(lambda: '"alive"' in vega("status", "--master", url, "--json", env=env).stdout,
                 what="the worker to register")
        yield {"url": url, "env": env, "webui_port": ports["webui_port"],
               "ca_file": os.path.join(str(home), "master", "ca.pem"), "home": home,
               "master_pid": procs[0].pid, "worker_pid": procs[1].pid}
    finally:
        stop_processes(procs, str(home))


def unstarted_master(work_dir, event_log_dir=""):
    """A ``Master`` object on loopback (port 0), its work dir ``work_dir`` and its event-log
    dir ``event_log_dir`` ("" for none), not started and without a secret: what a test of its
    REST API (``SparkApi(master)``) over event logs needs."""
    from vega_runtime.config import Config
    from vega_runtime.deploy.master import Master

    return Master(Config.load(environ={}, cli={
        "vega.master.host": "127.0.0.1", "vega.master.port": 0,
        "vega.master.work_dir": str(work_dir), "vega.eventlog.dir": str(event_log_dir)}), None)
