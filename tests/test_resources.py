"""Custom resources (GPUs), CPUs per task, stage-level resource profiles and executor
environments (``vega_runtime/resources.py``), as Spark's custom resource scheduling.

The master's decisions run with plain events (milliseconds); the rest with real discovery
scripts, executor processes and local clusters, on every master kind."""

import itertools
import json
import os
import stat
import time
from decimal import Decimal

import pytest

from vega_runtime import Context, __version__
from vega_runtime.config import Config
from vega_runtime.deploy.master_events import (ApplicationRegistering, ExecutorExitReported,
                                               Send, WorkerRegistering)
from vega_runtime.deploy.master_state import MasterState
from vega_runtime.errors import ConfigError
from vega_runtime.net.messages import (ApplicationWaiting, LaunchExecutor, RegisterApplication,
                                       RegisterWorker)
from vega_runtime.pyspark_compat.conf import vega_settings
from vega_runtime.resources import (EXECUTOR_RESOURCES_ENV, ExecutorResourceRequests,
                                    ResourceError, ResourceInformation, ResourceProfileBuilder,
                                    TaskResourceRequests, discover)
from vega_runtime.task_context import TaskContext
from vega_runtime.versions import python_version

from http_helpers import api_get

GIB = 1 << 30


def script(tmp_path, name, body, shebang=True):
    path = tmp_path / name
    path.write_text(("#!/bin/sh\n" if shebang else "") + body + "\n")
    path.chmod(stat.S_IRWXU)
    return str(path)


def gpus(tmp_path, *addresses, name="gpu", shebang=True):
    found = json.dumps({"name": name, "addresses": list(addresses)})
    return script(tmp_path, f"find-{name}.sh", f"echo '{found}'", shebang)


# -- settings and discovery ------------------------------------------------------------

def test_resource_settings_are_families_with_names_inside_and_spark_names_map_to_them():
    conf = Config.load(overrides={"vega.executor.resource.gpu.amount": "2",
                                  "vega.task.resource.gpu.amount": "0.5",
                                  "vega.executor.env.OMP_PROC_BIND": "true",
                                  "vega.task.cpus": "0.25"})
    assert (conf["vega.executor.resource.gpu.amount"], conf["vega.task.resource.gpu.amount"],
            conf["vega.executor.env.OMP_PROC_BIND"], conf["vega.task.cpus"]) == (2, 0.5, "true",
                                                                                0.25)
    assert vega_settings([("spark.worker.resource.fpga.discoveryScript", "/opt/find"),
                          ("spark.executorEnv.LANG", "C"), ("spark.task.cpus", "2")]) == {
        "vega.worker.resource.fpga.discovery_script": "/opt/find",
        "vega.executor.env.LANG": "C", "vega.task.cpus": "2"}
    for key, value, problem in [
            ("vega.task.resource.gpu.amount", "1.5", "neither a fraction up to 1 nor a whole number"
             ".*must be either <= 1.0, or a whole number"),
            ("vega.executor.resource.gpu.amount", "0.5", "not a whole number"),
            ("vega.task.cpus", "0", "not a positive number of CPUs"),
            ("vega.task.resource.gpu.discovery_script", "/x", "is not a Vega setting"),
            ("vega.executor.env.1BAD", "x", "is not a Vega setting")]:
        with pytest.raises(ConfigError, match=problem):
            Config.load(overrides={key: value})


def test_discovery_runs_scripts_as_spark_does_and_says_what_is_wrong(tmp_path):
    conf = {"vega.driver.resource.gpu.amount": 2,
            "vega.driver.resource.gpu.discovery_script": gpus(tmp_path, "0", "1", "2",
                                                              shebang=False)}
    assert discover(conf, "driver") == {"gpu": ResourceInformation("gpu", ["0", "1", "2"])}
    cases = [
        (gpus(tmp_path, "0"), "is to have 2 gpu but its discovery script .* found 1: \\['0'\\]"),
        (script(tmp_path, "fails.sh", "echo no nvidia-smi >&2; exit 3"),
         "exited with code 3: no nvidia-smi"),
        (script(tmp_path, "garbage.sh", "echo hello"), "printed 'hello', not"),
        (gpus(tmp_path, "0", "1", name="fpga"), "it names 'fpga'"),
        (str(tmp_path / "missing.sh"), "could not run the discovery script of gpu")]
    for path, problem in cases:
        with pytest.raises(ResourceError, match=problem):
            discover({**conf, "vega.driver.resource.gpu.discovery_script": path}, "driver")
    with pytest.raises(ResourceError, match="has no discovery script"):
        discover({"vega.worker.resource.gpu.amount": 1}, "worker")


