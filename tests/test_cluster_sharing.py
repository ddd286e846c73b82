"""Sharing a cluster, with real daemons: placement by worker labels, several applications
at once (``vega.cores.max``), and executors held to their memory, whose deaths are
classified in the driver's error, the event log and ``vega logs``.

The daemons are separate ``vega master``/``vega worker`` processes on loopback (the
``Cluster`` of ``test_cluster_e2e``), or a ``local-cluster``; waits are for events (a line
on a driver's terminal, ``vega status --json`` showing a state), each with a deadline.
"""

import json
import os
import re
import signal

import pytest

from vega_runtime import TaskContext, TaskFailed
from vega_runtime.errors import ConfigError

from proc_helpers import wait_for, worker_of, write_job
from test_cluster_e2e import Cluster, line_value, vega

WHERE_JOB = """
    import json, os
    from vega_runtime import Context, TaskContext

    def where(x):
        return TaskContext.get().executor_id, os.getppid()

    with Context() as ctx:
        print("WHERE", json.dumps(sorted(set(ctx.parallelize(range(12), 6).map(where).collect()))))
        print("SUM", ctx.parallelize(range(100), 4).sum(), flush=True)
"""

#: Each task waits until ``count`` tasks (of any application) have started: a job that
#: finishes proves that many ran at the same time.
MEET_JOB = """
    import os, sys, time
    from vega_runtime import Context, TaskContext

    barrier, count = sys.argv[1], int(sys.argv[2])

    def meet(x):
        ctx = TaskContext.get()
        open(os.path.join(barrier, f"{os.getpid()}"), "w").close()
        deadline = time.monotonic() + 60
        while len(os.listdir(barrier)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(os.listdir(barrier))} of {count} tasks met")
            time.sleep(0.05)
        return x

    with Context() as ctx:
        print("MET", ctx.parallelize(range(1), 1).map(meet).collect(), flush=True)
"""

#: Holds its executors until the release file appears.
HOLD_JOB = """
    import os, sys, time
    from vega_runtime import Context

    with Context() as ctx:
        print("RUNNING", ctx.parallelize(range(2), 2).count(), flush=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
            time.sleep(0.05)
"""

#: Partition 1 allocates without bound; partition 0 is harmless.
HOG_JOB = """
    from vega_runtime import Context

    def hog(x):
        if x == 1:
            chunks = []
            while True:
                chunks.append(bytearray(16 << 20))
        return x

    with Context() as ctx:
        print(ctx.parallelize([0, 1], 2).map(hog).collect())
"""


def status_app(cluster, app_name):
    apps = [a for a in cluster.status()["applications"] if a["name"] == app_name]
    return apps[0] if apps else None


# -- placement by labels -----------------------------------------------------------------------

def test_executors_run_only_on_labelled_workers_and_a_missing_label_waits_with_its_name(tmp_path):
    """vega.executor.labels=gpu,ssd: every task runs on the one worker carrying both; an
    application asking for fpga waits, its terminal, `vega status` and its JSON naming
    the label, and runs once a worker with fpga registers."""
    own = Cluster(tmp_path / "labels")
    try:
        own.start_worker("plain")
        gpu = own.start_worker("gpu", args=["--labels", "gpu"])
        both = own.start_worker("both", args=["--labels", "gpu,ssd", "--cores", "2"])
        workers = {w["id"]: w["labels"] for w in own.status()["workers"]}
        assert workers[both.worker_id] == ["gpu", "ssd"] and workers[gpu.worker_id] == ["gpu"]

        job = write_job(tmp_path, "where.py", WHERE_JOB)
        result = own.submit("--name", "labelled", "--conf", "vega.executor.labels=gpu,ssd", job)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert line_value(lines, "SUM") == 4950
        where = line_value(lines, "WHERE")
        assert {worker_of(ppid) for _, ppid in where} == {both.pid}

        driver = own.spawn_driver("--name", "wants-fpga", "--conf", "vega.executor.labels=fpga",
                                  job)
        reason = ("no worker has the label fpga (vega.executor.labels=fpga): the job will start "
                  "when a worker with all of them registers (vega worker --labels fpga)")
        wait_for(lambda: any(reason in line for line in driver.err) or driver.poll() is not None,
                 60, "the waiting reason on the submitting terminal")
        assert driver.poll() is None, "".join(driver.err)
        app = status_app(own, "wants-fpga")
        assert (app["state"], app["waiting_reason"], app["labels"]) == \
            ("waiting", reason, ["fpga"])
        table = vega("status", "--master", own.url, "--secret-file", own.secret_file,
                     env={**os.environ, "COLUMNS": "400"})
        assert f"{app['id']} waits: {reason}" in table.stdout, table.stdout

        fpga = own.start_worker("fpga", args=["--labels", "fpga,gpu"])
        assert driver.wait(60) == 0, "".join(driver.err)
        where = line_value(driver.lines, "WHERE")
        assert {worker_of(ppid) for _, ppid in where} == {fpga.pid}
    finally:
        own.stop()


