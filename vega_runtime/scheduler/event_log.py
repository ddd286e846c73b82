"""Each application's append-only event log (JSON lines), and reading them back.

One file per application, ``<dir>/<app_id>.jsonl``: application, job, stage and task
start/end with timestamps and task metrics, ending with the application's totals.
``vega history`` summarises them.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import re
import threading
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from ..errors import EventLogUnwritable
from ..io.files import local_path, open_input
from ..io.hdfs import HdfsSettings, is_hdfs
from ..logs import error_summary
from ..private_files import make_private_dirs, new_private_dir, open_private, open_regular
from .event_log_cleaner import TAIL_BYTES, last_line_of
from .listener import JobListener
from .run_summary import percentile, steady_seconds

log = logging.getLogger(__name__)


_str = json.encoder.encode_basestring_ascii  # a string as json.dumps writes it
_BOOLS = {True: "true", False: "false"}
#: the keys of ``task_events.task_info``'s dict, in its order
_TASK_INFO_KEYS = ("task_id", "job_id", "stage_id", "stage_attempt", "partition", "attempt",
                   "executor", "host", "state", "speculative", "locality", "launch_time",
                   "finish_time", "error", "metrics", "blocks_added", "blocks_dropped")


#: settings whose values are never shown (``vega submit --verbose``, ``vega master
#: --verbose``) nor kept in an event log (so no Environment page, REST ``/environment`` or
#: logs zip, which ``vega master --ui-open`` shows to anyone): those whose key or value
#: this matches, as Spark's default ``spark.redaction.regex`` (which spells access.key
#: only); their value is ``REDACTED``
REDACTION_REGEX = re.compile(r"(?i)secret|password|token|access[._-]?key")
REDACTED = "*********(redacted)"


def redact(key: str, value):
    """``value``, or ``REDACTED`` when ``REDACTION_REGEX`` matches ``key`` or ``value``
    (a password in a setting of another name: ``-Dapi.password=pw``), as Spark redacts.

    >>> redact("vega.executor.env.DB_PASSWORD", "pw"), redact("vega.app.name", "etl")
    ('*********(redacted)', 'etl')
    >>> redact("vega.executor.env.JAVA_OPTS", "-Dapi.password=pw")
    '*********(redacted)'
    """
    if REDACTION_REGEX.search(key) or (value is not None and REDACTION_REGEX.search(str(value))):
        return REDACTED
    return value


def redacted(settings: List[list]) -> List[list]:
    """``[key, value, origin]`` settings with their values ``redact``ed.

    >>> redacted([["vega.executor.env.DB_PASSWORD", "pw", "job"], ["vega.app.name", "a", "job"]])
    [['vega.executor.env.DB_PASSWORD', '*********(redacted)', 'job'], ['vega.app.name', 'a', 'job']]
    """
    return [[key, redact(key, value), origin] for key, value, origin in settings]


def _numbers_json(values: dict) -> str:
    """``json.dumps(values)`` for a map of names to numbers (a task's metrics), a quarter
    of the time; other maps go through ``json.dumps``."""
    parts = []
    for key, value in values.items():
        kind = type(value)
        if type(key) is not str or not (kind is int or kind is float and value - value == 0.0):
            return json.dumps(values)
        parts.append(f"{_str(key)}: {value!r}")
    return "{" + ", ".join(parts) + "}"


class EventWriter(JobListener):
    """Turns scheduler events into event-log lines (JSON, one per event) for ``write``; the
    file log below and the driver's relay to the master (``MasterEventRelay``) are two.
    Another writer can take its lines from one (``tee``) instead of encoding each event
    again: four events per task make the encoding a fair part of the driver's work."""

    #: ``write``s of other writers that get each line too (``tee``)
    _tees: tuple = ()
    #: the job group, description and tags of the thread submitting a job, read as the job
    #: starts (``job_group``, ``job_description``, ``job_tags``; the Context sets this)
    job_properties: Callable[[], Dict[str, Any]] = staticmethod(dict)
    #: the cores each executor of the application holds (the resource plan's; the Context
    #: sets this), written with each ExecutorAdded (Spark's ``executorInfo.totalCores``)
    executor_cores: int = 0
    #: when ``application_start`` was written (``steady_seconds``)
    _started: Optional[float] = None
    #: the ApplicationStart and ApplicationEnd events written, once they are
    start_event: Optional[dict] = None
    end_event: Optional[dict] = None

    def write(self, line: str, flush: bool) -> None:
        raise NotImplementedError

    def tee(self, write) -> None:
        """Give every line written from now on to ``write(line, flush)`` too."""
        self._tees = (*self._tees, write)

    def untee(self, write) -> None:
        self._tees = tuple(w for w in self._tees if w != write)

    def _write(self, event: str, flush: bool = True, at: Optional[float] = None,
               **fields) -> dict:
        """Append one event (that happened ``at``, else now), and return it; task-level
        events are buffered (as Spark's event logger does), the next application, job or
        stage event flushes them."""
        if at is None and self._started is not None:
            # the steady seconds since the start: a reader times what ends with them, as
            # the wall clock of ``time`` may step back between a job's start and its end
            fields["elapsed"] = round(steady_seconds() - self._started, 3)
        written = {"event": event, "time": time.time() if at is None else at, **fields}
        line = json.dumps(written)
        self.write(line, flush)
        for write in self._tees:
            write(line, flush)
        return written

    def _write_line(self, line: str) -> None:
        """A task-level line already encoded (buffered like those ``_write`` encodes)."""
        self.write(line, False)
        for write in self._tees:
            write(line, False)

    def application_start(self, app_id: str, app_name: str, master: str, **ids) -> None:
        """``ids``: other names of the application (``context_id``: the Context's own id,
        which names its event log, where ``app_id`` is the master's)."""
        self._started = steady_seconds()
        self.start_event = self._write("ApplicationStart", app_id=app_id, name=app_name,
                                       master=master, **ids)

    def application_end(self, totals: Optional[dict] = None) -> None:
        """The end, with ``duration``: seconds since ``application_start`` on a clock that
        does not jump (the times of the two events are the wall clock's, which an NTP step
        or a clock set by hand moves: the summary of a driver whose clock was set back an
        hour mid-run said it ran for -3,559 s); and ``totals``, what the application ran
        (``RunSummary.totals``), which a listing of its log reads there (``summary_of_ends``)
        rather than every line before."""
        fields: Dict[str, Any] = {} if totals is None else {"totals": totals}
        if self._started is not None:
            fields["duration"] = round(steady_seconds() - self._started, 3)
        self.end_event = self._write("ApplicationEnd", **fields)

    def environment(self, settings: List[list], runtime: dict) -> None:
        """The resolved configuration, ``[key, value, where it came from]`` each, and the
        driver's runtime (Python, Vega, platform)."""
        self._write("Environment", settings=settings, runtime=runtime)

    def rdd_unpersisted(self, rdd_id: int) -> None:
        self._write("UnpersistRDD", rdd_id=rdd_id)

    def on_job_graph(self, job_id: int, stages: List[dict]) -> None:
        self._write("JobGraph", job_id=job_id, stages=stages)

    def on_task_info(self, info: dict) -> None:
        if tuple(info) == _TASK_INFO_KEYS:  # task_events.task_info's, encoded as on_task_start
            (task_id, job_id, stage_id, stage_attempt, partition, attempt, executor, host, state,
             speculative, locality, launched, finished, error, metrics, added,
             dropped) = info.values()
            if type(task_id) is type(job_id) is type(stage_id) is type(stage_attempt) \
                    is type(partition) is type(attempt) is int \
                    and type(executor) is type(host) is type(state) is type(locality) is str \
                    and type(speculative) is bool and (error is None or type(error) is str) \
                    and type(launched) is type(finished) is float \
                    and launched - launched == 0.0 and finished - finished == 0.0:
                self._write_line(
                    f'{{"event": "TaskInfo", "time": {time.time()!r}, "task_id": {task_id}, '
                    f'"job_id": {job_id}, "stage_id": {stage_id}, '
                    f'"stage_attempt": {stage_attempt}, "partition": {partition}, '
                    f'"attempt": {attempt}, "executor": {_str(executor)}, "host": {_str(host)}, '
                    f'"state": {_str(state)}, "speculative": {_BOOLS[speculative]}, '
                    f'"locality": {_str(locality)}, '
                    f'"launch_time": {launched!r}, "finish_time": {finished!r}, '
                    f'"error": {"null" if error is None else _str(error)}, '
                    f'"metrics": {_numbers_json(metrics)}, '
                    f'"blocks_added": {"[]" if added == [] else json.dumps(added)}, '
                    f'"blocks_dropped": {"[]" if dropped == [] else json.dumps(dropped)}}}')
                return
        self._write("TaskInfo", False, **info)

    def on_job_start(self, job_id: int, description: str) -> None:
        given = {key: value for key, value in self.job_properties().items() if value}
        self._write("JobStart", job_id=job_id, description=description, **given)

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        self._write("JobEnd", job_id=job_id, succeeded=error is None,
                    error=error_summary(error) if error else None)

    def on_stage_submitted(self, stage_id: int, attempt: int, name: str, num_tasks: int) -> None:
        self._write("StageSubmitted", stage_id=stage_id, attempt=attempt, name=name,
                    num_tasks=num_tasks)

    def on_stage_completed(self, stage_id: int, failure: Optional[str]) -> None:
        self._write("StageCompleted", stage_id=stage_id, failure=failure)

    def on_task_start(self, stage_id: int, partition: int, task_id: int, attempt: int,
                      executor_id: str, host: str, speculative: bool) -> None:
        if type(stage_id) is type(partition) is type(task_id) is type(attempt) is int \
                and type(executor_id) is type(host) is str and type(speculative) is bool:  # the line json.dumps writes, a third the time
            self._write_line(
                f'{{"event": "TaskStart", "time": {time.time()!r}, "stage_id": {stage_id}, '
                f'"partition": {partition}, "task_id": {task_id}, "attempt": {attempt}, '
                f'"executor": {_str(executor_id)}, "host": {_str(host)}, '
                f'"speculative": {_BOOLS[speculative]}}}')
            return
        self._write("TaskStart", False, stage_id=stage_id, partition=partition, task_id=task_id,
                    attempt=attempt, executor=executor_id, host=host, speculative=speculative)

    def on_task_end(self, stage_id: int, partition: int, executor_id: str, success: bool,
                    duration: float, attempt: int = 0, speculative: bool = False) -> None:
        if type(stage_id) is type(partition) is type(attempt) is int \
                and type(executor_id) is str and type(success) is type(speculative) is bool \
                and type(duration) is float and duration - duration == 0.0:  # finite
            self._write_line(
                f'{{"event": "TaskEnd", "time": {time.time()!r}, "stage_id": {stage_id}, '
                f'"partition": {partition}, "executor": {_str(executor_id)}, '
                f'"success": {_BOOLS[success]}, "duration": {duration!r}, '
                f'"attempt": {attempt}, "speculative": {_BOOLS[speculative]}}}')
            return
        self._write("TaskEnd", False, stage_id=stage_id, partition=partition, executor=executor_id,
                    success=success, duration=duration, attempt=attempt, speculative=speculative)

    def on_task_killed(self, stage_id: int, partition: int, task_id: int, attempt: int,
                       executor_id: str, speculative: bool, reason: str) -> None:
        self._write("TaskKilled", False, stage_id=stage_id, partition=partition, task_id=task_id,
                    attempt=attempt, executor=executor_id, speculative=speculative, reason=reason)

    def on_speculative_task_submitted(self, stage_id: int, partition: int) -> None:
        self._write("SpeculativeTaskSubmitted", False, stage_id=stage_id, partition=partition)

    def on_executor_added(self, executor_id: str, host: str, at: float,
                          resources: Optional[Dict[str, List[str]]] = None) -> None:
        self._write("ExecutorAdded", at=at, executor=executor_id, host=host,
                    **({"cores": self.executor_cores} if self.executor_cores else {}),
                    **({"resources": resources} if resources else {}))

    def on_executor_removed(self, executor_id: str, host: str, reason: str, lost: bool,
                            at: float, cause: str = "") -> None:
        self._write("ExecutorRemoved", at=at, executor=executor_id, host=host, reason=reason,
                    lost=lost, cause=cause)

    def on_task_metrics(self, outcome: str, metrics: dict) -> None:
        written = int(metrics.get("shuffle_bytes_written", 0))
        read = int(metrics.get("shuffle_bytes_read", 0))
        if type(outcome) is str and type(written) is type(read) is int:  # as on_task_start
            self._write_line(
                f'{{"event": "TaskMetrics", "time": {time.time()!r}, "outcome": {_str(outcome)}, '
                f'"shuffle_written": {written}, "shuffle_read": {read}}}')
            return
        self._write("TaskMetrics", False, outcome=outcome, shuffle_written=written,
                    shuffle_read=read)


def part_path(path: str, number: int) -> str:
    """Where part ``number`` of a rolling event log is (part 1 is the log's own path)."""
    return path if number == 1 else f"{path}.{number}"


class NameTaken(Exception):
    """An exclusive ``EventLog``'s file exists: the log of another application of that id."""


class EventLog(EventWriter):
    """Appends every scheduler event of one application to its log file; with
    ``max_file_size`` (vega.eventlog.rolling.*), to a new part (``part_path``) once the
    current one has that many bytes."""

    def __init__(self, directory: str, app_id: str, app_name: str, master: str,
                 hdfs: Optional[HdfsSettings] = None, max_file_size: int = 0,
                 exclusive: bool = False):
        """``exclusive``: a log of that name must not exist (``NameTaken``)."""
        name = f"{app_id}.jsonl"
        self.target: Optional[str] = None
        if is_hdfs(directory):  # kept locally while running, written to HDFS at the end
            self.target = directory.rstrip("/") + "/" + name
            self.hdfs = hdfs or HdfsSettings()
            directory = new_private_dir("vega-events-")
        directory = local_path(directory)  # file:///a or Hadoop's file:/a: /a, not ./file:/a
        # Private: a new directory is 0700, the log 0600 (an existing directory, maybe shared
        # on purpose, is left as it is)
        self.path = os.path.join(directory, name)
        self._lock = threading.Lock()
        #: why the log stopped being written (a full disk), or "", and when (epoch seconds)
        self.failure = ""
        self.failed_at: Optional[float] = None
        self.max_file_size = max_file_size
        #: the part being written, and the bytes written to it
        self.parts, self._written = 1, 0
        try:
            make_private_dirs(directory)
            self._file = open_private(self.path, "x" if exclusive else "a", encoding="utf-8")
            self._written = self._file.tell()
        except OSError as exc:
            if exclusive and isinstance(exc, FileExistsError) and exc.filename == self.path:
                raise NameTaken(self.path) from None  # the caller takes another name
            # a file where the directory, or one above it, must be (its name, as made)
            in_the_way = exc.filename if isinstance(exc, (FileExistsError, NotADirectoryError)) \
                and isinstance(exc.filename, str) and not os.path.isdir(exc.filename) else ""
            raise EventLogUnwritable(directory, exc.strerror or str(exc), in_the_way) from exc
        self.application_start(app_id, app_name, master)

    def write(self, line: str, flush: bool) -> None:
        with self._lock:
            if not self._file.closed:
                try:
                    self._file.write(line + "\n")
                    self._written += len(line) + 1  # JSON as written here is ASCII
                    if self.max_file_size and self._written >= self.max_file_size:
                        self._file.close()  # complete before the next part exists
                        self._file = open_private(part_path(self.path, self.parts + 1), "a",
                                                  encoding="utf-8")
                        self.parts, self._written = self.parts + 1, 0
                    elif flush:
                        self._file.flush()
                except OSError as exc:  # the log is for history: the application goes on
                    self._stop_writing(exc)

    def _stop_writing(self, exc: OSError) -> None:
        """Keep the log as far as it got (``vega history`` shows it cut off) and say so once;
        Spark's event logger, too, never fails the application it logs."""
        self.failure, self.failed_at = f"{exc.strerror or exc}", time.time()
        log.warning("the event log %s cannot be written (%s): this application's later events "
                    "are not logged; free space there or point vega.eventlog.dir elsewhere",
                    self.path, self.failure)
        try:
            self._file.close()  # flushes what is buffered: that may fail the same way
        except OSError:
            pass

    def close(self, totals: Optional[dict] = None) -> None:
        """End the log (``application_end``, with ``totals``) and close it."""
        self.application_end(totals)
        with self._lock:
            if not self._file.closed:
                try:
                    self._file.close()
                except OSError as exc:
                    self._stop_writing(exc)
        if self.target is not None:
            from ..io.output import output_dir

            directory = output_dir(self.target.rsplit("/", 1)[0], self.hdfs)
            directory.makedirs(directory.root)
            for number in range(1, self.parts + 1):
                path = part_path(self.path, number)
                with open(path, "rb") as local, \
                        directory.open_write(directory.join(os.path.basename(path))) as out:
                    out.write(local.read())
                os.unlink(path)
            os.rmdir(os.path.dirname(self.path))
            self.path = self.target


def open_event_log(path: str, hdfs: Optional[HdfsSettings] = None):
    """An event log (or one part of it) opened for binary reading, a local one only if it
    is a regular file and not a symbolic link (drivers write neither).  What another user
    could plant in a shared event log directory is refused with OSError saying so: a FIFO
    or a device (/dev/zero) would block, or never end, the read of whoever lists it (the
    master's history, its REST API), and a link could make the master serve any file it
    can read (its secret, through ``/api/v1/applications/ID/logs``)."""
    if is_hdfs(path):
        return open_input(path, hdfs, decompress=False)
    local = local_path(path)
    try:
        return open_regular(local)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise OSError(errno.ELOOP, "a symbolic link (an event log is never one: not "
                                   "followed)", local) from None


class LogEvents:
    """The events of one log, read a line at a time, up to its first unreadable line;
    then ``error`` says why it is broken (``""`` while it is not): cut off (its driver was
    killed mid-write), not JSON, not an event, not UTF-8."""

    def __init__(self, path: str, hdfs: Optional[HdfsSettings] = None):
        self.path, self.hdfs, self.error = path, hdfs, ""

    def __iter__(self) -> Iterator[dict]:
        from ..errors import VegaError

        number, part = 0, 1  # lines counted across the parts of a rolling log
        while True:
            fh = None
            try:
                fh = open_event_log(part_path(self.path, part), self.hdfs)
                lines: Iterator[bytes] = iter(fh)
                if part > 1:  # (an HDFS file is opened at its first read)
                    first = next(lines, None)
                    lines = itertools.chain([] if first is None else [first], lines)
            except (OSError, VegaError):
                if fh is not None:
                    fh.close()
                if part == 1:
                    raise
                return  # no more parts
            with fh:
                for raw in lines:
                    number += 1
                    if not raw.strip():
                        continue
                    try:
                        event = parse_event(raw)
                    except ValueError as exc:
                        if not raw.endswith(b"\n") and not isinstance(exc, NotAnEvent):
                            # no newline after it: a write that never finished
                            self.error = f"line {number} is cut off (was its driver killed while writing?)"
                        else:
                            self.error = f"line {number} {exc}"
                        return
                    yield event
            part += 1


def read_log(path: str, hdfs: Optional[HdfsSettings] = None) -> Tuple[List[dict], str]:
    """The events of one log up to its first unreadable line, and why it is broken
    (``LogEvents``)."""
    log = LogEvents(path, hdfs)
    events = list(log)
    return events, log.error


class NotAnEvent(ValueError):
    pass


def parse_event(raw: bytes) -> dict:
    """One line of an event log as its event; ValueError saying why it is not one."""
    try:
        event = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"is not a JSON event: {exc}") from None
    if not (isinstance(event, dict) and isinstance(event.get("event"), str)
            and isinstance(event.get("time"), (int, float))):
        raise NotAnEvent("is not an event (no event name and time)")
    return event


