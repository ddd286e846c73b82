"""Ids from peers never become paths outside a work directory (issue 12, item 5).

A raw authenticated client plays a submitter, a driver and a worker against a real
master, and a fake master plays against a real worker, sending package, application,
driver and executor ids such as ``../../outside``.  Each is refused (the connection is
dropped as a protocol error, or answered "no such thing"), nothing appears outside the
work directories, and the daemons go on serving: a real job runs afterwards.
"""

import hashlib
import os
import queue
import re
import threading

import pytest

from vega_runtime import __version__, ids
from vega_runtime.errors import InvalidIdentifier
from vega_runtime.net.connection import Connection
from vega_runtime.net.framing import ConnectionClosed, ProtocolError
from vega_runtime.net.messages import (ApplicationEnded, DriverSubmitted, ExecutorExited,
                                       FetchPackage, FollowLogs, KillApplication, KillExecutor,
                                       LaunchExecutor, PackageQuery, RegisterApplication,
                                       RegisteredWorker, RegisterWorker, SubmitDriver,
                                       UploadPackage, WorkerHeartbeat, from_wire, to_wire)
from vega_runtime.net.server import Server
from vega_runtime.packaging import build_package, upload
from vega_runtime.versions import python_version

from proc_helpers import read_text, wait_for, write_job
from test_cluster_e2e import Cluster, vega

BAD_IDS = ["../../outside", "..", "../x", "a/b", "/etc/passwd", "", "app-20261203083328-0001/..",
           "app-20261203083328-0001\x00", "worker-20261203083328-h/../../x-1", "exec-1/../..",
           "A" * 64, "0" * 63, "0" * 64 + "/"]

SUM_JOB = """
    from vega_runtime import Context
    with Context() as ctx:
        print("SUM", ctx.parallelize([(i % 3, i) for i in range(30)], 3)
              .reduce_by_key(lambda a, b: a + b).values().sum())
"""


def app_request(app_id: str = "", package_sha: str = "") -> RegisterApplication:
    return RegisterApplication("intruder", "127.0.0.1", 1, 0, 0, 1 << 20, python_version(),
                               __version__, package_sha=package_sha, app_id=app_id)


def refused(conn: Connection) -> bool:
    """True when the peer closes the connection instead of answering."""
    try:
        conn.recv()
    except (ConnectionClosed, ProtocolError, OSError):
        return True
    finally:
        conn.close()
    return False


