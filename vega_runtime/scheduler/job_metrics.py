"""A driver's counts of jobs, stages and tasks, relayed to the master for /metrics."""

from __future__ import annotations

import threading
from typing import Optional

from .listener import JobListener

#: Upper bounds (seconds) of the task duration histogram buckets.
DURATION_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0)


class JobMetrics(JobListener):
    """Cumulative counters of one application; ``snapshot()`` is what the master gets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs = {"succeeded": 0, "failed": 0}
        self.jobs_running = 0
        self.stages = {"completed": 0, "failed": 0}
        self.stages_running = 0
        self.tasks = {"success": 0, "failed": 0, "fetch_failed": 0, "lost": 0}
        self.durations = [0] * len(DURATION_BUCKETS)
        self.duration_count = 0
        self.duration_sum = 0.0
        self.shuffle = {"written": 0, "read": 0}
        self.version = 0

    def on_job_start(self, job_id: int, description: str) -> None:
        with self.lock:
            self.jobs_running += 1
            self.version += 1

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        with self.lock:
            self.jobs_running -= 1
            self.jobs["failed" if error else "succeeded"] += 1
            self.version += 1

    def on_stage_submitted(self, stage_id: int, attempt: int, name: str, num_tasks: int) -> None:
        with self.lock:
            self.stages_running += 1
            self.version += 1

    def on_stage_completed(self, stage_id: int, failure: Optional[str]) -> None:
        with self.lock:
            self.stages_running -= 1
            self.stages["failed" if failure else "completed"] += 1
            self.version += 1

    def on_task_metrics(self, outcome: str, metrics: dict) -> None:
        with self.lock:
            self.tasks[outcome] = self.tasks.get(outcome, 0) + 1
            if outcome == "success":
                duration = metrics.get("duration", 0.0)
                self.duration_count += 1
                self.duration_sum += duration
                for i, bound in enumerate(DURATION_BUCKETS):
                    if duration <= bound:
                        self.durations[i] += 1
            self.shuffle["written"] += int(metrics.get("shuffle_bytes_written", 0))
            self.shuffle["read"] += int(metrics.get("shuffle_bytes_read", 0))
            self.version += 1

    def snapshot(self) -> dict:
        with self.lock:
            return {"jobs": dict(self.jobs), "jobs_running": self.jobs_running,
                    "stages": dict(self.stages), "stages_running": self.stages_running,
                    "tasks": dict(self.tasks), "duration_buckets": list(self.durations),
                    "duration_count": self.duration_count, "duration_sum": self.duration_sum,
                    "shuffle": dict(self.shuffle), "version": self.version}
