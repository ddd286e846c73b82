"""Dynamic allocation and speculation decisions, driven with plain calls and a fake clock:
the driver's request ramp-up and idle releases, the master's requested-total cap and
kills through workers, straggler detection, and the DAG keeping the first attempt to
finish (accumulators counted once)."""

import math

import pytest

from vega_runtime import Context
from vega_runtime.deploy.master_events import (ApplicationRegistering, ExecutorsReleased,
                                               ExecutorsRequested, Send)
from vega_runtime.deploy.master_state import AppState
from vega_runtime.errors import TaskFailed
from vega_runtime.net.messages import (ApplicationWaiting, KillExecutor, LaunchExecutor,
                                       RegisterApplication)
from vega_runtime.scheduler.allocation import (AllocationSettings, ExecutorAllocationManager,
                                               ExecutorView)
from vega_runtime.scheduler.dag import (DAGScheduler, JobSucceeded, KillTasks, LaunchTasks,
                                        MergeAccumulators, StageCompleted)
from vega_runtime.scheduler.map_output import MapOutputTracker
from vega_runtime.scheduler.speculation import SpeculationPolicy, SpeculationTracker
from vega_runtime.versions import python_version
from vega_runtime import __version__

from test_master_state import GIB, Sim


def idle(executor_id, since, cached=False):
    return ExecutorView(executor_id, False, since, cached)


def busy(executor_id):
    return ExecutorView(executor_id, True, 0.0)


# -- the driver's requests ---------------------------------------------------------------

def test_requests_ramp_up_by_doubling_while_the_backlog_lasts_up_to_max():
    """1 after the backlog timeout, then 2, 4 more each interval, capped by max_executors."""
    manager = ExecutorAllocationManager(AllocationSettings(max_executors=10,
                                                           backlog_timeout=1.0), now=0.0)
    totals = []
    for tick in range(0, 60):  # every 0.1 s for 6 s, 40 tasks waiting
        decision = manager.update(tick / 10, pending=40, running=0, executors=[])
        if decision.requested_total is not None:
            totals.append((tick / 10, decision.requested_total))
    assert totals == [(1.0, 1), (2.0, 3), (3.0, 7), (4.0, 10)]


def test_requests_never_exceed_what_the_waiting_and_running_tasks_can_use():
    manager = ExecutorAllocationManager(AllocationSettings(backlog_timeout=0.5), now=0.0)
    for now in (0.0, 0.5, 1.0, 1.5, 2.0):
        manager.update(now, pending=2, running=1, executors=[])
    assert manager.target == 3


def test_request_drops_at_once_when_fewer_tasks_remain_but_not_below_min():
    manager = ExecutorAllocationManager(AllocationSettings(min_executors=1, backlog_timeout=1.0),
                                        now=0.0)
    for now in (0.0, 1.0, 2.0):
        manager.update(now, pending=8, running=0, executors=[])
    assert manager.target == 4  # min 1, then +1, +2
    assert manager.update(2.1, pending=0, running=2, executors=[]).requested_total == 2
    assert manager.update(2.2, pending=0, running=0, executors=[]).requested_total == 1


def test_the_backlog_timer_restarts_after_the_queue_empties():
    manager = ExecutorAllocationManager(AllocationSettings(backlog_timeout=1.0), now=0.0)
    manager.update(0.0, pending=1, running=0, executors=[])
    manager.update(0.9, pending=0, running=1, executors=[])  # it found an executor
    assert manager.update(1.5, pending=1, running=1, executors=[]).requested_total is None
    assert manager.update(2.5, pending=1, running=1, executors=[]).requested_total == 1


def test_initial_executors_are_asked_for_before_any_task():
    manager = ExecutorAllocationManager(AllocationSettings(initial_executors=2, min_executors=1),
                                        now=0.0)
    assert manager.target == 2
    assert manager.update(5.0, pending=0, running=0, executors=[]).requested_total is None
    # once work came and went, it falls back to min_executors
    manager.update(6.0, pending=0, running=1, executors=[])
    assert manager.target == 1


def test_max_below_min_is_refused():
    with pytest.raises(ValueError, match="max_executors"):
        ExecutorAllocationManager(AllocationSettings(min_executors=3, max_executors=2), now=0.0)


