"""Which executors have hung: Spark's ``HeartbeatReceiver``, as pure code over plain times in
milliseconds.

Every executor process sends its driver an ``ExecutorHeartbeat`` every
``vega.executor.heartbeat_interval`` from a thread of its own
(``executor_loop.send_heartbeats``), so also while a task runs.  One the driver hears
nothing from (no heartbeat, no result, no output) for ``vega.executor.timeout`` is alive
but not answering: stopped (SIGSTOP), frozen, deadlocked, or in a C call that holds the
GIL that long.  Its backend kills it and the scheduler runs its tasks elsewhere.  A
backend feeds the receiver what it hears and asks it on each poll; tests drive it with
a fake clock:

>>> receiver = HeartbeatReceiver(timeout_ms=1000, now_ms=0)
>>> receiver.executor_added("exec-1", now_ms=0)
>>> receiver.executor_added("exec-2", now_ms=0)
>>> receiver.heard_from("exec-1", now_ms=500)
>>> receiver.expired(now_ms=250), receiver.expired(now_ms=750), receiver.expired(now_ms=1000)
([], [], [])
>>> receiver.expired(now_ms=1250)      # exec-1 was heard from 750 ms ago
[('exec-2', 1250)]
>>> receiver.expired(now_ms=1500)      # each expiry is reported once
[]

Only time the driver was watching counts: heartbeats that arrive while the driver does not
read them (it was stopped itself, or no job ran and a ``local[N]`` driver left its
executors' sockets unread) must not make every executor look hung when it looks again.
Two looks more than ``max_gap_ms`` apart (at most half the timeout) start the watch
anew:

>>> receiver.heard_from("exec-1", now_ms=1500)
>>> receiver.expired(now_ms=9000)      # the driver looked away for 7.5 s
[]
>>> [receiver.expired(now_ms=t) for t in (9250, 9500, 9750, 10000, 10250)]
[[], [], [], [], [('exec-1', 1250)]]
"""

from __future__ import annotations

import math
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..errors import ConfigError

#: The longest time between two looks that still counts as watching (ms): the runner polls
#: its backend every 0.25 s while a job runs, so a longer gap means the driver was away.
MAX_GAP_MS = 2000


class HeartbeatSettings(NamedTuple):
    """``vega.executor.heartbeat_interval`` and ``vega.executor.timeout`` (Spark's
    ``spark.executor.heartbeatInterval`` and ``spark.network.timeout``), in seconds; a
    timeout of ``math.inf`` (``never``) turns the check off (executors still heartbeat)."""
    interval: float = 10.0
    timeout: float = 120.0

    @classmethod
    def from_conf(cls, conf) -> "HeartbeatSettings":
        """The settings of ``conf``; ``ConfigError`` unless the timeout exceeds the interval
        (Spark's ``INVALID_EXECUTOR_HEARTBEAT_INTERVAL``).

        >>> HeartbeatSettings.from_conf({"vega.executor.heartbeat_interval": 10.0,
        ...                              "vega.executor.timeout": 5.0})
        Traceback (most recent call last):
        ...
        vega_runtime.errors.ConfigError: vega.executor.timeout is 5s: it must be longer than vega.executor.heartbeat_interval (10s), or executors that are fine are taken for hung; raise the timeout or lower the interval
        """
        interval, timeout = conf["vega.executor.heartbeat_interval"], conf["vega.executor.timeout"]
        if interval <= 0:
            key, problem = "vega.executor.heartbeat_interval", f"is {interval:g}s: it must be above 0"
        elif timeout <= interval:
            key = "vega.executor.timeout"
            problem = (f"is {timeout:g}s: it must be longer than vega.executor.heartbeat_interval "
                       f"({interval:g}s), or executors that are fine are taken for hung; raise "
                       "the timeout or lower the interval")
        else:
            return cls(interval, timeout)
        raise ConfigError(conf.origin(key) if hasattr(conf, "origin") else "", key, problem)

    @property
    def checked(self) -> bool:
        """Whether executors can time out at all."""
        return not math.isinf(self.timeout)


class HeartbeatReceiver:
    """When each executor was last heard from, and which have been silent too long."""

    def __init__(self, timeout_ms: float, now_ms: float, max_gap_ms: Optional[float] = None):
        self.timeout_ms = timeout_ms
        #: two looks further apart than this start the watch anew (the driver was away)
        self.max_gap_ms = min(MAX_GAP_MS, timeout_ms / 2) if max_gap_ms is None else max_gap_ms
        self._last_seen: Dict[str, float] = {}
        self._last_look = now_ms

    def __contains__(self, executor_id: str) -> bool:
        return executor_id in self._last_seen

    def executor_added(self, executor_id: str, now_ms: float) -> None:
        self._last_seen[executor_id] = now_ms

    def heard_from(self, executor_id: str, now_ms: float) -> None:
        """A heartbeat, or any other message, came from the executor."""
        if executor_id in self._last_seen:
            self._last_seen[executor_id] = max(self._last_seen[executor_id], now_ms)

    def executor_removed(self, executor_id: str) -> None:
        self._last_seen.pop(executor_id, None)

    def expired(self, now_ms: float) -> List[Tuple[str, float]]:
        """``(executor_id, silent_ms)`` of each executor silent for more than the timeout of
        watched time, oldest silence first; they are forgotten (reported once)."""
        gap, self._last_look = now_ms - self._last_look, now_ms
        if gap > self.max_gap_ms:  # the driver was away: nobody is blamed for that time
            for executor_id, seen in self._last_seen.items():
                self._last_seen[executor_id] = min(now_ms, seen + gap)
            return []
        silent = sorted(((now_ms - seen, executor_id) for executor_id, seen
                         in self._last_seen.items() if now_ms - seen > self.timeout_ms),
                        reverse=True)
        for _, executor_id in silent:
            del self._last_seen[executor_id]
        return [(executor_id, silent_ms) for silent_ms, executor_id in silent]


def hung_description(silent_seconds: float, settings: HeartbeatSettings,
                     killed: bool = True) -> str:
    """How a hung executor's loss reads (``executor_loss.loss_sentence`` puts the executor
    and its task around it); ``killed`` False: nobody could be asked to kill it (its
    master unreachable), so the driver only stopped using it.

    >>> hung_description(121.34, HeartbeatSettings())
    'sent no heartbeat for 121.3s and was killed (vega.executor.timeout is 120s)'
    >>> hung_description(121.34, HeartbeatSettings(), killed=False)
    'sent no heartbeat for 121.3s and is no longer used; the master, unreachable, could not be asked to kill it (vega.executor.timeout is 120s)'
    """
    what = "was killed" if killed else \
        "is no longer used; the master, unreachable, could not be asked to kill it"
    return (f"sent no heartbeat for {round(silent_seconds, 1):g}s and {what} "
            f"(vega.executor.timeout is {settings.timeout:g}s)")


#: Said once per driver, with its first hung executor: what it means and what to do.
HUNG_HINT = ("an executor that is alive but sends its driver no heartbeat for "
             "vega.executor.timeout is taken for hung (stopped with SIGSTOP, frozen, deadlocked, "
             "or in one C call that held Python's GIL that long) and killed; its tasks run "
             "elsewhere. If tasks of this application may hold the GIL that long (a sort or "
             "pickle of a huge list, say), raise vega.executor.timeout")
