"""The messages of cluster mode: executors registering with their driver, workers and
drivers with the master, clients, job packages and the shuffle service.  Plain dataclasses,
sent and checked like every message (``vega_runtime.net.messages``, which names them all;
this module loads on first use, so local mode does not pay for defining them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Type

from .messages import (AppId, AppIdOrEmpty, AppOrDriverId, DriverId, ExecutorId, ExecutorOfApp,  # noqa: F401
                       PackageId, PackageIdOrEmpty, WorkerId)


# -- executor -> driver, on connecting ------------------------------------------

@dataclass
class RegisterExecutor:
    executor_id: ExecutorId
    app_id: AppId
    worker_id: WorkerId
    host: str
    shuffle_port: int
    pid: int


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


CLUSTER_MESSAGE_TYPES: Dict[str, Type] = {cls.__name__: cls for cls in (
    RegisterExecutor, RegisterWorker, WorkerHeartbeat,
    WorkerStopping, ExecutorExited, RegisteredWorker, RegisterWorkerFailed, LaunchExecutor,
    KillExecutor, ApplicationEnded, RegisterApplication, UnregisterApplication, RequestExecutors,
    KillExecutors, AppLog, AppEvents, AppMetrics, RegisteredApplication, ApplicationRejected,
    ExecutorAdded, ExecutorRemoved, ApplicationWaiting, ApplicationKilled, RequestStatus,
    StatusReply, FollowLogs, LogChunk, LogEnd, SubmitDriver, DriverSubmitted, KillApplication,
    KillResult, PackageQuery, PackageStatus, UploadPackage, FetchPackage, PackageData, FetchBlock,
    BlockData, BlockUnavailable,
)}
