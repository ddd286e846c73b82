"""Dask bag: from_sequence([1, 2, 3]).count(), timed as a whole process (start-up cost)."""

import dask.bag as db

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    (count,) = jobutil.dask_compute(db.from_sequence([1, 2, 3]).count(), workers=args.workers)
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
