#!/usr/bin/env python3
"""Benchmark Vega against PySpark, Dask and a plain multiprocessing baseline.

Each (engine, workload) pair is a job script in ``scripts/bench/jobs/`` run as
a separate process, ``--reps`` times; the repetitions are interleaved (every
engine's first run of every workload, then every second run, ...), so a
change in the machine's speed hits all engines alike. For every run the
harness records the wall time of the whole process (interpreter start-up and
imports included), the peak resident memory of its process tree (psutil polled
every ``POLL_SECONDS``, RSS summed over the process and all its descendants)
and how many files the run left in its scratch directory (``TMPDIR``,
``VEGA_LOCAL_DIR`` and ``SPARK_LOCAL_DIRS`` point at a fresh one per run). The
``RESULT`` line printed by each job is checked against the expected value or,
when none is known, against the other engines. Every cell shows the median and
the [min-max] of its runs; ratios are Vega's median over the other engine's,
with the [min-max] of the per-repetition ratios (run i against run i).

Usage (from the repo root, inside ``.venv-bench``; see setup_env.sh)::

    .venv-bench/bin/python scripts/bench/harness.py --quick --reps 1
    .venv-bench/bin/python scripts/bench/harness.py --workloads wordcount,pi --engines vega,pyspark
    .venv-bench/bin/python scripts/bench/harness.py --vega-masters 'local[2],local-cluster[2,1]'
    .venv-bench/bin/python scripts/bench/harness.py --workloads sort --sort-records 50M --reps 1
    .venv-bench/bin/python scripts/bench/harness.py --scaling --json part1.json --plots docs/images
    .venv-bench/bin/python scripts/bench/harness.py --from-json part1.json part2.json --markdown out.md
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
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
sys.path.insert(0, str(JOBS_DIR))
import teragen  # noqa: E402  (the sort's record generator, shared with the jobs)

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
    parser.add_argument("--reps", type=int, default=3, help="runs per (engine, workload), interleaved")
    parser.add_argument("--workloads", "--only", dest="only", type=split_list, default=None,
                        help="comma-separated workloads (default: all of %s)" % ",".join(WORKLOADS))
    parser.add_argument("--engines", type=split_list, default=list(ENGINES),
                        help="comma-separated engines among " + ",".join(ENGINES))
    parser.add_argument("--master", "--vega-masters", dest="vega_masters", type=split_list,
                        default=[DEFAULT_VEGA_MASTER],
                        help="Vega master URL(s), comma-separated; one table column each")
    parser.add_argument("--quick", action="store_true", help="small inputs, for smoke testing")
    parser.add_argument("--corpus-mb", type=int_list, default=None,
                        help="word-count corpus size(s) in MB, e.g. 25,50,100,200 (default 100; quick 4)")
    parser.add_argument("--sort-records", type=count_list, default=None,
                        help="sort size(s) in records, e.g. 1M,5M,10M or 50M (default 10M; quick 100k)")
    parser.add_argument("--scaling", action="store_true",
                        help="the scaling curves: word count at %s MB and the sort at %s records "
                             "(unless --workloads/--corpus-mb/--sort-records say otherwise)"
                             % (",".join(map(str, SCALING_CORPUS_MB)),
                                ",".join(map(count_label, SCALING_SORT_RECORDS))))
    parser.add_argument("--markdown", type=Path, help="also write the results as markdown to FILE")
    parser.add_argument("--json", type=Path, help="also write every run's measurements as JSON to FILE")
    parser.add_argument("--plots", type=Path, metavar="DIR",
                        help="write a PNG of time and peak memory against input size for every workload "
                             "run at two or more sizes into DIR (needs matplotlib)")
    parser.add_argument("--from-json", type=Path, nargs="+", metavar="FILE",
                        help="run nothing: merge the runs saved by --json (parts of one benchmark) "
                             "and print, --markdown and --plots them")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run is killed")
    args = parser.parse_args(argv)
    validate_choices(parser, "--engines", args.engines, ENGINES)
    validate_choices(parser, "--workloads", args.only or [], WORKLOADS)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.scaling:
        args.only = args.only or ["wordcount", "sort"]
        args.corpus_mb = args.corpus_mb or SCALING_CORPUS_MB
        args.sort_records = args.sort_records or SCALING_SORT_RECORDS
    return args


def validate_choices(parser: argparse.ArgumentParser, option: str, values, allowed) -> None:
    unknown = [value for value in values if value not in allowed]
    if unknown:
        parser.error(f"{option}: unknown {', '.join(unknown)} (choose from {', '.join(allowed)})")


def chosen_sizes(args: argparse.Namespace) -> tuple[Sizes, str]:
    """The profile's sizes with the command line's corpus and sort sizes; and its label."""
    base, profile = (QUICK_SIZES, "quick") if args.quick else (FULL_SIZES, "full")
    sizes = dataclasses.replace(base, corpus_mb=args.corpus_mb or base.corpus_mb,
                                sort_records=args.sort_records or base.sort_records)
    return sizes, sizes.label(profile)


# ---------------------------------------------------------------- workloads


def build_workloads(sizes: Sizes, corpora: dict[int, Path], corpus_dir: Path,
                    sort_expected=lambda records: None) -> list[Workload]:
    """All workloads (in ``WORKLOADS`` order, each sized one once per size) for the given inputs."""
    pairs = ("--n", str(sizes.pairs), "--keys", str(sizes.keys))
    several_corpora = len(sizes.corpus_mb) > 1
    workloads = [
        Workload(f"wordcount {mb}MB" if several_corpora else "wordcount", "wordcount", "wordcount",
                 ("--input", str(corpora.get(mb, "unused"))), f"word count, one {mb} MB file",
                 size=mb, size_unit="MB of text")
        for mb in sizes.corpus_mb
    ]
    workloads += [
        Workload("wordcount_files", "wordcount_files", "wordcount", ("--input", str(corpus_dir)),
                 f"word count, the {sizes.corpus_mb[0]} MB corpus as {sizes.corpus_files} files"),
        Workload("pi", "pi", "pi", ("--n", str(sizes.pi_samples)),
                 f"Monte Carlo pi, {sizes.pi_samples:,} per-element samples",
                 pi_tolerance=PI_TOLERANCE_SIGMAS * PI_SIGMA_PER_SAMPLE / math.sqrt(sizes.pi_samples)),
        Workload("reduce_by_key", "reduce_by_key", "reduce_by_key", pairs,
                 f"reduce_by_key(add), {sizes.pairs:,} pairs, {sizes.keys:,} keys",
                 expected={"count": sizes.keys}),
        Workload("group_by_key", "group_by_key", "group_by_key", pairs,
                 f"group_by_key().map_values(len), {sizes.pairs:,} pairs, {sizes.keys:,} keys",
                 expected={"count": sizes.keys}),
        Workload("join", "join", "join", pairs,
                 f"join {sizes.pairs:,} pairs with {sizes.keys:,} (one per key)",
                 expected={"count": sizes.pairs}),
    ]
    workloads += [
        Workload(f"sort {count_label(records)}", "sort", "sort",
                 ("--n", str(records), "--partitions", str(SORT_PARTITIONS),
                  "--out-partitions", str(SORT_PARTITIONS), "--memory-bound", SORT_MEMORY_BOUND),
                 f"TeraSort: {records:,} records of a 10-byte key and a 90-byte value, sort by key "
                 f"into {SORT_PARTITIONS} partitions, shuffle memory bound {SORT_MEMORY_BOUND}",
                 expected=sort_expected(records), size=records, size_unit="records")
        for records in sizes.sort_records
    ]
    workloads.append(Workload("trivial", "trivial", "trivial", (),
                              "parallelize([1, 2, 3]).count(): process start-up",
                              expected={"count": 3}))
    assert tuple(dict.fromkeys(w.family for w in workloads)) == WORKLOADS
    return workloads


def select_workloads(args: argparse.Namespace, sizes: Sizes) -> list[Workload]:
    """The requested workloads, generating their inputs (and the sort's expected result) if needed."""
    wanted = args.only or WORKLOADS
    corpora: dict[int, Path] = {}
    corpus_dir = Path("unused")
    if "wordcount" in wanted:
        corpora = {mb: gen_data.ensure_corpus(mb) for mb in sizes.corpus_mb}
    if "wordcount_files" in wanted:
        corpus_dir = gen_data.ensure_corpus_dir(sizes.corpus_mb[0], sizes.corpus_files)
    sort_expected = sort_expectation if "sort" in wanted else (lambda records: None)
    return [w for w in build_workloads(sizes, corpora, corpus_dir, sort_expected) if w.family in wanted]


def sort_expectation(records: int) -> dict:
    """What a correct sort of ``records`` generated records reports, cached under gen_data's directory."""
    cache = gen_data.ensure_data_dir() / f"sort-expected-{records}-seed{teragen.DEFAULT_SEED}-v1.json"
    if cache.exists():
        return json.loads(cache.read_text())
    log(f"harness: computing the expected key checksum of {records:,} sort records")
    expected = teragen.expected(records, partitions=SORT_PARTITIONS)
    cache.write_text(json.dumps(expected))
    return expected


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


def job_script(workload: Workload, runner: Runner) -> Path:
    return JOBS_DIR / f"{runner.engine}_{workload.script}.py"


# ----------------------------------------------------------------- running


def job_environment(engine: str, scratch: str) -> dict[str, str]:
    """Environment of a job process: its interpreter for PySpark's workers, the jobs directory
    (and for Vega the repo root) on ``PYTHONPATH``, and ``scratch`` as every engine's scratch
    directory."""
    env = dict(os.environ)
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    paths = [str(JOBS_DIR)]
    if engine == "vega":  # works whether or not the project is pip-installed
        paths.append(str(REPO_ROOT))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*paths, env.get("PYTHONPATH")]))
    env["TMPDIR"] = env["VEGA_LOCAL_DIR"] = env["SPARK_LOCAL_DIRS"] = scratch
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


