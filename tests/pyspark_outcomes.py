"""The outcomes file of the PySpark runners (``pyspark_run.py``: PySpark's unit tests,
``pyspark_doctest_run.py``: its documentation examples), written by them and judged by the
tests that run them: each test id -> ``{"outcome": passed | failed | error | skipped |
excluded, "detail": TEXT}``; and the runs of one runner on several masters side by side."""

from __future__ import annotations

import json
from typing import Callable, Dict, List, Tuple

from head_start import DetachedRun, run_directory


def write_outcomes(path: str, outcomes: Dict[str, Tuple[str, str]]) -> None:
    with open(path, "w") as out:
        json.dump({k: {"outcome": v[0], "detail": v[1]} for k, v in sorted(outcomes.items())},
                  out, indent=1)


def pass_rate(path: str, master: str, what: str, detail_line: int) -> Tuple[float, int, str]:
    """``(rate, counted, report)`` of an outcomes file: the passed share of the tests that
    ran (excluded and skipped ones aside), how many ran, and a report naming each that did
    not pass with line ``detail_line`` of its detail (printed, and the assertion's text)."""
    with open(path) as fh:
        outcomes = json.load(fh)
    counted = {k: v for k, v in outcomes.items() if v["outcome"] in ("passed", "failed", "error")}
    passed = sum(v["outcome"] == "passed" for v in counted.values())
    rate = passed / len(counted)
    failures = "\n".join(f"  {k}: {v['outcome']}: "
                         f"{v['detail'].strip().splitlines()[detail_line][:200]}"
                         for k, v in sorted(counted.items()) if v["outcome"] != "passed")
    skipped = sum(v["outcome"] == "skipped" for v in outcomes.values())
    report = (f"{master}: {passed}/{len(counted)} {what} passed ({rate:.1%}), "
              f"{sum(v['outcome'] == 'excluded' for v in outcomes.values())} excluded"
              f"{f', {skipped} skipped' if skipped else ''}; not passing:\n{failures}")
    return rate, len(counted), report


class SideBySide(dict):
    """A runner started at once on each of ``masters``: master -> (its
    :class:`head_start.DetachedRun`, its directory, where it writes ``results.json``,
    ``stdout`` and ``stderr``); ``argv(master, results_path)`` is its command.  PySpark's
    tests and examples mostly wait (tasks that sleep, barriers) or use one core, so on 2
    cores the runs side by side take about as long as the longest."""

    def __init__(self, masters: List[str], argv: Callable[[str, str], List[str]], env: dict):
        super().__init__()
        for master in masters:
            directory = run_directory("runner-")
            self[master] = (DetachedRun(argv(master, str(directory / "results.json")), env,
                                        directory), directory)

    def stop(self) -> None:
        """Kill those still running."""
        for run, _ in self.values():
            run.stop()


def results_of(run, timeout: float) -> str:
    """The results file of a run of :func:`runs_side_by_side`, once it has ended."""
    proc, directory = run
    proc.wait(timeout)
    results = directory / "results.json"
    assert results.exists(), (directory / "stderr").read_text(errors="replace")[-5000:]
    return str(results)
