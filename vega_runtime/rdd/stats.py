"""Numeric summaries: StatCounter (Welford), histogram buckets, HyperLogLog."""

from __future__ import annotations

import math
from typing import Iterable, List, Optional, Tuple

from .. import aliases
from ..lazy_imports import lazy_module

#: loads OpenSSL's libcrypto: only when a sketch first hashes a string (every job imports this module)
hashlib = lazy_module("hashlib")


class StatCounter:
    """Count, mean, variance, min and max in one pass, mergeable across partitions.

    >>> s = StatCounter([1.0, 2.0, 3.0, 4.0])
    >>> s.count(), s.mean(), s.variance(), s.sample_variance()
    (4, 2.5, 1.25, 1.6666666666666667)
    """

    def __init__(self, values: Optional[Iterable] = None):
        self.n = 0
        self.mu = 0.0
        self.m2 = 0.0
        self.max_value = float("-inf")
        self.min_value = float("inf")
        for v in values or ():
            self.merge(v)

    def merge(self, value) -> "StatCounter":
        delta = value - self.mu
        self.n += 1
        self.mu += delta / self.n
        self.m2 += delta * (value - self.mu)
        self.max_value = _greater(self.max_value, value)
        self.min_value = _lesser(self.min_value, value)
        return self

    def merge_stats(self, other: "StatCounter") -> "StatCounter":
        if not isinstance(other, StatCounter):
            raise TypeError(f"Can only merge StatCounter but got {type(other)}")  # PySpark's
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mu, self.m2 = other.n, other.mu, other.m2
            self.max_value, self.min_value = other.max_value, other.min_value
            return self
        delta = other.mu - self.mu
        total = self.n + other.n
        if other.n * 10 < self.n:
            self.mu += delta * other.n / total
        elif self.n * 10 < other.n:
            self.mu = other.mu - delta * self.n / total
        else:
            self.mu = (self.mu * self.n + other.mu * other.n) / total
        self.m2 += other.m2 + delta * delta * self.n * other.n / total
        self.n = total
        self.max_value = _greater(self.max_value, other.max_value)
        self.min_value = _lesser(self.min_value, other.min_value)
        return self

    # PySpark's names of the fields (its StatCounter's are public attributes)
    @property
    def maxValue(self):  # noqa: N802 - PySpark's name
        return self.max_value

    @maxValue.setter
    def maxValue(self, value) -> None:  # noqa: N802
        self.max_value = value

    @property
    def minValue(self):  # noqa: N802 - PySpark's name
        return self.min_value

    @minValue.setter
    def minValue(self, value) -> None:  # noqa: N802
        self.min_value = value

    def copy(self) -> "StatCounter":
        """An independent StatCounter with the same statistics (PySpark's ``copy``)."""
        return StatCounter().merge_stats(self)

    def count(self) -> int:
        return self.n

    def mean(self) -> float:
        """The mean; 0.0 when empty, as PySpark's."""
        return self.mu

    def sum(self) -> float:
        return self.n * self.mu

    def min(self) -> float:
        """The smallest value, a float as PySpark's (``inf`` when empty)."""
        return float(self.min_value)

    def max(self) -> float:
        """The largest value, a float as PySpark's (``-inf`` when empty)."""
        return float(self.max_value)

    def variance(self) -> float:
        return self.m2 / self.n if self.n else float("nan")

    def sample_variance(self) -> float:
        return self.m2 / (self.n - 1) if self.n > 1 else float("nan")

    def stdev(self) -> float:
        return math.sqrt(self.variance())

    def sample_stdev(self) -> float:
        return math.sqrt(self.sample_variance())

    def as_dict(self, sample: bool = False) -> dict:
        """The members as a dict, as PySpark's ``asDict`` gives them: note that, there, the
        default (``sample=False``) reports the *sample* stdev and variance and
        ``sample=True`` the population ones.

        >>> StatCounter([1.0, 2.0, 3.0, 4.0]).as_dict()["variance"]
        1.6666666666666667
        """
        return {"count": self.count(), "mean": self.mean(), "sum": self.sum(),
                "min": self.min(), "max": self.max(),
                "stdev": self.stdev() if sample else self.sample_stdev(),
                "variance": self.variance() if sample else self.sample_variance()}

    def __repr__(self) -> str:
        return (f"(count: {self.count()}, mean: {self.mean()}, stdev: {self.stdev()}, "
                f"max: {self.max()}, min: {self.min()})")


