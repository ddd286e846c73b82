"""The records of the master's state (``master_state.MasterState``): its workers and
applications, their states, and what of them survives a restart (``record()``)."""

from __future__ import annotations

import enum
from typing import Dict, List, Optional, Set, Tuple

from ..net.messages import RegisterApplication
from ..records import Record
from ..scheduler.job_metrics import less_counts
from .placement import ExecutorFailures, ExecutorShare

#: a field's default standing for a new empty container (each record gets its own)
_NEW = object()


class WorkerState(str, enum.Enum):
    ALIVE = "alive"
    LOST = "lost"  # its connection closed or it went silent
    DEAD = "dead"  # it said it was stopping


class AppState(str, enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def active(self) -> bool:
        return self in (AppState.WAITING, AppState.RUNNING)


# -- state ---------------------------------------------------------------------------------

class Worker(Record):
    """A registered worker: its address, resources, session and last heartbeat."""
    worker_id: str
    host: str
    port: int
    cores: int
    memory: int
    labels: List[str]
    pid: int
    session: int
    registered: float
    last_heartbeat: float
    state: WorkerState = WorkerState.ALIVE
    #: when it stopped being alive
    gone: Optional[float] = None
    executors: Dict[Tuple[str, str], ExecutorShare]  # (app, exec) -> what it holds
    #: custom resources: name -> addresses
    resources: Dict[str, List[str]]
    #: applications not known to have ended whose data it holds without their executors
    app_data: Set[str]

    def __init__(self, worker_id, host, port, cores, memory, labels, pid, session, registered,
                 last_heartbeat, state=WorkerState.ALIVE, gone=None, executors=_NEW,
                 resources=_NEW, app_data=_NEW):
        self.worker_id, self.host, self.port, self.pid = worker_id, host, port, pid
        self.cores, self.memory, self.labels = cores, memory, labels
        self.session, self.registered, self.last_heartbeat = session, registered, last_heartbeat
        self.state, self.gone = state, gone
        self.executors = {} if executors is _NEW else executors
        self.resources = {} if resources is _NEW else resources
        self.app_data = set() if app_data is _NEW else app_data

    @property
    def cores_used(self) -> int:
        return sum(share.cores for share in self.executors.values())

    @property
    def memory_used(self) -> int:
        return sum(share.memory for share in self.executors.values())

    def record(self) -> dict:
        return {"host": self.host, "port": self.port, "cores": self.cores, "memory": self.memory,
                "labels": self.labels, "state": self.state.value, "resources": self.resources,
                "gone": self.gone}


class Application(Record):
    """A registered application: its request, state and executors."""
    app_id: str
    request: RegisterApplication
    session: int
    submitted: float
    state: AppState = AppState.WAITING
    ended: Optional[float] = None
    executors: Dict[str, str]  # executor_id -> worker_id
    next_executor: int = 1
    waiting_reason: str = ""
    #: the driver's latest cumulative job metrics (JobMetrics.snapshot)
    metrics: dict
    #: what /metrics takes off ``metrics`` (``counted_metrics``): nothing ({}) for an
    #: application registered with this master; for one resumed after a restart, its
    #: driver's first snapshot to this master (None until it comes), as this master did
    #: not count what its driver had done before
    metrics_base: Optional[dict] = None
    #: dynamic allocation's cap: the executors the application asked for (None: static
    #: allocation, as many as it can get)
    requested_total: Optional[int] = None
    #: its executors' recent exits (``placement.ExecutorFailures``)
    failures: ExecutorFailures
    #: when its driver's connection ended without it unregistering, until it registers
    #: again (None: the driver is connected); it gets no new executors meanwhile
    driver_away: Optional[float] = None
    #: its driver's port is being probed (``ProbeDriver`` sent, no ``DriverProbed`` yet)
    probing: bool = False
    #: when the master last heard from its driver (registration, heartbeat)
    driver_heard: float = 0.0
    #: why it ended, when its driver may not know (": its driver sent nothing for ...")
    end_reason: str = ""

    def __init__(self, app_id, request, session, submitted, state=AppState.WAITING, ended=None,
                 executors=_NEW, next_executor=1, waiting_reason="", metrics=_NEW,
                 metrics_base=_NEW, requested_total=None, failures=_NEW, driver_away=None,
                 probing=False, driver_heard=None, end_reason=""):
        self.app_id, self.request, self.session = app_id, request, session
        self.submitted, self.state, self.ended = submitted, state, ended
        self.executors = {} if executors is _NEW else executors
        self.next_executor = next_executor
        self.failures = ExecutorFailures() if failures is _NEW else failures
        self.waiting_reason = waiting_reason
        self.metrics = {} if metrics is _NEW else metrics
        self.metrics_base = {} if metrics_base is _NEW else metrics_base
        self.requested_total = requested_total
        self.driver_away = driver_away
        self.probing = probing
        self.driver_heard = submitted if driver_heard is None else driver_heard
        self.end_reason = end_reason

    @property
    def at_requested_total(self) -> bool:
        """It has (or is launching) every executor it asked for."""
        return self.requested_total is not None and len(self.executors) >= self.requested_total

    def counted_metrics(self) -> dict:
        """Its job metrics as /metrics sums them (``job_metrics.less_counts``)."""
        return less_counts(self.metrics, self.metrics_base)

    def record(self) -> dict:
        """What survives a master restart."""
        return {"name": self.request.name, "state": self.state.value, "ended": self.ended,
                "submitted": self.submitted, "driver_id": self.request.driver_id,
                "driver_host": self.request.driver_host, "driver_port": self.request.driver_port,
                "next_executor": self.next_executor, "package_sha": self.request.package_sha,
                "executor_size": [self.request.executor_memory, self.request.cores_per_executor]}
