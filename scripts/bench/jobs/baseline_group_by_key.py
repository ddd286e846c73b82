"""Plain multiprocessing baseline: per-worker dict of lists, merged, then lengths."""

from collections import defaultdict
from functools import partial
from multiprocessing import Pool

import jobutil


def partial_groups(keys, bounds):
    """The values grouped per key for the pairs (i % keys, i) of one range."""
    start, stop = bounds
    groups = defaultdict(list)
    for i in range(start, stop):
        groups[i % keys].append(i)
    return groups


def main():
    args = jobutil.parse_args(__doc__)
    merged = defaultdict(list)
    with Pool(args.workers) as pool:
        ranges = jobutil.split_range(args.n, args.partitions)
        for groups in pool.imap_unordered(partial(partial_groups, args.keys), ranges):
            for key, values in groups.items():
                merged[key].extend(values)
    sizes = {key: len(values) for key, values in merged.items()}
    jobutil.emit({"count": len(sizes)})


if __name__ == "__main__":
    main()
