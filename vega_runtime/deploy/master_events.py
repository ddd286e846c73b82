"""What happens to the master and what it must do about it: ``MasterState``'s events
(what peers sent, what the I/O layer saw, the time passing) and actions (what to send, which
connection to close, what to save or delete).  Plain records: the I/O layer (``master.py``,
``master_connections.py``) makes the events and carries the actions out."""

from __future__ import annotations

from typing import List, Optional, Union

from ..net.messages import RegisterApplication, RegisterWorker
from ..records import Record


# -- events: what happened ------------------------------------------------------------

class WorkerRegistering(Record):
    """Event: a worker asks to register."""
    session: int
    register: RegisterWorker

    def __init__(self, session, register):
        self.session = session
        self.register = register


class HeartbeatReceived(Record):
    """Event: a worker's heartbeat, or a driver's (``DriverHeartbeat``)."""
    session: int

    def __init__(self, session):
        self.session = session


class ExecutorExitReported(Record):
    """Event: a worker reports that an executor exited."""
    session: int
    app_id: str
    executor_id: str
    reason: str
    #: an ``executor_loss.LossCause`` value, and the end of the executor's log
    cause: str = ""
    detail: str = ""

    def __init__(self, session, app_id, executor_id, reason, cause="", detail=""):
        self.session, self.app_id, self.executor_id = session, app_id, executor_id
        self.reason, self.cause, self.detail = reason, cause, detail


class WorkerStopped(Record):
    """The worker said it is shutting down on purpose."""
    session: int

    def __init__(self, session):
        self.session = session


class ConnectionLost(Record):
    """A peer's connection closed, or sending to it failed."""
    session: int
    reason: str

    def __init__(self, session, reason):
        self.session, self.reason = session, reason


class ApplicationRegistering(Record):
    """Event: a driver asks to register its application."""
    session: int
    request: RegisterApplication

    def __init__(self, session, request):
        self.session, self.request = session, request


class MetricsReported(Record):
    """Event: a driver's metrics snapshot."""
    session: int
    snapshot: dict

    def __init__(self, session, snapshot):
        self.session, self.snapshot = session, snapshot


class ApplicationUnregistered(Record):
    """Event: a driver ends its application."""
    session: int

    def __init__(self, session):
        self.session = session


class KillRequested(Record):
    """Event: someone asks to kill an application."""
    app_id: str
    reason: str

    def __init__(self, app_id, reason):
        self.app_id = app_id
        self.reason = reason


class ExecutorsRequested(Record):
    """Dynamic allocation: the application wants this many executors now."""
    session: int
    requested_total: int

    def __init__(self, session, requested_total):
        self.session, self.requested_total = session, requested_total


class ExecutorsReleased(Record):
    """Dynamic allocation: the application gives these idle executors back."""
    session: int
    executor_ids: List[str]
    reason: str

    def __init__(self, session, executor_ids, reason):
        self.session, self.executor_ids, self.reason = session, executor_ids, reason


class DriverProbed(Record):
    """Event: the answer to ``ProbeDriver``: ``gone`` when the driver's host refused a
    connection to its port (its process ended), False when it accepted one or did not
    answer (a network fault may be cutting it off); ``silent`` when it did not answer
    within the probe's timeout (its host drops packets, is down or gone)."""
    app_id: str
    away_since: float
    gone: bool
    silent: bool = False

    def __init__(self, app_id, away_since, gone, silent=False):
        self.app_id, self.away_since, self.gone, self.silent = app_id, away_since, gone, silent


class Tick(Record):
    """Time passed: expire silent workers, forget old applications."""


Event = Union[WorkerRegistering, HeartbeatReceived, ExecutorExitReported, WorkerStopped,
              ConnectionLost, ApplicationRegistering, MetricsReported, ApplicationUnregistered,
              KillRequested, ExecutorsRequested, ExecutorsReleased, DriverProbed, Tick]


# -- actions: what the I/O layer must do --------------------------------------------------

class Send(Record):
    """Action: send ``message`` to the peer of ``session``."""
    session: int
    message: object

    def __init__(self, session, message):
        self.session = session
        self.message = message


class Disconnect(Record):
    """Close the session's connection after what was sent to it so far."""
    session: int
    reason: str

    def __init__(self, session, reason):
        self.session = session
        self.reason = reason


class SaveState(Record):
    """The recoverable state changed: write ``snapshot()``."""


class ForgetApplication(Record):
    """Delete what is stored for the application: its logs, and its package unless
    ``package_sha`` is empty (another known application still uses it) or a submitter
    stored or found it after ``ended`` (the application's end, the master's clock; None:
    unknown, a recovered one)."""
    app_id: str
    package_sha: str
    ended: Optional[float]

    def __init__(self, app_id, package_sha, ended=None):
        self.app_id = app_id
        self.package_sha = package_sha
        self.ended = ended


class ProbeDriver(Record):
    """Find out whether the driver of ``app_id``, whose connection ended without it
    unregistering, still runs: connect to its port (``host``:``port``, where its executors
    connect) and report ``DriverProbed``."""
    app_id: str
    host: str
    port: int
    away_since: float

    def __init__(self, app_id, host, port, away_since):
        self.app_id, self.host, self.port, self.away_since = app_id, host, port, away_since


Action = Union[Send, Disconnect, SaveState, ForgetApplication, ProbeDriver]