def summarize(path: str, hdfs: Optional[HdfsSettings] = None, stages: bool = True,
              sizes: Optional[Dict[str, int]] = None) -> dict:
    """Stages, durations, task time percentiles, shuffle bytes and failures of one log.

    A broken log (see ``LogEvents``) is summarised up to where it breaks, with ``broken``
    set and ``error`` saying why.  The log is read a line at a time: a long application's
    log is not held in memory.  Without ``stages``, its stages are counted, not listed
    (``stage_count``, ``resubmitted_stages``), and a log that ends with its application's
    totals is read at its two ends only (``summary_of_ends``; on HDFS where ``sizes``, the
    listing's ``{path: bytes}``, gives its parts): a listing of a directory of long
    applications' logs (gigabytes) reads kilobytes a log."""
    quick = _ended_summary(path, hdfs, sizes) if not stages else None
    if quick is not None:
        return quick
    log = LogEvents(path, hdfs)
    try:
        summary = _summary(log, path)
        error = log.error
    except (KeyError, TypeError, ValueError) as exc:
        summary, error = broken_summary(path, ""), log.error or f"an event lacks a field: {exc!r}"
    summary.update(broken=bool(error), error=error or None)
    if error and not summary["finished"] and summary["started"] is not None:
        # a broken log: how long it ran up to what could be read
        summary["duration_seconds"] = round(summary["last_updated"] - summary["started"], 3)
    if not stages:
        listed = summary.pop("stages")
        summary.update(stage_count=len(listed),
                       resubmitted_stages=sum(1 for s in listed if s["attempt"]))
    return summary


