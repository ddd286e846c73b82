"""Tasks sharing a custom resource's address (``vega.task.resource.NAME.amount`` a fraction,
Spark's "0.25: four tasks on one GPU"): the slot arithmetic and the master's allocation,
with plain values and events (milliseconds).  Real clusters: test_address_sharing_clusters.py.

Spark's rules (4.x): a task's amount of a custom resource is either <= 1.0 or a whole number
(``TaskResourceRequest``; ``ResourceUtils.calculateAmountAndPartsForFraction``), a fraction
putting floor(1/amount) tasks on one address.  Vega's executor runs one task at a time, so
Spark's one executor running four tasks on its GPU is four Vega executors of the application
holding that GPU's address; the master never lets another application's executor hold it."""

import itertools
import json

import pytest

from vega_runtime import __version__
from vega_runtime.config import Config
from vega_runtime.deploy.master_events import (ApplicationRegistering, ExecutorExitReported,
                                               Send, WorkerRegistering)
from vega_runtime.deploy.master_state import MasterState
from vega_runtime.deploy.placement import ExecutorShare, open_addresses
from vega_runtime.errors import ConfigError
from vega_runtime.net.messages import (ApplicationWaiting, LaunchExecutor, RegisterApplication,
                                       RegisterWorker)
from vega_runtime.resources import (EXECUTOR_RESOURCES_ENV, ResourceError,
                                    ResourceInformation, TaskResourceRequests, check_task_fits,
                                    local_executors, most_sharing, tasks_per_address)
from vega_runtime.versions import python_version

GIB = 1 << 30


# -- the slot arithmetic -----------------------------------------------------------------

def test_a_fraction_puts_one_over_it_rounded_down_tasks_on_an_address():
    """Spark floors 1/amount (0.3: 3 tasks, 0.6: 1); 1/93 is 93 tasks although 1 / (1/93)
    falls just short of 93 in floating point (Spark's scheduler fits 93 of them too)."""
    assert [tasks_per_address(a) for a in (0.25, 0.5, 1 / 3, 0.3, 0.6, 1 / 93, 1.0, 3.0)] == \
        [4, 2, 3, 3, 1, 93, 1, 1]


def test_amounts_are_accepted_and_refused_as_spark_does():
    """Up to 1.0 or whole: accepted (settings and PySpark's TaskResourceRequests); else refused
    with Spark's rule in the message."""
    for amount, parsed in [("0.25", 0.25), ("0.75", 0.75), ("1", 1), ("2", 2)]:
        assert Config.load(overrides={"vega.task.resource.gpu.amount": amount})[
            "vega.task.resource.gpu.amount"] == parsed
    assert TaskResourceRequests().resource("gpu", 0.75).requests["gpu"].amount == 0.75
    for amount in ("1.5", "0", "-0.25"):
        with pytest.raises(ConfigError, match=f"vega.task.resource.gpu.amount '{amount}' is "
                                              "neither a fraction up to 1 nor a whole number: "
                                              ".*must be either <= 1.0, or a whole number"):
            Config.load(overrides={"vega.task.resource.gpu.amount": amount})
    with pytest.raises(ValueError, match="must be either <= 1.0, or a whole number"):
        TaskResourceRequests().resource("gpu", 2.5)


def test_local_executors_share_the_drivers_addresses_and_say_how_many_share_one():
    gpus = {"gpu": ResourceInformation("gpu", ["0", "1"])}
    quarter = local_executors(8, 1.0, {"gpu": 0.25}, gpus)
    assert quarter == [{"gpu": ["0"]}] * 4 + [{"gpu": ["1"]}] * 4
    assert most_sharing(quarter) == {"gpu": 4}
    assert most_sharing(local_executors(4, 1.0, {"gpu": 1.0}, gpus)) == {}


def test_a_stage_may_not_ask_a_larger_share_than_its_executors_share():
    """Four executors hold each GPU with 0.25 a task: a stage profile asking a whole GPU (or
    half) per task would run four such tasks on one GPU at once; a smaller share is fine."""
    for amount, tasks in [(1.0, "4"), (0.5, "4")]:
        with pytest.raises(ResourceError, match=f"each task asks for {amount:g} gpu but each "
                                                "executor shares each gpu address with 3 other "
                                                "executors of the application .* gives "
                                                f"{tasks} tasks an address.* ask for 1/4 or less"):
            check_task_fits(1.0, {"gpu": amount}, 1, {"gpu": 1}, "each executor", {"gpu": 4})
    check_task_fits(1.0, {"gpu": 0.125}, 1, {"gpu": 1}, "each executor", {"gpu": 4})
    check_task_fits(1.0, {"gpu": 1.0}, 1, {"gpu": 1}, "each executor", {})


# -- the master's allocation ---------------------------------------------------------------

def test_open_addresses_are_free_ones_and_those_the_application_shares_with_room():
    held = {("a", "exec-1"): ExecutorShare(0, 1, {"gpu": ["1"]}),
            ("a", "exec-2"): ExecutorShare(0, 1, {"gpu": ["2"]}),
            ("a", "exec-3"): ExecutorShare(0, 1, {"gpu": ["2"]}),
            ("b", "exec-1"): ExecutorShare(0, 1, {"gpu": ["3"]})}
    addresses = {"gpu": ["0", "1", "2", "3"]}
    # "1" has room for a second of a's, "2" is full, "3" is b's; then the free "0"
    assert open_addresses(addresses, held, "a", {"gpu": 2}) == {"gpu": ["1", "0"]}
    assert open_addresses(addresses, held, "b", {"gpu": 2}) == {"gpu": ["3", "0"]}
    assert open_addresses(addresses, held, "c", {"gpu": 4}) == {"gpu": ["0"]}
    assert open_addresses(addresses, held, "a", {}) == {"gpu": ["0"]}  # whole GPUs: its own


