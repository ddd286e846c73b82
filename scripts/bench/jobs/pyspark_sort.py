"""PySpark: TeraSort-style sortByKey of generated 100-byte records, validated per partition.

``spark.python.worker.memory`` bounds what a Python worker holds while sorting
(PySpark's ExternalSorter spills past it), as ``vega.shuffle.memory_bound`` does for Vega.
"""

import jobutil
import teragen


def main():
    args = jobutil.parse_args(__doc__)
    records = args.n
    settings = {"spark.python.worker.memory": args.memory_bound}
    with jobutil.spark_context("bench-sort", args.master, settings) as sc:
        summaries = (
            sc.parallelize(range(teragen.num_blocks(records)), args.partitions)
            .flatMap(lambda block: teragen.block_records(block, records))
            .sortByKey(numPartitions=args.out_partitions)
            .mapPartitionsWithIndex(teragen.summarize)
            .collect()
        )
    jobutil.emit(teragen.validate(summaries))


if __name__ == "__main__":
    main()
