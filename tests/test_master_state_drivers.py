"""The master's decisions about a driver whose connection ended without it unregistering
(``MasterState`` with plain events and a fake clock, as in test_master_state): its port
probed, the application kept on its executors for a grace period while the driver may come
back, ended at once when nothing listens there any more."""

from vega_runtime.deploy.master_events import (ConnectionLost, Disconnect, DriverProbed,
                                               ExecutorExitReported, ExecutorsRequested,
                                               HeartbeatReceived, ProbeDriver, SaveState, Send,
                                               Tick)
from vega_runtime.deploy.master_state import RECOVERED, AppState, MasterState
from vega_runtime.net.messages import (ApplicationEnded, ApplicationRejected, ExecutorAdded,
                                       ExecutorRemoved, RegisteredApplication)

from test_master_state import GIB, Sim, quiet_master_log  # noqa: F401 - the autouse fixture


def test_a_driver_whose_connection_ended_but_runs_on_resumes_its_application_in_the_grace():
    """A driver connection that ends without the driver unregistering, its port still
    open (or not answering: a network fault cutting it off), is not the driver's end: its
    application keeps its executors and gets no new ones while the driver is away, and
    the driver registering again under its id within 2 worker timeouts takes it back as it
    was (the known defect of sessions 23-24: the master ended it at once)."""
    sim = Sim(worker_timeout=3.0)
    w1 = sim.worker("w1", cores=2)
    driver, app_id = sim.app("cut", cores_max=1)
    assert sim.state.apps[app_id].executors == {"exec-1": "w1"}
    out = sim.driver_lost(driver, gone=False)
    assert out == [ProbeDriver(app_id, "10.0.0.9", 5000, sim.now)]  # nothing ended, nobody told
    w2 = sim.worker("w2", cores=2)  # a worker joining meanwhile starts nothing for it
    for _ in range(59):
        sim.now += 0.1
        sim.apply(HeartbeatReceived(w1)), sim.apply(HeartbeatReceived(w2))
        sim.apply(Tick())
    assert sim.state.apps[app_id].state == AppState.RUNNING
    assert not sim.sent(w1, ApplicationEnded) and len(sim.launches()) == 1
    back, resumed = sim.app("cut", cores_max=1, app_id=app_id)
    assert resumed == app_id
    assert sim.state.apps[app_id].executors == {"exec-1": "w1"}
    assert sim.state.app_of(back).app_id == app_id and sim.state.app_of(driver) is None
    sim.apply(ExecutorExitReported(w1, app_id, "exec-1", "it was killed"))
    assert [m.executor_id for m in sim.sent(back, ExecutorRemoved)] == ["exec-1"]
    assert [m.executor_id for m in sim.sent(back, ExecutorAdded)] == ["exec-2"]
    sim.now += 2.0
    sim.apply(HeartbeatReceived(w1)), sim.apply(HeartbeatReceived(w2))
    sim.apply(Tick())
    sim.now += 2.0
    sim.apply(HeartbeatReceived(w1)), sim.apply(HeartbeatReceived(w2))
    sim.apply(Tick())
    assert sim.state.apps[app_id].state == AppState.RUNNING
    assert not sim.sent(w1, ApplicationEnded)


def test_a_driver_that_does_not_come_back_within_the_grace_ends_its_application():
    """Past 2 worker timeouts without the driver, the application finishes as when its
    driver disconnects (its workers told, its cores free for the next application); the
    driver's late return is refused."""
    sim = Sim(worker_timeout=3.0)
    w1 = sim.worker("w1", cores=1)
    driver, app_id = sim.app("cut")
    _, waiting = sim.app("next")
    assert sim.state.apps[waiting].state == AppState.WAITING
    sim.driver_lost(driver, gone=False, reason="sending to it failed: timed out")
    for step in (2.0, 2.0, 2.0):
        sim.now += step
        sim.apply(HeartbeatReceived(w1))
        sim.apply(Tick())
    assert sim.state.apps[app_id].state == AppState.RUNNING
    sim.now += 0.1
    sim.apply(Tick())
    assert sim.state.apps[app_id].state == AppState.FINISHED
    assert [m.app_id for m in sim.sent(w1, ApplicationEnded)] == [app_id]
    assert sim.state.apps[waiting].state == AppState.RUNNING
    late, resumed = sim.app("cut", app_id=app_id)
    assert resumed is None and "has finished" in sim.sent(late, ApplicationRejected)[0].reason


