#!/usr/bin/env python3
"""Benchmark Vega against PySpark, Dask and a plain multiprocessing baseline.

Each (engine, workload) pair is a job script in ``scripts/bench/jobs/`` run as
a separate process, ``--reps`` times. For every run the harness records the
wall time of the whole process (interpreter start-up and imports included) and
the peak resident memory of its process tree (psutil polled every
``POLL_SECONDS``, RSS summed over the process and all its descendants). The
``RESULT`` line printed by each job is checked against the expected value or,
when none is known, against the other engines. A table of medians and of the
ratios Vega/PySpark, Vega/Dask and Vega/baseline is printed and can be written
as markdown with ``--markdown FILE``.

Usage (from the repo root, inside ``.venv-bench``; see setup_env.sh)::

    .venv-bench/bin/python scripts/bench/harness.py --quick --reps 1
    .venv-bench/bin/python scripts/bench/harness.py --only wordcount,pi --engines vega,pyspark
    .venv-bench/bin/python scripts/bench/harness.py --vega-masters 'local[2],local-cluster[2,1]'
    .venv-bench/bin/python scripts/bench/harness.py --markdown docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

try:
    import psutil
except ImportError:  # pragma: no cover - depends on the interpreter used
    sys.exit("harness.py needs psutil: run `bash scripts/bench/setup_env.sh` and use .venv-bench/bin/python")

import gen_data

BENCH_DIR = Path(__file__).resolve().parent
JOBS_DIR = BENCH_DIR / "jobs"
REPO_ROOT = BENCH_DIR.parent.parent
ENGINES = ("vega", "pyspark", "dask", "baseline")
WORKLOADS = ("wordcount", "wordcount_files", "pi", "reduce_by_key", "group_by_key", "join", "trivial")
COMPARED_ENGINES = ("pyspark", "dask", "baseline")
DEFAULT_VEGA_MASTER = "local[2]"
POLL_SECONDS = 0.05
STDERR_TAIL_LINES = 15
RESULT_PREFIX = "RESULT "
PACKAGES = ("vega-engine", "pyspark", "py4j", "dask", "cloudpickle", "psutil")
MIB = 1024 * 1024

# Monte Carlo pi: the standard deviation of one estimate from n samples is
# 4 * sqrt(p * (1 - p) / n) with p = pi / 4, i.e. about 1.642 / sqrt(n). Allow
# 8 sigma (and a factor sqrt(2) for engines whose partitions share a seed).
PI_SIGMA_PER_SAMPLE = 4 * math.sqrt(math.pi / 4 * (1 - math.pi / 4))
PI_TOLERANCE_SIGMAS = 8 * math.sqrt(2)


@dataclass(frozen=True)
class Sizes:
    """Input sizes of one benchmark profile."""

    corpus_mb: int
    corpus_files: int
    pi_samples: int
    pairs: int
    keys: int


FULL_SIZES = Sizes(corpus_mb=100, corpus_files=1000, pi_samples=10**7, pairs=2_000_000, keys=100_000)
QUICK_SIZES = Sizes(corpus_mb=4, corpus_files=100, pi_samples=10**5, pairs=100_000, keys=10_000)


@dataclass(frozen=True)
class Workload:
    """One benchmark: the job script suffix, its arguments and the expected result."""

    name: str
    script: str
    args: tuple[str, ...]
    description: str
    expected: dict | None = None
    pi_tolerance: float | None = None


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


@dataclass
class Cell:
    """All runs of one (workload, runner) pair and their verdict."""

    runs: list[RunResult] = field(default_factory=list)
    mismatch: str = ""

    @property
    def failed(self) -> bool:
        return not self.runs or not all(run.ok for run in self.runs)

    @property
    def status(self) -> str:
        if self.failed:
            return "FAILED"
        return "MISMATCH" if self.mismatch else "OK"

    @property
    def result(self) -> dict | None:
        return None if self.failed else self.runs[0].result

    def median(self, attribute: str) -> float | None:
        if self.failed:
            return None
        return statistics.median(getattr(run, attribute) for run in self.runs)


# --------------------------------------------------------------------------- CLI


def split_list(text: str) -> list[str]:
    """Split on commas that are not inside brackets: 'local[2],local-cluster[2,1]'."""
    items, depth, current = [], 0, []
    for char in text:
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Compare Vega with PySpark, Dask and a multiprocessing baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--reps", type=int, default=3, help="runs per (engine, workload)")
    parser.add_argument("--only", type=split_list, default=None,
                        help="comma-separated workloads (default: all of %s)" % ",".join(WORKLOADS))
    parser.add_argument("--engines", type=split_list, default=list(ENGINES),
                        help="comma-separated engines among " + ",".join(ENGINES))
    parser.add_argument("--master", "--vega-masters", dest="vega_masters", type=split_list,
                        default=[DEFAULT_VEGA_MASTER],
                        help="Vega master URL(s), comma-separated; one table column each")
    parser.add_argument("--quick", action="store_true", help="small inputs, for smoke testing")
    parser.add_argument("--markdown", type=Path, help="also write the results as markdown to FILE")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run is killed")
    args = parser.parse_args(argv)
    validate_choices(parser, "--engines", args.engines, ENGINES)
    validate_choices(parser, "--only", args.only or [], WORKLOADS)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def validate_choices(parser: argparse.ArgumentParser, option: str, values, allowed) -> None:
    unknown = [value for value in values if value not in allowed]
    if unknown:
        parser.error(f"{option}: unknown {', '.join(unknown)} (choose from {', '.join(allowed)})")


# ---------------------------------------------------------------- workloads


def build_workloads(sizes: Sizes, corpus: Path, corpus_dir: Path) -> list[Workload]:
    """All workloads (in ``WORKLOADS`` order) for the given sizes and input paths."""
    pairs = ("--n", str(sizes.pairs), "--keys", str(sizes.keys))
    workloads = [
        Workload("wordcount", "wordcount", ("--input", str(corpus)),
                 f"word count, one {sizes.corpus_mb} MB file"),
        Workload("wordcount_files", "wordcount", ("--input", str(corpus_dir)),
                 f"word count, same corpus as {sizes.corpus_files} files"),
        Workload("pi", "pi", ("--n", str(sizes.pi_samples)),
                 f"Monte Carlo pi, {sizes.pi_samples:,} per-element samples",
                 pi_tolerance=PI_TOLERANCE_SIGMAS * PI_SIGMA_PER_SAMPLE / math.sqrt(sizes.pi_samples)),
        Workload("reduce_by_key", "reduce_by_key", pairs,
                 f"reduce_by_key(add), {sizes.pairs:,} pairs, {sizes.keys:,} keys",
                 expected={"count": sizes.keys}),
        Workload("group_by_key", "group_by_key", pairs,
                 f"group_by_key().map_values(len), {sizes.pairs:,} pairs, {sizes.keys:,} keys",
                 expected={"count": sizes.keys}),
        Workload("join", "join", pairs,
                 f"join {sizes.pairs:,} pairs with {sizes.keys:,} (one per key)",
                 expected={"count": sizes.pairs}),
        Workload("trivial", "trivial", (),
                 "parallelize([1, 2, 3]).count(): process start-up",
                 expected={"count": 3}),
    ]
    assert tuple(w.name for w in workloads) == WORKLOADS
    return workloads


def select_workloads(args: argparse.Namespace, sizes: Sizes) -> list[Workload]:
    """The requested workloads, generating the corpus inputs only if needed."""
    wanted = args.only or WORKLOADS
    corpus = corpus_dir = Path("unused")
    if "wordcount" in wanted:
        corpus = gen_data.ensure_corpus(sizes.corpus_mb)
    if "wordcount_files" in wanted:
        corpus_dir = gen_data.ensure_corpus_dir(sizes.corpus_mb, sizes.corpus_files)
    return [w for w in build_workloads(sizes, corpus, corpus_dir) if w.name in wanted]


def build_runners(engines: list[str], vega_masters: list[str]) -> list[Runner]:
    """One runner per engine, and one per Vega master URL."""
    runners = []
    for engine in ENGINES:
        if engine not in engines:
            continue
        if engine == "vega":
            for master in vega_masters:
                label = "vega" if len(vega_masters) == 1 else f"vega@{master}"
                runners.append(Runner(label, "vega", ("--master", master)))
        else:
            runners.append(Runner(engine, engine))
    return runners


# ----------------------------------------------------------------- running


def job_environment(engine: str) -> dict[str, str]:
    """Environment of a job process."""
    env = dict(os.environ)
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    if engine == "vega":  # works whether or not the project is pip-installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def compile_working_tree() -> None:
    """Byte-compile the working tree's Vega modules, which Vega jobs import (the repo root is on
    their PYTHONPATH), so no job process pays for compiling them; installed packages (PySpark,
    Dask) were compiled by pip. Under PYTHONDONTWRITEBYTECODE every process would otherwise
    compile each changed module again."""
    compileall.compile_dir(str(REPO_ROOT / "vega_runtime"), quiet=1)
    compileall.compile_dir(str(REPO_ROOT / "vega_cli"), quiet=1)


class TreeRssSampler:
    """Polls the summed RSS of a process and all its descendants in a thread."""

    def __init__(self, pid: int, interval: float = POLL_SECONDS):
        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.peak_bytes = 0
        self.seen: dict[int, psutil.Process] = {}

    def __enter__(self) -> "TreeRssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while True:
            self.peak_bytes = max(self.peak_bytes, self._sample())
            if self._stop.wait(self._interval):
                return

    def _sample(self) -> int:
        try:
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for process in processes:
            self.seen.setdefault(process.pid, process)
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total

    def kill_survivors(self) -> int:
        """Kill descendants still alive after the root exited; return how many."""
        killed = 0
        for process in self.seen.values():
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    process.kill()
                    killed += 1
            except psutil.Error:
                pass
        return killed


def kill_process_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ExitWaiter:
    """Reaps a child with ``os.wait4`` in a thread, recording when it exited.

    ``wait4`` also yields the child's own ``ru_maxrss``, which bounds the peak
    RSS from below for jobs too short for the poller to sample.
    """

    def __init__(self, process: subprocess.Popen):
        self._process = process
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self.end_time = 0.0
        self.max_rss_bytes = 0
        self._thread.start()

    def _wait(self) -> None:
        _, status, usage = os.wait4(self._process.pid, 0)
        self.end_time = time.perf_counter()
        self.max_rss_bytes = usage.ru_maxrss * 1024  # kilobytes on Linux
        self._process.returncode = os.waitstatus_to_exitcode(status)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the exit; False if still running after ``timeout`` seconds."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def run_job(workload: Workload, runner: Runner, timeout: float) -> RunResult:
    """Run one job process; measure wall time and peak tree RSS; parse its result."""
    script = JOBS_DIR / f"{runner.engine}_{workload.script}.py"
    command = [sys.executable, str(script), *workload.args, *runner.extra_args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO_ROOT,
                                   env=job_environment(runner.engine), start_new_session=True)
        waiter = ExitWaiter(process)
        with TreeRssSampler(process.pid) as sampler:
            timed_out = not waiter.join(timeout)
            if timed_out:
                kill_process_group(process.pid)
                waiter.join()
        kill_process_group(process.pid)  # stray descendants in the job's session
        sampler.kill_survivors()  # and any that left it
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    run = RunResult(wall_seconds=waiter.end_time - start,
                    peak_rss_bytes=max(sampler.peak_bytes, waiter.max_rss_bytes), ok=False)
    if timed_out:
        run.error = f"timed out after {timeout:.0f} s\n" + tail(stderr)
    elif process.returncode != 0:
        run.error = f"exit status {process.returncode}\n" + tail(stderr)
    else:
        run.result = parse_result(stdout)
        run.ok = run.result is not None
        if not run.ok:
            run.error = "no RESULT line on stdout\n" + tail(stdout + stderr)
    return run


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def parse_result(stdout: str) -> dict | None:
    """The JSON payload of the last ``RESULT`` line, or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                return json.loads(line[len(RESULT_PREFIX):])
            except ValueError:
                return None
    return None