#: the figures an ApplicationEnd's ``totals`` holds (``RunSummary.totals``), but the task
#: time percentiles, each a count
_TOTAL_COUNTS = ("jobs", "failed_jobs", "stage_count", "resubmitted_stages", "tasks",
                 "failed_tasks", "shuffle_written_bytes", "shuffle_read_bytes")


def summary_of_ends(start: dict, end: dict, path: str) -> Optional[dict]:
    """The summary of an ended log, without its stages (``summarize(stages=False)``), from
    its first and last events alone, when the last is the application's end with its
    totals (``application_end``; a log of an earlier Vega has none): None when they are not
    those two events, or the totals are not counts and times (a planted file's), and the
    log must be read whole.  A Context's stop gives this of its own log (the events it
    wrote), so its summary line is what ``vega history`` lists.

    >>> start = {"event": "ApplicationStart", "time": 10.0, "app_id": "app-1", "name": "n",
    ...          "master": "local[2]"}
    >>> totals = {"jobs": 1, "failed_jobs": 0, "stage_count": 2, "resubmitted_stages": 0,
    ...           "tasks": 4, "failed_tasks": 0, "shuffle_written_bytes": 9,
    ...           "shuffle_read_bytes": 9, "task_seconds": {"p50": 0.1, "p90": 0.2, "max": 0.2}}
    >>> end = {"event": "ApplicationEnd", "time": 12.5, "duration": 2.4, "totals": totals}
    >>> s = summary_of_ends(start, end, "/e/app-1.jsonl")
    >>> s["duration_seconds"], s["tasks"], s["finished"], s["broken"]
    (2.4, 4, True, False)
    >>> summary_of_ends(start, {**end, "totals": {**totals, "jobs": "1"}}, "/e/app-1.jsonl")
    """
    if start.get("event") != "ApplicationStart" or end.get("event") != "ApplicationEnd":
        return None
    totals = end.get("totals")
    if not isinstance(totals, dict):
        return None
    times = totals.get("task_seconds")
    counts_ok = all(type(totals.get(key)) is int and totals[key] >= 0 for key in _TOTAL_COUNTS)
    if not (counts_ok and isinstance(times, dict) and all(
            type(times.get(q)) in (int, float) and times[q] >= 0 for q in ("p50", "p90", "max"))):
        return None
    return {"app_id": start.get("app_id") or _app_id_of(path), "name": start.get("name"),
            "master": start.get("master"), "started": start["time"], "finished": True,
            "duration_seconds": _duration(start, end), "last_updated": end["time"],
            **{key: totals[key] for key in _TOTAL_COUNTS},
            "task_seconds": {q: times[q] for q in ("p50", "p90", "max")},
            "event_log": path, "broken": False, "error": None}


