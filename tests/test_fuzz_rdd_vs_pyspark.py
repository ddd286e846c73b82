"""scripts/fuzz_rdd_vs_pyspark.py on a fixed set of seeds: Vega's answers are PySpark 4.3's.

Random pipelines (seeds 1-18) and some fixed corner cases (negative seeds: empty RDDs'
actions, histogram buckets, zero values changed in place, records of a few MB, hash
collisions through a spilling shuffle) run on one PySpark ``SparkContext("local[2]")`` and
on Vega's ``local[2]``, plain and with ``vega.shuffle.memory_bound`` of 1 KiB; every answer
must be PySpark's (the script's docstring says how they are compared).  The script itself
fuzzes on: ``python scripts/fuzz_rdd_vs_pyspark.py --seed 1000 --count 500 --edge``.
"""

from __future__ import annotations

import os
import sys

import pytest

from head_start import NO_RUNS, DetachedRun, run_directory, taken
from proc_helpers import clean_env
from pyspark_install import pyspark_home, pyspark_python, requires_pyspark

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZER = os.path.join(REPO, "scripts", "fuzz_rdd_vs_pyspark.py")
#: the fixed cases run: fold/aggregate/treeAggregate of empty RDDs, first and stats of empty
#: RDDs, histogram of all-equal values and with infinities, top/takeOrdered with a key,
#: partition counts of joins, zero values changed in place, MB records, hash collisions,
#: lookup through a dropped and a trusted partitioner, countByValue's default of 0, take
#: computing only the partitions it needs
EDGE_SEEDS = [-4, -8, -14, -26, -47, -64, -81, -82, -148, -156, -234, -238, -245, -246,
              -258, -259, -260, -268, -310, -328, -329, -368, -409, -417, -418]
SEEDS = list(range(1, 19)) + EDGE_SEEDS


def head_start(masters):
    """The fuzzer on the fixed seeds, from the session's start (``head_start``): its
    PySpark JVM and Vega's ``local[2]`` take ~35 s."""
    if pyspark_home() is None:
        return NO_RUNS
    directory = run_directory("fuzz-")
    return DetachedRun([sys.executable, FUZZER, "--seeds", ",".join(map(str, SEEDS)),
                        "--masters", "local[2],spill", "--pyspark-python", pyspark_python(),
                        "--keep", str(directory / "kept")],
                       clean_env(PYTHONHASHSEED="0", PYTHONPATH=REPO), directory)


@pytest.fixture(scope="module")
def fuzzer(request):
    with taken(request) as run:
        yield run


@requires_pyspark
def test_random_pipelines_give_pysparks_answers(fuzzer):
    """Every case of the fixed seeds gives PySpark's answer on local[2] and spilling local[2]."""
    returncode = fuzzer.wait(900)
    output = fuzzer.output()
    assert returncode == 0, output[-6000:]
    assert f"{len(SEEDS)} cases on local[2],spill: 0 differences" in output
