"""The messages of cluster mode: executors registering with their driver, workers and
drivers with the master, clients, job packages and the shuffle service.  Records
(``vega_runtime.records``: a hand-written ``__init__``, no code generated at import, which
every daemon and cluster driver pays at start-up), sent and checked like every message
(``vega_runtime.net.messages``, which names them all; this module loads on first use, so
local mode does not pay for defining them).  The driver re-sends its
``RegisterApplication`` changed with ``records.replace``.
"""

# (no ``from __future__ import annotations``: ``from_wire`` reads the fields' types with
# ``typing.get_type_hints``, which would compile every annotation string in each process)

from typing import Dict, List, Optional, Tuple, Type

from ..records import Record
from .messages import (AppId, AppIdOrEmpty, AppOrDriverId, DriverId,  # noqa: F401
                       DriverIdOrEmpty, ExecutorId, ExecutorOfApp, HashSeed, PackageId,
                       PackageIdOrEmpty, WorkerId)

#: a field's default standing for a new empty container (each record gets its own)
_NEW = object()


# -- executor -> driver, on connecting ------------------------------------------

class RegisterExecutor(Record):
    executor_id: ExecutorId
    app_id: AppId
    worker_id: WorkerId
    host: str
    shuffle_port: int
    pid: int
    #: where it serves its cached partitions to other executors' tasks (0: it does not)
    block_port: int
    #: the addresses of custom resources it holds, by name (``{"gpu": ["0"]}``)
    resources: Dict[str, List[str]]

    def __init__(self, executor_id, app_id, worker_id, host, shuffle_port, pid, block_port=0,
                 resources=_NEW):
        self.executor_id = executor_id
        self.app_id = app_id
        self.worker_id = worker_id
        self.host = host
        self.shuffle_port = shuffle_port
        self.pid = pid
        self.block_port = block_port
        self.resources = {} if resources is _NEW else resources


# -- worker -> master ------------------------------------------------------------

class RegisterWorker(Record):
    worker_id: WorkerId
    host: str
    port: int  # the worker's shuffle service
    cores: int
    memory: int
    labels: List[str]
    python_version: str
    vega_version: str
    pid: int
    executors: List[ExecutorOfApp]  # the ones it runs, on reconnect
    #: its custom resources: name -> addresses (vega.worker.resource.NAME.*)
    resources: Dict[str, List[str]]
    #: the addresses each of ``executors`` holds ("APP_ID EXECUTOR_ID" -> name -> addresses)
    executor_resources: Dict[str, Dict[str, List[str]]]
    #: applications whose shuffle output or scratch files it holds with no executor of
    #: theirs running (they may have ended while it was away from the master)
    app_data: List[AppId]

    def __init__(self, worker_id, host, port, cores, memory, labels, python_version,
                 vega_version, pid, executors=_NEW, resources=_NEW, executor_resources=_NEW,
                 app_data=_NEW):
        self.worker_id = worker_id
        self.host = host
        self.port = port
        self.cores = cores
        self.memory = memory
        self.labels = labels
        self.python_version = python_version
        self.vega_version = vega_version
        self.pid = pid
        self.executors = [] if executors is _NEW else executors
        self.resources = {} if resources is _NEW else resources
        self.executor_resources = {} if executor_resources is _NEW else executor_resources
        self.app_data = [] if app_data is _NEW else app_data


class WorkerHeartbeat(Record):
    worker_id: WorkerId

    def __init__(self, worker_id):
        self.worker_id = worker_id


class WorkerStopping(Record):
    """A worker shutting down on purpose (it will be shown as dead, not lost)."""
    worker_id: WorkerId

    def __init__(self, worker_id):
        self.worker_id = worker_id


class ExecutorExited(Record):
    app_id: AppId
    executor_id: ExecutorId
    exit_code: int
    #: how it ended, for a sentence "executor X on HOST <reason>" (executor_loss.py)
    reason: str
    #: an ``executor_loss.LossCause`` value ("" when unknown)
    cause: str = ""
    #: the end of its log
    detail: str = ""

    def __init__(self, app_id, executor_id, exit_code, reason, cause="", detail=""):
        self.app_id = app_id
        self.executor_id = executor_id
        self.exit_code = exit_code
        self.reason = reason
        self.cause = cause
        self.detail = detail


# -- master -> worker --------------------------------------------------------------

class RegisteredWorker(Record):
    master_version: str

    def __init__(self, master_version):
        self.master_version = master_version


class RegisterWorkerFailed(Record):
    reason: str

    def __init__(self, reason):
        self.reason = reason


