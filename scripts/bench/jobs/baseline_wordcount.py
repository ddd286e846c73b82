"""Plain multiprocessing baseline: word count with a Counter per chunk, merged.

A large file is cut into ``CHUNK_BYTES`` byte ranges aligned to line ends; a
directory contributes one chunk per file. Each pool worker returns a Counter of
its chunk and the parent merges them.
"""

import heapq
import os
from collections import Counter
from multiprocessing import Pool

import jobutil

CHUNK_BYTES = 4 << 20


def line_aligned_ranges(path, chunk_bytes=CHUNK_BYTES):
    """``(path, start, end)`` byte ranges of ``path`` that end on a newline."""
    size = os.path.getsize(path)
    ranges = []
    start = 0
    with open(path, "rb") as handle:
        while start < size:
            handle.seek(min(start + chunk_bytes, size))
            handle.readline()
            end = min(handle.tell(), size)
            ranges.append((path, start, end))
            start = end
    return ranges


def count_words(task):
    """Counter of the words in one byte range."""
    path, start, end = task
    with open(path, "rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode("utf-8")
    return Counter(text.split())


def main():
    args = jobutil.parse_args(__doc__)
    tasks = [r for path in jobutil.input_files(args.input) for r in line_aligned_ranges(path)]
    total = Counter()
    with Pool(args.workers) as pool:
        chunksize = max(1, len(tasks) // (args.workers * 8))
        for partial in pool.imap_unordered(count_words, tasks, chunksize=chunksize):
            total.update(partial)
    top = heapq.nlargest(jobutil.TOP_WORDS, total.items(), key=lambda kv: (kv[1], kv[0]))
    jobutil.emit(jobutil.wordcount_result(len(total), top))


if __name__ == "__main__":
    main()
