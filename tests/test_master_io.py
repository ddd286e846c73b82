"""The master's I/O layer carrying out the state machine's actions, in-process over
loopback: forgotten applications' files are deleted, a driver's old connection cannot
end its resumed application."""

import os
import time

from vega_runtime import __version__
from vega_runtime.config import Config
from vega_runtime.deploy.master import Master
from vega_runtime.deploy.master_events import Tick
from vega_runtime.net.connection import Connection
from vega_runtime.net.messages import (AppLog, RegisterApplication, RegisteredApplication,
                                       UnregisterApplication)
from vega_runtime.versions import python_version

from proc_helpers import wait_for


def master_conf(work_dir, **settings) -> Config:
    """A loopback master on an ephemeral port, working in ``work_dir``."""
    return Config.load(environ={}, cli={"vega.master.host": "127.0.0.1", "vega.master.port": 0,
                                        "vega.master.work_dir": str(work_dir), **settings})


class Clock:
    """Wall time, plus whatever the test adds."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.time() + self.offset


def register(master, package="", app_id=""):
    conn = Connection.connect("127.0.0.1", master.server.port, b"")
    conn.send(RegisterApplication("io-test", "127.0.0.1", 1, 0, 0, 1 << 20, python_version(),
                                  __version__, package, app_id))
    reply = conn.recv()
    assert isinstance(reply, RegisteredApplication), reply
    return conn, reply.app_id


def app_state(master, app_id):
    return {a["id"]: a["state"] for a in master.status()["applications"]}.get(app_id)


def test_a_finished_application_is_forgotten_with_its_logs_and_package(tmp_path):
    """One TTL after it finished: gone from the status, its output.log and its package
    deleted from the master's work directory."""
    clock = Clock()
    master = Master(master_conf(tmp_path, **{"vega.master.finished_app_ttl": 3600.0}), None,
                    clock=clock).start()
    try:
        master.packages.store("ab" * 32, b"zip bytes")
        conn, app_id = register(master, package="ab" * 32)
        conn.send(AppLog("hello from the job\n"))
        conn.send(UnregisterApplication(app_id))
        wait_for(lambda: app_state(master, app_id) == "finished", 10, "the application to end")
        conn.close()
        assert master.application_output(app_id) == "hello from the job\n"
        clock.offset = 3600.0 + 1
        master.handle(Tick())
        assert app_state(master, app_id) is None
        assert not os.path.exists(os.path.join(str(tmp_path), "apps", app_id))
        assert not master.packages.exists("ab" * 32)
        assert master.application_output(app_id) is None
        assert app_id not in master.recovery.load()["apps"]
    finally:
        master.stop()


def test_a_package_found_again_since_its_application_ended_outlives_the_applications_end(
        tmp_path):
    """The same job submitted again while its previous run is forgotten (a TTL after it
    ended, or beyond vega.master.retained_applications): the new submitter has found the
    package and its driver has not registered yet. The package stays for it; before, the
    master removed it then and the new application's executors failed ('job package ...
    could not be fetched from the master: the master does not have it'), once in a soak
    test's full run."""
    clock = Clock()
    master = Master(master_conf(tmp_path, **{"vega.master.finished_app_ttl": 3600.0}), None,
                    clock=clock).start()
    try:
        master.packages.store("cd" * 32, b"zip bytes")
        conn, app_id = register(master, package="cd" * 32)
        conn.send(UnregisterApplication(app_id))
        wait_for(lambda: app_state(master, app_id) == "finished", 10, "the application to end")
        conn.close()
        clock.offset = 3600.0 + 1
        assert master.packages.want("cd" * 32)  # the next run's submitter finds it
        master.handle(Tick())
        assert app_state(master, app_id) is None
        assert master.packages.exists("cd" * 32)
    finally:
        master.stop()


def test_a_drivers_old_connection_closing_does_not_end_its_resumed_application(tmp_path):
    """The driver reconnects under its application id; its old connection closing
    afterwards leaves the application running."""
    master = Master(master_conf(tmp_path), None).start()
    try:
        old, app_id = register(master)
        new, resumed = register(master, app_id=app_id)
        assert resumed == app_id
        old.close()
        wait_for(lambda: master.connections.count() == 1, 10,
                 "the old connection's thread to report its end")
        assert app_state(master, app_id) in ("waiting", "running")
        new.send(UnregisterApplication(app_id))
        wait_for(lambda: app_state(master, app_id) == "finished", 10, "the application to end")
        new.close()
    finally:
        master.stop()


