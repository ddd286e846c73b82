"""Driver-side helpers shared by the benchmark job scripts.

Every job script is run as its own process by ``harness.py`` and prints exactly
one ``RESULT <json>`` line on stdout, which the harness compares across
engines. This module is deliberately import-light (the ``trivial`` workload
measures interpreter start-up plus imports) and is only used on the driver.
Functions shipped to workers live in the job script itself, or in a module of
this directory that the workers import (``teragen.py``): the harness puts this
directory on every job's ``PYTHONPATH``.
"""

import argparse
import glob
import json
import os

RESULT_PREFIX = "RESULT "
TOP_WORDS = 10


def parse_args(description):
    """Parse the arguments common to all jobs; each job uses what it needs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--input", help="corpus file or directory of files")
    parser.add_argument("--n", type=int, default=2_000_000, help="number of elements")
    parser.add_argument("--keys", type=int, default=100_000, help="number of distinct keys")
    parser.add_argument("--partitions", type=int, default=2, help="partitions of generated data")
    parser.add_argument("--master", default="local[2]", help="master URL (Vega and PySpark)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (Dask, baseline)")
    parser.add_argument("--out-partitions", type=int, default=8, help="partitions of a sort's output")
    parser.add_argument("--memory-bound", default="128m",
                        help="shuffle memory bound of the sort (vega.shuffle.memory_bound, "
                             "spark.python.worker.memory)")
    return parser.parse_args()


def emit(result):
    """Print the job's single result line."""
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)


def wordcount_result(distinct, top):
    """Canonical word-count result; ``top`` is ordered by (count, word) descending."""
    return {"distinct": distinct, "top10": [[word, count] for word, count in top]}


def input_files(path):
    """The sorted list of files under ``path`` (or ``[path]`` for a single file)."""
    if os.path.isdir(path):
        return sorted(p for p in glob.glob(os.path.join(path, "*")) if os.path.isfile(p))
    return [path]


def quiet_spark_env(python):
    """Point PySpark's workers at this interpreter (unless the caller already did)."""
    os.environ.setdefault("PYSPARK_PYTHON", python)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", python)


def spark_context(app_name, master="local[2]", settings=None):
    """A quiet ``SparkContext`` whose Python workers use this interpreter, with ``settings``."""
    import sys

    quiet_spark_env(sys.executable)
    from pyspark import SparkConf, SparkContext

    log4j = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2-quiet.properties")
    conf = (
        SparkConf()
        .setMaster(master)
        .setAppName(app_name)
        .set("spark.ui.enabled", "false")
        .set("spark.ui.showConsoleProgress", "false")
        .set("spark.driver.extraJavaOptions", "-Dlog4j2.configurationFile=" + log4j)
        .setAll(list((settings or {}).items()))
    )
    context = SparkContext(conf=conf)
    context.setLogLevel("ERROR")
    return context


def dask_compute(*collections, workers=2):
    """``dask.compute`` on the multiprocessing scheduler with ``workers`` processes.

    ``chunksize=1`` dispatches tasks one at a time: the default (6) batches
    the two partitions of a generated dataset into one chunk, so a single
    worker would do all the work (measured: pi 4.0 s vs 2.1 s at full size).
    """
    import dask

    return dask.compute(*collections, scheduler="processes", num_workers=workers, chunksize=1)


def split_range(n, parts):
    """Split ``range(n)`` into ``parts`` contiguous ``(start, stop)`` pairs."""
    bounds = [n * i // parts for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))
