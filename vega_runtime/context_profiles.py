"""The RDDs' profiles shown or written: the Context's ``show_profiles`` and ``dump_profiles``
(a mixin of ``Context``; ``vega_runtime/profiler.py`` profiles the tasks)."""

from __future__ import annotations

from typing import Any

from .errors import PySparkRuntimeError


class Profiles:
    """Needs ``self.profiler_collector``: a ``ProfilerCollector``, or None when
    ``vega.python.profile`` is off."""

    profiler_collector: Any

    def show_profiles(self) -> None:
        """Print the profile of every RDD computed since the last call (slowest functions
        first), as PySpark does; needs ``vega.python.profile``."""
        self._profiles().show_profiles()

    def dump_profiles(self, path: str) -> None:
        """Write the profile of every RDD computed so far to ``path/rdd_<id>.pstats``
        (``pstats.Stats`` reads them); needs ``vega.python.profile``."""
        self._profiles().dump_profiles(path)

    def _profiles(self):
        if self.profiler_collector is None:
            raise PySparkRuntimeError(
                "vega.python.profile (Spark's spark.python.profile) must be true to profile "
                "the RDDs' tasks: set it when the Context is made", "INCORRECT_CONF_FOR_PROFILE")
        return self.profiler_collector
