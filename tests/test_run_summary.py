"""The end-of-application summary of a Context, counted as it runs, and what an event log's
end carries of it for listings."""

import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from operator import add

import pytest

from vega_runtime import Context, TaskContext
from vega_runtime.scheduler.event_log import list_summaries, summarize
from vega_runtime.scheduler.listener import JobListener
from vega_runtime.scheduler.run_summary import RunSummary, TaskDurations, percentile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_vega_submit_without_an_event_log_prints_the_summary_all_the_same():
    """--conf vega.eventlog.dir= (keep none): the last stderr line sums the application up
    as with a log, and says it kept none.  Before, there was no summary line at all (the
    summary was read back from the log)."""
    result = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master",
                             "local[2]", "--conf", "vega.eventlog.dir=", "jobs/wordcount.py",
                             "data/sample.txt", "3"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    last = result.stderr.strip().splitlines()[-1]
    shown = re.fullmatch(r"app-\S+ finished in \d+\.\d\ds: 1 job, 2 stages, 4 tasks \(task "
                         r"time p50 \d+\.\d{3}s, max \d+\.\d{3}s\), shuffle (\S+ \S+) written "
                         r"/ (\S+ \S+) read, 0 failed task attempts; no event log", last)
    assert shown, result.stderr
    assert shown[1] == shown[2] != "0 B"  # every map output read once


def _at_most(size):
    """(in the child, before it runs) no file written past ``size`` bytes: a write past it
    fails with EFBIG, 'File too large', as one fails on a full disk (Python ignores SIGXFSZ)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_an_event_log_cut_short_says_the_day_and_time_it_stops(tmp_path):
    """An event log a failed write cut short (past the file size limit here; a full disk in
    tests/test_disk_full.py): the summary line says when, with the date, as vega history
    and vega status give times. It said only HH:MM:SS, which a log read days later (its
    driver's output in vega logs) could not place."""
    job = tmp_path / "job.py"
    job.write_text("from vega_runtime import Context\n"
                   "with Context(app_name='cut') as ctx:\n"
                   "    print(sum(ctx.parallelize(range(10), 2).count() for _ in range(30)))\n")
    before = int(time.time())
    result = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master", "local",
                             "--conf", f"vega.eventlog.dir={tmp_path}", str(job)],
                            cwd=REPO, capture_output=True, text=True, preexec_fn=_at_most(20_000))
    after = time.time()
    assert (result.returncode, result.stdout) == (0, "300\n"), result.stderr
    cut = re.search(r"; event log \S+\.jsonl cut short at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) "
                    r"\(File too large\): later events are not in it$", result.stderr.strip())
    assert cut, result.stderr
    assert before <= time.mktime(time.strptime(cut[1], "%Y-%m-%d %H:%M:%S")) <= after


def _first_attempt_fails(x):
    if x == 0 and TaskContext.get().attempt_number() == 0:
        raise ValueError("the first attempt fails on purpose")
    return x


