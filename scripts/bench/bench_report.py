"""The harness's results: checked against each other, as text and markdown tables, saved as
JSON and merged back, and plotted (scaling curves, matplotlib).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path

import psutil

from bench_model import (COMPARED_ENGINES, MIB, PACKAGES, REPO_ROOT, Cell, Runner, RunResult,
                         Workload, indent, log)


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
        pass  # no /proc (not Linux): ask platform
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

