"""What task output handling costs where users do not see it: a ``local`` task's output
capture, and a Context's stop.

    python scripts/bench/task_output_cost.py capture [TASKS] [ROUNDS]
    python scripts/bench/task_output_cost.py stop MASTER [RUNS]

``capture``: the driver's CPU time per task of a job of TASKS (20,000) tiny tasks on
``local``, the best of ROUNDS (3), against the same job with the output capture made a
no-op (run alternately, in one process); CPU time, as a shared machine's wall time is
noisy.  ``stop``: the median wall time of ``stop()`` after a trivial job, each of RUNS
(12) Contexts on MASTER started anew.  It measures the Vega of the tree it is in.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from vega_runtime import Context  # noqa: E402  (after the path)
from vega_runtime.scheduler import executor  # noqa: E402


class _NoCapture:
    """An output capture that captures nothing."""

    def __init__(self, *args, **kwargs):
        """Takes what ``OutputCapture`` takes, and keeps none of it."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None  # (exceptions go on)


def capture(tasks: int, rounds: int) -> None:
    real = executor.OutputCapture
    best = {"capture": float("inf"), "none": float("inf")}
    with Context(master="local") as ctx:
        ctx.parallelize(range(100), 100).count()  # (warm)
        try:
            for _ in range(rounds):
                for name, cls in (("capture", real), ("none", _NoCapture)):
                    executor.OutputCapture = cls
                    started = time.process_time()
                    ctx.parallelize(range(tasks), tasks).count()
                    spent = (time.process_time() - started) / tasks * 1e6
                    best[name] = min(best[name], spent)
        finally:
            executor.OutputCapture = real
    print(f"{tasks} tasks on local, best of {rounds}: {best['capture']:.1f} us/task (CPU), "
          f"{best['none']:.1f} without the capture: the capture "
          f"{best['capture'] - best['none']:.1f} us/task")


def stop(master: str, runs: int) -> None:
    times = []
    for _ in range(runs):
        ctx = Context(master=master)
        assert ctx.parallelize(range(4), 2).map(lambda x: x + 1).sum() == 10
        started = time.perf_counter()
        ctx.stop()
        times.append(time.perf_counter() - started)
    print(f"{master}: stop median {statistics.median(times) * 1000:.1f} ms "
          f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, n={runs})")


def main(argv) -> None:
    if argv[:1] == ["capture"]:
        capture(int(argv[1]) if len(argv) > 1 else 20_000, int(argv[2]) if len(argv) > 2 else 3)
    elif argv[:1] == ["stop"] and len(argv) > 1:
        stop(argv[1], int(argv[2]) if len(argv) > 2 else 12)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
