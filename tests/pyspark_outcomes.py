"""The outcomes file of the PySpark runners (``pyspark_run.py``: PySpark's unit tests,
``pyspark_doctest_run.py``: its documentation examples), written by them and judged by the
tests that run them: each test id -> ``{"outcome": passed | failed | error | skipped |
excluded, "detail": TEXT}``."""

from __future__ import annotations

import json
from typing import Dict, Tuple


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