def test_a_driver_whose_port_refuses_connections_ends_its_application_at_once():
    """The probe finds nothing listening on the driver's port (its process ended): the
    application finishes there and then, its executors stopped; a probe answering for an
    earlier time the driver was away changes nothing."""
    sim = Sim()
    w1 = sim.worker("w1", cores=2)
    driver, app_id = sim.app("crashed", cores_max=1)
    (probe,) = [a for a in sim.apply(ConnectionLost(driver, "its driver disconnected"))
                if isinstance(a, ProbeDriver)]
    assert sim.apply(DriverProbed(app_id, probe.away_since - 1, True)) == []
    sim.apply(DriverProbed(app_id, probe.away_since, True))
    assert sim.state.apps[app_id].state == AppState.FINISHED
    assert [m.app_id for m in sim.sent(w1, ApplicationEnded)] == [app_id]
    assert sim.state.workers["w1"].cores_used == 0


def test_a_driver_port_still_open_as_its_process_dies_is_probed_again_each_tick():
    """A process closes its sockets one by one as it dies: the first probe may still find
    its port open.  The port is probed again at each tick, one probe at a time, and the
    first refusal ends the application, well within the grace."""
    sim = Sim(worker_timeout=15.0)
    sim.worker("w1", cores=1)
    driver, app_id = sim.app("dying")
    (probe,) = [a for a in sim.apply(ConnectionLost(driver, "its driver disconnected"))
                if isinstance(a, ProbeDriver)]
    sim.now += 0.5
    assert not [a for a in sim.apply(Tick()) if isinstance(a, ProbeDriver)]  # one at a time
    sim.apply(DriverProbed(app_id, probe.away_since, False))  # accepted: still dying
    sim.now += 0.5
    (again,) = [a for a in sim.apply(Tick()) if isinstance(a, ProbeDriver)]
    assert again == probe
    sim.apply(DriverProbed(app_id, again.away_since, True))
    assert sim.state.apps[app_id].state == AppState.FINISHED


def test_a_driver_registering_again_on_a_new_connection_has_the_old_one_closed():
    """The master had not noticed the old connection break: the new registration takes
    over, the old session is closed, and its later end changes nothing."""
    sim = Sim()
    sim.worker("w1", cores=1)
    old, app_id = sim.app("cut")
    new, resumed = sim.app("cut", app_id=app_id)
    assert resumed == app_id
    assert Disconnect(old, "replaced by the driver's new connection") in sim.actions
    assert sim.apply(ConnectionLost(old, "its driver disconnected")) == []
    assert sim.state.apps[app_id].state == AppState.RUNNING and \
        sim.state.app_of(new).app_id == app_id


def _tick_every_second(sim, seconds, sessions=(), beating=()):
    """``seconds`` ticks a second apart, the workers ``sessions`` and drivers ``beating``
    sending heartbeats."""
    for _ in range(seconds):
        sim.now += 1.0
        for session in (*sessions, *beating):
            sim.apply(HeartbeatReceived(session))
        sim.apply(Tick())


def test_a_silent_drivers_application_ends_after_the_driver_timeout():
    """A driver whose connection stays open but that sends nothing (stopped, frozen, its
    host cut off) kept its application and its executors for ever; the master tells each
    driver to send a heartbeat every tenth of vega.master.driver_timeout (at most 10 s),
    and ends the application of one silent for that long, disconnecting it; a driver that
    sends heartbeats keeps its application however long it runs."""
    sim = Sim(worker_timeout=3.0, driver_timeout=20.0)
    w1 = sim.worker("w1", cores=2)
    silent, silent_id = sim.app("silent", cores_max=1)
    beating, beating_id = sim.app("beating", cores_max=1)
    registered = sim.sent(silent, RegisteredApplication) + sim.sent(beating, RegisteredApplication)
    assert [m.heartbeat_interval for m in registered] == [2.0, 2.0]
    sim.apply(Tick())
    _tick_every_second(sim, 20, [w1], [beating])
    assert sim.state.apps[silent_id].state == AppState.RUNNING
    _tick_every_second(sim, 1, [w1], [beating])
    assert sim.state.apps[silent_id].state == AppState.FINISHED
    assert Disconnect(silent, "its driver sent nothing for 20s") in sim.actions
    assert sim.sent(w1, ApplicationEnded) == [ApplicationEnded(silent_id)]
    _tick_every_second(sim, 600, [w1], [beating])
    assert sim.state.apps[beating_id].state == AppState.RUNNING
    assert MasterState(driver_timeout=float("inf")).driver_heartbeat_interval == 0.0
    assert MasterState(driver_timeout=600.0).driver_heartbeat_interval == 10.0