# -- several applications ----------------------------------------------------------------------

def test_with_cores_max_two_applications_submitted_together_run_at_the_same_time(tmp_path):
    """Two 1-core workers, two applications with --total-executor-cores 1: each task waits
    until both applications' tasks have started, so both finishing proves they ran at once."""
    own = Cluster(tmp_path / "shared")
    try:
        own.start_worker("worker-1")
        own.start_worker("worker-2")
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        job = write_job(tmp_path, "meet.py", MEET_JOB)
        drivers = [own.spawn_driver("--name", name, "--total-executor-cores", "1", job,
                                    str(barrier), "2") for name in ("first", "second")]
        for driver in drivers:
            assert driver.wait(90) == 0, "".join(driver.err)
            assert line_value(driver.lines, "MET") == [0]
            assert not any("waiting" in line for line in driver.err), driver.err
        assert len(os.listdir(barrier)) == 2
    finally:
        own.stop()


def test_without_cores_max_the_second_application_waits_naming_the_first(tmp_path):
    """The first application takes every core (Spark standalone); the second waits, its
    terminal and `vega status` saying which application holds them, and runs when the
    first ends."""
    own = Cluster(tmp_path / "greedy")
    try:
        own.start_worker("worker-1")
        own.start_worker("worker-2")
        release = tmp_path / "release"
        first = own.spawn_driver("--name", "first", write_job(tmp_path, "hold.py", HOLD_JOB),
                                 str(release))
        wait_for(lambda: any(l.startswith("RUNNING") for l in first.lines)
                 or first.poll() is not None, 60, "the first application to run")
        first_id = status_app(own, "first")["id"]
        second = own.spawn_driver("--name", "second", write_job(tmp_path, "where.py", WHERE_JOB))
        reason = (f"all cores are taken by {first_id} (first); waiting for free cores (give "
                  "applications vega.cores.max (--total-executor-cores) so that several share "
                  "the cluster)")
        wait_for(lambda: any(reason in line for line in second.err) or second.poll() is not None,
                 60, "the second application's waiting reason on its terminal")
        assert status_app(own, "second")["waiting_reason"] == reason
        # said once: the log's warning (it was followed by the same words on a line of their own)
        assert [line for line in second.err if reason in line] == [
            f"vega: WARNING waiting: {reason}\n"]
        release.write_text("")
        assert first.wait(60) == 0, "".join(first.err)
        assert second.wait(60) == 0, "".join(second.err)
        assert line_value(second.lines, "SUM") == 4950
    finally:
        own.stop()