def test_bad_settings_are_refused_with_the_key_and_where_it_came_from():
    """A Context with impossible dynamic allocation or speculation settings fails at once,
    naming the setting."""
    from vega_runtime.config import Config
    from vega_runtime.errors import ConfigError

    conf = Config.load(overrides={"vega.dynamic_allocation.enabled": True,
                                  "vega.dynamic_allocation.min_executors": 3,
                                  "vega.dynamic_allocation.max_executors": 2})
    with pytest.raises(ConfigError) as info:
        AllocationSettings.from_conf(conf)
    assert str(info.value) == ("job: vega.dynamic_allocation.max_executors (2) is below "
                               "min_executors (3): raise it, or set it to 0 for no limit")
    conf = Config.load(overrides={"vega.speculation": "true", "vega.speculation.quantile": 1.5})
    with pytest.raises(ConfigError, match="vega.speculation.quantile is 1.5: it must be a "
                                          r"fraction in \(0, 1\]"):
        SpeculationPolicy.from_conf(conf)
    assert SpeculationPolicy.from_conf(Config.load()) is None
    assert AllocationSettings.from_conf(Config.load()) is None


# -- the driver's releases ---------------------------------------------------------------

def test_executors_idle_past_the_timeout_are_released_down_to_min():
    manager = ExecutorAllocationManager(AllocationSettings(min_executors=1, idle_timeout=60.0),
                                        now=0.0)
    executors = [idle("exec-1", 10.0), idle("exec-2", 20.0), idle("exec-3", 30.0), busy("exec-4")]
    manager.update(1.0, pending=0, running=1, executors=executors)  # work seen: not initializing
    assert manager.update(69.0, 0, 1, executors).release == []
    first = manager.update(80.5, 0, 1, executors).release
    assert [e for e, _ in first] == ["exec-1", "exec-2"]
    assert "idle for 70.5s" in first[0][1]
    # exec-3 idles past the timeout too, but exec-4 (busy) and one more must stay... only min=1
    later = manager.update(95.0, 0, 1, executors).release
    assert [e for e, _ in later] == ["exec-3"]
    assert manager.releasing == {"exec-1", "exec-2", "exec-3"}
    # once gone, they are forgotten
    manager.update(96.0, 0, 1, [busy("exec-4")])
    assert manager.releasing == set()


def test_no_executor_is_released_below_the_requested_total():
    manager = ExecutorAllocationManager(AllocationSettings(backlog_timeout=1.0, idle_timeout=5.0),
                                        now=0.0)
    for now in (0.0, 1.0, 2.0):
        manager.update(now, pending=2, running=1, executors=[])
    assert manager.target == 3
    executors = [idle("exec-1", 0.0), busy("exec-2"), busy("exec-3")]
    assert manager.update(10.0, pending=0, running=3, executors=executors).release == []


def test_executors_with_cached_blocks_are_kept_until_their_own_timeout():
    manager = ExecutorAllocationManager(AllocationSettings(idle_timeout=1.0), now=0.0)
    executors = [idle("exec-1", 0.0, cached=True), idle("exec-2", 0.0)]
    manager.update(0.0, pending=0, running=1, executors=[])
    assert [e for e, _ in manager.update(1_000_000.0, 0, 0, executors).release] == ["exec-2"]
    assert math.isinf(manager.settings.cached_idle_timeout)

    timed = ExecutorAllocationManager(AllocationSettings(idle_timeout=1.0, cached_idle_timeout=30.0),
                                      now=0.0)
    timed.update(0.0, pending=0, running=1, executors=[])
    assert [e for e, _ in timed.update(29.0, 0, 0, executors).release] == ["exec-2"]
    released = timed.update(31.0, 0, 0, executors).release
    assert released == [("exec-1", "released by dynamic allocation: holding cached blocks, "
                                    "idle for 31.0s")]


# -- the master's cap ----------------------------------------------------------------------

def register(sim, requested):
    session = next(sim.sessions)
    out = sim.apply(ApplicationRegistering(session, RegisterApplication(
                        "dyn", "10.0.0.9", 5000, 0, 0, GIB, python_version(), __version__,
                        "sha-1", requested_executors=requested)))
    app_id = [a.message.app_id for a in out if isinstance(a, Send)
              and type(a.message).__name__ == "RegisteredApplication"][0]
    return session, app_id


def launched(actions):
    return [a.message.executor_id for a in actions
            if isinstance(a, Send) and isinstance(a.message, LaunchExecutor)]


def test_the_master_launches_no_more_than_the_requested_total():
    sim = Sim()
    sim.worker("w1", cores=4)
    sim.worker("w2", cores=4)
    session, app_id = register(sim, requested=0)
    app = sim.state.apps[app_id]
    assert app.executors == {} and app.requested_total == 0
    assert app.state == AppState.RUNNING  # running, wanting no executor for now
    assert not [a for a in sim.actions if isinstance(a, Send)
                and isinstance(a.message, ApplicationWaiting)]  # it wants none: not waiting
    assert launched(sim.apply(ExecutorsRequested(session, 3))) == ["exec-1", "exec-2", "exec-3"]
    assert launched(sim.apply(ExecutorsRequested(session, 3))) == []
    assert len(launched(sim.apply(ExecutorsRequested(session, 20)))) == 5  # all 8 cores
    assert sim.state.apps[app_id].requested_total == 20


