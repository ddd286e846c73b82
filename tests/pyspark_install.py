"""Where the installed PySpark is, for the tests that hold Vega against it.

PySpark lives only in the benchmark venv (``.venv-bench``, made by
``scripts/bench/setup_env.sh`` from ``requirements/bench.txt``; ``.ci/run`` makes it); the
tests read its files (its unit tests in ``pyspark.zip``, its example programs and data) and
run its interpreter for PySpark's own answers.  Nothing here imports PySpark.
"""

from __future__ import annotations

import glob
import os
from typing import Optional

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_VENV = os.path.join(REPO, ".venv-bench")


def pyspark_home() -> Optional[str]:
    """The installed ``pyspark`` package directory: ``$VEGA_PYSPARK_HOME``, else the one in
    ``.venv-bench``, else None."""
    home = os.environ.get("VEGA_PYSPARK_HOME")
    if home:
        return home if os.path.isdir(home) else None
    found = sorted(glob.glob(os.path.join(BENCH_VENV, "lib", "python3*", "site-packages",
                                          "pyspark")))
    return found[-1] if found else None


def pyspark_python() -> str:
    """The interpreter that has PySpark (the benchmark venv's)."""
    return os.path.join(BENCH_VENV, "bin", "python")


requires_pyspark = pytest.mark.skipif(
    pyspark_home() is None,
    reason="PySpark is not installed: `bash scripts/bench/setup_env.sh` installs it into "
           ".venv-bench from requirements/bench.txt (.ci/run does this)")
