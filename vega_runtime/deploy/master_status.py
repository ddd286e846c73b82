"""The master's status documents: ``vega status --json``, ``/api/v1/status`` and the
web UI's application page, read from the state machine (with the master's lock held)
by pure functions; ``StatusQueries`` is the ``Master``'s side (its lock, its drivers,
its stored output, the event-log directory of finished applications)."""

from __future__ import annotations

from typing import List, Optional

from .._version import __version__
from ..master_url import parse_master
from ..scheduler.job_metrics import ended_progress
from ..versions import python_version
from .master_state import MasterState
from .placement import free_addresses


def status_document(state: MasterState, drivers: List[dict], url: str, started: float,
                    now: float) -> dict:
    """The documented JSON status."""
    return {
        "master": {"url": url, "version": __version__, "python": python_version(),
                   "started": started, "uptime_seconds": round(now - started, 1)},
        "workers": [{
            "id": w.worker_id, "host": w.host, "port": w.port, "state": w.state.value,
            "cores": w.cores, "cores_used": w.cores_used,
            "memory_bytes": w.memory, "memory_used_bytes": w.memory_used,
            "labels": w.labels, "resources": resource_use(w, state.apps),
            "last_heartbeat_seconds_ago": round(now - w.last_heartbeat, 1),
            "executors": [f"{a}/{e}" for a, e in w.executors],
        } for w in state.workers.values()] + [{
            "id": worker_id, "host": w["host"], "port": w["port"],
            "state": recovered_worker_state(w),
            "cores": w["cores"], "cores_used": 0, "memory_bytes": w["memory"],
            "memory_used_bytes": 0, "labels": w["labels"],
            "resources": {name: {"addresses": addresses, "free": addresses, "used": [],
                                 "shared": {}}
                          for name, addresses in w.get("resources", {}).items()},
            "last_heartbeat_seconds_ago": None, "executors": [],
        } for worker_id, w in state.recovered_workers.items()],
        "applications": [{
            "id": a.app_id, "name": a.request.name, "state": a.state.value,
            "cores": len(a.executors) * a.request.cores_per_executor,
            "executors": len(a.executors),
            "requested_executors": a.requested_total,
            "driver": f"{a.request.driver_host}:{a.request.driver_port}",
            "started": a.submitted,
            "duration_seconds": round((a.ended or now) - a.submitted, 3),
            "waiting_reason": a.waiting_reason if a.state == "waiting" else "",
            "labels": list(a.request.labels),
            "driver_id": a.request.driver_id,
        } for a in state.apps.values()] + [{
            "id": app_id, "name": r["name"],
            "state": recovered_app_state(r),
            "cores": 0, "executors": 0, "requested_executors": None, "driver": "", "started": r["submitted"],
            "duration_seconds": round((r["ended"] or now) - r["submitted"], 3),
            "waiting_reason": "", "labels": [], "driver_id": r.get("driver_id", ""),
        } for app_id, r in state.recovered.items()],
        "drivers": drivers + [  # (a saved request, with the submitter's settings, is not shown)
            {**{k: v for k, v in d.items() if k != "request"},
             "state": "unknown" if d["state"] in ("running", "restarting", "submitted")
             else d["state"]} for d in state.recovered_drivers],
    }


#: Vega's driver states in Spark's words (its DriverState: what spark-submit --status says)
SPARK_DRIVER_STATES = {"submitted": "SUBMITTED", "running": "RUNNING",
                       "restarting": "RELAUNCHING", "finished": "FINISHED",
                       "failed": "FAILED", "killed": "KILLED", "unknown": "UNKNOWN"}
#: Vega's application states in Spark's words (its ApplicationState)
SPARK_APP_STATES = {"waiting": "WAITING", "running": "RUNNING", "finished": "FINISHED",
                    "failed": "FAILED", "killed": "KILLED", "recovering": "UNKNOWN"}


def submission_status(document: dict, app_or_driver_id: str) -> Optional[dict]:
    """One driver or application of a status document (``vega status ID``), with its state
    in Spark's words (``spark_state``), the host a driver runs on (the master's: Vega runs
    cluster-mode drivers there) and the application of a driver, or of an application the
    driver it came from; None if the document has neither.

    >>> doc = {"master": {"url": "vega://10.0.0.1:7077"}, "drivers": [{"id": "driver-1",
    ...        "state": "restarting"}], "applications": [{"id": "app-1", "state": "running",
    ...        "driver_id": "driver-1"}]}
    >>> d = submission_status(doc, "driver-1")
    >>> d["spark_state"], d["host"], d["application"], d["application_state"]
    ('RELAUNCHING', '10.0.0.1', 'app-1', 'running')
    >>> submission_status(doc, "app-1")["spark_state"], submission_status(doc, "app-2")
    ('RUNNING', None)
    """
    for driver in document.get("drivers", []):
        if driver["id"] == app_or_driver_id:
            apps = [a for a in document.get("applications", [])
                    if a.get("driver_id") == app_or_driver_id]
            latest = max(apps, key=lambda a: a.get("started", 0.0)) if apps else {}
            state = "ERROR" if driver.get("error") else \
                SPARK_DRIVER_STATES.get(driver["state"], "UNKNOWN")  # it could not be started
            return {**driver, "spark_state": state,
                    "host": parse_master(document["master"]["url"]).host,
                    "application": latest.get("id", ""),
                    "application_state": latest.get("state", "")}
    for app in document.get("applications", []):
        if app["id"] == app_or_driver_id:
            return {**app, "spark_state": SPARK_APP_STATES.get(app["state"], "UNKNOWN")}
    return None


