"""Per-partition samplers with PySpark's seeding: seed XOR partition index."""

from __future__ import annotations

import math
import random
import sys
from typing import Any, Dict, Iterator


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