def test_a_master_that_did_not_tick_blames_no_driver_for_its_own_pause():
    """A master stopped (SIGSTOP, its host suspended) for longer than the driver timeout
    heard from no driver meanwhile: at its next tick it counts their silence from then."""
    sim = Sim(worker_timeout=3.0, driver_timeout=20.0)
    sim.worker("w1", cores=2)
    _, app_id = sim.app("job")
    sim.apply(Tick())
    _tick_every_second(sim, 5)
    sim.now += 300.0
    sim.apply(Tick())
    assert sim.state.apps[app_id].state == AppState.RUNNING
    _tick_every_second(sim, 21)
    assert sim.state.apps[app_id].state == AppState.FINISHED


def test_workers_delete_the_data_of_applications_that_ended_while_the_master_was_away():
    """A restarted master learns from a registering worker which applications' data it
    holds with no executor running: it has the worker delete at once those it knows
    ended, and the others once they end (here when recovery gives up on their driver, 15
    worker timeouts after the restart); an application it knows nothing of keeps its
    data (its driver may register under its id), to --work-dir-ttl."""
    from vega_runtime import __version__
    from vega_runtime.deploy.master_events import WorkerRegistering
    from vega_runtime.net.messages import RegisterWorker
    from vega_runtime.versions import python_version

    before = Sim(worker_timeout=2.0)
    before.worker("w1", cores=2)
    driver, done = before.app("done", cores_max=1)
    _, running = before.app("running", cores_max=1)
    before.driver_lost(driver, gone=True)
    restarted = Sim(MasterState(worker_timeout=2.0, saved=before.state.snapshot()),
                    now=before.now + 5)
    unknown = "app-20200101000000-0abc"
    w1 = next(restarted.sessions)
    restarted.apply(WorkerRegistering(w1, RegisterWorker(
        "w1", "10.0.0.1", 7000, 2, 1 << 30, [], python_version(), __version__, 1,
        app_data=[done, running, unknown])))
    assert restarted.sent(w1, ApplicationEnded) == [ApplicationEnded(done)]
    _tick_every_second(restarted, 31, [w1])
    assert restarted.sent(w1, ApplicationEnded) == [ApplicationEnded(done)]
    _tick_every_second(restarted, 1, [w1])
    assert restarted.state.recovered[running]["state"] == "finished"
    assert restarted.sent(w1, ApplicationEnded) == [ApplicationEnded(done),
                                                     ApplicationEnded(running)]
    _tick_every_second(restarted, 60, [w1])
    assert len(restarted.sent(w1, ApplicationEnded)) == 2


def test_at_a_restart_the_drivers_of_recovered_applications_are_probed_and_the_gone_end():
    """The restarted master probes the port of each recovered application's driver at its
    first tick: one refused (the driver died while the master was down) ends its application
    at once, and the worker running its executor is told; one that answers stays recovering,
    is probed again each tick, and its driver resumes it (before: both waited 15 worker
    timeouts)."""
    before = Sim(worker_timeout=3.0)
    before.worker("w1", cores=2)
    _, dead = before.app("dead", cores_max=1)
    _, live = before.app("live", cores_max=1)
    saved = before.state.snapshot()
    after = Sim(MasterState(worker_timeout=3.0, saved=saved), now=before.now + 5)
    w1 = after.worker("w1", cores=2, executors=[(dead, "exec-1"), (live, "exec-1")])
    probes = [a for a in after.apply(Tick()) if isinstance(a, ProbeDriver)]
    assert sorted(probes, key=lambda p: p.app_id) == \
        [ProbeDriver(a, "10.0.0.9", 5000, RECOVERED) for a in sorted((dead, live))]
    after.now += 0.5
    out = after.apply(DriverProbed(dead, RECOVERED, True))
    out += after.apply(DriverProbed(live, RECOVERED, False))
    assert out == [Send(w1, ApplicationEnded(dead)), SaveState()]
    assert {a: r["state"] for a, r in after.state.recovered.items()} == \
        {dead: "finished", live: "running"}
    assert after.state.recovered[dead]["ended"] == after.now
    after.now += 0.5
    assert after.apply(Tick()) == [ProbeDriver(live, "10.0.0.9", 5000, RECOVERED)]
    _, resumed = after.app("live", cores_max=1, app_id=live)
    assert resumed == live and after.state.apps[live].executors == {"exec-1": "w1"}
    after.apply(DriverProbed(live, RECOVERED, True))  # (a late answer about before)
    assert after.state.apps[live].state == AppState.RUNNING
    after.now += 1
    assert not [a for a in after.apply(Tick()) if isinstance(a, ProbeDriver)]


