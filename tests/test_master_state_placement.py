"""The master's placement decisions, driven with plain events and a fake clock as in
test_master_state.py: executors only on workers carrying an application's labels, several
applications sharing the cores (cores_max, FAIR), executor exits reaching their driver,
workers whose executors keep failing."""

from vega_runtime import __version__
from vega_runtime.deploy.master_events import (ApplicationUnregistered, ConnectionLost, Disconnect,
                                               ExecutorExitReported, Tick, WorkerRegistering)
from vega_runtime.deploy.master_state import MAX_EXECUTOR_FAILURES, AppState
from vega_runtime.net.messages import ApplicationWaiting, ExecutorRemoved, RegisterWorker
from vega_runtime.versions import python_version

from test_master_state import GIB, Sim, quiet_master_log  # noqa: F401 - the autouse fixture


def waiting(sim, driver):
    """The last waiting reason the driver was sent."""
    return sim.sent(driver, ApplicationWaiting)[-1].message


def test_executors_go_only_to_workers_carrying_every_label_of_the_application():
    """vega.executor.labels=gpu,ssd: executors on the gpu+ssd workers only, however many
    cores the others have free; an application without labels may use every worker."""
    sim = Sim()
    sim.worker("plain", cores=4)
    sim.worker("gpu-only", cores=4, labels=["gpu"])
    sim.worker("both-1", cores=1, labels=["ssd", "gpu"])
    sim.worker("both-2", cores=2, labels=["gpu", "ssd", "rack-7"])
    _, labelled = sim.app("labelled", labels=["gpu", "ssd"])
    assert sorted(sim.state.apps[labelled].executors.values()) == ["both-1", "both-2", "both-2"]
    _, free = sim.app("anywhere")
    assert sorted(set(sim.state.apps[free].executors.values())) == ["gpu-only", "plain"]
    assert len(sim.state.apps[free].executors) == 8


def test_an_application_whose_labels_nobody_has_waits_naming_them_and_starts_when_one_registers():
    """No worker has ssd: the driver is told which label is missing, once; a worker that
    has both labels registering starts it there and nowhere else."""
    sim = Sim()
    sim.worker("w1", labels=["gpu"])
    sim.worker("w2")
    driver, app_id = sim.app(labels=["gpu", "ssd"])
    sim.apply(Tick())
    assert sim.state.apps[app_id].state == AppState.WAITING
    assert [m.message for m in sim.sent(driver, ApplicationWaiting)] == [
        "no worker has the label ssd (vega.executor.labels=gpu,ssd): the job will start when "
        "a worker with all of them registers (vega worker --labels gpu,ssd)"]
    assert sim.state.apps[app_id].waiting_reason == waiting(sim, driver)
    w3 = sim.worker("w3", labels=["ssd"])
    assert "no single worker has all the labels gpu, ssd" in waiting(sim, driver)
    assert sim.launches() == []
    w4 = sim.worker("w4", labels=["ssd", "gpu"], cores=1)
    assert sim.launches() == [(w4, app_id, "exec-1")]
    assert sim.state.apps[app_id].state == AppState.RUNNING
    assert w3 not in {s for s, _, _ in sim.launches()}


def test_two_labels_nobody_has_are_both_named():
    sim = Sim()
    sim.worker("w1", labels=["rack-1"])
    driver, _ = sim.app(labels=["gpu", "rack-1", "ssd"])
    assert waiting(sim, driver).startswith(
        "no worker has the labels gpu, ssd (vega.executor.labels=gpu,rack-1,ssd)")


def test_labelled_workers_too_small_or_busy_give_their_own_reasons():
    """Memory of the labelled workers (not the largest worker anywhere) decides; busy
    labelled workers name the application holding them."""
    sim = Sim()
    sim.worker("big", memory=16 * GIB)
    sim.worker("small-gpu", cores=1, memory=2 * GIB, labels=["gpu"])
    driver, _ = sim.app("needs-4g", memory=4 * GIB, labels=["gpu"])
    assert waiting(sim, driver) == (
        "no worker carrying its labels can give an executor 4096 MiB (the largest has "
        "2048 MiB): lower --executor-memory or add a larger worker")
    _, holder = sim.app("holder", labels=["gpu"])
    driver2, _ = sim.app("late", labels=["gpu"])
    assert waiting(sim, driver2) == (
        f"all cores of the workers carrying its labels are taken by {holder} (holder); "
        "waiting for free cores (give applications vega.cores.max (--total-executor-cores) "
        "so that several share the cluster)")


def test_without_cores_max_the_first_application_takes_everything_and_the_second_waits():
    """Spark standalone's default: the first application takes every core; the second
    waits, told who holds them, and starts when the first ends."""
    sim = Sim()
    sim.worker("w1", cores=2)
    sim.worker("w2", cores=2)
    first_driver, first = sim.app("first")
    second_driver, second = sim.app("second")
    assert len(sim.state.apps[first].executors) == 4
    assert sim.state.apps[second].state == AppState.WAITING
    assert waiting(sim, second_driver) == (
        f"all cores are taken by {first} (first); waiting for free cores (give applications "
        "vega.cores.max (--total-executor-cores) so that several share the cluster)")
    sim.apply(ApplicationUnregistered(first_driver))
    assert len(sim.state.apps[second].executors) == 4
    assert sim.state.apps[second].state == AppState.RUNNING


