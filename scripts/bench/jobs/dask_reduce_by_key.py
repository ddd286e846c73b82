"""Dask bag: foldby (reduce by key with add) over generated (i % keys, i) pairs."""

from operator import add

import dask.bag as db

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    reduced = (
        db.range(args.n, npartitions=args.partitions)
        .map(lambda i: (i % keys, i))
        .foldby(lambda kv: kv[0], lambda acc, kv: acc + kv[1], 0, add, 0)
    )
    (count,) = jobutil.dask_compute(reduced.count(), workers=args.workers)
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
