"""Scheduler throughput: empty tasks completed per second (whole jobs, after warm-up).

    python scripts/bench/task_rate.py [MASTER] [TASKS]
"""

import sys
import time

from vega_runtime import Context


def main(master: str, tasks: int) -> None:
    with Context(master=master, app_name="task-rate") as ctx:
        ctx.parallelize(range(200), 200).count()  # warm-up: executors have connected
        started = time.perf_counter()
        result = ctx.parallelize(range(tasks), tasks).count()
        elapsed = time.perf_counter() - started
    assert result == tasks
    print(f"RESULT {master}: {tasks} tasks in {elapsed:.2f} s = {tasks / elapsed:,.0f} tasks/s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "local-cluster[2,1]",
         int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
