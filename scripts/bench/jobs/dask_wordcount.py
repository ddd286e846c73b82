"""Dask bag: word count over a corpus file or a directory of files, as Dask's docs teach it:
``read_text(...).str.split().flatten().frequencies()``.

A single large file is read in ``BLOCKSIZE`` byte blocks (like Spark's input
splits; several per worker); a directory gives one partition per file.
"""

import os

import dask.bag as db

import jobutil

BLOCKSIZE = 16_000_000


def main():
    args = jobutil.parse_args(__doc__)
    pattern = os.path.join(args.input, "*") if os.path.isdir(args.input) else args.input
    counts = db.read_text(pattern, blocksize=BLOCKSIZE).str.split().flatten().frequencies()
    distinct, top = jobutil.dask_compute(
        counts.count(),
        counts.topk(jobutil.TOP_WORDS, key=lambda kv: (kv[1], kv[0])),
        workers=args.workers,
    )
    jobutil.emit(jobutil.wordcount_result(distinct, top))


if __name__ == "__main__":
    main()
