"""Shared fixtures.

``ctx`` is the heart of the suite: every RDD test runs once per master kind
(``local``: inline, deterministic; ``local[2]``: forked executor processes),
so the same behaviour is checked on every code path.  The cluster runtime
adds ``local-cluster[2,1]`` and ``multi-host``: a real ``vega master`` with two ``vega
worker``s on different loopback addresses, so executors fetch each other's shuffle blocks
through the workers' shuffle services, as across hosts.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from types import SimpleNamespace

import pytest
import setproctitle

import head_start
from proc_helpers import (clean_env, kill_group, read_text, spawn_vega, stop_processes,
                          wait_for)

from vega_runtime import Context

MASTERS = ["local", "local[2]", "local-cluster[2,1]", "multi-host"]
#: the multi-host cluster: the master (and the driver) on 127.0.0.1, a worker on each of these
MULTI_HOST_WORKERS = ("127.0.0.2", "127.0.0.3")
#: the suite's local clusters ask for executors as Spark's dynamic allocation does
LOCAL_CLUSTER_CONF = {"vega.dynamic_allocation.enabled": True,
                      "vega.dynamic_allocation.initial_executors": 2}

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The suite's processes keep their temporary files in one directory that goes at the end,
# so $TMPDIR is left as it was found even after tests that SIGKILL drivers and daemons
# (tests/test_no_leftovers.py checks that Vega itself leaves nothing there). This process's
# own temporary directory stays the real one: pytest's tmp_path lives there.
REAL_TMP_BEFORE = set(os.listdir(tempfile.gettempdir()))
#: the variable naming the event log directory the suite chose (not one the user set)
SUITE_EVENTS = "TESTS_SUITE_EVENTLOG_DIR"
# A suite started in the background by a shell without job control (`make test &`) inherits
# SIGINT ignored, and so would every process it starts: the tests that press Ctrl-C
# (SIGINT) on `vega submit`, the shell or a server would wait in vain.  Processes started
# from here get the default disposition back (a handler is reset to it at exec).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# setproctitle finds the room for a title (argv and the environment after it) at its first
# call, and finds none if a variable at the start of the environment was changed before:
# processes forked from this one (a local cluster's fork server) would show pytest's
# command line, not their own. So it looks now, before TMPDIR (set by CI, often the first
# variable) changes below.
setproctitle.getproctitle()
# Run in processes of their own (`make test`: pytest-xdist), the suite's workers each have a
# SUITE_TMP of their own beside the controlling process's, which outlives them and holds
# what workers share (head_start's runs, which one worker may begin and another take).
# (Beside, not inside: a path longer by a directory wraps in tables the tests read.)
SHARED_TMP = os.environ.get(head_start.SHARED_TMP) if os.environ.get("PYTEST_XDIST_WORKER") \
    else None
SUITE_TMP = tempfile.mkdtemp(prefix="vega-tests-",
                             dir=os.path.dirname(SHARED_TMP) if SHARED_TMP else None)
atexit.register(shutil.rmtree, SUITE_TMP, ignore_errors=True)
os.environ["TMPDIR"] = SUITE_TMP
os.environ.setdefault(head_start.SHARED_TMP, SUITE_TMP)
# Event logs of the suite's applications go to a throwaway directory, not ~/.vega/events,
# one per worker (two workers' applications could take the same id: local-<milliseconds>).
if os.environ.get("VEGA_EVENTLOG_DIR", "") in ("", os.environ.get(SUITE_EVENTS, "")):
    os.environ["VEGA_EVENTLOG_DIR"] = os.environ[SUITE_EVENTS] = os.path.join(SUITE_TMP, "events")
# The suite's Vega home: a secret a test creates by default lands here, not in ~/.vega,
# and no test sees a secret the machine's user happens to have.
os.environ["VEGA_CONF_DIR"] = os.path.join(SUITE_TMP, "conf")
os.makedirs(os.environ["VEGA_CONF_DIR"])
shutil.copy(os.path.join(REPO, "conf", "vega-defaults.yaml"), os.environ["VEGA_CONF_DIR"])
# PySpark's JVMs (the reference runs: tests/head_start.py) compile with C1 only and collect
# garbage on one thread: a small job's JVM then takes ~12 s of CPU, not ~21 (its C2
# compiler's threads), on the 2 cores the tests share; a setting of the caller's wins.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(scope="session")
def multi_host_cluster():
    """A real ``vega master`` on 127.0.0.1 and a ``vega worker`` (1 core, 1g) on each of
    MULTI_HOST_WORKERS, with a cluster secret, for the whole session: (url, secret file)."""
    from vega_runtime.net.connection import create_secret_file

    root = tempfile.mkdtemp(prefix="multi-host-", dir=SUITE_TMP)
    secret = os.path.join(root, "secret")
    create_secret_file(secret)
    procs = []
    # The tests' modules are deployed on every host, as a user's installed modules would be
    # (functions and classes of an importable module are pickled by reference).
    env = clean_env(PYTHONPATH=os.pathsep.join([REPO, os.path.join(REPO, "tests")]))

    def spawn(name, *args):
        with open(os.path.join(root, f"{name}.out"), "wb") as out:
            procs.append(spawn_vega(*args, "--work-dir", os.path.join(root, name),
                                    "--secret-file", secret, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True))
        return procs[-1]

    def started(proc, name, done):
        assert proc.poll() is None, read_text(os.path.join(root, f"{name}.out"))
        return done()

    try:
        ready = os.path.join(root, "master.ready")
        master = spawn("master", "master", "--host", "127.0.0.1", "--port", "0",
                       "--webui-port", "0", "--ready-file", ready)
        wait_for(lambda: started(master, "master", lambda: os.path.exists(ready)), 60,
                 "the master's ready file")
        with open(ready) as fh:
            url = f"vega://127.0.0.1:{json.load(fh)['port']}"
        for host in MULTI_HOST_WORKERS:
            name = f"worker-{host}"
            log = os.path.join(root, name, "worker.log")
            worker = spawn(name, "worker", url, "--host", host, "--cores", "1",
                           "--memory", "1g", "--port", "0", "--webui-port", "0")
            wait_for(lambda: started(worker, name, lambda: "registered with master"
                                     in read_text(log)), 60, f"the worker on {host} to register")
        yield url, secret
    finally:
        stop_processes(procs, root)  # executors too: every argv names a directory under root
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", params=MASTERS)
def ctx(request):
    """A Context per master kind, shared by a module's tests (startup is not free).
    ``local-cluster`` runs with dynamic allocation on (it starts with every core)."""
    conf = LOCAL_CLUSTER_CONF if request.param.startswith("local-cluster") else {}
    master = request.param
    if master == "multi-host":
        master, secret = request.getfixturevalue("multi_host_cluster")
        conf = {"vega.secret.file": secret}
    context = Context(master=master, app_name="tests", conf=conf)
    yield context
    context.stop()


@pytest.fixture
def fresh_ctx(request):
    """A Context of one's own, for tests that change settings or stop it."""
    contexts = []

    def make(master="local[2]", **kwargs):
        context = Context(master=master, app_name="tests", **kwargs)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.stop()


