"""What the master keeps on disk to survive a restart.

Applications (ids, names, states, times, their next executor number) are
written to ``<work_dir>/recovery/state.json`` on every change.  After a
restart, applications that were running wait (state ``recovering``) for
their drivers to reconnect; workers re-register with the executors they
still run, and the two are matched up again.
"""

from __future__ import annotations

import json
import os
from typing import Dict


class RecoveryStore:
    def __init__(self, work_dir: str):
        self.directory = os.path.join(work_dir, "recovery")
        self.path = os.path.join(self.directory, "state.json")

    def load(self) -> Dict[str, dict]:
        """Applications by id, as last saved (empty on a first start)."""
        try:
            with open(self.path, encoding="utf-8") as fh:
                return json.load(fh).get("apps", {})
        except (OSError, ValueError):
            return {}

    def save(self, apps: Dict[str, dict]) -> None:
        os.makedirs(self.directory, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"apps": apps}, fh)
        os.replace(tmp, self.path)
