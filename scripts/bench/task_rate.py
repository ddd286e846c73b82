"""Scheduler throughput: empty tasks completed per second (whole jobs, after warm-up).

    python scripts/bench/task_rate.py [MASTER] [TASKS]

Besides the rate it prints the CPU time each kind of process (driver, master, workers,
executors) spent during the timed job, per task: on a machine shared with other work the
wall time is noisy, the CPU time much less so. It measures the Vega of the tree it is in
(that tree first on the module path, as the harness does), not one installed elsewhere.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from vega_runtime import Context  # noqa: E402  (after the path)

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict:
    """``pid -> (kind, cpu seconds)`` for this process and all its descendants (Linux)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), cmdline,
                             (int(fields[11]) + int(fields[12])) / TICKS)
    mine, frontier = {}, {os.getpid()}
    while frontier:
        mine.update({pid: table[pid] for pid in frontier if pid in table})
        frontier = {pid for pid, (ppid, _, _) in table.items()
                    if ppid in frontier and pid not in mine}
    return {pid: (_kind(pid, cmdline), cpu) for pid, (_, cmdline, cpu) in mine.items()}


def _kind(pid: int, cmdline: str) -> str:
    if pid == os.getpid():
        return "driver"
    for word in ("executor", "master", "worker"):
        if word in cmdline:
            return word
    return "other"


def _cpu_by_kind(before: dict, after: dict) -> dict:
    spent: dict = {}
    for pid, (kind, cpu) in after.items():
        spent[kind] = spent.get(kind, 0.0) + cpu - before.get(pid, (kind, 0.0))[1]
    return spent


def main(master: str, tasks: int) -> None:
    with Context(master=master, app_name="task-rate") as ctx:
        ctx.parallelize(range(200), 200).count()  # warm-up: executors have connected
        before = _processes()
        started = time.perf_counter()
        result = ctx.parallelize(range(tasks), tasks).count()
        elapsed = time.perf_counter() - started
        spent = _cpu_by_kind(before, _processes())
    assert result == tasks
    print(f"RESULT {master}: {tasks} tasks in {elapsed:.2f} s = {tasks / elapsed:,.0f} tasks/s")
    per_task = ", ".join(f"{kind} {seconds / tasks * 1000:.3f}"
                         for kind, seconds in sorted(spent.items(), key=lambda kv: -kv[1]))
    print(f"CPU ms per task: {sum(spent.values()) / tasks * 1000:.3f} ({per_task}); "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "local-cluster[2,1]",
         int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
