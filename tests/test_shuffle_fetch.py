"""Issue 11: a shuffle block larger than a frame is fetched from a worker's shuffle service
in bounded chunks, and a corrupt remote block is a fetch failure.

A real worker's shuffle service on loopback serves a real shuffle file; the fetcher's frame
limit is lowered instead of writing gigabytes."""

from __future__ import annotations

import io
import os
import pickle
import zlib

import pytest

from vega_runtime.deploy import worker as worker_module
from vega_runtime.deploy.executor_main import RemoteBlockFetcher
from vega_runtime.config import Config
from vega_runtime.deploy.worker import Worker
from vega_runtime.errors import FetchFailed
from vega_runtime.net.connection import Connection, create_secret_file
from vega_runtime.net.framing import ProtocolError
from vega_runtime.net.messages import FetchBlock
from vega_runtime.serde import dump_batches
from vega_runtime.shuffle.blocks import BLOCK_TRAILER, BlockLocation

FRAME_LIMIT = 256 << 10
RECORDS = [(i, f"{i:06d}" + "v" * 1000) for i in range(2000)]  # about 2 MiB pickled


@pytest.fixture
def service(tmp_path):
    """A worker (never registered with a master) whose shuffle service serves its work dir;
    yields (worker, secret, a block of RECORDS behind another block in one data file)."""
    secret = create_secret_file(str(tmp_path / "secret"))
    conf = Config.load(environ={}, cli={"vega.worker.host": "127.0.0.1", "vega.worker.cores": 1,
                                        "vega.worker.memory": "1g",
                                        "vega.worker.work_dir": str(tmp_path / "work")})
    worker = Worker(conf, "127.0.0.1", 1, secret, str(tmp_path / "secret"), use_forkserver=False)
    worker.shuffle.start()
    app_dir = tmp_path / "work" / "app-1"
    app_dir.mkdir(parents=True)
    path = str(app_dir / "shuffle_0_3_0.data")
    first, ours = block_bytes([("other", 1)]), block_bytes(RECORDS)
    with open(path, "wb") as out:
        out.write(first + ours)
    first, length = len(first), len(ours)
    assert length > 4 * FRAME_LIMIT
    block = BlockLocation(0, 3, "exec-1", "127.0.0.1", path, first, length, worker.shuffle.port)
    yield worker, secret, block
    worker.shuffle.stop()


def block_bytes(records) -> bytes:
    """A block as a map task writes it: pickled batches of 100 records, then their CRC-32."""
    out = io.BytesIO()
    dump_batches(records, out, 100)
    return out.getvalue() + BLOCK_TRAILER.pack(zlib.crc32(out.getvalue()))


def records_of(fetcher, block):
    return [record for batch in fetcher(block) for record in batch]


def test_a_block_larger_than_a_frame_is_fetched_in_chunks(service):
    """The records arrive whole and in order; the service answered several requests."""
    worker, secret, block = service
    fetcher = RemoteBlockFetcher("10.9.9.9", secret, max_frame=FRAME_LIMIT)
    assert records_of(fetcher, block) == RECORDS
    assert worker.served["blocks"] >= block.length // FRAME_LIMIT
    assert worker.served["bytes"] == block.length


def test_one_request_for_the_whole_block_exceeds_that_frame_limit(service):
    """What fetching used to do: the reply is bigger than the reader's frame limit."""
    worker, secret, block = service
    conn = Connection.connect("127.0.0.1", block.port, secret, max_frame=FRAME_LIMIT)
    try:
        conn.send(FetchBlock(block.path, block.offset, block.length))
        with pytest.raises(ProtocolError, match="exceeds the limit"):
            conn.recv()
    finally:
        conn.close()


def test_the_service_refuses_a_request_above_its_chunk_size(service, monkeypatch):
    """A shuffle service never reads more than one chunk into memory for one request."""
    worker, secret, block = service
    monkeypatch.setattr(worker_module, "SERVICE_MAX_REQUEST_BYTES", 64 << 10)
    fetcher = RemoteBlockFetcher("10.9.9.9", secret, chunk_bytes=1 << 20)
    with pytest.raises(FetchFailed, match="at most 65536 per request"):
        records_of(fetcher, block)
    small = RemoteBlockFetcher("10.9.9.9", secret, chunk_bytes=64 << 10)
    assert records_of(small, block) == RECORDS


