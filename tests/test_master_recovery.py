"""What a restarted master knows from its recovery directory."""

import pytest

from vega_runtime.config import Config
from vega_runtime.deploy.master import Master
from vega_runtime.deploy.metrics import MasterCollector
from vega_runtime.deploy.recovery import RecoveryStore


def master_conf(work_dir, **settings) -> Config:
    """A loopback master on an ephemeral port, working in ``work_dir``."""
    return Config.load(environ={}, cli={"vega.master.host": "127.0.0.1", "vega.master.port": 0,
                                        "vega.master.work_dir": str(work_dir), **settings})


def test_a_restarted_master_shows_what_it_knew(tmp_path):
    """Workers that have not come back are lost, running applications are recovering,
    cluster-mode drivers are unknown, finished applications stay finished."""
    RecoveryStore(str(tmp_path)).save(
        {"app-1": {"name": "running-job", "state": "running", "submitted": 100.0, "ended": None,
                   "next_executor": 4},
         "app-0": {"name": "old-job", "state": "finished", "submitted": 50.0, "ended": 60.0,
                   "next_executor": 2}},
        {"worker-a": {"host": "10.0.0.2", "port": 4000, "cores": 2, "memory": 1 << 30,
                      "labels": [], "state": "alive"}},
        [{"id": "driver-1", "name": "supervised", "state": "running", "restarts": 0,
          "exit_code": None, "pid": 999999, "supervise": True, "started": 100.0,
          "duration_seconds": 1.0,
          "request": {"name": "supervised", "job_file": "job/j.py", "args": [],
                      "conf_json": '{"vega.executor.env.DB_PASSWORD": "hunter2"}',
                      "package_sha": "0" * 64, "supervise": True}}])
    master = Master(master_conf(tmp_path), None)
    try:
        status = master.status()
        metrics = {(f.name, s.labels.get("state")): s.value
                   for f in MasterCollector(master).collect() for s in f.samples
                   if f.name in ("vega_workers", "vega_applications")}
    finally:
        master.stop()
    assert [(w["id"], w["state"]) for w in status["workers"]] == [("worker-a", "lost")]
    assert sorted((a["id"], a["state"]) for a in status["applications"]) == \
        [("app-0", "finished"), ("app-1", "recovering")]
    assert [(d["id"], d["state"]) for d in status["drivers"]] == [("driver-1", "unknown")]
    assert "request" not in status["drivers"][0]  # nor the settings it was submitted with
    # /metrics counts them as vega status shows them
    assert metrics == {("vega_workers", "alive"): 0, ("vega_workers", "lost"): 1,
                       ("vega_workers", "dead"): 0,
                       ("vega_applications", "waiting"): 0, ("vega_applications", "running"): 0,
                       ("vega_applications", "finished"): 1, ("vega_applications", "failed"): 0,
                       ("vega_applications", "killed"): 0,
                       ("vega_applications", "recovering"): 1}


def test_a_master_with_recovery_off_neither_reads_nor_writes_its_state(tmp_path):
    """vega.master.recovery false (a local cluster's master): it starts empty whatever the
    directory holds, and its changes write nothing."""
    saved = {"app-1": {"name": "running-job", "state": "running", "submitted": 100.0,
                       "ended": None, "next_executor": 4}}
    RecoveryStore(str(tmp_path)).save(saved, {}, [])
    before = (tmp_path / "recovery" / "state.json").read_bytes()
    master = Master(master_conf(tmp_path, **{"vega.master.recovery": False}), None)
    try:
        assert master.status()["applications"] == []
        master.save_state()
    finally:
        master.stop()
    assert sorted(p.name for p in (tmp_path / "recovery").iterdir()) == ["state.json"]
    assert (tmp_path / "recovery" / "state.json").read_bytes() == before
    store = RecoveryStore(str(tmp_path / "elsewhere"), enabled=False)
    store.save(saved, {}, [])
    assert not (tmp_path / "elsewhere").exists()


def test_a_save_fsyncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    """state.json.tmp is fsynced, renamed over state.json, then the directory is fsynced."""
    import os

    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", os.path.basename(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store = RecoveryStore(str(tmp_path))
    app = {"name": "n", "state": "running", "submitted": 1.0, "ended": None}
    store.save({"app-1": app}, {}, [])
    assert calls == [("fsync", store.path + ".tmp"), ("replace", "state.json.tmp"),
                     ("fsync", store.directory)]
    assert store.load()["apps"] == {"app-1": app}


def test_a_save_that_cannot_write_raises_oserror(tmp_path):
    """The recovery directory's path runs through a file (this stops root too): OSError."""
    import pytest

    (tmp_path / "recovery").write_text("not a directory")
    with pytest.raises(OSError):
        RecoveryStore(str(tmp_path)).save({}, {}, [])


