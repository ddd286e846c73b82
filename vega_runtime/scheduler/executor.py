"""Running tasks: the part of an executor that is the same in every master kind.

An ``Executor`` caches each stage's payload (the RDD chain and the result
function or shuffle dependency, unpickled once per stage attempt), builds a
``TaskContext`` per task, captures the task's output and turns its outcome
into a ``TaskFinished`` message.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

from .. import executor_python, files
from ..config_limits import FRAME_LIMIT
from ..errors import (TASK_RESULT_TOO_LARGE_HINT, DriverExit, FetchFailed, ResultTooLarge,
                      VegaError)
from ..executor_loss import binary_size
from ..logs import OutputCapture, OutputSink, error_text, user_traceback
from ..net.framing import ConnectionClosed
from ..net.messages import (BarrierSync, BarrierSyncReply, CachedBlock,
                            FetchCachedBlock, KillTask, LaunchTask, PutBlock, RemoveBroadcast,
                            Removed, RemoveRdd, RemoveShuffle, Shutdown, TaskFinished)
from ..private_files import make_private_dirs
from ..processes import CtrlCWatch
from ..records import Record
from ..resources import EXECUTOR_RESOURCES_ENV, executor_cores, task_addresses
from ..serde import dumps, dumps_result
from ..shuffle.blocks import (MapStatus, map_attempt_in_flight, map_output_task_id,
                              output_paths)
from ..shuffle.reader import read_local_block, read_shuffle
from ..shuffle.writer import write_map_output
from ..storage.block_store import BlockStore
from ..storage_level import StorageLevel
from ..task_context import BarrierTaskContext, TaskContext
from .stage_payloads import StagePayloads


def _reseed_random(keep: bool):
    """Give this task its own random streams (``random``, and numpy's if loaded).

    With ``keep``, returns the previous states, restored after the task so a driver
    running tasks inline keeps its own sequence (an executor process has none to keep).
    """
    saved = [random.getstate() if keep else None, None]
    # 256 bits from the OS: a third of the time of ``random.seed()``, which reads 2.5 KB
    random.seed(int.from_bytes(os.urandom(32), "little"))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        saved[1] = numpy.random.get_state() if keep else None
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
    return saved


def _restore_random(saved) -> None:
    if saved[0] is not None:
        random.setstate(saved[0])
    if saved[1] is not None:
        sys.modules["numpy"].random.set_state(saved[1])


class TaskState:
    SUCCESS = "success"
    FAILED = "failed"
    FETCH_FAILED = "fetch_failed"


class StagePayload(Record):
    """What every task of one stage attempt needs; shipped once per executor."""

    stage_id: int
    added_files: Any  # files.AddedFiles: unpickled before the RDD, so added modules import
    rdd: Any
    func: Optional[Callable[[Iterator], Any]]  # result stages
    shuffle_dep: Any  # map stages
    map_statuses: Dict[int, List[list]]  # shuffle_id -> MapStatus.to_wire() per map
    settings: Dict[str, Any]
    #: runs each task (``profiler.profile(run)``) when the stage is profiled, else None
    profiler: Any

    def __init__(self, stage_id, added_files, rdd, func, shuffle_dep, map_statuses, settings,
                 profiler=None):
        self.stage_id = stage_id
        self.added_files = added_files
        self.rdd = rdd
        self.func = func
        self.shuffle_dep = shuffle_dep
        self.map_statuses = map_statuses
        self.settings = settings
        self.profiler = profiler


class ExecutorDirs(Record):
    """An executor's scratch directories under the application's directory."""
    shuffle: str
    blocks: str
    spill: str
    broadcast: str
    files: str

    def __init__(self, shuffle, blocks, spill, broadcast, files):
        self.shuffle = shuffle
        self.blocks = blocks
        self.spill = spill
        self.broadcast = broadcast
        self.files = files

    @classmethod
    def under(cls, app_dir: str, executor_id: str) -> "ExecutorDirs":
        """Its directories, the shuffle and spill ones made."""
        dirs = cls.named(app_dir, executor_id)
        for path in (dirs.shuffle, dirs.spill):
            make_private_dirs(path)
        return dirs

    @classmethod
    def named(cls, app_dir: str, executor_id: str) -> "ExecutorDirs":
        """Its directories (made or not: the driver's view of a dead executor's)."""
        return cls(os.path.join(app_dir, "shuffle"),
                   os.path.join(app_dir, "blocks", executor_id),
                   os.path.join(app_dir, "spill", executor_id),
                   os.path.join(app_dir, "broadcast"),
                   os.path.join(app_dir, "files", executor_id))


class Executor:
    def __init__(self, executor_id: str, host: str, dirs: ExecutorDirs, sink: OutputSink,
                 memory_budget: int, fetch_block=read_local_block, in_driver: bool = False,
                 resources: Optional[Dict[str, List[str]]] = None):
        self.executor_id = executor_id
        #: its custom resources' addresses, by name: given, or by its worker in its
        #: environment (``resources.EXECUTOR_RESOURCES_ENV``)
        self.resources = resources if resources is not None else \
            json.loads(os.environ.get(EXECUTOR_RESOURCES_ENV) or "{}")
        self.host = host
        self.dirs = dirs
        self.sink = sink
        self.fetch_block = fetch_block
        #: runs tasks inside the driver (``local``): the driver's random state is kept
        self.in_driver = in_driver
        self.blocks = BlockStore(dirs.blocks, memory_budget)
        self._payloads = StagePayloads()
        #: ``fetch_broadcast(id, path) -> bytes`` for executors on another host than the driver
        self.fetch_broadcast: Optional[Callable[[int, str], bytes]] = None
        self._broadcasts: Dict[int, Any] = {}
        #: broadcasts being loaded, each with flags a removal of it sets (``remove_broadcast``,
        #: on the block manager's thread): a value loaded while its broadcast is removed is
        #: not kept, as a partition computed while its RDD is removed (``BlockStore``); only
        #: loads in flight are here, not every broadcast ever removed
        self._loading: Dict[int, List[list]] = {}
        #: guards the two maps above between a task's load and a removal
        self._broadcast_lock = threading.Lock()
        #: ``barrier_sync(request, timeout) -> reply``: a barrier task's sync, sent to the
        #: driver's ``BarrierCoordinator`` (set by whoever runs the executor); it raises
        #: ``TimeoutError`` when no reply comes within ``timeout`` seconds
        self.barrier_sync: Optional[Callable[[BarrierSync, float], BarrierSyncReply]] = None
        #: ``fetch_cached_block(block, holders, addresses, timeout) -> records or None``: a
        #: cached partition asked of the executors ``holders`` (at ``addresses[holder]``,
        #: else through the driver), set by whoever runs the executor (None: ``local``)
        self.fetch_cached_block: Optional[Callable[[tuple, List[str], Dict[str, str], float],
                                                   Optional[list]]] = None
        self._installed_files: set = set()
        #: archives unpacked into its root before it started: the one its Python is in
        #: (``executor_python``), not unpacked again over the running interpreter
        self._unpacked_archives = set() if in_driver else \
            set(executor_python.unpacked_archives(os.environ))
        #: SparkFiles' directory in this executor's tasks, files shipped or not
        self.files_root = files.prepare_root(dirs.files)
        if not in_driver:  # a process of its own: threads its tasks start find the root too
            files.executor_root(self.files_root)
        #: the memory limit this process runs under (0: none); a task's MemoryError under
        #: it is not the task's failure but the executor's end (it escapes ``run``)
        self.memory_limit = 0

    # -- caches ------------------------------------------------------------------
    def task_arrived(self, launch: LaunchTask) -> None:
        """``launch`` came from the driver (called in the order its messages arrive)."""
        self._payloads.arrived((launch.stage_id, launch.stage_attempt), launch.payload)

    def task_dropped(self, launch: LaunchTask) -> None:
        """``launch``, which arrived, is dropped unrun (killed while it waited)."""
        self._payloads.dropped((launch.stage_id, launch.stage_attempt))

    def _payload(self, launch: LaunchTask) -> StagePayload:
        key = (launch.stage_id, launch.stage_attempt)
        payload = self._payloads.take(key, launch.payload, self._load_payload)
        if payload is None:
            raise RuntimeError(f"stage {key} payload was never sent to {self.executor_id}")
        return payload

    def _load_payload(self, data: bytes) -> StagePayload:
        with files.installing(self.install_files):
            return pickle.loads(data)

    def load_broadcast(self, broadcast_id: int, path: str) -> Any:
        """A broadcast value, loaded once per executor: from the driver's file when it is
        on this host, else from the driver (``fetch_broadcast``). One removed while it
        loads is given to the task that loads it, and not kept (the driver was told it is
        gone: kept, a destroyed broadcast's value would serve the next tasks)."""
        removed = [False]
        with self._broadcast_lock:
            if broadcast_id in self._broadcasts:
                return self._broadcasts[broadcast_id]
            self._loading.setdefault(broadcast_id, []).append(removed)
        value = loaded = None
        try:
            value = self._read_broadcast(broadcast_id, path)
            loaded = True
        finally:
            with self._broadcast_lock:  # (one section: a removal finds the flag or the value)
                loading = self._loading[broadcast_id]
                loading.remove(removed)
                if not loading:
                    del self._loading[broadcast_id]
                if loaded and not removed[0]:
                    self._broadcasts[broadcast_id] = value
        return value

    def _read_broadcast(self, broadcast_id: int, path: str) -> Any:
        if os.path.exists(path):
            try:
                with open(path, "rb") as fh:
                    return pickle.load(fh)
            except FileNotFoundError:  # destroyed just now: the driver says so, or below
                pass
        if self.fetch_broadcast is not None:
            return pickle.loads(self.fetch_broadcast(broadcast_id, path))
        raise VegaError(f"broadcast {broadcast_id} is no longer on the driver: it was "
                        "destroyed while a job used it")

    def install_files(self, added) -> None:
        """Write files the driver added since the last stage into this process's root."""
        for item in added:
            if item.kind == "archive" and item.name in self._unpacked_archives:
                self._unpacked_archives.discard(item.name)  # (one added again later is new)
                self._installed_files.add(item)
            if item not in self._installed_files:
                files.materialize(item, self.load_broadcast(item.broadcast_id, item.path),
                                  self.files_root)
                self._installed_files.add(item)

    def remove_broadcast(self, broadcast_id: int) -> None:
        with self._broadcast_lock:
            for removed in self._loading.get(broadcast_id, ()):
                removed[0] = True
            value = self._broadcasts.pop(broadcast_id, None)
        del value  # (dropped out of the lock: its finalizers may take a while)

    # -- running -------------------------------------------------------------------
    def run(self, launch: LaunchTask) -> TaskFinished:
        """Run one task attempt; every failure becomes a failed ``TaskFinished``."""
        started = time.monotonic()
        self.blocks.end_task_reads()  # the last task's, should its kill have cut that short
        try:
            payload = self._payload(launch)
            partition = pickle.loads(launch.partition_data)
        except BaseException as exc:  # unpicklable on this side: a missing module, say
            if self._stops_driver(exc):
                raise
            missing = isinstance(exc, ModuleNotFoundError) and exc.name  # the user's module
            return TaskFinished(launch.task_id, TaskState.FAILED, error_type=type(exc).__name__,
                                error_message=f"could not load the task on "
                                f"{self.executor_id}: {error_text(exc)}"
                                + (f": ship it with the job (vega submit --py-files, or "
                                   f"add_py_file), or install it where the executors run"
                                   if missing else ""),
                                traceback="" if missing else user_traceback(exc))
        mismatch = _python_mismatch(payload.settings.get("python_version"))
        if mismatch is not None:
            return TaskFinished(launch.task_id, TaskState.FAILED, error_type="PythonVersionMismatch",
                                error_message=mismatch)
        shuffle_read = [0]
        settings = payload.settings
        cpus = settings.get("task_cpus", 1.0)
        if not self.in_driver and "OMP_NUM_THREADS" not in settings.get("executor_env", ()):
            os.environ["OMP_NUM_THREADS"] = str(executor_cores(cpus))  # as PySpark's workers
        args = (payload.stage_id, launch.partition, launch.attempt, launch.task_id,
                self.executor_id, self.host, self._shuffle_reader(payload, shuffle_read),
                self.blocks, self.load_broadcast, settings, None, None, cpus,
                task_addresses(self.resources, settings.get("task_resources", {})))
        if launch.barrier_addresses is None:
            tc = TaskContext(*args)
        else:
            tc = BarrierTaskContext(*args, addresses=launch.barrier_addresses, sync=lambda *sync:
                                    self._barrier_sync(launch, payload.settings, *sync))
        saved_random = _reseed_random(self.in_driver)
        deserialized = time.monotonic()
        outer = tc.activate(process_wide=not self.in_driver)  # threads the task starts see it too
        outer_root = files.task_root(self.files_root)
        self.blocks.fetch_remote = self._remote_blocks(launch, settings)
        try:
            with OutputCapture(launch.task_id, self.sink, per_thread=self.in_driver), \
                    CtrlCWatch() as ctrl_c:
                try:
                    finished = self._run_task(launch, payload, partition, tc, ctrl_c)
                finally:
                    tc._end()  # (its own Contexts stop: their output is the task's)
        finally:
            self.blocks.end_task_reads()  # (a removal waiting for them is done)
            self.blocks.fetch_remote = None
            TaskContext.deactivate(process_wide=not self.in_driver, outer=outer)
            files.task_root(outer_root)
            _restore_random(saved_random)
        ended = time.monotonic()
        finished.metrics.update(duration=ended - started,
                                deserialize_time=deserialized - started,
                                run_time=ended - deserialized,
                                result_size=len(finished.value or b""))
        if shuffle_read[0]:
            finished.metrics["shuffle_bytes_read"] = shuffle_read[0]
        added, dropped = self.blocks.drain_changes()
        finished.blocks_added = added
        finished.blocks_dropped = [list(b) for b in dropped]
        finished.replicas = [[block[0], block[1], level.name, dumps(records)]
                             for block, level, records in self.blocks.drain_replicas()]
        return finished

    def _barrier_sync(self, launch: LaunchTask, settings: dict, method: str, message: str,
                      epoch: int) -> List[str]:
        """A barrier task's ``epoch``-th sync: every task's message, once all sent theirs."""
        request = BarrierSync(launch.task_id, launch.stage_id, launch.stage_attempt,
                              launch.partition, len(launch.barrier_addresses), epoch, method,
                              message)
        timeout = settings.get("barrier_sync_timeout", 365 * 86400.0)
        what = f"{'barrier()' if method == 'barrier' else 'all_gather()'} of task " \
               f"{launch.partition} of barrier stage {launch.stage_id}"
        try:
            reply = self.barrier_sync(request, timeout)  # type: ignore[misc]
        except TimeoutError:
            raise VegaError(f"{what} timed out: not every task of the stage reached it within "
                            f"{timeout:g}s (vega.barrier.sync_timeout)") from None
        if reply.error:
            raise VegaError(f"{what} failed: {reply.error}")
        return reply.messages

    def _remote_blocks(self, launch: LaunchTask, settings: dict):
        """How a task launched with ``block_holders`` (the cached partitions it reads that
        other executors hold) gets one it lacks here: asked of its holders, waiting at most
        ``vega.shuffle.io.connection_timeout`` for each reply (a block no other executor
        holds is computed at once); None when there is no such block."""
        fetch = self.fetch_cached_block
        if not launch.block_holders or fetch is None:
            return None
        holders = {(rdd_id, partition): executors
                   for rdd_id, partition, executors in launch.block_holders}
        addresses, timeout = launch.block_addresses or {}, settings.get("fetch_timeout", 120.0)
        return lambda block: fetch(block, holders[block], addresses, timeout) \
            if block in holders else None

    def cached_block(self, request: FetchCachedBlock) -> CachedBlock:
        """The reply to another executor's request for a cached partition held here (from
        the thread reading the driver's connection, while a task may run)."""
        name = f"rdd_{request.rdd_id}_{request.partition}"
        # a read a removal waits for, until the records are pickled (as Spark's remote get
        # holds the block's read lock): a blocking unpersist returns with them freed
        with self.blocks.serving((request.rdd_id, request.partition)) as records:
            if records is None:
                return CachedBlock(request.request_id, None,
                                   f"{self.executor_id} does not hold {name}")
            try:
                data = dumps(records)
            except Exception as exc:  # noqa: BLE001 - a record that does not pickle, memory
                return CachedBlock(request.request_id, None,
                                   f"{name} could not be pickled: {error_text(exc)}")
        if len(data) > FRAME_LIMIT - REPORT_HEADROOM:
            return CachedBlock(request.request_id, None, f"{name} ({binary_size(len(data))}) "
                               "is larger than a message may be")
        return CachedBlock(request.request_id, data)

    def put_block(self, message: PutBlock) -> None:
        """Store a replica another executor computed (announced by ``block_message_arrived``)."""
        block = (message.rdd_id, message.partition)
        try:
            self.blocks.put(block, pickle.loads(message.data), StorageLevel.named(message.level))
        finally:
            self.blocks.replica_stored(block)

    def block_message_arrived(self, message) -> None:
        """One of ``BLOCK_MESSAGES`` came (in the order the driver sent them), to be applied
        on the block manager's thread: a task the driver sends after a replica's
        ``PutBlock``, counting this executor a holder of the block, waits for it to be
        stored rather than compute it again (Spark's replication is done as the task that
        cached the block ends)."""
        if isinstance(message, PutBlock):
            self.blocks.replica_coming((message.rdd_id, message.partition))

    def _run_task(self, launch: LaunchTask, payload: StagePayload, partition, tc,
                  ctrl_c: CtrlCWatch) -> TaskFinished:
        try:
            if payload.profiler is None:
                finished = self._compute(launch, payload, partition, tc)
            else:  # (it adds the task's profile to the task's accumulator updates)
                finished = payload.profiler.profile(self._compute, launch, payload, partition, tc)
            if tc.accumulator_updates and finished.state == TaskState.SUCCESS:
                finished.accumulators = dumps(tc.accumulator_updates)
                too_large = report_too_large(len(finished.value or b""),
                                             len(finished.accumulators))
                if too_large is not None:
                    return TaskFinished(launch.task_id, TaskState.FAILED,
                                        error_type=RESULT_TOO_LARGE, error_message=too_large)
            return finished
        except FetchFailed as exc:
            return TaskFinished(launch.task_id, TaskState.FETCH_FAILED, shuffle_id=exc.shuffle_id,
                                map_id=exc.map_id, error_type="FetchFailed",
                                error_message=exc.reason, fetch_from=exc.location)
        except BaseException as exc:  # the user's code may raise anything, even SystemExit
            # Over its memory limit an executor process stops (executor_main).
            if self._stops_driver(exc, ctrl_c.came) or \
                    (isinstance(exc, MemoryError) and self.memory_limit):
                raise
            sys.stderr.flush()
            return TaskFinished(launch.task_id, TaskState.FAILED, error_type=type(exc).__name__,
                                error_message=error_text(exc), traceback=user_traceback(exc))

    def _compute(self, launch: LaunchTask, payload: StagePayload, partition,
                 tc) -> TaskFinished:
        """The task itself: its partition's records computed, and the result or shuffle
        output made of them (a result larger than allowed fails the task)."""
        records = payload.rdd.iterator(partition, tc)
        if payload.shuffle_dep is not None:
            return self._write_shuffle(launch, payload, records)
        value = dumps_result(payload.func(records))
        too_large = result_too_large(len(value), payload.settings.get("max_result_size", 0))
        if too_large is not None:
            return TaskFinished(launch.task_id, TaskState.FAILED, error_type=RESULT_TOO_LARGE,
                                error_message=too_large)
        return TaskFinished(launch.task_id, TaskState.SUCCESS, value=value)

    def _stops_driver(self, exc: BaseException, ctrl_c: bool = True) -> bool:
        """In the driver (``local``) a DriverExit is a kill and a KeyboardInterrupt, when a
        Ctrl-C came (``ctrl_c``; loading a task, always), is Ctrl-C: they stop the driver.
        A KeyboardInterrupt the task's code raised itself fails the task, as an executor
        process's (which ignores Ctrl-C) does, and as in PySpark: it stopped the driver,
        'job cancelled (Ctrl-C)', exit code 130."""
        if not self.in_driver:
            return False
        return isinstance(exc, DriverExit) or (isinstance(exc, KeyboardInterrupt) and ctrl_c)

    def _write_shuffle(self, launch: LaunchTask, payload: StagePayload, records) -> TaskFinished:
        dep = payload.shuffle_dep
        data_path, index_path = output_paths(self.dirs.shuffle, dep.shuffle_id, launch.partition,
                                             launch.task_id)
        with map_attempt_in_flight(self.dirs.spill, data_path):
            offsets = write_map_output(records, dep, data_path, index_path,
                                       payload.settings["memory_bound"],
                                       payload.settings["batch_records"])
        return TaskFinished(launch.task_id, TaskState.SUCCESS, offsets=offsets,
                            data_path=data_path, metrics={"shuffle_bytes_written": offsets[-1]})

    def _shuffle_reader(self, payload: StagePayload, bytes_read: list):
        def read(dep, reduce_id: int) -> Iterator:
            statuses = [MapStatus.from_wire(s) for s in payload.map_statuses[dep.shuffle_id]]
            locations = [s.block(reduce_id) for s in statuses]
            bytes_read[0] += sum(loc.length for loc in locations)
            set_timeout = getattr(self.fetch_block, "set_timeout", None)
            if set_timeout is not None and "fetch_timeout" in payload.settings:
                set_timeout(payload.settings["fetch_timeout"])  # a remote fetcher's
            return read_shuffle(dep, reduce_id, locations, self.fetch_block,
                                payload.settings["memory_bound"], self.dirs.spill)

        return read

    def remove_rdd(self, rdd_id: int, on_removed: Optional[Callable[[], None]] = None) -> None:
        """Drop an RDD's cached blocks; ``on_removed()`` once the running task's reads of
        them have ended (``BlockStore.remove_rdd``)."""
        self.blocks.remove_rdd(rdd_id, on_removed)

    def apply_block_message(self, message, send_reply: Callable[[Removed], None]) -> None:
        """Apply a cached block's or broadcast's message from the driver (``BLOCK_MESSAGES``;
        safe beside a running task); a removal asking for a reply gets it through
        ``send_reply``: a broadcast's at once, an RDD's once the running task's reads of
        its blocks have ended (maybe from the task's thread)."""
        if isinstance(message, PutBlock):
            self.put_block(message)
        elif isinstance(message, RemoveRdd):
            reply = Removed("rdd", message.rdd_id, message.reply)
            self.remove_rdd(message.rdd_id,
                            (lambda: send_reply(reply)) if message.reply else None)
        elif isinstance(message, RemoveBroadcast):
            self.remove_broadcast(message.broadcast_id)
            if message.reply:
                send_reply(Removed("broadcast", message.broadcast_id, message.reply))

    def remove_shuffle(self, shuffle_id: int, before_task: int = 0) -> None:
        """Delete this host's map output files of a shuffle (every executor of the
        application on the host shares the directory: another may have deleted them),
        those of tasks whose id is below ``before_task`` (0: all)."""
        prefix = f"shuffle_{shuffle_id}_"
        with contextlib.suppress(FileNotFoundError), os.scandir(self.dirs.shuffle) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and \
                        (not before_task or (map_output_task_id(entry.name) or 0) < before_task):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)


#: the driver's messages about cached blocks and broadcasts: an executor process applies them
#: on a thread of its own, in the order they came, while a task runs (Spark's executors'
#: BlockManager answers on its own RPC thread), so a blocking removal has not to wait for
#: the task's end, only for its reads of the blocks removed
BLOCK_MESSAGES = (PutBlock, RemoveRdd, RemoveBroadcast)


#: the error type of a task whose result is too large for the driver; the DAG scheduler
#: does not retry it (the same task gives the same result)
RESULT_TOO_LARGE = "ResultTooLarge"
#: room a task's report keeps besides its result (metrics, accumulator updates, blocks),
#: within the frame limit
REPORT_HEADROOM = 1 << 20


def result_too_large(size: int, limit: int) -> Optional[str]:
    """Why a task may not send a serialized result of ``size`` bytes to the driver whose
    ``vega.driver.max_result_size`` is ``limit`` (0: none), or None if it may: it is
    checked before anything goes on the wire, where a frame over the limit would cost the
    executor its connection.

    >>> result_too_large(1 << 20, 1 << 20) is None, result_too_large(10, 0) is None
    (True, True)
    >>> result_too_large(3 << 19, 1 << 20).split(":")[0]
    'the serialized result of 1 task (1.5 MiB) is bigger than vega.driver.max_result_size (1 MiB)'
    >>> result_too_large(FRAME_LIMIT - (1 << 19), 0).split(":")[0]
    'the serialized result of 1 task (1023.5 MiB) is bigger than the 1023 MiB a task can send (the 1 GiB frame limit less room for the rest of its report)'

    A result too large to send is told so whatever the limit (0, or over the frame's, or
    under the result): raising the limit would not let it through.
    """
    wire_limit = FRAME_LIMIT - REPORT_HEADROOM
    if size > wire_limit:
        return (f"the serialized result of 1 task ({binary_size(size)}) is bigger than the "
                f"{binary_size(wire_limit)} a task can send (the {binary_size(FRAME_LIMIT)} "
                f"frame limit less room for the rest of its report): "
                f"{TASK_RESULT_TOO_LARGE_HINT}")
    if limit and size > limit:
        return str(ResultTooLarge(1, size, limit))
    return None


def report_too_large(result: int, updates: int) -> Optional[str]:
    """Why a task may not send its accumulators' ``updates`` bytes with a result of
    ``result`` bytes (None if it may): together they must fit a frame, or the executor
    would lose its connection sending them (and its task be retried, to be lost again).

    >>> report_too_large(FRAME_LIMIT - (2 << 20), 1 << 20) is None
    True
    >>> report_too_large(0, 1 << 30).split(":")[0]
    'the accumulator updates of 1 task (1 GiB) are bigger than the 1023 MiB a task can send (the 1 GiB frame limit less room for the rest of its report)'
    """
    wire_limit = FRAME_LIMIT - REPORT_HEADROOM
    if result + updates <= wire_limit:
        return None
    with_result = f" with its result ({binary_size(result)})" if result >> 20 else ""
    return (f"the accumulator updates of 1 task ({binary_size(updates)}){with_result} are "
            f"bigger than the {binary_size(wire_limit)} a task can send (the "
            f"{binary_size(FRAME_LIMIT)} frame limit less room for the rest of its report): "
            "add small values to accumulators (counts, sums, a few items), and bring large "
            "data back with collect() or write it out (save_as_text_file)")


def serve_tasks(executor: Executor, recv: Callable[[], Any], send: Callable[[Any], None]) -> None:
    """An executor process's main loop: run what the driver sends until it says stop."""
    while True:
        try:
            message = recv()
        except ConnectionClosed:
            return
        if isinstance(message, LaunchTask):
            send(executor.run(message))
        elif isinstance(message, RemoveShuffle):
            # (here, in order with the tasks: one sent after it may write the shuffle again)
            executor.remove_shuffle(message.shuffle_id, message.before_task)
            if message.reply:
                send(Removed("shuffle", message.shuffle_id, message.reply))
        elif isinstance(message, BLOCK_MESSAGES):
            executor.apply_block_message(message, send)
        elif isinstance(message, (Shutdown, KillTask)):
            return


_PYTHON = "%d.%d" % sys.version_info[:2]


def _python_mismatch(driver: Optional[str]) -> Optional[str]:
    """Why this executor cannot run a task of a driver on Python ``driver`` (None if it can)."""
    here = _PYTHON
    if driver is None or driver == here:
        return None
    return (f"Python in the executor is {here}, the driver's is {driver}: tasks need the same "
            "minor version on both (pickled code is version-specific). Run the same Python "
            "everywhere (workers[].python in the cluster file)")
