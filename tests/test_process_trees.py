"""No orphans: an application's whole process tree ends with it.

Real processes throughout: a task starts a grandchild that daemonizes (``sh -c 'sleep &'``,
so it re-parents away from the task's executor, and with ``setsid`` leaves its process
group too); it must be gone once the application ends.  A cluster-mode driver dies with
its master; ``stop-master`` never signals a process its pidfile merely names.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import inspect
import sys
import textwrap

import pytest

from proc_helpers import (clean_env, cmdline, descendants, kill_group, parent_pid, pid_alive, read_text,
                          spawn_vega, vega, wait_for, write_job)
from vega_runtime import Context
from vega_runtime.net.connection import create_secret_file
from vega_runtime.processes import is_vega_daemon, kill_tree, pidfile_process


def start_daemonized_sleep(_):
    """A task: start ``sleep`` the way a careless daemon would (double fork, own session)
    and return its pid."""
    import subprocess

    out = subprocess.run(["sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


@pytest.mark.parametrize("master_url", ["local[2]", "local-cluster[2,1]"])
def test_a_tasks_double_forked_grandchild_ends_with_its_application(master_url):
    """The daemonized grandchildren of a job's tasks are gone after the Context stops."""
    ctx = Context(master=master_url, app_name="process-trees")
    try:
        pids = ctx.parallelize(range(2), 2).map(start_daemonized_sleep).collect()
        wait_for(lambda: all(pid_alive(pid) and "sleep" in cmdline(pid) for pid in pids),
                 what=f"{pids} to run sleep")  # setsid may not have exec'd sleep yet
    finally:
        ctx.stop()
    try:
        wait_for(lambda: not any(pid_alive(pid) for pid in pids), timeout=30,
                 what=f"the tasks' daemonized sleeps {pids} to end with the application")
    except AssertionError as exc:
        parents = {pid: (parent_pid(pid), cmdline(parent_pid(pid) or 0)) for pid in pids
                   if pid_alive(pid)}
        raise AssertionError(f"{exc}; alive, with their parents: {parents}") from None
    finally:
        for pid in pids:  # never leave them behind, even when the test fails
            if pid_alive(pid) and "sleep" in cmdline(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_sigkilled_executors_orphans_are_killed_by_its_worker(tmp_path, master, monkeypatch):
    """An executor started as a new interpreter (its application wants another hash seed
    than the worker's fork server) and SIGKILLed: what it daemonized re-parents to the
    worker (`vega worker`, a subreaper), which kills it while the application still runs."""
    _, url, env = master
    worker = spawn_vega("worker", url, "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                        "--work-dir", str(tmp_path / "worker"), env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True)
    monkeypatch.setenv("PYTHONHASHSEED", "7")
    monkeypatch.setenv("VEGA_SECRET_FILE", env["VEGA_SECRET_FILE"])
    pid = None
    try:
        ctx = Context(master=url, app_name="process-trees")
        try:
            def start_sleep_and_say_where(_):  # nested: shipped by value to a fresh interpreter
                import os
                import subprocess

                out = subprocess.run(["sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 & echo $!"],
                                     capture_output=True, text=True, check=True).stdout
                return int(out.split()[-1]), os.getpid()

            [(pid, executor)] = ctx.parallelize([0], 1).map(start_sleep_and_say_where).collect()
            wait_for(lambda: "sleep" in cmdline(pid), what="the sleep to start")
            assert parent_pid(executor) == worker.pid  # started as the worker's own child
            os.kill(executor, signal.SIGKILL)
            wait_for(lambda: not pid_alive(pid), timeout=10,
                     what=f"the worker to kill the dead executor's sleep (pid {pid})")
        finally:
            ctx.stop()
    finally:
        kill_group(worker)
        if pid and pid_alive(pid) and "sleep" in cmdline(pid):
            os.kill(pid, signal.SIGKILL)


def test_kill_tree_takes_down_processes_that_left_the_process_group():
    """kill_tree ends a process and everything below it, setsid'd descendants included."""
    proc = subprocess.Popen(["sh", "-c", "setsid sleep 1000 & sleep 1000 & wait"],
                            start_new_session=True)
    below = wait_for(lambda: len(descendants(proc.pid)) >= 2 and descendants(proc.pid),
                     what="the shell's two sleeps")
    assert kill_tree(proc.pid) == 3
    proc.wait(10)
    wait_for(lambda: not any(pid_alive(pid) for pid in below), what="the sleeps to die")


def test_a_pid_is_recognised_as_a_vega_daemon_only_by_its_command_line():
    """is_vega_daemon reads /proc/PID/cmdline: the vega command followed by the role."""
    sleeper = subprocess.Popen(["sleep", "1000"])
    try:
        assert not is_vega_daemon(sleeper.pid, "master")
    finally:
        sleeper.kill()
        sleeper.wait()
    fake = subprocess.Popen(["sh", "-c", "exec -a python sleep 1000"])  # not vega either
    try:
        assert not is_vega_daemon(fake.pid, "worker")
    finally:
        fake.kill()
        fake.wait()


def test_stop_master_refuses_to_signal_an_unrelated_process_its_pidfile_names(tmp_path):
    """A stale master.pid whose pid now runs `sleep`: stop-master says so, exits non-zero,
    and the sleep lives on."""
    work_dir = tmp_path / "master"
    work_dir.mkdir()
    sleeper = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    try:
        (work_dir / "master.pid").write_text(f"{sleeper.pid}\n")
        result = vega("stop-master", "--work-dir", str(work_dir))
        assert result.returncode != 0
        message = result.stdout + result.stderr
        assert f"pid {sleeper.pid}" in message and "not a vega master" in message, message
        assert sleeper.poll() is None and pid_alive(sleeper.pid)
        assert pidfile_process(str(work_dir / "master.pid"), "master")[0] is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_stop_cluster_leaves_a_process_alone_that_a_stale_worker_pidfile_names(tmp_path):
    """The fleet's stop operation (vega_cli.remote_ops, run here as on any host) reports a
    foreign pid as not stopped, and the start check takes the pidfile for stale (nothing
    runs)."""
    from vega_cli.cluster import _stop
    from vega_cli.remote import LocalHost

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    sleeper = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    try:
        (run_dir / "worker.pid").write_text(f"{sleeper.pid}\n")
        row = _stop(LocalHost("localhost"), sys.executable, "worker", str(run_dir), str(tmp_path),
                    str(tmp_path / "vega-home"))
        assert row.failed and f"pid {sleeper.pid}" in row.result and "not a vega worker" in row.result
        assert sleeper.poll() is None and pid_alive(sleeper.pid)
        running = LocalHost("localhost").remote_op(sys.executable, "running",
                                                   str(run_dir / "worker.pid"), "worker")
        assert running == {"pid": 0, "stopped": False}
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.fixture
def master(tmp_path):
    """A master of the test's own (``vega master``, its own session), to SIGKILL at will:
    yields (process, master URL, environment)."""
    home = tmp_path / "home"
    home.mkdir()
    create_secret_file(str(home / "secret"))
    env = clean_env(VEGA_SECRET_FILE=str(home / "secret"))
    ready = home / "master.ready"
    proc = spawn_vega("master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                      "--work-dir", str(home / "master"), "--ready-file", str(ready), env=env,
                      cwd=str(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                      start_new_session=True)
    try:
        wait_for(ready.exists, what="the master to be ready")
        port = json.loads(wait_for(lambda: read_text(str(ready)), what="master.ready"))["port"]
        yield proc, f"vega://127.0.0.1:{port}", env
    finally:
        kill_group(proc)


def submit_cluster_mode(tmp_path, url, env, body: str) -> int:
    """Submit a job (``body``, after it has written its pid) in cluster deploy mode, detached;
    returns the driver's pid once it runs."""
    pidfile = tmp_path / "driver.pid"
    header = textwrap.dedent(f"""
        import os, time
        with open({str(pidfile)!r} + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace({str(pidfile)!r} + ".tmp", {str(pidfile)!r})
    """)
    job = write_job(tmp_path, "job.py", header + "\n" + textwrap.dedent(body))
    submitted = vega("submit", "--master", url, "--deploy-mode", "cluster", "--detach", job,
                     env=env)
    assert submitted.returncode == 0, submitted.stderr
    return int(wait_for(lambda: read_text(str(pidfile)), what="the driver to start"))


def test_a_cluster_mode_driver_dies_when_its_master_is_killed(tmp_path, master):
    """SIGKILL the master while its cluster-mode driver runs: the driver goes too."""
    proc, url, env = master
    driver_pid = submit_cluster_mode(tmp_path, url, env, "time.sleep(300)\n")
    try:
        assert pid_alive(driver_pid) and parent_pid(driver_pid) == proc.pid
        proc.kill()
        proc.wait(10)
        wait_for(lambda: not pid_alive(driver_pid), timeout=10,
                 what=f"the driver (pid {driver_pid}) to die with its master")
    finally:
        if pid_alive(driver_pid) and "vega_cli.main" in cmdline(driver_pid):
            os.kill(driver_pid, signal.SIGKILL)


def test_a_cluster_mode_drivers_daemonized_grandchild_ends_with_it(tmp_path, master):
    """A cluster-mode driver whose job leaves a daemonized process behind and ends: the
    process is gone with the driver."""
    _, url, env = master
    grandchild_file = tmp_path / "grandchild.pid"
    driver_pid = submit_cluster_mode(tmp_path, url, env, inspect.getsource(start_daemonized_sleep)
                                     + textwrap.dedent(f"""
        with open({str(grandchild_file)!r} + ".tmp", "w") as fh:
            fh.write(str(start_daemonized_sleep(None)))
        os.replace({str(grandchild_file)!r} + ".tmp", {str(grandchild_file)!r})
    """))
    grandchild = int(wait_for(lambda: read_text(str(grandchild_file)), what="the grandchild"))
    try:
        wait_for(lambda: not pid_alive(driver_pid), what="the driver to finish")
        wait_for(lambda: not pid_alive(grandchild), timeout=10,
                 what=f"the driver's daemonized grandchild (pid {grandchild}) to end with it")
    finally:
        if pid_alive(grandchild) and "sleep" in cmdline(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_a_daemon_stops_on_a_sigterm_another_of_its_threads_took():
    """A daemon's main thread waits for SIGTERM; a SIGTERM the kernel hands to another of
    its threads must stop it at once (its handler runs only in the main thread, which a lock
    wait does not leave for it: a local cluster's master stopped as it started ran on until
    the SIGKILL 5 s later, now and then, and later stopped up to a round of 0.2 s late, in
    one stop of five). Here a thread of the daemon takes the signal itself (pthread_kill)
    once the main thread waits, in rounds made a minute long: only the relay
    (``processes.relay_signals``) ends the wait within the test's 30 s."""
    script = (
        "import signal, sys, threading\n"
        "import vega_runtime.deploy.daemon_main as daemon_main\n"
        "from vega_runtime.deploy.daemon_main import wait_for_signal\n"
        "daemon_main.SIGNAL_CHECK_SECONDS = 60\n"
        "main = threading.main_thread().ident\n"
        "def waiting():  # the main thread's frames: wait_for_signal's wait on its Event\n"
        "    frame, names = sys._current_frames()[main], []\n"
        "    while frame is not None:\n"
        "        names, frame = names + [frame.f_code.co_name], frame.f_back\n"
        "    return names[0] == 'wait' and 'wait_for_signal' in names\n"
        "def take_it():\n"
        "    while not waiting():\n"
        "        threading.Event().wait(0.01)\n"
        "    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)\n"
        "threading.Thread(target=take_it, daemon=True).start()\n"
        "wait_for_signal()\n"
        "print('stopped')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert (done.returncode, done.stdout) == (0, "stopped\n"), done.stderr


def test_a_signal_another_thread_takes_wakes_the_main_threads_queue_wait():
    """A worker's main thread waits on its event queue; ``relay_signals`` wakes that wait
    when a signal lands in another thread, so the handler (main thread only) runs at once,
    not when the wait ends (a minute here: the test's 30 s would end first)."""
    script = (
        "import queue, signal, threading\n"
        "from vega_runtime.processes import relay_signals\n"
        "events, handled = queue.Queue(), []\n"
        "signal.signal(signal.SIGTERM, lambda *_: handled.append(threading.current_thread().name))\n"
        "relay_signals(lambda: events.put('woken'))\n"
        "threading.Timer(0.2, lambda: signal.pthread_kill(threading.get_ident(), signal.SIGTERM)).start()\n"
        "while not handled:\n"
        "    try:\n"
        "        events.get(timeout=60)\n"
        "    except queue.Empty:\n"
        "        pass\n"
        "print(handled)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert (done.returncode, done.stdout) == (0, "['MainThread']\n"), done.stderr


def test_a_stopping_signal_sent_again_from_the_unraisable_hook_is_taken_at_once():
    """A stopping signal whose handler raised in a weakref callback is sent again
    (``processes.take_lost_signals_again``) after ``RETAKE_DELAY``; made 0 here, as for a
    main thread that gets no CPU for that long: the hook started a ``Timer``, whose
    ``start`` waits until its thread runs, so the signal sent again landed in the hook,
    where Python drops it too, and the job ran on (lost in 20 runs of 20)."""
    script = (
        "import os, signal, threading, weakref\n"
        "import vega_runtime.processes as processes\n"
        "processes.RETAKE_DELAY = 0\n"
        "processes.take_lost_signals_again()\n"
        "class Stop(SystemExit):\n"
        "    def __init__(self, signum):\n"
        "        super().__init__(128 + signum)\n"
        "        self.signum = signum\n"
        "def handler(signum, frame):\n"
        "    raise Stop(signum)\n"
        "signal.signal(signal.SIGTERM, handler)\n"
        "class Thing:\n"
        "    pass\n"
        "try:\n"
        "    thing = Thing()\n"
        "    ref = weakref.ref(thing, lambda _: os.kill(os.getpid(), signal.SIGTERM))\n"
        "    del thing  # the handler raises in the callback: dropped, and sent again\n"
        "    threading.Event().wait(60)\n"
        "    print('lost')\n"
        "except Stop:\n"
        "    print('taken')\n")
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=30, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        assert (done.returncode, done.stdout) == (0, "taken\n"), done.stderr