@pytest.fixture
def vega_cli():
    """Run the ``vega`` command as a user would: a real process, from the repo root."""
    import subprocess

    def run(*args, input=None, env=None, timeout=120, cwd=REPO):
        full_env = dict(os.environ)
        full_env.pop("VEGA_MASTER", None)
        full_env.update(env or {})
        return subprocess.run([sys.executable, "-m", "vega_cli.main", *args], cwd=cwd,
                              input=input, capture_output=True, text=True, env=full_env,
                              timeout=timeout)

    return run


@pytest.fixture
def bare_master(tmp_path):
    """A real ``vega master`` without a cluster secret (loopback only, a random token) that
    also answers to the name vega.test, with an event log directory the test fills."""
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy(os.path.join(REPO, "conf", "vega-defaults.yaml"), conf)
    events, work_dir, ready = tmp_path / "events", tmp_path / "master", tmp_path / "ready"
    events.mkdir()
    log = open(tmp_path / "master.out", "wb")
    proc = spawn_vega("master", "--no-secret", "--host", "127.0.0.1", "--port", "0",
                      "--webui-port", "0", "--work-dir", str(work_dir), "--event-log-dir", str(events),
                      "--ready-file", str(ready), "--ui-allowed-hosts", "vega.test",
                      env=clean_env(VEGA_CONF_DIR=str(conf)), stdin=subprocess.DEVNULL,
                      stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, 60, "the master to start")
        assert proc.poll() is None, read_text(str(tmp_path / "master.out"))
        ports = json.loads(ready.read_text())
        token = (work_dir / "master.token").read_text().strip()
        yield SimpleNamespace(port=ports["webui_port"], token=token, work_dir=work_dir,
                              ca_file=str(work_dir / "ca.pem"),
                              events=events, url=f"vega://127.0.0.1:{ports['port']}",
                              env=clean_env(VEGA_CONF_DIR=str(conf)))
    finally:
        kill_group(proc)
        log.close()


