"""Applications' and drivers' stored output (``<work_dir>/apps/<id>/output.log``): written
from what drivers relay, followed by ``vega logs``, read by the web UI."""

from __future__ import annotations

import os
import shutil
import threading
from typing import Callable, Optional, Tuple

from .. import ids
from ..net.connection import Connection
from ..net.messages import LogChunk, LogEnd

#: How often a followed log is checked for new output.
FOLLOW_POLL_SECONDS = 0.2


class AppLogs:
    def __init__(self, work_dir: str):
        self.directory = os.path.join(work_dir, "apps")

    def path(self, app_id: str) -> str:
        """``InvalidIdentifier`` unless ``app_id`` is an application or driver id."""
        return os.path.join(self.directory, ids.APP_OR_DRIVER.check(app_id), "output.log")

    def open_for_append(self, app_id: str):
        os.makedirs(os.path.dirname(self.path(app_id)), exist_ok=True)
        return open(self.path(app_id), "ab")

    def exists(self, app_id: str) -> bool:
        return ids.APP_OR_DRIVER.matches(app_id) and os.path.exists(self.path(app_id))

    def tail(self, app_id: str, limit: int = 1 << 20) -> Optional[str]:
        """The last ``limit`` bytes of the output, or None when there is none."""
        if not ids.APP_OR_DRIVER.matches(app_id):
            return None
        path = self.path(app_id)
        try:
            with open(path, "rb") as fh:
                fh.seek(max(0, os.path.getsize(path) - limit))
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return None

    def remove(self, app_id: str) -> None:
        if ids.APP_OR_DRIVER.matches(app_id):  # not a bad recovery record's id
            shutil.rmtree(os.path.join(self.directory, app_id), ignore_errors=True)

    def follow(self, conn: Connection, app_id: str, follow: bool,
               state: Callable[[], Tuple[str, int, bool]], stopped: threading.Event) -> None:
        """Send the stored output; with ``follow``, until ``state()`` (``(state, exit code,
        done)``) says the application or driver is done."""
        offset = 0
        while True:
            name, code, done = state()
            data = b""
            try:
                with open(self.path(app_id), "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(1 << 20)
            except FileNotFoundError:
                pass
            if data:
                offset += len(data)
                conn.send(LogChunk(data.decode("utf-8", "replace")))
                continue
            if done or not follow:
                conn.send(LogEnd(name, code))
                return
            stopped.wait(FOLLOW_POLL_SECONDS)
