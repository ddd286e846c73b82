"""What the master keeps on disk to survive a restart.

Workers, applications (ids, names, states, times, their next executor number)
and cluster-mode drivers are written to ``<work_dir>/recovery/state.json`` on
every change.  After a restart, applications that were running wait (state
``recovering``) for their drivers to reconnect; workers re-register with the
executors they still run, and the two are matched up again; workers that never
come back are shown lost.

A save is durable: the new state goes to a temporary file that is fsynced,
renamed over the old one, and the directory is fsynced so the rename survives
a power cut.  A state file that cannot be parsed is not silently dropped: it is
renamed to ``state.json.corrupt-<timestamp>`` (for an operator to look at) and
reported at ERROR, and the master starts with an empty state.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Dict, List

log = logging.getLogger(__name__)


class RecoveryStore:
    def __init__(self, work_dir: str):
        self.directory = os.path.join(work_dir, "recovery")
        self.path = os.path.join(self.directory, "state.json")

    def load(self) -> Dict[str, Any]:
        """``{"apps": {...}, "workers": {...}, "drivers": [...]}`` as last saved."""
        state: Dict[str, Any] = {}
        try:
            with open(self.path, "rb") as fh:
                state = json.loads(fh.read().decode("utf-8"))
            if not isinstance(state, dict):
                raise ValueError(f"a JSON {type(state).__name__}, not an object")
        except FileNotFoundError:
            state = {}
        except (ValueError, UnicodeDecodeError) as exc:
            self._keep_aside(exc)
            state = {}
        except OSError as exc:
            log.error("cannot read the recovery state %s (%s): starting without it", self.path, exc)
            state = {}
        return {"apps": state.get("apps", {}), "workers": state.get("workers", {}),
                "drivers": state.get("drivers", [])}

    def _keep_aside(self, problem: Exception) -> None:
        aside = f"{self.path}.corrupt-{time.strftime('%Y%m%d%H%M%S')}"
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            log.error("the recovery state %s is corrupt (%s) and could not be moved aside (%s): "
                      "starting without it", self.path, problem, exc)
            return
        log.error("the recovery state %s is corrupt (%s): kept as %s; starting without it "
                  "(applications and workers of before the restart are not shown)",
                  self.path, problem, aside)

    def save(self, apps: Dict[str, dict], workers: Dict[str, dict], drivers: List[dict]) -> None:
        """Write the state durably; raises OSError when it cannot (the caller retries)."""
        os.makedirs(self.directory, exist_ok=True)
        data = json.dumps({"apps": apps, "workers": workers, "drivers": drivers}).encode("utf-8")
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        _fsync_directory(self.directory)


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
