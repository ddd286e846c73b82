"""The master's I/O: events to the state machine, actions out.

Every decision (registration, allocation, expiry, application lifecycle,
recovery) is made by ``MasterState`` (``master_state.py``), under one lock, from
events made of what peers send (``master_connections.py``).  The actions it
returns are carried out here: messages are queued, still under the lock so their
order is the order of the decisions, on the peer's ``Outbox``
(``MasterConnections.deliver``), whose own thread does the socket write with no
lock held.  A slow peer stalls only itself; a failed
send becomes a "connection lost" event for that peer.  The recovery state is
written after the lock is released (``recovery.RecoveryWriter``); a failed write
is logged at ERROR and retried every tick.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Dict, List, Optional, Set

from ..config import Config
from ..config_limits import rpc_limits
from ..net.endpoints import REFUSED, SILENT, host_port, port_answer
from ..net.messages import MasterStopping
from ..net.server import Server
from ..private_files import expand_home, make_private_dir, set_aside_foreign
from .app_logs import AppLogs
from .driver_clocks import DriverClocks
from .drivers import ACTIVE_STATES, DriverRunner, retained_drivers
from .log_follower import Followers
from .master_connections import MasterConnections
from .master_events import (Action, DriverProbed, ForgetApplication, KillRequested, ProbeDriver,
                            SaveState, Send, Tick)
from .master_state import MasterState
from .master_status import StatusQueries
from .package_store import WANTED_GRACE, PackageStore
from .recovery import RecoveryStore, RecoveryWriter

log = logging.getLogger(__name__)

#: How often silent workers are looked for, old applications forgotten and a failed
#: recovery write retried.
TICK_SECONDS = 1.0
#: How long a stopping master waits, at most, for its last messages to leave.
STOP_NOTICE_SECONDS = 2.0
#: How long the master waits for a driver's host to answer whether its port is still open.
DRIVER_PROBE_SECONDS = 5.0

#: A difference between the wall clock and the master's that is a step, not drift.
CLOCK_STEP_SECONDS = 1.0
#: why a cluster-mode driver without --supervise that ran before a restart failed
DIED_WITH_MASTER = ("it died with the master (a crash, or the master was killed); submit it "
                    "with --supervise to have the restarted master start it again")


class SteadyClock:
    """Wall-clock seconds that do not jump: ``time.time()`` once, then advanced by
    ``time.monotonic()``, so an NTP step cannot expire every worker at once (times are
    saved and compared across restarts, so they must be wall-clock seconds).  ``resync``
    takes the wall clock's time again after a step (or a suspended host: the monotonic
    clock stops meanwhile), which the master then applies to every time it holds
    (``MasterState.shift_times``); left alone, the difference lasted as long as the
    master: every time shown or saved was that far off, and at a restart the next
    master, on the wall clock, took the saved times for that much older or newer."""

    def __init__(self, wall: Optional[Callable[[], float]] = None,
                 monotonic: Optional[Callable[[], float]] = None):
        self._wall, self._monotonic = wall or time.time, monotonic or time.monotonic
        self._base, self._at = self._wall(), self._monotonic()

    def __call__(self) -> float:
        return self._base + (self._monotonic() - self._at)

    def resync(self) -> float:
        """The step to the wall clock's time (0.0 when within ``CLOCK_STEP_SECONDS``),
        taken: the clock reads the wall clock's time from now on."""
        wall, at = self._wall(), self._monotonic()
        step = wall - (self._base + (at - self._at))
        if abs(step) <= CLOCK_STEP_SECONDS:
            return 0.0
        self._base, self._at = wall, at
        return step