def test_released_executors_are_killed_through_their_workers_and_not_replaced():
    sim = Sim()
    w1 = sim.worker("w1", cores=2)
    w2 = sim.worker("w2", cores=2)
    session, app_id = register(sim, requested=4)
    app = sim.state.apps[app_id]
    where = dict(app.executors)
    sim.apply(ExecutorsRequested(session, 1))
    out = sim.apply(ExecutorsReleased(session, ["exec-1", "exec-2", "exec-3"], "idle for 60s"))
    kills = [(a.session, a.message.executor_id) for a in out
             if isinstance(a, Send) and isinstance(a.message, KillExecutor)]
    sessions = {"w1": w1, "w2": w2}
    assert kills == [(sessions[where[e]], e) for e in ("exec-1", "exec-2", "exec-3")]
    assert launched(out) == []
    assert list(app.executors) == ["exec-4"]
    assert sum(w.cores_used for w in sim.state.workers.values()) == 1
    assert sim.state.counters["executor_losses"] == 0  # released, not lost
    assert app.failures.total == 0
    # unknown or already released ids are ignored
    assert sim.apply(ExecutorsReleased(session, ["exec-1", "exec-99"], "idle")) == []


def test_a_static_application_is_not_capped():
    sim = Sim()
    sim.worker("w1", cores=3)
    _, app_id = register(sim, requested=-1)
    assert sim.state.apps[app_id].requested_total is None
    assert len(sim.state.apps[app_id].executors) == 3


# -- speculation ---------------------------------------------------------------------------

def policy(**kwargs):
    return SpeculationPolicy(**{"multiplier": 1.5, "quantile": 0.75, "min_runtime": 1.0,
                                **kwargs})


def start_all(tracker, n, now=0.0, stage=(0, 0)):
    for task_id in range(n):
        tracker.task_started(task_id, stage, task_id, n, now)


def test_no_speculation_before_the_quantile_of_tasks_finished():
    tracker = SpeculationTracker(policy())
    start_all(tracker, 8)
    for task_id in range(5):  # 5 < floor(0.75 * 8) = 6
        tracker.task_succeeded(task_id, 1.0)
    assert tracker.speculatable(100.0) == []
    tracker.task_succeeded(5, 1.0)
    assert tracker.speculatable(100.0) == [((0, 0), 6), ((0, 0), 7)]
    assert tracker.speculatable(200.0) == []  # each once


def test_the_threshold_is_the_multiplier_times_the_median_but_at_least_min_runtime():
    tracker = SpeculationTracker(policy())
    start_all(tracker, 4)
    for task_id, seconds in ((0, 0.1), (1, 0.2), (2, 0.3)):
        tracker.task_succeeded(task_id, seconds)
    assert tracker.threshold((0, 0)) == 1.0  # 1.5 x 0.2 s is below min_runtime
    assert tracker.speculatable(1.0) == []
    assert tracker.speculatable(1.01) == [((0, 0), 3)]

    slow = SpeculationTracker(policy(multiplier=2.0, min_runtime=0.0))
    start_all(slow, 4)
    for task_id, seconds in ((0, 4.0), (1, 6.0), (2, 10.0)):
        slow.task_succeeded(task_id, seconds)
    assert slow.threshold((0, 0)) == 12.0
    assert slow.speculatable(12.0) == [] and slow.speculatable(12.5) == [((0, 0), 3)]


def test_a_partition_with_a_copy_running_or_done_is_not_speculated_again():
    tracker = SpeculationTracker(policy(quantile=0.5))
    start_all(tracker, 4)
    tracker.task_succeeded(0, 1.0)
    tracker.task_succeeded(1, 1.0)
    tracker.task_started(10, (0, 0), 3, 4, 1.0)  # partition 3 already has two attempts
    assert tracker.speculatable(10.0) == [((0, 0), 2)]
    tracker.task_ended(10)
    tracker.task_succeeded(3, 10.5)
    assert tracker.speculatable(20.0) == []
    tracker.stage_ended(0)
    assert tracker.running_attempts() == 0 and tracker.speculatable(30.0) == []


@pytest.fixture(scope="module")
def ctx():
    with Context(master="local", app_name="speculation-tests") as context:
        yield context


def launches(actions):
    return [t for a in actions if isinstance(a, LaunchTasks) for t in a.tasks]