def test_fair_mode_divides_the_workers_between_applications_waiting_for_them(tmp_path,
                                                                            monkeypatch):
    """A master with vega.scheduler.mode=fair, two applications submitted before any worker:
    when two 1-core workers register each application gets one (in fifo mode the first
    would take both), proven by tasks that wait for each other."""
    monkeypatch.setenv("VEGA_SCHEDULER_MODE", "fair")
    own = Cluster(tmp_path / "fair")
    try:
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        job = write_job(tmp_path, "meet.py", MEET_JOB)
        drivers = [own.spawn_driver("--name", name, job, str(barrier), "2")
                   for name in ("first", "second")]
        wait_for(lambda: [a["state"] for a in own.status()["applications"]] ==
                 ["waiting", "waiting"], 60, "both applications to wait for workers")
        own.start_worker("worker-1")
        own.start_worker("worker-2")
        for driver in drivers:
            assert driver.wait(90) == 0, "".join(driver.err)
            assert line_value(driver.lines, "MET") == [0]
    finally:
        own.stop()


# -- memory limits and classified deaths -------------------------------------------------------

def test_a_memory_hog_is_stopped_at_its_limit_and_reported_as_such_everywhere(tmp_path):
    """--executor-memory 512m on a real cluster: the hog's executor stops at its limit; the
    retry, the driver's error, `vega logs` and the event log all say it exceeded its 512 MiB
    memory limit while running task 0.1; the worker serves the next application."""
    own = Cluster(tmp_path / "memory")
    try:
        own.start_worker("worker-1")
        events = tmp_path / "events"
        result = own.submit("--name", "hog", "--executor-memory", "512m",
                            "--conf", "vega.task.max_attempts=2",
                            "--conf", f"vega.eventlog.dir={events}",
                            write_job(tmp_path, "hog.py", HOG_JOB), timeout=120)
        assert result.returncode == 1, result.stderr
        first, second = (f"executor {executor} on 127.0.0.1 exceeded its 512 MiB memory limit "
                         "(vega.executor.memory) while running task 0.1" for executor in ("exec-1", "exec-2"))
        assert f"vega: WARNING task 0.1 (attempt 2) will run again: {first}\n" in result.stderr
        assert (f"task 1 of stage 0 (RDD created at hog.py:11 in <module>) failed 2 times; last "
                f"error on 127.0.0.1 (exec-2): ExecutorLost: {second}") in result.stderr

        (log_name,) = [n for n in os.listdir(events) if n.endswith(".jsonl")]
        lost = [e for e in map(json.loads, open(events / log_name))
                if e["event"] == "ExecutorRemoved" and e["lost"]]
        assert [(e["executor"], e["reason"], e["cause"]) for e in lost] == [
            ("exec-1", first, "memory_limit"), ("exec-2", second, "memory_limit")]
        logs = vega("logs", status_app(own, "hog")["id"], "--master", own.url,
                    "--secret-file", own.secret_file)
        # (Vega's own lines go with the tasks' stderr, as vega submit prints them)
        assert f"vega: {first} [memory_limit]\n" in logs.stderr, logs.stdout + logs.stderr
        assert f"vega: {second} [memory_limit]\n" in logs.stderr

        job = write_job(tmp_path, "where.py", WHERE_JOB)
        again = own.submit(job)
        assert again.returncode == 0 and line_value(again.stdout.splitlines(), "SUM") == 4950
    finally:
        own.stop()


CRASH_JOB = """
    import os, signal
    from vega_runtime import Context, TaskFailed

    def exit_3(x):
        os._exit(3)

    def sigkill(x):
        os.kill(os.getpid(), signal.SIGKILL)

    with Context() as ctx:
        for crash in (exit_3, sigkill):
            try:
                ctx.parallelize([0], 1).map(crash).collect()
            except TaskFailed as error:
                print("FAILED", error.message.split(" (its log ends")[0], flush=True)
"""