def test_a_garbled_remote_block_is_a_fetch_failure(service):
    """Bytes that do not unpickle fail the fetch (the map output is recomputed)."""
    worker, secret, block = service
    with open(block.path, "r+b") as fh:
        fh.seek(block.offset + block.length // 2)
        fh.write(b"\x00garbage" * 64)
    fetcher = RemoteBlockFetcher("10.9.9.9", secret, max_frame=FRAME_LIMIT)
    with pytest.raises(FetchFailed) as failure:
        records_of(fetcher, block)
    assert (failure.value.shuffle_id, failure.value.map_id) == (0, 3)
    assert "corrupt" in failure.value.reason


def test_a_truncated_remote_block_is_a_fetch_failure(service):
    worker, secret, block = service
    with open(block.path, "r+b") as fh:
        fh.truncate(block.offset + block.length - 100)
    fetcher = RemoteBlockFetcher("10.9.9.9", secret, max_frame=FRAME_LIMIT)
    with pytest.raises(FetchFailed, match="shorter than expected"):
        records_of(fetcher, block)


def test_chunks_do_not_depend_on_batch_boundaries(service):
    """A chunk size that splits pickled batches anywhere still yields the same batches."""
    worker, secret, block = service
    fetcher = RemoteBlockFetcher("10.9.9.9", secret, chunk_bytes=4099)
    batches = list(fetcher(block))
    assert batches == [RECORDS[i:i + 100] for i in range(0, len(RECORDS), 100)]
    assert pickle.dumps(batches[0])  # plain lists of records


def test_a_fetch_killed_before_its_reply_leaves_no_reply_for_the_next_fetch(service):
    """A task killed (a signal raising TaskKilled in the fetch) after a chunk's request went
    out and before its reply was read: the next fetch from that shuffle service (the
    executor's next task) gets its own bytes. Before, the connection stayed with the reply
    unread, every later chunk was one reply behind, and the block was reported corrupt."""
    from vega_runtime.scheduler.executor_loop import TaskKilled

    worker, secret, block = service
    fetcher = RemoteBlockFetcher("10.9.9.9", secret, chunk_bytes=64 << 10)
    conn, _ = fetcher._connection(block, "the service")
    real_recv = conn.recv

    def killed_while_waiting():  # the kill lands between the request and its reply
        conn.recv = real_recv
        raise TaskKilled()

    conn.recv = killed_while_waiting
    with pytest.raises(TaskKilled):
        records_of(fetcher, block)
    assert records_of(fetcher, block) == RECORDS


def test_a_kept_connection_found_broken_is_replaced_once(service):
    """The connection kept from an earlier fetch was ended meanwhile (the kernel ends one
    whose peer fell silent past the peer timeout; a restarted service resets it): the next
    fetch connects again and gets the block. Before, it failed with the broken socket's
    error ('the connection was shut down', 'EOF occurred in violation of protocol'), and
    its map output was recomputed."""
    worker, secret, block = service
    fetcher = RemoteBlockFetcher("10.9.9.9", secret)
    assert records_of(fetcher, block) == RECORDS
    conn, kept = fetcher._connection(block, "the service")
    assert kept
    conn.shutdown()
    assert records_of(fetcher, block) == RECORDS
    assert fetcher._connection(block, "the service")[0] is not conn


def test_fetches_naming_no_file_or_no_offset_in_one_are_refused_and_the_connection_serves_on(
        service, caplog):
    """A peer with the secret asks for a path holding NUL, or for an offset no file has
    (2**63 and beyond: msgpack carries up to 2**64 - 1): each gets BlockUnavailable saying
    why, the service logs no error, and the same connection then gets a real block. Before,
    each of those ended the connection with a traceback in the worker's log (ValueError from
    os.path.realpath or seek), and the fetch never had an answer."""
    from vega_runtime.net.messages import BlockData, BlockUnavailable

    worker, secret, block = service
    no_file = block.path + "\0.index"
    conn = Connection.connect("127.0.0.1", block.port, secret)
    try:
        for request, reason in [
                (FetchBlock(no_file, 0, 10), f"{no_file} is not a shuffle file of this worker"),
                (FetchBlock(block.path, 1 << 63, 10),
                 f"{block.path}: offset {1 << 63} is past the end of any file"),
                (FetchBlock(block.path, (1 << 64) - 1, 10),
                 f"{block.path}: offset {(1 << 64) - 1} is past the end of any file")]:
            conn.send(request)
            assert conn.recv() == BlockUnavailable(reason)
        conn.send(FetchBlock(block.path, block.offset, 100))
        reply = conn.recv()
        assert isinstance(reply, BlockData) and len(reply.data) == 100
    finally:
        conn.close()
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []

#: A shuffle service in a process of its own (a worker never registered with a master),
#: serving the work dir given as argv[1]; prints its port and waits to be killed.
SERVICE_PROCESS = """
import sys, threading
from vega_runtime.config import Config
from vega_runtime.deploy.worker import Worker
from vega_runtime.net.connection import load_secret
tmp = sys.argv[1]
conf = Config.load(environ={}, cli={"vega.worker.host": "127.0.0.1", "vega.worker.cores": 1,
                                    "vega.worker.memory": "1g", "vega.worker.work_dir": tmp + "/work"})
worker = Worker(conf, "127.0.0.1", 1, load_secret(tmp + "/secret"), tmp + "/secret",
                use_forkserver=False)
worker.shuffle.start()
print(worker.shuffle.port, flush=True)
threading.Event().wait()
"""


def test_a_shuffle_service_that_stops_answering_fails_the_fetch_at_its_timeout(tmp_path):
    """The shuffle service's process is frozen (SIGSTOP: a hung host, or one cut off the
    network) after a reducer's executor connected to it: the next fetch on that connection
    fails at the fetcher's timeout, naming it, so the map output is recomputed. Before, the
    reply was awaited forever and the job hung (seen with iptables DROP on a worker's host
    between two actions on one shuffle)."""
    import signal
    import subprocess
    import sys
    import time

    from proc_helpers import REPO

    secret = create_secret_file(str(tmp_path / "secret"))
    path = tmp_path / "work" / "app-1" / "shuffle_0_3_0.data"
    path.parent.mkdir(parents=True)
    path.write_bytes(block_bytes(RECORDS))
    service = subprocess.Popen([sys.executable, "-c", SERVICE_PROCESS, str(tmp_path)], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": REPO}, stdout=subprocess.PIPE,
                               text=True)
    try:
        port = int(service.stdout.readline())
        block = BlockLocation(0, 3, "exec-1", "127.0.0.1", str(path), 0, path.stat().st_size,
                              port)
        fetcher = RemoteBlockFetcher("10.9.9.9", secret, max_frame=FRAME_LIMIT, timeout=1.0)
        assert records_of(fetcher, block) == RECORDS  # connected, and the connection kept
        os.kill(service.pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(FetchFailed) as failure:
            records_of(fetcher, block)
        assert time.monotonic() - started < 10  # 1 s, with room for a busy machine
        assert (failure.value.shuffle_id, failure.value.map_id) == (0, 3)
        assert failure.value.reason == "no reply within 1s"
        os.kill(service.pid, signal.SIGCONT)
        assert records_of(fetcher, block) == RECORDS  # a new connection once it answers
    finally:
        service.kill()
        service.wait()


def test_a_work_dir_reached_through_a_symbolic_link_serves_its_blocks(tmp_path):
    """A worker whose work dir path goes through a symbolic link (/data -> /mnt/disk1, a home
    on an automounted share) serves its shuffle files; a link inside the work dir leading
    out of it is still refused. Before, every fetch was refused as 'not a shuffle file of
    this worker' (the file's path was resolved, the work dir's not): a fetch failure for
    every reducer on another host reading that worker's map output."""

    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    secret = create_secret_file(str(tmp_path / "secret"))
    conf = Config.load(environ={}, cli={"vega.worker.host": "127.0.0.1", "vega.worker.cores": 1,
                                        "vega.worker.memory": "1g",
                                        "vega.worker.work_dir": str(tmp_path / "link" / "work")})
    worker = Worker(conf, "127.0.0.1", 1, secret, str(tmp_path / "secret"), use_forkserver=False)
    worker.shuffle.start()
    try:
        app_dir = tmp_path / "link" / "work" / "app-1"
        app_dir.mkdir()
        data = block_bytes(RECORDS[:10])
        (app_dir / "shuffle_0_3_0.data").write_bytes(data)
        block = BlockLocation(0, 3, "exec-1", "127.0.0.1", str(app_dir / "shuffle_0_3_0.data"),
                              0, len(data), worker.shuffle.port)
        fetcher = RemoteBlockFetcher("10.9.9.9", secret)
        assert records_of(fetcher, block) == RECORDS[:10]
        (tmp_path / "outside.data").write_bytes(data)
        os.symlink(tmp_path / "outside.data", app_dir / "shuffle_0_4_0.data")
        with pytest.raises(FetchFailed, match="is not a shuffle file of this worker"):
            records_of(fetcher, BlockLocation(0, 4, "exec-1", "127.0.0.1",
                                              str(app_dir / "shuffle_0_4_0.data"), 0, len(data),
                                              worker.shuffle.port))
    finally:
        worker.shuffle.stop()


SHUFFLE_TWICE_JOB = """
    import json, os, sys, time
    from operator import add
    from vega_runtime import Context

    barrier, go = sys.argv[1], sys.argv[2]

    def meet(x):
        # the two map tasks start on two different workers' executors
        open(os.path.join(barrier, str(os.getppid())), "w").close()
        deadline = time.monotonic() + 30
        while len(os.listdir(barrier)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return x % 10, 1

    with Context() as ctx:
        counts = ctx.parallelize(range(100), 2).map(meet).reduce_by_key(add, 2)
        print("FIRST", json.dumps(sorted(counts.collect())), flush=True)
        while not os.path.exists(go):
            time.sleep(0.05)
        print("SECOND", json.dumps(sorted(counts.collect())), flush=True)
"""


def test_the_fetch_timeout_is_the_jobs_setting(tmp_path):
    """Two workers on two loopback addresses, each with map output of one shuffle; the
    second's worker (its shuffle service) is frozen between two actions on the shuffle, and
    the job sets vega.shuffle.io.connection_timeout to 2 s: the second action's fetch from
    it fails after 2 s, its map output is recomputed on the first worker, and the job ends
    with the exact result. Before, the timeout was a constant 120 s: the reducer waited that
    long, holding the one core the map output had to be recomputed on."""
    import signal

    from proc_helpers import wait_for, worker_of, write_job
    from test_cluster_e2e import Cluster, line_value

    cluster = Cluster(tmp_path / "cluster", worker_timeout=3)
    frozen = None
    try:
        cluster.start_worker("near")
        far = cluster.start_worker("far", args=["--host", "127.0.0.2"])
        barrier, go = tmp_path / "barrier", tmp_path / "go"
        barrier.mkdir()
        driver = cluster.spawn_driver(
            "--conf", "vega.shuffle.io.connection_timeout=2",
            write_job(tmp_path, "twice.py", SHUFFLE_TWICE_JOB), str(barrier), str(go))
        wait_for(lambda: any(line.startswith("FIRST") for line in driver.lines)
                 or driver.poll() is not None, 60, "the first action")
        expected = [[k, 10] for k in range(10)]
        assert line_value(driver.lines, "FIRST") == expected, "".join(driver.err)
        assert far.pid in {worker_of(int(name)) for name in os.listdir(barrier)}  # map output
        os.kill(far.pid, signal.SIGSTOP)
        frozen = far
        go.write_text("")
        assert driver.wait(60) == 0, "".join(driver.err)
        assert line_value(driver.lines, "SECOND") == expected
    finally:
        if frozen is not None:
            os.kill(frozen.pid, signal.SIGCONT)
        cluster.stop()


def test_sparks_fetch_timeout_settings_map_to_vegas():
    """spark.shuffle.io.connectionTimeout is the fetch timeout; spark.network.timeout stands
    for it and for the executors' heartbeat timeout where those are not given, as in Spark."""
    from vega_runtime.pyspark_compat.conf import vega_settings

    assert vega_settings([("spark.shuffle.io.connectionTimeout", "2s")]) == \
        {"vega.shuffle.io.connection_timeout": 2.0}
    assert vega_settings([("spark.network.timeout", "5min")]) == \
        {"vega.shuffle.io.connection_timeout": 300.0, "vega.executor.timeout": 300.0}
    assert vega_settings([("spark.network.timeout", "300"),
                          ("spark.shuffle.io.connectionTimeout", "500ms")]) == \
        {"vega.shuffle.io.connection_timeout": 0.5, "vega.executor.timeout": 300.0}