def run_job(workload: Workload, runner: Runner, timeout: float, rep: int = 1) -> RunResult:
    """Run one job process; measure wall time, peak tree RSS and leftover scratch files;
    parse its result."""
    command = [sys.executable, str(job_script(workload, runner)), *workload.args, *runner.extra_args]
    scratch = tempfile.mkdtemp(prefix="bench-scratch-")
    try:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO_ROOT,
                                       env=job_environment(runner.engine, scratch),
                                       start_new_session=True)
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
        leftovers = files_under(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    run = RunResult(wall_seconds=waiter.end_time - start,
                    peak_rss_bytes=max(sampler.peak_bytes, waiter.max_rss_bytes), ok=False,
                    rep=rep, leftover_files=len(leftovers))
    if timed_out:
        run.error = f"timed out after {timeout:.0f} s\n" + tail(stderr)
    elif process.returncode != 0:
        run.error = f"exit status {process.returncode}\n" + tail(stderr)
    else:
        run.result = parse_result(stdout)
        run.ok = run.result is not None
        if not run.ok:
            run.error = "no RESULT line on stdout\n" + tail(stdout + stderr)
    if leftovers:
        log(f"[{workload.name}] {runner.label}: {len(leftovers)} file(s) left in the scratch directory, "
            f"e.g. {', '.join(leftovers[:3])}")
    return run


def files_under(directory: str) -> list[str]:
    """Paths (relative to ``directory``) of the files left under it."""
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, names in os.walk(directory) for name in names)


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


