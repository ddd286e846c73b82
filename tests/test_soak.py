"""What a long-lived process keeps: a notebook creates and stops Contexts hundreds of times;
a master and its workers serve applications for months.

A driver process runs short Contexts (one shuffle job each) on every master kind, measures
itself after a warm-up and after more cycles, and the test asserts that nothing it holds
grows per Context: threads, file descriptors, child processes, entries in $TMPDIR, logging
handlers and loggers, signal handlers, and (within a bound) Python objects and memory.
Measured over 200 cycles (docs/monitoring.md): after warm-up, RSS grows by 0-2 KB a
Context (local, vega://) and settles (local-cluster: bounded caches of TLS contexts and
parsed URLs fill); nothing else grows but CPython's atexit table (3 slots a Context).
A ``vega master`` and ``vega worker`` serving applications of every kind are measured the
same way from /proc, and a master's replay of a long-lived application's events with
tracemalloc.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import signal
import subprocess
import sys
import tracemalloc

import pytest
from http_helpers import api_get, api_get_bytes
from proc_helpers import (REPO, clean_env, cmdline, master_and_worker, proc_state,
                          processes_matching, spawn_vega, unstarted_master, vega, wait_for,
                          write_job)

from vega_runtime import Context
from vega_runtime.deploy.app_events import RETAINED_JOBS
from vega_runtime.deploy.spark_api import SparkApi
from vega_runtime.processes import children

CYCLES = """
    import gc, json, logging, os, signal, sys, tempfile, threading
    from vega_runtime import Context

    master, warm_up, cycles = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    def children():
        found = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    found += int(fh.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
            except OSError:
                pass
        return found

    def measure():
        gc.collect()
        with open("/proc/self/status") as fh:
            rss = [int(line.split()[1]) for line in fh if line.startswith("VmRSS")][0]
        loggers = [logging.getLogger(), *(x for x in logging.Logger.manager.loggerDict.values()
                                          if isinstance(x, logging.Logger))]
        return {"threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd")),
                "children": children(), "tmp": len(os.listdir(tempfile.gettempdir())),
                "handlers": sum(len(x.handlers) for x in loggers), "loggers": len(loggers),
                "signals": [str(signal.getsignal(s)) for s in
                            (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)],
                "objects": len(gc.get_objects()), "rss_kb": rss}

    def cycle():
        ctx = Context(master, app_name="soak")
        pairs = ctx.parallelize(range(10), 2).map(lambda x: (x % 3, x))
        assert sorted(pairs.reduce_by_key(lambda a, b: a + b).collect()) == \\
            [(0, 18), (1, 12), (2, 15)]
        ctx.stop()
        # as Spark's, stop returns once nothing of the Context runs: no thread of it is left
        # (one serving an executor's connection was, now and then, and kept it all alive)
        assert threading.enumerate() == [threading.main_thread()], threading.enumerate()

    for _ in range(warm_up):
        cycle()
    before = measure()
    for _ in range(cycles):
        cycle()
    print(json.dumps([before, measure()]))
