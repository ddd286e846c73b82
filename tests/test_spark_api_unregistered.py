"""Spark's REST API on a master for an application it does not know yet, whose event log is
being written in its event log directory: a driver starting (it writes its log before it
registers) or one running under another master (a ``local`` one here) is running, not
completed; a log without its end whose driver stopped writing long ago is incomplete, as
Spark's history server lists it (it was listed completed, ended at its last event)."""

import json
import os
import time

from http_helpers import api_get

from vega_runtime import Context


def listed(master, status):
    code, apps = api_get(master, f"/api/v1/applications?status={status}", master.token)
    assert code == 200, apps
    return {a["id"]: a["attempts"][0]["completed"] for a in apps}


def test_an_application_writing_its_event_log_is_running_until_it_ends(bare_master):
    """While its Context runs, an application this master does not run is listed running,
    as Spark's history server lists a log without its end; before, the master took every
    log it did not know for a dead driver's and listed it completed, ended at its last
    event: for up to 2 s after each driver started (seen sharing a master among many
    applications), ``?status=completed`` and the UI's finished applications showed it."""
    conf = {"vega.eventlog.dir": str(bare_master.events)}
    with Context(master="local", app_name="elsewhere", conf=conf) as ctx:
        assert ctx.parallelize(range(10), 2).count() == 10
        app = ctx.application_id
        assert listed(bare_master, "running") == {app: False}
        assert listed(bare_master, "completed") == {}
        code, info = api_get(bare_master, f"/api/v1/applications/{app}", bare_master.token)
        assert code == 200 and info["attempts"][0]["completed"] is False
        assert info["attempts"][0]["endTimeEpoch"] == -1
    assert listed(bare_master, "completed") == {app: True}
    assert listed(bare_master, "running") == {}


def test_a_log_without_its_end_not_written_for_long_is_incomplete(bare_master):
    """A log whose driver died before it registered (no end, last written an hour ago) is
    of an application listed incomplete: Spark's ``completed`` false, ``endTime`` -1 and
    ``duration`` 0."""
    start = float(int(time.time()) - 3600)
    app = "app-20261206080000-0b1d"
    with open(os.path.join(str(bare_master.events), f"{app}.jsonl"), "w") as fh:
        fh.write(json.dumps({"event": "ApplicationStart", "time": start, "app_id": app,
                             "name": "died", "master": "vega://127.0.0.1:7077"}) + "\n")
    os.utime(os.path.join(str(bare_master.events), f"{app}.jsonl"), (start, start))
    assert listed(bare_master, "completed") == {}
    assert listed(bare_master, "running") == {app: False}
    code, info = api_get(bare_master, f"/api/v1/applications/{app}", bare_master.token)
    assert code == 200, info
    attempt = info["attempts"][0]
    assert (attempt["completed"], attempt["endTimeEpoch"], attempt["duration"]) == (False, -1, 0)
    assert attempt["lastUpdatedEpoch"] == int(start * 1000)