class LaunchExecutor(Record):
    app_id: AppId
    executor_id: ExecutorId
    cores: int
    memory: int
    driver_host: str
    driver_port: int
    #: settings the executor needs (PYTHONHASHSEED, log level)
    env: Dict[str, str]
    package_sha: PackageIdOrEmpty = ""

    def __init__(self, app_id, executor_id, cores, memory, driver_host, driver_port, env=_NEW,
                 package_sha=""):
        self.app_id = app_id
        self.executor_id = executor_id
        self.cores = cores
        self.memory = memory
        self.driver_host = driver_host
        self.driver_port = driver_port
        self.env = {} if env is _NEW else env
        self.package_sha = package_sha


class KillExecutor(Record):
    app_id: AppId
    executor_id: ExecutorId

    def __init__(self, app_id, executor_id):
        self.app_id = app_id
        self.executor_id = executor_id


class ApplicationEnded(Record):
    app_id: AppId

    def __init__(self, app_id):
        self.app_id = app_id


# -- driver -> master --------------------------------------------------------------

class RegisterApplication(Record):
    name: str
    driver_host: str
    driver_port: int
    cores_max: int  # 0: as many as the cluster has
    executor_cores: int  # 0: no per-worker limit
    executor_memory: int
    python_version: str
    vega_version: str
    package_sha: PackageIdOrEmpty
    #: set when a driver re-registers after losing the master: resume this application
    app_id: AppIdOrEmpty
    #: PYTHONHASHSEED for the executors, so they all hash keys alike (PySpark's default 0)
    hash_seed: HashSeed
    #: executors only on workers carrying every one of these labels (vega.executor.labels)
    labels: List[str]
    #: dynamic allocation: the executors it wants now (RequestExecutors changes it); -1:
    #: as many as it can get (static allocation)
    requested_executors: int
    #: the id the driver's Context goes by (its event log's name): the master gives a new
    #: application that id unless it knows it already, so one id names it everywhere
    proposed_id: AppIdOrEmpty
    #: the cores each executor holds: its one task at a time takes them (vega.task.cpus)
    cores_per_executor: int
    #: what each executor is to have of custom resources (vega.executor.resource.NAME.amount)
    executor_resources: Dict[str, int]
    #: environment variables of every executor (vega.executor.env.VAR)
    executor_env: Dict[str, str]
    #: the cluster-mode driver (``vega submit --deploy-mode cluster``) this application's
    #: driver is, "" for another driver: killing that driver kills the application
    driver_id: DriverIdOrEmpty
    #: of each resource its tasks take a fraction of, how many of its executors may hold one
    #: address (1/vega.task.resource.NAME.amount, rounded down; others: 1)
    executors_per_address: Dict[str, int]

    def __init__(self, name: str, driver_host: str, driver_port: int, cores_max: int,
                 executor_cores: int, executor_memory: int, python_version: str,
                 vega_version: str, package_sha: str = "", app_id: str = "",
                 hash_seed: str = "0", labels: Optional[List[str]] = None,
                 requested_executors: int = -1, proposed_id: str = "",
                 cores_per_executor: int = 1,
                 executor_resources: Optional[Dict[str, int]] = None,
                 executor_env: Optional[Dict[str, str]] = None, driver_id: str = "",
                 executors_per_address: Optional[Dict[str, int]] = None):
        self.name = name
        self.driver_host = driver_host
        self.driver_port = driver_port
        self.cores_max = cores_max
        self.executor_cores = executor_cores
        self.executor_memory = executor_memory
        self.python_version = python_version
        self.vega_version = vega_version
        self.package_sha = package_sha
        self.app_id = app_id
        self.hash_seed = hash_seed
        self.labels = [] if labels is None else labels
        self.requested_executors = requested_executors
        self.proposed_id = proposed_id
        self.cores_per_executor = cores_per_executor
        self.executor_resources = {} if executor_resources is None else executor_resources
        self.executor_env = {} if executor_env is None else executor_env
        self.driver_id = driver_id
        self.executors_per_address = {} if executors_per_address is None \
            else executors_per_address


class UnregisterApplication(Record):
    app_id: AppIdOrEmpty

    def __init__(self, app_id):
        self.app_id = app_id


class RequestExecutors(Record):
    """Dynamic allocation: the total number of executors the application wants now
    (Spark's RequestExecutors); the master launches no more than that."""
    requested_total: int

    def __init__(self, requested_total):
        self.requested_total = requested_total


class KillExecutors(Record):
    """Dynamic allocation: the application releases these idle executors; the master has
    their workers stop them (their map outputs stay served by the workers)."""
    executor_ids: List[ExecutorId]
    reason: str

    def __init__(self, executor_ids, reason):
        self.executor_ids = executor_ids
        self.reason = reason


