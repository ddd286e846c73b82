"""The cluster runtime end to end: a real master, workers and executors on loopback.

Every daemon is a separate process started with the ``vega`` command line, on
ephemeral ports, with a cluster secret.  Waits are for events (a ready file, a
log line, ``vega status --json`` showing a state), each with a deadline.
"""

import functools
import json
import os
import re
import signal
import subprocess
import threading
import time
from operator import add

import pytest

from vega_runtime import Context, __version__
from vega_runtime.net.connection import Connection, create_secret_file, load_secret
from vega_runtime.net.messages import RegisteredWorker, RegisterWorker, RegisterWorkerFailed
from vega_runtime.versions import python_version

import proc_helpers
from proc_helpers import (EXECUTOR_MODULE, clean_env, executor_processes, kill_group,
                          processes_matching, read_text, spawn_vega, stop_processes, wait_for,
                          worker_of, write_job)

START_TIMEOUT = 30.0
PREFIX = re.compile(r"^\[127\.0\.0\.1 (exec-\d+) (\d+)\.(\d+)\] (.*)$")

vega = functools.partial(proc_helpers.vega, timeout=90)  # `vega ARGS` from the repo root


# -- helpers ----------------------------------------------------------------------------------

class Cluster:
    """A master and workers as processes of their own, all under one directory."""

    def __init__(self, root, worker_timeout=None, master_args=()):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.marker = self.root + os.sep  # every daemon's and executor's argv contains it
        self.secret_file = os.path.join(self.root, "secret")
        create_secret_file(self.secret_file)
        self.secret = load_secret(self.secret_file)
        self.procs = []
        self.workers = []
        self.master_dir = os.path.join(self.root, "master")
        ready = os.path.join(self.root, "master.ready")
        args = ["master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                "--work-dir", self.master_dir, "--ready-file", ready,
                "--secret-file", self.secret_file]
        if worker_timeout is not None:
            args += ["--worker-timeout", str(worker_timeout)]
        args += list(master_args)
        self.master_args, self.master_ready = args, ready
        self.master = self._spawn("master", args)
        info = wait_for(lambda: self._ready(ready, self.master), START_TIMEOUT, "the master's ready file")
        self.port = info["port"]
        self.url = f"vega://127.0.0.1:{self.port}"
        self.master_log = os.path.join(self.master_dir, "master.log")

    def _spawn(self, name, args, env=None):
        out = open(os.path.join(self.root, f"{name}.out"), "ab")
        proc = spawn_vega(*args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                          env=env or clean_env(), start_new_session=True)
        out.close()
        proc.name = name
        self.procs.append(proc)
        return proc

    @staticmethod
    def _ready(path, proc):
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with code {proc.returncode}")
        if os.path.exists(path):
            with open(path) as fh:
                return json.load(fh)
        return None

    def kill_master(self) -> None:
        """SIGKILL the master (as a crash would)."""
        os.killpg(self.master.pid, signal.SIGKILL)
        self.master.wait(10)
        os.unlink(self.master_ready)

    def restart_master(self) -> None:
        """Start the master again on its port, with its work and recovery directory; returns
        once it listens."""
        args = list(self.master_args)
        args[args.index("--port") + 1] = str(self.port)
        self.master = self._spawn("master", args)
        wait_for(lambda: self._ready(self.master_ready, self.master), START_TIMEOUT,
                 "the restarted master's ready file")

    def start_worker(self, name, secret_file=None, wait=True, args=()):
        """A worker with 1 core and 1g (and ``args``); with ``wait``, returns once it has
        registered."""
        work_dir = os.path.join(self.root, name)
        proc = self._spawn(name, ["worker", self.url, "--host", "127.0.0.1", "--cores", "1",
                                  "--memory", "1g", "--work-dir", work_dir,
                                  "--secret-file", secret_file or self.secret_file, *args])
        proc.work_dir = work_dir
        proc.log_path = os.path.join(work_dir, "worker.log")
        proc.worker_id = None
        if wait:
            def registered():
                if proc.poll() is not None:
                    raise AssertionError(f"worker {name} exited with code {proc.returncode}: "
                                         + read_text(proc.log_path)[-2000:])
                match = re.search(r"registered with master \S+ as (\S+)", read_text(proc.log_path))
                return match and match.group(1)
            proc.worker_id = wait_for(registered, START_TIMEOUT, f"worker {name} to register")
            self.workers.append(proc)
        return proc

    def status(self, secret_file=None) -> dict:
        result = vega("status", "--master", self.url, "--json",
                      "--secret-file", secret_file or self.secret_file, timeout=30)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def worker_states(self) -> dict:
        return {w["id"]: w["state"] for w in self.status()["workers"]}

    def submit(self, *args, timeout=90, secret_file=None):
        env = clean_env(VEGA_SECRET_FILE=secret_file or self.secret_file)
        return vega("submit", "--master", self.url, *args, env=env, timeout=timeout)

    def spawn_driver(self, *args, secret_file=None):
        """``vega submit`` in the background, its stdout lines readable from a queue."""
        env = clean_env(VEGA_SECRET_FILE=secret_file or self.secret_file)
        proc = spawn_vega("submit", "--master", self.url, *args, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, start_new_session=True)
        proc.lines = []
        proc.err = []

        def pump(stream, sink):
            for line in iter(stream.readline, ""):
                sink.append(line)

        for stream, sink in ((proc.stdout, proc.lines), (proc.stderr, proc.err)):
            threading.Thread(target=pump, args=(stream, sink), daemon=True).start()
        self.procs.append(proc)
        return proc

    def executors(self, *markers) -> dict:
        return executor_processes(self.marker, *markers)

    def stop(self) -> None:
        stop_processes(self.procs, self.marker)


