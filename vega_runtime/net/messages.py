"""Every message Vega processes exchange, as plain dataclasses grouped by direction.

On the wire a message is a msgpack map: its fields plus ``type`` (the class
name).  Code and records travel inside as opaque byte strings.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields
from typing import Annotated, Dict, List, Optional, Type

from .. import ids
from .framing import ProtocolError

# Id fields: from_wire refuses a message whose id does not have its form (vega_runtime/ids.py),
# so no handler ever sees a peer's "../../outside" where a file name is made of an id.
AppId = Annotated[str, ids.APP]
AppIdOrEmpty = Annotated[str, ids.APP.or_empty()]
AppOrDriverId = Annotated[str, ids.APP_OR_DRIVER]
DriverId = Annotated[str, ids.DRIVER]
ExecutorId = Annotated[str, ids.EXECUTOR]
WorkerId = Annotated[str, ids.WORKER]
PackageId = Annotated[str, ids.PACKAGE]
PackageIdOrEmpty = Annotated[str, ids.PACKAGE.or_empty()]
#: ``[app_id, executor_id]``
ExecutorOfApp = Annotated[List[str], (ids.APP, ids.EXECUTOR)]


# -- driver -> executor ------------------------------------------------------

@dataclass
class LaunchTask:
    task_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt: int
    #: cloudpickled StagePayload; sent only with an executor's first task of a stage attempt.
    payload: Optional[bytes]
    #: pickled Partition object of the stage's RDD.
    partition_data: bytes


@dataclass
class KillTask:
    task_id: int


@dataclass
class RemoveRdd:
    rdd_id: int


@dataclass
class RemoveBroadcast:
    broadcast_id: int


@dataclass
class PutBlock:
    """Keep a copy of a cached partition (replicated storage levels, ``*_2``)."""
    rdd_id: int
    partition: int
    level: str
    data: bytes


@dataclass
class Shutdown:
    reason: str = ""


# -- executor -> driver ------------------------------------------------------

@dataclass
class ExecutorReady:
    executor_id: ExecutorId
    host: str
    pid: int


@dataclass
class TaskOutput:
    task_id: int
    stream: str  # "stdout" or "stderr"
    text: str


@dataclass
class TaskFinished:
    task_id: int
    state: str  # TaskState value
    #: pickled result value (result tasks) or msgpack-ready map output offsets (map tasks).
    value: Optional[bytes] = None
    offsets: Optional[List[int]] = None
    data_path: str = ""
    #: pickled {accumulator_id: update}.
    accumulators: Optional[bytes] = None
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    #: for fetch failures
    shuffle_id: int = -1
    map_id: int = -1
    metrics: Dict[str, float] = field(default_factory=dict)
    #: cached partitions stored / dropped on this executor since its last report
    blocks_added: List[list] = field(default_factory=list)  # [rdd, partition, where, bytes]
    blocks_dropped: List[list] = field(default_factory=list)  # [rdd, partition]
    #: blocks whose storage level wants a second copy: [rdd, partition, level name, pickled records]
    replicas: List[list] = field(default_factory=list)


# -- executor -> driver, on connecting ------------------------------------------

@dataclass
class RegisterExecutor:
    executor_id: ExecutorId
    app_id: AppId
    worker_id: WorkerId
    host: str
    shuffle_port: int
    pid: int


@dataclass
class FetchBroadcast:
    """An executor on another host asks its driver for a broadcast value."""
    broadcast_id: int
    path: str


# -- driver -> executor, replies ---------------------------------------------------

@dataclass
class BroadcastData:
    broadcast_id: int
    data: bytes


# -- worker -> master ------------------------------------------------------------

@dataclass
class RegisterWorker:
    worker_id: WorkerId
    host: str
    port: int  # the worker's shuffle service
    cores: int
    memory: int
    labels: List[str]
    python_version: str
    vega_version: str
    pid: int
    executors: List[ExecutorOfApp] = field(default_factory=list)  # the ones it runs, on reconnect


@dataclass
class WorkerHeartbeat:
    worker_id: WorkerId


@dataclass
class WorkerStopping:
    """A worker shutting down on purpose (it will be shown as dead, not lost)."""
    worker_id: WorkerId


@dataclass
class ExecutorExited:
    app_id: AppId
    executor_id: ExecutorId
    exit_code: int
    #: how it ended, for a sentence "executor X on HOST <reason>" (executor_loss.py)
    reason: str
    #: an ``executor_loss.LossCause`` value ("" when unknown)
    cause: str = ""
    #: the end of its log
    detail: str = ""


# -- master -> worker --------------------------------------------------------------

@dataclass
class RegisteredWorker:
    master_version: str


@dataclass
class RegisterWorkerFailed:
    reason: str


@dataclass
class LaunchExecutor:
    app_id: AppId
    executor_id: ExecutorId
    cores: int
    memory: int
    driver_host: str
    driver_port: int
    #: settings the executor needs (PYTHONHASHSEED, log level)
    env: Dict[str, str] = field(default_factory=dict)
    package_sha: PackageIdOrEmpty = ""


@dataclass
class KillExecutor:
    app_id: AppId
    executor_id: ExecutorId


@dataclass
class ApplicationEnded:
    app_id: AppId


# -- driver -> master --------------------------------------------------------------

@dataclass
class RegisterApplication:
    name: str
    driver_host: str
    driver_port: int
    cores_max: int  # 0: as many as the cluster has
    executor_cores: int  # 0: no per-worker limit
    executor_memory: int
    python_version: str
    vega_version: str
    package_sha: PackageIdOrEmpty = ""
    #: set when a driver re-registers after losing the master: resume this application
    app_id: AppIdOrEmpty = ""
    #: PYTHONHASHSEED for the executors, so they all hash keys alike (PySpark's default 0)
    hash_seed: str = "0"
    #: executors only on workers carrying every one of these labels (vega.executor.labels)
    labels: List[str] = field(default_factory=list)
    #: dynamic allocation: the executors it wants now (RequestExecutors changes it); -1:
    #: as many as it can get (static allocation)
    requested_executors: int = -1


@dataclass
class UnregisterApplication:
    app_id: AppIdOrEmpty


@dataclass
class RequestExecutors:
    """Dynamic allocation: the total number of executors the application wants now
    (Spark's RequestExecutors); the master launches no more than that."""
    requested_total: int


@dataclass
class KillExecutors:
    """Dynamic allocation: the application releases these idle executors; the master has
    their workers stop them (their map outputs stay served by the workers)."""
    executor_ids: List[ExecutorId]
    reason: str


@dataclass
class AppLog:
    """Task output relayed by a driver, stored by the master for ``vega logs``."""
    text: str


@dataclass
class AppEvents:
    """Event-log lines (JSON, newline-terminated) relayed by a driver, kept by the master
    for its Spark-shaped REST API and pages while the application runs and after."""
    text: str


@dataclass
class AppMetrics:
    """A driver's cumulative job, stage, task and shuffle counts (JSON), for /metrics."""
    snapshot_json: str


# -- master -> driver ------------------------------------------------------------------

@dataclass
class RegisteredApplication:
    app_id: AppId


@dataclass
class ApplicationRejected:
    reason: str


@dataclass
class ExecutorAdded:
    executor_id: ExecutorId
    worker_id: WorkerId
    host: str
    cores: int


@dataclass
class ExecutorRemoved:
    executor_id: ExecutorId
    #: how it ended, for a sentence "executor X on HOST <reason>" (executor_loss.py)
    reason: str
    worker_lost: bool
    #: an ``executor_loss.LossCause`` value ("" when unknown)
    cause: str = ""
    #: the end of its log, when its worker sent it
    detail: str = ""


@dataclass
class ApplicationWaiting:
    message: str


@dataclass
class ApplicationKilled:
    reason: str


# -- any client -> master ----------------------------------------------------------------

@dataclass
class RequestStatus:
    pass


@dataclass
class StatusReply:
    status_json: str


@dataclass
class FollowLogs:
    app_id: AppOrDriverId
    follow: bool


@dataclass
class LogChunk:
    text: str


@dataclass
class LogEnd:
    state: str
    exit_code: int = 0


@dataclass
class SubmitDriver:
    """Cluster deploy mode: run this packaged job's driver on the master's host."""
    name: str
    job_file: str  # path inside the package, e.g. job/wordcount.py
    args: List[str]
    conf_json: str
    package_sha: PackageId
    supervise: bool


@dataclass
class DriverSubmitted:
    driver_id: DriverId


@dataclass
class KillApplication:
    app_id: AppOrDriverId


@dataclass
class KillResult:
    killed: bool
    message: str


# -- job packages: submitter -> master, worker -> master -------------------------------------

@dataclass
class PackageQuery:
    sha256: PackageId


@dataclass
class PackageStatus:
    sha256: PackageId
    present: bool


@dataclass
class UploadPackage:
    sha256: PackageId
    data: bytes


@dataclass
class FetchPackage:
    sha256: PackageId


@dataclass
class PackageData:
    sha256: PackageId
    data: bytes


# -- executor -> worker (shuffle service) -----------------------------------------------

@dataclass
class FetchBlock:
    path: str
    offset: int
    length: int


@dataclass
class BlockData:
    data: bytes


@dataclass
class BlockUnavailable:
    reason: str


MESSAGE_TYPES: Dict[str, Type] = {cls.__name__: cls for cls in (
    LaunchTask, KillTask, RemoveRdd, RemoveBroadcast, PutBlock, Shutdown,
    ExecutorReady, TaskOutput, TaskFinished, RegisterExecutor,
    RegisterWorker, WorkerHeartbeat, WorkerStopping, ExecutorExited,
    RegisteredWorker, RegisterWorkerFailed, LaunchExecutor, KillExecutor, ApplicationEnded,
    RegisterApplication, UnregisterApplication, RequestExecutors, KillExecutors,
    RegisteredApplication, ApplicationRejected, ExecutorAdded, ExecutorRemoved, ApplicationWaiting,
    FetchBlock, BlockData, BlockUnavailable, RequestStatus, StatusReply,
    PackageQuery, PackageStatus, UploadPackage, FetchPackage, PackageData,
    AppLog, AppEvents, AppMetrics, ApplicationKilled, FollowLogs, LogChunk, LogEnd, KillApplication, KillResult,
    SubmitDriver, DriverSubmitted, FetchBroadcast, BroadcastData,
)}


def to_wire(message) -> dict:
    """The message's fields plus its ``type`` (values are shared, not copied: msgpack only
    reads them)."""
    cls = type(message)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    data = {name: getattr(message, name) for name in names}
    data["type"] = cls.__name__
    return data


_FIELD_NAMES: Dict[type, tuple] = {}


def from_wire(data: dict, peer: str = "peer"):
    """The message a decoded frame holds; ProtocolError unless every field has its type."""
    cls = MESSAGE_TYPES.get(data.get("type"))
    if cls is None:
        raise ProtocolError(peer, f"unknown message type {data.get('type')!r}")
    hints = _field_types(cls)
    values = {k: v for k, v in data.items() if k in hints}
    for name, value in values.items():
        hint, kind = _id_kind(hints[name])
        if not _has_type(value, hint):
            raise ProtocolError(peer, f"bad {cls.__name__}: field {name!r} is "
                                      f"{type(value).__name__}, not {_describe(hint)}")
        if kind is not None and not kind.matches(value):
            raise ProtocolError(peer, f"bad {cls.__name__}: field {name!r} is not a {kind.name}: "
                                      f"{value[:80]!r}")
        if kind is None and not _has_ids(value, hints[name]):
            raise ProtocolError(peer, f"bad {cls.__name__}: field {name!r} holds malformed ids: "
                                      f"{repr(value)[:80]}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ProtocolError(peer, f"bad {cls.__name__}: {exc}") from None


_TYPES_CACHE: Dict[type, dict] = {}


def _field_types(cls: type) -> dict:
    if cls not in _TYPES_CACHE:
        _TYPES_CACHE[cls] = typing.get_type_hints(cls, include_extras=True)
    return _TYPES_CACHE[cls]


def _id_kind(hint):
    """(the type, the ``ids.IdKind`` its values must match or None) of a field's hint."""
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        kinds = [e for e in extras if isinstance(e, ids.IdKind)]
        return base, (kinds[0] if kinds else None)
    return hint, None


def _describe(hint) -> str:
    """A field's type as a message shows it (``Annotated`` ids shown as their base type)."""
    if typing.get_origin(hint) is Annotated:
        return _describe(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (list, dict, typing.Union):
        return str(hint).replace(str(typing.get_args(hint)[0]),
                                 _describe(typing.get_args(hint)[0]), 1)
    return str(hint)


def _has_ids(value, hint) -> bool:
    """Whether the ids inside a (type-checked) list field match: an item hinted
    ``Annotated[List[str], (kind, kind...)]`` must be exactly one id of each kind, and
    an item hinted ``Annotated[str, kind]`` one id of that kind."""
    if typing.get_origin(hint) is not list:
        return True
    (item,) = typing.get_args(hint) or (typing.Any,)
    if typing.get_origin(item) is not Annotated:
        return True
    single = [e for e in typing.get_args(item)[1:] if isinstance(e, ids.IdKind)]
    if single:
        return all(single[0].matches(v) for v in value)
    kinds = [e for e in typing.get_args(item)[1:] if isinstance(e, tuple)]
    return all(len(v) == len(kinds[0]) and all(k.matches(x) for k, x in zip(kinds[0], v))
               for v in value) if kinds else True


def _has_type(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _has_type(value, typing.get_args(hint)[0])
    if origin is typing.Union:
        return any(_has_type(value, arg) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint) or (typing.Any,)
        return isinstance(value, list) and all(_has_type(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint) or (typing.Any, typing.Any)
        return isinstance(value, dict) and all(
            _has_type(k, key) and _has_type(v, item) for k, v in value.items())
    if hint is typing.Any:
        return True
    if hint is type(None):
        return value is None
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True
