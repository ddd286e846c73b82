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
import signal
import subprocess
import sys

from proc_helpers import clean_env
from pyspark_install import pyspark_python, requires_pyspark

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


@requires_pyspark
def test_random_pipelines_give_pysparks_answers(tmp_path):
    """Every case of the fixed seeds gives PySpark's answer on local[2] and spilling local[2]."""
    proc = subprocess.Popen(
        [sys.executable, FUZZER, "--seeds", ",".join(map(str, SEEDS)), "--masters",
         "local[2],spill", "--pyspark-python", pyspark_python(), "--keep", str(tmp_path)],
        cwd=REPO, env=clean_env(PYTHONHASHSEED="0"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=120)
    finally:  # the engines' processes (PySpark's JVM) with it
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, output[-6000:]
    assert f"{len(SEEDS)} cases on local[2],spill: 0 differences" in output