def test_the_tick_thread_survives_any_error(tmp_path, monkeypatch, caplog):
    """A tick that raises is logged at ERROR and the next tick runs."""
    import logging
    import threading

    from vega_runtime.deploy import master as master_module

    monkeypatch.setattr(master_module, "TICK_SECONDS", 0.01)
    master = Master(master_conf(tmp_path), None)
    real_handle, ticks = master.state.handle, []
    again = threading.Event()

    def flaky(event, now):
        if isinstance(event, Tick):
            ticks.append(now)
            if len(ticks) == 1:
                raise RuntimeError("a bug in a tick")
            again.set()
        return real_handle(event, now)

    master.state.handle = flaky
    with caplog.at_level(logging.ERROR, logger="vega_runtime.deploy.master"):
        master.start()
        try:
            assert again.wait(10), "no tick after the failed one"
        finally:
            master.stop()
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


def test_only_the_latest_ended_drivers_are_kept_with_their_output(tmp_path):
    """Beyond vega.master.retained_drivers ended cluster-mode drivers the oldest leaves
    the status and its output is deleted (Spark's spark.deploy.retainedDrivers); a
    restarted master keeps as many of those its recovery state lists."""
    from vega_runtime.net.messages import SubmitDriver
    from vega_runtime.packaging import build_package

    job = tmp_path / "job.py"
    job.write_text("import sys\nprint('driver ran')\nsys.exit(3)\n")
    package = build_package(str(job), [], [], str(tmp_path / "package"))
    settings = {"vega.master.retained_drivers": 2}
    master = Master(master_conf(tmp_path / "master", **settings), None).start()
    try:
        ids = []
        for n in range(3):
            with open(package.path, "rb") as fh:  # as each submit does: an ended driver's goes
                master.packages.store(package.sha256, fh.read())
            info = master.drivers.submit(SubmitDriver(f"driver-{n}", "job/job.py", [], "{}",
                                                      package.sha256, False))
            wait_for(lambda: info.done, 60, f"driver {n} to end")
            assert (info.state.value, info.exit_code) == ("failed", 3)
            ids.append(info.driver_id)
        listed = [d["id"] for d in master.status()["drivers"]]
        assert listed == ids[1:]
        assert master.application_output(ids[0]) is None
        assert not os.path.exists(os.path.dirname(master.logs.path(ids[0])))
        assert "driver ran" in master.application_output(ids[2])
        master.save_state()
    finally:
        master.stop()
    restarted = Master(master_conf(tmp_path / "master", **{"vega.master.retained_drivers": 1}),
                       None)
    try:
        assert [(d["id"], d["state"]) for d in restarted.status()["drivers"]] == \
            [(ids[2], "failed")]
        assert restarted.application_output(ids[1]) is None
        assert "driver ran" in restarted.application_output(ids[2])
    finally:
        restarted.stop()


def test_the_driver_that_ended_last_is_kept_whatever_the_wall_clock_did(tmp_path,
                                                                          monkeypatch):
    """The ended drivers kept (vega.master.retained_drivers) are the last to end: they were
    ordered by the wall-clock time of their end, so after the clock was set back (an NTP
    step on a master up for weeks) the driver that had just ended looked oldest and was
    forgotten at once, its output deleted while its submitter followed it.  The drivers'
    wall clock is faked here, set back an hour between two drivers."""
    import types

    from vega_runtime.deploy import drivers
    from vega_runtime.net.messages import SubmitDriver
    from vega_runtime.packaging import build_package

    wall = {"offset": 0.0}
    monkeypatch.setattr(drivers, "time", types.SimpleNamespace(
        time=lambda: time.time() - wall["offset"], strftime=time.strftime,
        localtime=time.localtime, sleep=time.sleep, monotonic=time.monotonic))
    job = tmp_path / "job.py"
    job.write_text("print('driver ran')\n")
    package = build_package(str(job), [], [], str(tmp_path / "package"))
    master = Master(master_conf(tmp_path / "master", **{"vega.master.retained_drivers": 1}),
                    None).start()
    try:
        ended = []
        for n in range(2):
            with open(package.path, "rb") as fh:  # as each submit does: an ended driver's goes
                master.packages.store(package.sha256, fh.read())
            info = master.drivers.submit(SubmitDriver(f"driver-{n}", "job/job.py", [], "{}",
                                                      package.sha256, False))
            wait_for(lambda: info.done, 60, f"driver {n} to end")
            ended.append(info.driver_id)
            wall["offset"] = 3600.0  # the clock is set back an hour
        assert [d["id"] for d in master.status()["drivers"]] == ended[1:]
        assert "driver ran" in master.application_output(ended[1])
    finally:
        master.stop()