def test_the_summary_counted_in_memory_has_the_event_logs_figures(tmp_path):
    """The same application summarised from its event log and counted as it ran: the same
    jobs (one failed), stages, tasks, failed attempts (a retry, a task failing each of its
    two attempts), task time percentiles and shuffle bytes."""
    counted = RunSummary("both", "local[2,2]")
    with Context(master="local[2,2]", app_name="both", listeners=[counted],
                 conf={"vega.eventlog.dir": str(tmp_path), "vega.task.max_attempts": 2}) as ctx:
        pairs = ctx.parallelize(range(40), 4).map(_first_attempt_fails).map(lambda x: (x % 3, x))
        assert sorted(pairs.reduce_by_key(add).collect()) == [(0, 273), (1, 247), (2, 260)]
        with pytest.raises(Exception):
            ctx.parallelize([3], 1).map(lambda x: 1 // (x - 3)).count()
        path, app_id = ctx.event_log.path, ctx.context_id
    logged, memory = summarize(path), counted.summary(app_id)
    assert memory["event_log"] is None and memory["app_id"] == logged["app_id"]
    assert (memory["stage_count"], memory["resubmitted_stages"]) == \
        (len(logged["stages"]), sum(1 for s in logged["stages"] if s["attempt"])) == (3, 0)
    figures = ("jobs", "failed_jobs", "tasks", "failed_tasks", "task_seconds",
               "shuffle_written_bytes", "shuffle_read_bytes", "name", "master", "finished")
    assert {k: memory[k] for k in figures} == {k: logged[k] for k in figures}
    assert (logged["jobs"], logged["failed_jobs"], logged["tasks"], logged["failed_tasks"]) == \
        (2, 1, 8, 3)


class _Ended(JobListener):
    def on_application_end(self, summary):
        self.summary = summary


def test_a_listing_reads_an_ended_log_at_its_two_ends_and_the_stop_says_the_same(tmp_path):
    """An ended log's last event carries the application's totals, so a listing (``vega
    history``, the master's /api/v1/history) reads its first and last lines only, and the
    Context's stop, whose summary line is that listing's entry, reads nothing back.  Before,
    each read every line: ``vega history`` of 1,000 logs (3 GB) took 2 min 15 s, and the
    stop of a Context of 160,000 tasks spent 7.1 s reading its 164 MB log back."""
    ended = _Ended()
    with Context(master="local[2,2]", app_name="ends", listeners=[ended],
                 conf={"vega.eventlog.dir": str(tmp_path), "vega.task.max_attempts": 2}) as ctx:
        pairs = ctx.parallelize(range(40), 4).map(_first_attempt_fails).map(lambda x: (x % 3, x))
        assert sorted(pairs.reduce_by_key(add).collect()) == [(0, 273), (1, 247), (2, 260)]
        path = ctx.event_log.path
    whole = summarize(path)  # every line
    quick = summarize(path, stages=False)
    assert quick == ended.summary == list_summaries(str(tmp_path), stages=False)[0]
    assert {k: v for k, v in quick.items() if k not in ("stage_count", "resubmitted_stages")} \
        == {k: v for k, v in whole.items() if k != "stages"}
    assert (quick["stage_count"], quick["tasks"], quick["failed_tasks"]) == (2, 8, 1)
    with open(path, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
    middle = len(lines) // 2  # garbled in place: read at its ends, the listing is the same
    with open(path, "r+b") as fh:
        fh.seek(sum(map(len, lines[:middle])))
        fh.write(b"x" * (len(lines[middle]) - 1))
    assert summarize(path, stages=False) == quick and summarize(path)["broken"]
    # a log whose end has no totals (an earlier Vega's), or totals that are not counts, is
    # read whole: the same figures
    end = json.loads(lines[-1])
    for stripped in ({k: v for k, v in end.items() if k != "totals"},
                     {**end, "totals": {**end["totals"], "tasks": "8"}}):
        with open(path, "wb") as fh:
            fh.write(b"".join(lines[:-1]) + json.dumps(stripped).encode() + b"\n")
        assert summarize(path, stages=False) == quick


def test_task_durations_past_those_kept_are_within_half_a_percent():
    """A Context of millions of tasks keeps no list of their durations: past the first
    10,000, buckets 1% apart give each percentile within 0.5% of the exact one (and the
    exact maximum), in a few hundred buckets; up to 10,000 the figures are exact."""
    rng = random.Random(7)
    values = [rng.lognormvariate(-3, 1.5) for _ in range(30_000)]
    durations = TaskDurations()
    for n, value in enumerate(values, 1):
        durations.add(value)
        if n == 10_000:
            kept = sorted(values[:n])
            assert [durations.percentile(q) for q in (0.5, 0.9)] == \
                [percentile(kept, 0.5), percentile(kept, 0.9)]
    exact = sorted(values)
    for q in (0.01, 0.5, 0.9, 0.99):  # (each figure is rounded to 0.1 ms too)
        got, want = durations.percentile(q), percentile(exact, q)
        assert abs(got - want) <= 0.005 * want + 1e-4, (q, got, want)
    assert (durations.max, durations.count) == (exact[-1], 30_000)
    assert durations._values is None and len(durations._buckets) < 1_500
