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
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

try:
    import psutil
except ImportError:  # pragma: no cover - depends on the interpreter used
    sys.exit("harness.py needs psutil: run `bash scripts/bench/setup_env.sh` and use .venv-bench/bin/python")

import gen_data
from bench_model import (DEFAULT_VEGA_MASTER, ENGINES, FULL_SIZES, JOBS_DIR, MIB, PI_SIGMA_PER_SAMPLE,
                         PI_TOLERANCE_SIGMAS, POLL_SECONDS, QUICK_SIZES, REPO_ROOT, RESULT_PREFIX,
                         SCALING_CORPUS_MB, SCALING_SORT_RECORDS, SORT_MEMORY_BOUND, SORT_PARTITIONS,
                         STDERR_TAIL_LINES, WORKLOADS, Cell, Runner, RunResult, Sizes, Workload,
                         count_label, count_list, indent, int_list, log)
from bench_report import environment_info, load_average, load_json, report, save_json

sys.path.insert(0, str(JOBS_DIR))
import teragen  # noqa: E402  (the sort's record generator, shared with the jobs)


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
                continue  # it ended between the listing and the reading: nothing resident
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
                continue  # already gone: nothing to kill
        return killed


def kill_process_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return  # the group has no process left (PermissionError: only zombies remain)


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