def test_executor_exits_and_signals_are_classified_in_the_error_and_the_event_log(tmp_path):
    """An executor that exits with code 3 and one killed by SIGKILL: the task errors and the
    event log name the exit code and the signal, with their causes."""
    own = Cluster(tmp_path / "crashes")
    try:
        own.start_worker("worker-1")
        events = tmp_path / "events"
        result = own.submit("--conf", "vega.task.max_attempts=1",
                            "--conf", f"vega.eventlog.dir={events}",
                            write_job(tmp_path, "crash.py", CRASH_JOB))
        assert result.returncode == 0, result.stderr
        exited = "executor exec-1 on 127.0.0.1 exited with code 3 while running task 0.0"
        killed = ("executor exec-2 on 127.0.0.1 was killed by signal 9 (SIGKILL: Killed) while "
                  "running task 1.0")
        assert [line for line in result.stdout.splitlines() if line.startswith("FAILED")] == \
            [f"FAILED {exited}", f"FAILED {killed}"]
        (log_name,) = [n for n in os.listdir(events) if n.endswith(".jsonl")]
        lost = [(e["reason"].split(" (its log ends")[0], e["cause"])
                for e in map(json.loads, open(events / log_name)) if e["event"] == "ExecutorRemoved" and e["lost"]]
        assert lost == [(exited, "exit_code"), (killed, "signal")]
    finally:
        own.stop()


GO_JOB = """
    import os, sys, time
    from vega_runtime import Context, TaskContext

    barrier, go = sys.argv[1], sys.argv[2]

    def wait_for_go(x):
        ctx = TaskContext.get()
        open(os.path.join(barrier, f"{ctx.executor_id}-{x}-{os.getppid()}"), "w").close()
        deadline = time.monotonic() + 60
        while not os.path.exists(go) and time.monotonic() < deadline:
            time.sleep(0.05)
        return x

    with Context() as ctx:
        print("DONE", ctx.parallelize(range(2), 2).map(wait_for_go).collect(), flush=True)
"""


def test_an_executor_lost_with_a_silent_worker_is_classified_as_a_lost_heartbeat(tmp_path):
    """A SIGSTOPped worker (--worker-timeout 3) while its executor runs a task: the task
    runs again elsewhere, and the event log says the executor was lost with its worker for
    want of heartbeats, naming the task."""
    own = Cluster(tmp_path / "silent", worker_timeout=3)
    victim = None
    try:
        victim = own.start_worker("victim")
        own.start_worker("survivor")
        barrier, go, events = tmp_path / "barrier", tmp_path / "go", tmp_path / "events"
        barrier.mkdir()
        driver = own.spawn_driver("--conf", f"vega.eventlog.dir={events}",
                                  write_job(tmp_path, "go.py", GO_JOB), str(barrier), str(go))
        wait_for(lambda: len(os.listdir(barrier)) == 2 or driver.poll() is not None, 60,
                 "a task on each worker")
        (on_victim,) = [name.split("-") for name in os.listdir(barrier)
                        if worker_of(int(name.split("-")[-1])) == victim.pid]
        executor, partition = f"exec-{on_victim[1]}", on_victim[2]
        victim.send_signal(signal.SIGSTOP)
        wait_for(lambda: own.worker_states().get(victim.worker_id) == "lost", 15,
                 "the master to mark the silent worker lost")
        go.write_text("")
        assert driver.wait(60) == 0, "".join(driver.err)
        assert line_value(driver.lines, "DONE") == [0, 1]
        (log_name,) = [n for n in os.listdir(events) if n.endswith(".jsonl")]
        lost = [(e["executor"], e["reason"], e["cause"])
                for e in map(json.loads, open(events / log_name)) if e["event"] == "ExecutorRemoved" and e["lost"]]
        assert lost == [(executor, f"executor {executor} on 127.0.0.1 was lost with its worker "
                                   f"{victim.worker_id} (no heartbeat for 3s) while running task "
                                   f"0.{partition}", "heartbeat")]
    finally:
        if victim is not None:
            victim.send_signal(signal.SIGCONT)
        own.stop()