class Master(StatusQueries):
    """The master, configured by ``conf`` (``vega.master.*``, ``vega.worker.timeout``,
    ``vega.net.*``, ``vega.eventlog.dir``); ``vega.master.host`` is the address it
    advertises, and it listens on ``vega.master.bind`` (by default the same address)."""

    def __init__(self, conf: Config, secret: Optional[bytes], secret_file: str = "",
                 clock: Optional[Callable[[], float]] = None):
        self.conf = conf
        self.work_dir = make_private_dir(os.path.abspath(conf["vega.master.work_dir"]))
        set_aside_foreign(self.work_dir, "in the master's work dir")  # (put there by others)
        #: where drivers write event logs, for finished applications in the UI
        event_log_dir = conf["vega.eventlog.dir"]
        self.event_log_dir = expand_home(event_log_dir, "vega.eventlog.dir") \
            if event_log_dir else ""
        #: the history's summaries (``event_log.SummaryCache``), made at its first listing
        self.history_cache = None
        #: when the event log cleaner next looks (vega.history.fs.cleaner.*; None: never)
        self.cleaner_due: Optional[float] = 0.0 if self._cleans_event_logs() else None
        #: the time the state machine is given: wall-clock seconds that never jump
        self.clock = clock or SteadyClock()
        #: how far each application's driver's clock is from this host's (the times of
        #: its events are its own: its REST API's "now" and end must be too), until the
        #: application is forgotten
        self.driver_clocks = DriverClocks()
        self.started = self.clock()
        self.lock = threading.RLock()
        self.recovery = RecoveryStore(self.work_dir, conf["vega.master.recovery"])
        saved = self.recovery.load()
        self.logs = AppLogs(self.work_dir, conf["vega.master.app_output.max_size"],
                            conf["vega.master.app_output.max_retained_files"])
        recovered_drivers = saved.get("drivers") or []
        drivers, forgotten = retained_drivers(recovered_drivers,
                                              conf["vega.master.retained_drivers"])
        saved = {**saved, "drivers": drivers}
        for driver_id in forgotten:  # their output goes with them
            self.logs.remove(driver_id)
        self.state = MasterState(conf["vega.worker.timeout"], conf["vega.master.finished_app_ttl"],
                                 saved,
                                 conf["vega.master.max_executor_failures"],
                                 conf["vega.master.dead_worker_persistence"],
                                 conf["vega.scheduler.mode"],
                                 conf["vega.master.retained_applications"],
                                 conf["vega.master.driver_timeout"])
        self.driver_clocks.restore({app_id: r["driver_clock_offset"] for app_id, r
                                    in self.state.recovered.items()
                                    if "driver_clock_offset" in r})
        self.packages = PackageStore(self.work_dir, self.clock, conf["vega.package.max_size"])
        # what a forgotten driver left (its package is not in the state), or an upload cut off
        used = {r.get("package_sha", "") for r in self.state.recovered.values()} | \
            {(d.get("request") or {}).get("package_sha", "") for d in saved["drivers"]}
        self.packages.remove_unused(used, time.time() - conf["vega.master.finished_app_ttl"])
        self.drivers = DriverRunner(self.work_dir, lambda: self.url, secret_file,
                                    on_change=self.save_state,
                                    max_restarts=conf["vega.master.supervise.max_restarts"],
                                    retained=conf["vega.master.retained_drivers"],
                                    on_forget=self._forget_driver,
                                    on_end=self._driver_ended,
                                    max_running=conf["vega.master.max_running_drivers"])
        self.drivers.number_after([str(d.get("id")) for d in recovered_drivers])
        self.connections = MasterConnections(self)
        self.recovery_writer = RecoveryWriter(self.recovery, self._recovery_snapshot,
                                              TICK_SECONDS)
        self.advertise_host = conf["vega.master.host"]
        #: the address its ports listen on
        self.bind_host = conf["vega.master.bind"] or self.advertise_host
        self.server = Server(self.bind_host, conf["vega.master.port"], secret,
                             self.connections.serve, "master", **rpc_limits(conf))
        #: where its HTTPS port is (``webui_port``, ``token_file``, ``ca_file``,
        #: ``webui_scheme``), set by whoever serves it
        self.webui: Dict[str, object] = {}
        #: set when the master stops (ends the tick thread and log followers)
        self.stopped = threading.Event()
        self.followers = Followers()

    @property
    def url(self) -> str:
        return f"vega://{host_port(self.advertise_host, self.server.port)}"

    def start(self) -> "Master":
        self.server.start()
        threading.Thread(target=self._tick_loop, name="master-ticks", daemon=True).start()
        log.info("master listening on %s", self.url)
        self._resume_drivers()
        return self

    def _resume_drivers(self) -> None:
        """The cluster-mode drivers that were running died with the previous master: the
        supervised ones start again, the others are failed."""
        with self.lock:
            saved = list(self.state.recovered_drivers)
        resumed = set(self.drivers.resume(saved))
        with self.lock:
            kept, ended = [], []
            for record in self.state.recovered_drivers:
                if record.get("id") in resumed:
                    continue
                if record.get("state") in ACTIVE_STATES:
                    log.warning("driver %s failed: it died with the master (submit it with "
                                "--supervise to have it started again)", record.get("id"))
                    record = {**record, "state": "failed", "exit_code": 1,
                              "error": DIED_WITH_MASTER}
                    ended.append(str((record.get("request") or {}).get("package_sha", "")))
                kept.append({k: v for k, v in record.items() if k != "request"})
            changed = kept != saved
            self.state.recovered_drivers = kept
            changed |= self._end_apps_of_dead_drivers(
                {str(r.get("id")) for r in saved if r.get("state") in ACTIVE_STATES})
        for sha in ended:  # as when a driver ends (remove and remove_copy check the id)
            self._release_driver_package(sha)
        if changed:
            self.save_state()

    def _end_apps_of_dead_drivers(self, driver_ids: Set[str]) -> bool:
        """The recovered applications of cluster-mode drivers that died with the previous
        master end now (their driver is started again under a new application, or failed):
        none of those drivers can come back to resume them.  Whether any did (under the
        lock)."""
        now, ended = self.clock(), False
        for app_id, record in self.state.recovered.items():
            if record.get("driver_id") in driver_ids and record.get("state") in ("waiting",
                                                                                "running"):
                self.state.recovered[app_id] = {**record, "state": "finished", "ended": now}
                log.info("application %s finished: its driver %s died with the master",
                         app_id, record["driver_id"])
                ended = True
        return ended

    def stop(self, reason: str = "vega stop-master, stop-cluster or a SIGTERM") -> None:
        """Stop serving; the drivers of running applications are told why (one left with
        no executor then fails its job at once instead of waiting for the master)."""
        self.server.stop()
        self.drivers.stop()  # before ``stopped``: a driver's follower is told it was killed
        self.stopped.set()
        self.followers.wait_ended(STOP_NOTICE_SECONDS)
        # the drivers as they are left: killed, or to be started again (waiting for a write
        # a driver's end began: the process ends next, and a restart read the state before)
        self.save_state(wait=True)
        with self.lock:
            self.connections.deliver([Send(app.session, MasterStopping(reason))
                                      for app in self.state.apps.values() if app.state.active])
        self.connections.close_all(wait=STOP_NOTICE_SECONDS)

    # -- events in, actions out -------------------------------------------------------
    def handle(self, event) -> List[Action]:
        """Apply ``event``; queue its messages (under the lock, never blocking), then
        write the state and delete forgotten applications' files (outside it)."""
        with self.lock:
            actions = self.state.handle(event, self.clock())
            self.connections.deliver(actions)
        for action in actions:
            if isinstance(action, ForgetApplication):
                self._forget(action)
            elif isinstance(action, ProbeDriver):
                threading.Thread(target=self._probe_driver, args=(action,),
                                 name="master-probe", daemon=True).start()
        if any(isinstance(a, SaveState) for a in actions):
            self.save_state()
        return actions

    def _probe_driver(self, probe: ProbeDriver) -> None:
        answer = port_answer(probe.host, probe.port, DRIVER_PROBE_SECONDS)
        self.handle(DriverProbed(probe.app_id, probe.away_since, answer == REFUSED,
                                 silent=answer == SILENT))

    def _tick_loop(self) -> None:
        """Expire silent workers, forget old applications, retry a failed write. This
        thread alone notices silent workers: whatever goes wrong, it goes on."""
        while not self.stopped.wait(TICK_SECONDS):
            try:
                self.follow_clock_step()
                self.handle(Tick())
                if self.recovery_writer.unsaved:
                    self.save_state()
                if self.cleaner_due is not None and time.monotonic() >= self.cleaner_due:
                    self.cleaner_due = time.monotonic() + \
                        self.conf["vega.history.fs.cleaner.interval"]
                    self.clean_event_logs()
            except Exception:  # noqa: BLE001
                log.exception("the master's periodic check failed; checking again in %.0fs",
                              TICK_SECONDS)

    def follow_clock_step(self) -> float:
        """After a step of the wall clock, the master's clock and every time it holds
        (its start, its workers' and applications') move by it (``SteadyClock.resync``):
        no decision changes, and the times shown and saved are the wall clock's again."""
        resync = getattr(self.clock, "resync", None)
        with self.lock:
            step = resync() if resync is not None else 0.0
            if step:
                self.started += step
                actions = self.state.shift_times(step)
        if step:
            log.warning("the wall clock moved by %+.1fs (an NTP step, a clock set by hand, "
                        "or a suspended host): the master's times follow it", step)
            if any(isinstance(a, SaveState) for a in actions):
                self.save_state()
        return step

    def _cleans_event_logs(self) -> bool:
        if not self.conf["vega.history.fs.cleaner.enabled"] or not self.event_log_dir:
            return False
        if "://" in self.event_log_dir:
            log.warning("vega.history.fs.cleaner.enabled: the cleaner deletes only from a "
                        "local directory, not from %s; nothing will be deleted there",
                        self.event_log_dir)
            return False
        return True

    def clean_event_logs(self) -> List[str]:
        """Delete the event logs vega.history.fs.cleaner.max_age and .max_num expire
        (``event_log_cleaner.clean_event_logs``), none of an application running here."""
        from ..scheduler.event_log_cleaner import clean_event_logs

        with self.lock:
            # by the master's id and by the Context's, which names its log (they differ
            # when the master numbered an application whose id it knew already)
            running = [i for a in self.state.apps.values() if a.state.active
                       for i in (a.app_id, a.request.app_id)]
            running += [app_id for app_id, record in self.state.recovered.items()
                        if record.get("state") in ("waiting", "running")]
        removed = clean_event_logs(self.event_log_dir, running, time.time(),
                                   self.conf["vega.history.fs.cleaner.max_age"],
                                   self.conf["vega.history.fs.cleaner.max_num"])
        if removed:
            log.info("event log cleaner: deleted the event logs of %d applications from %s "
                     "(%s%s)", len(removed), self.event_log_dir, ", ".join(removed[:10]),
                     " ..." if len(removed) > 10 else "")
        return removed

    def save_state(self, wait: bool = False) -> None:
        """Write the recovery state (``RecoveryWriter.save``: ``wait``); a failure is logged
        at ERROR and retried next tick."""
        self.recovery_writer.save(wait)

    def _recovery_snapshot(self):
        with self.lock:
            snapshot = self.state.snapshot()
            drivers = list(self.state.recovered_drivers)
        offsets = self.driver_clocks.offsets()
        apps = {app_id: {**record, "driver_clock_offset": offsets[app_id]}
                if app_id in offsets else record for app_id, record in snapshot["apps"].items()}
        return apps, snapshot["workers"], drivers + self.drivers.records()

    def _forget(self, action: ForgetApplication) -> None:
        """An application forgotten a TTL after it ended, or beyond those retained: its
        package goes unless a submitter stored or found it since it ended (the same job
        submitted again, whose driver has not registered yet: removing it then failed the
        new application, 'could not be fetched from the master')."""
        self.logs.remove(action.app_id)
        self.driver_clocks.forget(action.app_id)
        self._remove_unused_package(action.package_sha, action.ended)

    def _driver_ended(self, info) -> None:
        self._release_driver_package(info.request.package_sha,
                                     self.clock() - (time.monotonic() - info.since))

    def _release_driver_package(self, sha: str, since: Optional[float] = None) -> None:
        """A cluster-mode driver ended (or died with the previous master): its package (and
        the copy it ran from) goes, unless an application or a driver still running uses
        it; it stayed for ever, an --archives environment of gigabytes twice over for each
        job submitted.  The copy goes unless a driver still running uses it: its
        application, kept, may keep the zip, which its executors ran
        (``DRIVER_PACKAGE_ENV``)."""
        self._remove_unused_package(sha, since)
        self.packages.remove_copy(sha, lambda: self.drivers.uses_package(sha))

    def _forget_driver(self, driver_id: str, package_sha: str) -> None:
        """A cluster-mode driver beyond vega.master.retained_drivers: its output goes, and
        its package unless a driver or an application the master keeps uses it."""
        self.logs.remove(driver_id)
        self._remove_unused_package(package_sha)

    def _remove_unused_package(self, sha: str, since: Optional[float] = None) -> None:
        """Remove package ``sha`` unless an application or a driver uses it, or a submitter
        stored or found it after ``since`` (the master's clock when the user that has
        stopped using it took it or ended; unknown: ``WANTED_GRACE`` ago)."""
        if not sha:
            return

        def in_use() -> bool:
            with self.lock:
                used = any(a.request.package_sha == sha for a in self.state.apps.values()) \
                    or any(r.get("package_sha") == sha for r in self.state.recovered.values())
            return used or self.drivers.uses_package(sha)

        if since is None:
            since = self.clock() - WANTED_GRACE
        self.packages.remove_unwanted(sha, since, in_use)

    # -- requests from the HTTP API (the status documents: master_status.StatusQueries) ----
    def kill(self, app_or_driver_id: str, how: str) -> bool:
        """Kill an application or a cluster-mode driver (``how``: "with vega kill", ...);
        False if neither is running.  A driver's application is killed with it (Spark's
        master shows it finished, as if its driver had ended on its own), and the driver
        of an application a cluster-mode driver runs with it (a supervised one would start
        its job again)."""
        with self.lock:
            app = self.state.apps.get(app_or_driver_id)
            driver_id = app.request.driver_id if app is not None and app.state.active else ""
        driver_id = driver_id or app_or_driver_id

        def kill_its_applications() -> None:
            with self.lock:
                apps = [a.app_id for a in self.state.apps.values()
                        if a.state.active and a.request.driver_id == driver_id]
            for app_id in apps:
                self.handle(KillRequested(app_id, f"its driver {driver_id} was killed {how}"))

        return (self.drivers.kill(driver_id, before=kill_its_applications)
                or self.kill_application(app_or_driver_id, f"killed {how}"))

    def kill_application(self, app_id: str, reason: str) -> bool:
        with self.lock:
            if not self.state.is_active(app_id):
                return False
        self.handle(KillRequested(app_id, reason))
        return True
