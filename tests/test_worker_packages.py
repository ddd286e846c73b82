"""Job packages a worker will not use: refused with a clear error, the worker unharmed."""

import io
import os
import shutil
import threading
import zipfile

import pytest

from vega_runtime import Context, __version__, packaging
from vega_runtime.errors import BadPackage
from vega_runtime.executor_loss import binary_size
from vega_runtime.net.connection import Connection
from vega_runtime.net.messages import ExecutorRemoved, RegisterApplication, RegisteredApplication
from vega_runtime.errors import ExecutorsCannotStart
from vega_runtime.versions import python_version

from proc_helpers import errors_of_threads, read_text, wait_for
from test_archive_attacks import overlapping_zip
from test_cluster_e2e import WHERE_JOB, Cluster, expected_pairs, line_value, write_job


def zipped(members) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_package_that_is_not_a_zip_is_refused_and_leaves_nothing(tmp_path):
    """Not a zip: BadPackage saying so; no directory, no staging left behind."""
    with pytest.raises(BadPackage, match="not a zip archive"):
        packaging.extract(b"not a zip at all", str(tmp_path / "pkg"))
    assert os.listdir(tmp_path) == []


def test_a_package_past_the_compression_ratio_is_refused(tmp_path):
    """A zip bomb (64 MiB of zeros in a few KiB) is refused before anything is written."""
    bomb = zipped({"job/zeros.bin": bytes(64 << 20)})
    assert len(bomb) * packaging.MAX_COMPRESSION_RATIO < 64 << 20
    with pytest.raises(BadPackage, match="MAX_COMPRESSION_RATIO"):
        packaging.extract(bomb, str(tmp_path / "pkg"))
    assert os.listdir(tmp_path) == []


def test_a_package_of_overlapping_entries_is_held_to_the_ratio_by_its_size(tmp_path):
    """A 9 KB zip whose 100 entries share one deflated kernel, 10 MB unpacked: the ratio
    was taken over the entries' compressed sizes (214 KB, the shared bytes counted once
    per entry), so it unpacked; now over the package's own size."""
    path = overlapping_zip(tmp_path / "overlap.zip", 100, 100_000)
    with open(path, "rb") as fh:
        data = fh.read()
    os.remove(path)
    with pytest.raises(BadPackage) as refused:
        packaging.extract(data, str(tmp_path / "pkg"))
    assert str(refused.value) == (
        f"the job package cannot be used: it would unpack {len(data)} bytes into 10178200 or "
        "more, a ratio past 100:1 (packaging.MAX_COMPRESSION_RATIO)")
    assert os.listdir(tmp_path) == []


