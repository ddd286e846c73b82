"""How far each running application's driver's clock is from the master's.

A driver's events carry its own clock's times (as Spark's: the application, job, stage and
task times of its event log), and the master answers the REST API of a running application
from them: a running application's duration, a running task's, the end of the executors'
timeline are "now" less a time of its events.  Taking the master's now for that, a driver
an hour ahead (a laptop on another zone's clock set by hand, a host NTP never reached) ran
for -3,600 s, and one an hour behind had run for an hour a second after it started.

The master takes each driver's now as its own less an offset measured as events come: the
time a batch of relayed events arrives less the time of its last event.  That is the
difference of the clocks plus the time the batch took to come (the driver relays lines in
batches, within half a second or so), so the smallest offset of the last ``FRESH_SECONDS``
is kept; one over ``STEP_SECONDS`` larger is no relay's latency but a driver's clock
stepped back (NTP, a VM restored), taken at once (waiting for the smallest to go stale
left a running application's times off by the step for ``FRESH_SECONDS``).  Offsets within
``SAME_CLOCK_SECONDS`` are taken for clocks that agree (what is seen is then the relay's
latency, not a difference of the clocks).  The master keeps the offsets across its restart
(its recovery state, written when one is new or moves by over ``SAME_CLOCK_SECONDS``), until
the drivers' next events measure them again."""

from __future__ import annotations

import re
import threading
import time
from typing import Callable, Dict, Optional, Tuple

#: Clocks this close are taken to agree (seconds).
SAME_CLOCK_SECONDS = 2.0
#: How long the smallest offset seen stands before a larger one replaces it (seconds).
FRESH_SECONDS = 10.0
#: An offset this much larger than the smallest is a driver's clock set back, not a batch
#: that came late (seconds: the driver relays within a second or so; a master too busy to
#: read for longer is set right by the next prompt batch, a smaller offset taken at once).
STEP_SECONDS = 30.0
#: the time of an event-log line (``{"event": "...", "time": 1796612866.85, ...}``)
_TIME = re.compile(r'"time": (-?[0-9][0-9.eE+-]*)')
#: the lines of events written with the time they happened, maybe long before
_BACKDATED = ('{"event": "ExecutorAdded"', '{"event": "ExecutorRemoved"')


def last_event_time(text: str) -> Optional[float]:
    """The time of the last event-log line of ``text`` (newline-terminated JSON lines)
    written when it happened, or None when it has none.  An executor's addition or removal
    is written with the time it happened, which the driver may hear of only when its next
    job runs (``_BACKDATED``).

    >>> last_event_time('{"event": "A", "time": 1.5}\\n{"event": "B", "time": 2.25}\\n')
    2.25
    """
    end = len(text)
    while end > 0:
        start = text.rfind("\n", 0, end - 1) + 1
        if not text.startswith(_BACKDATED, start):
            at = text.find('"time": ', start, end)
            found = _TIME.match(text, at) if at >= 0 else None
            if found is None:
                return None
            try:
                value = float(found.group(1))
            except ValueError:
                return None
            return value if value - value == 0.0 else None  # (finite)
        end = start
    return None


class DriverClocks:
    """Each running application's driver's clock, as an offset from this host's wall clock
    (``wall``; ``monotonic`` ages the offsets)."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic):
        self._wall, self._monotonic = wall, monotonic
        self._lock = threading.Lock()
        #: app id -> (offset: this host's time less the driver's, when it was measured)
        self._offsets: Dict[str, Tuple[float, float]] = {}

    def heard(self, app_id: str, events: str) -> bool:
        """A batch of event-log lines ``events`` of ``app_id`` arrived now: whether the
        estimate of its driver's clock is new or moved by over ``SAME_CLOCK_SECONDS`` (worth
        keeping across a restart: ``offsets``)."""
        event_time = last_event_time(events)
        if event_time is None:
            return False
        offset, at = self._wall() - event_time, self._monotonic()
        with self._lock:
            known = self._offsets.get(app_id)
            if known is None or offset <= known[0] or at - known[1] > FRESH_SECONDS \
                    or offset - known[0] > STEP_SECONDS:
                self._offsets[app_id] = (offset, at)
                return known is None or abs(offset - known[0]) > SAME_CLOCK_SECONDS
        return False

    def offsets(self) -> Dict[str, float]:
        """Each application's offset as measured, for a restarted master's ``restore``."""
        with self._lock:
            return {app_id: offset for app_id, (offset, _) in self._offsets.items()}

    def restore(self, offsets: Dict[str, float]) -> None:
        """Take ``offsets`` (``offsets`` of this master before it restarted) until the
        drivers' next events, whatever those measure (they are as stale as can be)."""
        stale = self._monotonic() - FRESH_SECONDS - 1.0
        with self._lock:
            for app_id, offset in offsets.items():
                self._offsets.setdefault(app_id, (offset, stale))

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._offsets.pop(app_id, None)

    def offset(self, app_id: str) -> float:
        """This host's time less the driver's (0.0: unknown, or within
        ``SAME_CLOCK_SECONDS``)."""
        with self._lock:
            offset = self._offsets.get(app_id, (0.0, 0.0))[0]
        return offset if abs(offset) > SAME_CLOCK_SECONDS else 0.0

    def now(self, app_id: str) -> float:
        """The driver's time now (this host's when unknown)."""
        return self._wall() - self.offset(app_id)
