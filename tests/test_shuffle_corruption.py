"""Issue 11: a corrupt shuffle file on disk is a lost map output, not a failed task.

Two actions run on the same shuffled RDD (nothing cached, so the second one reads the
first one's map outputs); between them the test truncates one shuffle data file and
garbles another.  The second action must fetch-fail, recompute those map outputs and
return the exact answer."""

from __future__ import annotations

import glob
import os
from operator import add

import pytest

from vega_runtime import Context
from vega_runtime.scheduler.listener import JobListener

from proc_helpers import processes_matching, wait_for

EXPECTED = sorted({k: sum(x for x in range(2000) if x % 13 == k) for k in range(13)}.items())


class Outcomes(JobListener):
    """Records task outcomes and stage submissions."""

    def __init__(self):
        self.outcomes, self.stages, self.failures = [], [], []

    def on_task_metrics(self, outcome, metrics):
        self.outcomes.append(outcome)

    def on_stage_submitted(self, stage_id, attempt, name, num_tasks):
        self.stages.append((stage_id, attempt, num_tasks))

    def on_stage_completed(self, stage_id, failure):
        if failure:
            self.failures.append(failure)


def shuffle_data_files(ctx) -> list:
    return sorted(glob.glob(os.path.join(ctx.app_dir, "**", "shuffle_*.data"), recursive=True))


def garble(path: str) -> None:
    """Overwrite bytes in the middle of the file, keeping its size."""
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(bytes(255 - b for b in fh.read(16))[: size - size // 2])


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_a_corrupt_shuffle_file_recomputes_its_map_output(master):
    """Truncated and garbled map outputs are fetch failures: the map stage reruns the
    missing map tasks and the second action returns the exact result."""
    events = Outcomes()
    ctx = Context(master=master, app_name="corrupt-shuffle", listeners=[events])
    try:
        sums = ctx.parallelize(range(2000), 4).map(lambda x: (x % 13, x)).reduce_by_key(add, 3)
        assert sorted(sums.collect()) == EXPECTED
        files = shuffle_data_files(ctx)
        assert len(files) == 4, files
        assert "fetch_failed" not in events.outcomes
        with open(files[0], "r+b") as fh:
            fh.truncate(os.path.getsize(files[0]) // 3)
        garble(files[2])
        events.stages.clear()
        assert sorted(sums.collect()) == EXPECTED
        assert events.outcomes.count("fetch_failed") == 2
        assert "failed" not in events.outcomes  # no task failure was counted
        reduce_stage = events.stages[0][0]  # the map stage's outputs were all there
        reruns = [num_tasks for stage_id, _, num_tasks in events.stages if stage_id != reduce_stage]
        assert reruns == [1, 1], events.stages  # exactly the two corrupt map outputs, once each
        # the failure names the map output it could not read, once (it read "could not fetch
        # ... from <the reducer's host>: could not fetch ... from <the file>: ...")
        named = [[path for path in (files[0], files[2]) if ":" + path in failure]
                 for failure in events.failures]
        assert all(failure.count("could not fetch") == 1 for failure in events.failures)
        assert sorted(path for paths in named for path in paths) == [files[0], files[2]], \
            events.failures
    finally:
        ctx.stop()
    if master == "local-cluster[2,1]":
        wait_for(lambda: not processes_matching(ctx.app_dir), 15, "every cluster process to exit")