def test_local_cluster_executor_over_its_memory_limit_fails_the_task_saying_so(fresh_ctx):
    """local-cluster[1,1,512] with 256m executors: TaskFailed names the executor, its limit
    and the task; the application goes on with a new executor."""
    ctx = fresh_ctx(master="local-cluster[1,1,512]",
                    conf={"vega.executor.memory": "256m", "vega.task.max_attempts": 1})

    def hog(x):
        chunks = []
        while x == 1:
            chunks.append(bytearray(16 << 20))
        return x

    with pytest.raises(TaskFailed) as info:
        ctx.parallelize([0, 1], 2).map(hog).collect()
    assert info.value.error_type == "ExecutorLost"
    assert info.value.message == ("executor exec-1 on 127.0.0.1 exceeded its 256 MiB memory "
                                  "limit (vega.executor.memory) while running task 0.1")
    assert ctx.parallelize(range(10), 2).sum() == 45


def test_local_cluster_with_cores_max_starts_with_that_many_executors(fresh_ctx):
    """local-cluster[2,1] with vega.cores.max=1 waits for one executor, not for both cores
    (it used to wait a minute for a second one that never came and fail)."""
    ctx = fresh_ctx(master="local-cluster[2,1]", conf={"vega.cores.max": 1})
    assert ctx.parallelize(range(100), 4).map(lambda x: x * 2).sum() == 9900
    where = ctx.parallelize(range(8), 4).map(lambda x: TaskContext.get().executor_id).collect()
    assert set(where) == {"exec-1"}


def test_local_cluster_workers_hold_an_executor_per_core_unless_told_otherwise(fresh_ctx):
    """local-cluster[1,2] gives its one worker room for two executors of
    vega.executor.memory (it had 1 GiB, one 1 GiB executor: the Context waited a minute for
    the second and failed with 'start workers'); a worker given less memory than one
    executor is refused at once, as Spark refuses it."""
    ctx = fresh_ctx(master="local-cluster[1,2]")
    assert ctx.default_parallelism == 2
    where = ctx.parallelize(range(8), 8).map(lambda x: TaskContext.get().executor_id).collect()
    assert set(where) == {"exec-1", "exec-2"}
    with pytest.raises(ConfigError) as refused:
        fresh_ctx(master="local-cluster[1,2,512]")
    assert str(refused.value) == (
        "local-cluster[1,2,512]: vega.executor.memory (1024 MiB) is more than each worker's "
        "512 MiB: give the workers more memory (M of local-cluster[W,C,M], in MiB) or the "
        "executors less")


def test_a_local_cluster_whose_memory_idles_cores_says_so(fresh_ctx, caplog):
    """local-cluster[1,2,1024] (Spark's tests' M): Spark's one executor per worker runs 2
    tasks at once in its 1 GiB; Vega's executors run one task each, and 1024 MiB holds one of
    1 GiB, so one core runs tasks, which the Context now says, with what to do."""
    with caplog.at_level("WARNING", logger="vega_runtime.context_backend"):
        ctx = fresh_ctx(master="local-cluster[1,2,1024]")
    assert ctx.parallelize(range(4), 4).sum() == 6
    assert [r.getMessage() for r in caplog.records if r.name == "vega_runtime.context_backend"] \
        == ["local-cluster[1,2,1024]: each worker's 1024 MiB holds 1 executor of "
            "vega.executor.memory (1024 MiB), so tasks run on 1 of its 2 cores, where Spark's "
            "one executor would run 2 at once: give the executors less memory "
            "(--executor-memory 512m, spark.executor.memory) or the workers more (M of "
            "local-cluster[W,C,M], in MiB)"]


