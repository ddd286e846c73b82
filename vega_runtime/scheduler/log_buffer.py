"""The driver's bounded buffer of task output on its way to the master (issue 11).

The driver relays every line of task output to the master (``vega logs``).  While the
master is away the lines wait here; the buffer holds at most ``MASTER_LOG_BUFFER_LINES``
lines and ``MASTER_LOG_BUFFER_BYTES`` bytes, and past that the oldest lines are dropped
and counted.  While the master is there, output that does not fit waits for room instead
(``master_relay``), for at most ``MASTER_LOG_WAIT_SECONDS``.  The count is reported in the
stored log itself (on its stderr), once the master is back ("vega: N lines of task output
dropped while the master was away"), and in the driver's log at the end of each job.  The submitter's terminal has every line anyway.
"""

from __future__ import annotations

from collections import deque
from typing import Deque, List, Optional

#: Lines of task output a driver keeps for a master that is away ...
MASTER_LOG_BUFFER_LINES = 10_000
#: ... and at most this many bytes of them.
MASTER_LOG_BUFFER_BYTES = 8 << 20
#: How long task output waits for room while the master is there but not taking lines;
#: past that the master counts as away until it takes some again.
MASTER_LOG_WAIT_SECONDS = 5.0


class StderrLine(str):
    """A line of task output written to standard error: queued as itself, so that the
    relay sends it to the master marked so (``vega logs`` prints it on stderr)."""

    __slots__ = ()


def dropped_notice(count: int) -> str:
    """The line written into the stored log where lines are missing."""
    return f"vega: {count} lines of task output dropped while the master was away\n"


class LogRelayBuffer:
    """Lines waiting for the master, oldest first; not thread-safe (the caller locks)."""

    def __init__(self, max_lines: Optional[int] = None, max_bytes: Optional[int] = None):
        self.max_lines = MASTER_LOG_BUFFER_LINES if max_lines is None else max_lines
        self.max_bytes = MASTER_LOG_BUFFER_BYTES if max_bytes is None else max_bytes
        self._lines: Deque[str] = deque()
        self._bytes = 0
        #: lines dropped since the last notice that reached the master
        self.unreported = 0
        #: lines dropped since the buffer was made
        self.dropped_total = 0

    def __len__(self) -> int:
        return len(self._lines)

    def add(self, text: str, bounded: bool = True, stream: str = "stdout") -> None:
        """Queue ``text`` (whole lines), dropping the oldest lines past the bounds unless
        not ``bounded`` (text that ``fits`` an empty buffer only by being alone in it);
        the lines of ``stream`` "stderr" are queued as ``StderrLine``."""
        for line in text.splitlines(keepends=True):
            if stream == "stderr":
                line = StderrLine(line)
            self._lines.append(line)
            self._bytes += len(line)
        if bounded:
            self._enforce()

    def fits(self, text: str) -> bool:
        """Whether ``text`` can be added without dropping a line: it is within the room
        left, or the buffer is empty (then it is sent whole, however long)."""
        return not self._lines or (len(self._lines) + text.count("\n") <= self.max_lines
                                   and self._bytes + len(text) <= self.max_bytes)

    def add_line(self, line: str) -> None:
        """Queue one line that has no line break but its last character (an event-log
        line): ``add`` without the splitting."""
        self._lines.append(line)
        self._bytes += len(line)
        if len(self._lines) > self.max_lines or self._bytes > self.max_bytes:
            self._enforce()

    def take(self) -> List[str]:
        """Every queued line, oldest first, for one send."""
        lines, self._lines, self._bytes = list(self._lines), deque(), 0
        return lines

    def put_back(self, lines: List[str]) -> None:
        """Lines whose send failed go back in front of the newer ones (and are the first to
        be dropped if the buffer is over its bounds)."""
        self._lines.extendleft(reversed(lines))
        self._bytes += sum(map(len, lines))
        self._enforce()

    def drop(self, count: int) -> None:
        """Count ``count`` lines lost outside the buffer (a send that cannot be retried)."""
        self.unreported += count
        self.dropped_total += count

    def _enforce(self) -> None:
        while self._lines and (len(self._lines) > self.max_lines or self._bytes > self.max_bytes):
            self._bytes -= len(self._lines.popleft())
            self.drop(1)
