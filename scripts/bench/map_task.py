"""One map task of the reduce-by-key bench job, in process: the map side alone.

    python scripts/bench/map_task.py [--records N] [--fold add|group] [--combine-only]

Runs ``map(lambda i: (i % keys, i))`` over ``range(N)`` into ``reduce_by_key(add)``'s
(``--fold add``) or ``group_by_key``'s (``--fold group``) map-side combine and writes
the shuffle output (2 reduce partitions, 100,000 keys) as an executor's map task does,
the lambda's source read as ``rdd.map`` reads it; prints the CPU seconds. For
instruction counts, run it under ``valgrind --tool=callgrind`` with ``--records 0`` and
``--records 1000000`` and subtract (the interpreter's start-up and imports).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from operator import add

from vega_runtime.lambda_fusion import lambda_source
from vega_runtime.rdd.aggregator import GROUPING, reducing
from vega_runtime.rdd.dependency import ShuffleDependency
from vega_runtime.rdd.partitioner import HashPartitioner
from vega_runtime.shuffle.writer import _combined_chunks, write_map_output
from vega_runtime.user_code import map_records

KEYS = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--fold", choices=("add", "group"), default="add")
    parser.add_argument("--combine-only", action="store_true",
                        help="combine into the dict, do not bucket and write it")
    args = parser.parse_args()
    keys = KEYS
    f = lambda i: (i % keys, i)  # noqa: E731 - the bench job's lambda
    records = map_records(f, iter(range(args.records)), lambda_source(f))
    dep = ShuffleDependency(None, 0, HashPartitioner(2),
                            reducing(add) if args.fold == "add" else GROUPING, True)
    with tempfile.TemporaryDirectory() as scratch:
        started = time.process_time()
        if args.combine_only:
            list(_combined_chunks(records, dep.aggregator, 1 << 40))
        else:
            write_map_output(records, dep, os.path.join(scratch, "data"),
                             os.path.join(scratch, "index"), 1 << 40, 10_000)
        print(f"{time.process_time() - started:.3f} s CPU")


if __name__ == "__main__":
    main()
