"""Spark's monitoring REST API on the master's HTTP port: ``/api/v1/applications/...``.

Every application's events come from one of two places: the lines its driver relays to
this master (running applications, and finished ones this master ran), else its event log
in the master's ``--event-log-dir`` (finished ones, from any master).  Both are replayed
the same way (``app_events.replay``) and answered with the same documents
(``spark_api_documents``).  ``SparkApi.get`` answers a path or returns None for the
master's own routes (``/api/v1/applications/ID/logs``, whose zip ``event_logs_zip`` makes,
and ``.../output``).
"""

from __future__ import annotations

import calendar
import copy
import os
import re
import threading
import time
from collections import OrderedDict
from typing import IO, Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl

from .._version import __version__
from ..errors import VegaError
from ..scheduler.event_log import open_event_log, parse_event, part_path, read_log
from . import spark_api_documents as docs
from .app_events import AppRecord, apply, replay
from .driver_clocks import SAME_CLOCK_SECONDS

PREFIX = "/api/v1/applications"
#: Spark's ``/api/v1/version``
VERSION_PATH = "/api/v1/version"
#: an event log zip (``/logs``) bigger than this is spooled to a temporary file
ZIP_IN_MEMORY = 8 << 20
ZIP_CHUNK = 1 << 20
#: replayed applications kept for the next request (a page polls every second or two)
CACHED_APPLICATIONS = 16
_ACTIVE = ("waiting", "running", "recovering")
#: the values Spark's ``status`` parameters take (its ApplicationStatus, JobExecutionStatus,
#: StageStatus and TaskStatus enums), lower case
APPLICATION_STATUSES = ("completed", "running")
#: A log without its end of an application this master does not run is of a driver running
#: elsewhere, or starting (a Context writes its log before it registers), while its last
#: event is this recent (seconds); older, its driver is taken for dead, ended at that event.
WRITTEN_LATELY = 60.0
JOB_STATUSES = ("running", "succeeded", "failed", "unknown")
STAGE_STATUSES = ("active", "complete", "pending", "failed", "skipped")
TASK_STATUSES = ("running", "killed", "failed", "success", "unknown")
#: a date as Spark's ``minDate``... take it (its SimpleDateParam): 2015-02-10 (GMT), or
#: 2015-02-03T16:42:40.000GMT (a zone: GMT, UTC, Z, or an offset such as GMT+01:00, -0800)
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d):(\d\d)\.(\d{3})"
                   r"(GMT|UTC|Z|(?:GMT|UTC)?([+-])(\d\d):?(\d\d)))?\Z")

Answer = Tuple[int, Any]


class NotFound(Exception):
    pass


class Query(dict):
    """A query string's parameters: ``get`` and ``[]`` give a parameter's last value;
    ``every`` gives all of them, repeated (Spark's ``?status=a&status=b``) or separated by
    commas."""

    def __init__(self, query: str):
        self.pairs = parse_qsl(query, keep_blank_values=True)
        super().__init__(self.pairs)

    def every(self, key: str) -> List[str]:
        return [v.strip() for k, value in self.pairs if k == key
                for v in value.split(",") if v.strip()]

    def statuses(self, allowed: Tuple[str, ...], key: str = "status") -> List[str]:
        """The ``key`` values given (upper case, as the documents have them), each one
        of ``allowed`` (any case); ValueError naming them otherwise."""
        given = [v.lower() for v in self.every(key)]
        wrong = [v for v in given if v not in allowed]
        if wrong:
            raise ValueError(f"{key} must be {', '.join(allowed[:-1])} or {allowed[-1]}, "
                             f"not {wrong[0]!r}")
        return [v.upper() for v in given]

    def flag(self, key: str, default: bool) -> bool:
        """A boolean parameter as Spark's (JAX-RS ``Boolean.valueOf``): true only when it
        is ``true`` in any case; ``default`` when absent."""
        return self.get(key, str(default)).lower() == "true"

    def date(self, key: str) -> Optional[int]:
        """Parameter ``key`` as epoch milliseconds (None when absent), in the formats
        Spark's dates take; ValueError otherwise."""
        text = self.get(key, "")
        if not text:
            return None
        match = _DATE.match(text.strip())
        if match is None:
            raise ValueError(f"{key} must be a date such as 2026-12-04 or "
                             f"2026-12-04T17:00:00.000GMT, not {text!r}")
        year, month, day, hour, minute, second, millis, _, sign, off_h, off_m = match.groups()
        if sign and (int(off_h) > 23 or int(off_m) > 59):  # as Java's time zones
            raise ValueError(f"{key} has no real time zone offset: {text!r}")
        try:
            epoch = calendar.timegm(time.strptime(
                f"{year}-{month}-{day} {hour or 0}:{minute or 0}:{second or 0}",
                "%Y-%m-%d %H:%M:%S"))
        except ValueError:
            raise ValueError(f"{key} is not a real date: {text!r}") from None
        offset = (int(off_h) * 3600 + int(off_m) * 60) * (-1 if sign == "-" else 1) \
            if sign else 0
        return (epoch - offset) * 1000 + int(millis or 0)


