"""The benchmark harness's vocabulary: engines, workloads, sizes, runners and the runs of a cell.

Shared by ``harness.py`` (which runs the jobs) and ``bench_report.py`` (which checks,
tabulates, saves and plots what they measured).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
JOBS_DIR = BENCH_DIR / "jobs"
REPO_ROOT = BENCH_DIR.parent.parent

ENGINES = ("vega", "pyspark", "dask", "baseline")
WORKLOADS = ("wordcount", "wordcount_files", "pi", "reduce_by_key", "group_by_key", "join", "sort",
             "trivial")
COMPARED_ENGINES = ("pyspark", "dask", "baseline")
DEFAULT_VEGA_MASTER = "local[2]"
POLL_SECONDS = 0.05
STDERR_TAIL_LINES = 15
RESULT_PREFIX = "RESULT "
PACKAGES = ("vega-engine", "pyspark", "py4j", "dask", "cloudpickle", "psutil", "matplotlib")
MIB = 1024 * 1024
#: ``--scaling``: the input sizes of the scaling curves.
SCALING_CORPUS_MB = (25, 50, 100, 200)
SCALING_SORT_RECORDS = (1_000_000, 5_000_000, 10_000_000)
#: The sort's output partitions and the shuffle memory bound every engine gets.
SORT_PARTITIONS = 8
SORT_MEMORY_BOUND = "128m"

# Monte Carlo pi: the standard deviation of one estimate from n samples is
# 4 * sqrt(p * (1 - p) / n) with p = pi / 4, i.e. about 1.642 / sqrt(n). Allow
# 8 sigma (and a factor sqrt(2) for engines whose partitions share a seed).
PI_SIGMA_PER_SAMPLE = 4 * math.sqrt(math.pi / 4 * (1 - math.pi / 4))
PI_TOLERANCE_SIGMAS = 8 * math.sqrt(2)


@dataclass(frozen=True)
class Sizes:
    """Input sizes of one benchmark profile."""

    corpus_mb: tuple[int, ...]
    corpus_files: int
    pi_samples: int
    pairs: int
    keys: int
    sort_records: tuple[int, ...]

    def label(self, profile: str) -> str:
        return (f"{profile} ({'/'.join(map(str, self.corpus_mb))} MB corpus, {self.corpus_files} files, "
                f"{self.pi_samples:,} pi samples, {self.pairs:,} pairs over {self.keys:,} keys, "
                f"sort of {'/'.join(map(count_label, self.sort_records))} records)")


FULL_SIZES = Sizes(corpus_mb=(100,), corpus_files=1000, pi_samples=10**7, pairs=2_000_000, keys=100_000,
                   sort_records=(10_000_000,))
QUICK_SIZES = Sizes(corpus_mb=(4,), corpus_files=100, pi_samples=10**5, pairs=100_000, keys=10_000,
                    sort_records=(100_000,))


@dataclass(frozen=True)
class Workload:
    """One benchmark row: a job script suffix, its arguments, its input size, the expected result."""

    name: str
    family: str
    script: str
    args: tuple[str, ...]
    description: str
    expected: dict | None = None
    pi_tolerance: float | None = None
    size: float | None = None  # MB of corpus, or records: the x axis of the scaling plots
    size_unit: str = ""


@dataclass(frozen=True)
class Runner:
    """One column of the results table: an engine, with its extra job arguments."""

    label: str
    engine: str
    extra_args: tuple[str, ...] = ()


@dataclass
class RunResult:
    """Outcome of one job process."""

    wall_seconds: float
    peak_rss_bytes: int
    ok: bool
    result: dict | None = None
    error: str = ""
    rep: int = 1
    leftover_files: int = 0


@dataclass
class Cell:
    """All runs of one (workload, runner) pair and their verdict."""

    runs: list[RunResult] = field(default_factory=list)
    mismatch: str = ""
    unsupported: bool = False  # the engine has no job for this workload

    @property
    def failed(self) -> bool:
        return not self.unsupported and (not self.runs or not all(run.ok for run in self.runs))

    @property
    def status(self) -> str:
        if self.unsupported:
            return "n/a"
        if self.failed:
            return "FAILED"
        return "MISMATCH" if self.mismatch else "OK"

    @property
    def result(self) -> dict | None:
        return None if self.failed or self.unsupported else self.runs[0].result

    def stats(self, attribute: str) -> tuple[float, float, float] | None:
        """(min, median, max) of ``attribute`` over the runs, None unless every run succeeded."""
        if self.failed or self.unsupported:
            return None
        values = [getattr(run, attribute) for run in self.runs]
        return min(values), statistics.median(values), max(values)

    def median(self, attribute: str) -> float | None:
        stats = self.stats(attribute)
        return None if stats is None else stats[1]


def count_label(count: float) -> str:
    """10_000_000 -> '10M', 100_000 -> '100k'."""
    for factor, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if count >= factor:
            return f"{count / factor:g}{suffix}"
    return f"{count:g}"


def parse_count(text: str) -> int:
    """'10M' -> 10_000_000, '100k' -> 100_000, '2500' -> 2500."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (e.g. 1M, 500k, 20000)")
    factor = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[match.group(2).lower()]
    return int(float(match.group(1)) * factor)


def count_list(text: str) -> tuple[int, ...]:
    values = tuple(parse_count(item) for item in text.split(",") if item.strip())
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive counts, comma-separated")
    return values


def int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers, comma-separated") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive numbers, comma-separated")
    return values



def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def indent(text: str, prefix: str = "    | ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())