def test_a_wall_clock_step_moves_the_masters_times_with_it(tmp_path, monkeypatch):
    """A master started while its host's clock was two days behind (booted before NTP set
    it): once the clock is stepped, its status shows the wall clock's times, and an
    application that ended after the step is not taken by the next master for two days
    old (forgotten at its first tick, output and all): the master's times stayed on the
    first reading of the clock for as long as it ran."""
    import types

    from vega_runtime.deploy import master as master_module

    day, behind = 24 * 3600.0, {"seconds": 2 * 24 * 3600.0}
    monkeypatch.setattr(master_module, "TICK_SECONDS", 0.01)
    monkeypatch.setattr(master_module, "time", types.SimpleNamespace(
        time=lambda: time.time() - behind["seconds"], monotonic=time.monotonic))
    master = Master(master_conf(tmp_path), None).start()
    try:
        assert master.status()["master"]["started"] < time.time() - day
        behind["seconds"] = 0.0  # NTP steps the clock
        wait_for(lambda: abs(master.status()["master"]["started"] - time.time()) < 60, 10,
                 "the master's start to be shown on the wall clock")
        assert master.status()["master"]["uptime_seconds"] < 60
        conn, app_id = register(master)
        conn.send(AppLog("kept\n"))
        conn.send(UnregisterApplication(app_id))
        wait_for(lambda: app_state(master, app_id) == "finished", 10, "the application to end")
        conn.close()
        [app] = [a for a in master.status()["applications"] if a["id"] == app_id]
        assert abs(app["started"] - time.time()) < 60
    finally:
        master.stop()
    again = Master(master_conf(tmp_path), None).start()
    try:
        again.handle(Tick())
        assert app_state(again, app_id) == "finished"
        assert again.application_output(app_id) == "kept\n"
    finally:
        again.stop()


def test_a_supervised_driver_that_ran_a_while_before_failing_is_restarted_again(tmp_path,
                                                                               monkeypatch):
    """--supervise's restart budget (vega.master.supervise.max_restarts) counts failures in
    a row: it counted every failure of the driver's life, so a driver running for months
    was given up at its fourth crash of all. A run of STABLE_RUN_SECONDS (made 0.5 s here)
    starts the count again; quick failures in a row still end it (test_cluster_cli)."""
    from vega_runtime.deploy import drivers
    from vega_runtime.net.messages import SubmitDriver
    from vega_runtime.packaging import build_package

    monkeypatch.setattr(drivers, "STABLE_RUN_SECONDS", 0.5, raising=False)
    runs = tmp_path / "runs"
    job = tmp_path / "job.py"
    job.write_text("import sys, time\n"
                   f"with open({str(runs)!r}, 'a') as fh:\n"
                   "    fh.write('run\\n')\n"
                   f"if open({str(runs)!r}).read().count('run') < 3:\n"
                   "    time.sleep(0.6)\n"
                   "    sys.exit(4)\n")
    package = build_package(str(job), [], [], str(tmp_path / "package"))
    master = Master(master_conf(tmp_path / "master",
                                **{"vega.master.supervise.max_restarts": 1}), None).start()
    try:
        with open(package.path, "rb") as fh:
            master.packages.store(package.sha256, fh.read())
        info = master.drivers.submit(SubmitDriver("flaky", "job/job.py", [], "{}",
                                                  package.sha256, True))
        wait_for(lambda: info.done, 60, "the driver to end")
        assert (info.state.value, info.exit_code, info.restarts) == ("finished", 0, 2)
        assert runs.read_text() == "run\n" * 3
    finally:
        master.stop()


def test_a_recovery_write_failing_on_a_host_booted_seconds_ago_is_logged(tmp_path, monkeypatch,
                                                                         caplog):
    """The first failed recovery write is logged at ERROR: it was not when the monotonic
    clock (seconds since boot) was under a minute, as for a master a boot starts."""
    import logging
    import types

    from vega_runtime.deploy import recovery

    monkeypatch.setattr(recovery, "time", types.SimpleNamespace(
        monotonic=lambda: 5.0, time=time.time, strftime=time.strftime))
    (tmp_path / "recovery").write_text("a file where the recovery directory goes")
    writer = recovery.RecoveryWriter(recovery.RecoveryStore(str(tmp_path)),
                                     lambda: ({}, {}, []), 1.0)
    with caplog.at_level(logging.ERROR, logger="vega_runtime.deploy.recovery"):
        writer.save()
    assert writer.unsaved
    assert [(r.levelno, r.getMessage().startswith("cannot write the recovery state"))
            for r in caplog.records] == [(logging.ERROR, True)]