"""


def run_cycles(tmp_path, master: str, warm_up: int, cycles: int, **env) -> tuple:
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    path = write_job(tmp_path, "cycles.py", CYCLES)
    done = subprocess.run([sys.executable, path, master, str(warm_up), str(cycles)], cwd=REPO,
                          env=clean_env(TMPDIR=str(scratch),
                                        VEGA_EVENTLOG_DIR=str(tmp_path / "events"), **env),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return tuple(json.loads(done.stdout.splitlines()[-1]))


def assert_nothing_grows(before: dict, after: dict, cycles: int) -> None:
    growth = {key: after[key] - before[key] for key in ("objects", "rss_kb")}
    assert {k: v for k, v in after.items() if k not in growth} == \
        {k: v for k, v in before.items() if k not in growth}
    assert after["tmp"] == 0
    assert growth["objects"] <= 5 * cycles, growth  # bounded caches still filling
    # 64 KiB a Context, and 1 MiB the allocator takes and gives back in blocks of its own
    # (measured: 0.2-1.3 MiB over 12-30 Contexts on every master, with no trend)
    assert growth["rss_kb"] <= 64 * cycles + 1024, growth


@pytest.mark.parametrize("master,warm_up,cycles", [
    ("local", 5, 40), ("local[2]", 5, 30), ("local-cluster[2,1]", 20, 20)])
def test_contexts_created_and_stopped_in_one_process_leave_nothing_behind(
        tmp_path, master, warm_up, cycles):
    """One process creating and stopping Contexts again and again (a notebook, a test
    suite) holds no more threads, descriptors, children, temporary files, logging or signal
    handlers after the last than after the first, and its objects and memory stay within a
    few per Context."""
    before, after = run_cycles(tmp_path, master, warm_up, cycles)
    assert_nothing_grows(before, after, cycles)


def test_contexts_on_a_running_master_leave_nothing_behind(tmp_path):
    """The same against a ``vega://`` master, whose applications come and go."""
    with master_and_worker(tmp_path / "cluster") as cluster:
        before, after = run_cycles(tmp_path, cluster["url"], 5, 20,
                                   VEGA_SECRET_FILE=cluster["env"]["VEGA_SECRET_FILE"])
    assert_nothing_grows(before, after, 20)


def test_a_forgotten_cluster_mode_driver_takes_its_package_with_it(tmp_path):
    """A master keeps the latest vega.master.retained_drivers ended cluster-mode drivers;
    one it forgets took its output with it but left its job package (the zip and the copy
    it ran from) in the master's work dir, so a master taking new jobs for months filled
    its disk with every version of every job.  Of three drivers of different jobs, with
    one driver and one application retained, the package left is the last application's
    (its executors ran its driver's package): the copy each driver ran from went when it
    ended, and the zip with its application.  The second driver outlives its application,
    which the third's pushes out: its package goes when it ends (its Context's look for the
    package it ran from counted as a later submitter's, and kept it)."""
    settings = "vega.master.retained_drivers: 1\nvega.master.retained_applications: 1\n"
    marker = tmp_path / "end"
    with master_and_worker(tmp_path / "cluster", settings) as cluster:
        env = {**cluster["env"], "VEGA_EVENTLOG_DIR": str(tmp_path / "events")}
        jobs = [write_job(tmp_path, f"job{n}.py", f"""
                import os, sys, time
                from vega_runtime import Context
                with Context(app_name="job{n}") as ctx:
                    print("RESULT", ctx.parallelize(range({n + 10}), 2).sum())
                while sys.argv[1:] and not os.path.exists(sys.argv[1]):
                    time.sleep(0.1)  # (the test says when: once its application is forgotten)
            """) for n in range(3)]

        def submit(n, *args):
            done = vega("submit", "--master", cluster["url"], "--deploy-mode", "cluster",
                        jobs[n], *args, env=env)
            assert done.returncode == 0, done.stderr

        def applications():
            status = vega("status", "--master", cluster["url"], "--json", env=env)
            return [(a["name"], a["state"]) for a in json.loads(status.stdout)["applications"]]

        submit(0)
        outliving = spawn_vega("submit", "--master", cluster["url"], "--deploy-mode", "cluster",
                               jobs[1], str(marker), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: applications() == [("job1", "finished")], 60,
                     "the second driver's application to end")
            submit(2)
            wait_for(lambda: applications() == [("job2", "finished")], 30,
                     "the second driver's application to be forgotten")
            marker.touch()
            assert outliving.wait(timeout=60) == 0
        finally:
            if outliving.poll() is None:
                outliving.kill()
        packages = tmp_path / "cluster" / "master" / "packages"

        def kept():
            names = sorted(os.listdir(packages))
            return [n for n in names if not n.endswith(".zip")], \
                [n for n in names if n.endswith(".zip")]

        # what is left: the package of the one application kept (the drivers' went as
        # each ended)
        wait_for(lambda: kept()[0] == [] and len(kept()[1]) == 1, 30,
                 f"old packages to go: {kept()}")