class Sim:
    """A master driven with plain events."""

    def __init__(self):
        self.state, self.sessions, self.actions = MasterState(), itertools.count(1), []

    def apply(self, event):
        self.actions += self.state.handle(event, 1000.0)

    def worker(self, worker_id, cores, gpus, executors=(), held=None):
        self.apply(WorkerRegistering(next(self.sessions), RegisterWorker(
            worker_id, "10.0.0.1", 7000, cores, 8 * GIB, [], python_version(), __version__, 1,
            [list(e) for e in executors], {"gpu": list(gpus)}, held or {})))

    def app(self, sharing, cores_max=0, app_id=""):
        session = next(self.sessions)
        self.apply(ApplicationRegistering(session, RegisterApplication(
            "job", "10.0.0.9", 5000, cores_max, 0, GIB, python_version(), __version__, "sha",
            app_id, executor_resources={"gpu": 1}, executors_per_address=sharing)))
        return session

    def launches(self):
        return [(a.message.app_id, a.message.executor_id,
                 json.loads(a.message.env[EXECUTOR_RESOURCES_ENV])["gpu"])
                for a in self.actions if isinstance(getattr(a, "message", None), LaunchExecutor)]

    def waiting(self, session):
        return [a.message.message for a in self.actions if isinstance(a, Send)
                and a.session == session and isinstance(a.message, ApplicationWaiting)]


def test_four_executors_of_one_application_share_a_gpu_and_no_other_application_gets_it():
    sim = Sim()
    sim.worker("w1", cores=8, gpus=["0"])
    sim.app({"gpu": 4})
    app_id = sim.launches()[0][0]
    assert [(e, a) for _, e, a in sim.launches()] == [
        ("exec-1", ["0"]), ("exec-2", ["0"]), ("exec-3", ["0"]), ("exec-4", ["0"])]
    other = sim.app({"gpu": 4})  # 4 cores free, but its GPU is the first application's
    assert sim.waiting(other)[0].startswith(f"all gpu are taken by {app_id}")
    assert len(sim.launches()) == 4
    sim.apply(ExecutorExitReported(1, app_id, "exec-2", "exited with code 0"))
    assert sim.launches()[4:] == [(app_id, "exec-5", ["0"])]  # its share comes back to it


def test_executors_fill_an_address_before_taking_the_next_leaving_whole_ones_to_others():
    sim = Sim()
    sim.worker("w1", cores=8, gpus=["0", "1"])
    first = sim.app({"gpu": 2}, cores_max=2)
    assert [a for _, _, a in sim.launches()] == [["0"], ["0"]]
    sim.app({"gpu": 2})
    assert [a for _, _, a in sim.launches()[2:]] == [["1"], ["1"]]
    assert sim.waiting(first) == []


def test_after_a_master_restart_the_shared_address_stays_the_applications():
    """A worker registering again reports two of app-1's executors on GPU "0": another
    application does not get it; app-1's driver, back, fills it to four."""
    sim = Sim()
    sim.worker("w1", cores=8, gpus=["0"], executors=[("app-1", "exec-1"), ("app-1", "exec-2")],
               held={"app-1 exec-1": {"gpu": ["0"]}, "app-1 exec-2": {"gpu": ["0"]}})
    other = sim.app({"gpu": 4})
    assert sim.waiting(other)[0].startswith("all gpu are taken by app-1")
    sim.app({"gpu": 4}, app_id="app-1")
    assert sim.launches() == [("app-1", "exec-1000", ["0"]), ("app-1", "exec-1001", ["0"])]


def test_executors_holding_two_shared_gpus_run_their_tasks_on_both():
    """Spark's usual settings for a node of two GPUs (2 a executor, 0.5 a task): each of
    the two executors the shares allow holds both; each one's task runs on the GPU the
    other's does not (before, both tasks ran on GPU "0" and GPU "1" stayed idle)."""
    sim = Sim()
    sim.worker("w1", cores=4, gpus=["0", "1"])
    session = next(sim.sessions)
    sim.apply(ApplicationRegistering(session, RegisterApplication(
        "job", "10.0.0.9", 5000, 0, 0, GIB, python_version(), __version__, "sha",
        executor_resources={"gpu": 2}, executors_per_address={"gpu": 2})))
    assert [a for _, _, a in sim.launches()] == [["0", "1"], ["1", "0"]]


def test_vega_status_shows_a_shared_address_used_and_how_many_more_executors_it_takes():
    """Two executors of an application sharing GPU "0" at 4 an address: ``vega status``
    shows it used, as Spark's master does (``gpu 1/1 used``), and that 2 of 4 executors
    hold it (the master would give that application two more there, if it had the cores);
    before, it said ``gpu 0/1 free``, as if nothing more could run on it."""
    from rich.console import Console

    from vega_cli.status import render
    from vega_runtime.deploy.master_status import status_document

    sim = Sim()
    sim.worker("w1", cores=2, gpus=["0"])
    sim.app({"gpu": 4})
    app_id = sim.launches()[0][0]
    document = status_document(sim.state, [], "vega://m:7077", 0.0, 1.0)
    assert document["workers"][0]["resources"] == {"gpu": {
        "addresses": ["0"], "free": [], "used": ["0"],
        "shared": {"0": {"application": app_id, "executors": 2, "most": 4}}}}
    console = Console(record=True, width=200)
    render(document, console)
    assert "gpu 1/1 used (0: 2/4 executors)" in console.export_text()
    other = sim.app({"gpu": 4})  # used: no other application's executor gets it
    assert sim.waiting(other)[0].startswith(f"all gpu are taken by {app_id}")
