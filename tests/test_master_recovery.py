"""What a restarted master knows from its recovery directory."""

from vega_runtime.deploy.master import Master
from vega_runtime.deploy.recovery import RecoveryStore


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
          "duration_seconds": 1.0}])
    master = Master("127.0.0.1", 0, None, "127.0.0.1", str(tmp_path))
    try:
        status = master.status()
    finally:
        master.stop()
    assert [(w["id"], w["state"]) for w in status["workers"]] == [("worker-a", "lost")]
    assert sorted((a["id"], a["state"]) for a in status["applications"]) == \
        [("app-0", "finished"), ("app-1", "recovering")]
    assert [(d["id"], d["state"]) for d in status["drivers"]] == [("driver-1", "unknown")]