HOLD_JOB = """
    import json, os, sys, time
    from operator import add
    from vega_runtime import Context, TaskContext

    barrier, release = sys.argv[1], sys.argv[2]

    def meet(x):
        # Each task waits until tasks on two different workers have started, so the
        # job cannot finish on the first executor alone.
        ctx = TaskContext.get()
        open(os.path.join(barrier, f"{os.getppid()}-{ctx.executor_id}"), "w").close()
        deadline = time.monotonic() + 30
        while len({n.split("-")[0] for n in os.listdir(barrier)}) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return ctx.executor_id, os.getppid()

    with Context() as ctx:
        where = sorted(set(ctx.parallelize(range(2), 2).map(meet).collect()))
        print("READY", json.dumps(where), flush=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
        pairs = ctx.parallelize([(i % 5, i) for i in range(200)], 4).reduce_by_key(add)
        print("AFTER", json.dumps(sorted(pairs.collect())), flush=True)
"""

WHERE_JOB = """
    import json, os, sys
    from operator import add
    from vega_runtime import Context, TaskContext

    def tag(kv):
        ctx = TaskContext.get()
        return ctx.executor_id, ctx.host, os.getppid()

    with Context() as ctx:
        pairs = ctx.parallelize([(i % 5, i) for i in range(200)], 4).reduce_by_key(add)
        print("RESULT", json.dumps(sorted(pairs.collect())))
        print("WHERE", json.dumps(sorted(set(pairs.map(tag).collect()))))
"""


def expected_pairs():
    sums = {}
    for i in range(200):
        sums[i % 5] = sums.get(i % 5, 0) + i
    return sorted([k, v] for k, v in sums.items())


def table_rows(text: str, title: str) -> list:
    """The rows of the rich table titled ``title``, cells folded over several lines joined."""
    rows, inside = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[0] not in "│|┃┏┡└┗━─+":
            inside = stripped == title
            continue
        if not inside or stripped[0] not in "│|":
            continue
        cells = [c.strip() for c in re.split(r"[│|]", stripped)[1:-1]]
        if len(cells) > 1 and cells[1] or not rows:  # a new row names its host
            rows.append(cells)
        else:  # the continuation of a folded cell
            rows[-1] = [a + b for a, b in zip(rows[-1], cells)]
    return rows


def line_value(lines, tag):
    for line in lines:
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"no {tag} line in {lines!r}")


# -- the shared cluster -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A master and two workers (1 core, 1g each) sharing a secret."""
    running = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        running.start_worker("worker-a")
        running.start_worker("worker-b")
        yield running
    finally:
        running.stop()


@pytest.fixture
def other_secret(tmp_path):
    path = os.path.join(str(tmp_path), "other-secret")
    create_secret_file(path)
    return path


