"""The master's decisions as pure state transitions: events and the time in, actions out.

``MasterState.handle(event, now)`` registers and re-registers workers, admits
and resumes applications, allocates executors, expires silent workers, ends
and finally forgets applications, and rebuilds itself from a saved snapshot
after a restart.  It performs no I/O: ``Master`` (``master.py``) turns what
peers send into events, applies them under its lock and carries the returned
actions out (the shape of Spark's ``Master.receive`` and dask's
``WorkerState``).  Tests drive it with plain events and a fake clock.

Peers are named by *session*: the number the I/O layer gives each connection.
A worker or driver that reconnects gets a new session, so news from its old
connection (a late "connection lost") is recognised as stale and ignored.

Times are wall-clock seconds: they are saved, and compared across master restarts
(the finished-application TTL).  The master gives a clock that does not jump
(``master.SteadyClock``), so a clock step cannot expire every worker at once; it follows
a step at its next tick, and ``shift_times`` moves every time held by the same.

>>> from vega_runtime.versions import python_version
>>> state, w1 = MasterState(worker_timeout=15.0), RegisterWorker(
...     "w1", "127.0.0.1", 7000, 2, 2 << 30, [], python_version(), __version__, 1)
>>> actions = state.handle(WorkerRegistering(1, w1), now=0.0)
>>> [type(a).__name__ for a in actions]
['Send', 'SaveState']
>>> state.handle(Tick(), now=16.0)[0]
Disconnect(session=1, reason='worker w1 lost: no heartbeat for 15s')
>>> state.workers["w1"].state
<WorkerState.LOST: 'lost'>
"""

from __future__ import annotations

import json
import logging
import math
from typing import Dict, List, Optional, Set, Tuple

from .._version import __version__
from ..executor_loss import worker_loss
from ..ids import numbered_app_id
from ..net.messages import (ApplicationEnded, ApplicationKilled, ApplicationRejected,
                            ApplicationWaiting, ExecutorAdded, ExecutorRemoved, KillExecutor,
                            LaunchExecutor, RegisteredApplication, RegisteredWorker,
                            RegisterWorker, RegisterWorkerFailed)
from ..resources import EXECUTOR_RESOURCES_ENV
from ..scheduler.job_metrics import add_counts, counters
from ..versions import version_mismatch
from .master_events import (Action, ApplicationRegistering, ApplicationUnregistered,
                            ConnectionLost, Disconnect, DriverProbed, Event, ExecutorExitReported,
                            ExecutorsReleased, ExecutorsRequested, ForgetApplication,
                            HeartbeatReceived, KillRequested, MetricsReported, ProbeDriver,
                            SaveState, Send, Tick, WorkerRegistering, WorkerStopped)
from .master_records import Application, AppState, Worker, WorkerState
from .placement import (ExecutorShare, SchedulingMode, beyond_cap, carries_labels, fair_shares,
                        waiting_reason, worker_for)
from .recovery import gone_long_ago, shifted

log = logging.getLogger(__name__)

#: An application whose executors keep dying is failed after this many exits.
MAX_EXECUTOR_FAILURES = 10
#: Finished applications (records, packages, logs) are forgotten after this long.
FINISHED_APP_TTL = 24 * 3600.0
#: At most this many finished applications are kept, the oldest forgotten first (Spark's
#: spark.deploy.retainedApplications).
RETAINED_APPLICATIONS = 200
#: Lost and dead workers leave the status this many worker timeouts after (Spark: 15).
DEAD_WORKER_TIMEOUTS = 15
#: After a restart, workers and drivers have this many worker timeouts to come back
#: (drivers try for as long as they run; workers for vega.worker.death_timeout).
RECOVERY_TIMEOUTS = 15
#: A driver whose connection ended without unregistering, but whose process may run on (a
#: network fault), has this many worker timeouts to register again before its application
#: ends.
DRIVER_RECONNECT_TIMEOUTS = 2
#: A gap between two ticks longer than this (and than half the driver timeout) is the
#: master's own pause (stopped, its host suspended), not the drivers' silence.
PAUSE_SECONDS = 3.0
#: the ``away_since`` of a probe of an application's driver from before a restart
RECOVERED = -1.0
#: After a restart, a recovered application ends when this many probes of its driver's
#: port in a row get no answer (each waits ``master.DRIVER_PROBE_SECONDS``, 5 s): its host
#: drops packets, is down or gone, where a live driver's port, even a stopped process's,
#: accepts at once.
SILENT_PROBES = 3


