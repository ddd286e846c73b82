"""PySpark: reduceByKey(add) over generated (i % keys, i) pairs."""

from operator import add

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    with jobutil.spark_context("bench-reduce-by-key") as sc:
        count = (
            sc.parallelize(range(args.n), args.partitions)
            .map(lambda i: (i % keys, i))
            .reduceByKey(add)
            .count()
        )
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