def resources_file(tmp_path, entries):
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(entries))
    return str(path)


def test_a_workers_resources_file_lists_its_resources_as_sparks_does(tmp_path):
    """vega.worker.resources_file (Spark's spark.worker.resourcesFile): the resources it
    lists for spark.worker (another component's entries are not the worker's), each at least
    its amount; a resource it does not list is found by its discovery script."""
    listed = resources_file(tmp_path, [
        {"id": {"componentName": "spark.worker", "resourceName": "gpu"}, "addresses": ["0", 1]},
        {"id": {"componentName": "spark.driver", "resourceName": "gpu"}, "addresses": ["9"]}])
    assert discover({"vega.worker.resources_file": listed}, "worker") == {
        "gpu": ResourceInformation("gpu", ["0", "1"])}
    conf = {"vega.worker.resources_file": listed, "vega.worker.resource.gpu.amount": 2,
            "vega.worker.resource.fpga.amount": 1,
            "vega.worker.resource.fpga.discovery_script": gpus(tmp_path, "f0", name="fpga")}
    assert discover(conf, "worker") == {"gpu": ResourceInformation("gpu", ["0", "1"]),
                                        "fpga": ResourceInformation("fpga", ["f0"])}
    with pytest.raises(ResourceError, match=r"is to have 3 gpu but its resources file .* "
                                            r"lists 2: \['0', '1'\]"):
        discover({**conf, "vega.worker.resource.gpu.amount": 3}, "worker")
    bad = [({"id": {"componentName": "spark.worker", "resourceName": "gpu"}, "addresses": "01"},
            "holds .* which is not an entry of a JSON array"),
           ({"name": "gpu", "addresses": ["0"]}, "which is not an entry")]
    for entry, problem in bad:
        with pytest.raises(ResourceError, match=problem):
            discover({"vega.worker.resources_file": resources_file(tmp_path, [entry])}, "worker")
    with pytest.raises(ResourceError, match="holds a JSON dict, not a JSON array of"):
        discover({"vega.worker.resources_file": resources_file(tmp_path, bad[0][0])}, "worker")
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(ResourceError, match="broken.json is not JSON"):
        discover({"vega.worker.resources_file": str(tmp_path / "broken.json")}, "worker")
    with pytest.raises(ResourceError, match="cannot read the worker's resources file .*missing"):
        discover({"vega.worker.resources_file": str(tmp_path / "missing.json")}, "worker")
    with pytest.raises(ResourceError, match="or list them in vega.worker.resources_file"):
        discover({"vega.worker.resource.gpu.amount": 1}, "worker")


def test_a_cluster_files_workers_offer_resources_to_their_vega_worker_command():
    from vega_cli.cluster import worker_args
    from vega_runtime.cluster_file import parse_cluster_text

    cluster = parse_cluster_text(
        "master: {host: 10.0.0.1}\n"
        "defaults: {resources: {gpu: {amount: 1, discovery_script: /opt/find gpus}}}\n"
        "workers:\n  - 10.0.0.2\n"
        "  - {host: 10.0.0.3, resources: {fpga: {amount: 2, discovery_script: /f}}}\n",
        "cluster.yaml")
    assert [worker_args("vega://m:1", w, "d", "s")[-2:] for w in cluster.workers] == [
        ["--resource", "gpu=1:/opt/find gpus"], ["--resource", "fpga=2:/f"]]
    for bad, problem in [("{gpu: 2}", "workers\\[0\\].resources.gpu must be {amount: N"),
                         ("{gpu: {amount: 0, discovery_script: /f}}", "is not a whole number"),
                         ("{gpu: {amount: 1, script: /f}}", "script is not a cluster file key; known keys: amount")]:
        with pytest.raises(ConfigError, match=problem):
            parse_cluster_text(f"master: {{host: m}}\nworkers:\n  - {{host: w, resources: "
                               f"{bad}}}\n", "cluster.yaml")


