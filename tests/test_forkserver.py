"""The fork server (vega_runtime.forkserver): real forked processes, their titles, exit codes,
environment and lifetimes."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading

import pytest

from vega_runtime.forkserver import ForkServer, command_title, compatible, safe_path_module
from vega_runtime.net.framing import send_frame

from proc_helpers import REPO, clean_env, cmdline, pid_alive, read_text, vega_argv, wait_for

TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def server(tmp_path):
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join([TESTS, *sys.path])}
    fork_server = ForkServer.spawn(env, ["forkserver_targets"], str(tmp_path / "server.log"))
    yield fork_server
    fork_server.close()


def launch(server, tmp_path, function, *argv, env=None, tie=False, imports=()):
    log = str(tmp_path / f"{function}.log")
    child = server.launch(f"forkserver_targets:{function}", list(argv), env or server.env, log,
                          command_title("forkserver_targets", argv), tie=tie, imports=imports)
    return child, log


def loaded_in_child(server, tmp_path, *modules, imports=()):
    """The line a child forked now prints about which of ``modules`` it has already."""
    child, log = launch(server, tmp_path, "show_loaded", *modules, imports=imports)
    assert child.wait(30) == 0
    line = read_text(log).splitlines()[-1]
    os.unlink(log)
    return line


def test_a_child_runs_its_entry_with_its_own_environment_and_exit_code(server, tmp_path):
    child, log = launch(server, tmp_path, "report", "3", "x",
                        env={**server.env, "FORKSERVER_TEST": "yes"})
    assert child.wait(30) == 3
    lines = read_text(log).splitlines()
    assert lines[0] == "argv 3 x"
    assert lines[1] == "env yes"
    assert lines[3] == "session-leader True"  # stopped by process group, like Popen's sessions


def test_children_hash_like_a_fresh_interpreter_with_the_same_seed(server, tmp_path):
    child, log = launch(server, tmp_path, "report", "0")
    assert child.wait(30) == 0
    fresh = subprocess.run([sys.executable, "-c", "print(hash('vega'))"], capture_output=True,
                           text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True)
    assert read_text(log).splitlines()[2] == f"hash {fresh.stdout.strip()}"


def test_children_inherit_what_a_call_prepared_in_the_fork_server(server, tmp_path):
    """A call runs in the fork server itself: children forked after it inherit its work (a
    local cluster's TLS contexts); a failing call is reported and changes nothing."""
    child, log = launch(server, tmp_path, "show_prepared")
    assert child.wait(30) == 0
    assert read_text(log).splitlines() == ["prepared "]
    assert server.call("forkserver_targets:prepare", ["tls", "contexts"]) is True
    assert server.call("forkserver_targets:fail_to_prepare", ["it"]) is False
    child, log = launch(server, tmp_path, "show_prepared")
    assert child.wait(30) == 0
    assert read_text(log).splitlines() == ["prepared ", "prepared tls contexts"]  # same log


def test_a_launch_has_its_imports_done_first_and_later_children_keep_them(server, tmp_path):
    """A launch's ``imports`` are imported by the fork server before it forks the child, once
    for every child after it; one that cannot be imported fails the launch (None: the caller
    starts a new interpreter, which reports the error itself)."""
    assert loaded_in_child(server, tmp_path, "colorsys", "wave") == "loaded "  # neither yet
    assert loaded_in_child(server, tmp_path, "colorsys", imports=["colorsys"]) == "loaded colorsys"
    assert loaded_in_child(server, tmp_path, "colorsys") == "loaded colorsys"
    assert launch(server, tmp_path, "report", "0", imports=["no_such_module_here"])[0] is None
    assert loaded_in_child(server, tmp_path, "colorsys") == "loaded colorsys"  # still serving


def test_a_fork_server_imports_its_prefetch_while_idle(tmp_path):
    """``prefetch`` is imported after the preload, while no request waits: children forked
    once it is in have it without asking; a module that cannot be imported is skipped."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": os.pathsep.join([TESTS, *sys.path])}
    server = ForkServer.spawn(env, ["forkserver_targets"], str(tmp_path / "server.log"),
                              prefetch=["no_such_module_here", "wave"])
    try:
        wait_for(lambda: loaded_in_child(server, tmp_path, "wave") == "loaded wave", 30,
                 "the fork server to import its prefetch")
    finally:
        server.close()


def test_a_different_startup_environment_is_refused(server, tmp_path):
    """A fork keeps the server's hash seed: a launch wanting another one gets None."""
    child, _ = launch(server, tmp_path, "report", "0", env={**server.env, "PYTHONHASHSEED": "7"})
    assert child is None
    assert compatible({"PYTHONHASHSEED": "0", "HOME": "/a"}, {"PYTHONHASHSEED": "0", "HOME": "/b"})
    assert not compatible({"PYTHONPATH": "/a"}, {})


def test_a_child_shows_its_command_line_as_its_title(server, tmp_path):
    child, _ = launch(server, tmp_path, "sleep", "30")
    try:
        title = [sys.executable, "-m", "forkserver_targets", "30"]
        wait_for(lambda: cmdline(child.pid) == title, 10, f"the child's title {title}")
    finally:
        os.kill(child.pid, signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL


def test_tied_children_die_with_the_fork_server(server, tmp_path):
    tied, _ = launch(server, tmp_path, "sleep", "60", tie=True)
    os.kill(server.server.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(tied.pid), 10, "the tied child to die with its fork server")
    assert tied.wait(10) == -signal.SIGKILL  # reported by the client once the server is gone
    assert launch(server, tmp_path, "report", "0")[0] is None  # the caller starts one itself


def test_the_fork_server_exits_when_its_client_closes(tmp_path):
    server = ForkServer.spawn({**os.environ, "PYTHONHASHSEED": "0"}, [], str(tmp_path / "s.log"))
    pid = server.server.pid
    server.close()
    assert not pid_alive(pid)


FORK_SCRIPT = """
import os, sys
from vega_runtime.forkserver import ForkServer, command_title
server = ForkServer.fork(["json"])
child = server.launch("vega_cli.main:main", ["--version"], dict(os.environ), sys.argv[1],
                      command_title("vega_cli.main", ["--version"]))
print("parent-of-server", os.getppid() != server.server.pid and server.server.pid != os.getpid())
print("code", child.wait(30))
server.close()
print("server-code", server.server.returncode)
"""


def test_a_single_threaded_process_forks_its_own_fork_server(tmp_path):
    """Workers with the executors' hash seed fork their fork server, sharing their imports."""
    log = tmp_path / "child.log"
    out = subprocess.run([sys.executable, "-c", FORK_SCRIPT, str(log)], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["parent-of-server True", "code 0", "server-code 0"]
    assert read_text(str(log)).startswith("vega, version ")


def test_a_process_with_a_thread_python_does_not_know_of_does_not_fork_a_fork_server():
    """A thread started outside ``threading`` (``_thread``'s here; a library's own pool, such
    as OpenBLAS's or a CUDA runtime's, in a driver) counts: its state would be copied into
    the fork server and every process forked from it, without the thread."""
    import _thread

    started, stop = _thread.allocate_lock(), _thread.allocate_lock()
    started.acquire()
    stop.acquire()
    _thread.start_new_thread(lambda: (started.release(), stop.acquire()), ())
    started.acquire()
    try:
        # what threading knows of (a thread an earlier test left would make this test pass
        # whatever fork() checks)
        assert threading.enumerate() == [threading.main_thread()], threading.enumerate()
        assert ForkServer.fork([]) is None
    finally:
        stop.release()


def test_a_threaded_process_does_not_fork_a_fork_server():
    started = threading.Event()
    stop = threading.Event()
    helper = threading.Thread(target=lambda: (started.set(), stop.wait()))
    helper.start()
    try:
        started.wait()
        assert ForkServer.fork([]) is None
    finally:
        stop.set()
        helper.join()


SEED_JOB = """
import os, sys
from proc_helpers import cmdline, parent_pid
from vega_runtime import Context
ballast = bytearray(int(sys.argv[1]))  # the driver's data memory
with Context("local-cluster[2,1]", "seeds") as ctx:
    found = ctx.parallelize(range(4), 4).map(lambda _: (hash("vega"), os.getpid())).collect()
    fork_server = cmdline(parent_pid(ctx.backend.owned_cluster.processes[0].pid))
print(hash("vega"), sorted({h for h, _ in found}), len({p for _, p in found}),
      "forked" if fork_server[1] == "-m" else "new")
"""


def fresh_hash(seed: str) -> int:
    out = subprocess.run([sys.executable, "-c", "print(hash('vega'))"], capture_output=True,
                         text=True, env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
    return int(out.stdout)


@pytest.mark.parametrize("seed, ballast, forked", [
    (None, 0, True), ("0", 0, True), (None, 100 << 20, False), ("7", 0, False)])
def test_executors_hash_alike_with_the_drivers_seed_or_pysparks_default(seed, ballast, forked):
    """Every executor of a local cluster hashes alike: like the driver when the cluster is
    forked from it (as local[N]'s executors are: a driver of little data, with PySpark's seed
    0 or a random one, which no new interpreter could take), else (a driver holding much
    data, which its executors would inherit; another fixed seed) with the driver's fixed seed
    or 0, as on a cluster."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = os.pathsep.join([TESTS, *sys.path])
    if seed:
        env["PYTHONHASHSEED"] = seed
    out = subprocess.run([sys.executable, "-c", SEED_JOB, str(ballast)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    driver, executors, processes, started = out.stdout.rsplit(" ", 3)
    expected = int(driver) if forked else fresh_hash(seed or "0")
    assert (executors, processes, started.strip()) == \
        (f"[{expected}]", "2", "forked" if forked else "new")


KILLED_FORK_SERVER_JOB = """
import os, signal
from proc_helpers import executor_processes, parent_pid, pid_alive, wait_for
from vega_runtime import Context
with Context("local-cluster[1,1]", "fork-only") as ctx:
    print(ctx.parallelize(range(4), 2).count())
    [executor] = executor_processes(ctx.app_dir)
    os.kill(parent_pid(executor), signal.SIGKILL)  # the executors' fork server
    wait_for(lambda: not pid_alive(executor), 10, "the executor to die with its fork server")
    try:
        ctx.parallelize(range(4), 2).map(lambda _: hash("vega")).collect()
    except Exception as exc:
        print(type(exc).__name__, exc)
"""


def test_executors_that_could_not_hash_like_the_others_are_not_started():
    """A local cluster forked from a driver with a random hash seed: when its worker's fork
    server is gone, the worker cannot start an executor that hashes like the others (a new
    interpreter would start as a fresh one would): the job fails saying so and what to do,
    rather than placing keys unlike the executors before it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = os.pathsep.join([TESTS, *sys.path])
    out = subprocess.run([sys.executable, "-c", KILLED_FORK_SERVER_JOB], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    first, failure = out.stdout.splitlines()
    assert first == "4"
    assert failure.startswith("ExecutorsCannotStart the application's executors cannot "
                              "start: this local cluster's executors must be forked from its "
                              "worker's fork server, which is gone (they hash like the driver, "
                              "whose hash seed is random, and no new interpreter can): stop "
                              "the Context and start it again"), failure


def test_a_local_cluster_context_that_fails_to_start_leaves_no_fork_server():
    """The fork server a local-cluster Context starts before reading its configuration is
    stopped when that configuration is wrong."""
    from vega_runtime import ConfigError, Context

    from proc_helpers import descendants

    def fork_servers() -> set:  # (a session-scoped cluster of other tests may have its own)
        return {p for p in descendants(os.getpid())
                if "vega_runtime.forkserver" in " ".join(cmdline(p))}

    before = fork_servers()
    with pytest.raises(ConfigError):
        Context("local-cluster[2,1]", "bad", conf={"vega.no.such.setting": 1})
    wait_for(lambda: fork_servers() <= before, 10, "the fork server to exit")


def test_what_a_killed_child_left_behind_is_killed_by_the_fork_server(server, tmp_path):
    """A child SIGKILLed with a daemonized grandchild: the grandchild re-parents to the fork
    server (a subreaper), which kills it."""
    pidfile = str(tmp_path / "grandchild.pid")
    child, _ = launch(server, tmp_path, "daemonize_sleep", pidfile)
    grandchild = int(wait_for(lambda: read_text(pidfile), what="the grandchild's pid"))
    try:
        assert pid_alive(grandchild)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
        wait_for(lambda: not pid_alive(grandchild), timeout=10,
                 what="the fork server to kill the orphaned grandchild")
    finally:
        if pid_alive(grandchild) and "sleep" in cmdline(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_a_local_cluster_runs_the_drivers_vega_not_one_in_its_working_directory(tmp_path):
    """The daemons and executors of a local cluster import Vega from where the driver did,
    not from a ``vega_runtime`` that happens to lie in the driver's working directory."""
    decoy = tmp_path / "cwd" / "vega_runtime"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy vega_runtime was imported')\n")
    job = tmp_path / "job.py"
    job.write_text("from vega_runtime import Context\n"
                   "with Context('local-cluster[1,1]', 'cwd') as ctx:\n"
                   "    print(ctx.parallelize(range(3), 3).map(lambda x: x * 2).sum())\n")
    out = subprocess.run([sys.executable, str(job)], capture_output=True, text=True,
                         cwd=decoy.parent, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["6"]


def test_a_local_cluster_started_under_a_redirected_stderr_logs_to_its_log_files(tmp_path):
    """A driver whose ``sys.stderr`` is not its descriptor 2 (``contextlib.redirect_stderr``
    here; pytest's capture did it to the suite) when it forks its fork server: the local
    cluster's daemons, forked from that, logged into their copy of that stream (a StringIO:
    lost), and their log files, which a daemon that fails to start is reported with (and
    which tests read the worker's /metrics port from), stayed empty. Found with
    tests/test_prometheus_scrape.py run on its own (alone, its Context is the first of the
    process: it forks the fork server; after another test's threads, it spawns one)."""
    job = tmp_path / "job.py"
    job.write_text(textwrap.dedent("""
        import contextlib, io, os, re, time
        from vega_runtime import Context
        with contextlib.redirect_stderr(io.StringIO()):
            ctx = Context("local-cluster[1,1]", "redirected")
        with ctx:
            print(ctx.parallelize(range(3), 3).sum())
            worker_log = ctx.backend.owned_cluster.log_paths[1]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "worker metrics on" not in open(worker_log).read():
                time.sleep(0.1)
            print("worker metrics on" in open(worker_log).read())
    """))
    out = subprocess.run([sys.executable, str(job)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "True"]


def test_the_safe_path_command_of_python_3_10_runs_the_module_not_the_working_directorys(
        tmp_path):
    """Python 3.10 has no ``-P``: its command takes the working directory off the module path
    itself and runs the module as ``-m`` would (run here by this Python; the same with 3.10)."""
    real, cwd = tmp_path / "real", tmp_path / "cwd"
    for root, says in [(real, "real"), (cwd, "decoy")]:
        (root / "probe").mkdir(parents=True)
        (root / "probe" / "__init__.py").write_text(f"WHO = {says!r}\n")
    (real / "probe" / "main.py").write_text(
        "import sys, probe\n"
        "print(probe.WHO, __name__, sys.argv[0] == __file__, sys.argv[1:])\n")
    out = subprocess.run([*safe_path_module("probe.main"), "a", "--b"], capture_output=True, text=True, cwd=cwd,
                         env=clean_env(PYTHONPATH=str(real)), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "real __main__ True ['a', '--b']\n"


def test_a_local_cluster_worker_forks_its_executors_fork_server_from_itself():
    """A local cluster's worker (one thread when it starts) forks the fork server of its
    executors from itself, sharing its imports, rather than starting a new interpreter
    (``-P -m vega_runtime.forkserver ... PARENT``: ~0.1 s of CPU, a third of a trivial
    job's time on local-cluster[2,1]).  A thread the worker started before it (the watch
    of its work dir) had made every worker take the slow way."""
    from proc_helpers import executor_processes, parent_pid

    from vega_runtime import Context

    with Context(master="local-cluster[1,1]", app_name="forked") as ctx:
        assert ctx.parallelize([1, 2], 2).count() == 2
        [executor] = executor_processes(ctx.app_dir)
        fork_server = cmdline(parent_pid(executor))
    assert fork_server[1:] == ["-m", "vega_runtime.forkserver",
                               "vega_runtime.deploy.executor_preload"], fork_server


TLS_JOB = """
import os, socket
from vega_runtime import Context
from vega_runtime.net.connection import load_secret
from vega_runtime.net.tls import cluster_tls
with Context("local-cluster[1,1]", "tls") as ctx:
    cluster = ctx.backend.owned_cluster
    with socket.create_connection(("127.0.0.1", cluster.master_port)) as raw:
        with cluster_tls(load_secret(cluster.secret_file)).client.wrap_socket(raw) as conn:
            subject = dict(pair[0] for pair in conn.getpeercert()["subject"])
print(subject["commonName"].endswith(f" pid {os.getpid()}"))
"""


def test_a_local_cluster_forked_from_its_driver_shares_the_drivers_tls_certificate():
    """A driver that forks its local cluster's fork server issues its TLS certificate first,
    and the fork server and the daemons forked from it present that one (the master here):
    none of them imports TLS or issues a certificate again (~16 ms of CPU at every
    start-up)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, *sys.path])}
    done = subprocess.run([sys.executable, "-c", TLS_JOB], capture_output=True, text=True,
                          env=env, timeout=120, cwd=TESTS)
    assert (done.returncode, done.stdout) == (0, "True\n"), done.stderr


MODULES_JOB = """
import sys
from vega_runtime import Context
NAMES = ["dataclasses", "inspect"]
with Context("local-cluster[1,1]", "modules") as ctx:
    ctx.parallelize([1, 2, 3]).count()
    cluster = ctx.backend.owned_cluster
    child = cluster.forkserver.launch("forkserver_targets:show_loaded", NAMES, cluster.env,
                                      sys.argv[1], "show_loaded")
    child.wait()
print([name for name in NAMES if name in sys.modules], open(sys.argv[1]).read().split())
"""


def test_a_local_cluster_loads_no_dataclasses_in_its_driver_or_daemons(tmp_path):
    """Neither a local cluster's driver nor the fork server its daemons are forked from (so
    none of them) imports ``dataclasses``, which loads ``inspect``, ``ast`` and ``dis``
    (~4 ms of CPU in each, and more for each class it builds): the cluster messages, job
    packages, drivers and dynamic allocation's decisions are records."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, *sys.path])}
    done = subprocess.run([sys.executable, "-c", MODULES_JOB, str(tmp_path / "child.log")],
                          capture_output=True, text=True, env=env, timeout=120, cwd=TESTS)
    assert (done.returncode, done.stdout) == (0, "[] ['loaded']\n"), done.stderr


def test_a_local_cluster_refuses_python_startup_variables_for_its_executors_saying_why(
        tmp_path):
    """spark.executorEnv.PYTHONPATH (or any PYTHON* variable an interpreter reads at start)
    on local-cluster, whose executors are forks of the driver (a driver of a random hash
    seed, as vega submit's): they cannot have them. The job failed saying the worker's fork
    server 'is gone ... stop the Context and start it again', which would not help; now the
    error names the variable and what to do."""
    job = tmp_path / "job.py"
    job.write_text("from vega_runtime import Context\n"
                   "with Context() as ctx:\n    ctx.parallelize([1]).count()\n")
    result = subprocess.run(vega_argv("submit", "--master", "local-cluster[1,1]", "--conf",
                                      "spark.executorEnv.PYTHONPATH=/opt/libs", str(job)),
                            cwd=REPO, env=clean_env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, result.stderr
    assert ("vega: job failed: the application's executors cannot start: a local cluster's "
            "executors are forks of the driver's interpreter, so they cannot have Python "
            "start-up variables of their own (PYTHONPATH): set them in the driver's "
            "environment before it starts, or give them on a vega:// cluster") \
        in result.stderr, result.stderr


def test_a_fork_server_whose_client_goes_while_it_answers_ends_quietly(tmp_path):
    """A client gone while the fork server forks or calls for it (a Ctrl-C at a Context's
    start in a Jupyter kernel, whose threads make the fork server a new interpreter writing
    to the kernel's stderr) ends the fork server without a traceback (a BrokenPipeError's,
    in the user's cell, before)."""
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join([TESTS, *sys.path])}
    log, there = tmp_path / "server.log", tmp_path / "there"
    server = ForkServer.spawn(env, ["forkserver_targets"], str(log))
    send_frame(server.sock, {"type": "call", "entry": "forkserver_targets:prepare_once_there",
                             "argv": [str(there)]})
    server.sock.shutdown(socket.SHUT_RDWR)  # gone before its answer
    there.touch()
    server.close()
    assert (server.server.returncode, log.read_text()) == (0, "")
