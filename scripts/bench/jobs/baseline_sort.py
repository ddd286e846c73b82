"""Plain multiprocessing baseline: an external sort of the generated records.

Map: ``Pool(2)`` workers generate the input splits and append each record (100
bytes: key then value) to the file of its output partition; the partitions
split the key space evenly on the key's first two bytes (the keys are uniform,
which the engines find out by sampling). Reduce: a worker reads one
partition's file in runs of at most ``--memory-bound`` bytes of records, sorts
each run in memory (spilling it to a run file when there are more), merges the
runs with ``heapq.merge`` and summarises the partition. Every file is removed.
"""

import heapq
import os
import shutil
import tempfile
from functools import partial
from multiprocessing import Pool

import jobutil
import teragen

RECORD = teragen.KEY_BYTES + teragen.VALUE_BYTES
BYTES_PER_RECORD_IN_MEMORY = RECORD + 33 + 8  # a bytes object and its list slot


def parse_size(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].lower()]) if text[-1].lower() in units else int(text)


def map_split(records, partitions, directory, task):
    """Partition the records of ``blocks`` into one file per output partition."""
    index, blocks = task
    outs = [open(os.path.join(directory, f"map{index}-part{p}"), "wb", buffering=1 << 20)
            for p in range(partitions)]
    try:
        for block in blocks:
            for key, value in teragen.block_records(block, records):
                outs[(key[0] << 8 | key[1]) * partitions >> 16].write(key + value)
    finally:
        for out in outs:
            out.close()


def stream_records(path):
    with open(path, "rb", buffering=1 << 20) as handle:
        while True:
            record = handle.read(RECORD)
            if not record:
                return
            yield record


def reduce_partition(maps, directory, memory_bound, partition):
    """Sort one output partition within the memory bound and summarise it."""
    per_run = max(1, memory_bound // BYTES_PER_RECORD_IN_MEMORY)
    runs, buffer = [], []
    for index in range(maps):
        path = os.path.join(directory, f"map{index}-part{partition}")
        with open(path, "rb", buffering=1 << 20) as handle:
            while True:
                data = handle.read((per_run - len(buffer)) * RECORD)
                if not data:
                    break
                buffer += [data[i:i + RECORD] for i in range(0, len(data), RECORD)]
                if len(buffer) >= per_run:
                    runs.append(spill(sorted(buffer), directory, partition, len(runs)))
                    buffer = []
        os.unlink(path)
    buffer.sort()
    merged = heapq.merge(*(stream_records(run) for run in runs), buffer) if runs else buffer
    summary = teragen.summarize(partition, ((r[:teragen.KEY_BYTES], r[teragen.KEY_BYTES:]) for r in merged))
    for run in runs:
        os.unlink(run)
    return summary[0]


def spill(records, directory, partition, number):
    path = os.path.join(directory, f"run-part{partition}-{number}")
    with open(path, "wb", buffering=1 << 20) as out:
        out.write(b"".join(records))
    return path


def main():
    args = jobutil.parse_args(__doc__)
    records, partitions = args.n, args.out_partitions
    blocks = list(range(teragen.num_blocks(records)))
    splits = [(i, blocks[start:stop]) for i, (start, stop)
              in enumerate(jobutil.split_range(len(blocks), args.partitions))]
    directory = tempfile.mkdtemp(prefix="baseline-sort-")
    try:
        with Pool(args.workers) as pool:
            pool.map(partial(map_split, records, partitions, directory), splits, chunksize=1)
            summaries = pool.map(partial(reduce_partition, len(splits), directory,
                                         parse_size(args.memory_bound)), range(partitions), chunksize=1)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    jobutil.emit(teragen.validate(summaries))


if __name__ == "__main__":
    main()