def run_all(workloads: list[Workload], runners: list[Runner], reps: int,
            timeout: float) -> dict[tuple[str, str], Cell]:
    """Run every (workload, runner) ``reps`` times, interleaving runners per rep.

    A runner that fails is not run again for that workload.
    """
    cells = {(w.name, r.label): Cell() for w in workloads for r in runners}
    for workload in workloads:
        for rep in range(1, reps + 1):
            for runner in runners:
                cell = cells[workload.name, runner.label]
                if cell.runs and cell.failed:
                    continue
                run = run_job(workload, runner, timeout)
                cell.runs.append(run)
                report_run(workload, runner, rep, reps, run)
    return cells


def report_run(workload: Workload, runner: Runner, rep: int, reps: int, run: RunResult) -> None:
    """Progress line on stderr (plus the error tail of a failed run)."""
    prefix = f"[{workload.name}] {runner.label} rep {rep}/{reps}:"
    if run.ok:
        log(f"{prefix} {run.wall_seconds:8.2f} s {run.peak_rss_bytes / MIB:8.0f} MiB  {json.dumps(run.result)[:100]}")
    else:
        log(f"{prefix} FAILED after {run.wall_seconds:.2f} s\n" + indent(run.error))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def indent(text: str, prefix: str = "    | ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# ------------------------------------------------------------------ checks


def check_results(workloads: list[Workload], runners: list[Runner],
                  cells: dict[tuple[str, str], Cell]) -> dict[str, object]:
    """Flag mismatching cells; return the reference result of each workload."""
    references = {}
    for workload in workloads:
        row = [cells[workload.name, r.label] for r in runners]
        if workload.pi_tolerance is not None:
            check_pi(workload, row)
            references[workload.name] = f"pi within ±{workload.pi_tolerance:.4g} of {math.pi:.6f}"
        else:
            references[workload.name] = check_exact(workload, row)
    return references


def check_pi(workload: Workload, row: list[Cell]) -> None:
    for cell in row:
        if cell.failed:
            continue
        estimates = [run.result.get("pi", float("nan")) for run in cell.runs]
        bad = [e for e in estimates if not abs(e - math.pi) <= workload.pi_tolerance]
        if bad:
            cell.mismatch = f"pi estimate(s) {bad} off by more than {workload.pi_tolerance:.4g}"


def check_exact(workload: Workload, row: list[Cell]) -> dict | None:
    """Every rep of every engine must give the reference result.

    The reference is the expected value when known, else the result most
    engines agree on.
    """
    for cell in row:
        distinct = {canonical(run.result) for run in cell.runs if run.ok}
        if len(distinct) > 1:
            cell.mismatch = "result differs between reps"
    reference = workload.expected
    if reference is None:
        votes = Counter(canonical(c.result) for c in row if not c.failed and not c.mismatch)
        reference = json.loads(votes.most_common(1)[0][0]) if votes else None
    for cell in row:
        if not cell.failed and not cell.mismatch and reference is not None \
                and canonical(cell.result) != canonical(reference):
            cell.mismatch = f"got {canonical(cell.result)[:200]}, expected {canonical(reference)[:200]}"
    return reference


def canonical(result: dict | None) -> str:
    return json.dumps(result, sort_keys=True)


def check_wordcount_inputs(references: dict[str, object]) -> str:
    """Warning text if the file and the directory word counts disagree."""
    single, many = references.get("wordcount"), references.get("wordcount_files")
    if single is not None and many is not None and single != many:
        return "WARNING: wordcount and wordcount_files results differ (same corpus)"
    return ""


# ------------------------------------------------------------------ tables


def ratio_columns(runners: list[Runner]) -> list[tuple[str, str, str]]:
    """(header, vega label, other label) for each Vega runner x compared engine."""
    vegas = [r for r in runners if r.engine == "vega"]
    others = [r for r in runners if r.engine in COMPARED_ENGINES]
    return [(f"{vega.label}/{other.label}", vega.label, other.label) for vega in vegas for other in others]


def metric_table(workloads: list[Workload], runners: list[Runner],
                 cells: dict[tuple[str, str], Cell], attribute: str,
                 scale: float, fmt: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of medians of ``attribute`` per runner, plus Vega ratios."""
    ratios = ratio_columns(runners)
    header = ["workload", *[r.label for r in runners], *[name for name, _, _ in ratios]]
    rows = []
    for workload in workloads:
        medians = {r.label: cells[workload.name, r.label].median(attribute) for r in runners}
        row = [workload.name]
        for runner in runners:
            cell = cells[workload.name, runner.label]
            value = medians[runner.label]
            text = "FAILED" if value is None else format(value / scale, fmt)
            row.append(text + (" (!)" if cell.mismatch else ""))
        for _, vega, other in ratios:
            a, b = medians[vega], medians[other]
            row.append("-" if a is None or b is None or b == 0 else f"{a / b:.2f}x")
        rows.append(row)
    return header, rows


def render_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def render_markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def problem_lines(workloads: list[Workload], runners: list[Runner],
                  cells: dict[tuple[str, str], Cell]) -> list[tuple[str, str]]:
    """(title, detail) for failed or mismatching cells.

    Workloads failing with the same last error line on the same runner (e.g.
    an import error) are reported once, with the first workload's detail.
    """
    grouped: dict[tuple[str, str, str], tuple[list[str], str]] = {}
    for runner in runners:
        for workload in workloads:
            cell = cells[workload.name, runner.label]
            if cell.failed:
                detail = next((run.error for run in cell.runs if not run.ok), "not run")
            elif cell.mismatch:
                detail = cell.mismatch
            else:
                continue
            key = (runner.label, cell.status, detail.strip().splitlines()[-1])
            grouped.setdefault(key, ([], detail))[0].append(workload.name)
    return [(f"{', '.join(names)} / {label}: {status}", detail)
            for (label, status, _), (names, detail) in grouped.items()]


# ------------------------------------------------------------- environment


def environment_info() -> dict[str, str]:
    """Machine and software facts for the markdown report."""
    memory = psutil.virtual_memory().total
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "ram": f"{memory / 1024**3:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": java_version(),
        "git": git_revision(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def java_version() -> str:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        return (done.stderr or done.stdout).splitlines()[0].strip()
    except (OSError, IndexError, subprocess.SubprocessError):
        return "not found"


def git_revision() -> str:
    try:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=30)
        return done.stdout.strip() or "no commit yet"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed" + (" (repo root on PYTHONPATH)" if name == "vega-engine" else "")
    return versions


# ---------------------------------------------------------------- markdown


METHOD_NOTES = """\
- Every (engine, workload) is a separate job script in `scripts/bench/jobs/`, run as its own
  process; **wall time is the whole process**, including interpreter start-up, imports and
  engine start-up (the `trivial` row isolates that fixed cost).
- **Peak RSS** sums the resident memory of the job process and all its descendants
  (JVM, Python workers, pool processes), polled every 50 ms with psutil (floored by the
  job process's own `ru_maxrss`, for runs too short to sample). Pages shared between
  forked processes are counted once per process, so this over-states true usage.
- Engines: Vega with the master(s) shown; PySpark `local[2]` (UI off, Python workers on the
  bench venv's interpreter, default partitioning: `textFile` on the 1,000-file directory
  gives 1,000 partitions, and `reduceByKey` keeps that many); Dask bag on the `processes`
  scheduler with 2 workers and `chunksize=1` (the default of 6 puts both partitions of a
  generated dataset on one worker), `read_text` in 16 MB blocks, `foldby` for
  reduce-by-key, `groupby` for group-by-key, `Bag.join` against a single-partition right
  side; baseline: `multiprocessing.Pool(2)` doing the straightforward thing (a `Counter`
  per 4 MB chunk or per file, merged; per-worker dicts merged in the parent).
- Generated data uses 2 partitions; the corpus is ~50k Zipf-distributed words, generated
  deterministically by `scripts/bench/gen_data.py` and read from a warm page cache.
- Results are checked: expected counts where known, otherwise all engines must agree
  (`(!)` marks a mismatch); pi must lie within 8·√2 standard deviations of π.
- Ratios are Vega median / other engine median: below 1.00x means Vega is faster or smaller.
- Runs are sequential, runners interleaved within each repetition; anything else running
  on the machine adds noise, so compare ratios from one report rather than across reports.
"""


def markdown_report(args_line: str, info: dict[str, str], versions: dict[str, str],
                    sizes_label: str, reps: int, workloads: list[Workload], runners: list[Runner],
                    time_table, rss_table, references: dict[str, object],
                    problems: list[tuple[str, str]], warning: str) -> str:
    """The full markdown document."""
    parts = [
        "# Benchmarks: Vega vs PySpark vs Dask vs multiprocessing",
        "",
        "Generated by `scripts/bench/harness.py` (`make bench`).",
        "",
        f"- Command: `{args_line}`",
        f"- Date: {info['date']}; git: `{info['git']}`",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, {info['os']}",
        f"- Python {info['python']}; Java: {info['java']}",
        "- Packages: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
        f"- Sizes: {sizes_label}; {reps} run(s) per cell, medians shown",
        "- Columns: " + ", ".join(f"`{r.label}`" + (f" (master `{r.extra_args[1]}`)" if r.extra_args else "")
                                  for r in runners),
        "",
        "## Wall time (s, whole process)",
        "",
        render_markdown(*time_table),
        "",
        "## Peak RSS of the process tree (MiB)",
        "",
        render_markdown(*rss_table),
        "",
        "## Workloads and checked results",
        "",
        "| workload | what | result all engines must give |",
        "|---|---|---|",
    ]
    for workload in workloads:
        reference = references.get(workload.name)
        shown = reference if isinstance(reference, str) else f"`{canonical(reference)}`"
        if len(shown) > 160:
            shown = shown[:157] + "...`"
        parts.append(f"| {workload.name} | {workload.description} | {shown} |")
    if warning:
        parts += ["", f"**{warning}**"]
    if problems:
        parts += ["", "## Failures and mismatches", ""]
        for title, detail in problems:
            parts += [f"- **{title}**", "", "  ```", indent(detail, "  "), "  ```", ""]
    parts += ["", "## Method", "", METHOD_NOTES]
    return "\n".join(parts).rstrip() + "\n"


# -------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    sizes_label = ("quick" if args.quick else "full") + f" ({sizes.corpus_mb} MB corpus / {sizes.corpus_files} files, " \
        f"{sizes.pi_samples:,} pi samples, {sizes.pairs:,} pairs over {sizes.keys:,} keys)"
    workloads = select_workloads(args, sizes)
    runners = build_runners(args.engines, args.vega_masters)
    if any(r.engine == "vega" for r in runners):
        compile_working_tree()
    log(f"harness: {len(workloads)} workload(s) x {len(runners)} engine column(s) x {args.reps} rep(s), {sizes_label}")

    cells = run_all(workloads, runners, args.reps, args.timeout)
    references = check_results(workloads, runners, cells)
    warning = check_wordcount_inputs(references)
    problems = problem_lines(workloads, runners, cells)
    time_table = metric_table(workloads, runners, cells, "wall_seconds", 1.0, ".2f")
    rss_table = metric_table(workloads, runners, cells, "peak_rss_bytes", MIB, ".0f")

    print(f"\nWall time, median of {args.reps} (s); ratios = Vega / other")
    print(render_text(*time_table))
    print(f"\nPeak RSS of the process tree, median of {args.reps} (MiB)")
    print(render_text(*rss_table))
    for title, detail in problems:
        print(f"\n{title}\n{indent(detail)}")
    if warning:
        print("\n" + warning)

    if args.markdown:
        args_line = shlex.join(["python", "scripts/bench/harness.py", *(sys.argv[1:] if argv is None else argv)])
        report = markdown_report(args_line, environment_info(), package_versions(), sizes_label, args.reps,
                                 workloads, runners, time_table, rss_table, references, problems, warning)
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(report)
        log(f"harness: wrote {args.markdown}")
    return 1 if problems or warning else 0


if __name__ == "__main__":
    sys.exit(main())