#: the most bytes of an events file replayed at once: a long-lived application's log is
#: read piece by piece, so replaying it needs memory for what is kept, not for the whole log
REPLAY_CHUNK_BYTES = 8 << 20


class _Replayed:
    """An application replayed from a local events file up to ``offset`` (bytes of whole
    lines read) of its part ``part`` (a rolling event log's: ``part_path``); ``inode``: the
    file's first part's (the master replaces the relayed events when it compacts them)."""

    def __init__(self, path: str, app: AppRecord, inode: int):
        self.path, self.app, self.offset, self.part, self.inode = path, app, 0, 1, inode

    def catch_up(self) -> None:
        """Replay what was written since the last time, going on to the next part once one
        is read whole (a part is only ever started after the last one is complete)."""
        while True:
            size = os.path.getsize(part_path(self.path, self.part))
            if size > self.offset:
                self.read_new(size)
            if self.app.error or self.offset < size or \
                    not os.path.exists(part_path(self.path, self.part + 1)):
                return
            self.part, self.offset = self.part + 1, 0

    def read_new(self, size: int) -> None:
        """Replay the lines written since the last read (a line still being written waits
        for the next; one that is not an event ends the replay, as ``read_log``)."""
        with open_event_log(part_path(self.path, self.part)) as fh:
            while not self.app.error and self.offset < size:  # a bounded piece at a time
                fh.seek(self.offset)
                data = fh.read(min(size - self.offset, REPLAY_CHUNK_BYTES))
                whole = data.rfind(b"\n") + 1
                if not whole:  # a line still being written (or longer than a piece)
                    if len(data) < REPLAY_CHUNK_BYTES:
                        return
                    data = data + fh.read(size - self.offset - len(data))
                    whole = data.rfind(b"\n") + 1
                    if not whole:
                        return
                events = []
                for raw in data[:whole].split(b"\n"):
                    if not raw.strip():
                        continue
                    try:
                        events.append(parse_event(raw))
                    except ValueError as exc:
                        self.app.error = f"a line {exc}"
                        break
                apply(self.app, events)
                self.offset += whole