def test_status_json_shows_both_workers_alive_with_their_cores_and_memory(cluster):
    """`vega status --json` lists both workers alive with 1 core and 1 GiB, in the documented shape."""
    status = cluster.status()
    assert {"master", "workers", "applications"} <= set(status)
    assert status["master"]["url"] == cluster.url
    assert status["master"]["version"] == __version__
    assert status["master"]["python"] == python_version()
    assert {"started", "uptime_seconds"} <= set(status["master"])
    workers = {w["id"]: w for w in status["workers"]}
    assert set(workers) == {w.worker_id for w in cluster.workers}
    for worker in workers.values():
        assert {"id", "host", "port", "state", "cores", "cores_used", "memory_bytes",
                "memory_used_bytes", "labels", "last_heartbeat_seconds_ago",
                "executors"} <= set(worker)
        assert worker["state"] == "alive"
        assert worker["host"] == "127.0.0.1"
        assert worker["cores"] == 1
        assert worker["memory_bytes"] == 1 << 30
        assert worker["cores_used"] == 0 and worker["memory_used_bytes"] == 0
        assert worker["executors"] == []
        assert 0 <= worker["last_heartbeat_seconds_ago"] < 15


def test_status_table_lists_both_worker_ids(cluster):
    """`vega status` without --json prints a table naming both workers in full."""
    result = vega("status", "--master", cluster.url, "--secret-file", cluster.secret_file)
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout, "workers")
    assert {row[0]: row[2] for row in rows} == {w.worker_id: "alive" for w in cluster.workers}, \
        result.stdout
    lines = result.stdout.splitlines()  # to a pipe: each id whole on its line, not folded
    assert all(any(w.worker_id in line for line in lines) for w in cluster.workers), result.stdout


def test_submit_wordcount_prints_the_same_top_words_as_local_master(cluster):
    """jobs/wordcount.py on the cluster prints exactly what it prints with --master local."""
    local = vega("submit", "--master", "local", "jobs/wordcount.py", "data/sample.txt")
    assert local.returncode == 0, local.stderr
    remote = cluster.submit("jobs/wordcount.py", "data/sample.txt")
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    assert len(remote.stdout.splitlines()) == 10


def test_task_output_lines_carry_host_executor_stage_partition_prefix(cluster, tmp_path):
    """Every line a task prints reaches the driver as `[127.0.0.1 exec-N S.P] text`."""
    job = write_job(tmp_path, "chatty.py", """
        from vega_runtime import Context, TaskContext
        with Context() as ctx:
            def shout(x):
                print(f"line-from-task {x} {TaskContext.get().partition_id()}")
                return x
            ctx.parallelize(range(4), 4).map(shout).collect()
            print("driver-done")
    """)
    result = cluster.submit(job)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "driver-done"
    tagged = [PREFIX.match(line) for line in lines[:-1]]
    assert all(tagged), lines
    assert sorted(int(m.group(3)) for m in tagged) == [0, 1, 2, 3]
    for m in tagged:
        value, partition = m.group(4).split()[1:]
        assert m.group(4).startswith("line-from-task ")
        assert m.group(2) == "0" and m.group(3) == partition == value


