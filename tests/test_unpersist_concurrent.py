"""Two threads doing ``unpersist(blocking=True)`` of the same RDD at once: each returns once
its own removal is done, as PySpark's ("block until all blocks are deleted").

They shared one pending entry (``_removing`` on ``local``, the executor pool's set keyed by
``("rdd", id)`` on ``local[N]`` and clusters), so the executor's answer to the first removal
released the second as well, while the second still waited for a reader of a block stored
after the first (a running job's task stores the partitions it computes: its stage's copy of
the RDD still has its level)."""

import glob
import os
import threading

import pytest

from proc_helpers import wait_for
from vega_runtime import Context, StorageLevel

#: the longest a gated task waits for the test's go-ahead (a failed test ends sooner)
GATE_SECONDS = 20
#: seconds the second removal is seen still waiting for its reader (before the fix it
#: returned within one poll, 0.25 s, of the first)
WAITING = 1.0


def _block_files(root: str, rdd_id: int) -> list:
    return glob.glob(os.path.join(root, "**", f"rdd_{rdd_id}_*"), recursive=True)


def _gate(marks: str):
    """A map_partitions function passing its records on, that at records 2, 8 and 12 leaves
    ``at-N`` and waits for the test's ``go-N``."""
    def gate(records):
        import time

        for position, record in enumerate(records):
            if position in (2, 8, 12):
                open(os.path.join(marks, f"at-{position}"), "w").close()
                deadline = time.monotonic() + GATE_SECONDS
                while time.monotonic() < deadline and \
                        not os.path.exists(os.path.join(marks, f"go-{position}")):
                    time.sleep(0.02)
            yield record
    return gate


def _unpersist_in_thread(rdd, marks: str) -> tuple:
    """``rdd.unpersist(blocking=True)`` in a thread; the list it fills as it returns says
    whether the task had been let past record 12 (``go-12``) by then."""
    returned: list = []

    def unpersist():
        rdd.unpersist(blocking=True)
        returned.append(os.path.exists(os.path.join(marks, "go-12")))

    thread = threading.Thread(target=unpersist, daemon=True)
    thread.start()
    return thread, returned


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_two_blocking_unpersists_of_one_rdd_each_wait_for_their_own_readers(master, tmp_path):
    """One task zips three reads of a DISK_ONLY partition: L from record 0 to 9, M from 3
    (computing it again: the first removal took it, and the stage's copy stores it), R from
    6 to the end (reading what M stored). The first unpersist comes at record 2 (waits for
    L), the second at record 8 (waits for L and R). At record 12 L has ended: the first
    has returned, the second waits for R, which ends with the task. Before the fix the
    second returned with the first, R still reading, on each master."""
    marks = str(tmp_path / "marks")
    os.mkdir(marks)

    def go(position: int) -> None:
        open(os.path.join(marks, f"go-{position}"), "w").close()

    with Context(master=master, app_name="unpersist-concurrent") as ctx:
        rdd = ctx.parallelize(range(10), 1).persist(StorageLevel.DISK_ONLY)
        assert rdd.count() == 10
        three, six = ctx.parallelize(range(3), 1), ctx.parallelize(range(6), 1)
        left = rdd.union(six).coalesce(1)
        middle = three.union(rdd).union(three).coalesce(1)
        right = six.union(rdd).coalesce(1)
        zipped = left.zip(middle).zip(right).map_partitions(_gate(marks))
        result: list = []
        job = threading.Thread(target=lambda: result.extend(zipped.collect()))
        job.start()
        first = second = None
        try:
            wait_for(lambda: os.path.exists(os.path.join(marks, "at-2")) or not job.is_alive(),
                     60, "the task to reach record 2")
            first = _unpersist_in_thread(rdd, marks)
            wait_for(lambda: _block_files(ctx.app_dir, rdd.id()) == [], 30,
                     "the first removal to unlink the block")
            go(2)
            wait_for(lambda: os.path.exists(os.path.join(marks, "at-8")) or not job.is_alive(),
                     60, "the task to reach record 8")
            assert len(_block_files(ctx.app_dir, rdd.id())) == 1  # stored again (M)
            second = _unpersist_in_thread(rdd, marks)
            wait_for(lambda: _block_files(ctx.app_dir, rdd.id()) == [], 30,
                     "the second removal to unlink the block")
            assert first[0].is_alive()  # L still reading
            go(8)
            wait_for(lambda: os.path.exists(os.path.join(marks, "at-12")) or not job.is_alive(),
                     60, "the task to reach record 12")
            first[0].join(30)
            assert first[1] == [False]  # returned once L had ended
            second[0].join(WAITING)
            assert second[0].is_alive() and second[1] == []  # R still reading
        finally:
            for position in (2, 8, 12):
                go(position)
            job.join()
        second[0].join(30)
        assert second[1] == [True]
        expected = list(zip(zip([*range(10), *range(6)], [*range(3), *range(10), *range(3)]),
                            [*range(6), *range(10)]))
        assert result == expected
        wait_for(lambda: _block_files(ctx.app_dir, rdd.id()) == [], 30,
                 "the executors to drop the block stored after the removals")
        assert ctx.cached_rdds() == []