def new_cells(workloads: list[Workload], runners: list[Runner]) -> dict[tuple[str, str], Cell]:
    """An empty cell per (workload, runner); n/a where the engine has no job for the workload."""
    return {(w.name, r.label): Cell(unsupported=not job_script(w, r).exists())
            for w in workloads for r in runners}


def run_all(workloads: list[Workload], runners: list[Runner], reps: int,
            timeout: float) -> dict[tuple[str, str], Cell]:
    """Run every (workload, runner) ``reps`` times, interleaved: repetition 1 of every workload
    on every runner, then repetition 2, ... A runner that fails is not run again for that
    workload."""
    cells = new_cells(workloads, runners)
    for rep in range(1, reps + 1):
        for workload in workloads:
            for runner in runners:
                cell = cells[workload.name, runner.label]
                if cell.unsupported or (cell.runs and cell.failed):
                    continue
                run = run_job(workload, runner, timeout, rep)
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
        row = [cells[workload.name, r.label] for r in runners if not cells[workload.name, r.label].unsupported]
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


def check_wordcount_inputs(workloads: list[Workload], references: dict[str, object]) -> str:
    """Warning text if the file and the directory word counts (same corpus) disagree."""
    files = next((w for w in workloads if w.family == "wordcount_files"), None)
    single = next((w for w in workloads if w.family == "wordcount"), None)
    if files is None or single is None:
        return ""
    a, b = references.get(single.name), references.get(files.name)
    if a is not None and b is not None and a != b:
        return f"WARNING: {single.name} and wordcount_files results differ (same corpus)"
    return ""