def test_a_long_lived_applications_skipped_stages_cost_its_master_nothing_once_retained(
        tmp_path):
    """A Context that counts a shuffled RDD again and again (a service, a notebook left
    running) skips the map stage in every job after the first: the stage is in the job's
    graph but never submitted.  The master's replay of the application (its pages, polled
    while it runs) kept the graph info of every such stage for good, as only a submitted
    stage's retention dropped it: 2.8 KB a job beyond the 1000 jobs retained (a real master
    polled over 6000 such jobs grew by 15 MB; flat without skipped stages).  Read from where
    its last read stopped, 1000 more jobs now add 0.13 KB a job (its tables' first
    growth; nothing over the 1000 after)."""
    events = tmp_path / "events"
    with Context("local", app_name="recount", conf={"vega.eventlog.dir": str(events)}) as ctx:
        pairs = ctx.parallelize(range(6), 2).map(lambda x: (x % 2, x)) \
            .reduce_by_key(lambda a, b: a + b)
        for _ in range(RETAINED_JOBS + 1100):
            assert pairs.count() == 2
        app = ctx.application_id
    log = events / f"{app}.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    ends = [n for n, line in enumerate(lines) if json.loads(line)["event"] == "JobEnd"]
    log.write_bytes(b"".join(lines[:ends[RETAINED_JOBS + 100] + 1]))  # still running
    master = unstarted_master(tmp_path / "master", events)
    try:
        api = SparkApi(master)
        path = f"/api/v1/applications/{app}/stages"
        tracemalloc.start()  # from before the first read: what retention frees counts
        try:
            assert len(api.get(path, "")[1]) == 1000  # retention full: 1000 stage attempts
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0]
            log.write_bytes(b"".join(lines))  # 1000 jobs more, read from where it stopped
            assert len(api.get(path, "")[1]) == 1000
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - kept
        finally:
            tracemalloc.stop()
        code, jobs = api.get(f"/api/v1/applications/{app}/jobs", "")
        assert code == 200 and [j["jobId"] for j in jobs[:1]] == [RETAINED_JOBS + 1099]
        assert len(jobs) == RETAINED_JOBS and jobs[0]["numSkippedStages"] == 1
        assert grown < 200_000, f"{grown / 1000:.0f} bytes a job (kept {kept} bytes)"
    finally:
        master.stop()


DAEMON_JOBS = {
    "ok.py": """
        from vega_runtime import Context
        with Context(app_name="ok") as ctx:
            pairs = ctx.parallelize(range(10), 2).map(lambda x: (x % 3, x))
            print("RESULT", sorted(pairs.reduce_by_key(lambda a, b: a + b).collect()))
    """,
    "fails.py": """
        import sys
        from vega_runtime import Context
        from vega_runtime.errors import TaskFailed

        def boom(x):
            raise ValueError("planned")

        with Context(sys.argv[1], app_name="fails") as ctx:
            try:
                ctx.parallelize(range(4), 2).map(boom).collect()
            except TaskFailed:
                print("RESULT", ctx.parallelize(range(10), 2).sum())
    """,
    "hangs.py": """
        import sys
        from vega_runtime import Context
        marker = sys.argv[2]

        def hang(x):
            open(marker, "w").close()
            import time
            time.sleep(300)

        Context(sys.argv[1], app_name="hangs").parallelize([0], 1).map(hang).collect()
    """,
}