def test_vega_worker_offers_resources_of_its_flags(bare_master, tmp_path):
    """A real master and a worker started with --resource: vega status shows its GPUs; a
    worker whose script finds too few does not start, saying why."""
    import subprocess

    from proc_helpers import kill_group, spawn_vega, vega, wait_for

    url = bare_master.url
    worker = spawn_vega("worker", url, "--host", "127.0.0.1", "--cores", "2", "--no-secret",
                        "--work-dir", str(tmp_path / "w"), "--resource",
                        f"gpu=2:{gpus(tmp_path, '0', '1')}", env=bare_master.env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True)
    try:
        def registered():
            done = vega("status", "--master", url, "--json", env=bare_master.env)
            return done.returncode == 0 and json.loads(done.stdout)["workers"]
        assert wait_for(registered, 30, "the worker to register")[0]["resources"] == {
            "gpu": {"addresses": ["0", "1"], "free": ["0", "1"], "used": [], "shared": {}}}
        failed = vega("worker", url, "--no-secret", "--work-dir", str(tmp_path / "w2"),
                      "--resource", f"gpu=3:{gpus(tmp_path, '0', '1')}", env=bare_master.env)
        assert failed.returncode == 1, failed.stderr
        assert "the worker is to have 3 gpu but its discovery script" in failed.stderr
        bad = vega("worker", url, "--resource", "gpu:2", env=bare_master.env)
        assert bad.returncode != 0 and "'gpu:2' is not NAME=AMOUNT:SCRIPT" in bad.stderr
    finally:
        kill_group(worker)


# -- the master's decisions -----------------------------------------------------------

class Sim:
    def __init__(self):
        self.state, self.sessions, self.actions = MasterState(), itertools.count(1), []

    def apply(self, event):
        out = self.state.handle(event, 1000.0)
        self.actions += out
        return out

    def worker(self, worker_id, cores=4, resources=None, executors=(), held=None):
        session = next(self.sessions)
        self.apply(WorkerRegistering(session, RegisterWorker(
            worker_id, "10.0.0.1", 7000, cores, 8 * GIB, [], python_version(), __version__, 1,
            [list(e) for e in executors], resources or {}, held or {})))
        return session

    def app(self, cores_per_executor=1, resources=None, cores_max=0, app_id=""):
        session = next(self.sessions)
        self.apply(ApplicationRegistering(session, RegisterApplication(
            "job", "10.0.0.9", 5000, cores_max, 0, GIB, python_version(), __version__, "sha",
            app_id, cores_per_executor=cores_per_executor, executor_resources=resources or {},
            executor_env={"OMP_PROC_BIND": "true"})))
        return session

    def launches(self):
        return [(a.message.executor_id, a.message.cores,
                 json.loads(a.message.env.get(EXECUTOR_RESOURCES_ENV, "{}")))
                for a in self.actions if isinstance(getattr(a, "message", None), LaunchExecutor)]

    def waiting(self, session):
        return [a.message.message for a in self.actions if isinstance(a, Send)
                and a.session == session and isinstance(a.message, ApplicationWaiting)]


def test_the_master_gives_each_executor_its_cores_and_its_own_addresses():
    sim = Sim()
    sim.worker("w1", cores=4, resources={"gpu": ["0", "1"]})
    sim.worker("w2", cores=4)  # no GPU: none of the app's executors go there
    sim.app(cores_per_executor=2, resources={"gpu": 1})
    assert sim.launches() == [("exec-1", 2, {"gpu": ["0"]}), ("exec-2", 2, {"gpu": ["1"]})]
    launch = [a.message for a in sim.actions
              if isinstance(getattr(a, "message", None), LaunchExecutor)][0]
    assert launch.env["OMP_PROC_BIND"] == "true" and launch.env["PYTHONHASHSEED"] == "0"
    # another application finds the GPUs taken, the cores of w2 no use to it
    other = sim.app(resources={"gpu": 1})
    assert sim.waiting(other)[0].startswith("all gpu are taken by app-")
    # an executor's exit gives its GPU back (to the oldest application wanting one)
    before = len(sim.launches())
    sim.apply(ExecutorExitReported(1, launch.app_id, "exec-2", "exited with code 0"))
    assert sim.launches()[before:] == [("exec-3", 2, {"gpu": ["1"]})]


def test_vega_status_shows_each_workers_resources_and_what_is_free():
    from rich.console import Console

    from vega_cli.status import render
    from vega_runtime.deploy.master_status import status_document

    sim = Sim()
    sim.worker("w1", cores=4, resources={"gpu": ["0", "1"]})
    sim.app(cores_per_executor=2, resources={"gpu": 1}, cores_max=2)
    document = status_document(sim.state, [], "vega://m:7077", 0.0, 1.0)
    assert document["workers"][0]["resources"] == {"gpu": {"addresses": ["0", "1"],
                                                           "free": ["1"], "used": ["0"],
                                                           "shared": {}}}
    assert [(a["cores"], a["executors"]) for a in document["applications"]] == [(2, 1)]
    console = Console(record=True, width=200)
    render(document, console)
    assert "gpu 1/2 used" in console.export_text()