# ------------------------------------------------------------------ tables


def ratio_columns(runners: list[Runner]) -> list[tuple[str, str, str]]:
    """(header, vega label, other label) for each Vega runner x compared engine."""
    vegas = [r for r in runners if r.engine == "vega"]
    others = [r for r in runners if r.engine in COMPARED_ENGINES]
    return [(f"{vega.label}/{other.label}", vega.label, other.label) for vega in vegas for other in others]


def ratio_stats(a: Cell, b: Cell, attribute: str) -> tuple[float, float, float] | None:
    """(min, ratio of the medians, max) where min and max are over the per-repetition ratios
    (run i of ``a`` over run i of ``b``, which ran back to back); None if either cell failed."""
    sa, sb = a.stats(attribute), b.stats(attribute)
    if sa is None or sb is None or sb[1] == 0:
        return None
    theirs = {run.rep: getattr(run, attribute) for run in b.runs}
    pairs = [getattr(run, attribute) / theirs[run.rep] for run in a.runs if theirs.get(run.rep)]
    middle = sa[1] / sb[1]
    return (min(pairs, default=middle), middle, max(pairs, default=middle))


def format_spread(stats: tuple[float, float, float], fmt: str, suffix: str = "") -> str:
    """'3.84 [3.70-4.10]': median and [min-max]; just the median when they are all equal."""
    low, middle, high = (format(value, fmt) for value in stats)
    if low == middle == high:
        return middle + suffix
    return f"{middle}{suffix} [{low}-{high}]"


