"""The master's decisions, driven with plain events and a fake clock (no sockets, no
threads): registration, allocation within limits, heartbeat expiry over hours of
simulated time, restarts, application lifecycle and forgetting."""

import itertools
import logging
import re

import pytest

from vega_runtime import __version__
from vega_runtime.deploy.master_events import (
    ApplicationRegistering, ApplicationUnregistered, ConnectionLost, Disconnect, DriverProbed,
    ExecutorExitReported, ForgetApplication, HeartbeatReceived, KillRequested, MetricsReported,
    ProbeDriver, SaveState, Send, Tick, WorkerRegistering, WorkerStopped)
from vega_runtime.deploy.master_state import (MAX_EXECUTOR_FAILURES, AppState, MasterState,
                                              WorkerState)
from vega_runtime.net.messages import (ApplicationEnded, ApplicationKilled, ApplicationRejected,
                                       ApplicationWaiting, ExecutorAdded, ExecutorRemoved,
                                       KillExecutor, LaunchExecutor, RegisterApplication,
                                       RegisteredApplication, RegisteredWorker, RegisterWorker,
                                       RegisterWorkerFailed)
from vega_runtime.versions import python_version

GIB = 1 << 30


@pytest.fixture(autouse=True)
def quiet_master_log(caplog):
    """Thousands of lifecycle lines per simulated hour: keep them out of the way."""
    caplog.set_level(logging.ERROR, logger="vega_runtime.deploy.master_state")


class Sim:
    """A MasterState with a fake clock, numbered sessions and every action kept."""

    def __init__(self, state=None, now=1_000_000.0, **kwargs):
        self.state = state or MasterState(**kwargs)
        self.now = now
        self.sessions = itertools.count(1)
        self.actions = []

    def apply(self, event):
        out = self.state.handle(event, self.now)
        self.actions += out
        return out

    def worker(self, worker_id, cores=2, memory=4 * GIB, executors=(), vega=__version__,
               labels=()):
        session = next(self.sessions)
        self.apply(WorkerRegistering(session, RegisterWorker(
            worker_id, "10.0.0.1", 7000, cores, memory, list(labels), python_version(), vega, 1,
            [list(e) for e in executors])))
        return session

    def app(self, name="job", cores_max=0, executor_cores=0, memory=GIB, app_id="",
            package="sha-1", labels=()):
        session = next(self.sessions)
        out = self.apply(ApplicationRegistering(session, RegisterApplication(
            name, "10.0.0.9", 5000, cores_max, executor_cores, memory, python_version(),
            __version__, package, app_id, labels=list(labels))))
        registered = [a.message for a in out if isinstance(a, Send)
                      and isinstance(a.message, RegisteredApplication)]
        return session, (registered[0].app_id if registered else None)

    def driver_lost(self, session, gone=True, reason="its driver disconnected"):
        """The driver's connection ends; the probe of its port finds it ``gone`` (its port
        refuses connections) or not (it answered, or nothing did)."""
        out = self.apply(ConnectionLost(session, reason))
        for probe in [a for a in out if isinstance(a, ProbeDriver)]:
            out += self.apply(DriverProbed(probe.app_id, probe.away_since, gone))
        return out

    def sent(self, session, kind, actions=None):
        return [a.message for a in (self.actions if actions is None else actions)
                if isinstance(a, Send) and a.session == session and isinstance(a.message, kind)]

    def launches(self, actions=None):
        return [(a.session, a.message.app_id, a.message.executor_id)
                for a in (self.actions if actions is None else actions)
                if isinstance(a, Send) and isinstance(a.message, LaunchExecutor)]


def test_workers_register_and_an_application_gets_one_executor_per_core():
    """Two 2-core workers, an app without limits: four executors, spread over both."""
    sim = Sim()
    w1, w2 = sim.worker("w1"), sim.worker("w2")
    assert sim.sent(w1, RegisteredWorker) and sim.sent(w2, RegisteredWorker)
    driver, app_id = sim.app()
    launches = sim.launches()
    assert sorted(s for s, _, _ in launches) == [w1, w1, w2, w2]
    assert [e for _, _, e in launches] == ["exec-1", "exec-2", "exec-3", "exec-4"]
    assert [m.executor_id for m in sim.sent(driver, ExecutorAdded)] == \
        ["exec-1", "exec-2", "exec-3", "exec-4"]
    assert sim.state.apps[app_id].state == AppState.RUNNING
    assert any(isinstance(a, SaveState) for a in sim.actions)