class MasterState:
    """Workers and applications, and every decision about them."""

    def __init__(self, worker_timeout: float = 15.0, finished_app_ttl: float = FINISHED_APP_TTL,
                 saved: Optional[dict] = None,
                 max_executor_failures: int = MAX_EXECUTOR_FAILURES,
                 dead_worker_timeouts: int = DEAD_WORKER_TIMEOUTS,
                 mode: SchedulingMode = SchedulingMode.FIFO,
                 retained_applications: int = RETAINED_APPLICATIONS,
                 driver_timeout: float = math.inf):
        self.worker_timeout = worker_timeout
        #: an application whose driver sends nothing for this long ends (0 or inf: never)
        self.driver_timeout = driver_timeout or math.inf
        #: the time of the last tick: a master that did not tick (stopped, its host
        #: suspended) blames no driver for the silence it did not see
        self._last_tick: Optional[float] = None
        self.mode = SchedulingMode(mode)
        #: in fair mode, the most cores each active application may hold (``fair_shares``)
        self._fair_shares: Dict[str, int] = {}
        self.finished_app_ttl = finished_app_ttl
        self.retained_applications = retained_applications
        self.max_executor_failures = max_executor_failures
        self.dead_worker_timeouts = dead_worker_timeouts
        self.workers: Dict[str, Worker] = {}
        self.apps: Dict[str, Application] = {}
        #: the applications waiting or running: the ones allocation looks at
        self._active: Dict[str, Application] = {}
        #: session -> ("worker", worker_id) or ("app", app_id)
        self.sessions: Dict[int, Tuple[str, str]] = {}
        saved = saved or {}
        #: applications from before a restart, by id (their drivers may reconnect)
        self.recovered: Dict[str, dict] = dict(saved.get("apps", {}))
        #: workers from before a restart that have not registered again
        self.recovered_workers: Dict[str, dict] = dict(saved.get("workers", {}))
        #: cluster-mode drivers from before a restart (no longer this master's children),
        #: the ended ones too: vega.master.retained_drivers decides when their output goes
        self.recovered_drivers: List[dict] = list(saved.get("drivers", []))
        #: monotonically increasing event counts for /metrics
        self.counters: Dict[str, int] = {"executor_losses": 0, "log_lines": 0}
        #: the job metrics of the applications forgotten since the start (``add_counts``)
        self.forgotten_metrics: dict = {}
        self._app_count = 0
        #: when peers from before the restart stop being waited for (set at the first tick)
        self._recovery_deadline: Optional[float] = None
        #: the recovered applications whose driver's port is being probed
        self._probing_recovered: Set[str] = set()
        #: the probes in a row a recovered application's driver did not answer
        self._silent_probes: Dict[str, int] = {}

    @property
    def _driver_grace(self) -> float:
        return DRIVER_RECONNECT_TIMEOUTS * self.worker_timeout

    @property
    def driver_heartbeat_interval(self) -> float:
        """How often drivers send a heartbeat: a tenth of the driver timeout, at most 10 s
        (0: none, the timeout is off)."""
        return 0.0 if math.isinf(self.driver_timeout) else min(10.0, self.driver_timeout / 10)

    # -- queries ----------------------------------------------------------------------
    def snapshot(self) -> Dict[str, dict]:
        """What ``RecoveryStore.save`` writes: ``{"apps": ..., "workers": ...}``."""
        apps = dict(self.recovered)
        apps.update({a.app_id: a.record() for a in self.apps.values()})
        workers = dict(self.recovered_workers)
        workers.update({w.worker_id: w.record() for w in self.workers.values()})
        return {"apps": apps, "workers": workers}

    def app_of(self, session: int) -> Optional[Application]:
        kind, key = self.sessions.get(session, ("", ""))
        app = self.apps.get(key) if kind == "app" else None
        return app if app is not None and app.session == session else None

    def worker_of(self, session: int) -> Optional[Worker]:
        kind, key = self.sessions.get(session, ("", ""))
        worker = self.workers.get(key) if kind == "worker" else None
        return worker if worker is not None and worker.session == session else None

    def is_active(self, app_id: str) -> bool:
        app = self.apps.get(app_id)
        return app is not None and app.state.active

    def shift_times(self, step: float) -> List[Action]:
        """The wall clock was stepped by ``step`` seconds (``master.SteadyClock.resync``):
        every time held moves with it, so no timeout, TTL or order changes, and the times
        shown and saved are the wall clock's again."""
        for w in self.workers.values():
            w.registered, w.last_heartbeat = w.registered + step, w.last_heartbeat + step
            w.gone = None if w.gone is None else w.gone + step
        for a in self.apps.values():
            a.submitted, a.ended = a.submitted + step, None if a.ended is None else a.ended + step
            a.driver_away = None if a.driver_away is None else a.driver_away + step
            a.driver_heard += step
            a.failures.shift(step)
        self.recovered = {i: shifted(r, step, ("submitted", "ended"))
                          for i, r in self.recovered.items()}
        self.recovered_workers = {i: shifted(r, step, ("gone",))
                                  for i, r in self.recovered_workers.items()}
        if self._recovery_deadline is not None:
            self._recovery_deadline += step
        if self._last_tick is not None:
            self._last_tick += step
        return [SaveState()]

    # -- events -------------------------------------------------------------------------
    def handle(self, event: Event, now: float) -> List[Action]:
        """Apply one event at time ``now``; the actions it calls for, in order."""
        out: List[Action] = []
        getattr(self, _HANDLERS[type(event)])(event, now, out)
        return out

    def _worker_registering(self, event: WorkerRegistering, now: float, out: list) -> None:
        register = event.register
        mismatch = version_mismatch(register.python_version, register.vega_version,
                                    "this worker")
        if mismatch:
            log.warning("refused worker %s on %s: %s", register.worker_id, register.host, mismatch)
            out.append(Send(event.session, RegisterWorkerFailed(f"this master runs {mismatch}")))
            out.append(Disconnect(event.session, "refused"))
            return
        reported = {(app_id, executor_id) for app_id, executor_id in register.executors}
        old = self.workers.get(register.worker_id)
        if old is not None:  # it reconnected: executors it no longer runs are gone
            self._release_worker(old, "it registered again without them", now, out,
                                 keep=reported)
            self.sessions.pop(old.session, None)
            if old.state == WorkerState.ALIVE:
                out.append(Disconnect(old.session, "replaced by a new connection"))
        worker = Worker(register.worker_id, register.host, register.port, register.cores,
                        register.memory, list(register.labels), register.pid, event.session,
                        registered=now, last_heartbeat=now, resources=register.resources)
        self.workers[worker.worker_id] = worker
        self.sessions[event.session] = ("worker", worker.worker_id)
        self.recovered_workers.pop(worker.worker_id, None)
        out.append(Send(event.session, RegisteredWorker(__version__)))
        ended = {a for a in register.app_data if self._has_ended(a)}  # its data goes now
        worker.app_data = set(register.app_data) - ended  # or once the master knows it ended
        for app_id, executor_id in sorted(reported):  # still running from before
            app = self.apps.get(app_id)
            if self._has_ended(app_id):
                ended.add(app_id)  # its executors are stopped, not counted
                continue
            held = register.executor_resources.get(f"{app_id} {executor_id}", {})
            if app is not None:
                worker.executors[(app_id, executor_id)] = ExecutorShare(
                    app.request.executor_memory, app.request.cores_per_executor, held)
                if beyond_cap(app.request, len(app.executors) + 1):  # granted anew meanwhile
                    out.append(Send(event.session, KillExecutor(app_id, executor_id)))
                    continue
                app.executors[executor_id] = worker.worker_id
            else:  # its driver may come back and claim it; till then it holds what it held
                record = self.recovered.get(app_id, {})
                memory, cores = record.get("executor_size", (0, 1))  # (memory, cores)
                worker.executors[(app_id, executor_id)] = ExecutorShare(memory, cores, held)
        out.extend(Send(event.session, ApplicationEnded(app_id)) for app_id in sorted(ended))
        log.info("worker %s registered: %s, %d cores, %d MiB", worker.worker_id, worker.host,
                 worker.cores, worker.memory >> 20)
        out.append(SaveState())
        self._schedule(out)

    def _has_ended(self, app_id: str) -> bool:
        app = self.apps.get(app_id)
        return (app is not None and not app.state.active) or \
            self.recovered.get(app_id, {}).get("state") in ("finished", "failed", "killed")

    def _tell_data_holders(self, app_id: str, out: list) -> None:
        """Workers holding the data of ``app_id``, which ended, without its executors
        (reported as they registered) delete it."""
        for worker in self.workers.values():
            if app_id in worker.app_data and worker.state == WorkerState.ALIVE:
                worker.app_data.discard(app_id)
                out.append(Send(worker.session, ApplicationEnded(app_id)))

    def _heartbeat_received(self, event: HeartbeatReceived, now: float, out: list) -> None:
        worker = self.worker_of(event.session)
        if worker is not None and worker.state == WorkerState.ALIVE:
            worker.last_heartbeat = now
        app = self.app_of(event.session)
        if app is not None:
            app.driver_heard = now

    def _executor_exit_reported(self, event: ExecutorExitReported, now: float, out: list) -> None:
        worker = self.worker_of(event.session)
        if worker is None:
            return
        worker.executors.pop((event.app_id, event.executor_id), None)
        if not self._has_ended(event.app_id):  # its map output stays there until that end
            worker.app_data.add(event.app_id)
        app = self.apps.get(event.app_id)
        if app is None or app.executors.pop(event.executor_id, None) is None:
            self._schedule(out)  # (one whose driver is not back after a restart held some)
            return
        log.warning("executor %s of %s on %s %s", event.executor_id, app.app_id,
                    worker.worker_id, event.reason)
        self.counters["executor_losses"] += 1
        out.append(Send(app.session, ExecutorRemoved(event.executor_id, event.reason, False,
                                                     event.cause, event.detail)))
        if not app.state.active:
            return
        # an executor ends on its own only when something is wrong (a crash, or no driver
        # to serve): counted for an hour whatever its exit code, so it is not relaunched
        # forever. A worker where max_executor_failures of them ended gets no more (its disk
        # is full, say); the application fails only with no executor left (Spark's rule:
        # "an application will never be removed if it has any running executors")
        app.failures.add(worker.worker_id, now)
        if app.failures.on(worker.worker_id) == self.max_executor_failures:
            log.error("worker %s gets no more executors of %s: %d of them exited there (%s)",
                      worker.worker_id, app.app_id, self.max_executor_failures, event.reason)
        if app.failures.total >= self.max_executor_failures and not app.executors:
            log.error("application %s failed: its executors exited %d times", app.app_id,
                      app.failures.total)
            out.append(Disconnect(app.session, "its executors keep exiting"))
            self._end_app(app, AppState.FAILED, now, out)
            return
        self._schedule(out)

    def _worker_stopped(self, event: WorkerStopped, now: float, out: list) -> None:
        worker = self.worker_of(event.session)
        if worker is not None:
            self._worker_gone(worker, WorkerState.DEAD, "it stopped", now, out)

    def _connection_lost(self, event: ConnectionLost, now: float, out: list) -> None:
        worker = self.worker_of(event.session)
        if worker is not None:
            self._worker_gone(worker, WorkerState.LOST, event.reason, now, out)
            return
        app = self.app_of(event.session)
        if app is None or not app.state.active:
            return
        # its process ended, or a network fault cut it off and it will register again: the
        # executors go on (they reach the driver on their own connections) while its port
        # is probed, again each tick (a dying process may close its port after its master
        # connection); a refused connection ends the application at once (Spark ends it at
        # once whatever the cause)
        app.driver_away = now
        self.sessions.pop(app.session, None)
        log.info("the connection to application %s's driver ended (%s): probing it; it may "
                 "register again within %gs", app.app_id, event.reason, self._driver_grace)
        self._probe(app, out)

    def _probe(self, app: Application, out: list) -> None:
        app.probing = True
        out.append(ProbeDriver(app.app_id, app.request.driver_host, app.request.driver_port,
                               app.driver_away))

    def _probe_recovered(self, out: list) -> None:
        """Probe the drivers' ports of the applications from before the restart that are not
        back (each tick, as a driver may die after its master restarted): one whose driver
        died while the master was away ends within seconds, not at the end of the recovery.
        A live driver's port accepts, and its application waits for it as before."""
        for app_id, record in self.recovered.items():
            if record.get("state") in ("waiting", "running") and record.get("driver_port") \
                    and app_id not in self._probing_recovered:
                self._probing_recovered.add(app_id)
                out.append(ProbeDriver(app_id, record.get("driver_host", ""),
                                       record["driver_port"], RECOVERED))

    def _recovered_driver_probed(self, event: DriverProbed, now: float, out: list) -> None:
        self._probing_recovered.discard(event.app_id)
        record = self.recovered.get(event.app_id)
        silent = self._silent_probes.pop(event.app_id, 0) + 1  # (an answer starts again)
        silent = silent if event.silent else 0
        if record is None or record.get("state") not in ("waiting", "running"):
            return
        if event.gone:
            why = "its port refuses connections (it ended)"
        elif silent >= SILENT_PROBES:
            why = (f"its host answered none of {silent} probes of its port in a row (it drops "
                   "packets, is down or gone)")
        else:
            if silent:
                self._silent_probes[event.app_id] = silent
            return
        log.info("application %s finished: its driver did not come back after the master "
                 "restarted, and %s", event.app_id, why)
        self._end_recovered(event.app_id, now, out)
        out.append(SaveState())
        self._schedule(out)

    def _end_recovered(self, app_id: str, now: float, out: list) -> None:
        """An application from before the restart whose driver did not come back ends: the
        executors the workers reported go (Spark kills them too), and what they held is free
        now, as a worker stops the executors of an ended application without reporting
        their exits (before, another application waited for that memory for ever, unless
        the executor's own exit, its driver gone, reached the master first)."""
        self.recovered[app_id] = {**self.recovered[app_id], "state": AppState.FINISHED.value,
                                  "ended": now}
        for worker in self.workers.values():
            held = [key for key in worker.executors if key[0] == app_id]
            for key in held:
                del worker.executors[key]
            if held and worker.state == WorkerState.ALIVE:
                worker.app_data.discard(app_id)
                out.append(Send(worker.session, ApplicationEnded(app_id)))
        self._tell_data_holders(app_id, out)

    def _driver_probed(self, event: DriverProbed, now: float, out: list) -> None:
        if event.away_since == RECOVERED:
            self._recovered_driver_probed(event, now, out)
            return
        app = self.apps.get(event.app_id)
        if app is None or not app.state.active or app.driver_away != event.away_since:
            return  # (an answer about a time it was away before, or it ended meanwhile)
        app.probing = False
        if event.gone:
            log.info("application %s's driver is gone (its port refuses connections)",
                     app.app_id)
            self._end_app(app, AppState.FINISHED, now, out)

    def _application_registering(self, event: ApplicationRegistering, now: float,
                                 out: list) -> None:
        request = event.request
        mismatch = version_mismatch(request.python_version, request.vega_version,
                                    "this driver")
        if mismatch:
            out.append(Send(event.session, ApplicationRejected(f"the cluster runs {mismatch}")))
            return
        if not request.app_id:  # the id its Context goes by, unless this master knows it
            app_id = request.proposed_id
            while not app_id or app_id in self.apps or app_id in self.recovered:  # (none twice)
                self._app_count += 1
                app_id = numbered_app_id(now, self._app_count)
            app = Application(app_id, request, event.session, submitted=now)
        elif request.app_id in self.apps:  # the same master: the driver reconnected
            app = self.apps[request.app_id]
            if not app.state.active:
                out.append(Send(event.session, ApplicationRejected(
                    f"application {request.app_id} has {app.state.value}{app.end_reason}")))
                return
            if self.sessions.pop(app.session, None) is not None:  # its old connection lives on
                out.append(Disconnect(app.session, "replaced by the driver's new connection"))
            app.session, app.request, app.driver_away = event.session, request, None
            app.driver_heard = now
        else:  # known from before a restart, or not at all: resumed under its id, waiting
            saved = self.recovered.pop(request.app_id, {})  # until it has executors again
            app = Application(request.app_id, request, event.session, saved.get("submitted", now),
                              next_executor=saved.get("next_executor", 1000), driver_heard=now,
                              metrics_base=None)  # counted from its first snapshot on
        app.requested_total = request.requested_executors if request.requested_executors >= 0 \
            else None
        self.apps[app.app_id] = self._active[app.app_id] = app
        self.sessions[event.session] = ("app", app.app_id)
        out.append(Send(event.session, RegisteredApplication(app.app_id,
                                                             self.driver_heartbeat_interval)))
        log.info("application %s (%s) %s from %s", app.app_id, request.name,
                 "resumed" if request.app_id else "registered", request.driver_host)
        self._claim_executors(app)
        out.append(SaveState())
        self._schedule(out)

    def _metrics_reported(self, event: MetricsReported, now: float, out: list) -> None:
        app = self.app_of(event.session)
        if app is not None:
            app.metrics = event.snapshot
            if app.metrics_base is None:
                app.metrics_base = counters(event.snapshot)

    def _application_unregistered(self, event: ApplicationUnregistered, now: float,
                                  out: list) -> None:
        app = self.app_of(event.session)
        if app is not None:
            self._end_app(app, AppState.FINISHED, now, out)

    def _kill_requested(self, event: KillRequested, now: float, out: list) -> None:
        app = self.apps.get(event.app_id)
        if app is None or not app.state.active:
            return
        out.append(Send(app.session, ApplicationKilled(event.reason)))
        self._end_app(app, AppState.KILLED, now, out)

    def _executors_requested(self, event: ExecutorsRequested, now: float, out: list) -> None:
        app = self.app_of(event.session)
        if app is None or not app.state.active:
            return
        app.requested_total = max(0, event.requested_total)
        log.info("application %s requests %d executors (has %d)", app.app_id,
                 app.requested_total, len(app.executors))
        self._schedule(out)

    def _executors_released(self, event: ExecutorsReleased, now: float, out: list) -> None:
        """Stop the executors through their workers; their shuffle files stay served."""
        app = self.app_of(event.session)
        if app is None or not app.state.active:
            return
        for executor_id in event.executor_ids:
            worker = self.workers.get(app.executors.pop(executor_id, ""))
            if worker is None:
                continue
            worker.executors.pop((app.app_id, executor_id), None)
            if worker.state == WorkerState.ALIVE:
                out.append(Send(worker.session, KillExecutor(app.app_id, executor_id)))
            log.info("executor %s of %s released on %s: %s", executor_id, app.app_id,
                     worker.worker_id, event.reason)
        self._schedule(out)

    def _tick(self, event: Tick, now: float, out: list) -> None:
        if self._recovery_deadline is None:
            self._recovery_deadline = now + RECOVERY_TIMEOUTS * self.worker_timeout
        elif now > self._recovery_deadline and (self.recovered_workers or any(
                r.get("state") in ("waiting", "running") for r in self.recovered.values())):
            self._complete_recovery(now, out)
        self._probe_recovered(out)
        for worker in list(self.workers.values()):
            if worker.state == WorkerState.ALIVE:
                if now - worker.last_heartbeat > self.worker_timeout:
                    self._worker_gone(worker, WorkerState.LOST,
                                      f"no heartbeat for {self.worker_timeout:.0f}s", now, out,
                                      heartbeat=True)
            elif now - (worker.gone or now) > self.dead_worker_timeouts * self.worker_timeout:
                del self.workers[worker.worker_id]
                self.sessions.pop(worker.session, None)
                out.append(SaveState())
        self._end_silent_drivers_apps(now, out)
        for app in [a for a in self._active.values() if a.driver_away is not None]:
            if now - app.driver_away > self._driver_grace:
                log.warning("application %s finished: its driver did not register again within "
                            "%gs of its connection breaking", app.app_id, self._driver_grace)
                self._end_app(app, AppState.FINISHED, now, out)
            elif not app.probing:
                self._probe(app, out)
        if any([a.failures.forget_old(now) for a in self._active.values()]):
            self._schedule(out)  # a worker its executors failed on an hour ago may take one
        for worker_id in gone_long_ago(self.recovered_workers, now - self.dead_worker_timeouts
                                       * self.worker_timeout):  # lost or dead before it
            del self.recovered_workers[worker_id]
            out.append(SaveState())
        finished = sorted([(a.ended, a.app_id) for a in self.apps.values()
                           if a.ended is not None]
                          + [(r.get("ended") or now, app_id)
                             for app_id, r in self.recovered.items()
                             if r.get("state") not in ("waiting", "running")])
        over = max(0, len(finished) - self.retained_applications)
        for n, (ended, app_id) in enumerate(finished):
            if n < over:
                self._forget_app(app_id, out, f"only the latest {self.retained_applications} "
                                              f"finished applications are kept")
            elif now - ended > self.finished_app_ttl:
                self._forget_app(app_id, out, f"finished over "
                                              f"{self.finished_app_ttl / 3600:.0f} h ago")

    # -- transitions ------------------------------------------------------------------------
    def _end_silent_drivers_apps(self, now: float, out: list) -> None:
        """End the applications of connected drivers silent for the driver timeout (stopped,
        frozen, cut off with their connections still open); a master that was not ticking
        meanwhile (stopped itself) first counts their silence from now."""
        last, self._last_tick = self._last_tick, now
        if math.isinf(self.driver_timeout):
            return
        if last is None or now - last > max(PAUSE_SECONDS, self.driver_timeout / 2):
            for app in self._active.values():
                app.driver_heard = max(app.driver_heard, now)
            return
        for app in [a for a in self._active.values() if a.driver_away is None
                    and now - a.driver_heard > self.driver_timeout]:
            log.warning("application %s finished: its driver sent nothing for %.1fs "
                        "(vega.master.driver_timeout is %gs): it is stopped, frozen or cut off",
                        app.app_id, now - app.driver_heard, self.driver_timeout)
            self.sessions.pop(app.session, None)
            out.append(Disconnect(app.session, f"its driver sent nothing for "
                                               f"{self.driver_timeout:g}s"))
            app.end_reason = (f": its driver sent the master nothing for "
                              f"{now - app.driver_heard:.1f}s (vega.master.driver_timeout is "
                              f"{self.driver_timeout:g}s: raise it for a driver paused longer)")
            self._end_app(app, AppState.FINISHED, now, out)

    def _complete_recovery(self, now: float, out: list) -> None:
        """Stop waiting for what was there before the restart (Spark's completeRecovery):
        workers that did not come back are forgotten, applications whose driver did not
        are finished (a driver that comes back later still resumes its application)."""
        for app_id, record in list(self.recovered.items()):
            if record.get("state") in ("waiting", "running"):
                log.info("application %s finished: its driver did not come back after the "
                         "master restarted", app_id)
                self._end_recovered(app_id, now, out)
        for worker_id in self.recovered_workers:
            log.info("worker %s forgotten: it did not come back after the master restarted",
                     worker_id)
        self.recovered_workers.clear()
        out.append(SaveState())
        self._schedule(out)

    def _worker_gone(self, worker: Worker, state: WorkerState, reason: str, now: float,
                     out: list, heartbeat: bool = False) -> None:
        if worker.state != WorkerState.ALIVE:
            return
        worker.state, worker.gone = state, now
        log.warning("worker %s %s: %s", worker.worker_id, state.value, reason)
        out.append(Disconnect(worker.session, f"worker {worker.worker_id} {state.value}: {reason}"))
        self._release_worker(worker, reason, now, out, heartbeat=heartbeat)
        out.append(SaveState())
        self._schedule(out)

    def _release_worker(self, worker: Worker, reason: str, now: float, out: list,
                        keep: frozenset = frozenset(), heartbeat: bool = False) -> None:
        """Its executors (but those in ``keep``) are gone: tell their drivers."""
        cause, description = worker_loss(worker.worker_id, reason, heartbeat)
        for app_id, executor_id in [key for key in worker.executors if key not in keep]:
            app = self.apps.get(app_id)
            if app is not None and app.executors.pop(executor_id, None) is not None:
                self.counters["executor_losses"] += 1
                out.append(Send(app.session, ExecutorRemoved(executor_id, description, True,
                                                             cause.value)))
        worker.executors.clear()

    def _end_app(self, app: Application, state: AppState, now: float, out: list) -> None:
        if not app.state.active:
            return
        app.state, app.ended = state, now
        self._active.pop(app.app_id, None)
        for executor_id, worker_id in app.executors.items():
            if worker_id in self.workers:
                self.workers[worker_id].executors.pop((app.app_id, executor_id), None)
        for worker_id in sorted(set(app.executors.values())):
            worker = self.workers.get(worker_id)
            if worker is not None and worker.state == WorkerState.ALIVE:
                worker.app_data.discard(app.app_id)
                out.append(Send(worker.session, ApplicationEnded(app.app_id)))
        self._tell_data_holders(app.app_id, out)
        app.executors.clear()
        log.info("application %s %s", app.app_id, state.value)
        out.append(SaveState())
        self._schedule(out)

    def _forget_app(self, app_id: str, out: list, why: str) -> None:
        app = self.apps.pop(app_id, None)
        record = self.recovered.pop(app_id, {})
        if app is not None:
            self.sessions.pop(app.session, None)
            self.forgotten_metrics = add_counts(self.forgotten_metrics, app.counted_metrics())
        package = app.request.package_sha if app is not None else record.get("package_sha", "")
        in_use = {a.request.package_sha for a in self.apps.values()}
        in_use |= {r.get("package_sha", "") for r in self.recovered.values()}
        log.info("application %s forgotten (%s)", app_id, why)
        out.append(ForgetApplication(app_id, "" if package in in_use else package,
                                     app.ended if app is not None else None))
        out.append(SaveState())

    def _claim_executors(self, app: Application) -> None:
        """Executors workers reported before this application's driver came back."""
        for worker in self.workers.values():
            for (app_id, executor_id) in list(worker.executors):
                if app_id == app.app_id and executor_id not in app.executors:
                    held = worker.executors[(app_id, executor_id)]
                    held.memory, held.cores = app.request.executor_memory, \
                        app.request.cores_per_executor
                    app.executors[executor_id] = worker.worker_id
        if app.executors:
            app.state = AppState.RUNNING

    # -- allocation ------------------------------------------------------------------------
    def _schedule(self, out: list) -> None:
        """Grant executors to active applications, oldest first."""
        if self.mode == SchedulingMode.FAIR:
            self._fair_shares = fair_shares(
                sum(w.cores for w in self.workers.values() if w.state == WorkerState.ALIVE),
                [(a.app_id, a.request.cores_max)
                 for a in sorted(self._active.values(), key=lambda a: a.submitted)])
        for app in sorted(self._active.values(), key=lambda a: a.submitted):
            if app.driver_away is not None:
                continue  # nobody to tell about new executors, nor to run tasks on them
            granted = self._grant(app, out)
            if app.executors or app.at_requested_total:  # (it may want none for now)
                app.state = AppState.RUNNING
            if not granted and not app.executors and not app.at_requested_total:
                self._tell_waiting(app, out)

    def _grant(self, app: Application, out: list) -> int:
        """One-core executors for ``app`` until ``cores_max`` or no worker can take one."""
        request = app.request
        granted = 0
        cores = request.cores_per_executor
        while not beyond_cap(request, len(app.executors) + 1):
            if app.at_requested_total:  # dynamic allocation's cap
                break
            if self.mode == SchedulingMode.FAIR and \
                    len(app.executors) * cores >= self._fair_shares.get(app.app_id, 0):
                break  # its share: what it holds beyond it, it keeps until it gives it back
            found = worker_for(app, [w for w in self.workers.values()
                                     if w.state == WorkerState.ALIVE], self.max_executor_failures)
            if found is None:
                break
            worker, addresses = found
            executor_id = f"exec-{app.next_executor}"
            app.next_executor += 1
            worker.executors[(app.app_id, executor_id)] = ExecutorShare(
                request.executor_memory, cores, addresses)
            app.executors[executor_id] = worker.worker_id
            env = {"OMP_NUM_THREADS": str(cores), **request.executor_env,  # (PySpark's)
                   "PYTHONHASHSEED": request.hash_seed}
            if addresses:
                env[EXECUTOR_RESOURCES_ENV] = json.dumps(addresses)
            out.append(Send(worker.session, LaunchExecutor(
                app.app_id, executor_id, cores, request.executor_memory, request.driver_host,
                request.driver_port, env, request.package_sha)))
            out.append(Send(app.session, ExecutorAdded(executor_id, worker.worker_id,
                                                       worker.host, cores)))
            log.info("executor %s of %s launched on %s", executor_id, app.app_id,
                     worker.worker_id)
            granted += 1
        return granted

    def _tell_waiting(self, app: Application, out: list) -> None:
        alive = [w for w in self.workers.values() if w.state == WorkerState.ALIVE]
        usable = {w.worker_id for w in alive if carries_labels(w.labels, app.request.labels)}
        holders = sorted({a for w in usable for a, _ in self.workers[w].executors
                          if a != app.app_id})
        states = [w.state for w in self.workers.values()]
        reason = waiting_reason(app.request, alive,
                                [f"{a} ({self.apps[a].request.name})" if a in self.apps else a
                                 for a in holders], self.mode, lost=states.count(WorkerState.LOST),
                                stopped=states.count(WorkerState.DEAD))
        if reason != app.waiting_reason:
            app.waiting_reason = reason
            out.append(Send(app.session, ApplicationWaiting(reason)))


_HANDLERS = {
    WorkerRegistering: "_worker_registering",
    HeartbeatReceived: "_heartbeat_received",
    ExecutorExitReported: "_executor_exit_reported",
    WorkerStopped: "_worker_stopped",
    ConnectionLost: "_connection_lost",
    ApplicationRegistering: "_application_registering",
    MetricsReported: "_metrics_reported",
    ApplicationUnregistered: "_application_unregistered",
    KillRequested: "_kill_requested",
    ExecutorsRequested: "_executors_requested",
    ExecutorsReleased: "_executors_released",
    DriverProbed: "_driver_probed",
    Tick: "_tick",
}