class SparkApi:
    """The REST API of one master (``master`` gives ``status()``, ``application_detail``,
    ``logs.events_path`` and ``event_log_dir``)."""

    def __init__(self, master, cached: int = CACHED_APPLICATIONS):
        self.master = master
        self._cache: "OrderedDict[str, _Replayed]" = OrderedDict()
        self._cached = cached
        #: what the application list shows of each finished application, with the state of
        #: its events files when it was replayed (``_listed``): listing applications
        #: replays only the logs that changed since, as Spark's history server lists
        #: applications from its listing, not by reading every log again
        self._listing: Dict[str, Tuple[tuple, Optional[AppRecord]]] = {}
        #: one page request at a time: replaying mutates the cached applications (the list
        #: of applications reads finished ones' logs afresh, without it)
        self._lock = threading.RLock()

    # -- where events are ------------------------------------------------------------------
    def _paths(self, app_id: str, over: bool = False) -> List[str]:
        """Where ``app_id``'s events may be: the lines its driver relays to this master,
        then its driver's own log in the event log directory; the other way round when the
        application is ``over`` (or runs without this master: no relay goes on): the relay
        is sent after the driver's own write (a driver killed just then leaves its last
        events only in its own log) and is compacted, so the driver's log, when this host
        has it, is the whole of it (what Spark's history server reads)."""
        paths = []
        try:
            paths.append(self.master.logs.events_path(app_id))
        except VegaError:  # not an application id (InvalidIdentifier)
            return []
        directory = getattr(self.master, "event_log_dir", None)
        if directory:
            own = directory.rstrip("/") + "/" + f"{os.path.basename(app_id)}.jsonl"
            paths = [own] + paths if over else paths + [own]
        return paths

    def record(self, app_id: str, over: bool = False) -> Optional[AppRecord]:
        """The application replayed from its events (``_paths``: whether it is ``over``),
        or None if this master has none.

        A local file is read from where the last request stopped (a running application's
        pages poll it), an HDFS one whole."""
        with self._lock:
            return self._read(app_id, self._cache, over)

    def _read(self, app_id: str, cache: "Optional[OrderedDict[str, _Replayed]]",
              over: bool = False) -> Optional[AppRecord]:
        """``record(app_id, over)``, going on from and kept in ``cache`` (held under the
        lock), or read whole without one (what only this call sees needs no lock).

        While it runs, the path it replayed last is read first: a running application's two
        logs (the lines its driver relays to this master, and the driver's own in the event
        log directory) are not equally far along, and switching between them would show it
        going back in time (a stage a page had just seen gone)."""
        paths = self._paths(app_id, over)
        replayed = cache.get(app_id) if cache is not None else None
        if replayed is not None and replayed.path in paths and not over:
            paths.remove(replayed.path)
            paths.insert(0, replayed.path)
        for path in paths:
            if "://" in path:
                try:
                    events, error = read_log(path)
                except (OSError, VegaError):
                    continue
                if events:
                    return replay(app_id, events, error)
                continue
            try:
                first = os.stat(path)
            except OSError:
                continue
            replayed = cache.get(app_id) if cache is not None else None
            if replayed is None or replayed.path != path or replayed.inode != first.st_ino \
                    or (replayed.part == 1 and first.st_size < replayed.offset):
                replayed = _Replayed(path, AppRecord(app_id), first.st_ino)
            try:
                replayed.catch_up()
            except OSError:
                continue
            if not replayed.app.started and not replayed.app.jobs:
                continue  # nothing readable yet
            if cache is not None:
                cache[app_id] = replayed
                cache.move_to_end(app_id)
                while len(cache) > self._cached:
                    cache.popitem(last=False)
            return replayed.app
        return None

    def event_logs_zip(self, app_id: str) -> Optional[IO[bytes]]:
        """Spark's ``/applications/APP_ID/logs``: the application's event log as a zip file,
        one entry per file (``APP_ID.jsonl``, then a rolling log's ``APP_ID.jsonl.2`` ...),
        from where this API replays it (``_paths``), rewound; None when there is none.  It
        is spooled to a temporary file past ``ZIP_IN_MEMORY`` bytes."""
        import tempfile
        import zipfile

        name = f"{os.path.basename(app_id)}.jsonl"
        for path in self._paths(app_id):
            out = tempfile.SpooledTemporaryFile(max_size=ZIP_IN_MEMORY)
            try:
                with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
                    parts = _zip_parts(archive, path, name)
            except (OSError, VegaError):
                parts = 0
            if parts:
                out.seek(0)
                return out
            out.close()
        return None

    def _stamp(self, app_id: str) -> Optional[tuple]:
        """The size and modification time of each of the application's local events files
        (None for one that is not there), or None when one is on HDFS (read whole each
        time): what ``record`` gives changes only when this does."""
        stamp = []
        for path in self._paths(app_id):
            if "://" in path:
                return None
            part = 1
            while True:  # each part of a rolling log
                try:
                    st = os.stat(part_path(path, part))
                except OSError:
                    stamp.append((part_path(path, part), None))
                    break
                stamp.append((part_path(path, part), st.st_size, st.st_mtime_ns))
                part += 1
        return tuple(stamp)

    def _listed(self, app_id: str, listing: Dict[str, Tuple[tuple, Optional[AppRecord]]]
                ) -> Optional[AppRecord]:
        """``record(app_id)`` of a finished application as the list of applications needs
        it (name, times, executors, settings; no jobs, stages or tasks), replayed again
        only when its events files changed since the last list; kept in ``listing``."""
        stamp = self._stamp(app_id)
        known = self._listing.get(app_id)
        if stamp is not None and known is not None and known[0] == stamp:
            listing[app_id] = known
            return known[1]
        app = self._read(app_id, None, over=True)  # not kept among the pages' replays: no lock
        if app is not None:
            app = docs.listed_record(app)
        if stamp is not None:
            listing[app_id] = (stamp, app)
        return app

    def _running(self) -> Dict[str, dict]:
        return {a["id"]: a for a in self.master.status()["applications"]}

    # -- routing -------------------------------------------------------------------------------
    def get(self, path: str, query: str) -> Optional[Answer]:
        """(HTTP status, JSON body) for ``path`` (no trailing slash) and its query string,
        or None when the path is not this API's."""
        if path == VERSION_PATH:
            return 200, {"spark": __version__}  # Spark's VersionInfo: Vega's version
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            return None
        params = Query(query)
        parts = [p for p in path[len(PREFIX):].split("/") if p]
        if not parts:  # the list reads finished applications' logs without the lock: a
            answer = self._answer(parts, params)  # first list of many holds up no page
        else:
            with self._lock:
                answer = self._answer(parts, params)
        return None if answer is None else (answer[0], without_nulls(answer[1]))

    def _answer(self, parts: List[str], params: Query) -> Optional[Answer]:
        try:
            if not parts:
                return 200, self._applications(params)
            if parts[1:] in (["logs"], ["output"]):  # the master's own (http_api)
                return None
            return self._application(parts[0], parts[1:], params)
        except NotFound as exc:
            return 404, {"error": str(exc)}
        except ValueError as exc:
            return 400, {"error": str(exc)}

    def _applications(self, params: Query) -> List[dict]:
        """Spark's ApplicationInfo list (``?status=running|completed``, ``?minDate=``,
        ``?maxDate=``, ``?minEndDate=``, ``?maxEndDate=``, ``?limit=``): the master's
        applications (with its own fields too) and those of the event logs."""
        statuses = params.statuses(APPLICATION_STATUSES)
        window = [params.date(k) for k in ("minDate", "maxDate", "minEndDate", "maxEndDate")]
        limit = _int(params["limit"], "limit") if params.get("limit") else None
        listed: List[dict] = []
        listing: Dict[str, Tuple[tuple, Optional[AppRecord]]] = {}
        running = self._running()
        known = set(running)
        for app_id, summary in running.items():
            active = summary["state"] in _ACTIVE
            record = (self.record(app_id) if active else self._listed(app_id, listing)) or \
                AppRecord(app_id, name=summary["name"], started=summary["started"] or 0.0)
            if not active and not record.completed:  # its driver went away without saying so
                record = ended_at_last_event(record, self._noticed_end(app_id))
            known.add(record.context_id)  # its event log, listed once: here
            listed.append({**summary, **_application_info(record, active,
                                                          now=self._driver_now(app_id))})
        for past in self.master.history():
            if past["app_id"] in known:
                continue
            record = self._listed(past["app_id"], listing)
            if record is not None:
                stamp = listing.get(past["app_id"], (None,))[0]  # (what _listed read)
                written = last_written(stamp)
                lately = written_lately(record, written)
                listed.append(_application_info(record, lately,
                                                not lately and not record.completed,
                                                log_now(record, written)))
        self._listing = listing  # what is no longer listed is forgotten
        if statuses:
            listed = [a for a in listed
                      if ("COMPLETED" if a["attempts"][0]["completed"] else "RUNNING") in statuses]
        listed = [a for a in listed if _in_window(a["attempts"][0], *window)]
        listed.sort(key=lambda a: a["attempts"][0]["startTimeEpoch"], reverse=True)
        return listed if limit is None else listed[:limit]

    def _application(self, app_id: str, rest: List[str], params: Query) -> Answer:
        running = self._running().get(app_id)
        app = self.record(app_id, over=running is None or running["state"] not in _ACTIVE)
        if app is None and running is None:
            raise NotFound(f"no application {app_id} (neither running on this master nor in "
                           f"its event log directory)")
        if app is None:  # registered, no events relayed yet
            app = AppRecord(app_id, name=running["name"], started=running["started"] or 0.0)
        written = last_written(self._stamp(app_id)) if running is None else None
        active = running["state"] in _ACTIVE if running is not None else \
            written_lately(app, written)
        # only its cut-off log is left: as Spark's history server, it is incomplete
        incomplete = running is None and not active and not app.completed
        if not active and not app.completed:  # its driver went away without saying so
            app = ended_at_last_event(app, self._noticed_end(app_id)
                                      if running is not None else None)
        # what runs is timed up to now on its driver's clock, that of its events
        now = self._driver_now(app_id) if running is not None else log_now(app, written)
        if not rest:
            detail = self.master.application_detail(app_id) if running is not None else None
            return 200, {**(detail or {}), **_application_info(app, active, incomplete, now)}
        head, args = rest[0], rest[1:]
        if head == "jobs":
            return 200, self._jobs(app, args, params, now)
        if head == "stages":
            return 200, self._stages(app, args, params, now)
        if head == "executorTimeline" and not args:
            return 200, docs.executor_timeline(app, now)
        if head in ("executors", "allexecutors") and not args:
            return 200, docs.executor_summaries(app, head == "allexecutors", now)
        if head == "storage" and args[:1] == ["rdd"] and len(args) <= 2:
            if len(args) == 1:
                return 200, docs.rdd_storage(app)
            found = docs.rdd_storage(app, _int(args[1], "RDD id"))
            if not found:
                raise NotFound(f"RDD {args[1]} has no cached partitions")
            return 200, found[0]
        if head == "environment" and not args:
            return 200, docs.environment(app)
        raise NotFound("not found")

    def _driver_now(self, app_id: str) -> float:
        """The time now on the clock of ``app_id``'s driver (``driver_clocks``)."""
        clocks = getattr(self.master, "driver_clocks", None)
        return clocks.now(app_id) if clocks is not None else time.time()

    def _noticed_end(self, app_id: str) -> Optional[float]:
        """When this master took ``app_id`` for over (``application_ended``), on its
        driver's clock, as the times of its events."""
        noticed = self.master.application_ended(app_id)
        clocks = getattr(self.master, "driver_clocks", None)
        return noticed - clocks.offset(app_id) if noticed is not None and clocks else noticed

    def _jobs(self, app: AppRecord, args: List[str], params: Query, now: float):
        if not args:
            jobs = [docs.job_data(app, j, now) for j in sorted(app.jobs.values(),
                                                               key=lambda j: -j.job_id)]
            wanted = params.statuses(JOB_STATUSES)
            return [j for j in jobs if j["status"] in wanted] if wanted else jobs
        job = app.jobs.get(_int(args[0], "job id"))
        if job is None:
            raise NotFound(f"no job {args[0]}")
        if args[1:] == []:
            return docs.job_data(app, job, now)
        if args[1:] == ["graph"]:
            return docs.job_graph(app, job)
        raise NotFound("not found")

    def _stages(self, app: AppRecord, args: List[str], params: Query, now: float):
        # Spark's: ?details (tasks and executorSummary), ?taskStatus (those tasks only, and
        # with ?details the list keeps the stages that have any), ?withSummaries (task and
        # executor metric distributions at ?quantiles), on the list and on one stage
        shown = dict(now=now, task_statuses=params.statuses(TASK_STATUSES, "taskStatus"),
                     quantiles=(_quantiles(params.get("quantiles"), docs.SUMMARY_QUANTILES)
                                if params.flag("withSummaries", False) else None))
        if not args:
            details = params.flag("details", False)
            wanted = params.statuses(STAGE_STATUSES)
            every = sorted(app.stage_attempts() + docs.pending_stages(app),
                           key=lambda s: (s.stage_id, s.attempt), reverse=True)
            stages = [docs.stage_data(app, s, details, **shown) for s in every]
            return [s for s in stages if (not wanted or s["status"] in wanted) and
                    (not details or docs.has_tasks_of(s, shown["task_statuses"]))]
        stage_id = _int(args[0], "stage id")
        attempts = [s for s in app.stage_attempts() if s.stage_id == stage_id] or \
            [s for s in docs.pending_stages(app) if s.stage_id == stage_id]
        if not attempts:
            raise NotFound(f"no stage {stage_id}")
        details = params.flag("details", True)  # Spark's default here
        if len(args) == 1:
            return [docs.stage_data(app, s, details, **shown) for s in attempts]
        attempt = _int(args[1], "stage attempt")
        stage = next((s for s in attempts if s.attempt == attempt), None)
        if stage is None:
            raise NotFound(f"no attempt {attempt} of stage {stage_id}")
        if len(args) == 2:
            return docs.stage_data(app, stage, details, **shown)
        if args[2:] == ["taskSummary"]:
            quantiles = _quantiles(params.get("quantiles"), docs.DEFAULT_QUANTILES)
            summary = docs.task_summary(stage, quantiles)
            if summary is None:
                raise NotFound(f"no task of stage {stage_id} attempt {attempt} has "
                               f"succeeded yet")
            return summary
        if args[2:] == ["taskList"]:
            return docs.task_list(app, stage, _int(params.get("offset", "0"), "offset"),
                                  _int(params.get("length", "20"), "length"),
                                  params.get("sortBy", "ID"), params.statuses(TASK_STATUSES),
                                  now)
        raise NotFound("not found")


