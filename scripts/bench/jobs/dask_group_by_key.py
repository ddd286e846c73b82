"""Dask bag: groupby(key) then per-group length over generated (i % keys, i) pairs."""

import dask.bag as db

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    sizes = (
        db.range(args.n, npartitions=args.partitions)
        .map(lambda i: (i % keys, i))
        .groupby(lambda kv: kv[0])
        .map(lambda group: (group[0], len(group[1])))
    )
    (count,) = jobutil.dask_compute(sizes.count(), workers=args.workers)
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
