"""Per-partition samplers with PySpark's seeding: seed XOR partition index."""

from __future__ import annotations

import bisect
import itertools
import math
import random
import sys
from collections import deque
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple


def new_seed() -> int:
    return random.SystemRandom().randint(0, sys.maxsize)


def partition_rng(seed: int, partition: int) -> random.Random:
    rng = random.Random(seed ^ partition)
    for _ in range(10):  # the seeds of neighbouring partitions are close: mix them
        rng.randint(0, 1)
    return rng


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method for small means, a normal approximation for large ones."""
    if mean > 30:
        return max(0, int(round(rng.gauss(mean, math.sqrt(mean)))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class Sampler:
    """``sample(with_replacement, fraction, seed)`` for one partition."""

    def __init__(self, with_replacement: bool, fraction: float, seed: int):
        self.with_replacement, self.fraction, self.seed = with_replacement, fraction, seed

    def __call__(self, partition: int, records: Iterator) -> Iterator:
        rng = partition_rng(self.seed, partition)
        fraction = self.fraction
        if self.with_replacement:
            for record in records:
                for _ in range(poisson(rng, fraction)):
                    yield record
        else:
            draw = rng.random
            for record in records:
                if draw() < fraction:
                    yield record


class RangeSampler:
    """Keeps records whose draw falls in [lower, upper): the pieces of random_split."""

    def __init__(self, lower: float, upper: float, seed: int):
        self.lower, self.upper, self.seed = lower, upper, seed

    def __call__(self, partition: int, records: Iterator) -> Iterator:
        draw = partition_rng(self.seed, partition).random
        lower, upper = self.lower, self.upper
        for record in records:
            if lower <= draw() < upper:
                yield record


class StratifiedSampler:
    """``sample_by_key``: a fraction per key."""

    def __init__(self, with_replacement: bool, fractions: Dict[Any, float], seed: int):
        self.with_replacement, self.fractions, self.seed = with_replacement, fractions, seed

    def __call__(self, partition: int, records: Iterator) -> Iterator:
        rng = partition_rng(self.seed, partition)
        for record in records:
            fraction = self.fractions[record[0]]
            if self.with_replacement:
                for _ in range(poisson(rng, fraction)):
                    yield record
            elif rng.random() < fraction:
                yield record


def fraction_for_sample_size(lower_bound: int, total: int, with_replacement: bool) -> float:
    """PySpark's oversampling so that one pass almost always yields enough."""
    fraction = float(lower_bound) / total
    if with_replacement:
        num_stdev = 9 if lower_bound < 12 else 5
        return fraction + num_stdev * math.sqrt(fraction / total)
    delta = 0.00005
    gamma = -math.log(delta) / total
    return min(1.0, fraction + gamma + math.sqrt(gamma * gamma + 2 * gamma * fraction))


class KeySketch:
    """One pass over a partition of ``(key, value)`` records: its record count and a uniform
    sample of at most ``size`` keys (Spark's RangePartitioner sketch; reservoir sampling by
    Li's algorithm L, which draws random numbers only for the records it keeps, so the
    records in between are skipped at C speed)."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed = size, seed

    def __call__(self, partition: int, records: Iterator) -> Iterator[Tuple[int, List[Any]]]:
        rng = partition_rng(self.seed, partition)
        size = self.size
        numbered = zip(itertools.count(1), records)
        reservoir = [kv[0] for _, kv in itertools.islice(numbered, size)]
        count = len(reservoir)
        if count == size and size > 0:
            weight = math.exp(math.log(1.0 - rng.random()) / size)
            while True:
                skip = int(math.log(1.0 - rng.random()) / math.log(1.0 - weight)) if weight < 1.0 else 0
                last = deque(itertools.islice(numbered, skip + 1), maxlen=1)
                if not last:
                    break
                position, (key, _) = last[0]
                if position < count + skip + 1:  # the partition ended within the skip
                    count = position
                    break
                count = position
                reservoir[rng.randrange(size)] = key
                weight *= math.exp(math.log(1.0 - rng.random()) / size)
        yield count, reservoir


def range_bounds(sketches: Sequence[Tuple[int, List[Any]]], partitions: int,
                 key_func: Callable[[Any], Any]) -> List[Any]:
    """``partitions - 1`` bounds (of ``key_func(key)``) cutting the sampled keys into parts of
    equal weight, each sampled key standing for ``count / len(sample)`` records of its
    partition (Spark's ``determineBounds``); no bounds when nothing was sampled.

    >>> range_bounds([(4, [1, 2, 3, 4]), (40, [10, 20, 30, 40])], 2, lambda k: k)
    [20]
    """
    candidates = sorted((key_func(key), count / len(sample))
                        for count, sample in sketches if sample for key in sample)
    if not candidates:
        return []
    cumulative = list(itertools.accumulate(weight for _, weight in candidates))
    step = cumulative[-1] / partitions
    last = len(candidates) - 1
    return [candidates[min(bisect.bisect_left(cumulative, step * (i + 1)), last)][0]
            for i in range(partitions - 1)]