def test_tasks_run_on_both_workers(cluster, tmp_path):
    """A job whose tasks need each other runs on executors of both workers, with exact results."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    release = tmp_path / "release"
    release.write_text("")
    job = write_job(tmp_path, "hold.py", HOLD_JOB)
    result = cluster.submit(job, str(barrier), str(release))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    where = line_value(lines, "READY")
    assert {worker_of(ppid) for _, ppid in where} == {w.pid for w in cluster.workers}
    assert len({executor for executor, _ in where}) == 2
    assert line_value(lines, "AFTER") == expected_pairs()


def test_finished_application_is_shown_finished_and_leaves_no_executors(cluster, tmp_path):
    """After a job, status shows its application finished, no cores in use and no executor processes."""
    job = write_job(tmp_path, "where.py", WHERE_JOB)
    result = cluster.submit("--name", "e2e-finished", job)
    assert result.returncode == 0, result.stderr
    assert line_value(result.stdout.splitlines(), "RESULT") == expected_pairs()

    def finished():
        status = cluster.status()
        apps = [a for a in status["applications"] if a["name"] == "e2e-finished"]
        return apps if apps and all(a["state"] == "finished" for a in apps) else None

    apps = wait_for(finished, 10, "the application to be shown finished")
    assert len(apps) == 1 and apps[0]["cores"] == 0
    app_id = apps[0]["id"]
    wait_for(lambda: not cluster.executors(app_id), 10, f"the executors of {app_id} to exit")
    wait_for(lambda: not cluster.executors(), 10, "all executor processes to exit")
    status = cluster.status()
    for worker in status["workers"]:
        assert worker["state"] == "alive"
        assert worker["cores_used"] == 0 and worker["executors"] == []
    # its shuffle output goes at once (it stayed for --work-dir-ttl, an hour); its logs stay
    app_dirs = [os.path.join(w.work_dir, app_id) for w in cluster.workers]
    wait_for(lambda: not any(os.path.exists(os.path.join(d, "shuffle")) for d in app_dirs), 10,
             "the finished application's shuffle directories to be deleted")
    for app_dir in app_dirs:
        assert [name for name in os.listdir(app_dir) if not name.endswith(".log")] == []
        assert any(name.startswith("exec-") for name in os.listdir(app_dir))


def test_status_with_a_wrong_secret_exits_3_with_a_clear_message(cluster, other_secret):
    """`vega status` (and `logs`, `kill`) with another secret exits 3 with one line naming the
    secret problem, and no hint asking whether the master runs and its address is right: it
    answered (that hint sent the user looking in the wrong place); the right secret still
    works."""
    address = cluster.url[len("vega://"):]
    for command in (["status", "--json"], ["logs", "app-20261206022712-5e38"],
                    ["kill", "app-20261206022712-5e38"]):
        result = vega(*command, "--master", cluster.url, "--secret-file", other_secret)
        assert (result.returncode, result.stdout) == (3, ""), (command, result.stderr)
        assert result.stderr == (
            f"vega: error: cannot reach the master at {cluster.url}: protocol error from "
            f"{address}: the server's certificate is not signed by this cluster's CA: it has "
            "another secret (check --secret-file on both sides)\n"), (command, result.stderr)
    assert len(cluster.status()["workers"]) == 2


def test_status_without_any_secret_says_this_host_has_none(cluster, tmp_path):
    """`vega status` on a host with no secret at all (none named, none at the default place)
    says so and where to put the master's (it said the master "has another secret")."""
    result = vega("status", "--master", cluster.url,
                  env=clean_env(VEGA_CONF_DIR=str(tmp_path), HOME=str(tmp_path)))
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert ("the server has a cluster secret and this process has none: copy the master's "
            "secret file to this host (mode 0600) and name it with --secret-file or "
            f"VEGA_SECRET_FILE, or put it at {tmp_path}/secret") in result.stderr, result.stderr
    assert "another" not in result.stderr


def test_driver_with_a_wrong_secret_fails_with_a_clear_message(cluster, other_secret):
    """`vega submit` with another secret fails at once, without a traceback, naming the secret
    (exit 3, the master cannot be reached, as `vega status` says)."""
    result = cluster.submit("jobs/wordcount.py", "data/sample.txt", secret_file=other_secret)
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert re.search(r"secret|authenticat", result.stderr, re.I), result.stderr
    assert "it has another secret" in result.stderr, result.stderr
    # it answered: nothing sends the user to check whether it runs (it said "Check that it
    # runs ... and that this host can reach its port")
    assert "answered, but this driver cannot authenticate to it" in result.stderr
    assert "Check that it runs" not in result.stderr, result.stderr
    assert result.stdout == ""
    status = cluster.status()
    assert all(w["state"] == "alive" for w in status["workers"])


def test_worker_with_a_wrong_secret_never_appears_in_status(cluster, other_secret):
    """A worker holding another secret is dropped at the handshake and is never listed."""
    refusal = "another cluster's secret"  # the TLS handshake fails: another cluster CA
    before = read_text(cluster.master_log).count(refusal)
    intruder = cluster.start_worker("worker-intruder", secret_file=other_secret, wait=False)
    try:
        wait_for(lambda: read_text(cluster.master_log).count(refusal) >= before + 2,
                 20, "the master to drop the intruding worker twice")
        status = cluster.status()
        assert {w["id"] for w in status["workers"]} == {w.worker_id for w in cluster.workers}
        assert "registered with master" not in read_text(intruder.log_path)
    finally:
        kill_group(intruder)


