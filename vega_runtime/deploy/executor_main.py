"""An executor process on a worker: connects to its driver and runs tasks.

Started by the worker as ``python -m vega_runtime.deploy.executor_main``.
It dies with its worker (``PR_SET_PDEATHSIG``) and exits when its driver
connection closes.  It is a subreaper: whatever its tasks start, daemonized
grandchildren included, is killed when it exits or is stopped with SIGTERM
(``vega_runtime.processes.own_descendants``).  Shuffle blocks on this host are read from disk; blocks
on other hosts are fetched from their workers' shuffle services.  Its block server serves
the cached partitions it holds to other executors' tasks (``serve_cached_blocks``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import logging
import os
import resource
import sys
import threading
from typing import Dict, Iterator, Tuple

from .. import executor_python
from ..config_limits import executor_storage_memory
from ..errors import FetchFailed, VegaError
from ..files import FILES_DIR_ENV, PY_FILES_DIR_ENV
from ..logs import name_sources, setup_executor_logging
from ..packaging import python_paths, source_copies
from ..net.connection import HANDSHAKE_TIMEOUT, Connection, load_secret
from ..net.endpoints import host_port, split_host_port
from ..net.framing import DEFAULT_MAX_FRAME, ConnectionClosed, ProtocolError
from ..net.cluster_messages import PackageData
from ..net.messages import BlockData, FetchBlock, FetchBroadcast, RegisterExecutor, TaskOutput
from ..net.package_stream import receive_file
from ..net.server import Server
from ..processes import die_with_parent, end_descendants, own_descendants
from ..private_files import use_private_umask
from ..scheduler.executor import Executor, ExecutorDirs
from ..scheduler.executor_loop import serve_cached_blocks, serve_cancellable
from ..shuffle.blocks import FETCH_CHUNK_BYTES, BlockLocation
from ..shuffle.reader import load_block_batches, read_local_block

log = logging.getLogger(__name__)

#: Room in a frame for the BlockData message around a chunk's bytes.
FRAME_SLACK = 1 << 12

#: Seconds a fetch waits for a shuffle service's reply (or to send its request) before it
#: fails, until a stage's settings say otherwise (vega.shuffle.io.connection_timeout): a
#: host frozen or cut off the network after the connection was made would otherwise hold
#: the reducer forever (Spark's spark.shuffle.io.connectionTimeout, which defaults to
#: spark.network.timeout, 120 s).
FETCH_TIMEOUT = 120.0


class RemoteBlockFetcher:
    """Reads local blocks from disk and remote ones from their host's shuffle service."""

    def __init__(self, host: str, secret: bytes, max_frame: int = DEFAULT_MAX_FRAME,
                 chunk_bytes: int = FETCH_CHUNK_BYTES, timeout: float = FETCH_TIMEOUT):
        self.host = host
        self.secret = secret
        self.max_frame, self.chunk_bytes = max_frame, chunk_bytes
        self.timeout = timeout
        self._connections: Dict[Tuple[str, int], Connection] = {}
        self._lock = threading.Lock()

    def set_timeout(self, seconds: float) -> None:
        """Wait ``seconds`` for each reply from now on, on the connections kept too."""
        with self._lock:
            self.timeout = seconds
            for conn in self._connections.values():
                with contextlib.suppress(OSError):
                    conn.sock.settimeout(seconds)

    def __call__(self, location: BlockLocation) -> Iterator[list]:
        if location.host == self.host or not location.port:
            return read_local_block(location)
        return self._fetch(location)

    def _fetch(self, location: BlockLocation) -> Iterator[list]:
        """The block's batches, streamed from its host in chunks of at most
        ``FETCH_CHUNK_BYTES`` (and never more than a frame holds)."""
        if location.length == 0:
            return
        where = host_port(location.host, location.port)
        yield from load_block_batches(_RemoteBlock(self, location, where).read, location, where)

    def fetch_chunk(self, location: BlockLocation, offset: int, length: int, where: str) -> bytes:
        """``length`` bytes of the block from ``offset`` within it, in one request.  A kept
        connection found broken (its peer restarted, or the kernel ended it: the peer was
        silent past the peer timeout) is replaced by a new one once."""
        for attempt in (1, 2):
            conn, kept = self._connection(location, where)
            try:
                conn.send(FetchBlock(location.path, location.offset + offset, length))
                reply = conn.recv()
                break
            except (OSError, ConnectionClosed, ProtocolError) as exc:
                self._drop(location.host, location.port)
                if isinstance(exc, TimeoutError):
                    reason = f"no reply within {self.timeout:g}s"
                elif kept and attempt == 1:
                    continue
                else:
                    reason = str(exc)
                raise FetchFailed(location.shuffle_id, location.map_id, -1, where,
                                  reason) from None
            except BaseException:  # the task killed while it waited: its reply is no one's
                self._drop(location.host, location.port)
                raise
        if not isinstance(reply, BlockData):
            raise FetchFailed(location.shuffle_id, location.map_id, -1, where,
                              getattr(reply, "reason", "unexpected reply"))
        if len(reply.data) != length:
            self._drop(location.host, location.port)
            raise FetchFailed(location.shuffle_id, location.map_id, -1, where,
                              f"asked for {length} bytes, got {len(reply.data)}")
        return reply.data

    @property
    def chunk_size(self) -> int:
        """The most bytes one request asks of a shuffle service (its reply fits a frame)."""
        return max(1, min(self.chunk_bytes, self.max_frame - FRAME_SLACK))

    def _connection(self, location: BlockLocation, where: str) -> Tuple[Connection, bool]:
        """The connection to the block's shuffle service, and whether it was kept from an
        earlier fetch.  A new one has the reply timeout to connect and shake hands too
        (at most ``HANDSHAKE_TIMEOUT``): a host cut off the network answers nothing."""
        key = (location.host, location.port)
        with self._lock:
            conn = self._connections.get(key)
            if conn is not None and not conn.closed:
                return conn, True
            wait = min(self.timeout, HANDSHAKE_TIMEOUT)
            try:
                conn = Connection.connect(*key, self.secret, timeout=wait,
                                          max_frame=self.max_frame)
            except (OSError, ProtocolError) as exc:
                reason = f"no answer to a connection within {wait:g}s" \
                    if isinstance(exc, TimeoutError) else f"cannot connect ({exc})"
                raise FetchFailed(location.shuffle_id, location.map_id, -1, where,
                                  reason) from None
            conn.sock.settimeout(self.timeout)  # a reply that never comes fails the fetch
            self._connections[key] = conn
            return conn, False

    def _drop(self, host: str, port: int) -> None:
        with self._lock:
            conn = self._connections.pop((host, port), None)
        if conn is not None:
            conn.close()


