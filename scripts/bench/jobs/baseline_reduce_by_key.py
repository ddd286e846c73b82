"""Plain multiprocessing baseline: per-worker dict of sums, merged in the parent."""

from functools import partial
from multiprocessing import Pool

import jobutil


def partial_sums(keys, bounds):
    """Sum of the values per key for the pairs (i % keys, i) of one range."""
    start, stop = bounds
    sums = {}
    for i in range(start, stop):
        key = i % keys
        sums[key] = sums.get(key, 0) + i
    return sums


def main():
    args = jobutil.parse_args(__doc__)
    merged = {}
    with Pool(args.workers) as pool:
        ranges = jobutil.split_range(args.n, args.partitions)
        for sums in pool.imap_unordered(partial(partial_sums, args.keys), ranges):
            for key, value in sums.items():
                merged[key] = merged.get(key, 0) + value
    jobutil.emit({"count": len(merged)})


if __name__ == "__main__":
    main()