def test_worker_with_another_vega_version_is_refused_naming_both_versions(cluster):
    """RegisterWorker from Vega 0.0.0-other gets RegisterWorkerFailed naming both versions."""
    conn = Connection.connect("127.0.0.1", cluster.port, cluster.secret)
    try:
        conn.send(RegisterWorker(worker_id="worker-19991231235959-from-the-past-1", host="127.0.0.1", port=1,
                                 cores=1, memory=1 << 30, labels=[],
                                 python_version=python_version(), vega_version="0.0.0-other",
                                 pid=os.getpid()))
        reply = conn.recv()
    finally:
        conn.close()
    assert isinstance(reply, RegisterWorkerFailed), reply
    assert not isinstance(reply, RegisteredWorker)
    assert "0.0.0-other" in reply.reason and __version__ in reply.reason
    assert "worker-19991231235959-from-the-past-1" not in {w["id"] for w in cluster.status()["workers"]}


# -- clusters of their own --------------------------------------------------------------------

def test_sigkilled_worker_is_marked_lost_its_executors_die_and_jobs_still_complete(tmp_path):
    """SIGKILL of a worker: lost within the heartbeat timeout, no orphan executors, later jobs run on the other."""
    own = Cluster(tmp_path / "killcluster", worker_timeout=3)
    try:
        victim = own.start_worker("worker-victim")
        survivor = own.start_worker("worker-survivor")
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        release = tmp_path / "release"
        hold = write_job(tmp_path, "hold.py", HOLD_JOB)
        driver = own.spawn_driver("--name", "e2e-held", hold, str(barrier), str(release))
        wait_for(lambda: driver.poll() is not None or any(l.startswith("READY") for l in driver.lines),
                 60, "the held job's executors on both workers")
        assert driver.poll() is None, "".join(driver.err)
        orphans = own.executors(victim.work_dir + os.sep)
        assert len(orphans) == 1, orphans
        assert len(own.executors(survivor.work_dir + os.sep)) == 1

        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        wait_for(lambda: own.worker_states().get(victim.worker_id) == "lost", 3 + 3,
                 "the master to mark the killed worker lost")
        assert own.worker_states()[survivor.worker_id] == "alive"
        wait_for(lambda: not own.executors(victim.work_dir + os.sep), 5,
                 "the killed worker's executors to die with it")

        release.write_text("")  # the held application goes on with the surviving executor
        assert driver.wait(60) == 0, "".join(driver.err)
        assert line_value(driver.lines, "AFTER") == expected_pairs()

        job = write_job(tmp_path, "where.py", WHERE_JOB)
        result = own.submit(job)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert line_value(lines, "RESULT") == expected_pairs()
        assert {worker_of(ppid) for _, _, ppid in line_value(lines, "WHERE")} == {survivor.pid}
    finally:
        own.stop()


def test_silent_worker_is_marked_lost_after_the_worker_timeout_and_re_registers(tmp_path):
    """A SIGSTOPped worker is lost once --worker-timeout passes without heartbeats; resumed, it is alive again.

    It heartbeats every 0.5 s (the default 2 s let a heartbeat come up to 2 s before the
    SIGSTOP, the loss 1 s after it), so the 3 s timeout cannot end within 2 s of the SIGSTOP.
    The loss is read from the master's log, not polled with ``vega status`` (seconds each
    on a loaded machine); the deadlines bound a hung master only: when exactly a silent
    worker expires is test_master_state's, on a fake clock."""
    own = Cluster(tmp_path / "stopcluster", worker_timeout=3)
    sleeper = None
    config = tmp_path / "worker.yaml"
    config.write_text("vega.worker.heartbeat_interval: 0.5\n")
    try:
        sleeper = own.start_worker("worker-sleeper", args=("--config", str(config)))
        assert own.worker_states() == {sleeper.worker_id: "alive"}
        lost = f"worker {sleeper.worker_id} lost: no heartbeat for 3s"
        sleeper.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        wait_for(lambda: lost in read_text(own.master_log), START_TIMEOUT,
                 "the master to mark the silent worker lost")
        assert time.monotonic() - stopped >= 2.0, "marked lost before its timeout"
        assert own.worker_states() == {sleeper.worker_id: "lost"}
        sleeper.send_signal(signal.SIGCONT)
        wait_for(lambda: own.worker_states().get(sleeper.worker_id) == "alive", START_TIMEOUT,
                 "the resumed worker to register again")
    finally:
        if sleeper is not None:
            sleeper.send_signal(signal.SIGCONT)
        own.stop()


