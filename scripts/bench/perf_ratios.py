"""Vega against the plain multiprocessing baseline, interleaved, as ratios.

    python scripts/bench/perf_ratios.py [--reps 5] [--only wordcount,join] [--master local[2]]

Every rep runs each workload's Vega job and its baseline job back to back
(alternating which goes first), as whole processes, and records the ratio of
the two wall times.  On a shared, loaded machine the ratio of neighbouring
runs is steadier than either time; the min, median and max over the reps are
printed.  ``--master`` may name several masters (comma-separated): each one's
time is also compared with the first (e.g. ``local-cluster[2,1]`` against
``local[2]``).  The jobs and inputs are the harness's (``jobs/``, ``gen_data``).
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import gen_data  # noqa: E402  (a sibling script)

PAIRS = ("--n", "2000000", "--keys", "100000")
WORKLOADS = {
    "wordcount": None,  # filled with the corpus path
    "pi": ("--n", "10000000"),
    "reduce_by_key": PAIRS,
    "group_by_key": PAIRS,
    "join": PAIRS,
    "trivial": (),
}


def run(engine: str, workload: str, args: tuple, master: str | None,
        root: Path, metric: str) -> float:
    """Seconds of one job process (it must print its RESULT line): ``wall`` (what users
    wait for) or ``cpu``, the user + system time of the whole process tree (every process
    the job started and reaped), steadier on a loaded machine."""
    command = [sys.executable, str(HERE / "jobs" / f"{engine}_{workload}.py"), *args]
    if master:
        command += ["--master", master]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # run in the tree: its conf/vega-defaults.yaml (another checkout's may name settings
    # this one lacks)
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or "RESULT " not in done.stdout:
        raise SystemExit(f"{engine} {workload} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed if metric == "wall" else cpu


def summary(values: list[float]) -> str:
    return f"{min(values):6.3f} {statistics.median(values):6.3f} {max(values):6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--against", type=Path, metavar="TREE",
                        help="also run Vega from another checkout (e.g. a worktree of main) "
                             "on the first master, and compare with it")
    parser.add_argument("--metric", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    masters = re.split(r",(?![^\[]*\])", args.master)  # local-cluster[2,1] keeps its comma
    names = args.only.split(",")
    workloads = dict(WORKLOADS)
    if "wordcount" in names:
        workloads["wordcount"] = ("--input", str(gen_data.ensure_corpus(100)))
    # jobs run under PYTHONDONTWRITEBYTECODE here: compile once, as the harness does
    for tree in filter(None, [REPO_ROOT, args.against]):
        compileall.compile_dir(str(tree / "vega_runtime"), quiet=1)
    times: dict = {}
    for rep in range(args.reps):
        for name in names:
            order = [("baseline", None, REPO_ROOT)] + [("vega", m, REPO_ROOT) for m in masters]
            if args.against:
                order.append(("against", masters[0], args.against))
            if rep % 2:
                order.reverse()
            for engine, master, root in order:
                seconds = run("vega" if engine == "against" else engine, name, workloads[name],
                              master, root, args.metric)
                times.setdefault((name, engine, master), []).append(seconds)
                print(f"rep {rep + 1} {name:14} {engine:8} {master or '':20} {seconds:7.3f} s",
                      file=sys.stderr, flush=True)
    print(f"{'workload':14} {'column':34} {'min':>6} {'median':>6} {'max':>6}")
    for name in names:
        base = times[(name, "baseline", None)]
        print(f"{name:14} {'baseline seconds':34} {summary(base)}")
        for master in masters:
            vega = times[(name, "vega", master)]
            print(f"{name:14} {'vega@' + master + ' seconds':34} {summary(vega)}")
            print(f"{name:14} {'vega@' + master + ' / baseline':34} "
                  f"{summary([v / b for v, b in zip(vega, base)])}")
            if master != masters[0]:
                first = times[(name, "vega", masters[0])]
                print(f"{name:14} {'vega@' + master + ' / vega@' + masters[0]:34} "
                      f"{summary([v / f for v, f in zip(vega, first)])}")
        if args.against:
            other = times[(name, "against", masters[0])]
            vega = times[(name, "vega", masters[0])]
            print(f"{name:14} {'against seconds':34} {summary(other)}")
            print(f"{name:14} {'against / baseline':34} "
                  f"{summary([o / b for o, b in zip(other, base)])}")
            print(f"{name:14} {'vega / against':34} {summary([v / o for v, o in zip(vega, other)])}")


if __name__ == "__main__":
    main()
