"""TeraSort-style records and their validation, shared by every engine's sort job.

A record is a 10-byte random key and a 90-byte value. Records are generated in
blocks of ``BLOCK_RECORDS``: block ``b`` draws its keys from
``random.Random(seed * 2**32 + b)``, so the data set depends only on the record
count and the seed, never on how an engine partitions it. The value of record
``i`` is its row id as 32 hex digits and 58 filler bytes (as TeraGen's).

Validation (TeraValidate's checks): every output partition is summarised as
``[index, count, first key, last key, sorted?, sum of crc32(key)]``; the job
checks that the partitions are each sorted and in global order, and reports the
count and the key checksum, which the harness compares with ``expected``.

The harness puts this directory on every job's ``PYTHONPATH`` so the engines'
worker processes can import this module.
"""

import itertools
import operator
import random
import zlib

KEY_BYTES = 10
VALUE_BYTES = 90
BLOCK_RECORDS = 10_000
DEFAULT_SEED = 15
_FILLER = [bytes([ord("A") + (i + j) % 26 for j in range(VALUE_BYTES - 32)]) for i in range(26)]


def num_blocks(records):
    """How many generation blocks ``records`` records take (the last may be short)."""
    return -(-records // BLOCK_RECORDS)


def block_records(block, records, seed=DEFAULT_SEED):
    """The ``(key, value)`` records of generation block ``block`` of a ``records``-record set
    (an iterator over them, built a block at a time: generating is not what is measured)."""
    start = block * BLOCK_RECORDS
    stop = min(start + BLOCK_RECORDS, records)
    if stop <= start:
        return iter(())
    keys = random.Random(seed * 2**32 + block).randbytes((stop - start) * KEY_BYTES)
    filler = _FILLER
    return zip([keys[i:i + KEY_BYTES] for i in range(0, len(keys), KEY_BYTES)],
               [b"%032x" % row + filler[row % 26] for row in range(start, stop)])


def summarize(index, records):
    """One summary row ``[index, count, first, last, sorted, checksum]`` of a sorted partition
    (checked a chunk of records at a time, with C-level loops)."""
    count, checksum, ordered = 0, 0, True
    first = previous = None
    records = iter(records)
    crc = zlib.crc32
    while True:
        chunk = list(itertools.islice(records, 65536))
        if not chunk:
            break
        keys = [key for key, _ in chunk]
        ordered = (ordered and (previous is None or previous <= keys[0])
                   and all(map(operator.le, keys, itertools.islice(keys, 1, None)))
                   and {len(value) for _, value in chunk} == {VALUE_BYTES})
        if first is None:
            first = keys[0]
        previous = keys[-1]
        count += len(keys)
        checksum += sum(map(crc, keys))
    return [[index, count, first and first.hex(), previous and previous.hex(), ordered, checksum]]


def validate(summaries):
    """The job's result from the partitions' summaries: count, checksum, global order."""
    rows = sorted(summaries)
    ordered = all(row[4] for row in rows)
    bounds = [(row[2], row[3]) for row in rows if row[1]]
    ordered = ordered and all(bounds[i][1] <= bounds[i + 1][0] for i in range(len(bounds) - 1))
    return {"count": sum(row[1] for row in rows), "checksum": sum(row[5] for row in rows),
            "ordered": ordered, "partitions": len(rows)}


def expected(records, seed=DEFAULT_SEED, partitions=8):
    """What ``validate`` must return for a correct sort of the generated records."""
    checksum = 0
    crc = zlib.crc32
    for block in range(num_blocks(records)):
        checksum += sum(crc(key) for key, _ in block_records(block, records, seed))
    return {"count": records, "checksum": checksum, "ordered": True, "partitions": partitions}