@pytest.mark.parametrize("daemon", ["master", "worker"])
def test_daemon_without_a_secret_refuses_a_non_loopback_address(tmp_path, daemon):
    """Without a secret, `--host 0.0.0.0` fails at once with a clear message and a non-zero exit
    (one message: it warned first what such a daemon would let every local user do)."""
    work_dir = str(tmp_path / daemon)
    if daemon == "master":
        args = ["master", "--no-secret", "--host", "0.0.0.0", "--port", "0", "--webui-port", "0",
                "--work-dir", work_dir, "--ready-file", str(tmp_path / "ready")]
    else:
        args = ["worker", "vega://127.0.0.1:9", "--no-secret", "--host", "0.0.0.0", "--cores", "1",
                "--memory", "1g", "--work-dir", work_dir]
    # Run outside the repo so that no conf/vega-secret can be picked up.
    result = vega(*args, cwd=str(tmp_path), timeout=30)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "vega: error:" in result.stderr
    assert "0.0.0.0" in result.stderr and "secret" in result.stderr, result.stderr
    # refused, not started: no warning of what a daemon without a secret lets users do
    assert "every user of this host can connect" not in result.stderr, result.stderr
    assert not (tmp_path / "ready").exists()


def test_sigterm_of_master_and_workers_leaves_no_vega_process_behind(tmp_path):
    """SIGTERM to the master and the workers, with executors running, ends every daemon and executor."""
    own = Cluster(tmp_path / "termcluster")
    driver = None
    try:
        workers = [own.start_worker("worker-1"), own.start_worker("worker-2")]
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        hold = write_job(tmp_path, "hold.py", HOLD_JOB)
        driver = own.spawn_driver(hold, str(barrier), str(tmp_path / "release"))
        wait_for(lambda: driver.poll() is not None or any(l.startswith("READY") for l in driver.lines),
                 60, "the held job's executors on both workers")
        assert driver.poll() is None, "".join(driver.err)
        assert len(own.executors()) == 2
        daemons = {p.pid for p in [own.master, *workers]}
        assert daemons <= set(processes_matching(own.marker))

        for proc in [*workers, own.master]:
            proc.send_signal(signal.SIGTERM)
        for proc in [*workers, own.master]:
            proc.wait(15)
        wait_for(lambda: not processes_matching(own.marker), 10,
                 "every daemon and executor of the cluster to exit")
    finally:
        if driver is not None:
            kill_group(driver)
        own.stop()


def test_local_cluster_context_runs_a_shuffle_exactly_and_stop_leaves_no_processes():
    """Context(master='local-cluster[2,1]') starts real daemons, computes a shuffle exactly, and stop() ends them all."""
    ctx = Context(master="local-cluster[2,1]", app_name="e2e-local-cluster")
    marker = ctx.app_dir + os.sep
    try:
        running = processes_matching(marker)
        kinds = sorted(next((a for a in ("master", "worker", EXECUTOR_MODULE) if a in argv), "?")
                       for argv in running.values())
        assert kinds == sorted(["master", "worker", "worker", EXECUTOR_MODULE, EXECUTOR_MODULE]), running
        data = [(f"k{i % 13}", i) for i in range(5000)]
        result = ctx.parallelize(data, 6).reduce_by_key(add, 3).collect()
        expected = {}
        for key, value in data:
            expected[key] = expected.get(key, 0) + value
        assert sorted(result) == sorted(expected.items())
        assert ctx.parallelize(range(100), 4).map(lambda x: (x % 2, x)).group_by_key() \
            .map_values(sorted).collect_as_map() == {0: list(range(0, 100, 2)),
                                                     1: list(range(1, 100, 2))}
    finally:
        ctx.stop()
    wait_for(lambda: not processes_matching(marker), 10,
             "the local-cluster's master, workers and executors to exit")
