"""Dask bag: join n pairs (i % keys, i) with one pair per key; count the rows.

``Bag.join`` needs the smaller side as a single-partition bag (it is hashed
in memory and streamed against every partition of the larger side).
"""

import dask.bag as db

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    left = db.range(args.n, npartitions=args.partitions).map(lambda i: (i % keys, i))
    right = db.range(keys, npartitions=1).map(lambda k: (k, -k))
    joined = left.join(right, on_self=lambda kv: kv[0], on_other=lambda kv: kv[0])
    (count,) = jobutil.dask_compute(joined.count(), workers=args.workers)
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