def tree(root: str) -> set:
    """Every path under ``root``, relative to it."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


# -- message decoding -------------------------------------------------------------------------

@pytest.mark.parametrize("message, field", [
    (FetchPackage("0" * 64), "sha256"), (PackageQuery("0" * 64), "sha256"),
    (UploadPackage("0" * 64, 0), "sha256"),
    (SubmitDriver("n", "job/x.py", [], "{}", "0" * 64, False), "package_sha"),
    (app_request(), "app_id"), (app_request(), "package_sha"), (app_request(), "hash_seed"),
    (FollowLogs("app-20261203083328-0001", False), "app_id"),
    (KillApplication("driver-20261203083328-0001"), "app_id"),
    (DriverSubmitted("driver-20261203083328-0001"), "driver_id"),
    (LaunchExecutor("app-20261203083328-0001", "exec-1", 1, 1, "h", 1), "app_id"),
    (LaunchExecutor("app-20261203083328-0001", "exec-1", 1, 1, "h", 1), "executor_id"),
    (LaunchExecutor("app-20261203083328-0001", "exec-1", 1, 1, "h", 1), "package_sha"),
    (KillExecutor("app-20261203083328-0001", "exec-1"), "executor_id"),
    (ApplicationEnded("app-20261203083328-0001"), "app_id"),
    (ExecutorExited("app-20261203083328-0001", "exec-1", 0, ""), "app_id"),
    (WorkerHeartbeat("worker-20261203083328-10.0.0.7-40123"), "worker_id"),
])
def test_messages_refuse_malformed_ids_as_protocol_errors(message, field):
    """Every id field refuses paths, separators, NULs and wrong forms when decoded."""
    wire = to_wire(message)
    assert from_wire(dict(wire)) == message  # the valid id (or the allowed "") decodes
    for bad in BAD_IDS:
        if bad == "" and getattr(message, field) == "":
            continue  # an optional field: "" means none
        with pytest.raises(ProtocolError, match=f"field {field!r} is not a"):
            from_wire(dict(wire, **{field: bad}))


def test_an_application_asks_for_a_fixed_hash_seed_only():
    """The hash seed becomes the executors' PYTHONHASHSEED: "random" would give each one its
    own (keys shuffled to different partitions), and what Python refuses would fail them."""
    wire = to_wire(app_request())
    for good in ("4242", "4000000000", "4294967295", "0999999999"):
        assert from_wire(dict(wire, hash_seed=good)).hash_seed == good
    for bad in ("random", "-1", "1e3", "9999999999", "4294967296", "4300000000", "0 ", ""):
        with pytest.raises(ProtocolError, match="field 'hash_seed' is not a hash seed"):
            from_wire(dict(wire, hash_seed=bad))


def test_a_reconnecting_worker_lists_only_well_formed_executors():
    """RegisterWorker.executors holds [app_id, executor_id] pairs, each id of its form."""
    register = RegisterWorker("worker-20261203083328-10.0.0.7-40123", "10.0.0.7", 1, 1, 1, [],
                              python_version(), __version__, 1,
                              [["app-20261203083328-0001", "exec-1"]])
    assert from_wire(to_wire(register)) == register
    for bad in ([["../../escape", "exec-1"]], [["app-20261203083328-0001", "exec-1/.."]],
                [["app-20261203083328-0001"]], [["app-20261203083328-0001", "exec-1", "x"]]):
        with pytest.raises(ProtocolError, match="field 'executors'"):
            from_wire(dict(to_wire(register), executors=bad))


def test_id_patterns_accept_what_vega_generates():
    """The ids masters, workers, contexts and hashlib make all match their pattern."""
    assert ids.PACKAGE.check(hashlib.sha256(b"x").hexdigest())
    for app_id in ("app-20261203083328-0001", "app-20261203083328-12345", "app-20261203083328-bf9a"):
        assert ids.APP.matches(app_id) and ids.APP_OR_DRIVER.matches(app_id)
    assert ids.DRIVER.matches("driver-20261203083328-0001")
    assert ids.EXECUTOR.matches("exec-1") and ids.EXECUTOR.matches("exec-1000")
    for host in ("127.0.0.1", "::1", "fe80::1%eth0", "node-7.example.com"):
        assert ids.WORKER.matches(f"worker-20261203083328-{host}-40123"), host
    with pytest.raises(InvalidIdentifier, match="is not a package id"):
        ids.PACKAGE.check("../../outside")


# -- a real master ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("idcluster"))
    try:
        running.start_worker("worker-a")
        yield running
    finally:
        running.stop()


def test_master_refuses_package_ids_that_are_paths(cluster):
    """FetchPackage("../../outside"), PackageQuery and UploadPackage with bad ids are dropped."""
    root = cluster.root
    secret_zip = os.path.join(root, "outside.zip")  # where packages/../../outside.zip points
    with open(secret_zip, "wb") as fh:
        fh.write(b"not for peers")
    before = tree(root)
    for message in (FetchPackage("../../outside"), FetchPackage("../master.token"),
                    PackageQuery("../../outside"), PackageQuery("0" * 64 + "/../../outside"),
                    UploadPackage("../../evil", 2), UploadPackage("../" * 3 + "evil", 0),
                    UploadPackage(hashlib.sha256(b"PK").hexdigest().upper(), 2)):
        conn = Connection.connect("127.0.0.1", cluster.port, cluster.secret)
        conn.send(message)
        assert refused(conn), message
    created = {p for p in tree(root) - before
               if not p.startswith(("master" + os.sep, "worker-a" + os.sep))}
    assert created == set(), created
    assert not any("evil" in p or "outside" in p for p in tree(cluster.master_dir))
    assert re.search(r"field 'sha256' is not a package id: '\.\./\.\./outside'",
                     read_text(cluster.master_log))


def test_master_refuses_application_and_driver_ids_that_are_paths(cluster, tmp_path):
    """RegisterApplication/FollowLogs/KillApplication with '/' or '..' are dropped; nothing is
    created outside the work dirs; a real job runs afterwards."""
    root = cluster.root
    before = tree(root)
    attacks = [app_request(app_id="../../escape"), app_request(app_id="app-1/../../escape"),
               app_request(package_sha="../../outside"), FollowLogs("../../outside", False),
               FollowLogs("../recovery", True), KillApplication("../../escape"),
               SubmitDriver("n", "job/x.py", [], "{}", "../../outside", False)]
    for message in attacks:
        conn = Connection.connect("127.0.0.1", cluster.port, cluster.secret)
        conn.send(message)
        assert refused(conn), message
    created = {p for p in tree(root) - before if not p.startswith(("master" + os.sep, "worker-a" + os.sep))}
    assert created == set(), created
    assert not os.path.exists(os.path.join(root, "escape"))
    assert not any(name.startswith("..") or "escape" in name
                   for name in tree(os.path.join(root, "master")))
    assert {a["name"] for a in cluster.status()["applications"]} <= {"sum"}  # none registered
    # (the log read "is not a application id")
    assert "bad KillApplication: field 'app_id' is not an application or driver id: " \
        "'../../escape'" in read_text(cluster.master_log)

    job = write_job(tmp_path, "sum.py", SUM_JOB)
    result = cluster.submit("--name", "sum", job)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SUM 435" in result.stdout


def _uploaded_package(cluster, tmp_path):
    """The package of a job ``inside.py``, uploaded to ``cluster``'s master."""
    package = build_package(write_job(tmp_path, "inside.py", SUM_JOB), [], [],
                            str(tmp_path / "package"))
    conn = Connection.connect("127.0.0.1", cluster.port, cluster.secret)
    try:
        upload(conn, package)
    finally:
        conn.close()
    return package