class AppLog(Record):
    """Task output relayed by a driver, stored by the master for ``vega logs``."""
    text: str
    #: the stream the tasks wrote it to, "stdout" or "stderr" (kept apart by the master)
    stream: str = "stdout"
    #: the runs of lines written after ``text``, in order, each of the other stream than the
    #: run before it (interleaved output in one message, not one a run)
    then: List[str]

    def __init__(self, text, stream="stdout", then=_NEW):
        self.text = text
        self.stream = stream
        self.then = [] if then is _NEW else then

    def runs(self) -> List[Tuple[str, str]]:
        """``(stream, text)`` of each run, in order."""
        return _alternating(self.stream, self.text, self.then)


def _alternating(stream: str, text: str, then: List[str]) -> List[Tuple[str, str]]:
    """``text`` of ``stream``, then the texts of ``then`` alternately of the other one."""
    streams = (stream, "stdout" if stream == "stderr" else "stderr")
    return [(stream, text)] + [(streams[(i + 1) % 2], t) for i, t in enumerate(then)]


class AppEvents(Record):
    """Event-log lines (JSON, newline-terminated) relayed by a driver, kept by the master
    for its Spark-shaped REST API and pages while the application runs and after."""
    text: str

    def __init__(self, text):
        self.text = text


class AppMetrics(Record):
    """A driver's cumulative job, stage, task and shuffle counts (JSON), for /metrics."""
    snapshot_json: str

    def __init__(self, snapshot_json):
        self.snapshot_json = snapshot_json


class DriverHeartbeat(Record):
    """A driver is alive: sent every ``RegisteredApplication.heartbeat_interval``."""


# -- master -> driver ------------------------------------------------------------------

class RegisteredApplication(Record):
    app_id: AppId
    #: how often the driver sends ``DriverHeartbeat`` (0: never; the master does not check)
    heartbeat_interval: float = 0.0

    def __init__(self, app_id, heartbeat_interval=0.0):
        self.app_id = app_id
        self.heartbeat_interval = heartbeat_interval


class ApplicationRejected(Record):
    reason: str

    def __init__(self, reason):
        self.reason = reason


class ExecutorAdded(Record):
    executor_id: ExecutorId
    worker_id: WorkerId
    host: str
    cores: int

    def __init__(self, executor_id, worker_id, host, cores):
        self.executor_id = executor_id
        self.worker_id = worker_id
        self.host = host
        self.cores = cores


class ExecutorRemoved(Record):
    executor_id: ExecutorId
    #: how it ended, for a sentence "executor X on HOST <reason>" (executor_loss.py)
    reason: str
    worker_lost: bool
    #: an ``executor_loss.LossCause`` value ("" when unknown)
    cause: str = ""
    #: the end of its log, when its worker sent it
    detail: str = ""

    def __init__(self, executor_id, reason, worker_lost, cause="", detail=""):
        self.executor_id = executor_id
        self.reason = reason
        self.worker_lost = worker_lost
        self.cause = cause
        self.detail = detail


class ApplicationWaiting(Record):
    message: str

    def __init__(self, message):
        self.message = message


class ApplicationKilled(Record):
    reason: str

    def __init__(self, reason):
        self.reason = reason


class MasterStopping(Record):
    """The master is stopping on purpose (vega stop-master, stop-cluster, a SIGTERM): a
    driver left with no executor need not wait for it to come back."""
    reason: str

    def __init__(self, reason):
        self.reason = reason


# -- any client -> master ----------------------------------------------------------------

class RequestStatus(Record):
    pass


class StatusReply(Record):
    status_json: str

    def __init__(self, status_json):
        self.status_json = status_json


class FollowLogs(Record):
    app_id: AppOrDriverId
    follow: bool
    #: where to start in the stored stdout and stderr: the ``LogChunk.offset`` of each last
    #: received, by a follower following again (its master restarted); [] from the start
    offsets: List[int]
    #: the follower takes a ``LogChunk`` of many runs (``then``): one a run of interleaved
    #: output cost the master a message each (a follower of before gets those)
    batched: bool = False
    #: the generation of the stored files ``offsets`` are in (``LogChunk.generation``): -1
    #: none yet (a follower of before, or one that has printed nothing)
    generation: int = -1

    def __init__(self, app_id, follow, offsets=_NEW, batched=False, generation=-1):
        self.app_id = app_id
        self.follow = follow
        self.offsets = [] if offsets is _NEW else offsets
        self.batched = batched
        self.generation = generation


class LogChunk(Record):
    text: str
    #: the stream it was written to: "stderr" for a cluster-mode driver's standard error
    #: (its progress, warnings, errors), else "stdout"
    stream: str = "stdout"
    #: the offset in the stored stream past this chunk (-1: not said), for a ``FollowLogs``
    #: to go on from
    offset: int = -1
    #: the runs after ``text``, in order, each of the other stream than the run before it
    #: (to a ``FollowLogs`` that is ``batched``)
    then: List[str]
    #: the offset in the other stream past its last run in ``then`` (-1: none there)
    then_offset: int = -1
    #: which generation of the stored files (they rotate) the offsets are in: a follower
    #: following again sends it back (-1: not said; a new one: the other stream's offset is 0)
    generation: int = -1

    def __init__(self, text, stream="stdout", offset=-1, then=_NEW, then_offset=-1,
                 generation=-1):
        self.text = text
        self.stream = stream
        self.offset = offset
        self.then = [] if then is _NEW else then
        self.then_offset = then_offset
        self.generation = generation

    def runs(self) -> List[Tuple[str, str]]:
        """``(stream, text)`` of each run, in order."""
        return _alternating(self.stream, self.text, self.then)