def resource_use(worker, apps: dict) -> dict:
    """A worker's custom resources: each one's addresses, those no executor holds (``free``:
    what any application may be granted), those some hold (``used``: Spark's used/total),
    and, of the used ones an application's executors share (a task amount below 1), how
    many hold it and how many of that application's may (``shared``: the master grants the
    rest to that application only).  ``apps``: the master's applications, by id."""
    free = free_addresses(worker.resources, list(worker.executors.values()))
    holders: dict = {}
    for (app_id, _), share in worker.executors.items():
        for name, addresses in share.resources.items():
            for address in addresses:
                holders.setdefault((name, address), []).append(app_id)
    use = {}
    for name, addresses in worker.resources.items():
        shared = {}
        for address in addresses:
            held_by = holders.get((name, address), [])
            app = apps.get(held_by[0]) if held_by else None
            most = app.request.executors_per_address.get(name, 1) if app is not None else 1
            if len(held_by) > 1 or most > 1 and held_by:
                shared[address] = {"application": held_by[0], "executors": len(held_by),
                                   "most": max(most, len(held_by))}
        use[name] = {"addresses": addresses, "free": free[name],
                     "used": [a for a in addresses if (name, a) in holders], "shared": shared}
    return use


def recovered_worker_state(record: dict) -> str:
    """The state of a worker a restarted master knows only from its recovery directory:
    ``dead`` if it had stopped on purpose (it never comes back: a restarted worker has a
    new id), else ``lost`` until it registers again."""
    return "dead" if record.get("state") == "dead" else "lost"


def recovered_app_state(record: dict) -> str:
    """The state of an application a restarted master knows only from its recovery
    directory: one that was active is recovering until its driver registers again."""
    return "recovering" if record["state"] in ("waiting", "running") else record["state"]


def application_document(state: MasterState, summary: dict, app_id: str) -> Optional[dict]:
    """One application for the web UI: status, stages, executors, cached RDDs."""
    app = state.apps.get(app_id)
    if app is None:
        return None
    metrics = app.metrics or {}
    # a driver killed mid-job never says its job ended: once its application has, nothing
    # of it runs (the page showed that job and its stage running for as long as it was kept)
    ended = (lambda progress: progress) if app.state.active else ended_progress
    return {**summary, "executors": dict(app.executors),
            "jobs": ended(metrics.get("job_progress", [])),
            "stages": ended(metrics.get("stage_progress", [])),
            "cached_rdds": metrics.get("cached_rdds", []),
            "logs": f"/api/v1/applications/{app_id}/logs"}


class StatusQueries:
    """A mixin of ``Master``: needs ``self.lock``, ``self.state``, ``self.drivers``,
    ``self.logs``, ``self.url``, ``self.started``, ``self.clock``, ``self.webui``,
    ``self.event_log_dir`` and ``self.history_cache`` (None, or an ``event_log.SummaryCache``)."""

    def status(self) -> dict:
        """The documented JSON status (``vega status --json``, ``/api/v1/status``)."""
        drivers = self.drivers.status()
        with self.lock:
            document = status_document(self.state, drivers, self.url, self.started, self.clock())
        document["master"].update(self.webui)
        return document

    def application_detail(self, app_id: str) -> Optional[dict]:
        """One application for the web UI: status, stages, executors, cached RDDs."""
        with self.lock:
            summary = [a for a in self.status()["applications"] if a["id"] == app_id]
            return application_document(self.state, summary[0], app_id) if summary else None

    def application_output(self, app_id: str, limit: int = 1 << 20) -> Optional[str]:
        """The last ``limit`` bytes of an application's (or driver's) stored output."""
        text = self.logs.tail(app_id, limit)
        if text is None:
            with self.lock:
                return "" if app_id in self.state.apps else None
        return text

    def application_ended(self, app_id: str) -> Optional[float]:
        """When this master took the application for over (its driver unregistered, or
        was gone: disconnected, silent past its timeout, not back after a restart), or
        None while it runs or when the master does not hold it (any more)."""
        with self.lock:
            app = self.state.apps.get(app_id)
            if app is not None:
                return app.ended
            return self.state.recovered.get(app_id, {}).get("ended")

    def history(self) -> List[dict]:
        """Summaries of the applications whose event logs are in ``event_log_dir``."""
        if not self.event_log_dir:
            return []
        from ..scheduler.event_log import SummaryCache  # loaded when the history is asked for

        with self.lock:
            if self.history_cache is None:
                self.history_cache = SummaryCache()
        return self.history_cache.list(self.event_log_dir)

    def history_of(self, app_id: str) -> Optional[dict]:
        from ..scheduler.event_log import summary_of

        return summary_of(self.event_log_dir, app_id) if self.event_log_dir else None