def test_a_package_past_the_free_space_is_refused(tmp_path):
    """A package that would not fit where it is unpacked (its size past the free space
    of this very directory) is refused naming the directory, the figures and what to do;
    there is no fixed limit below that (it was 1 GiB, packaging.MAX_EXTRACTED_BYTES)."""
    free = shutil.disk_usage(tmp_path).free
    problem = packaging.space_problem(free + (1 << 40), str(tmp_path))
    assert problem.startswith(f"its {binary_size(free + (1 << 40))} would not fit in "
                              f"{tmp_path}, which has ")
    assert problem.endswith(" free; free space there or give this daemon another work dir, "
                            "or leave large data out of --py-files, --files and --archives "
                            "and read it from storage")
    assert packaging.space_problem(free // 2, str(tmp_path)) is None
    assert os.listdir(tmp_path) == []


def test_a_package_member_escaping_its_directory_is_refused(tmp_path):
    with pytest.raises(BadPackage, match="escapes"):
        packaging.extract(zipped({"../evil.py": b"x"}), str(tmp_path / "pkg"))
    assert os.listdir(tmp_path) == []


def test_a_good_package_is_extracted(tmp_path):
    packaging.extract(zipped({"job/j.py": b"print(1)", "files/small.txt": bytes(10_000)}),
                      str(tmp_path / "pkg"))
    assert (tmp_path / "pkg" / "job" / "j.py").read_bytes() == b"print(1)"


def test_threads_extracting_one_package_at_once_all_get_it(tmp_path):
    """A worker starting two executors of a job fetches its package in two threads at once:
    each gets the whole package and nothing else is left (they shared one staging
    directory, and one failed with 'File exists: .../packages/SHA.tmp-PID/job', so
    local-cluster[1,2] warned 'executor exec-1 could not start')."""
    data = zipped({f"job/m{i}.py": b"x = 1\n" * 100 for i in range(20)})
    for round_ in range(20):
        target = str(tmp_path / f"pkg{round_}")
        start = threading.Barrier(4)

        def extract():
            start.wait()
            packaging.extract(data, target)

        assert errors_of_threads(extract, 4) == []
        assert sorted(os.listdir(os.path.join(target, "job"))) == sorted(
            f"m{i}.py" for i in range(20))
    assert sorted(os.listdir(tmp_path)) == sorted(f"pkg{i}" for i in range(20))


HELD_JOB = """
    import os, sys, time
    from vega_runtime import Context

    with Context() as ctx:
        print("FIRST", ctx.parallelize(range(10), 1).sum(), flush=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        print("SECOND", ctx.parallelize(range(10), 1).map(lambda x: x * 2).sum(), flush=True)
"""


@pytest.fixture
def cluster(tmp_path):
    """A master and one worker with 2 cores, for two applications at once."""
    own = Cluster(tmp_path / "cluster")
    try:
        own.worker = own.start_worker("worker-p", args=("--cores", "2", "--memory", "4g",
                                                        "--webui-port", "0"))
        yield own
    finally:
        own.stop()


def test_a_bad_package_fails_its_application_only(cluster, tmp_path, caplog):
    """An application whose package is not a zip fails with ExecutorsCannotStart naming the
    problem; the worker keeps its registration and another application's executor runs on.
    The driver's log says the master ended it, not that the master 'did not come back
    within 60s' (which it said at once)."""
    worker = cluster.worker
    release = tmp_path / "release"
    held = cluster.spawn_driver("--total-executor-cores", "1",
                                write_job(tmp_path, "held.py", HELD_JOB), str(release))
    wait_for(lambda: held.poll() is not None or "FIRST 45\n" in held.lines, 60,
             "the held application's first job")
    assert held.poll() is None, "".join(held.err)

    bad = tmp_path / "bad-package.zip"
    bad.write_bytes(b"this is not a zip")
    ctx = Context(master=cluster.url, app_name="bad-package",
                  conf={"vega.submit.package": str(bad), "vega.secret.file": cluster.secret_file})
    try:
        with pytest.raises(ExecutorsCannotStart, match="not a zip archive"):
            ctx.parallelize([1]).count()
        app_id = ctx.backend.app_id
    finally:
        ctx.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"
              and r.name == "vega_runtime.scheduler.master_client"]
    assert errors == [f"the master did not resume application {app_id}: application {app_id} "
                      "has failed"]

    release.write_text("")
    assert held.wait(60) == 0, "".join(held.err)
    assert "SECOND 90\n" in held.lines
    assert worker.poll() is None
    assert cluster.worker_states() == {worker.worker_id: "alive"}
    assert read_text(worker.log_path).count("registered with master") == 1


def test_a_package_the_master_lacks_fails_the_launch_with_a_reason_for_the_driver(cluster,
                                                                                    tmp_path):
    """An application naming a package the master does not have (played here by a raw
    driver connection): each executor launch fails, the driver hears why in ExecutorRemoved,
    the worker keeps its master session, and a real job runs afterwards."""
    worker = cluster.worker
    driver = Connection.connect("127.0.0.1", cluster.port, cluster.secret)
    try:
        driver.send(RegisterApplication("no-package", "127.0.0.1", 1, 1, 0, 256 << 20,
                                        python_version(), __version__, package_sha="0" * 64))
        assert isinstance(driver.recv(), RegisteredApplication)
        driver.sock.settimeout(30)  # a silent master fails the test instead of hanging it
        removed = wait_for(lambda: _next_of(driver, ExecutorRemoved), 30,
                           "the master to report the failed executor")
        assert "could not be fetched from the master" in removed.reason, removed.reason
        assert "does not have it" in removed.reason and not removed.worker_lost
    finally:
        driver.close()
    result = cluster.submit(write_job(tmp_path, "where.py", WHERE_JOB))
    assert result.returncode == 0, result.stderr
    assert line_value(result.stdout.splitlines(), "RESULT") == expected_pairs()
    assert worker.poll() is None
    assert read_text(worker.log_path).count("registered with master") == 1


def _next_of(conn, kind):
    message = conn.recv()
    return message if isinstance(message, kind) else None


def test_executors_that_die_at_start_fail_the_application_with_their_last_words(cluster):
    """spark.executorEnv.PYTHONHOME=/nonexistent: every executor exits at once. The driver
    said only 'the application's executors cannot start: exited with code 1', though the
    worker had their log's end (Python's 'No module named encodings'); now the error ends
    with it, as a lost executor's does."""
    ctx = Context(master=cluster.url, app_name="dies-at-start",
                  conf={"spark.executorEnv.PYTHONHOME": "/nonexistent",
                        "vega.secret.file": cluster.secret_file})
    try:
        with pytest.raises(ExecutorsCannotStart) as raised:
            ctx.parallelize([1]).count()
    finally:
        ctx.stop()
    assert str(raised.value).startswith("the application's executors cannot start: exited "
                                        "with code 1 (its log ends: ")
    assert "No module named 'encodings'" in str(raised.value)
