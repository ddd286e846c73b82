"""The benchmark harness (scripts/bench/harness.py) end to end, small, and the TeraSort job's
record generator and validator (scripts/bench/jobs/teragen.py).

The harness runs in the benchmark venv (it needs psutil; ``bash scripts/bench/setup_env.sh``
makes ``.venv-bench``); the generator and validator are plain Python and run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pyspark_install import BENCH_VENV, REPO

BENCH = os.path.join(REPO, "scripts", "bench")
sys.path.insert(0, os.path.join(BENCH, "jobs"))
import teragen  # noqa: E402

BENCH_PYTHON = os.path.join(BENCH_VENV, "bin", "python")
requires_bench_venv = pytest.mark.skipif(
    not os.path.exists(BENCH_PYTHON),
    reason="no .venv-bench: `bash scripts/bench/setup_env.sh` makes it (.ci/run does this)")


def harness(*args, timeout=300):
    return subprocess.run([BENCH_PYTHON, os.path.join(BENCH, "harness.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@requires_bench_venv
def test_harness_runs_interleaved_reps_and_merges_saved_parts(tmp_path):
    """Two engines, two workloads, two repetitions: every run checked against the expected
    sort result, no file left behind, median [min-max] cells and ratio spreads in the report;
    two saved parts merge into one report of four runs per cell."""
    saved, report = tmp_path / "part.json", tmp_path / "report.md"
    done = harness("--quick", "--reps", "2", "--engines", "vega,baseline", "--workloads", "sort,trivial",
                   "--sort-records", "20k", "--json", str(saved), "--markdown", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(saved.read_text())
    assert [w["name"] for w in data["workloads"]] == ["sort 20k", "trivial"]
    expected = teragen.expected(20_000)
    for cell in data["cells"]:
        assert [run["rep"] for run in cell["runs"]] == [1, 2]
        assert all(run["ok"] and run["leftover_files"] == 0 for run in cell["runs"])
        if cell["workload"] == "sort 20k":
            assert all(run["result"] == expected for run in cell["runs"])
    # repetition 1 of every cell ran before any repetition 2
    progress = [line.split(" rep ")[1][:3] for line in done.stderr.splitlines() if " rep " in line]
    assert progress == ["1/2"] * 4 + ["2/2"] * 4
    text = report.read_text()
    assert "| workload | vega | baseline | vega/baseline |" in text
    assert "sort 20k / vega: " in text and "files left 0 (met)" in text
    merged = harness("--from-json", str(saved), str(saved))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "median [min-max] of up to 4 runs" in merged.stdout


def test_teragen_data_does_not_depend_on_partitioning():
    """The same records whichever blocks a partition gets; keys 10 bytes, values 90."""
    records = list(teragen.block_records(0, 25_000)) + list(teragen.block_records(1, 25_000)) \
        + list(teragen.block_records(2, 25_000))
    assert len(records) == 25_000
    assert {len(k) for k, _ in records} == {10} and {len(v) for _, v in records} == {90}
    assert list(teragen.block_records(2, 25_000)) == records[20_000:]
    assert list(teragen.block_records(3, 25_000)) == []


def test_teragen_validation_catches_disorder_within_and_across_partitions():
    records = sorted(r for b in range(3) for r in teragen.block_records(b, 25_000))
    good = [teragen.summarize(0, records[:12_000])[0], teragen.summarize(1, records[12_000:])[0],
            teragen.summarize(2, [])[0]]
    assert teragen.validate(good) == teragen.expected(25_000, partitions=3)
    swapped = [teragen.summarize(0, records[12_000:])[0], teragen.summarize(1, records[:12_000])[0]]
    assert teragen.validate(swapped)["ordered"] is False
    inside = records[:12_000]
    inside[5], inside[6] = inside[6], inside[5]
    assert teragen.summarize(0, inside)[0][4] is False
    short_value = records[:3] + [(records[3][0], b"x")] + records[4:12_000]
    assert teragen.summarize(0, short_value)[0][4] is False
