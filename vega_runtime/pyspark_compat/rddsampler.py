"""``pyspark.rddsampler``: PySpark's per-partition samplers, whose ``func(split, iterator)``
is what ``mapPartitionsWithIndex`` takes, over Vega's (``rdd/sampling.py``), which seed
each partition as PySpark does (the seed XOR the partition's index, then ten draws).

>>> sampler = RDDSampler(False, 0.5, seed=7)
>>> list(sampler.func(0, range(10))) == list(sampler.func(0, range(10)))
True
>>> list(RDDRangeSampler(0.0, 1.0, seed=7).func(3, "abc"))
['a', 'b', 'c']
>>> list(RDDStratifiedSampler(False, {"a": 1.0, "b": 0.0}, seed=7).func(0, [("a", 1), ("b", 2)]))
[('a', 1)]
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, Optional

from ..rdd.sampling import RangeSampler, Sampler, StratifiedSampler, new_seed


class RDDSamplerBase:
    """What the samplers share: a seed (a random one when none is given) and ``func``."""

    def __init__(self, sampler):
        self._sampler = sampler

    def func(self, split: int, iterator: Iterable) -> Iterator:
        return self._sampler(split, iter(iterator))


def _seed(seed: Optional[int]) -> int:
    return new_seed() if seed is None else seed


class RDDSampler(RDDSamplerBase):
    """``sample``'s: each record kept with probability ``fraction``, or, with replacement, a
    Poisson(``fraction``) number of times."""

    def __init__(self, withReplacement: bool, fraction: float, seed: Optional[int] = None):
        super().__init__(Sampler(withReplacement, fraction, _seed(seed)))


class RDDRangeSampler(RDDSamplerBase):
    """``randomSplit``'s: the records whose draw falls in ``[lowerBound, upperBound)``."""

    def __init__(self, lowerBound: float, upperBound: float, seed: Optional[int] = None):
        super().__init__(RangeSampler(lowerBound, upperBound, _seed(seed)))


class RDDStratifiedSampler(RDDSamplerBase):
    """``sampleByKey``'s: a fraction per key of ``(key, value)`` records."""

    def __init__(self, withReplacement: bool, fractions: Dict[Any, float],
                 seed: Optional[int] = None):
        super().__init__(StratifiedSampler(withReplacement, fractions, _seed(seed)))


__all__ = ["RDDSampler", "RDDRangeSampler", "RDDStratifiedSampler"]