def _greater(a, b):
    """``max(a, b)``, but NaN if either is NaN (PySpark's ``numpy.maximum``, Spark's
    ``math.max``): Python's ``max`` keeps whichever of a NaN and a number came first.

    >>> _greater(1.0, float("nan")), _greater(float("nan"), 1.0), _greater(1, 2)
    (nan, nan, 2)
    """
    if a != a:
        return a
    return b if b != b or b > a else a


def _lesser(a, b):
    """``min(a, b)``, but NaN if either is NaN (see ``_greater``)."""
    if a != a:
        return a
    return b if b != b or b < a else a


aliases.install(StatCounter, aliases.STAT_COUNTER_METHODS)


class BoundedFloat(float):
    """An approximate result: the value with its confidence and bounds (PySpark's).

    >>> b = BoundedFloat(10.0, 0.95, 9.0, 11.0)
    >>> b, b.confidence, b.low, b.high
    (10.0, 0.95, 9.0, 11.0)
    """

    def __new__(cls, mean: float, confidence: float, low: float, high: float):
        obj = super().__new__(cls, mean)
        obj.confidence, obj.low, obj.high = confidence, low, high
        return obj

    def __reduce__(self):
        return (BoundedFloat, (float(self), self.confidence, self.low, self.high))


def estimate_sum(partials: List[float], total_partitions: int, confidence: float) -> BoundedFloat:
    """The total of ``total_partitions`` partition sums from the ``partials`` known so far:
    their mean scaled up, with a normal interval over the partitions still missing.

    >>> estimate_sum([10, 20], 2, 0.95)
    30.0
    >>> b = estimate_sum([10, 20], 4, 0.95); (b, b.low < 60 < b.high)
    (60.0, True)
    """
    known = len(partials)
    if known == total_partitions:  # exact: certain, as Spark's evaluators say (1.0)
        total = float(sum(partials))
        return BoundedFloat(total, 1.0, total, total)
    if known == 0:
        return BoundedFloat(0.0, 0.0, float("-inf"), float("inf"))
    mean = sum(partials) / known
    import statistics  # here, not at start-up: it imports fractions and decimal

    spread = statistics.stdev(partials) if known > 1 else abs(mean)
    error = total_partitions * spread / math.sqrt(known) * \
        math.sqrt((total_partitions - known) / total_partitions)
    margin = _z(confidence) * error
    estimate = mean * total_partitions
    return BoundedFloat(estimate, confidence, estimate - margin, estimate + margin)


def estimate_mean(partials: List["StatCounter"], total_partitions: int,
                  confidence: float) -> BoundedFloat:
    """The mean of all records from the partitions' StatCounters known so far."""
    merged = StatCounter()
    for part in partials:
        merged.merge_stats(part)
    if len(partials) == total_partitions:  # exact: certain, as Spark's evaluators say (1.0)
        mean = float(merged.mean())
        return BoundedFloat(mean, 1.0, mean, mean)
    if merged.count() == 0:
        return BoundedFloat(float("nan"), 0.0, float("-inf"), float("inf"))
    margin = _z(confidence) * merged.stdev() / math.sqrt(merged.count())
    return BoundedFloat(merged.mean(), confidence, merged.mean() - margin, merged.mean() + margin)


def _z(confidence: float) -> float:
    """Standard deviations either side of a normal mean that hold ``confidence`` of it."""
    if confidence >= 1.0:
        return float("inf")
    import statistics

    return statistics.NormalDist().inv_cdf((1 + confidence) / 2)


def _is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def histogram_buckets(buckets, min_max_count):
    """Validate or build bucket boundaries; returns (buckets, even, inc).

    ``min_max_count`` is called only for an integer bucket count and returns
    (min, max, count) of the comparable values.
    """
    if isinstance(buckets, int):
        if buckets < 1:
            raise ValueError("number of buckets must be >= 1")
        lo, hi, count = min_max_count()
        if lo == hi or buckets == 1:
            return [lo, hi], None, None, count
        try:
            inc = (hi - lo) / buckets
        except TypeError:
            raise TypeError("Can not generate buckets with non-number in RDD") from None
        if math.isinf(inc):
            raise ValueError("Can not generate buckets with infinite value")
        inc_int = int(inc)
        inc = inc_int if inc_int * buckets == hi - lo else (hi - lo) * 1.0 / buckets
        bounds = [i * inc + lo for i in range(buckets)]
        bounds.append(hi)
        return bounds, True, inc, None
    if isinstance(buckets, (list, tuple)):
        if len(buckets) < 2:
            raise ValueError("buckets should have more than one value")
        if any(_is_missing(b) for b in buckets):
            raise ValueError("can not have None or NaN in buckets")
        if sorted(buckets) != list(buckets):
            raise ValueError("buckets should be sorted")
        if len(set(buckets)) != len(buckets):
            raise ValueError("buckets should not contain duplicated values")
        bounds = buckets
        try:
            steps = [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]
        except TypeError:
            return bounds, False, None, None
        if max(steps) - min(steps) < 1e-10:
            return bounds, True, (bounds[-1] - bounds[0]) / (len(bounds) - 1), None
        return bounds, False, None, None
    raise TypeError("buckets should be a list or tuple or number(int or long)")