def _ended_summary(path: str, hdfs: Optional[HdfsSettings] = None,
                   sizes: Optional[Dict[str, int]] = None) -> Optional[dict]:
    """``summary_of_ends`` of the log ``path``, read at its ends (``_read_ends``), or None
    where they do not give it."""
    ends = _read_ends(path, hdfs, sizes)
    return summary_of_ends(*ends, path) if ends is not None else None


def _read_ends(path: str, hdfs: Optional[HdfsSettings] = None,
               sizes: Optional[Dict[str, int]] = None) -> Optional[Tuple[dict, dict]]:
    """The first and last events of the log ``path`` (the last of its last part), or None
    where either is not an event or cannot be read (the whole read says why).  Its parts
    and their sizes are those of ``sizes`` (``{path: bytes}``), else a local log's own; an
    HDFS log without ``sizes`` is not looked at (None)."""
    from ..errors import VegaError

    if sizes is None and is_hdfs(path):
        return None
    exists = (lambda p: p in sizes) if sizes is not None else os.path.exists
    try:
        with open_event_log(path, hdfs) as fh:
            first = fh.readline(TAIL_BYTES)  # (the start is ~150 bytes)
        number = 2
        while exists(part_path(path, number)):
            number += 1
        last_part = part_path(path, number - 1)
        with open_event_log(last_part, hdfs) as fh:  # (seekable from its start, on HDFS)
            size = sizes[last_part] if sizes is not None else fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            last = last_line_of(fh.read())
        return parse_event(first), parse_event(last)
    except (OSError, ValueError, VegaError):
        return None