def pytest_terminal_summary(terminalreporter):
    """Name anything the suite's own process left in $TMPDIR (pytest's directories aside)."""
    left = sorted(set(os.listdir(tempfile.gettempdir())) - REAL_TMP_BEFORE
                  - {os.path.basename(SUITE_TMP)})
    left = [name for name in left if not name.startswith(("pytest-of-", "vega-tests-"))]
    if left:
        terminalreporter.write_line(f"left in {tempfile.gettempdir()}: {', '.join(left)}",
                                    yellow=True)


# -- test layers: pytest -m unit | integration | system ----------------------------------------

#: pure tests (state machines, parsing, the scheduler): milliseconds each, no process started
UNIT_FILES = frozenset({
    "test_layers.py", "test_config.py", "test_cluster_file.py", "test_master_state.py",
    "test_master_state_drivers.py",
    "test_worker_state.py", "test_scheduler_dag.py", "test_protocol.py", "test_outbox.py",
    "test_webhdfs_namespace.py", "test_webhdfs_errors.py", "test_app_events.py",
    "test_slurm_allocation.py", "test_executor_pool.py", "test_records.py",
    "test_lambda_fusion_unit.py", "test_heartbeat_receiver.py", "test_barrier_scheduling.py",
    "test_docs.py", "test_address_sharing.py", "test_bzip2_splits.py", "test_suite_groups.py",
    "test_driver_clocks.py", "test_scheduler_killed_tasks.py",
})
#: tests that need a system around Vega: sshd, network namespaces, Chromium, Prometheus, PySpark,
#: root (to mount a small tmpfs), libfaketime
SYSTEM_FILES = frozenset({
    "test_start_cluster.py", "test_start_cluster_netns.py", "test_sshd_hosts.py",
    "test_ssh_host_keys.py", "test_remote_hosts.py", "test_network_partition.py",
    "test_web_ui_browser.py",
    "test_prometheus_scrape.py", "test_pyspark_unit_tests.py", "test_spark_examples.py",
    "test_slurm.py", "test_k8s_pods.py", "test_disk_full.py", "test_network_faults.py",
    "test_pyspark_doctests.py", "test_fuzz_rdd_vs_pyspark.py", "test_pyspark_sequence_files.py",
    "test_host_names_netns.py", "test_recovered_drivers_netns.py", "test_pyspark_codecs.py",
    "test_pyspark_bzip2.py", "test_pyspark_hadoop_files.py", "test_pyspark_text_splits.py",
    "test_bootstrap_master_netns.py", "test_cluster_partial_failures_netns.py",
    "test_skewed_clocks.py",
})


def layer_of_test(item) -> str:
    """``unit`` for the doctests and UNIT_FILES, ``system`` for SYSTEM_FILES, else
    ``integration`` (processes on loopback)."""
    name = os.path.basename(str(item.fspath))
    if isinstance(item, pytest.DoctestItem) or name in UNIT_FILES:
        return "unit"
    return "system" if name in SYSTEM_FILES else "integration"


