"""Plain multiprocessing baseline: count [1, 2, 3] with a 2-process pool (start-up cost)."""

from multiprocessing import Pool

import jobutil


def one(_):
    return 1


def main():
    args = jobutil.parse_args(__doc__)
    with Pool(args.workers) as pool:
        count = sum(pool.map(one, [1, 2, 3]))
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