def metric_table(workloads: list[Workload], runners: list[Runner],
                 cells: dict[tuple[str, str], Cell], attribute: str,
                 scale: float, fmt: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of median [min-max] of ``attribute`` per runner, plus Vega's ratios."""
    ratios = ratio_columns(runners)
    header = ["workload", *[r.label for r in runners], *[name for name, _, _ in ratios]]
    rows = []
    for workload in workloads:
        row = [workload.name]
        for runner in runners:
            cell = cells[workload.name, runner.label]
            stats = cell.stats(attribute)
            if cell.unsupported:
                text = "n/a"
            elif stats is None:
                text = "FAILED"
            else:
                text = format_spread(tuple(value / scale for value in stats), fmt)
            row.append(text + (" (!)" if cell.mismatch else ""))
        for _, vega, other in ratios:
            stats = ratio_stats(cells[workload.name, vega], cells[workload.name, other], attribute)
            row.append("-" if stats is None else format_spread(stats, ".2f", "x"))
        rows.append(row)
    return header, rows


def leftover_table(workloads: list[Workload], runners: list[Runner],
                   cells: dict[tuple[str, str], Cell]) -> tuple[list[str], list[list[str]]] | None:
    """Most files any run left in its scratch directory, per cell; None if no run left any."""
    if not any(run.leftover_files for cell in cells.values() for run in cell.runs):
        return None
    rows = [[w.name, *["n/a" if cells[w.name, r.label].unsupported else
                       str(max((run.leftover_files for run in cells[w.name, r.label].runs), default=0))
                       for r in runners]] for w in workloads]
    return ["workload", *[r.label for r in runners]], rows


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
            key = (runner.label, cell.status, (detail.strip().splitlines() or [""])[-1])
            grouped.setdefault(key, ([], detail))[0].append(workload.name)
    return [(f"{', '.join(names)} / {label}: {status}", detail)
            for (label, status, _), (names, detail) in grouped.items()]


# ------------------------------------------------------------ sort targets


def sort_target_lines(workloads: list[Workload], runners: list[Runner],
                      cells: dict[tuple[str, str], Cell]) -> list[str]:
    """The out-of-core sort's targets, per Vega runner and sort size: time <= 0.5x PySpark's,
    peak memory of the process tree <= 1 GiB, no file left in the scratch directory."""
    lines = []
    labels = {r.label for r in runners}
    for workload in (w for w in workloads if w.family == "sort"):
        for runner in (r for r in runners if r.engine == "vega"):
            cell = cells[workload.name, runner.label]
            if cell.stats("wall_seconds") is None:
                continue
            checks = []
            if "pyspark" in labels:
                ratio = ratio_stats(cell, cells[workload.name, "pyspark"], "wall_seconds")
                checks.append("time vs PySpark: " + ("-" if ratio is None else
                              f"{ratio[1]:.2f}x ({'met' if ratio[1] <= 0.5 else 'NOT met'}, target <= 0.5x)"))
            peak = cell.stats("peak_rss_bytes")[2]
            checks.append(f"peak memory (max of runs) {peak / MIB:.0f} MiB "
                          f"({'met' if peak <= 1024 * MIB else 'NOT met'}, target <= 1024 MiB)")
            left = max(run.leftover_files for run in cell.runs)
            checks.append(f"files left {left} ({'met' if left == 0 else 'NOT met'})")
            lines.append(f"{workload.name} / {runner.label}: " + "; ".join(checks))
    return lines


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
        "load": load_average(),
    }


def load_average() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


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
- Every cell is the median of its runs and their [min-max]; ratios are Vega's median over
  the other engine's median, with the [min-max] of the per-repetition ratios (Vega's run i
  over the other engine's run i, taken back to back).
- Runs are interleaved: repetition 1 of every workload on every engine, then repetition 2,
  and so on, so a slow spell of the machine hits every engine alike.
- Every run gets a fresh scratch directory (`TMPDIR`, `VEGA_LOCAL_DIR`, `SPARK_LOCAL_DIRS`);
  files left in it after the job's process ended are counted (the sort's "no spill file left").
- The peers' jobs are written the way their documentation teaches; docs/benchmarks.md names
  the page each follows. Generated data uses 2 partitions (the sort: 8); the corpus is ~50k
  Zipf-distributed words, generated deterministically by `scripts/bench/gen_data.py` and read
  from a warm page cache; the sort's records are generated inside the job
  (`scripts/bench/jobs/teragen.py`).