def test_an_executor_lost_with_tasks_sent_ahead_names_only_the_one_it_was_running(fresh_ctx):
    """Tasks sent ahead wait in the executor's inbox behind the hog 0.3: the loss names 0.3
    as the task it was running, the documented sentence (it said 'while running task 0.3,
    0.4, 0.5', as if the executor ran three tasks at once)."""
    ctx = fresh_ctx(master="local-cluster[2,1,512]",
                    conf={"vega.executor.memory": "256m", "vega.task.max_attempts": 1})

    def hog(x):
        chunks = []
        while x == 3:
            chunks.append(bytearray(16 << 20))
        return x

    with pytest.raises(TaskFailed) as info:
        ctx.parallelize(range(8), 8).map(hog).collect()
    assert re.fullmatch(r"executor exec-\d+ on 127\.0\.0\.1 exceeded its 256 MiB memory limit "
                        r"\(vega\.executor\.memory\) while running task 0\.3", info.value.message), info.value.message


def test_a_second_registration_under_a_registered_executor_id_is_refused(fresh_ctx):
    """Anyone holding the cluster secret can reach a driver's port, and an application's
    id and its executors' ids are no secret (``ps`` shows them): a connection registering
    as an executor id the driver already has is refused (Spark: "Duplicate executor ID"),
    instead of taking that executor's place, its tasks and its results, and the real
    executor goes on serving the application."""
    from vega_runtime.net.cluster_messages import RegisterExecutor
    from vega_runtime.net.connection import Connection, load_secret
    from vega_runtime.net.framing import ConnectionClosed

    ctx = fresh_ctx(master="local-cluster[1,1]")
    where = ctx.parallelize(range(4), 2).map(lambda x: TaskContext.get().executor_id).collect()
    assert where == ["exec-1"] * 4
    backend = ctx.backend
    secret = load_secret(os.path.join(ctx.app_dir, "cluster-secret"))
    impostor = Connection.connect("127.0.0.1", backend.server.port, secret)
    try:
        impostor.send(RegisterExecutor("exec-1", backend.app_id, "worker-20260101000000-x-1",
                                       "127.0.0.1", 1, os.getpid()))
        with pytest.raises((ConnectionClosed, OSError)):
            impostor.recv()  # the driver closes it, sending nothing
    finally:
        impostor.close()
    assert ctx.parallelize(range(100), 4).map(lambda x: x * 2).sum() == 9900
    where = ctx.parallelize(range(4), 2).map(lambda x: TaskContext.get().executor_id).collect()
    assert where == ["exec-1"] * 4


def test_a_broadcast_asked_for_by_a_path_holding_nul_is_refused_and_the_driver_serves_on(
        fresh_ctx, caplog):
    """An executor (any holder of the secret, see above) asking the driver for a broadcast
    at a path holding NUL gets BroadcastData saying it is not the driver's, on a connection
    that goes on serving, and the driver logs no error. Before, os.path.realpath raised
    ValueError in the driver: a traceback on the user's terminal and the executor's
    connection dropped."""
    from vega_runtime.net.cluster_messages import RegisterExecutor
    from vega_runtime.net.connection import Connection, load_secret
    from vega_runtime.net.messages import BroadcastData, FetchBroadcast, RegisteredExecutor

    ctx = fresh_ctx(master="local-cluster[1,1]")
    value = ctx.broadcast([1, 2, 3])
    assert ctx.parallelize(range(2), 2).map(lambda x: value.value[x]).collect() == [1, 2]
    backend = ctx.backend
    secret = load_secret(os.path.join(ctx.app_dir, "cluster-secret"))
    asking = Connection.connect("127.0.0.1", backend.server.port, secret)
    try:
        asking.send(RegisterExecutor("exec-99", backend.app_id, "worker-20260101000000-x-1",
                                     "127.0.0.1", 1, os.getpid()))
        assert isinstance(asking.recv(), RegisteredExecutor)
        for path in ("/tmp/broadcast\0_1", "/etc/passwd"):
            asking.send(FetchBroadcast(7, path))
            assert asking.recv() == BroadcastData(7, b"", f"broadcast path {path!r} is not "
                                                          "this driver's")
    finally:
        asking.close()
    assert ctx.parallelize(range(100), 4).map(lambda x: x * 2 + value.value[0]).sum() == 10000
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