def without_nulls(document):
    """``document`` without the fields whose value is None, at every depth: Spark's API
    leaves out a field it has no value for (an ``Option`` that is empty: a stage's
    ``failureReason`` when it did not fail), rather than writing ``null``.

    >>> without_nulls([{"stageId": 1, "failureReason": None, "tasks": {"4": {"errorMessage": None}}}])
    [{'stageId': 1, 'tasks': {'4': {}}}]
    """
    if isinstance(document, dict):
        return {key: without_nulls(value) for key, value in document.items()
                if value is not None}
    if isinstance(document, list):
        return [without_nulls(value) for value in document]
    return document


def _application_info(app: AppRecord, active: bool, incomplete: bool = False,
                      now: Optional[float] = None) -> dict:
    """``docs.application_info``; for an application whose events hold a value of another
    type than Vega writes (relayed by a driver, or a log of another version) that of its id,
    name and times alone: one application cannot fail the list of all of them."""
    try:
        return docs.application_info(app, active, incomplete, now)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError):
        return docs.application_info(AppRecord(app.app_id, name=str(app.name),
                                               started=app.started), active, incomplete,
                                     now)


def written_lately(app: AppRecord, written: Optional[float] = None) -> bool:
    """Whether ``app``, which this master does not run, is taken to run: its log has no end
    and was ``written`` (its files' modification time) under ``WRITTEN_LATELY`` seconds ago,
    by this host's clock; unknown (on HDFS), its last event (its driver's clock: a driver
    ten minutes behind would run no more, and one killed with its clock an hour ahead would
    run for another hour)."""
    last = written if written is not None else app.last_event or app.started
    return not app.completed and time.time() - last < WRITTEN_LATELY


