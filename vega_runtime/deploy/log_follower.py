"""Following an application's (or a cluster-mode driver's) output for ``vega logs``.

The stored output is read and sent by ``AppLogs.follow``; this module answers what it
asks on each round: the state of the run followed and whether it is done, from the
driver runner for a driver and from the master's state for an application."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Tuple

from ..net.connection import Connection
from ..net.messages import FollowLogs, LogEnd
from .master_status import recovered_app_state


class Followers:
    """How many log followers a master serves: a stopping master gives them time to end
    (a driver it killed is reported so to its submitter) before its process exits."""

    def __init__(self):
        self._count, self._changed = 0, threading.Condition()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        with self._changed:
            self._count += 1
        try:
            yield
        finally:
            with self._changed:
                self._count -= 1
                self._changed.notify_all()

    def wait_ended(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until none is served; whether none is."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout)


def serve_logs(master, conn: Connection, request: FollowLogs) -> None:
    """Send ``request.app_id``'s stored output; with ``follow``, until its run ends.  An id
    the master knows nothing of gets ``LogEnd("unknown", 1)``.  ``master`` is the
    ``Master`` (its ``drivers``, ``lock``, ``state``, ``logs`` and ``stopped``)."""
    app_id = request.app_id
    driver = master.drivers.drivers.get(app_id)
    with master.lock:
        known = app_id in master.state.apps or app_id in master.state.recovered
        # a driver of the master before a restart that did not start again here: ended
        ended = next((r for r in master.state.recovered_drivers if r.get("id") == app_id),
                     None) if driver is None else None
    if not known and driver is None and ended is None and not master.logs.exists(app_id):
        conn.send(LogEnd("unknown", 1))
        return

    def state() -> Tuple[str, int, bool, str]:
        """(state, exit code, done, why a driver could not start) of the run followed."""
        if driver is not None:
            return (driver.state.value, driver.exit_code or 0, driver.done,
                    driver.start_failure)
        if ended is not None:
            name = str(ended.get("state"))
            code = ended.get("exit_code")
            return (name, code if isinstance(code, int) else int(name != "finished"), True,
                    str(ended.get("error") or ""))
        with master.lock:
            app = master.state.apps.get(app_id)
            if app is not None:
                return (app.state.value, 0, not app.state.active, "")
            # known from before a restart: it runs on until its driver is back, or is found
            # gone, or the master stops waiting for it
            record = master.state.recovered.get(app_id)
        if record is None:
            return ("finished", 0, True, "")
        name = recovered_app_state(record)
        return (name, 0, name != "recovering", "")

    with master.followers.serving():
        master.logs.follow(conn, app_id, request.follow, state, master.stopped,
                           request.offsets, request.batched, request.generation)