def _summary(events: Iterable[dict], path: str) -> dict:
    start: dict = {}
    end = None
    stages, submitted = [], {}
    durations: List[float] = []
    jobs = failed_jobs = failed_tasks = written = read = 0
    last = 0
    for e in events:
        kind, last = e["event"], e["time"]
        if kind == "TaskEnd":
            if e["success"]:
                durations.append(e["duration"])
        elif kind == "TaskMetrics":
            failed_tasks += e["outcome"] not in ("success", "killed")
            written += e["shuffle_written"]
            read += e["shuffle_read"]
        elif kind == "StageSubmitted":
            submitted[e["stage_id"]] = e
        elif kind == "StageCompleted" and e["stage_id"] in submitted:
            s = submitted.pop(e["stage_id"])
            stages.append(_stage(s, e["time"], e["failure"],
                                 "FAILED" if e["failure"] else "COMPLETE"))
        elif kind == "JobEnd":
            jobs += 1
            failed_jobs += not e["succeeded"]
        elif kind == "ApplicationStart" and not start:
            start = e
        elif kind == "ApplicationEnd" and end is None:
            end = e
    # a stage the log has no end of (its driver was killed, or the log cut short) ran too:
    # listed as Spark's history server lists it, active, timed up to the log's last event
    # (with the application's end in the log, it ended unrecorded: the REST API's FAILED)
    for s in submitted.values():
        stages.append(_stage(s, last, None if end is None else "its end is not in the event log",
                             "ACTIVE" if end is None else "FAILED"))
    durations.sort()
    return {
        "app_id": start.get("app_id") or _app_id_of(path), "name": start.get("name"),
        "master": start.get("master"), "started": start.get("time"), "finished": end is not None,
        # as Spark's history server's (its REST API's too): a log without its end (running,
        # or a driver killed) has no duration, 0, and its last event as its last update
        "duration_seconds": _duration(start, end) if end is not None else 0.0,
        "last_updated": last,
        "jobs": jobs, "failed_jobs": failed_jobs, "stages": stages, "tasks": len(durations),
        "failed_tasks": failed_tasks,
        "task_seconds": {"p50": percentile(durations, 0.5), "p90": percentile(durations, 0.9),
                         "max": round(durations[-1], 4) if durations else 0.0},
        "shuffle_written_bytes": written, "shuffle_read_bytes": read,
        "event_log": path,
    }