class _RemoteBlock(io.RawIOBase):
    """A remote block as a readable stream: each read past what has arrived fetches the
    next chunk, so only one chunk of a big block is in memory at a time."""

    def __init__(self, fetcher: RemoteBlockFetcher, location: BlockLocation, where: str):
        self.fetcher, self.location, self.where = fetcher, location, where
        self._chunk = memoryview(b"")
        self._fetched = 0  # bytes of the block fetched so far
        self._position = 0  # bytes of the block handed out so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._chunk:
            remaining = self.location.length - self._fetched
            if remaining <= 0:
                return 0
            size = min(remaining, self.fetcher.chunk_size)
            self._chunk = memoryview(self.fetcher.fetch_chunk(self.location, self._fetched, size,
                                                              self.where))
            self._fetched += size
        count = min(len(buffer), len(self._chunk))
        buffer[:count] = self._chunk[:count]
        self._chunk = self._chunk[count:]
        self._position += count
        return count

    def tell(self) -> int:
        return self._position


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="vega-executor")
    for flag in ("--driver", "--app-id", "--executor-id", "--worker-id", "--host", "--app-dir"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--shuffle-port", type=int, required=True)
    parser.add_argument("--bind", default="",
                        help="the address its block server listens on (its worker's); default --host")
    parser.add_argument("--memory", type=int, default=1 << 30)
    parser.add_argument("--memory-limit", type=int, default=0,
                        help="bytes of data memory (RLIMIT_DATA) this executor may use; 0: no limit")
    parser.add_argument("--secret-file", default="")
    parser.add_argument("--package-dir", default="")
    args = parser.parse_args(argv)
    use_private_umask()  # shuffle files, spills, cached blocks: 0600 (the worker's umask too)
    shipped = executor_python.pending(os.environ)
    if shipped is not None:  # the application's executors run the Python it ships
        code = executor_python.become(
            shipped, ExecutorDirs.under(args.app_dir, args.executor_id).files,
            "vega_runtime.deploy.executor_main", argv,
            functools.partial(fetch_from_driver, args.driver, args.secret_file))
        if code != executor_python.RUN_AS_IS:
            return code
    if args.package_dir:
        sys.path[:0] = python_paths(args.package_dir)
        name_sources(source_copies(args.package_dir))
        os.environ[FILES_DIR_ENV] = os.path.join(args.package_dir, "files")
        os.environ[PY_FILES_DIR_ENV] = os.path.join(args.package_dir, "py")
    die_with_parent()
    worker_pid = int(os.environ.get("VEGA_WORKER_PID", "0"))
    if worker_pid and os.getppid() != worker_pid:
        return 1  # the worker died before we could tie our fate to it
    own_descendants()
    if args.memory_limit:
        hold_to_memory(args.memory_limit)
    try:
        return run(args)
    finally:  # forked executors leave with os._exit, which skips atexit
        end_descendants()


def fetch_from_driver(driver: str, secret_file: str, path: str, out_path: str) -> None:
    """Write the file at ``path`` in the driver's broadcast directory (the archive of the
    Python this executor is to become) to ``out_path``, as the driver streams it before
    this executor registers; ``VegaError`` saying why it could not."""
    conn = Connection.connect(*split_host_port(driver), load_secret(secret_file) or b"")
    try:
        conn.send(FetchBroadcast(-1, path))
        reply = conn.recv()
        if not isinstance(reply, PackageData):
            raise VegaError(f"the driver {driver} did not send {os.path.basename(path)}: "
                            f"{getattr(reply, 'error', type(reply).__name__)}")
        with open(out_path, "wb") as out:
            digest, failed = receive_file(conn, reply.size, out)
    finally:
        conn.close()
    if failed is not None:
        raise VegaError(f"{os.path.basename(path)} from the driver could not be written to "
                        f"{out_path} ({failed.strerror or failed})")
    if digest != reply.sha256:
        raise VegaError(f"{os.path.basename(path)} from the driver {driver} does not match "
                        "its sha256")


def hold_to_memory(limit: int) -> None:
    """Hold this process (and what it starts) to ``limit`` bytes of data memory: heap and
    private writable mappings (``RLIMIT_DATA``, Linux 4.7+), which is what Python objects
    take.  An allocation past it fails, so the task gets a MemoryError and the executor
    stops (``serve_cancellable``).  Virtual address space (``RLIMIT_AS``) is not limited:
    untouched reservations (thread stacks' guard pages, allocator arenas) would count."""
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def run(args: argparse.Namespace) -> int:
    """Register with the driver and serve its tasks until it goes away."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.__stderr__)
    cluster_secret = load_secret(args.secret_file)  # None: loopback only (Server's check)
    secret = cluster_secret or b""
    driver_host, driver_port = split_host_port(args.driver)
    try:
        conn = Connection.connect(driver_host, driver_port, secret)
    except (OSError, ProtocolError) as exc:
        log.info("driver %s is gone (%s): nothing to do", args.driver, exc)
        return 0
    # other executors' tasks fetch the cached partitions held here from this server
    executor_ref: list = []
    try:
        block_port = Server(args.bind or args.host, 0, cluster_secret,
                            lambda peer: serve_cached_blocks(executor_ref[0], peer),
                            "block-server").start().port
    except (OSError, VegaError) as exc:  # they ask through the driver instead
        log.warning("no block server (%s): other executors ask the driver for the cached "
                    "partitions held here", exc)
        block_port = 0
    setup_executor_logging()
    executor = Executor(args.executor_id, args.host, ExecutorDirs.under(args.app_dir, args.executor_id),
                        lambda task_id, stream, text: conn.send(TaskOutput(task_id, stream, text)),
                        executor_storage_memory({"vega.executor.memory": args.memory}, True),
                        RemoteBlockFetcher(args.host, secret))
    executor.memory_limit = args.memory_limit
    executor_ref.append(executor)
    conn.send(RegisterExecutor(args.executor_id, args.app_id, args.worker_id, args.host,
                               args.shuffle_port, os.getpid(), block_port, executor.resources))
    return serve_cancellable(executor, conn, secret)


if __name__ == "__main__":
    sys.exit(main())