def test_a_drivers_duration_does_not_follow_the_wall_clock_set_back(tmp_path, monkeypatch):
    """The wall clock set back an hour while a cluster-mode driver runs: its duration in
    the status stays what it ran (it was shown as -3600 s, and so once it had ended)."""
    import types

    from vega_runtime.deploy import drivers
    from vega_runtime.net.messages import SubmitDriver
    from vega_runtime.packaging import build_package

    wall = {"offset": 0.0}
    monkeypatch.setattr(drivers, "time", types.SimpleNamespace(
        time=lambda: time.time() - wall["offset"], strftime=time.strftime,
        localtime=time.localtime, sleep=time.sleep, monotonic=time.monotonic))
    go = tmp_path / "go"
    job = tmp_path / "job.py"
    job.write_text(f"import os, time\nwhile not os.path.exists({str(go)!r}):\n"
                   "    time.sleep(0.01)\n")
    package = build_package(str(job), [], [], str(tmp_path / "package"))
    master = Master(master_conf(tmp_path / "master"), None).start()
    try:
        with open(package.path, "rb") as fh:
            master.packages.store(package.sha256, fh.read())
        info = master.drivers.submit(SubmitDriver("d", "job/job.py", [], "{}",
                                                  package.sha256, False))
        wait_for(lambda: info.state.value == "running", 60, "the driver to run")
        wall["offset"] = 3600.0  # the clock is set back an hour
        [running] = master.status()["drivers"]
        assert 0 <= running["duration_seconds"] < 60
        go.touch()
        wait_for(lambda: info.done, 60, "the driver to end")
        [ended] = master.status()["drivers"]
        assert running["duration_seconds"] <= ended["duration_seconds"] < 60
    finally:
        master.stop()


def test_a_finished_driver_outlives_a_master_restart_until_it_is_forgotten(tmp_path):
    """A cluster-mode driver that finished (exit code 0) is listed after a master restart,
    as a failed one is, and its output goes when it is forgotten (vega.master.retained_drivers).
    A restarted master dropped every finished driver from its state: it vanished from
    ``vega status`` and ``/api/v1/status`` while its output stayed in the work dir for ever,
    no later retention or restart removing it."""
    from vega_runtime.net.messages import SubmitDriver
    from vega_runtime.packaging import build_package

    job = tmp_path / "job.py"
    job.write_text("import sys\nprint('driver ran')\nsys.exit(int(sys.argv[1]))\n")
    package = build_package(str(job), [], [], str(tmp_path / "package"))
    master = Master(master_conf(tmp_path / "master"), None).start()
    try:
        ids = []
        for code in (0, 3):
            with open(package.path, "rb") as fh:  # as each submit does: an ended driver's goes
                master.packages.store(package.sha256, fh.read())
            info = master.drivers.submit(SubmitDriver(f"driver-{code}", "job/job.py",
                                                      [str(code)], "{}", package.sha256, False))
            wait_for(lambda: info.done, 60, f"the driver exiting {code} to end")
            ids.append(info.driver_id)
        master.save_state()
    finally:
        master.stop()
    restarted = Master(master_conf(tmp_path / "master"), None)
    try:
        assert [(d["id"], d["state"], d["exit_code"]) for d in restarted.status()["drivers"]] \
            == [(ids[0], "finished", 0), (ids[1], "failed", 3)]
        assert "driver ran" in restarted.application_output(ids[0])
        restarted.save_state()
    finally:
        restarted.stop()
    again = Master(master_conf(tmp_path / "master", **{"vega.master.retained_drivers": 1}), None)
    try:
        assert [d["id"] for d in again.status()["drivers"]] == [ids[1]]
        assert again.application_output(ids[0]) is None
        assert not os.path.exists(os.path.dirname(again.logs.path(ids[0])))
    finally:
        again.stop()