def test_the_rest_api_counts_each_executors_cores():
    from vega_runtime.deploy.app_events import AppRecord, ExecutorRecord
    from vega_runtime.deploy.spark_api_documents import application_info, executor_summaries

    app = AppRecord("app-1", settings=[["vega.task.cpus", 1.5, "job"]],
                    executors={"exec-1": ExecutorRecord("exec-1", "h:1", 1.0)})
    info = application_info(app, running=True)
    assert (info["coresPerExecutor"], info["coresGranted"]) == (2, 2)
    assert [e["totalCores"] for e in executor_summaries(app, include_dead=False)] == [2]


def test_cores_per_executor_count_against_the_limits_and_waiting_says_what_is_missing():
    sim = Sim()
    sim.worker("w1", cores=3)
    sim.app(cores_per_executor=2, cores_max=3)  # one 2-core executor: a second passes 3
    assert [c for _, c, _ in sim.launches()] == [2]
    lonely = Sim()
    lonely.worker("w1", cores=1, resources={"gpu": ["0"]})
    too_big = lonely.app(cores_per_executor=2)
    assert "no worker has 2 cores for one executor" in lonely.waiting(too_big)[0]
    no_fpga = lonely.app(resources={"fpga": 1})
    assert "no worker has 1 fpga for one executor" in lonely.waiting(no_fpga)[0]


def test_a_worker_registering_again_keeps_its_executors_addresses_held():
    """After a master restart, a worker's running executors keep their GPUs: a new
    application does not get them."""
    sim = Sim()
    sim.worker("w1", resources={"gpu": ["0", "1"]}, executors=[("app-1", "exec-1")],
               held={"app-1 exec-1": {"gpu": ["0"]}})
    sim.app(resources={"gpu": 1})
    assert sim.launches() == [("exec-1", 1, {"gpu": ["1"]})]


# -- profiles ----------------------------------------------------------------------------

def test_a_profile_keeps_pysparks_requests():
    treqs = TaskResourceRequests().cpus(2).resource("gpu", 0.5)
    ereqs = ExecutorResourceRequests().cores(2).memory("6g").resource("gpu", 2, "find", "nv")
    profile = ResourceProfileBuilder().require(ereqs).require(treqs).build
    assert profile.taskResources["cpus"].amount == 2.0
    assert profile.executorResources["memory"].amount == 6144
    assert profile.executorResources["gpu"].discoveryScript == "find"
    assert profile.task_needs(1.0, {"fpga": 1.0}) == (2.0, {"fpga": 1.0, "gpu": 0.5})
    with pytest.raises(ValueError, match="neither a fraction"):
        TaskResourceRequests().resource("gpu", 1.5)


@pytest.fixture(params=["local", "local[2]", "local-cluster[2,1]"])
def master(request):
    return request.param


def test_tasks_see_their_cpus_and_a_stage_profile_changes_them(master):
    with Context(master, conf={"vega.task.cpus": "0.5"}) as ctx:
        rdd = ctx.parallelize(range(4), 2)

        def seen(_):
            return TaskContext.get().cpus(), TaskContext.get().cpuAmount()
        assert set(rdd.map(seen).collect()) == {(1, Decimal("0.5"))}
        one_cpu = ResourceProfileBuilder().require(TaskResourceRequests().cpus(1)).build
        assert set(rdd.map(seen).with_resources(one_cpu).collect()) == {(1, Decimal(1))}
        two = ResourceProfileBuilder().require(TaskResourceRequests().cpus(2)).build
        with pytest.raises(ResourceError, match="each task asks for 2 CPUs but an executor "
                                                "of this application .* has 1"):
            rdd.with_resources(two).collect()
        executors = ResourceProfileBuilder().require(ExecutorResourceRequests().cores(4)).build
        with pytest.raises(ResourceError, match="asks for executors with cores: Vega runs "
                                                "every stage on the application's executors"):
            rdd.with_resources(executors).count()
        with pytest.raises(ResourceError, match="2 different resource profiles"):
            rdd.with_resources(one_cpu).map(str).with_resources(
                ResourceProfileBuilder().require(TaskResourceRequests().cpus(0.5)).build).count()
        assert rdd.map(seen).count() == 4  # nothing of that stays