def pytest_collection_finish(session):
    """Begin the long reference runs of the modules collected (``head_start``)."""
    head_start.begin(session)


#: files whose tests use this machine's network namespaces (by name), sshd, Slurm's daemons,
#: iptables or mounts: under `make test`'s workers (pytest-xdist) one worker runs them all,
#: one after another
HOST_FILES = frozenset({
    "test_start_cluster.py", "test_start_cluster_netns.py", "test_sshd_hosts.py",
    "test_ssh_host_keys.py", "test_remote_hosts.py", "test_network_partition.py",
    "test_slurm.py", "test_k8s_pods.py", "test_disk_full.py", "test_network_faults.py",
    "test_host_names_netns.py", "test_recovered_drivers_netns.py", "test_caching.py",
    "test_cluster_file_changes.py", "test_bootstrap_master_netns.py",
    "test_cluster_partial_failures_netns.py",
})


def worker_group(path: str) -> str:
    """The tests one worker runs together: a file's (its module-wide fixtures start once),
    or all the HOST_FILES'."""
    return "hosts" if os.path.basename(path) in HOST_FILES else path


def schedule_rank(item) -> int:
    """When a file's tests start, under workers: the longest group first, so that the other
    worker has the rest to share; PySpark's comparisons late, once the runs they take
    (``head_start``) are done; the unit tests (milliseconds) last, filling the end."""
    if worker_group(str(item.fspath)) == "hosts":
        return 0
    return {"integration": 1, "system": 2, "unit": 3}[layer_of_test(item)]


def pytest_collection_modifyitems(config, items):
    """Mark every test with its layer (markers registered in setup.cfg) and order the files
    for the workers (a stable sort: a file's tests keep their order)."""
    for item in items:
        item.add_marker(getattr(pytest.mark, layer_of_test(item)))
    items.sort(key=schedule_rank)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist hands the workers whole groups (``worker_group``), in the order of the
    collection (``schedule_rank``), each to the first worker free."""
    from xdist.scheduler import LoadScopeScheduling

    class FileGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid.split("::", 1)[0])

    config.option.loadscopereorder = False  # (it would order the groups by their size)
    return FileGroups(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_report_to_serializable(config, report):
    """A report as a worker sends it, with lone surrogates (text that was not UTF-8, which
    tests/test_non_utf8_text.py prints) escaped: pytest-xdist's channel refuses them, and
    its worker would end."""
    outcome = yield
    outcome.force_result(_escaped(outcome.get_result()))


def _escaped(data):
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return data.encode("utf-8", "backslashreplace").decode("utf-8")
    elif isinstance(data, dict):
        return {key: _escaped(value) for key, value in data.items()}
    elif isinstance(data, (list, tuple)):
        return type(data)(_escaped(value) for value in data)
    return data


#: {group: the workers that ran its tests}, gathered by the controlling process
WORKERS_OF_GROUP = pytest.StashKey[dict]()


def pytest_runtest_logreport(report):
    """Under workers, note which worker ran each group's test (``report.node``: pytest-xdist
    names the worker in the controlling process's reports)."""
    node = getattr(report, "node", None)
    if node is not None and report.when == "call":
        workers = node.config.stash.setdefault(WORKERS_OF_GROUP, {})
        workers.setdefault(worker_group(report.nodeid.split("::", 1)[0]), set()).add(
            node.gateway.id)


def pytest_sessionfinish(session):
    head_start.end(session)
    split = {group: sorted(ids) for group, ids in
             session.config.stash.get(WORKERS_OF_GROUP, {}).items() if len(ids) > 1}
    if split:  # (pytest-xdist's own --dist loadgroup stopped grouping under pytest 9.2)
        session.config.get_terminal_writer().line(
            f"tests of one group ran in several workers: {split}; the scheduler of "
            "tests/conftest.py no longer holds with this pytest-xdist", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
