"""Job packages at size: streamed in chunks, hashed on the way, refused whole when damaged,
cut short or past the configured limit (``net.package_stream``, ``deploy.package_store``)."""

import contextlib
import hashlib
import os
import re
import socket
import threading

import pytest

from vega_runtime.deploy.package_store import PackageStore
from vega_runtime.errors import ApplicationRefused, PackageTooLarge, VegaError
from vega_runtime.net.connection import Connection
from vega_runtime.net.framing import ConnectionClosed
from vega_runtime.net.messages import PackageChunk, PackageStatus, UploadPackage, UploadReady
from vega_runtime.packaging import Package, build_package, upload

from proc_helpers import master_and_worker, vega, write_job

CHECKSUM_JOB = """
import hashlib, sys
from vega_runtime import Context, SparkFiles

def digest(_):
    with open(SparkFiles.get("model.bin"), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()

with Context(app_name="package-size") as ctx:
    print("DIGESTS", sorted(set(ctx.parallelize(range(4), 4).map(digest).collect())))
"""


def test_a_package_of_tens_of_mb_arrives_intact_in_every_task(tmp_path):
    """24 MB of random bytes shipped with --files to local-cluster[2,1]: every task (on both
    workers) reads back the same SHA-256. It travels in 1 MiB chunks, stored, not deflated."""
    data = os.urandom(24 << 20)
    (tmp_path / "model.bin").write_bytes(data)
    job = write_job(tmp_path, "checksum.py", CHECKSUM_JOB)
    done = vega("submit", "--master", "local-cluster[2,1]", "--files",
                str(tmp_path / "model.bin"), job, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"DIGESTS ['{hashlib.sha256(data).hexdigest()}']" in done.stdout.splitlines()
    assert "vega: job package 24.0 MiB" in done.stderr  # (deflating it saved nothing)


@pytest.fixture
def store_link(tmp_path):
    """A master's package store serving one end of a socket pair (its real code, no master
    process around it), a client ``Connection`` on the other, the thread serving it and
    ``outcome``, which gets how the store's session ended."""
    store = PackageStore(str(tmp_path / "master"), max_size=64 << 20)
    ours, theirs = socket.socketpair()
    client, served = Connection(ours, "client"), Connection(theirs, "master")
    outcome = []

    def serve():
        try:
            store.serve(served, served.recv())
        except Exception as exc:  # the session's end: ConnectionClosed, ProtocolError
            outcome.append(exc)
        finally:
            served.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield store, client, thread, outcome
    client.close()
    thread.join(10)


def _package(tmp_path, data: bytes) -> Package:
    (tmp_path / "data.bin").write_bytes(data)
    return build_package(write_job(tmp_path, "job.py", "print(1)\n"), [],
                         [str(tmp_path / "data.bin")], str(tmp_path / "out"))


def test_an_upload_whose_bytes_do_not_hash_to_its_name_is_refused_and_not_kept(
        store_link, tmp_path):
    """Bytes of the declared size that hash to something else (damaged on the way, changed
    while sent): the submitter hears why, nothing is stored, and the same connection then
    uploads the real package. Before chunks, a mismatch dropped the connection unanswered."""
    store, client, _, _ = store_link
    package = _package(tmp_path, os.urandom(3 << 20))
    client.send(UploadPackage(package.sha256, package.size))
    assert isinstance(client.recv(), UploadReady)
    damaged = bytearray(open(package.path, "rb").read())
    damaged[len(damaged) // 2] ^= 0xFF
    for at in range(0, len(damaged), 1 << 20):
        client.send(PackageChunk(bytes(damaged[at:at + (1 << 20)])))
    status = client.recv()
    assert isinstance(status, PackageStatus) and not status.present
    assert status.reason.startswith(f"the {package.size} bytes it received for the job "
                                    f"package {package.sha256[:12]} hash to ")
    assert status.reason.endswith(": the package changed while it was sent, or was damaged on "
                                  "the way; submit the job again")
    assert os.listdir(store.directory) == []
    upload(client, package)
    assert open(store.path(package.sha256), "rb").read() == open(package.path, "rb").read()


def test_an_upload_cut_short_leaves_nothing_behind(store_link, tmp_path):
    """A submitter gone after part of its package: the store's session ends with
    ConnectionClosed, and neither the part received nor a temporary file stays."""
    store, client, session, outcome = store_link
    package = _package(tmp_path, os.urandom(3 << 20))
    client.send(UploadPackage(package.sha256, package.size))
    assert isinstance(client.recv(), UploadReady)
    with open(package.path, "rb") as fh:
        client.send(PackageChunk(fh.read(1 << 20)))
    client.close()
    session.join(10)
    assert [type(exc) for exc in outcome] == [ConnectionClosed]
    assert os.listdir(store.directory) == []


def test_an_upload_of_empty_chunks_ends_the_session(store_link, tmp_path):
    """Chunks of no bytes bring a package no nearer: the first ends the session (a
    ProtocolError), instead of holding its thread as long as the sender likes."""
    store, client, session, outcome = store_link
    client.send(UploadPackage("ab" * 32, 1 << 20))
    assert isinstance(client.recv(), UploadReady)
    client.send(PackageChunk(b""))
    session.join(10)
    assert [str(exc).split(": ", 1)[-1] for exc in outcome] == \
        [f"an empty chunk, {1 << 20} of {1 << 20} bytes to come"]
    assert os.listdir(store.directory) == []


def test_an_upload_past_the_masters_limit_is_refused_before_it_is_sent(store_link, tmp_path):
    """A package past the master's vega.package.max_size (64 MiB here; it is only declared,
    never sent): refused at once, naming the setting and what to do."""
    store, client, _, _ = store_link
    client.send(UploadPackage("ab" * 32, 65 << 20))
    status = client.recv()
    assert isinstance(status, PackageStatus) and not status.present
    assert status.reason == (
        f"its job package {'ab' * 6} is 65 MiB, more than vega.package.max_size (64 MiB) on "
        "the master: ship large data some other way (HDFS, storage every host reads) or raise "
        "the master's vega.package.max_size")
    assert status.max_size == 64 << 20
    # the submitter's upload says the same, as the usage error its limit makes
    big = tmp_path / "big.zip"
    with open(big, "wb") as out:
        out.truncate(65 << 20)
    with pytest.raises(PackageTooLarge) as refused:
        upload(client, Package(str(big), "cd" * 32, 65 << 20))
    assert (refused.value.size, refused.value.limit) == (65 << 20, 64 << 20)
    assert isinstance(refused.value, ApplicationRefused)
    assert not os.path.exists(store.directory)


def test_a_package_past_the_masters_limit_is_a_usage_error_in_either_deploy_mode(tmp_path):
    """vega submit with no package limit of its own, to a master whose vega.package.max_size
    (1 MiB) the job package passes: exit code 2, a usage error as a package past the
    submitter's own limit is, saying the package's size, the limit and what to do, in client
    deploy mode (where the Context uploads it) as in cluster mode. Before, client mode said
    'vega: job failed: the master refused the application: ...' and the driver's line, exit
    code 1; cluster mode exited 1 too."""
    (tmp_path / "model.bin").write_bytes(os.urandom(3 << 20))  # (random: stored as it is)
    job = write_job(tmp_path, "job.py", "from vega_runtime import Context\nContext()\n")
    with master_and_worker(tmp_path / "cluster", "vega.package.max_size: 1m\n") as cluster:
        for mode in ("client", "cluster"):
            done = vega("submit", "--master", cluster["url"], "--deploy-mode", mode,
                        "--files", str(tmp_path / "model.bin"), job, env=cluster["env"])
            assert (done.returncode, done.stdout) == (2, ""), (mode, done.stderr)
            sha256 = re.search(r"^vega: job package 3.0 MiB \(sha256 (\w+)\)$", done.stderr,
                               re.M).group(1)
            assert done.stderr.splitlines()[-2:] == [
                f"vega: error: the job package (3.0 MiB, sha256 {sha256}) is larger than the "
                "master's vega.package.max_size (1 MiB)",
                "Put large files on storage every host reads (HDFS) and add them in the job "
                "(sc.add_file(URL), sc.add_archive(URL#NAME)), or raise vega.package.max_size "
                "in the master's configuration."], (mode, done.stderr)


def test_one_package_uploaded_by_many_drivers_at_once_is_stored_for_each(tmp_path):
    """Drivers submitting the same job together upload one package at once, each in a
    thread of the master: every upload stores it and none fails. With one temporary name
    for all, a second upload's rename found the file the first had renamed away
    ("No such file or directory", seen in the suite's two-applications test)."""
    store = PackageStore(str(tmp_path / "master"))
    package = _package(tmp_path, os.urandom(4 << 20))
    start, failures = threading.Barrier(8), []

    def submit():
        ours, theirs = socket.socketpair()
        client, served = Connection(ours, "client"), Connection(theirs, "master")
        server = threading.Thread(target=lambda: _serve_quietly(store, served))
        server.start()
        start.wait()
        try:
            client.send(UploadPackage(package.sha256, package.size))  # no query: all upload
            assert isinstance(client.recv(), UploadReady)
            with open(package.path, "rb") as fh:
                client.send(PackageChunk(fh.read()))
            status = client.recv()
            if not status.present:
                failures.append(status.reason)
        finally:
            client.close()
            server.join()

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert os.listdir(store.directory) == [f"{package.sha256}.zip"]


def _serve_quietly(store: PackageStore, conn: Connection) -> None:
    with contextlib.closing(conn), contextlib.suppress(ConnectionClosed):  # (its client left)
        store.serve(conn, conn.recv())


@pytest.fixture
def fetching_worker(tmp_path):
    """A worker (its real fetch and unpack code, no daemon around it) whose master is a
    real TLS server on loopback, answering each connection with ``serve[0](conn)``."""
    from vega_runtime.config import Config
    from vega_runtime.deploy.worker import Worker
    from vega_runtime.net.server import Server

    secret = b"package-transfer-test"
    serve = [None]
    server = Server("127.0.0.1", 0, secret, lambda conn: serve[0](conn), "master").start()
    conf = Config.load(environ={}, cli={
        "vega.worker.host": "127.0.0.1", "vega.worker.port": 0, "vega.worker.cores": 1,
        "vega.worker.memory": "1g", "vega.worker.work_dir": str(tmp_path / "worker")})
    worker = Worker(conf, "127.0.0.1", server.port, secret, "", use_forkserver=False)
    try:
        yield worker, serve
    finally:
        worker.shuffle.stop()
        server.stop()


def test_a_fetch_of_damaged_bytes_is_refused_and_leaves_nothing(fetching_worker, tmp_path):
    """The master's stored copy damaged (one byte flipped: a bad disk): the worker's fetch
    fails saying the bytes do not match the package's sha256, and neither the fetched zip
    nor an unpacked directory stays in its work dir."""
    worker, serve = fetching_worker
    package = _package(tmp_path, os.urandom(3 << 20))
    store = PackageStore(str(tmp_path / "master"))
    os.makedirs(store.directory)
    damaged = bytearray(open(package.path, "rb").read())
    damaged[-100] ^= 0xFF
    with open(store.path(package.sha256), "wb") as out:
        out.write(damaged)
    serve[0] = lambda conn: store.serve(conn, conn.recv())
    with pytest.raises(VegaError) as refused:
        worker.package_dir(package.sha256)
    assert str(refused.value) == (
        f"job package {package.sha256[:12]} could not be fetched from the master: what the "
        "master sent does not match its sha256; submit the job again")
    assert os.listdir(tmp_path / "worker" / "packages") == []


def test_a_fetch_cut_short_is_refused_and_leaves_nothing(fetching_worker, tmp_path):
    """A master gone after sending 1 MiB of a 3 MiB package: the worker's fetch fails
    saying the connection closed, and takes no part of it for the package."""
    from vega_runtime.net.messages import PackageData

    worker, serve = fetching_worker
    package = _package(tmp_path, os.urandom(3 << 20))

    def cut_short(conn):
        conn.recv()
        conn.send(PackageData(package.sha256, package.size))
        with open(package.path, "rb") as fh:
            conn.send(PackageChunk(fh.read(1 << 20)))

    serve[0] = cut_short
    with pytest.raises(VegaError) as refused:
        worker.package_dir(package.sha256)
    assert str(refused.value) == (
        f"job package {package.sha256[:12]} could not be fetched from the master: the "
        f"connection to the master failed (connection to 127.0.0.1:{worker.master[1]} "
        "closed); submit the job again")
    assert os.listdir(tmp_path / "worker" / "packages") == []