def test_a_local_clusters_executor_holds_the_cores_its_workers_memory_leaves_idle():
    """local-cluster[1,2,1024] with 1 GiB executors (PySpark's
    TaskContextTestsWithFractionalCpus): one executor fits in the worker, and it holds both
    of its cores, as Spark's one executor per worker does: a stage whose profile asks 2 CPUs
    a task runs there, one task at a time (before, it was refused: the executor held 1);
    3 CPUs are refused, naming the 2 it has."""
    with Context("local-cluster[1,2,1024]", conf={"vega.task.cpus": "0.25"}) as ctx:
        rdd = ctx.parallelize(range(4), 2)

        def seen(_):
            return TaskContext.get().cpus(), os.environ["OMP_NUM_THREADS"]
        assert set(rdd.map(seen).collect()) == {(1, "1")}
        two = ResourceProfileBuilder().require(TaskResourceRequests().cpus(2)).build
        assert set(rdd.map(seen).with_resources(two).collect()) == {(2, "2")}
        three = ResourceProfileBuilder().require(TaskResourceRequests().cpus(3)).build
        with pytest.raises(ResourceError, match="each task asks for 3 CPUs but an executor "
                                                "of this application .* has 2"):
            rdd.with_resources(three).collect()
        assert len(ctx.backend.pool) == 1
        # Spark's REST API says the 2 cores too (its listener reads them off ExecutorAdded)
        cluster = ctx.backend.owned_cluster
        site, base = (cluster.webui_port, cluster.ca_file), f"/api/v1/applications/{ctx.backend.app_id}"
        app = api_get(site, base, cluster.token)[1]
        executors = api_get(site, base + "/executors", cluster.token)[1]
    assert (app["coresGranted"], app["coresPerExecutor"]) == (2, 2)
    assert [e["totalCores"] for e in executors if e["id"] != "driver"] == [2]


@pytest.mark.parametrize("master", ["local", "local[2]"])  # (a cluster's: the next test)
def test_local_tasks_share_out_the_drivers_gpus(tmp_path, master):
    conf = {"vega.driver.resource.gpu.amount": 2,
            "vega.driver.resource.gpu.discovery_script": gpus(tmp_path, "0", "1"),
            "vega.task.resource.gpu.amount": 1}
    with Context(master, conf=conf) as ctx:
        assert ctx.resources == {"gpu": ResourceInformation("gpu", ["0", "1"])}
        seen = ctx.parallelize(range(8), 8).map(
            lambda _: (os.getpid(), tuple(TaskContext.get().resources()["gpu"].addresses))
        ).collect()
    by_process = {}
    for pid, addresses in seen:
        by_process.setdefault(pid, set()).add(addresses)
    # each executor process has its own GPU (one task at a time each, as Spark's slots)
    assert sorted(a for held in by_process.values() for a in held) == \
        ([("0",)] if master == "local" else [("0",), ("1",)])


def test_a_local_clusters_executors_get_their_workers_gpus_cores_and_environment(tmp_path):
    conf = {"vega.worker.resource.gpu.amount": 1,
            "vega.worker.resource.gpu.discovery_script": gpus(tmp_path, "7"),
            "vega.executor.resource.gpu.amount": 1, "vega.task.resource.gpu.amount": 1,
            "vega.task.cpus": 2, "vega.executor.env.VEGA_TEST_VAR": "from the driver"}
    with Context("local-cluster[2,2,1024]", conf=conf) as ctx:
        seen = set(ctx.parallelize(range(6), 6).map(lambda _: (
            TaskContext.get().executor_id, TaskContext.get().cpus(),
            tuple(TaskContext.get().resources()["gpu"].addresses),
            os.environ["VEGA_TEST_VAR"], os.environ["OMP_NUM_THREADS"])).collect())
    # one 2-core executor per 2-core worker, each with its worker's one GPU
    assert seen == {("exec-1", 2, ("7",), "from the driver", "2"),
                    ("exec-2", 2, ("7",), "from the driver", "2")}