def last_written(stamp: Optional[tuple]) -> Optional[float]:
    """When the files of an application's events were last written (this host's clock),
    from their ``SparkApi._stamp``; None when unknown (an event log on HDFS)."""
    written = [part[2] for part in stamp or () if part[1] is not None]
    return max(written) / 1e9 if written else None


def log_now(app: AppRecord, written: Optional[float]) -> float:
    """The time now on the clock of the driver writing ``app``'s log, ``written`` (its
    files' modification time, this host's clock) at its last event: that event plus the
    time since (this host's time when the two are within ``SAME_CLOCK_SECONDS``, or
    ``written`` is unknown)."""
    now = time.time()
    if written is None or not app.last_event or \
            abs(written - app.last_event) <= SAME_CLOCK_SECONDS:
        return now
    return app.last_event + (now - written)


def ended_at_last_event(app: AppRecord, noticed: Optional[float] = None) -> AppRecord:
    """An application that is over though its events do not say so (its driver was
    killed), as ended when the master ``noticed`` it was (what its status says: Spark's
    standalone Master's endTime), or, when the master does not hold it (only its cut-off
    log is left), at its last event: its unfinished jobs failed, its running stages failed
    and their running attempts killed (its ApplicationInfo is incomplete, as Spark's
    history server lists it: ``application_info``'s ``incomplete``).  A copy: the cached
    replay goes on from where it was."""
    over = copy.copy(app)
    # not before its last event: the driver's clock offset is an estimate (stale for a
    # while after a driver's clock stepped, unknown after this master restarted)
    last = app.last_event or app.started
    over.ended = max(noticed, last) if noticed is not None else last
    return over


