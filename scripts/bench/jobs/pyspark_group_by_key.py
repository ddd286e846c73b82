"""PySpark: groupByKey().mapValues(len) over generated (i % keys, i) pairs."""

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    with jobutil.spark_context("bench-group-by-key") as sc:
        count = (
            sc.parallelize(range(args.n), args.partitions)
            .map(lambda i: (i % keys, i))
            .groupByKey()
            .mapValues(len)
            .count()
        )
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