def count_into_buckets(values: Iterable, bounds: List, even: bool, inc) -> List[int]:
    import bisect

    lo, hi = bounds[0], bounds[-1]
    counters = [0] * len(bounds)
    for v in values:
        if _is_missing(v) or v > hi or v < lo:
            continue
        t = int((v - lo) / inc) if even else bisect.bisect_right(bounds, v) - 1
        counters[t] += 1
    last = counters.pop()  # the last bucket is closed: [b[-2], b[-1]]
    counters[-1] += last
    return counters


# -- HyperLogLog for count_approx_distinct ----------------------------------

def _mix64(x: int) -> int:
    """splitmix64 finaliser: spreads Python's hash (ints hash to themselves)."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def stable_hash64(value) -> int:
    """A 64-bit hash that is the same in every process and on every host.

    ``hash()`` of strings and bytes changes with each process's hash seed, so
    sketches built on different executors would disagree; strings and bytes
    hash with BLAKE2b instead, ``None`` to 0, tuples element-wise, numbers via ``hash()``
    (deterministic for them), spread with splitmix64.
    """
    kind = type(value)
    if kind is str:
        value = value.encode("utf-8", "surrogatepass")
        kind = bytes
    if kind is bytes:
        return int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "little")
    if value is None:  # hash(None) is its address before Python 3.12
        return 0
    if kind is tuple:
        h = 0x345678
        for item in value:
            h = _mix64(h ^ stable_hash64(item))
        return h
    return _mix64(hash(value) & 0xFFFFFFFFFFFFFFFF)


def hll_precision(relative_sd: float) -> int:
    """HyperLogLog's precision for ``relative_sd``, 4 to 18 (an infinite one asks for no
    accuracy: 4, as Spark's; NaN is refused as too small a one).

    >>> hll_precision(0.05), hll_precision(float("inf"))
    (9, 4)
    """
    if not relative_sd >= 0.000017:  # NaN too
        raise ValueError("relativeSD should be greater than 0.000017")
    if math.isinf(relative_sd):
        return 4
    p = math.ceil(2.0 * math.log(1.054 / relative_sd) / math.log(2))
    return max(4, min(p, 18))


def hll_registers(values: Iterable, p: int) -> bytearray:
    return hll_sketch(values, p)[0]


def hll_sketch(values: Iterable, p: int) -> Tuple[bytearray, Optional[frozenset]]:
    """One partition's sketch: HyperLogLog's ``1 << p`` registers, and the exact set of the
    values' 64-bit hashes as long as it holds at most ``1 << p`` of them, so that small
    counts are exact (what HyperLogLog++'s sparse representation achieves)."""
    m = 1 << p
    registers = bytearray(m)
    hashes: Optional[set] = set()
    shift = 64 - p
    for v in values:
        h = stable_hash64(v)
        if hashes is not None:
            hashes.add(h)
            if len(hashes) > m:
                hashes = None
        index = h >> shift
        rest = (h << p) & 0xFFFFFFFFFFFFFFFF
        rank = (64 - p + 1) if rest == 0 else (64 - rest.bit_length() + 1)
        if rank > registers[index]:
            registers[index] = rank
    return registers, None if hashes is None else frozenset(hashes)


def hll_merge(a: tuple, b: tuple) -> tuple:
    registers = bytearray(max(x, y) for x, y in zip(a[0], b[0]))
    hashes = a[1] | b[1] if a[1] is not None and b[1] is not None else None
    return registers, hashes if hashes is not None and len(hashes) <= len(registers) else None


def hll_count(sketch: tuple) -> int:
    """The number of distinct values a merged sketch saw: exact while small, else estimated."""
    registers, hashes = sketch
    return len(hashes) if hashes is not None else hll_estimate(registers)


def hll_estimate(registers: bytearray) -> int:
    m = len(registers)
    alpha = {16: 0.673, 32: 0.697, 64: 0.709}.get(m, 0.7213 / (1 + 1.079 / m))
    estimate = alpha * m * m / sum(2.0 ** -r for r in registers)
    zeros = registers.count(0)
    if estimate <= 2.5 * m and zeros:
        estimate = m * math.log(m / zeros)
    return int(round(estimate))

