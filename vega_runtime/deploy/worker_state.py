"""The worker's decisions as pure state transitions: events and the time in, actions out.

``WorkerState.handle(event, now)`` decides when to register with the master and when to
try again (backoff with jitter and a cap), when to send heartbeats, when the master has
been away too long (``death_timeout``, counted from the last contact with it), which
executor exits to report, which processes to kill and when to clean work directories.
It performs no I/O and reads no clock: ``vega_runtime.deploy.worker.Worker`` feeds it
events from sockets, processes and timers, and carries out the actions it returns, so
tests drive hours of simulated time with plain calls (cf. dask's
``WorkerState.handle_stimulus`` and ``vega_runtime.scheduler.dag``)::

    >>> state = WorkerState(death_timeout=60.0, work_dir_ttl=3600.0)
    >>> state.handle(Started(), now=0.0)
    [Connect(session=1, executors=[])]
    >>> state.handle(Registered(session=1), now=0.1)
    []
    >>> state.handle(Tick(), now=2.1)
    [SendHeartbeat()]
"""

from __future__ import annotations

import logging
import random
from enum import Enum
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from ..executor_loss import LossCause, classify_exit
from ..net.messages import LaunchExecutor
from ..records import FrozenRecord, Record
from ..retry import backoff_delay

#: a field's default standing for a new empty container (each record gets its own)
_NEW = object()

log = logging.getLogger(__name__)

# The defaults of WorkerState's settings; a worker's come from its Config (vega.worker.*
# in conf/vega-defaults.yaml), and a test keeps these in step with it.
#: seconds between two heartbeats to the master
HEARTBEAT_SECONDS = 2.0
#: reconnecting to the master: quick at first (it may be starting too), then backing off by
#: this factor up to a cap; each delay is shortened by a random part of up to ``JITTER`` so
#: that the workers of a restarted master do not all knock at once
FIRST_RETRY_SECONDS = 0.005
RETRY_GROWTH = 1.5
MAX_RETRY_SECONDS = 5.0
JITTER = 0.5
#: the cap is also at most this fraction of the death timeout, so a worker tries several
#: times before it gives up (a 4 s death timeout retries at least every 0.5 s)
RETRY_CAP_OF_DEATH_TIMEOUT = 1 / 8
#: a registration the master has not answered after this long is abandoned and tried again
#: (a master that accepts connections but hangs must not hold the worker until its death)
REGISTRATION_TIMEOUT_SECONDS = 10.0


class WorkerStatus(str, Enum):
    STARTING = "starting"        # not started yet
    CONNECTING = "connecting"    # a registration attempt is under way
    BACKING_OFF = "backing_off"  # waiting before the next attempt
    REGISTERED = "registered"    # a session with the master is open
    STOPPED = "stopped"


class ExecutorStatus(str, Enum):
    LAUNCHING = "launching"  # its package is being prepared, its process started
    RUNNING = "running"
    KILLING = "killing"      # told to stop: its exit is expected, not reported


# -- events ------------------------------------------------------------------------------

class Started(FrozenRecord):
    """The worker starts (its shuffle service listens)."""


class Tick(FrozenRecord):
    """Time has passed (a timer the I/O layer set from ``next_wakeup``, or any wake-up)."""


class Registered(FrozenRecord):
    """The master accepted the registration of session ``session``."""
    session: int

    def __init__(self, session):
        object.__setattr__(self, "session", session)


class RegistrationFailed(FrozenRecord):
    """Session ``session`` could not connect or register (the master is not there)."""
    session: int
    reason: str

    def __init__(self, session, reason):
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "reason", reason)


class Refused(FrozenRecord):
    """The master refused this worker (another Python or Vega version)."""
    session: int
    reason: str

    def __init__(self, session, reason):
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "reason", reason)


class SessionLost(FrozenRecord):
    """The registered session ``session`` ended: its connection closed or broke."""
    session: int
    reason: str

    def __init__(self, session, reason):
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "reason", reason)


class LaunchRequested(FrozenRecord):
    """The master asks for an executor."""
    order: LaunchExecutor

    def __init__(self, order):
        object.__setattr__(self, "order", order)


class KillRequested(FrozenRecord):
    """The master asks to stop one executor."""
    app_id: str
    executor_id: str

    def __init__(self, app_id, executor_id):
        object.__setattr__(self, "app_id", app_id)
        object.__setattr__(self, "executor_id", executor_id)


