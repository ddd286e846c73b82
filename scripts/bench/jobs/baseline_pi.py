"""Plain multiprocessing baseline: Monte Carlo pi, per-element Python function."""

import random
from multiprocessing import Pool

import jobutil


def hit(_):
    return 1 if random.random() ** 2 + random.random() ** 2 <= 1 else 0


def count_hits(bounds):
    """Number of samples inside the unit quarter circle for one range."""
    start, stop = bounds
    return sum(map(hit, range(start, stop)))


def main():
    args = jobutil.parse_args(__doc__)
    with Pool(args.workers) as pool:
        hits = sum(pool.map(count_hits, jobutil.split_range(args.n, args.partitions)))
    jobutil.emit({"pi": 4.0 * hits / args.n})


if __name__ == "__main__":
    main()
