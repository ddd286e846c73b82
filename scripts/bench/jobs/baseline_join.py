"""Plain multiprocessing baseline: each worker hash-joins its range of the left
side against the whole (small) right side and materialises the joined rows."""

from functools import partial
from multiprocessing import Pool

import jobutil


def join_range(keys, bounds):
    """Number of rows of (i % keys, i) joined with {k: -k for k in range(keys)}."""
    start, stop = bounds
    right = {k: -k for k in range(keys)}
    rows = []
    for i in range(start, stop):
        key = i % keys
        if key in right:
            rows.append((key, (i, right[key])))
    return len(rows)


def main():
    args = jobutil.parse_args(__doc__)
    with Pool(args.workers) as pool:
        ranges = jobutil.split_range(args.n, args.partitions)
        count = sum(pool.map(partial(join_range, args.keys), ranges))
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