def test_cluster_mode_driver_runs_only_a_job_file_inside_its_package(cluster, tmp_path):
    """SubmitDriver naming a job file outside its (valid) package: the driver fails saying so,
    and the file outside is not run."""
    marker = tmp_path / "ran"
    outside = write_job(cluster.root, "outside.py", f"open({str(marker)!r}, 'w').close()\n")
    package = _uploaded_package(cluster, tmp_path)
    escape = os.path.relpath(outside, os.path.join(cluster.master_dir, "packages", package.sha256))
    conn = Connection.connect("127.0.0.1", cluster.port, cluster.secret)
    try:
        conn.send(SubmitDriver("escape", escape, [], "{}", package.sha256, False))
        driver_id = conn.recv().driver_id
    finally:
        conn.close()

    def ended():
        drivers = {d["id"]: d for d in cluster.status().get("drivers", [])}
        return drivers.get(driver_id, {}).get("state") in ("failed", "finished") and drivers[driver_id]

    assert wait_for(ended, 30, "the driver to end")["state"] == "failed"
    assert "is not in its package" in read_text(cluster.master_log)
    assert not marker.exists()
    # vega status DRIVER_ID says why, in Spark's word for a driver that could not be started
    shown = vega("status", "--master", cluster.url, "--secret-file", cluster.secret_file,
                 driver_id)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^state\s+ERROR$", shown.stdout, re.M), shown.stdout
    assert re.search(rf"^error\s+its job file {re.escape(repr(escape))} is not in its package$",
                     shown.stdout, re.M), shown.stdout


