"""Dask bag: Monte Carlo estimate of pi with a per-element Python function."""

import random

import dask.bag as db

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    hits_bag = (
        db.range(args.n, npartitions=args.partitions)
        .map(lambda _: 1 if random.random() ** 2 + random.random() ** 2 <= 1 else 0)
        .sum()
    )
    (hits,) = jobutil.dask_compute(hits_bag, workers=args.workers)
    jobutil.emit({"pi": 4.0 * hits / args.n})


if __name__ == "__main__":
    main()