- Results are checked: expected counts (and the sort's key checksum) where known, otherwise
  all engines must agree (`(!)` marks a mismatch); pi must lie within 8·√2 standard
  deviations of π. `n/a`: the engine has no such operation (Dask bag cannot sort).
"""


def markdown_report(args_line: str, info: dict[str, str], versions: dict[str, str],
                    sizes_label: str, reps: int, workloads: list[Workload], runners: list[Runner],
                    cells: dict[tuple[str, str], Cell], references: dict[str, object],
                    problems: list[tuple[str, str]], warning: str, plots: list[Path]) -> str:
    """The full markdown document."""
    time_table = metric_table(workloads, runners, cells, "wall_seconds", 1.0, ".2f")
    rss_table = metric_table(workloads, runners, cells, "peak_rss_bytes", MIB, ".0f")
    parts = [
        "# Benchmarks: Vega vs PySpark vs Dask vs multiprocessing",
        "",
        "Generated by `scripts/bench/harness.py` (`make bench`).",
        "",
        f"- Command: `{args_line}`",
        f"- Date: {info['date']}; git: `{info['git']}`",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, {info['os']}",
        f"- Load average (1, 5, 15 min) when the report was written: {info.get('load', '?')}",
        f"- Python {info['python']}; Java: {info['java']}",
        "- Packages: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
        f"- Sizes: {sizes_label}; {reps} run(s) per cell, median [min-max] shown",
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
    ]
    leftovers = leftover_table(workloads, runners, cells)
    if leftovers:
        parts += ["", "## Files left in the scratch directory (most of any run)", "", render_markdown(*leftovers)]
    targets = sort_target_lines(workloads, runners, cells)
    if targets:
        parts += ["", "## Sort targets", ""] + [f"- {line}" for line in targets]
    if plots:
        parts += ["", "## Scaling", ""] + [f"![{path.stem}](images/{path.name})" for path in plots]
    parts += [
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


# -------------------------------------------------------------------- saved runs


def save_json(path: Path, workloads: list[Workload], runners: list[Runner],
              cells: dict[tuple[str, str], Cell], meta: dict) -> None:
    """Every run's measurements, to be merged with other parts by ``--from-json``."""
    data = {
        "meta": meta,
        "workloads": [dataclasses.asdict(w) for w in workloads],
        "runners": [dataclasses.asdict(r) for r in runners],
        "cells": [{"workload": w, "runner": r, "unsupported": cell.unsupported,
                   "runs": [dataclasses.asdict(run) for run in cell.runs]}
                  for (w, r), cell in cells.items()],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def load_json(paths: list[Path]) -> tuple[list[Workload], list[Runner], dict[tuple[str, str], Cell], list[dict]]:
    """Merge saved parts: workloads and runners in first-seen order, the runs of a cell appended
    (a later part's repetitions numbered after the earlier ones')."""
    workloads: dict[str, Workload] = {}
    runners: dict[str, Runner] = {}
    cells: dict[tuple[str, str], Cell] = {}
    metas = []
    for path in paths:
        data = json.loads(path.read_text())
        metas.append(data.get("meta", {}))
        for w in data["workloads"]:
            workloads.setdefault(w["name"], Workload(**{**w, "args": tuple(w["args"])}))
        for r in data["runners"]:
            runners.setdefault(r["label"], Runner(**{**r, "extra_args": tuple(r["extra_args"])}))
        for saved in data["cells"]:
            cell = cells.setdefault((saved["workload"], saved["runner"]), Cell(unsupported=saved["unsupported"]))
            offset = max((run.rep for run in cell.runs), default=0)
            cell.runs += [RunResult(**{**run, "rep": run["rep"] + offset}) for run in saved["runs"]]
    for w in workloads:  # a runner missing from a part: its cells were not run there
        for r in runners:
            cells.setdefault((w, r), Cell())
    return list(workloads.values()), list(runners.values()), cells, metas


# ------------------------------------------------------------------------- plots


def write_plots(directory: Path, workloads: list[Workload], runners: list[Runner],
                cells: dict[tuple[str, str], Cell]) -> list[Path]:
    """One PNG per workload family run at two or more sizes: wall time and peak memory of the
    process tree against input size, a line per engine (median, bars from min to max)."""
    families: dict[str, list[Workload]] = {}
    for workload in workloads:
        if workload.size is not None:
            families.setdefault(workload.family, []).append(workload)
    families = {name: sorted(ws, key=lambda w: w.size) for name, ws in families.items() if len(ws) > 1}
    if not families:
        return []
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for family, members in families.items():
        figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        unit = members[0].size_unit
        scale, x_label = (1e6, "millions of records") if unit == "records" else (1, unit)
        for runner in runners:
            for ax, attribute, divisor in ((axes[0], "wall_seconds", 1), (axes[1], "peak_rss_bytes", MIB)):
                points = [(w.size / scale, cells[w.name, runner.label].stats(attribute)) for w in members]
                points = [(x, s) for x, s in points if s is not None]
                if not points:
                    continue
                xs = [x for x, _ in points]
                low, mid, high = ([s[i] / divisor for _, s in points] for i in range(3))
                ax.errorbar(xs, mid, yerr=[[m - lo for m, lo in zip(mid, low)], [hi - m for m, hi in zip(mid, high)]],
                            marker="o", capsize=3, label=runner.label)
        axes[0].set_ylabel("wall time, whole process (s)")
        axes[1].set_ylabel("peak RSS of the process tree (MiB)")
        for ax in axes:
            ax.set_xlabel(x_label)
            ax.set_xlim(left=0)
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            ax.legend()
        figure.suptitle(f"{family}: cost against input size (median, bars min-max)")
        figure.tight_layout()
        path = directory / f"bench-scaling-{family}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path)
        log(f"harness: wrote {path}")
    return written


# -------------------------------------------------------------------- main


def report(args: argparse.Namespace, argv: list[str] | None, sizes_label: str, workloads: list[Workload],
           runners: list[Runner], cells: dict[tuple[str, str], Cell]) -> int:
    """Check, print and (as asked) write the results; the exit status."""
    references = check_results(workloads, runners, cells)
    warning = check_wordcount_inputs(workloads, references)
    problems = problem_lines(workloads, runners, cells)
    reps = max((len(cell.runs) for cell in cells.values()), default=0)
    print(f"\nWall time, median [min-max] of up to {reps} runs (s); ratios = Vega / other")
    print(render_text(*metric_table(workloads, runners, cells, "wall_seconds", 1.0, ".2f")))
    print(f"\nPeak RSS of the process tree, median [min-max] of up to {reps} runs (MiB)")
    print(render_text(*metric_table(workloads, runners, cells, "peak_rss_bytes", MIB, ".0f")))
    leftovers = leftover_table(workloads, runners, cells)
    if leftovers:
        print("\nFiles left in the scratch directory (most of any run)")
        print(render_text(*leftovers))
    for line in sort_target_lines(workloads, runners, cells):
        print("\n" + line)
    for title, detail in problems:
        print(f"\n{title}\n{indent(detail)}")
    if warning:
        print("\n" + warning)
    plots = write_plots(args.plots, workloads, runners, cells) if args.plots else []
    if args.markdown:
        args_line = shlex.join(["python", "scripts/bench/harness.py", *(sys.argv[1:] if argv is None else argv)])
        text = markdown_report(args_line, environment_info(), package_versions(), sizes_label, reps,
                               workloads, runners, cells, references, problems, warning, plots)
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
        log(f"harness: wrote {args.markdown}")
    return 1 if problems or warning else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        workloads, runners, cells, metas = load_json(args.from_json)
        label = "; ".join(dict.fromkeys(meta.get("sizes", "?") for meta in metas))
        return report(args, argv, label, workloads, runners, cells)
    sizes, sizes_label = chosen_sizes(args)
    workloads = select_workloads(args, sizes)
    runners = build_runners(args.engines, args.vega_masters)
    if any(r.engine == "vega" for r in runners):
        compile_working_tree()
    log(f"harness: {len(workloads)} workload(s) x {len(runners)} engine column(s) x {args.reps} rep(s), "
        f"{sizes_label}; load average {load_average()}")
    cells = run_all(workloads, runners, args.reps, args.timeout)
    log(f"harness: done; load average {load_average()}")
    if args.json:
        save_json(args.json, workloads, runners, cells,
                  {"sizes": sizes_label, "argv": sys.argv[1:] if argv is None else argv, **environment_info()})
        log(f"harness: wrote {args.json}")
    return report(args, argv, sizes_label, workloads, runners, cells)


if __name__ == "__main__":
    sys.exit(main())