def daemon_figures(pid: int) -> dict:
    """What a daemon holds, from /proc: threads, descriptors by what they point to (a
    socket's inode left out), its children by state and command (zombies show), and its
    anonymous memory (RssAnon, KB: the heap; file pages come and go with the page cache)."""
    with open(f"/proc/{pid}/status") as fh:
        status = dict(line.split(":", 1) for line in fh)
    fds: dict = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = re.sub(r"\[\d+\]$", "", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
        fds[target] = fds.get(target, 0) + 1
    kids = sorted((proc_state(child), " ".join(cmdline(child))[:60]) for child in children(pid))
    return {"threads": int(status["Threads"]), "fds": fds, "children": kids,
            "rss_kb": int(status["RssAnon"].split()[0])}


def without_memory(figures: dict) -> dict:
    """``figures`` (of ``held`` below) without the daemons' memory, which is bounded, not
    equal."""
    return {key: {k: v for k, v in value.items() if k != "rss_kb"}
            if isinstance(value, dict) else value for key, value in figures.items()}


def test_a_master_and_worker_serving_applications_of_every_kind_hold_no_more(tmp_path):
    """A master and worker stay up for hours while applications of every kind come and go:
    ``vega submit`` in client and cluster mode, a Context in a Python program whose job fails
    and then one that succeeds, a driver SIGKILLed mid-job, with ``vega status``, the HTTP
    API and /metrics polled after each round.  After a warm-up, more rounds leave each
    daemon with the same threads, descriptors and children (no zombie: the worker's one
    child is its fork server, which has none left), the same entries in the work dirs (the
    latest 2 applications and drivers kept; the worker's application dirs gone after
    --work-dir-ttl) and in $TMPDIR, and their memory within a bound.

    Measured (a script driving the daemons, sampling /proc and the daemons' own Python
    objects): over 60 rounds of 8 applications (480; these kinds and more) threads (master
    8, worker 9), descriptors (13, 14), children (0, 1) and Python objects (master 32,676 ->
    32,681, worker 29,200 -> 29,201) stayed flat; the master's memory grew 0.6 KB an
    application, settling (16 KB over the last 160).  Over 30 of these rounds (4
    applications each) its RssAnon grew 68 KB a round for the first 10 (the API's cache of
    16 replayed applications filling: one polled a round), 7 KB a round over the last 10;
    the worker's 300 KB in all.  The bound, 256 KB a round, is 4 times the most seen and
    catches a leak of 64 KB an application."""
    settings = "vega.master.retained_applications: 2\nvega.master.retained_drivers: 2\n"
    with master_and_worker(tmp_path / "cluster", settings,
                           worker_args=("--work-dir-ttl", "1")) as cluster:
        home, env = cluster["home"], {**cluster["env"],
                                      "VEGA_EVENTLOG_DIR": str(tmp_path / "driver-events")}
        jobs = {name: write_job(tmp_path, name, source) for name, source in DAEMON_JOBS.items()}
        site = (cluster["webui_port"], cluster["ca_file"])
        with open(home / "master" / "master.token") as fh:
            token = fh.read().strip()
        marker = str(tmp_path / "running")

        def python(*args):
            return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

        def round_of_applications():
            for mode in ("client", "cluster"):
                done = vega("submit", "--master", cluster["url"], "--deploy-mode", mode,
                            jobs["ok.py"], env=env)
                assert done.returncode == 0 and "RESULT [(0, 18), (1, 12), (2, 15)]" in \
                    done.stdout, done.stderr
            assert python(jobs["fails.py"], cluster["url"]).communicate(timeout=120)[0] == \
                "RESULT 45\n"
            hangs = python(jobs["hangs.py"], cluster["url"], marker)
            wait_for(lambda: os.path.exists(marker), 60, "the task to run")
            hangs.kill()
            hangs.communicate()
            os.unlink(marker)
            assert vega("status", "--master", cluster["url"], env=env).returncode == 0
            code, apps = api_get(site, "/api/v1/applications", token)
            assert code == 200
            for path in ("", "/jobs", "/stages", "/executors"):
                assert api_get(site, f"/api/v1/applications/{apps[0]['id']}{path}",
                               token)[0] == 200
            assert api_get(site, "/api/v1/status", token)[0] == 200
            assert api_get_bytes(site, "/metrics", token)[0] == 200

        def entries(directory):
            return sorted(os.listdir(directory)) if os.path.isdir(directory) else []

        def settled() -> bool:
            """The master has ended every application and driver and forgotten those past
            the 2 of each it keeps: the killed driver's application ends once a probe finds
            its driver gone, the oldest kept one is forgotten at the master's next tick (a
            second later, more under load), and the executors may end before either."""
            status = api_get(site, "/api/v1/status", token)[1]
            return [a["state"] for a in status["applications"]] + \
                [d["state"] for d in status["drivers"]] == ["finished"] * 4

        def held():
            """Each daemon's figures once what the last round started is over: its
            executors reaped, the worker's application dirs cleaned, the master settled (it
            held the application before the oldest kept and its package a moment longer)."""
            wait_for(lambda: not processes_matching("executor_main", str(home)) and
                     not [n for n in entries(home / "worker") if n.startswith("app-")] and
                     settled(), 60, "the executors to end, the worker's application dirs to "
                     "go and the master to keep only the latest 2 applications and drivers")
            return {"master": daemon_figures(cluster["master_pid"]),
                    "worker": daemon_figures(cluster["worker_pid"]),
                    "fork server": [daemon_figures(pid)["children"]
                                    for pid in children(cluster["worker_pid"])],
                    "master apps": len(entries(home / "master" / "apps")),
                    "master packages": len(entries(home / "master" / "packages")),
                    "worker dir": entries(home / "worker"),
                    "tmp": len(list((home / "tmp").rglob("*")))}

        for _ in range(3):
            round_of_applications()
        before = held()
        rounds = 5
        for _ in range(rounds):
            round_of_applications()
        latest = [held()]

        def as_before():  # (a connection of the last round's may still be closing)
            latest[0] = held()
            return without_memory(latest[0]) == without_memory(before)

        with contextlib.suppress(AssertionError):
            wait_for(as_before, 15, "the daemons to hold what they held before")
        after = latest[0]
    growth = {who: after[who]["rss_kb"] - before[who]["rss_kb"] for who in ("master", "worker")}
    assert without_memory(after) == without_memory(before)
    assert before["fork server"] == [[]] and before["master"]["children"] == []
    assert all(kb <= 256 * rounds for kb in growth.values()), growth


def test_a_worker_whose_fork_server_died_reaps_it_and_forks_executors_again(tmp_path):
    """A worker forks its executors from a fork server, its one long-lived child.  When
    that died (the OOM killer's pick, an operator's kill), the worker left it a zombie for
    the rest of its life and started every later executor as a new interpreter (slower to
    start, its imports not shared).  It now reaps the dead one at the next launch, starts
    a new fork server and forks that executor from it."""
    job = write_job(tmp_path, "parent.py", """
        import os
        from vega_runtime import Context

        def parent(_):
            with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
                return b"vega_runtime.forkserver" in fh.read()

        with Context(app_name="parent") as ctx:
            print("RESULT", ctx.parallelize([0], 1).map(parent).collect())
    """)
    with master_and_worker(tmp_path / "cluster") as cluster:
        def submit():
            done = vega("submit", "--master", cluster["url"], job, env=cluster["env"])
            assert done.returncode == 0, done.stderr
            return done.stdout

        assert "RESULT [True]" in submit()
        [forkserver] = children(cluster["worker_pid"])
        os.kill(forkserver, signal.SIGKILL)
        wait_for(lambda: proc_state(forkserver) == "Z", 30, "the fork server to die")
        assert "RESULT [True]" in submit()
        wait_for(lambda: not processes_matching("executor_main", str(cluster["home"])), 30,
                 "the application's executor to end")  # and its launch's thread with it
        [new] = children(cluster["worker_pid"])
        assert new != forkserver and proc_state(new) in ("S", "R")
        assert "vega_runtime.forkserver" in cmdline(new)