def _stage(submitted: dict, ended: float, failure: Optional[str], status: str) -> dict:
    """A stage attempt of a log's summary, from its StageSubmitted event to ``ended``;
    ``status``: Spark's StageStatus (COMPLETE, FAILED, ACTIVE)."""
    return {"stage_id": submitted["stage_id"], "name": submitted["name"],
            "tasks": submitted["num_tasks"], "attempt": submitted["attempt"],
            "seconds": round(ended - submitted["time"], 3), "failure": failure,
            "status": status}


def _duration(start: dict, end: dict) -> float:
    """An ended application's seconds: its end's ``duration`` (a steady clock's), else (a log
    of before) the difference of the two events' times."""
    duration = end.get("duration")
    if type(duration) in (int, float) and duration - duration == 0.0 and duration >= 0:
        return round(duration, 3)
    return round(end["time"] - start.get("time", end["time"]), 3)


def broken_summary(path: str, error: str) -> dict:
    """What is listed for a log that cannot be summarised at all."""
    return {"app_id": _app_id_of(path), "name": None, "master": None, "started": None,
            "finished": False, "duration_seconds": 0.0, "last_updated": None, "jobs": 0, "failed_jobs": 0,
            "stages": [], "tasks": 0, "failed_tasks": 0,
            "task_seconds": {"p50": 0.0, "p90": 0.0, "max": 0.0},
            "shuffle_written_bytes": 0, "shuffle_read_bytes": 0, "event_log": path,
            "broken": True, "error": error}