def test_allocation_honours_cores_max_executor_cores_and_memory():
    """cores_max caps the total, executor_cores caps per worker, memory must fit."""
    def cluster(second_memory=4 * GIB):
        sim = Sim()
        sim.worker("w1", cores=4, memory=4 * GIB)
        sim.worker("w2", cores=4, memory=second_memory)
        return sim

    sim = cluster()
    _, capped = sim.app("capped", cores_max=3)
    assert sorted(sim.state.apps[capped].executors.values()) == ["w1", "w1", "w2"]
    sim = cluster()
    _, per_worker = sim.app("per-worker", executor_cores=1)
    assert sorted(sim.state.apps[per_worker].executors.values()) == ["w1", "w2"]
    sim = cluster(second_memory=1 * GIB)
    _, big = sim.app("big", memory=2 * GIB)
    assert sorted(sim.state.apps[big].executors.values()) == ["w1", "w1"]
    assert sim.state.workers["w1"].memory_used == 4 * GIB
    for worker in sim.state.workers.values():
        assert worker.cores_used <= worker.cores and worker.memory_used <= worker.memory
    huge_driver, huge = sim.app("huge", memory=8 * GIB)
    assert sim.state.apps[huge].state == AppState.WAITING
    (waiting,) = sim.sent(huge_driver, ApplicationWaiting)
    assert "8192 MiB" in waiting.message and "largest has 4096 MiB" in waiting.message


def test_an_application_waits_for_workers_and_starts_when_one_registers():
    """No workers: the driver is told why once; a worker registering starts it."""
    sim = Sim()
    driver, app_id = sim.app()
    sim.apply(Tick())
    (waiting,) = sim.sent(driver, ApplicationWaiting)
    assert "no workers are registered" in waiting.message
    worker = sim.worker("w1")
    assert sim.launches() == [(worker, app_id, "exec-1"), (worker, app_id, "exec-2")]
    assert sim.state.apps[app_id].state == AppState.RUNNING


def test_a_silent_worker_expires_after_the_timeout_and_its_executors_move():
    """No heartbeat for worker_timeout: lost, its driver told (worker_lost), executors
    granted on the other worker; a heartbeat just in time keeps a worker alive."""
    sim = Sim(worker_timeout=15.0)
    w1 = sim.worker("w1", cores=1)
    driver, app_id = sim.app(cores_max=1)
    w2 = sim.worker("w2", cores=1)
    assert sim.launches() == [(w1, app_id, "exec-1")]
    sim.now += 10
    sim.apply(HeartbeatReceived(w2))
    sim.now += 5
    assert sim.apply(Tick()) == [], "exactly worker_timeout of silence is not yet too much"
    sim.now += 1
    out = sim.apply(Tick())
    assert sim.state.workers["w1"].state == WorkerState.LOST
    assert sim.state.workers["w2"].state == WorkerState.ALIVE
    assert Disconnect(w1, "worker w1 lost: no heartbeat for 15s") in out
    (removed,) = sim.sent(driver, ExecutorRemoved, out)
    assert removed.executor_id == "exec-1" and removed.worker_lost
    assert (removed.cause, removed.reason) == \
        ("heartbeat", "was lost with its worker w1 (no heartbeat for 15s)")
    assert sim.launches(out) == [(w2, app_id, "exec-2")]