def test_a_corrupt_state_file_is_kept_aside_and_reported(tmp_path, caplog):
    """Unparseable state.json: kept as state.json.corrupt-<timestamp>, ERROR logged, empty state."""
    import logging

    store = RecoveryStore(str(tmp_path))
    (tmp_path / "recovery").mkdir()
    (tmp_path / "recovery" / "state.json").write_bytes(b'{"apps": {"app-1": ')
    with caplog.at_level(logging.ERROR):
        assert store.load() == {"apps": {}, "workers": {}, "drivers": []}
    kept = [p.name for p in (tmp_path / "recovery").iterdir()]
    assert len(kept) == 1 and kept[0].startswith("state.json.corrupt-")
    assert (tmp_path / "recovery" / kept[0]).read_bytes() == b'{"apps": {"app-1": '
    assert any("corrupt" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


DRIVER_REQUEST = {"name": "supervised", "job_file": "job/j.py", "args": [], "conf_json": "{}",
                  "package_sha": "0" * 64, "supervise": True}


@pytest.mark.parametrize("state, problem", [
    ({"apps": [], "workers": {}, "drivers": []}, "'apps' is list, not dict"),
    ({"apps": {}, "workers": {}, "drivers": {"driver-1": {}}}, "'drivers' is dict, not list"),
    ({"apps": {"app-1": "running"}}, "apps['app-1'] is str, not an object"),
    ({"apps": {"app-1": {"name": "job", "state": "running", "ended": None}}},
     "apps['app-1'] has no 'submitted'"),
    ({"apps": {"app-1": {"name": "job", "state": "finished", "submitted": 1.0, "ended": "x"}}},
     "apps['app-1']: 'ended' is str, not a number"),
    ({"workers": {"worker-a": {"host": "h", "port": 1, "cores": "4", "memory": 1,
                               "labels": [], "state": "alive"}}},
     "workers['worker-a']: 'cores' is str, not int"),
    ({"drivers": [{"id": "driver-1", "name": "d", "state": "running", "restarts": "many",
                   "supervise": True, "request": DRIVER_REQUEST}]},
     "drivers[0]: 'restarts' is str, not int"),
    ({"drivers": [7]}, "drivers[0] is int, not an object"),
])
def test_a_state_file_of_another_shape_is_kept_aside_and_the_master_starts(tmp_path, caplog,
                                                                           state, problem):
    """A state.json that parses but is not what a master writes (edited by hand, cut and
    mended): the master starts empty, keeping the file aside and saying what is wrong in
    it, as for one that does not parse. Before, it stopped at its start with a TypeError,
    AttributeError or KeyError (or, for a supervised driver, later in its thread)."""
    import json
    import logging

    (tmp_path / "recovery").mkdir()
    (tmp_path / "recovery" / "state.json").write_text(json.dumps(state))
    with caplog.at_level(logging.ERROR):
        master = Master(master_conf(tmp_path), None)
        try:
            status = master.status()
        finally:
            master.stop()
    assert (status["applications"], status["workers"], status["drivers"]) == ([], [], [])
    aside = [p.name for p in (tmp_path / "recovery").iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1
    assert [r.getMessage() for r in caplog.records if "corrupt" in r.getMessage()] == [
        f"the recovery state {tmp_path}/recovery/state.json is corrupt ({problem}): kept as "
        f"{tmp_path}/recovery/{aside[0]}; starting without it (applications and workers of "
        "before the restart are not shown)"]


@pytest.mark.parametrize("change, problem", [
    ({"package_sha": "../../elsewhere"},
     "field 'package_sha' is not a package id: '../../elsewhere'"),
    ({"args": "--conf x"}, "field 'args' is str, not typing.List[str]"),
    ({"conf_json": "[1]"}, "its conf_json is not a JSON object of settings"),
])
def test_a_supervised_drivers_saved_request_is_checked_as_a_submission(tmp_path, caplog,
                                                                       change, problem):
    """A restarted master starts a supervised driver again from its saved request only if
    it passes the checks a submission does: a package id that is a path, arguments that
    are one string (each character became an argument) or settings that are not an object
    are refused with a warning naming the driver (a bad package id killed the driver's
    thread with InvalidIdentifier, leaving it 'restarting' for ever)."""
    import logging

    RecoveryStore(str(tmp_path)).save({}, {}, [
        {"id": "driver-20261205000000-0001", "name": "d", "state": "running", "restarts": 0,
         "exit_code": None, "pid": 999999, "supervise": True, "started": 100.0,
         "duration_seconds": 1.0, "request": {**DRIVER_REQUEST, **change}}])
    with caplog.at_level(logging.WARNING):
        master = Master(master_conf(tmp_path), None).start()  # starts what it resumes
        try:
            drivers = master.status()["drivers"]
        finally:
            master.stop()
    assert [(d["id"], d["state"]) for d in drivers] == [("driver-20261205000000-0001", "failed")]
    assert [r.getMessage() for r in caplog.records if "not restarted" in r.getMessage()] == [
        f"driver driver-20261205000000-0001 not restarted: its saved request is unreadable "
        f"(protocol error from the recovery state: bad SubmitDriver: {problem})"
        if "field" in problem else
        f"driver driver-20261205000000-0001 not restarted: its saved request is unreadable "
        f"({problem})"]


def test_a_restarted_master_deletes_the_packages_nothing_it_recovered_uses(tmp_path):
    """Job packages are deleted with what uses them; one whose user the master forgot in an
    earlier life (an ended cluster-mode driver: the recovery state keeps no package of it)
    stayed for ever, as did an upload a killed master was writing.  At start the master
    deletes those, but one uploaded lately (its application may be about to register)."""
    import os

    old = [("a" * 64, "a finished application's"), ("b" * 64, "a running driver's"),
           ("c" * 64, "nobody's")]
    RecoveryStore(str(tmp_path)).save(
        {"app-0": {"name": "old-job", "state": "finished", "submitted": 50.0, "ended": 60.0,
                   "next_executor": 2, "package_sha": "a" * 64}}, {},
        [{"id": "driver-1", "name": "plain", "state": "running", "restarts": 0,
          "exit_code": None, "pid": 999999, "supervise": False, "started": 100.0,
          "duration_seconds": 1.0,
          "request": {"name": "plain", "job_file": "job/j.py", "args": [], "conf_json": "{}",
                      "package_sha": "b" * 64, "supervise": False}}])
    packages = tmp_path / "packages"
    packages.mkdir()
    two_days_ago = os.path.getmtime(packages) - 2 * 86400
    for sha, _ in old:
        (packages / f"{sha}.zip").write_bytes(b"zip")
        (packages / sha).mkdir()
        for path in (packages / f"{sha}.zip", packages / sha):
            os.utime(path, (two_days_ago, two_days_ago))
    (packages / f"{'d' * 64}.zip").write_bytes(b"just uploaded")
    (packages / f"{'e' * 64}.zip.4242.17.tmp").write_bytes(b"cut off")
    master = Master(master_conf(tmp_path), None)
    master.stop()
    assert sorted(os.listdir(packages)) == ["a" * 64, f"{'a' * 64}.zip", "b" * 64,
                                            f"{'b' * 64}.zip", f"{'d' * 64}.zip"]


def test_a_driver_that_died_with_the_master_leaves_the_zip_its_kept_application_ran_not_its_copy(
        tmp_path):
    """A cluster-mode driver's executors run the package its submitter uploaded, so its
    application, kept once ended, keeps the zip; the copy the master unpacked for the driver
    goes when the driver ends, as when it ends on its own (a driver that died with the
    master, not supervised: its copy stayed as long as its application was kept)."""
    import os

    sha = "f" * 64
    RecoveryStore(str(tmp_path)).save(
        {"app-1": {"name": "job", "state": "running", "submitted": 100.0, "ended": None,
                   "next_executor": 1, "package_sha": sha, "driver_id": "driver-1"}}, {},
        [{"id": "driver-1", "name": "job", "state": "running", "restarts": 0,
          "exit_code": None, "pid": 999999, "supervise": False, "started": 100.0,
          "duration_seconds": 1.0,
          "request": {**DRIVER_REQUEST, "package_sha": sha, "supervise": False}}])
    packages = tmp_path / "packages"
    (packages / sha).mkdir(parents=True)
    (packages / f"{sha}.zip").write_bytes(b"zip")
    master = Master(master_conf(tmp_path), None).start()
    try:
        status = master.status()
    finally:
        master.stop()
    assert [(a["id"], a["state"]) for a in status["applications"]] == [("app-1", "finished")]
    assert [(d["id"], d["state"]) for d in status["drivers"]] == [("driver-1", "failed")]
    assert os.listdir(packages) == [f"{sha}.zip"]


def test_a_restarted_master_keeps_how_far_each_drivers_clock_is(tmp_path):
    """A driver an hour behind: a restarted master took its clock for its own until its
    next events (an idle driver's running application ran an hour longer, a driver killed
    meanwhile ended an hour late), now it keeps the offset it had measured, and saves it
    again."""
    import json
    import time

    RecoveryStore(str(tmp_path)).save(
        {"app-1": {"name": "behind", "state": "running", "submitted": 100.0, "ended": None,
                   "driver_clock_offset": 3600.0},
         "app-2": {"name": "agrees", "state": "running", "submitted": 100.0, "ended": None}},
        {}, [])
    master = Master(master_conf(tmp_path), None)
    try:
        before = time.time()
        assert before - 3601.0 < master.driver_clocks.now("app-1") <= time.time() - 3600.0
        assert master.driver_clocks.offset("app-2") == 0.0
        master.save_state()
    finally:
        master.stop()
    saved = json.loads((tmp_path / "recovery" / "state.json").read_text())["apps"]
    assert saved["app-1"]["driver_clock_offset"] == 3600.0
    assert "driver_clock_offset" not in saved["app-2"]