def test_a_recovered_application_ends_after_three_unanswered_probes_in_a_row():
    """A recovered driver whose host does not answer (packets dropped, host gone) ends its
    application at the third silent probe in a row; an answer in between starts the count
    again (before: it waited 15 worker timeouts whatever the probes got)."""
    before = Sim(worker_timeout=60.0)
    before.worker("w1", cores=1)
    _, app_id = before.app("cut", cores_max=1)
    after = Sim(MasterState(worker_timeout=60.0, saved=before.state.snapshot()),
                now=before.now + 5)
    w1 = after.worker("w1", cores=1, executors=[(app_id, "exec-1")])
    answers = [True, True, False, True, True]  # silent, silent, accepted, silent, silent
    for silent in answers:
        assert after.apply(Tick()) == [ProbeDriver(app_id, "10.0.0.9", 5000, RECOVERED)]
        after.now += 6
        assert after.apply(DriverProbed(app_id, RECOVERED, False, silent=silent)) == []
    assert after.state.recovered[app_id]["state"] == "running"
    after.apply(Tick())
    out = after.apply(DriverProbed(app_id, RECOVERED, False, silent=True))
    assert out == [Send(w1, ApplicationEnded(app_id)), SaveState()]
    assert after.state.recovered[app_id]["state"] == "finished"


def test_a_recovery_state_of_before_driver_addresses_were_saved_is_waited_for_as_before():
    """An application record without its driver's address (saved by an older master) is
    not probed: it waits for its driver until the recovery ends."""
    before = Sim(worker_timeout=3.0)
    _, app_id = before.app("old")
    saved = before.state.snapshot()
    for key in ("driver_host", "driver_port"):
        del saved["apps"][app_id][key]
    after = Sim(MasterState(worker_timeout=3.0, saved=saved), now=before.now + 5)
    assert after.apply(Tick()) == []
    assert after.state.recovered[app_id]["state"] == "waiting"


def test_what_the_executors_of_a_recovered_application_held_is_granted_once_it_ends():
    """After a restart a worker reports an executor of an application whose driver does not
    come back, holding all its memory, and another application waits. When the
    application ends (its driver's port refuses connections, or the recovery ends), the
    worker is told and the memory goes to the waiting one at once: the worker stops that
    executor without reporting its exit (before, the waiting application got it only
    when the executor's own exit reached the master first, and else waited for ever)."""
    for ending in ("probe", "recovery"):
        before = Sim(worker_timeout=3.0)
        before.worker("w1", cores=2, memory=GIB)
        _, first = before.app("first", cores_max=1)
        after = Sim(MasterState(worker_timeout=3.0, saved=before.state.snapshot()),
                    now=before.now + 5)
        w1 = after.worker("w1", cores=2, memory=GIB, executors=[(first, "exec-1")])
        _, second = after.app("second", cores_max=1)
        assert after.state.apps[second].state == AppState.WAITING and not after.launches()
        if ending == "probe":
            after.apply(Tick())
            out = after.apply(DriverProbed(first, RECOVERED, True))
        else:
            after.state.recovered[first]["driver_port"] = 0  # (not probed: waited for)
            out = []
            while after.state.recovered[first]["state"] != "finished":
                after.now += 1
                after.apply(HeartbeatReceived(w1))
                out = after.apply(Tick())
        assert after.sent(w1, ApplicationEnded, out) == [ApplicationEnded(first)], ending
        assert after.launches(out) == [(w1, second, "exec-1")], ending
        assert after.state.apps[second].state == AppState.RUNNING
        assert list(after.state.workers["w1"].executors) == [(second, "exec-1")]


def test_a_worker_whose_executor_exited_before_its_application_ended_is_told_of_the_end():
    """An executor exits on its own just before its application ends (its driver stopped:
    the executor saw that first) and its exit reaches the master before the driver's end:
    the worker still holds the application's map output, and is told of the end with the
    worker still running an executor, so it deletes that output at once (before, only
    workers with executors were told, and the other kept it for up to a minute)."""
    sim = Sim()
    w1, w2 = sim.worker("w1", cores=1), sim.worker("w2", cores=1)
    driver, app_id = sim.app("done")
    assert sorted(sim.state.apps[app_id].executors.values()) == ["w1", "w2"]
    [on_w1] = [e for e, w in sim.state.apps[app_id].executors.items() if w == "w1"]
    sim.apply(ExecutorsRequested(driver, 0))  # (a stopping driver wants none)
    sim.apply(ExecutorExitReported(w1, app_id, on_w1, "exited with code 0"))
    assert not sim.state.workers["w1"].executors
    sim.driver_lost(driver, gone=True)
    assert sim.state.apps[app_id].state == AppState.FINISHED
    assert sim.sent(w1, ApplicationEnded) == sim.sent(w2, ApplicationEnded) == \
        [ApplicationEnded(app_id)]
