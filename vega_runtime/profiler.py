"""PySpark's Python profiler for RDD stages (``vega.python.profile``; Spark's
``spark.python.profile``): each task of a stage runs under ``cProfile``, and the stats of
all its tasks add up, per RDD, in an accumulator on the driver.

``Context.show_profiles()`` prints them, ``Context.dump_profiles(path)`` writes one
``rdd_<id>.pstats`` per RDD (read it with ``pstats.Stats``), and at the Context's exit they
are shown, or dumped to ``vega.python.profile.dump`` when set, as PySpark does.  A profiler
is made per RDD a stage computes (the RDD whose partitions its tasks compute: a shuffle's
map side, or the RDD an action runs on), by ``profiler_cls`` (``BasicProfiler``; a custom
one overrides ``profile``, ``stats``, ``show`` and ``dump``: PySpark's developer API).
"""

from __future__ import annotations

import atexit
import cProfile
import os
import pstats
from typing import Any, Callable, Dict, List, Optional, Type

from .shared import AccumulatorParam


class PStatsParam(AccumulatorParam):
    """Adds up ``pstats.Stats`` (``None``: nothing profiled yet)."""

    @staticmethod
    def zero(value: Optional[pstats.Stats]) -> None:
        return None

    @staticmethod
    def addInPlace(value1: Optional[pstats.Stats],
                   value2: Optional[pstats.Stats]) -> Optional[pstats.Stats]:
        if value1 is None:
            return value2
        if value2 is not None:
            value1.add(value2)
        return value1


class Profiler:
    """A profiler of one RDD's tasks: made on the driver (``profiler_cls(ctx)``), shipped
    with the stage, its ``profile`` run around each task on the executors."""

    def __init__(self, ctx: Any) -> None:
        pass

    def profile(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` profiled; return what it returns."""
        raise NotImplementedError(f"{type(self).__name__} must define profile()")

    def stats(self) -> Optional[pstats.Stats]:
        """The stats collected so far (on the driver)."""
        raise NotImplementedError(f"{type(self).__name__} must define stats()")

    def show(self, id: int) -> None:
        """Print the stats of RDD ``id`` to stdout, slowest functions first."""
        stats = self.stats()
        if stats:
            print("=" * 60)
            print(f"Profile of RDD<id={id}>")
            print("=" * 60)
            stats.sort_stats("time", "cumulative").print_stats()

    def dump(self, id: int, path: str) -> None:
        """Write the stats of RDD ``id`` to ``path/rdd_<id>.pstats``."""
        os.makedirs(path, exist_ok=True)
        stats = self.stats()
        if stats:
            stats.dump_stats(os.path.join(path, f"rdd_{id}.pstats"))


class BasicProfiler(Profiler):
    """``cProfile`` around each task; the tasks' stats add up in an accumulator."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self._accumulator = ctx.accumulator(None, PStatsParam)

    def profile(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        profile = cProfile.Profile()
        try:
            return profile.runcall(func, *args, **kwargs)
        finally:  # a failed task's profile is dropped with its accumulator updates
            stats = pstats.Stats(profile)
            stats.stream = None  # (a file: it would not pickle)
            stats.strip_dirs()
            self._accumulator.add(stats)

    def stats(self) -> Optional[pstats.Stats]:
        return self._accumulator.value


class ProfilerCollector:
    """The Context's profilers, one per RDD (``profilers``: ``[rdd_id, profiler, shown]``,
    in the order their RDDs were first computed); ``profiler_cls`` makes them."""

    def __init__(self, profiler_cls: Type[Profiler] = BasicProfiler,
                 dump_path: Optional[str] = None):
        self.profiler_cls = profiler_cls
        self.profile_dump_path = dump_path
        self.profilers: List[list] = []
        self._by_rdd: Dict[int, Profiler] = {}

    def profiler_for(self, rdd_id: int, ctx: Any) -> Profiler:
        """The profiler of RDD ``rdd_id``, made the first time one of its stages runs."""
        profiler = self._by_rdd.get(rdd_id)
        if profiler is None:
            profiler = self._by_rdd[rdd_id] = self.profiler_cls(ctx)
            self.add_profiler(rdd_id, profiler)
        return profiler

    def add_profiler(self, id: int, profiler: Profiler) -> None:
        """Keep ``profiler`` for RDD ``id``; with the first, the profiles are set to be shown
        (or dumped to ``profile_dump_path``) when the program exits."""
        if not self.profilers:
            if self.profile_dump_path:
                atexit.register(self.dump_profiles, self.profile_dump_path)
            else:
                atexit.register(self.show_profiles)
        self.profilers.append([id, profiler, False])

    def dump_profiles(self, path: str) -> None:
        """Write every RDD's stats to ``path/rdd_<id>.pstats``."""
        for id, profiler, _ in self.profilers:
            profiler.dump(id, path)
        self.profilers = []
        self._by_rdd.clear()

    def show_profiles(self) -> None:
        """Print the stats of every RDD not shown yet."""
        for entry in self.profilers:
            id, profiler, shown = entry
            if not shown and profiler:
                profiler.show(id)
                entry[2] = True


__all__ = ["BasicProfiler", "Profiler", "ProfilerCollector", "PStatsParam"]
