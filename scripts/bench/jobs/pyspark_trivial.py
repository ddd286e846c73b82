"""PySpark: parallelize([1, 2, 3]).count(), timed as a whole process (start-up cost)."""

import jobutil


def main():
    jobutil.parse_args(__doc__)
    with jobutil.spark_context("bench-trivial") as sc:
        count = sc.parallelize([1, 2, 3]).count()
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