def test_the_first_attempt_to_finish_wins_and_the_other_is_killed(ctx):
    """A copy's success kills the original; the original's late result and accumulators
    are ignored."""
    dag = DAGScheduler(MapOutputTracker())
    tasks = launches(dag.submit_job(0, ctx.parallelize(range(4), 2), list, [0, 1]))
    dag.task_succeeded(tasks[0], ["a"], {1: 1})
    copy_actions = dag.speculate(tasks[1].stage_id, tasks[1].stage_attempt, 1,
                                 frozenset({"exec-2"}))
    [copy] = launches(copy_actions)
    assert copy.speculative and copy.partition == 1 and "exec-2" in copy.excluded
    assert copy.attempt == tasks[1].attempt + 1
    assert dag.speculate(tasks[1].stage_id, tasks[1].stage_attempt, 1) == []  # one copy only
    won = dag.task_succeeded(copy, ["b"], {1: 10})
    assert [type(a) for a in won] == [KillTasks, MergeAccumulators, StageCompleted, JobSucceeded]
    assert won[0].task_ids == [tasks[1].task_id] and won[0].reason
    assert won[1].updates == {1: 10}
    assert won[3].results == [["a"], ["b"]]
    assert dag.task_succeeded(tasks[1], ["late"], {1: 100}) == []


def test_a_failed_attempt_is_not_retried_while_its_copy_runs(ctx):
    dag = DAGScheduler(MapOutputTracker())
    [task] = launches(dag.submit_job(0, ctx.parallelize(range(2), 1), list, [0]))
    [copy] = launches(dag.speculate(task.stage_id, task.stage_attempt, 0, frozenset({"exec-1"})))
    error = TaskFailed(task.stage_id, 0, 1, "localhost", "exec-1", "ValueError", "boom", "")
    assert dag.task_failed(task, error) == []
    done = dag.task_succeeded(copy, [0, 1])
    assert isinstance(done[-1], JobSucceeded) and done[-1].results == [[0, 1]]


# -- vega status ---------------------------------------------------------------------------

def test_vega_status_shows_each_applications_executors_and_its_request():
    from rich.console import Console

    from vega_cli.status import render

    def app(app_id, executors, requested):
        return {"id": app_id, "name": "job", "state": "running", "cores": executors,
                "executors": executors, "requested_executors": requested, "driver": "",
                "started": 0.0, "duration_seconds": 1.0, "waiting_reason": ""}

    console = Console(record=True, width=200)
    render({"master": {"url": "vega://m:7077", "version": __version__, "uptime_seconds": 5.0},
            "workers": [], "drivers": [],
            "applications": [app("app-1", 3, None), app("app-2", 2, 5), app("app-3", 4, 4)]},
           console)
    rows = {}
    for line in console.export_text().splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0].startswith("app-"):
            rows[cells[0]] = cells[3:5]  # cores, executors
    assert rows == {"app-1": ["3", "3"], "app-2": ["2", "2 (requested 5)"], "app-3": ["4", "4"]}


def test_vega_status_shows_a_recovered_worker_not_heard_from_yet():
    """A worker a restarted master knows from its recovery state only has no heartbeat
    (null in the JSON): the table says so instead of printing 'Nones ago'."""
    from rich.console import Console

    from vega_cli.status import render

    def worker(worker_id, state, heartbeat):
        return {"id": worker_id, "host": "10.0.0.2", "port": 1, "state": state, "cores": 1,
                "cores_used": 0, "memory_bytes": 1 << 30, "memory_used_bytes": 0,
                "labels": [], "last_heartbeat_seconds_ago": heartbeat, "executors": []}

    console = Console(record=True, width=200)
    render({"master": {"url": "vega://m:7077", "version": __version__, "uptime_seconds": 5.0},
            "workers": [worker("w-1", "alive", 1.5), worker("w-2", "lost", None)],
            "drivers": [], "applications": []}, console)
    rows = {}
    for line in console.export_text().splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0].startswith("w-"):
            rows[cells[0]] = cells[2], cells[5]  # state, heartbeat
    assert rows == {"w-1": ("alive", "1.5s ago"), "w-2": ("lost", "none yet")}


def test_a_release_naming_a_malformed_executor_id_is_refused_on_the_wire():
    from vega_runtime.net.framing import ProtocolError
    from vega_runtime.net.messages import KillExecutors, from_wire, to_wire

    assert from_wire(to_wire(KillExecutors(["exec-3"], "idle"))).executor_ids == ["exec-3"]
    with pytest.raises(ProtocolError, match="malformed ids"):
        from_wire(to_wire(KillExecutors(["exec-3", "../../etc"], "idle")))