def _app_id_of(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name[:-len(".jsonl")] if name.endswith(".jsonl") else name


class Listed(NamedTuple):
    """A log's entry in a listing (``list_summaries``): its size when it was read, its
    summary, when it was read (the listing's clock) and the seconds the read took."""
    size: int
    summary: dict
    read_at: float = 0.0
    cost: float = 0.0


#: a log that grew and has not ended is read whole again at most once this many seconds...
REREAD_SECONDS = 1.0
#: ...and this many times the seconds its last read took
REREAD_COST_FACTOR = 10.0


def reread_due(before: Listed, now: float) -> bool:
    """Whether a log that grew since it was read (``before``) and has not ended (an end is
    listed at once, read at the log's two ends) is read whole again at ``now``: so a running
    application's log of hundreds of MB, seconds a read, costs whoever lists it (a master
    whose open history page asks every second) a tenth of a core at most, its entry as it
    was meanwhile, as Spark's history server looks at logs every
    ``spark.history.fs.update.interval`` (10 s).

    >>> reread_due(Listed(10, {}, read_at=100.0, cost=0.01), 100.5)
    False
    >>> reread_due(Listed(10, {}, read_at=100.0, cost=0.01), 101.0)
    True
    >>> reread_due(Listed(10, {}, read_at=100.0, cost=7.0), 150.0)
    False
    """
    return now - before.read_at >= max(REREAD_SECONDS, REREAD_COST_FACTOR * before.cost)


def list_summaries(directory: str, hdfs: Optional[HdfsSettings] = None,
                   known: Optional[Dict[str, Listed]] = None, stages: bool = True,
                   clock: Callable[[], float] = time.monotonic) -> List[dict]:
    """Summaries of every event log in ``directory`` (local or HDFS), oldest first; each log
    is read on its own, and one that cannot be is listed as broken, with the reason.
    ``known`` (``{path: Listed}``, updated to what is listed now) spares reading again a log
    whose size has not changed (logs are only ever appended to), and one that grew but has
    not ended while a read is not due (``reread_due``, on ``clock``).  Without ``stages`` a
    summary leaves out its list of stages (one entry per stage a long-lived Context ran:
    ``summary_of`` gives them)."""
    from ..errors import InputError, VegaError
    from ..io.files import list_input_files

    try:
        everything = list_input_files(directory, hdfs)
    except InputError:
        return []
    files = [f for f in everything if f.path.endswith(".jsonl")]
    later_parts: Dict[str, int] = {}  # a rolling log's size past its first part
    for f in everything:
        log_path, _, number = f.path.rpartition(".jsonl.")
        if log_path and number.isdigit():
            later_parts[log_path + ".jsonl"] = later_parts.get(log_path + ".jsonl", 0) + f.size
    sizes = {f.path: f.size for f in everything}
    listed: Dict[str, Listed] = {}
    now = clock()
    for f in files:
        size = f.size + later_parts.get(f.path, 0)
        before = (known or {}).get(f.path)
        if before is not None and before.size != size and not stages:
            ended = _ended_summary(f.path, hdfs, sizes)
            if ended is not None:
                listed[f.path] = Listed(size, ended, now)
                continue
        if before is not None and (before.size == size or not reread_due(before, now)):
            listed[f.path] = before  # (a grown one keeps its size: looked at again next time)
            continue
        began = clock()
        try:
            summary = summarize(f.path, hdfs, stages, sizes)
        except (OSError, VegaError) as exc:  # gone or unreadable since it was listed
            summary = broken_summary(f.path, f"cannot be read: {exc}")
            if not stages:
                summary.update(stage_count=len(summary.pop("stages")), resubmitted_stages=0)
        listed[f.path] = Listed(size, summary, now, clock() - began)
    if known is not None:
        known.clear()
        known.update(listed)
    return sorted((entry.summary for entry in listed.values()),
                  key=lambda s: s["started"] or 0)


class SummaryCache:
    """``list_summaries`` of one process's listings, remembering each log's summary by its
    size (thread-safe): a master answers every page of its web UI with the history, and
    reads again only the logs that grew.  The summaries leave out their stages: what the
    master keeps and sends every second to an open page is a line per application, however
    many stages each ran; a running application's growing log is read again as often as
    ``reread_due`` says.  ``clock``: seconds that never jump."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._known: Dict[str, Listed] = {}
        self._clock = clock

    def list(self, directory: str, hdfs: Optional[HdfsSettings] = None) -> List[dict]:
        with self._lock:
            return list_summaries(directory, hdfs, self._known, stages=False,
                                  clock=self._clock)


def summary_of(directory: str, app_id: str, hdfs: Optional[HdfsSettings] = None) -> Optional[dict]:
    from ..errors import VegaError

    path = directory.rstrip("/") + "/" + f"{os.path.basename(app_id)}.jsonl"
    try:
        return summarize(path, hdfs)
    except (OSError, VegaError):
        return None