class LogEnd(Record):
    state: str
    exit_code: int = 0
    #: why a cluster-mode driver failed before it ran ("" otherwise)
    reason: str = ""

    def __init__(self, state, exit_code=0, reason=""):
        self.state = state
        self.exit_code = exit_code
        self.reason = reason


class SubmitDriver(Record):
    """Cluster deploy mode: run this packaged job's driver on the master's host."""
    name: str
    job_file: str  # path inside the package, e.g. job/wordcount.py
    args: List[str]
    conf_json: str
    package_sha: PackageId
    supervise: bool

    def __init__(self, name, job_file, args, conf_json, package_sha, supervise):
        self.name = name
        self.job_file = job_file
        self.args = args
        self.conf_json = conf_json
        self.package_sha = package_sha
        self.supervise = supervise


class DriverSubmitted(Record):
    driver_id: DriverId

    def __init__(self, driver_id):
        self.driver_id = driver_id


class KillApplication(Record):
    app_id: AppOrDriverId

    def __init__(self, app_id):
        self.app_id = app_id


class KillResult(Record):
    killed: bool
    message: str

    def __init__(self, killed, message):
        self.killed = killed
        self.message = message


# -- job packages: submitter -> master, worker -> master -------------------------------------

class PackageQuery(Record):
    sha256: PackageId

    def __init__(self, sha256):
        self.sha256 = sha256


class PackageStatus(Record):
    sha256: PackageId
    present: bool
    reason: str  # why an upload was not stored ("" otherwise)
    #: the master's vega.package.max_size when the upload was refused as larger (else 0)
    max_size: int

    def __init__(self, sha256, present, reason="", max_size=0):
        self.sha256 = sha256
        self.present = present
        self.reason = reason
        self.max_size = max_size


class UploadPackage(Record):
    """A package of ``size`` bytes to store: the master answers ``UploadReady`` (then its
    bytes follow as ``PackageChunk`` messages, ``net.package_stream``) or a ``PackageStatus``
    refusing it with the reason (past its limit, no room on its disk) before any is sent."""
    sha256: PackageId
    size: int

    def __init__(self, sha256, size):
        self.sha256 = sha256
        self.size = size


class UploadReady(Record):
    sha256: PackageId

    def __init__(self, sha256):
        self.sha256 = sha256


class PackageChunk(Record):
    """The next bytes of a package in transit (``net.package_stream.CHUNK`` at most)."""
    data: bytes

    def __init__(self, data):
        self.data = data


class FetchPackage(Record):
    sha256: PackageId

    def __init__(self, sha256):
        self.sha256 = sha256


class PackageData(Record):
    """The package asked for: its ``size`` bytes follow as ``PackageChunk`` messages."""
    sha256: PackageId
    size: int

    def __init__(self, sha256, size):
        self.sha256 = sha256
        self.size = size


# -- executor -> worker (shuffle service) -----------------------------------------------

class FetchBlock(Record):
    path: str
    offset: int
    length: int

    def __init__(self, path, offset, length):
        self.path = path
        self.offset = offset
        self.length = length


class BlockData(Record):
    data: bytes

    def __init__(self, data):
        self.data = data


class BlockUnavailable(Record):
    reason: str

    def __init__(self, reason):
        self.reason = reason


CLUSTER_MESSAGE_TYPES: Dict[str, Type] = {cls.__name__: cls for cls in (
    RegisterExecutor, RegisterWorker, WorkerHeartbeat,
    WorkerStopping, ExecutorExited, RegisteredWorker, RegisterWorkerFailed, LaunchExecutor,
    KillExecutor, ApplicationEnded, RegisterApplication, UnregisterApplication, RequestExecutors,
    KillExecutors, AppLog, AppEvents, AppMetrics, DriverHeartbeat, RegisteredApplication, ApplicationRejected,
    ExecutorAdded, ExecutorRemoved, ApplicationWaiting, ApplicationKilled, MasterStopping,
    RequestStatus,
    StatusReply, FollowLogs, LogChunk, LogEnd, SubmitDriver, DriverSubmitted, KillApplication,
    KillResult, PackageQuery, PackageStatus, UploadPackage, UploadReady, PackageChunk,
    FetchPackage, PackageData, FetchBlock,
    BlockData, BlockUnavailable,
)}