def test_a_local_clusters_workers_take_the_applications_resources_file(tmp_path):
    """PySpark's test_stage_sched sets spark.worker.resourcesFile for local-cluster's
    workers, which take the application's spark.worker.* settings, as Spark's local
    cluster gives them; before, the setting was ignored and the worker, with no discovery
    script for its GPUs, did not start."""
    from vega_runtime.pyspark_compat import SparkConf, SparkContext

    listed = resources_file(tmp_path, [
        {"id": {"componentName": "spark.worker", "resourceName": "gpu"},
         "addresses": ["3", "5"]}])
    conf = (SparkConf().setMaster("local-cluster[1,2,2048]")
            .set("spark.worker.resource.gpu.amount", "2").set("spark.worker.resourcesFile", listed)
            .set("spark.executor.resource.gpu.amount", "1").set("spark.task.resource.gpu.amount", "1"))
    sc = SparkContext(conf=conf)
    try:
        held = sc.parallelize(range(4), 4).map(lambda _: (
            time.sleep(0.2), TaskContext.get().executor_id,
            tuple(TaskContext.get().resources()["gpu"].addresses))[1:]).collect()
    finally:
        sc.stop()
    # two 1-core executors, each with one of the listed GPUs (the tasks' sleeps use both)
    assert sorted(set(held)) in ([("exec-1", ("3",)), ("exec-2", ("5",))],
                                 [("exec-1", ("5",)), ("exec-2", ("3",))])


def test_a_local_cluster_whose_worker_cannot_start_fails_at_once_saying_why():
    """A local cluster's worker that exits as it starts (here: to have a GPU it has no way
    to find) fails the Context at once with the worker's own words; before, the driver
    waited 60 s for executors and then told the user to start workers."""
    from vega_runtime.deploy.local_cluster import LocalClusterFailed

    started = time.monotonic()
    with pytest.raises(LocalClusterFailed) as failed:
        Context("local-cluster[1,1,1024]", conf={"vega.worker.resource.gpu.amount": 1})
    assert time.monotonic() - started < 30
    message = str(failed.value)
    assert message.startswith("local-cluster: the worker-1 exited with code 1: ")
    assert "the worker is to have 1 gpu (vega.worker.resource.gpu.amount) but has no " \
           "discovery script" in message


def test_executor_environment_reaches_local_executors():
    with Context("local[2]", conf={"vega.executor.env.VEGA_TEST_VAR": "x",
                                   "vega.executor.env.OMP_NUM_THREADS": "3"}) as ctx:
        assert set(ctx.parallelize(range(4), 4).map(
            lambda _: (os.environ["VEGA_TEST_VAR"], os.environ["OMP_NUM_THREADS"])).collect()) \
            == {("x", "3")}


def test_spark_context_environment_lists_the_executors_variables(monkeypatch):
    """PySpark's ``sc.environment``: ``environment=`` and ``spark.executorEnv.*``, and the
    hash seed the executors run with."""
    from vega_runtime.pyspark_compat import SparkConf, SparkContext

    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    conf = SparkConf().set("spark.executorEnv.FROM_CONF", "c")
    sc = SparkContext("local[2]", "env", environment={"FROM_ARG": 1}, conf=conf)
    try:
        assert sc.environment == {"FROM_ARG": "1", "FROM_CONF": "c", "PYTHONHASHSEED": "0"}
        assert sc.parallelize([0], 1).map(lambda _: os.environ["FROM_ARG"]).collect() == ["1"]
    finally:
        sc.stop()


@pytest.mark.parametrize("seed", ["4000000000", "4294967295"])
def test_a_ten_digit_hash_seed_is_the_executors_too(monkeypatch, seed):
    """A driver's PYTHONHASHSEED of ten digits (CPython takes 0 to 4294967295) is the one
    its executors run with; it was taken for "random" and became "0"."""
    from vega_runtime.pyspark_compat import SparkContext

    monkeypatch.setenv("PYTHONHASHSEED", seed)
    sc = SparkContext("local", "seed")
    try:
        assert sc.environment == {"PYTHONHASHSEED": seed}
    finally:
        sc.stop()


def test_tasks_asking_for_more_than_executors_have_are_refused_at_start(tmp_path):
    with pytest.raises(ResourceError, match="each task asks for 3 CPUs but this local\\[2\\] "
                                            "master \\(its driver\\) has 2"):
        Context("local[2]", conf={"vega.task.cpus": 3})
    with pytest.raises(ResourceError, match="each task asks for 1 gpu but each executor has 0: "
                                            "give executors gpu"):
        Context("local-cluster[1,1]", conf={"vega.task.resource.gpu.amount": 1})
    with pytest.raises(ResourceError, match="vega.cores.max \\(1\\) is less than the 2 cores each "
                                            "executor holds"):
        Context("local-cluster[1,2]", conf={"vega.task.cpus": 1.5, "vega.cores.max": 1})
