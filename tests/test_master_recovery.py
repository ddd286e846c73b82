"""What a restarted master knows from its recovery directory."""

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
    store.save({"app-1": {"name": "n"}}, {}, [])
    assert calls == [("fsync", store.path + ".tmp"), ("replace", "state.json.tmp"),
                     ("fsync", store.directory)]
    assert store.load()["apps"] == {"app-1": {"name": "n"}}


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