class ApplicationFinished(FrozenRecord):
    """The master says an application has ended: its executors go."""
    app_id: str

    def __init__(self, app_id):
        object.__setattr__(self, "app_id", app_id)


class ExecutorStarted(FrozenRecord):
    """An executor's process runs."""
    app_id: str
    executor_id: str

    def __init__(self, app_id, executor_id):
        object.__setattr__(self, "app_id", app_id)
        object.__setattr__(self, "executor_id", executor_id)


class ExecutorLaunchFailed(FrozenRecord):
    """An executor could not be started (its package could not be fetched or unpacked,
    its process not created); ``reason`` says why, for the driver."""
    app_id: str
    executor_id: str
    reason: str

    def __init__(self, app_id, executor_id, reason):
        object.__setattr__(self, "app_id", app_id)
        object.__setattr__(self, "executor_id", executor_id)
        object.__setattr__(self, "reason", reason)


class ExecutorProcessExited(FrozenRecord):
    """An executor's process ended; ``detail`` is the tail of its log, ``memory_limit``
    the limit it ran under (0: none), ``oom_kills`` how many processes the kernel's OOM
    killer killed on this host while it ran."""
    app_id: str
    executor_id: str
    exit_code: int
    detail: str = ""
    memory_limit: int = 0
    oom_kills: int = 0

    def __init__(self, app_id, executor_id, exit_code, detail="", memory_limit=0, oom_kills=0):
        object.__setattr__(self, "app_id", app_id)
        object.__setattr__(self, "executor_id", executor_id)
        object.__setattr__(self, "exit_code", exit_code)
        object.__setattr__(self, "detail", detail)
        object.__setattr__(self, "memory_limit", memory_limit)
        object.__setattr__(self, "oom_kills", oom_kills)


class StopRequested(FrozenRecord):
    """SIGTERM, SIGINT or ``stop``: say goodbye to the master and stop."""


# -- actions -----------------------------------------------------------------------------

class Connect(FrozenRecord):
    """Open session ``session``: connect, register with ``executors`` ([app_id,
    executor_id] still running here), then report what the master says as events."""
    session: int
    executors: List[List[str]]

    def __init__(self, session, executors):
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "executors", executors)


class AbandonSession(FrozenRecord):
    """Close session ``session``'s connection: its registration went unanswered."""
    session: int

    def __init__(self, session):
        object.__setattr__(self, "session", session)


class SendHeartbeat(FrozenRecord):
    """Action: tell the master this worker is alive."""
    pass


class StartExecutor(FrozenRecord):
    """Prepare the order's package and start the executor's process."""
    order: LaunchExecutor

    def __init__(self, order):
        object.__setattr__(self, "order", order)


class KillExecutor(FrozenRecord):
    """Kill an executor's process group (if its process exists)."""
    app_id: str
    executor_id: str

    def __init__(self, app_id, executor_id):
        object.__setattr__(self, "app_id", app_id)
        object.__setattr__(self, "executor_id", executor_id)


class ReportExecutorExit(FrozenRecord):
    """Tell the master an executor ended without being asked to (ExecutorExited):
    ``reason`` describes how (``executor_loss``), ``cause`` classifies it."""
    app_id: str
    executor_id: str
    exit_code: int
    reason: str
    cause: str = ""
    detail: str = ""

    def __init__(self, app_id, executor_id, exit_code, reason, cause="", detail=""):
        object.__setattr__(self, "app_id", app_id)
        object.__setattr__(self, "executor_id", executor_id)
        object.__setattr__(self, "exit_code", exit_code)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "cause", cause)
        object.__setattr__(self, "detail", detail)


class CleanWorkDirs(FrozenRecord):
    """Delete idle work directories of applications not in ``keep`` (see ``expired_app_dirs``)."""
    keep: FrozenSet[str]

    def __init__(self, keep):
        object.__setattr__(self, "keep", keep)


class RemoveAppData(FrozenRecord):
    """Delete a finished application's shuffle output, spills and cached blocks now that
    none of its executors runs here (its logs stay for ``work_dir_ttl``), as Spark's
    standalone worker deletes an application's local directories when it finishes."""
    app_id: str

    def __init__(self, app_id):
        object.__setattr__(self, "app_id", app_id)


class Shutdown(FrozenRecord):
    """Stop: tell the master goodbye if ``goodbye``, kill every executor, exit with
    ``exit_code``."""
    exit_code: int
    reason: str
    goodbye: bool

    def __init__(self, exit_code, reason, goodbye):
        object.__setattr__(self, "exit_code", exit_code)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "goodbye", goodbye)