def test_a_job_submitted_again_as_its_last_run_ends_keeps_its_package(tmp_path):
    """The same job submitted again while its last cluster-mode run ends: the new submitter
    finds (or uploads) the package, then submits its driver, and the ending driver's
    removal of its package came between the two: the new driver failed (its package "was
    never uploaded", or its job file vanished while it started: exit code 2; a one-off CI
    failure of the restart test above).  A package wanted after the ending driver took it
    stays; the last driver's end removes it."""
    from vega_runtime.net.messages import PackageQuery, SubmitDriver
    from vega_runtime.packaging import build_package

    release = tmp_path / "release"
    job = tmp_path / "job.py"
    job.write_text("import os, sys, time\n"
                   f"while sys.argv[1] == 'wait' and not os.path.exists({str(release)!r}):\n"
                   "    time.sleep(0.01)\nprint('driver ran')\n")
    package = build_package(str(job), [], [], str(tmp_path / "package"))
    master = Master(master_conf(tmp_path / "master"), None).start()
    try:
        with open(package.path, "rb") as fh:
            data = fh.read()
        master.packages.store(package.sha256, data)
        first = master.drivers.submit(SubmitDriver("first", "job/job.py", ["wait"], "{}",
                                                   package.sha256, False))
        wait_for(lambda: first.state.value == "running", 60, "the first driver to run")
        conn = Connection.connect("127.0.0.1", master.server.port, b"")
        conn.send(PackageQuery(package.sha256))  # the next submitter finds it
        assert conn.recv().present
        conn.close()
        release.touch()
        wait_for(lambda: first.done, 60, "the first driver to end")
        assert master.packages.exists(package.sha256)
        second = master.drivers.submit(SubmitDriver("second", "job/job.py", ["go"], "{}",
                                                    package.sha256, False))
        wait_for(lambda: second.done, 60, "the second driver to end")
        assert (first.exit_code, second.exit_code) == (0, 0)
        assert "driver ran" in master.application_output(second.driver_id)
        wait_for(lambda: not master.packages.exists(package.sha256), 10,
                 "the last driver's end to remove the package")
    finally:
        master.stop()


def test_a_restarted_master_numbers_drivers_after_those_it_recovered(tmp_path, monkeypatch):
    """A restarted master never hands out a cluster-mode driver id it gave before: its count
    started again at 0001, so once the clock showed a second it had shown before (set back
    by NTP, or a restart within the second) the new driver took a recovered driver's id,
    and ``vega kill``/``vega logs`` of that id reached one or the other.  The drivers' wall
    clock is faked here to stand still across the restart."""
    import types

    from vega_runtime.deploy import drivers
    from vega_runtime.net.messages import SubmitDriver
    from vega_runtime.packaging import build_package

    stopped = time.localtime()
    monkeypatch.setattr(drivers, "time", types.SimpleNamespace(
        time=time.time, strftime=time.strftime, localtime=lambda *_: stopped,
        sleep=time.sleep, monotonic=time.monotonic))
    job = tmp_path / "job.py"
    job.write_text("print('driver ran')\n")
    package = build_package(str(job), [], [], str(tmp_path / "package"))

    def run_driver(master, name):
        with open(package.path, "rb") as fh:
            master.packages.store(package.sha256, fh.read())
        info = master.drivers.submit(SubmitDriver(name, "job/job.py", [], "{}",
                                                  package.sha256, False))
        wait_for(lambda: info.done, 60, f"driver {name} to end")
        return info.driver_id

    master = Master(master_conf(tmp_path / "master"), None).start()
    try:
        before = [run_driver(master, "first"), run_driver(master, "second")]
        master.save_state()
    finally:
        master.stop()
    restarted = Master(master_conf(tmp_path / "master"), None).start()
    try:
        after = run_driver(restarted, "third")
        assert after not in before
        assert sorted(d["id"][-4:] for d in restarted.status()["drivers"]) == \
            ["0001", "0002", "0003"]
        assert "driver ran" in restarted.application_output(before[0])
    finally:
        restarted.stop()


def test_a_save_that_waits_returns_once_the_state_as_it_is_now_is_on_disk(tmp_path):
    """A master's stop saves its state while another thread's save (a driver's end) is
    writing an older snapshot: the stop's save returns only once the newer state is
    written.  Before, it returned at once, leaving the write to that thread, and a master
    restarted right after read a driver that had ended as still running."""
    import threading

    from vega_runtime.deploy import recovery

    state = {"drivers": ["running"]}
    writing, release, written = threading.Event(), threading.Event(), []

    class SlowStore:
        enabled = True

        def save(self, apps, workers, drivers):
            if not written:  # the first write is slow (an fsync on a busy disk)
                writing.set()
                release.wait(10)
            written.append(drivers)

    writer = recovery.RecoveryWriter(SlowStore(), lambda: ({}, {}, list(state["drivers"])),
                                     1.0)
    first = threading.Thread(target=writer.save)
    first.start()
    assert writing.wait(10)
    state["drivers"] = ["failed"]
    stopping = threading.Thread(target=writer.save, kwargs={"wait": True})
    stopping.start()
    stopping.join(0.2)
    assert stopping.is_alive()  # it waits for the write at work
    release.set()
    stopping.join(10)
    first.join(10)
    assert written[-1] == ["failed"] and not writer.unsaved