def _zip_parts(archive, path: str, name: str) -> int:
    """Copy the parts of the event log at ``path`` (``part_path``) into ``archive`` as
    ``name`` and its part names; how many there were (0: no log there)."""
    part = 1
    while True:
        try:
            source = open_event_log(part_path(path, part))
        except (OSError, VegaError):
            return part - 1
        with source:
            try:
                chunk = source.read(ZIP_CHUNK)  # (an HDFS file is opened at its first read)
            except (OSError, VegaError):
                return part - 1
            with archive.open(part_path(name, part), "w") as entry:
                while chunk:
                    entry.write(chunk)
                    chunk = source.read(ZIP_CHUNK)
        part += 1


def _in_window(attempt: dict, min_start: Optional[int], max_start: Optional[int],
               min_end: Optional[int], max_end: Optional[int]) -> bool:
    """Whether an application attempt (ApplicationAttemptInfo) is in the window as Spark
    decides it: started within [minDate, maxDate]; ended within [minEndDate, maxEndDate]
    if completed, else running and maxEndDate (if given) still to come."""
    start = attempt["startTimeEpoch"]
    if (min_start is not None and start < min_start) or \
            (max_start is not None and start > max_start):
        return False
    if not attempt["completed"]:
        return max_end is None or max_end > time.time() * 1000
    end = attempt["endTimeEpoch"]
    return (min_end is None or end >= min_end) and (max_end is None or end <= max_end)


def _int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, not {text!r}") from None
    if value < 0:
        raise ValueError(f"{what} must not be negative")
    return value


def _quantiles(text: Optional[str], default: Tuple[float, ...]) -> Tuple[float, ...]:
    """``?quantiles=``, in increasing order (as Spark sorts them), or ``default``."""
    if not text:
        return default
    try:
        values = tuple(float(q) for q in text.split(","))
    except ValueError:
        raise ValueError(f"quantiles must be numbers between 0 and 1 separated by commas, "
                         f"not {text!r}") from None
    if not all(0.0 <= q <= 1.0 for q in values):
        raise ValueError(f"quantiles must be between 0 and 1: {text!r}")
    return tuple(sorted(values))
