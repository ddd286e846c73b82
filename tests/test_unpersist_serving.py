"""An executor serving a cached partition to another executor (a task that runs where the
block is not) holds a read of it, as a task does: ``unpersist(blocking=True)`` returns once
the records are sent, not while the holder still reads them for the reply. Spark's remote
get (``BlockManager.getLocalBlockData``) takes the block's read lock and releases it when
its buffer is sent, and a removal takes the write lock, so it waits. Before, the serving
was no read: the blocking unpersist returned at once, the holder still pickling the
records it had just been told to free."""

import os
import threading

import pytest

from proc_helpers import wait_for
from vega_runtime import Context, StorageLevel

#: the longest the holder's pickling waits for the test's go-ahead
GATE_SECONDS = 20
#: seconds the removal is seen still waiting for the serving (before the fix it returned
#: in a few milliseconds)
WAITING = 1.0


def _gated_class(marks: str):
    """Records whose pickling, once the test leaves ``gate``, leaves ``serving`` and waits
    for ``go`` (a local class: pickled by value, so any executor can read it)."""
    class Gated:
        def __init__(self, value):
            self.value = value

        def __reduce__(self):
            import time

            if os.path.exists(os.path.join(marks, "gate")):
                open(os.path.join(marks, "serving"), "w").close()
                deadline = time.monotonic() + GATE_SECONDS
                while time.monotonic() < deadline and \
                        not os.path.exists(os.path.join(marks, "go")):
                    time.sleep(0.02)
            return (Gated, (self.value,))
    return Gated


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_a_blocking_unpersist_waits_for_the_holder_serving_the_block(master, tmp_path):
    """vega.locality.wait 0: a partition cached on one executor is read by two tasks at
    once, one of them on the other executor, which fetches it from the holder; the
    holder's pickling of the reply is held. unpersist(blocking=True) meanwhile waits for
    it, and returns once the reply is made; the job's result is exact."""
    marks = str(tmp_path / "marks")
    os.mkdir(marks)
    gated = _gated_class(marks)
    with Context(master=master, app_name="unpersist-serving",
                 conf={"vega.locality.wait": 0}) as ctx:
        rdd = ctx.parallelize(range(10), 1).map(lambda x: gated(x)) \
            .persist(StorageLevel.MEMORY_ONLY)
        assert rdd.count() == 10
        assert len(ctx.cached_rdds()[0]["executors"]) == 1
        open(os.path.join(marks, "gate"), "w").close()
        result: list = []
        job = threading.Thread(target=lambda: result.extend(
            rdd.union(rdd).map(lambda record: record.value).collect()))
        job.start()
        returned: list = []
        removal = threading.Thread(target=lambda: returned.append(
            (rdd.unpersist(blocking=True), os.path.exists(os.path.join(marks, "go")))[1]),
            daemon=True)
        try:
            wait_for(lambda: os.path.exists(os.path.join(marks, "serving"))
                     or not job.is_alive(), 60, "the holder to serve the block")
            assert os.path.exists(os.path.join(marks, "serving")), result
            removal.start()
            removal.join(WAITING)
            assert removal.is_alive() and returned == []  # the holder still serving it
        finally:
            open(os.path.join(marks, "go"), "w").close()
            job.join()
        removal.join(30)
        assert returned == [True]
        assert sorted(result) == sorted([*range(10), *range(10)])
        assert ctx.cached_rdds() == []
