"""What a cluster driver keeps its master informed of, sent by one thread.

Task output (``vega logs``), event-log lines (the master's REST API and pages for
running applications) and job-metric snapshots (its ``/metrics``) go to the master in
batches.  While the master is away they wait in bounded buffers (``log_buffer``);
the oldest lines are dropped and counted, and the stored log says so (on its stderr).
While it is there, task output that does not fit waits for room (a print of 20 MiB reaches
``vega logs`` whole), as a slow terminal holds up the tasks' output too.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from typing import Callable, Iterator, List, Optional, Tuple

from ..net.messages import AppEvents, AppLog, AppMetrics, DriverHeartbeat
from . import log_buffer
from .log_buffer import LogRelayBuffer, StderrLine, dropped_notice

log = logging.getLogger(__name__)

#: Event-log lines a driver keeps for a master that is away, and at most this many bytes
EVENT_BUFFER_LINES = 100_000
EVENT_BUFFER_BYTES = 64 << 20


class MasterRelay:
    """Buffers and sends; ``send`` delivers one message to the master of the moment (it
    raises ``OSError`` while the master is away), ``metrics`` returns the job metrics
    snapshot (a dict with a ``version``), or None before there is one; ``log_bounds``:
    the task output buffer's ``(lines, bytes)``, else ``log_buffer``'s;
    ``heartbeat_interval()``: how often the master wants a ``DriverHeartbeat`` (0: never)."""

    def __init__(self, send: Callable[[object], None], metrics: Callable[[], Optional[dict]],
                 log_bounds: Tuple[Optional[int], Optional[int]] = (None, None),
                 heartbeat_interval: Callable[[], float] = lambda: 0.0):
        self.send = send
        self.metrics = metrics
        self.heartbeat_interval = heartbeat_interval
        self._last_heartbeat = 0.0
        self._metrics_sent = -1
        #: task output on its way to the master, bounded while the master is away
        self._log_lines = LogRelayBuffer(*log_bounds)
        #: event-log lines on their way to the master
        self._event_lines = LogRelayBuffer(EVENT_BUFFER_LINES, EVENT_BUFFER_BYTES)
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # lines to send, or stop
        self._room = threading.Condition(lock)  # the sender took lines, or the master went
        #: the master took the last lines sent (it registered the application at first);
        #: False from a failed send, or a wait for room in vain, to the next send that works
        self._master_taking = True
        self._stopping = False
        self._stop_requested = threading.Event()  # ends the sender's pauses
        self._sender = threading.Thread(target=self._send_all, name="driver-logs", daemon=True)

    def start(self) -> None:
        self._sender.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is buffered (while the master answers) and end the sender."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
            self._room.notify_all()
        self._stop_requested.set()
        if self._sender.is_alive():
            self._sender.join(timeout)

    def resend_metrics(self) -> None:
        """Send the job metrics snapshot again, changed or not: the master took the
        application back, and may be a restarted one that has none of it (or the last one
        sent went into the lost connection)."""
        with self._ready:
            self._metrics_sent = -1
            self._ready.notify()

    def add_log(self, text: str, stream: str = "stdout") -> None:
        """Queue task output for the master (``vega logs``), written to ``stream`` ("stdout"
        or "stderr": the master keeps them apart).  While the master takes lines,
        output that does not fit waits for the sender to make room (for at most
        ``log_buffer.MASTER_LOG_WAIT_SECONDS``, then the master counts as away)."""
        with self._ready:
            deadline = None
            while self._master_taking and not self._stopping and not self._log_lines.fits(text):
                now = time.monotonic()
                deadline = deadline or now + log_buffer.MASTER_LOG_WAIT_SECONDS
                if now >= deadline:
                    self._master_taking = False
                    break
                self._ready.notify()
                self._room.wait(deadline - now)
            self._log_lines.add(text, bounded=not self._master_taking, stream=stream)
            self._ready.notify()

    def add_event(self, line: str, flush: bool = True) -> None:
        """Queue one event-log line for the master; task-level lines (``flush`` False) wait
        for the next send (an application, job or stage event, task output, or the sender's
        half-second round) instead of waking the sender each: one message per task would
        cost the driver and the master more than the task itself."""
        with self._ready:
            self._event_lines.add_line(line + "\n")
            if flush:
                self._ready.notify()

    @property
    def log_lines_dropped(self) -> int:
        """Lines of task output that never reached the master (it was away too long)."""
        with self._ready:
            return self._log_lines.dropped_total

    def _send_events(self) -> None:
        with self._ready:
            batch = self._event_lines.take()
        if not batch:
            return
        try:
            self.send(AppEvents("".join(batch)))
        except OSError:  # the master is away: keep them for later (the oldest may be dropped)
            with self._ready:
                self._event_lines.put_back(batch)

    def _send_heartbeat(self) -> None:
        """Tell the master this driver is alive, every ``heartbeat_interval()`` (its
        vega.master.driver_timeout ends the application of a driver silent that long)."""
        interval, now = self.heartbeat_interval(), time.monotonic()
        if interval and now - self._last_heartbeat >= interval:
            self._last_heartbeat = now
            self.send(DriverHeartbeat())

    def _send_metrics(self) -> None:
        """Send the job metrics snapshot when it changed since the last one."""
        try:
            snapshot = self.metrics()
        except RuntimeError:  # the scheduler changed a table while we read it: next time
            return
        with self._ready:
            sent = self._metrics_sent
        if snapshot is not None and snapshot["version"] != sent:
            self.send(AppMetrics(json.dumps(snapshot)))
            with self._ready:  # (unless a resend was asked for meanwhile)
                if self._metrics_sent == sent:
                    self._metrics_sent = snapshot["version"]

    def _send_all(self) -> None:
        while True:
            with self._ready:
                if not self._log_lines and not self._stopping:
                    self._ready.wait(0.5)
                batch = self._log_lines.take()
                dropped, self._log_lines.unreported = self._log_lines.unreported, 0
                stopping = self._stopping
                self._room.notify_all()
            try:
                self._send_heartbeat()
                self._send_metrics()
            except OSError:
                pass  # the master is away; the next snapshot carries everything
            self._send_events()
            if batch or dropped:
                unsent = self._send_log(batch, dropped)
                if unsent is not None:
                    batch, dropped = unsent
                    with self._ready:  # the master is away: keep the lines for later
                        self._master_taking = False
                        self._room.notify_all()
                        self._log_lines.unreported += dropped
                        if stopping:
                            self._log_lines.drop(len(batch))
                            return
                        self._log_lines.put_back(batch)
                    self._stop_requested.wait(0.2)
                    continue
                with self._ready:
                    self._master_taking = True
                if dropped:
                    log.warning("%d lines of task output were dropped while the master was "
                                "away (the driver buffers at most %d lines for it)", dropped,
                                self._log_lines.max_lines)
            if stopping and not batch and not dropped:
                return
            if batch:  # let lines accumulate into fewer, larger messages (unless stopping)
                self._stop_requested.wait(0.05)

    def _send_log(self, batch: List[str], dropped: int) -> Optional[Tuple[List[str], int]]:
        """Send a notice of ``dropped`` lines (on stderr: the driver's own words), then
        ``batch`` in order, one ``AppLog`` per run of lines of one stream; None once all is
        sent, else (the master is away) the lines and the count of dropped ones not sent, so
        that no line reaches the master twice."""
        if dropped:
            try:
                self.send(AppLog(dropped_notice(dropped), "stderr"))
            except OSError:
                return batch, dropped
        sent = 0
        for message, count in _messages(batch):
            try:
                self.send(message)
            except OSError:
                return batch[sent:], 0
            sent += count
        return None


#: the most characters of output one ``AppLog`` carries
MESSAGE_CHARS = 1 << 20


def _messages(batch: List[str]) -> Iterator[Tuple[AppLog, int]]:
    """``batch`` as ``AppLog`` messages of up to about ``MESSAGE_CHARS`` each, with the count
    of lines each carries: a run of lines of one stream per run, the runs after the first in
    ``then`` (interleaved stdout and stderr cost a message per run, and the master a write
    of each of its files per run: 400,000 alternating lines took 12 s of its CPU)."""
    message, count, size = None, 0, 0
    for is_stderr, run in itertools.groupby(batch, _is_stderr):
        lines = list(run)
        text = "".join(lines)
        if message is None:
            message = AppLog(text, "stderr" if is_stderr else "stdout")
        else:
            message.then.append(text)
        count += len(lines)
        size += len(text)
        if size >= MESSAGE_CHARS:
            yield message, count
            message, count, size = None, 0, 0
    if message is not None:
        yield message, count


def _is_stderr(line: str) -> bool:
    return isinstance(line, StderrLine)
