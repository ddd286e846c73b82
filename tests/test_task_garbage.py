"""Reference cycles that tasks drop are freed in every executor, on every master kind.

A process forked while its parent paused the cyclic collector (a Context pauses it while
it starts up, and forks a local cluster's processes then) kept it off for its whole life:
each cycle a task made stayed, and a long-running application's executors grew by a few
KiB a task (28 to 132 MiB over 20,000 small jobs on ``local-cluster[2,1]``).
"""

import os
import subprocess
import sys

from proc_helpers import read_text


def cycles_left_after_a_task(_partition):
    """Make cycles the way user code does (objects pointing at each other), drop them, then
    allocate as a task goes on; how many the collector has not freed by the end."""
    import weakref

    class Node:
        pass

    refs = []
    for _ in range(50):
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs.append(weakref.ref(a))
        del a, b
    for _ in range(20):
        [[] for _ in range(1000)]  # allocations: the collector runs on its own
    yield sum(ref() is not None for ref in refs)


def test_an_executor_frees_the_reference_cycles_its_tasks_drop(ctx):
    """With the collector off, all 50 stay; with it on, a cycle still alive when a
    collection of the middle generation ran (its objects then move to the oldest, collected
    far less often) may stay: one did, in the first task of fresh executors forked from a
    pytest-xdist worker, whose counts of allocations they inherit."""
    left = ctx.parallelize(range(4), 4).map_partitions(cycles_left_after_a_task).collect()
    assert len(left) == 4 and max(left) <= 2, left


FORKED_WHILE_PAUSED = """
import os, sys
from vega_runtime.forkserver import ForkServer, command_title
from vega_runtime.shuffle.gc_pause import gc_paused
with gc_paused():
    server = ForkServer.fork(["json"])
child = server.launch("forkserver_targets:report", ["0"], dict(os.environ), sys.argv[1],
                      command_title("forkserver_targets", ["0"]))
print("code", child.wait(30))
server.close()
"""


def test_processes_forked_while_the_collector_is_paused_collect(tmp_path):
    log = tmp_path / "child.log"
    tests = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", FORKED_WHILE_PAUSED, str(log)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONHASHSEED": "0",
                              "PYTHONPATH": os.pathsep.join([tests, *sys.path])})
    assert out.stdout.splitlines() == ["code 0"], out.stderr
    assert "gc-enabled True" in read_text(str(log)).splitlines()