def test_with_cores_max_two_applications_submitted_together_both_run():
    """vega.cores.max=2 on a 4-core cluster: both applications get two cores at once."""
    sim = Sim()
    sim.worker("w1", cores=2)
    sim.worker("w2", cores=2)
    first_driver, first = sim.app("first", cores_max=2)
    second_driver, second = sim.app("second", cores_max=2)
    for app_id in (first, second):
        assert sim.state.apps[app_id].state == AppState.RUNNING
        assert sorted(sim.state.apps[app_id].executors.values()) == ["w1", "w2"]
    assert not sim.sent(first_driver, ApplicationWaiting)
    assert not sim.sent(second_driver, ApplicationWaiting)


def test_an_executor_exit_reaches_its_driver_with_its_cause_and_log_tail():
    """The worker's classification (cause, description, log tail) goes to the driver as is."""
    sim = Sim()
    w1 = sim.worker("w1", cores=1)
    driver, app_id = sim.app()
    sim.apply(ExecutorExitReported(w1, app_id, "exec-1", "exceeded its 1 GiB memory limit",
                                   "memory_limit", "MemoryError"))
    (removed,) = sim.sent(driver, ExecutorRemoved)
    assert (removed.executor_id, removed.reason, removed.worker_lost, removed.cause,
            removed.detail) == ("exec-1", "exceeded its 1 GiB memory limit", False,
                                "memory_limit", "MemoryError")
    (lost_with_worker, ) = sim.sent(driver, ExecutorRemoved, sim.apply(ConnectionLost(w1, "reset")))
    assert (lost_with_worker.cause, lost_with_worker.reason) == \
        ("worker_lost", "was lost with its worker w1 (reset)")


def test_fair_mode_divides_the_cores_evenly_and_gives_released_ones_to_the_newcomer():
    """vega.scheduler.mode=fair: applications registered before the workers get two cores
    each of four; one that holds everything keeps it, but what it gives back goes to the
    application below its share, and all of it when it ends."""
    sim = Sim(mode="fair")
    _, first = sim.app("first")
    _, second = sim.app("second")
    sim.worker("w1", cores=2)
    sim.worker("w2", cores=2)
    assert [len(sim.state.apps[a].executors) for a in (first, second)] == [2, 2]

    sim = Sim(mode="fair")
    w1, w2 = sim.worker("w1", cores=2), sim.worker("w2", cores=2)
    first_driver, first = sim.app("first")
    second_driver, second = sim.app("second")
    assert [len(sim.state.apps[a].executors) for a in (first, second)] == [4, 0]
    assert "beyond their fair share" in waiting(sim, second_driver)
    for executor_id in ("exec-1", "exec-2"):  # the first gives back two (dynamic allocation)
        worker = w1 if sim.state.apps[first].executors[executor_id] == "w1" else w2
        sim.apply(ExecutorExitReported(worker, first, executor_id, "released"))
    assert [len(sim.state.apps[a].executors) for a in (first, second)] == [2, 2]
    _, third = sim.app("third")
    assert len(sim.state.apps[third].executors) == 0
    sim.apply(ApplicationUnregistered(first_driver))
    assert [len(sim.state.apps[a].executors) for a in (second, third)] == [2, 2]


def test_an_application_whose_workers_are_all_lost_waits_saying_so_not_none_registered():
    """Every worker lost mid-application (a SIGSTOPped host, a cut link): the driver is
    told they are lost, not that none has registered yet (which sent operators looking for
    a registration problem), and the job starts again on the first that comes back."""
    sim = Sim()
    w1, w2 = sim.worker("w1", cores=1), sim.worker("w2", cores=1)
    driver, app_id = sim.app()
    sim.apply(ConnectionLost(w1, "reset"))
    sim.apply(ConnectionLost(w2, "reset"))
    assert waiting(sim, driver) == (
        "no worker is alive: the 2 registered with the master are lost (connection closed or "
        "no heartbeat; vega status shows them): the job will start when one comes back or "
        "another registers (vega worker vega://MASTER:PORT)")
    assert sim.launches(sim.apply(WorkerRegistering(next(sim.sessions), RegisterWorker(
        "w1", "10.0.0.1", 7000, 1, 4 * GIB, [], python_version(), __version__, 1, [])))) != []


def test_executors_failing_on_one_worker_stop_going_there_and_do_not_fail_the_application():
    """A worker whose launches of an application's executors all fail (its disk is full):
    after MAX_EXECUTOR_FAILURES of them it gets no more of that application's executors,
    and the application, which runs executors on another worker, goes on there (Spark: an
    application with running executors is never removed). It used to be failed after the
    10th exit, its healthy executors killed with it."""
    sim = Sim()
    w1, w2 = sim.worker("w1", cores=1), sim.worker("w2", cores=1)
    driver, app_id = sim.app()
    app = sim.state.apps[app_id]
    healthy = next(e for e, w in app.executors.items() if w == "w2")
    for _ in range(MAX_EXECUTOR_FAILURES):
        (failing,) = [e for e, w in app.executors.items() if w == "w1"]
        out = sim.apply(ExecutorExitReported(w1, app_id, failing, "could not start: [Errno 28] "
                                             "No space left on device", "launch_failed"))
    assert app.state == AppState.RUNNING
    assert app.executors == {healthy: "w2"}
    assert sim.launches(out) == [] and sim.state.workers["w1"].cores_used == 0
    assert not any(isinstance(a, Disconnect) for a in sim.actions)
    # its last executor gone too (and the limit passed long ago): now it fails
    out = sim.apply(ExecutorExitReported(w2, app_id, healthy, "exited with code 1"))
    assert app.state == AppState.FAILED
    assert any(isinstance(a, Disconnect) and a.session == driver for a in out)
