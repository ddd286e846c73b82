"""What the master keeps on disk to survive a restart.

Workers, applications (ids, names, states, times, their next executor number)
and cluster-mode drivers are written to ``<work_dir>/recovery/state.json`` on
every change.  After a restart, applications that were running wait (state
``recovering``) for their drivers to reconnect; workers re-register with the
executors they still run, and the two are matched up again; workers that never
come back are shown lost.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List


class RecoveryStore:
    def __init__(self, work_dir: str):
        self.directory = os.path.join(work_dir, "recovery")
        self.path = os.path.join(self.directory, "state.json")

    def load(self) -> Dict[str, Any]:
        """``{"apps": {...}, "workers": {...}, "drivers": [...]}`` as last saved."""
        try:
            with open(self.path, encoding="utf-8") as fh:
                state = json.load(fh)
        except (OSError, ValueError):
            state = {}
        return {"apps": state.get("apps", {}), "workers": state.get("workers", {}),
                "drivers": state.get("drivers", [])}

    def save(self, apps: Dict[str, dict], workers: Dict[str, dict], drivers: List[dict]) -> None:
        os.makedirs(self.directory, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"apps": apps, "workers": workers, "drivers": drivers}, fh)
        os.replace(tmp, self.path)