def test_two_hundred_workers_heartbeating_for_six_hours():
    """200 workers, 6 simulated hours: heartbeats keep them alive; 20 that go silent
    for an hour are lost and come back; 10 that stop are dead, then forgotten; an
    application keeps all the cores it may have throughout."""
    timeout, beat, tick = 60.0, 20.0, 20.0
    sim = Sim(worker_timeout=timeout)
    sessions = {f"w{i:03d}": sim.worker(f"w{i:03d}", cores=1) for i in range(200)}
    _, app_id = sim.app("long", cores_max=150)
    start = sim.now
    silent = {f"w{i:03d}" for i in range(0, 200, 10)}
    stopping = {f"w{i:03d}" for i in range(5, 200, 20)}
    steps_per_beat = int(beat // tick)
    for step in range(int(6 * 3600 / tick)):
        sim.now = start + step * tick
        hour = (sim.now - start) / 3600
        if step % steps_per_beat == 0:
            for worker_id, session in sessions.items():
                if worker_id in silent and 1 <= hour < 2:
                    continue
                sim.state.handle(HeartbeatReceived(session), sim.now)
        if step == int(2 * 3600 / tick):  # the silent ones reconnect
            for worker_id in silent:
                sessions[worker_id] = sim.worker(worker_id, cores=1)
        if step == int(3 * 3600 / tick):
            for worker_id in stopping:
                sim.apply(WorkerStopped(sessions.pop(worker_id)))
        sim.state.handle(Tick(), sim.now)
        app = sim.state.apps[app_id]
        assert len(app.executors) == 150, f"at {hour:.2f} h"
        lost = {w for w, info in sim.state.workers.items() if info.state == "lost"}
        if 1 + 2 * timeout / 3600 <= hour < 1 + 15 * timeout / 3600:
            assert lost == silent, f"at {hour:.2f} h"
        elif 1 + (16 * timeout + 2 * tick) / 3600 <= hour < 2:  # forgotten
            assert not silent & set(sim.state.workers), f"at {hour:.2f} h"
        assert all(w.state == "alive" or (w.gone and sim.now - w.gone <= 15 * timeout + tick)
                   for w in sim.state.workers.values())
    states = [w.state for w in sim.state.workers.values()]
    assert len(states) == 190 and set(states) == {WorkerState.ALIVE}
    assert sim.state.counters["executor_losses"] >= 1


def test_a_master_restart_recovers_applications_and_workers_from_its_snapshot():
    """Snapshot, new state: the worker re-registers with its executor, the driver
    resumes its application under its id, executors are matched up and numbering
    goes on; the finished application stays finished."""
    before = Sim()
    before.worker("w1", cores=2)
    done_driver, done = before.app("done", cores_max=1)
    before.apply(ApplicationUnregistered(done_driver))
    driver, app_id = before.app("running", cores_max=1)
    (executor,) = before.state.apps[app_id].executors
    saved = before.state.snapshot()

    after = Sim(MasterState(saved=saved), now=before.now + 30)
    assert set(after.state.recovered) == {done, app_id}
    assert set(after.state.recovered_workers) == {"w1"}
    after.worker("w1", cores=2, executors=[(app_id, executor)])
    assert after.launches() == [], "the executor's application has not come back yet"
    driver, resumed = after.app("running", cores_max=1, app_id=app_id)
    assert resumed == app_id
    app = after.state.apps[app_id]
    assert app.executors == {executor: "w1"} and app.state == AppState.RUNNING
    assert after.launches() == [], "cores_max is met by the recovered executor"
    assert after.state.workers["w1"].memory_used == GIB
    assert app.next_executor == saved["apps"][app_id]["next_executor"]
    assert after.state.recovered == {done: saved["apps"][done]}
    status_states = {a: r["state"] for a, r in after.state.snapshot()["apps"].items()}
    assert status_states == {done: "finished", app_id: "running"}


def test_a_restarted_master_counts_a_resumed_application_from_its_first_report():
    """/metrics sums ``counted_metrics()``: an application registered with this master
    counts all its driver reports; one resumed after a restart counts from its driver's
    first report to the restarted master (its cumulative counts again would be, to
    Prometheus, every earlier task finishing at once), up to when it is forgotten too."""
    before = Sim()
    driver, app_id = before.app("running")
    before.apply(MetricsReported(driver, {"tasks": {"success": 6}, "duration_count": 6,
                                          "duration_buckets": [6] * 10, "jobs_running": 1}))
    assert before.state.apps[app_id].counted_metrics()["tasks"] == {"success": 6}

    after = Sim(MasterState(saved=before.state.snapshot(), finished_app_ttl=60.0),
                now=before.now + 30)
    driver, _ = after.app("running", app_id=app_id)
    app = after.state.apps[app_id]
    assert app.counted_metrics() == {}
    after.apply(MetricsReported(driver, {"tasks": {"success": 7}, "duration_count": 7,
                                         "duration_buckets": [7] * 10, "jobs_running": 1}))
    assert app.counted_metrics() == {"tasks": {"success": 0}, "duration_count": 0,
                                     "duration_buckets": [0] * 10, "jobs_running": 1}
    after.apply(MetricsReported(driver, {"tasks": {"success": 9, "failed": 1},
                                         "duration_count": 9, "duration_buckets": [9] * 10,
                                         "jobs_running": 0}))
    assert app.counted_metrics() == {"tasks": {"success": 2, "failed": 1}, "duration_count": 2,
                                     "duration_buckets": [2] * 10, "jobs_running": 0}
    after.apply(ApplicationUnregistered(driver))
    after.now += 61
    after.apply(Tick())  # finished_app_ttl: the resumed application is forgotten
    assert app_id not in after.state.apps
    assert after.state.forgotten_metrics["tasks"] == {"success": 2, "failed": 1}


def test_after_a_restart_peers_that_never_come_back_are_given_up_on():
    """15 worker timeouts after the restart: workers that did not re-register leave the
    status, applications whose driver did not return are finished (and later forgotten
    by the TTL); a driver that returns even later still resumes."""
    before = Sim(worker_timeout=10.0)
    before.worker("w1")
    _, gone = before.app("gone", cores_max=1)
    _, late = before.app("late", cores_max=1)
    saved = before.state.snapshot()
    after = Sim(MasterState(worker_timeout=10.0, finished_app_ttl=3600.0, saved=saved),
                now=before.now + 60)
    after.apply(Tick())
    after.now += 150
    assert after.apply(Tick()) == []
    after.now += 1
    assert after.apply(Tick()) == [SaveState()]
    assert after.state.recovered_workers == {}
    assert {a: r["state"] for a, r in after.state.recovered.items()} == \
        {gone: "finished", late: "finished"}
    after.worker("w2")
    _, resumed = after.app("late", cores_max=1, app_id=late)
    assert resumed == late and after.state.apps[late].state == AppState.RUNNING
    after.now += 3601
    out = after.apply(Tick())
    assert [a.app_id for a in out if isinstance(a, ForgetApplication)] == [gone]


def test_workers_dead_or_lost_before_a_restart_leave_the_status_when_they_would_have():
    """Workers that had stopped or were lost before the master restarted are shown for
    vega.master.dead_worker_persistence worker timeouts from when they went, as without the
    restart; only one alive at the restart is waited for until the recovery ends. Before,
    all of them stayed 15 worker timeouts after the restart (225 s with the defaults),
    however long ago they had gone."""
    start = 1_000_000.0
    before = Sim(worker_timeout=10.0, now=start)
    sessions = {w: before.worker(w) for w in ("old-dead", "new-dead", "lost", "alive")}
    before.apply(WorkerStopped(sessions["old-dead"]))
    before.now = start + 100
    before.apply(WorkerStopped(sessions["new-dead"]))
    before.now = start + 120
    before.apply(ConnectionLost(sessions["lost"], "closed"))
    before.now = start + 140
    saved = before.state.snapshot()
    assert (saved["workers"]["old-dead"]["gone"], saved["workers"]["alive"]["gone"]) == \
        (start, None)
    after = Sim(MasterState(worker_timeout=10.0, saved=saved), now=start + 155)
    shown = []
    for now in (155, 251, 271, 306):
        after.now = start + now
        after.apply(Tick())
        shown.append(sorted(after.state.recovered_workers))
    assert shown == [["alive", "lost", "new-dead"], ["alive", "lost"], ["alive"], []]


def test_a_reconnecting_worker_replaces_its_old_session_and_keeps_its_running_executors():
    """Same worker id on a new connection: the old one is closed and its late
    'connection lost' ignored; executors it still runs stay, others are removed."""
    sim = Sim()
    old = sim.worker("w1", cores=2)
    driver, app_id = sim.app()
    assert sorted(sim.state.apps[app_id].executors) == ["exec-1", "exec-2"]
    new = sim.worker("w1", cores=2, executors=[(app_id, "exec-1")])
    assert Disconnect(old, "replaced by a new connection") in sim.actions
    assert [m.executor_id for m in sim.sent(driver, ExecutorRemoved)] == ["exec-2"]
    assert sim.apply(ConnectionLost(old, "closed")) == []
    assert sim.state.workers["w1"].state == WorkerState.ALIVE
    assert sim.state.workers["w1"].session == new
    assert sorted(sim.state.apps[app_id].executors) == ["exec-1", "exec-3"]


def test_a_worker_reporting_executors_of_an_ended_application_is_told_to_stop_them():
    """Re-registering with an executor of a finished application: ApplicationEnded, and
    the executor takes no core."""
    sim = Sim()
    sim.worker("w1", cores=1)
    driver, app_id = sim.app()
    sim.apply(ApplicationUnregistered(driver))
    session = sim.worker("w1", cores=1, executors=[(app_id, "exec-1")])
    assert [m.app_id for m in sim.sent(session, ApplicationEnded)] == [app_id]
    assert sim.state.workers["w1"].cores_used == 0


def test_a_lost_worker_connection_affects_only_that_worker():
    """A send to a worker failing (connection lost) marks that worker lost; the
    application goes on with executors elsewhere, not 'finished'."""
    sim = Sim()
    w1, w2 = sim.worker("w1", cores=1), sim.worker("w2", cores=1)
    driver, app_id = sim.app()
    out = sim.apply(ConnectionLost(w1, "sending to it failed: broken pipe"))
    assert sim.state.workers["w1"].state == WorkerState.LOST
    assert sim.state.apps[app_id].state == AppState.RUNNING
    assert not sim.sent(w2, ApplicationEnded, out)


def test_a_worker_of_another_version_is_refused():
    """RegisterWorkerFailed naming the versions, then the connection is closed."""
    sim = Sim()
    session = sim.worker("w1", vega="0.0.1")
    (refusal,) = sim.sent(session, RegisterWorkerFailed)
    assert refusal.reason == (f"this master runs Vega {__version__} but this worker runs Vega "
                              "0.0.1: install the same versions everywhere")
    assert isinstance(sim.actions[-1], Disconnect) and "w1" not in sim.state.workers


def test_an_application_gets_the_id_its_context_proposes_unless_the_master_knows_it():
    """A driver's Context proposes the id it goes by (its applicationId and event log's
    name); the master takes it, and numbers an application whose proposal it knows."""
    sim = Sim()
    proposed = "app-20261205093000-1a2b"
    ids = []
    for _ in range(2):
        session = next(sim.sessions)
        out = sim.apply(ApplicationRegistering(session, RegisterApplication(
            "job", "10.0.0.9", 5000, 0, 0, GIB, python_version(), __version__,
            proposed_id=proposed)))
        ids += [m.app_id for m in sim.sent(session, RegisteredApplication, out)]
    assert ids[0] == proposed and re.fullmatch(r"app-\d{14}-0001", ids[1]), ids
    assert sim.state.apps[proposed].request.name == "job"


def test_a_restarted_master_never_numbers_an_application_with_an_id_it_recovered():
    """A master restarted within the second (or with its clock set back) numbered the
    application whose proposed id it knew from 0001 again, so it gave out the id of an
    application it had recovered: two applications went by one id in its state, status and
    logs.  The numbering now skips every id the master knows."""
    def register(sim):
        session = next(sim.sessions)
        out = sim.apply(ApplicationRegistering(session, RegisterApplication(
            "job", "10.0.0.9", 5000, 0, 0, GIB, python_version(), __version__,
            proposed_id="app-20261205093000-1a2b")))
        return [m.app_id for m in sim.sent(session, RegisteredApplication, out)][0]

    before = Sim()
    first = [register(before), register(before)]
    restarted = Sim(MasterState(saved={"apps": before.state.snapshot()["apps"]}))
    again = register(restarted)
    assert again not in first and re.fullmatch(r"app-\d{14}-0002", again), (first, again)
    assert len(restarted.state.apps) + len(restarted.state.recovered) == 3


def test_an_executor_reported_after_a_restart_beyond_its_applications_cap_is_killed():
    """After a master restart an application capped at 1 core (--total-executor-cores 1)
    resumed before the worker running its executor came back, and was granted a new one on
    another worker; that worker's report then added the old one: 2 cores of a 1-core cap
    for the rest of its life (seen with a real master SIGKILLed under a shared cluster).
    An executor reported beyond the cap is now killed, and not counted as a failure."""
    before = Sim()
    before.worker("w1")
    session, app_id = before.app(cores_max=1)
    [(_, _, old)] = before.launches()
    restarted = Sim(MasterState(saved=before.state.snapshot()))
    w2 = restarted.worker("w2")
    resumed = next(restarted.sessions)
    restarted.apply(ApplicationRegistering(resumed, RegisterApplication(
        "job", "10.0.0.9", 5000, 1, 0, GIB, python_version(), __version__, "sha-1", app_id)))
    assert [(s, a) for s, a, _ in restarted.launches()] == [(w2, app_id)]
    out = restarted.worker("w1", executors=[(app_id, old)])
    w1 = restarted.state.workers["w1"].session
    assert [(m.app_id, m.executor_id) for m in restarted.sent(w1, KillExecutor)] == \
        [(app_id, old)]
    app = restarted.state.apps[app_id]
    assert len(app.executors) == 1 and old not in app.executors
    restarted.apply(ExecutorExitReported(w1, app_id, old, "killed by the master"))
    assert restarted.state.workers["w1"].cores_used == 0 and app.failures.total == 0
    assert restarted.launches()[1:] == []  # nothing more for it: it is at its cap


def test_application_lifecycle_unregister_kill_and_driver_loss():
    """Unregistered: finished, workers told; killed: the driver told; driver gone:
    finished; a finished application cannot be resumed."""
    sim = Sim()
    w1 = sim.worker("w1", cores=8)
    d1, a1 = sim.app("one", cores_max=1)
    d2, a2 = sim.app("two", cores_max=1)
    d3, a3 = sim.app("three", cores_max=1)
    sim.apply(ApplicationUnregistered(d1))
    sim.apply(KillRequested(a2, "killed with vega kill"))
    sim.driver_lost(d3)
    assert [sim.state.apps[a].state for a in (a1, a2, a3)] == \
        [AppState.FINISHED, AppState.KILLED, AppState.FINISHED]
    assert [m.app_id for m in sim.sent(w1, ApplicationEnded)] == [a1, a2, a3]
    assert sim.sent(d2, ApplicationKilled)[0].reason == "killed with vega kill"
    assert sim.state.workers["w1"].cores_used == 0
    session, resumed = sim.app("one", app_id=a1)
    assert resumed is None
    assert "has finished" in sim.sent(session, ApplicationRejected)[0].reason
    assert sim.apply(KillRequested(a1, "again")) == []


def test_an_application_whose_executors_keep_exiting_fails():
    """Every exit is counted; at the limit the application fails and its driver is cut."""
    sim = Sim()
    w1 = sim.worker("w1", cores=1)
    driver, app_id = sim.app()
    for _ in range(MAX_EXECUTOR_FAILURES):
        (executor,) = sim.state.apps[app_id].executors
        out = sim.apply(ExecutorExitReported(w1, app_id, executor, "exited with code 1"))
    assert sim.state.apps[app_id].state == AppState.FAILED
    assert any(isinstance(a, Disconnect) and a.session == driver for a in out)
    assert len(sim.sent(driver, ExecutorRemoved)) == MAX_EXECUTOR_FAILURES
    assert sim.state.workers["w1"].cores_used == 0


def test_an_application_running_for_months_with_an_exit_now_and_then_goes_on():
    """An executor exit every two days for a month (a host rebooted, an OOM): each is
    relaunched on the worker. Exits counted over the application's life excluded the
    worker at the limit and then failed the application; only the last hour's count (as
    Spark resets its count once an executor runs). A crash loop still fails it at once."""
    sim = Sim(max_executor_failures=3, worker_timeout=365 * 24 * 3600.0)  # (no heartbeats)
    w1 = sim.worker("w1", cores=1)
    driver, app_id = sim.app()
    for _ in range(15):
        sim.now += 2 * 24 * 3600
        sim.apply(Tick())
        (executor,) = sim.state.apps[app_id].executors
        out = sim.apply(ExecutorExitReported(w1, app_id, executor, "exited with code 1"))
        assert len(sim.launches(out)) == 1 and not any(isinstance(a, Disconnect) for a in out)
    assert sim.state.apps[app_id].state == AppState.RUNNING
    for _ in range(3):
        sim.now += 1
        (executor,) = sim.state.apps[app_id].executors or ("none",)
        sim.apply(ExecutorExitReported(w1, app_id, executor, "exited with code 1"))
    assert sim.state.apps[app_id].state == AppState.FAILED


def test_finished_applications_are_forgotten_after_their_ttl():
    """Records, logs and the package go one TTL after the end; a package another
    application still uses is kept; applications recovered from a restart too."""
    ttl = 24 * 3600.0
    sim = Sim(finished_app_ttl=ttl, worker_timeout=10 * ttl)
    sim.worker("w1", cores=4)
    d1, a1 = sim.app("one", package="sha-shared")
    d2, a2 = sim.app("two", package="sha-shared")
    d3, a3 = sim.app("three", package="sha-own")
    sim.apply(ApplicationUnregistered(d1))
    sim.apply(ApplicationUnregistered(d3))
    sim.now += ttl
    assert sim.apply(Tick()) == []
    sim.now += 1
    out = sim.apply(Tick())
    forgotten = sorted((a.app_id, a.package_sha) for a in out if isinstance(a, ForgetApplication))
    assert forgotten == sorted([(a1, ""), (a3, "sha-own")])
    assert set(sim.state.apps) == {a2} and SaveState() in out

    sim.apply(ApplicationUnregistered(d2))
    restarted = Sim(MasterState(finished_app_ttl=ttl, saved=sim.state.snapshot()), now=sim.now)
    assert restarted.apply(Tick()) == []
    assert set(restarted.state.recovered) == {a2}
    restarted.now += ttl + 1
    out = restarted.apply(Tick())
    assert [(a.app_id, a.package_sha) for a in out if isinstance(a, ForgetApplication)] == \
        [(a2, "sha-shared")]
    assert restarted.state.snapshot()["apps"] == {}


def test_times_moved_by_a_clock_step_change_no_decision():
    """A step of the wall clock a day forward, followed (``shift_times``): the worker still
    expires one timeout after its last heartbeat, the finished application goes one TTL
    after its end, and the times saved are the new clock's."""
    day, ttl = 24 * 3600.0, 3600.0
    sim = Sim(finished_app_ttl=ttl, worker_timeout=15.0)
    worker = sim.worker("w1")
    driver, app_id = sim.app()
    sim.apply(ApplicationUnregistered(driver))
    ended = sim.now
    sim.now += 10
    assert sim.state.shift_times(day) == [SaveState()]
    sim.now += day
    assert sim.state.snapshot()["apps"][app_id]["ended"] == ended + day
    sim.now += 4.9
    assert not [a for a in sim.apply(Tick()) if isinstance(a, Disconnect)]
    sim.now += 0.2
    assert Disconnect(worker, "worker w1 lost: no heartbeat for 15s") in sim.apply(Tick())
    sim.now = ended + day + ttl
    assert not [a for a in sim.apply(Tick()) if isinstance(a, ForgetApplication)]
    sim.now += 1
    assert ForgetApplication(app_id, "sha-1", ended + day) in sim.apply(Tick())


def test_a_thousand_applications_come_and_go_over_a_simulated_day():
    """Every 90 s an application starts, takes its executors, and ends 10 minutes
    later; no core is leaked, and only the last 12 h of finished ones are kept."""
    sim = Sim(finished_app_ttl=12 * 3600.0, retained_applications=1000)
    workers = {f"w{i}": sim.worker(f"w{i}", cores=4) for i in range(10)}
    running = []
    for n in range(960):
        sim.now += 90
        for session in workers.values():
            sim.state.handle(HeartbeatReceived(session), sim.now)
        running.append((sim.now, *sim.app(f"job-{n}", cores_max=4)))
        while running and sim.now - running[0][0] >= 600:
            sim.apply(ApplicationUnregistered(running.pop(0)[1]))
        sim.apply(Tick())
    in_use = sum(w.cores_used for w in sim.state.workers.values())
    assert in_use == sum(len(sim.state.apps[a].executors) for _, _, a in running)
    assert in_use == 4 * len(running)
    finished = [a for a in sim.state.apps.values() if a.state == AppState.FINISHED]
    assert len(finished) == pytest.approx(12 * 3600 / 90, abs=8)


def test_only_the_latest_finished_applications_are_kept():
    """Beyond vega.master.retained_applications finished applications the oldest go at the
    next tick, well before their TTL (Spark's spark.deploy.retainedApplications), those
    recovered from a restart counted with the others; running ones are never counted."""
    sim = Sim(retained_applications=3)
    sim.worker("w1", cores=4)
    apps = [sim.app(f"job-{n}", package=f"sha-{n}") for n in range(5)]
    for driver, _ in apps[:4]:
        sim.now += 60
        sim.apply(ApplicationUnregistered(driver))
    out = sim.apply(Tick())
    assert [(a.app_id, a.package_sha) for a in out if isinstance(a, ForgetApplication)] == \
        [(apps[0][1], "sha-0")]
    assert sorted(sim.state.apps) == sorted(a for _, a in apps[1:])
    assert [a for a in sim.apply(Tick()) if isinstance(a, ForgetApplication)] == []

    restarted = Sim(MasterState(retained_applications=2, saved=sim.state.snapshot()),
                    now=sim.now)
    out = restarted.apply(Tick())
    assert [a.app_id for a in out if isinstance(a, ForgetApplication)] == [apps[1][1]]
    assert sorted(restarted.state.recovered) == sorted(a for _, a in apps[2:])


def test_forgotten_applications_leave_nothing_behind():
    """A master up for months serves applications without end: once forgotten, one that
    finished, was killed, lost its driver or had its executors fail leaves no entry in any
    of the state's structures (a soak of 889 applications on a real master grew its RSS
    with the history it lists, not with these), and the sums /metrics exports keep
    their keys."""
    sim = Sim(retained_applications=2, max_executor_failures=1)
    w1 = sim.worker("w1", cores=2)

    def sizes():
        s = sim.state
        return (len(s.apps), len(s._active), len(s.sessions), len(s.recovered),
                len(s.workers["w1"].executors), sorted(s.counters),
                sorted(s.forgotten_metrics), len(s._fair_shares))

    def serve(n):
        driver, app_id = sim.app(f"job-{n}", package=f"sha-{n}")
        sim.apply(MetricsReported(driver, {"tasks": {"success": n}, "jobs_running": 1}))
        ending = n % 4
        if ending == 0:
            sim.apply(ApplicationUnregistered(driver))
        elif ending == 1:
            sim.apply(KillRequested(app_id, "killed with vega kill"))
        elif ending == 2:
            sim.apply(ExecutorExitReported(w1, app_id, "exec-1", "exited with code 1"))
            sim.apply(ExecutorExitReported(w1, app_id, "exec-2", "exited with code 1"))
        sim.driver_lost(driver)
        sim.now += 1
        sim.apply(HeartbeatReceived(w1))
        sim.apply(Tick())

    for n in range(8):
        serve(n)
    before = sizes()
    for n in range(8, 408):
        serve(n)
    assert sizes() == before
    assert sim.state.forgotten_metrics["tasks"]["success"] == sum(range(406))