def test_cluster_mode_submissions_the_master_cannot_run_are_refused_at_once(cluster, tmp_path):
    """SubmitDriver whose settings are not a JSON object, or whose name, job file or
    arguments hold NUL (no file name or argument can): the submitter's connection is
    dropped as a protocol error saying why, no driver is listed, and the master logs no
    traceback. Before, each was answered DriverSubmitted, its thread died with a traceback
    (JSONDecodeError, AttributeError, ValueError: embedded null byte) and the driver stayed
    "submitted" for ever in vega status."""
    package = _uploaded_package(cluster, tmp_path)
    job_file = os.path.join("job", "inside.py")
    drivers_before = [d["id"] for d in cluster.status().get("drivers", [])]
    submissions = [
        (SubmitDriver("n", job_file, [], "not json", package.sha256, False),
         "its conf_json is not JSON"),
        (SubmitDriver("n", job_file, [], "[1]", package.sha256, False),
         "its conf_json is not a JSON object of settings"),
        (SubmitDriver("n", job_file, ["a\0b"], "{}", package.sha256, False),
         "it holds a NUL character"),
        (SubmitDriver("n\0m", job_file, [], "{}", package.sha256, False),
         "it holds a NUL character"),
        (SubmitDriver("n", job_file + "\0.py", [], "{}", package.sha256, False),
         "it holds a NUL character"),
        (SubmitDriver("n", job_file, [], '{"vega.task.max_attempts\\u0000": 1}',
                      package.sha256, False), "it holds a NUL character")]
    for message, _ in submissions:
        conn = Connection.connect("127.0.0.1", cluster.port, cluster.secret)
        conn.send(message)
        assert refused(conn), message
    assert [d["id"] for d in cluster.status().get("drivers", [])] == drivers_before
    log_text = read_text(cluster.master_log)
    assert "Traceback" not in log_text, log_text[log_text.index("Traceback") - 300:][:2000]
    refusals = re.findall(r"master: dropped 127\.0\.0\.1:\d+: bad SubmitDriver: (.*)", log_text)
    assert [r.split(" (")[0] for r in refusals[-len(submissions):]] == \
        [reason for _, reason in submissions]


def test_vega_logs_and_kill_refuse_malformed_ids_before_asking(cluster):
    """`vega logs ../x` says that is no application id, exit 2 (a usage error, as `vega status
    ../x`), and the master is not bothered."""
    for command in ("logs", "kill", "status"):
        result = vega(command, "--master", cluster.url, "--secret-file", cluster.secret_file,
                      "../../outside")
        assert result.returncode == 2, result.stderr
        assert "'../../outside' is no application or driver id" in result.stderr


# -- a fake master against a real worker ------------------------------------------------------------

def test_worker_refuses_launch_and_kill_orders_with_path_ids(tmp_path):
    """LaunchExecutor/KillExecutor/ApplicationEnded with path ids from the master: the worker
    drops that session, creates nothing outside its work dir and registers again."""
    cluster = Cluster(tmp_path / "fake")  # for its secret and process handling
    orders = [LaunchExecutor("../../escape", "exec-1", 1, 1 << 20, "127.0.0.1", 1),
              LaunchExecutor("app-20261203083328-0001", "../../escape", 1, 1 << 20, "127.0.0.1", 1),
              LaunchExecutor("app-20261203083328-0001", "exec-1", 1, 1 << 20, "127.0.0.1", 1,
                             package_sha="../../outside"),
              KillExecutor("../../escape", "exec-1"), ApplicationEnded("../..")]
    registrations: "queue.Queue" = queue.Queue()
    pending = list(orders)
    lock = threading.Lock()

    def play_master(conn: Connection) -> None:
        register = conn.recv()
        assert isinstance(register, RegisterWorker)
        conn.send(RegisteredWorker(__version__))
        with lock:
            order = pending.pop(0) if pending else None
        registrations.put(order)
        if order is not None:
            conn.send(order)
        try:
            while True:
                conn.recv()  # the worker drops us after a bad order; heartbeats otherwise
        except (ConnectionClosed, ProtocolError, OSError):
            pass

    fake = Server("127.0.0.1", 0, cluster.secret, play_master, "fake-master").start()
    try:
        fake_url = f"vega://127.0.0.1:{fake.port}"
        cluster.url = fake_url
        worker = cluster.start_worker("worker-x", wait=False)
        for _ in range(len(orders) + 1):  # each bad order ends a session; then one more
            registrations.get(timeout=60)
        assert worker.poll() is None, read_text(worker.log_path)[-2000:]
        log_text = read_text(worker.log_path)
        assert "is not a" in log_text and "Traceback" not in log_text, log_text[-3000:]
        outside = tree(str(tmp_path)) - {p for p in tree(str(tmp_path))
                                         if p.startswith(("fake" + os.sep + "worker-x",
                                                          "fake" + os.sep + "master"))}
        assert not any("escape" in p or "outside" in p for p in outside), outside
        assert not any("escape" in p for p in tree(worker.work_dir))
    finally:
        cluster.stop()
        fake.stop()
