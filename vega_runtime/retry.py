"""Retrying with exponential backoff, in one place: how long to wait before each attempt.

>>> [round(backoff_delay(n, first=0.05, cap=1.0), 2) for n in range(6)]
[0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
>>> backoff_delay(3, first=1.0, cap=60.0, jitter=0.5, rand=1.0)  # shortened by up to half
4.0
"""

from __future__ import annotations

import random
from typing import Callable


def backoff_delay(attempt: int, first: float, cap: float, growth: float = 2.0,
                  jitter: float = 0.0, rand: float = 0.0) -> float:
    """The wait before retry ``attempt`` (0 for the first retry): ``first`` grown by
    ``growth`` each time up to ``cap``, then shortened by up to ``jitter`` of itself
    (``rand`` in [0, 1) picks how much), so many clients retrying at once spread out.
    Any number of attempts has a delay: a loop retrying for hours stays at ``cap`` (the
    growth alone passes the largest float after ~1,000 doublings: OverflowError).

    >>> backoff_delay(5000, first=0.1, cap=2.0)
    2.0
    """
    try:
        delay = min(cap, first * growth ** attempt)
    except OverflowError:
        delay = cap
    return delay * (1 - jitter * rand)


class Backoff:
    """The delays of one retry loop: ``next()`` before each retry, ``reset()`` after a
    success."""

    def __init__(self, first: float, cap: float, growth: float = 2.0, jitter: float = 0.0,
                 rand: Callable[[], float] = random.random):
        self.first, self.cap, self.growth, self.jitter, self.rand = first, cap, growth, jitter, rand
        self.attempts = 0

    def next(self) -> float:
        """Seconds to wait before the next attempt."""
        delay = backoff_delay(self.attempts, self.first, self.cap, self.growth, self.jitter,
                              self.rand() if self.jitter else 0.0)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
