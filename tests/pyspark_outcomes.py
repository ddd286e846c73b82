"""The outcomes file of the PySpark runners (``pyspark_run.py``: PySpark's unit tests,
``pyspark_doctest_run.py``: its documentation examples), written by them and judged by the
tests that run them: each test id -> ``{"outcome": passed | failed | error | skipped |
excluded, "detail": TEXT}``; and the runs of one runner on several masters side by side."""

from __future__ import annotations

import contextlib
import json
import subprocess
from typing import Callable, Dict, List, Tuple


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


@contextlib.contextmanager
def runs_side_by_side(request, tmp_path_factory, argv: Callable[[str, str], List[str]],
                      env: dict):
    """A runner started at once on each master (the ``master`` parameter) this session's
    tests of ``request.module`` ask for: master -> (process, its directory, where it writes
    ``results.json``, ``stdout`` and ``stderr``); ``argv(master, results_path)`` is its
    command.  PySpark's tests and examples mostly wait (tasks that sleep, barriers) or use
    one core, so on 2 cores the runs side by side take about as long as the longest.  Those
    still running at the end are killed."""
    wanted = dict.fromkeys(item.callspec.params["master"] for item in request.session.items
                           if getattr(item, "module", None) is request.module
                           and hasattr(item, "callspec"))
    started = {}
    try:
        for master in wanted:
            directory = tmp_path_factory.mktemp("runner")
            with open(directory / "stdout", "wb") as out, open(directory / "stderr", "wb") as err:
                started[master] = (subprocess.Popen(
                    argv(master, str(directory / "results.json")), cwd=str(directory), env=env,
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err), directory)
        yield started
    finally:
        for proc, _ in started.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def results_of(run, timeout: float) -> str:
    """The results file of a run of :func:`runs_side_by_side`, once it has ended."""
    proc, directory = run
    proc.wait(timeout=timeout)
    results = directory / "results.json"
    assert results.exists(), (directory / "stderr").read_text(errors="replace")[-5000:]
    return str(results)
