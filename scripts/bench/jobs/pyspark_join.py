"""PySpark: join n pairs (i % keys, i) with one pair per key; count the rows."""

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    with jobutil.spark_context("bench-join") as sc:
        left = sc.parallelize(range(args.n), args.partitions).map(lambda i: (i % keys, i))
        right = sc.parallelize(range(keys), args.partitions).map(lambda k: (k, -k))
        count = left.join(right).count()
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