# -- the state machine -------------------------------------------------------------------

Key = Tuple[str, str]  # (app_id, executor_id)


class WorkerState(Record):
    """Everything the worker decides, with no I/O; ``handle`` is the only way in."""
    death_timeout: float
    work_dir_ttl: float
    rng: random.Random
    heartbeat_interval: float = HEARTBEAT_SECONDS
    #: the longest wait between two registration attempts (see ``retry_cap``)
    max_retry: float = MAX_RETRY_SECONDS
    registration_timeout: float = REGISTRATION_TIMEOUT_SECONDS
    status: WorkerStatus = WorkerStatus.STARTING
    #: the current (or last) session number; events of other sessions are stale
    session: int = 0
    #: the last moment the master was known to be there (registered and connected)
    last_contact: float = 0.0
    #: failed attempts since the last registration (sets the backoff)
    attempts: int = 0
    retry_at: Optional[float] = None
    #: when the registration under way is abandoned
    registration_deadline: Optional[float] = None
    heartbeat_at: Optional[float] = None
    cleanup_at: Optional[float] = None
    executors: Dict[Key, ExecutorStatus]
    #: counts for /metrics
    launched: int = 0
    exited: int = 0
    #: finished applications whose data goes once their last executor here has exited
    ending: Set[str]

    def __init__(self, death_timeout, work_dir_ttl, rng=_NEW,
                 heartbeat_interval=HEARTBEAT_SECONDS, max_retry=MAX_RETRY_SECONDS,
                 registration_timeout=REGISTRATION_TIMEOUT_SECONDS,
                 status=WorkerStatus.STARTING, session=0, last_contact=0.0, attempts=0,
                 retry_at=None, registration_deadline=None, heartbeat_at=None, cleanup_at=None,
                 executors=_NEW, launched=0, exited=0, ending=_NEW):
        self.death_timeout = death_timeout
        self.work_dir_ttl = work_dir_ttl
        self.rng = random.Random() if rng is _NEW else rng
        self.heartbeat_interval = heartbeat_interval
        self.max_retry = max_retry
        self.registration_timeout = registration_timeout
        self.status = status
        self.session = session
        self.last_contact = last_contact
        self.attempts = attempts
        self.retry_at = retry_at
        self.registration_deadline = registration_deadline
        self.heartbeat_at = heartbeat_at
        self.cleanup_at = cleanup_at
        self.executors = {} if executors is _NEW else executors
        self.ending = set() if ending is _NEW else ending
        self.launched = launched
        self.exited = exited

    @property
    def cleanup_interval(self) -> float:
        return max(1.0, min(60.0, self.work_dir_ttl / 2))

    @property
    def retry_cap(self) -> float:
        return max(FIRST_RETRY_SECONDS,
                   min(self.max_retry, self.death_timeout * RETRY_CAP_OF_DEATH_TIMEOUT))

    def running_apps(self) -> FrozenSet[str]:
        return frozenset(app for app, _ in self.executors)

    def next_wakeup(self) -> Optional[float]:
        """When the worker next has something to do unprompted (None: nothing)."""
        if self.status == WorkerStatus.STOPPED:
            return None
        times = [self.cleanup_at]
        if self.status == WorkerStatus.REGISTERED:
            times.append(self.heartbeat_at)
        elif self.status != WorkerStatus.STARTING:
            times += [self.retry_at, self.registration_deadline,
                      self.last_contact + self.death_timeout]
        return min((t for t in times if t is not None), default=None)

    # -- the way in --------------------------------------------------------------------
    def handle(self, event, now: float) -> list:
        """Apply ``event`` at time ``now`` (monotonic seconds); return the actions to take."""
        if self.status == WorkerStatus.REGISTERED:
            self.last_contact = now  # the session is open: the master is there
        if self.status == WorkerStatus.STOPPED:
            return self._after_stop(event)
        handler = getattr(self, "_on_" + type(event).__name__)
        return handler(event, now) + self._timers(now)

    def _after_stop(self, event) -> list:
        # a launch that completes after the stop still has a process to kill
        if isinstance(event, ExecutorStarted):
            return [KillExecutor(event.app_id, event.executor_id)]
        return []

    def _timers(self, now: float) -> list:
        if self.status == WorkerStatus.STOPPED:
            return []
        actions = []
        if self.status in (WorkerStatus.CONNECTING, WorkerStatus.BACKING_OFF):
            gone = now - self.last_contact
            if gone >= self.death_timeout:
                log.error("the master has been unreachable for %.0fs (--death-timeout %.0fs); "
                          "stopping", gone, self.death_timeout)
                return self._shut_down(1, f"master unreachable for {gone:.0f}s", goodbye=False)
        if (self.status == WorkerStatus.CONNECTING and self.registration_deadline is not None
                and now >= self.registration_deadline):
            actions.append(AbandonSession(self.session))
            self._back_off(now, f"no answer to the registration within "
                                f"{self.registration_timeout:.0f}s")
        if (self.status == WorkerStatus.BACKING_OFF and self.retry_at is not None
                and now >= self.retry_at):
            actions.append(self._connect(now))
        if (self.status == WorkerStatus.REGISTERED and self.heartbeat_at is not None
                and now >= self.heartbeat_at):
            actions.append(SendHeartbeat())
            self.heartbeat_at = now + self.heartbeat_interval
        if self.cleanup_at is not None and now >= self.cleanup_at:
            actions.append(CleanWorkDirs(self.running_apps()))
            self.cleanup_at = now + self.cleanup_interval
        return actions

    # -- the master --------------------------------------------------------------------
    def _on_Started(self, event: Started, now: float) -> list:
        if self.status != WorkerStatus.STARTING:
            return []
        self.last_contact = now  # a new worker gives its master the whole death timeout
        self.cleanup_at = now + self.cleanup_interval
        return [self._connect(now)]

    def _on_Tick(self, event: Tick, now: float) -> list:
        return []

    def _connect(self, now: float) -> Connect:
        self.session += 1
        self.status = WorkerStatus.CONNECTING
        self.retry_at = None
        self.registration_deadline = now + self.registration_timeout
        return Connect(self.session, [[app, ex] for (app, ex) in sorted(self.executors)])

    def _on_Registered(self, event: Registered, now: float) -> list:
        if event.session != self.session or self.status != WorkerStatus.CONNECTING:
            return []
        self.status = WorkerStatus.REGISTERED
        self.registration_deadline = None
        self.last_contact = now
        self.attempts = 0
        self.heartbeat_at = now + self.heartbeat_interval
        return []

    def _on_RegistrationFailed(self, event: RegistrationFailed, now: float) -> list:
        if event.session != self.session or self.status != WorkerStatus.CONNECTING:
            return []
        self._back_off(now, event.reason)
        return []

    def _on_SessionLost(self, event: SessionLost, now: float) -> list:
        if event.session != self.session or self.status != WorkerStatus.REGISTERED:
            return []
        log.warning("lost the master (%s); reconnecting for up to %.0fs", event.reason,
                    self.death_timeout)
        self.heartbeat_at = None
        self._back_off(now, event.reason)
        return []

    def _back_off(self, now: float, reason: str) -> None:
        delay = backoff_delay(self.attempts, FIRST_RETRY_SECONDS, self.retry_cap, RETRY_GROWTH,
                              JITTER, self.rng.random())
        self.attempts += 1
        self.status = WorkerStatus.BACKING_OFF
        self.registration_deadline = None
        self.retry_at = now + delay
        gone = now - self.last_contact
        # a master starting alongside its workers is normal for a moment
        log.log(logging.WARNING if gone > 1.0 else logging.DEBUG,
                "master unreachable for %.1fs (%s); retrying in %.2fs", gone, reason, delay)

    def _on_Refused(self, event: Refused, now: float) -> list:
        if event.session != self.session:
            return []
        log.error("the master refused this worker: %s", event.reason)
        return self._shut_down(1, f"refused by the master: {event.reason}", goodbye=False)

    def _on_StopRequested(self, event: StopRequested, now: float) -> list:
        return self._shut_down(0, "asked to stop",
                               goodbye=self.status == WorkerStatus.REGISTERED)

    def _shut_down(self, exit_code: int, reason: str, goodbye: bool) -> list:
        actions = [KillExecutor(app, ex) for (app, ex), status in sorted(self.executors.items())
                   if status != ExecutorStatus.LAUNCHING]
        self.executors.clear()
        self.status = WorkerStatus.STOPPED
        return actions + [Shutdown(exit_code, reason, goodbye)]

    # -- executors ---------------------------------------------------------------------
    def _on_LaunchRequested(self, event: LaunchRequested, now: float) -> list:
        key = (event.order.app_id, event.order.executor_id)
        if key in self.executors:
            return []
        self.executors[key] = ExecutorStatus.LAUNCHING
        return [StartExecutor(event.order)]

    def _on_ExecutorStarted(self, event: ExecutorStarted, now: float) -> list:
        key = (event.app_id, event.executor_id)
        status = self.executors.get(key)
        if status == ExecutorStatus.LAUNCHING:
            self.executors[key] = ExecutorStatus.RUNNING
            self.launched += 1
            return []
        # killed (or its application ended) while it was starting
        self.executors[key] = ExecutorStatus.KILLING
        return [KillExecutor(*key)]

    def _on_ExecutorLaunchFailed(self, event: ExecutorLaunchFailed, now: float) -> list:
        status = self.executors.pop((event.app_id, event.executor_id), None)
        if status != ExecutorStatus.LAUNCHING:
            return self._data_removal(event.app_id)  # nobody waits for it any more
        log.error("executor %s of %s could not start: %s", event.executor_id, event.app_id,
                  event.reason)
        return self._report(ReportExecutorExit(event.app_id, event.executor_id, 1, event.reason,
                                               LossCause.LAUNCH_FAILED.value))

    def _on_ExecutorProcessExited(self, event: ExecutorProcessExited, now: float) -> list:
        status = self.executors.pop((event.app_id, event.executor_id), None)
        if status != ExecutorStatus.RUNNING:
            return self._data_removal(event.app_id)  # asked to stop, or already forgotten
        self.exited += 1
        cause, reason = classify_exit(event.exit_code, event.memory_limit, event.oom_kills)
        # over its limit, the executor's last line says just that (the reason says it too)
        detail = "" if cause == LossCause.MEMORY_LIMIT else event.detail
        log.warning("executor %s of %s %s%s", event.executor_id, event.app_id, reason,
                    f": {detail}" if detail else "")
        return self._report(ReportExecutorExit(event.app_id, event.executor_id, event.exit_code,
                                               reason, cause.value, detail))

    def _report(self, report: ReportExecutorExit) -> list:
        if self.status != WorkerStatus.REGISTERED:
            # the master learns which executors run here when this worker registers again
            return []
        return [report]

    def _on_KillRequested(self, event: KillRequested, now: float) -> list:
        return self._kill([(event.app_id, event.executor_id)])

    def _on_ApplicationFinished(self, event: ApplicationFinished, now: float) -> list:
        doomed = [key for key in self.executors if key[0] == event.app_id]
        log.info("application %s ended: %d executors stopped", event.app_id, len(doomed))
        self.ending.add(event.app_id)
        return self._kill(doomed) + self._data_removal(event.app_id)

    def _data_removal(self, app_id: str) -> list:
        """``RemoveAppData`` once a finished application has no executor left here (one
        still writing could recreate what is deleted)."""
        if app_id not in self.ending or any(app == app_id for app, _ in self.executors):
            return []
        self.ending.discard(app_id)
        return [RemoveAppData(app_id)]

    def _kill(self, keys: Iterable[Key]) -> list:
        actions = []
        for key in sorted(keys):
            status = self.executors.get(key)
            if status == ExecutorStatus.RUNNING:
                actions.append(KillExecutor(*key))
            if status is not None:
                self.executors[key] = ExecutorStatus.KILLING  # a starting one is killed once it runs
        return actions


def expired_app_dirs(last_changes: Dict[str, float], keep: Iterable[str], now: float,
                     ttl: float) -> List[str]:
    """The application directories to delete: ``app-*`` ones of applications with no
    executor here (not in ``keep``), unchanged for longer than ``ttl`` seconds.

    >>> expired_app_dirs({"app-old": 0.0, "app-new": 90.0, "app-kept": 0.0, "packages": 0.0},
    ...                  keep={"app-kept"}, now=100.0, ttl=50.0)
    ['app-old']
    """
    keep = set(keep)
    return sorted(name for name, changed in last_changes.items()
                  if name.startswith("app-") and name not in keep and now - changed > ttl)


def expired_packages(last_used: Dict[str, float], in_use: Iterable[str], now: float,
                     ttl: float) -> List[str]:
    """The job packages to delete: those no running application here uses (not in
    ``in_use``), unused for longer than ``ttl`` seconds (a later application with the same
    package fetches it again).

    >>> expired_packages({"aa": 0.0, "bb": 90.0, "cc": 0.0}, in_use={"cc"}, now=100.0, ttl=50.0)
    ['aa']
    """
    in_use = set(in_use)
    return sorted(sha for sha, used in last_used.items() if sha not in in_use and now - used > ttl)
