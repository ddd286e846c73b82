"""A Context's event log: made under a name no other application's log has, old logs
cleaned out of its directory as it starts, and what the application ran summed up as it
stops (a mixin of ``Context``)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Optional

from . import ids
from .config_schema import SETTINGS_BY_KEY
from .errors import EventLogUnwritable
from .lazy_imports import lazy_module
from .private_files import expand_home

event_log = lazy_module("vega_runtime.scheduler.event_log")
log = logging.getLogger(__name__)


class EventLogs:
    """Needs ``self.conf``, ``self.context_id`` (changed when its name is taken),
    ``self._start_time``, ``self.app_name``, ``self.master_spec``, ``self.hdfs_settings``
    and, for the cleaner and the summary, ``self.event_log``; for the summary,
    ``self._run_summary``."""

    conf: Any
    context_id: str
    _start_time: float
    app_name: str
    master_spec: Any
    hdfs_settings: Any
    event_log: Optional["event_log.EventLog"]
    _run_summary: Any

    def _open_event_log(self) -> Optional["event_log.EventLog"]:
        """This application's event log, or None: vega.eventlog.dir is empty, or it is the
        default (``~/.vega/events``, which nobody named) and cannot be written (a read-only
        or missing home, as in many containers): a warning says so and the application runs
        without one, as Spark's does with ``spark.eventLog.enabled`` off (its default).  A
        directory that was named and cannot be written fails the Context, as Spark's fails
        when ``spark.eventLog.dir`` cannot be used."""
        if not self.conf["vega.eventlog.dir"]:
            return None
        try:
            return self._new_event_log()
        except EventLogUnwritable as exc:
            if self.conf["vega.eventlog.dir"] != SETTINGS_BY_KEY["vega.eventlog.dir"].default:
                raise
            log.warning("this application keeps no event log (vega history and the master's "
                        "web UI will not list it): %s", exc)
            return None

    def _new_event_log(self) -> "event_log.EventLog":
        """This application's event log, a new file: a Context of the same second that drew
        the same id has its log already, so this one takes another id (after one more try,
        a longer one: 65,536 names a second are few for a loop of Contexts)."""
        directory = expand_home(self.conf["vega.eventlog.dir"], "vega.eventlog.dir")
        for attempt in range(1, 9):
            try:
                return event_log.EventLog(
                    directory, self.context_id, self.app_name, self.master_spec.url,
                    self.hdfs_settings, self.conf["vega.eventlog.rolling.max_file_size"]
                    if self.conf["vega.eventlog.rolling.enabled"] else 0, exclusive=True)
            except event_log.NameTaken:
                self.context_id = ids.new_context_id(self._start_time, min(12, 4 * attempt))
        raise EventLogUnwritable(directory, "every name tried is taken")

    def _clean_event_logs(self) -> None:
        """Old event logs out of a local vega.eventlog.dir (vega.history.fs.cleaner.*, at
        most once an interval), as the master's cleaner does in its own: nothing else
        deletes what every Context adds (``event_log_cleaner``)."""
        from .scheduler.event_log_cleaner import clean_if_due

        conf, directory = self.conf, os.path.dirname(self.event_log.path)
        if conf["vega.history.fs.cleaner.enabled"] and self.event_log.target is None:
            clean_if_due(directory, [self.context_id], time.time(),
                         conf["vega.history.fs.cleaner.interval"],
                         conf["vega.history.fs.cleaner.max_age"],
                         conf["vega.history.fs.cleaner.max_num"])

    def _summary(self) -> dict:
        """What the application ran: its event log's summary as ``vega history`` lists it
        (from the log's ends, which this Context wrote: the log is not read back, a long
        application's being gigabytes), or, without a log or with one a failed write cut
        short (which summarises less than ran), the figures counted as it ran, with where and
        why the log stops (``event_log_failure``)."""
        written = self.event_log
        if written is not None and not written.failure:
            return event_log.summary_of_ends(written.start_event, written.end_event,
                                             written.path)
        summary = self._run_summary.summary(self.context_id)
        if written is not None:
            summary.update(event_log=written.path, event_log_failure=written.failure,
                           event_log_cut_at=written.failed_at)
        return summary
