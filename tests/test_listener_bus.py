"""ListenerBus: every listener that handles an event hears it, in order, including listeners
appended to the bus after events went through it."""

import pytest

from vega_runtime.scheduler.listener import JobListener, ListenerBus


class Recorder(JobListener):
    def __init__(self, name, heard):
        self.name, self.heard = name, heard

    def on_task_end(self, stage_id, partition, executor_id, success, duration, attempt=0,
                    speculative=False):
        self.heard.append((self.name, stage_id, partition, success))


def test_events_reach_listeners_in_order_and_later_additions():
    heard = []
    bus = ListenerBus([Recorder("a", heard), JobListener()])
    bus.on_task_end(1, 2, "exec-1", True, 0.5)
    bus.on_task_start(1, 2, 7, 0, "exec-1", "host", False)  # nobody handles it
    bus.listeners.append(Recorder("b", heard))
    bus.on_task_end(1, 3, "exec-1", False, 0.5, 1, False)
    bus.listeners.remove(bus.listeners[0])
    bus.on_task_end(1, 4, "exec-1", True, 0.5)
    assert heard == [("a", 1, 2, True), ("a", 1, 3, False), ("b", 1, 3, False),
                     ("b", 1, 4, True)]


def test_listener_of_another_class_is_called():
    class Plain:  # a ``vega.listeners`` class need not subclass JobListener
        def __init__(self):
            self.jobs = []

        def on_job_start(self, job_id, description):
            self.jobs.append((job_id, description))

    plain = Plain()
    bus = ListenerBus([JobListener(), plain])
    bus.on_job_start(3, "count")
    assert plain.jobs == [(3, "count")]


class BreaksOnAFailedJob(JobListener):
    """A ``vega.listeners`` class with bugs: the first stage it hears of, and any stage that
    ends failed, make it raise."""
    submitted = 0

    def on_stage_submitted(self, stage_id, attempt, name, num_tasks):
        BreaksOnAFailedJob.submitted += 1
        if BreaksOnAFailedJob.submitted == 1:
            raise RuntimeError("listener broke on a stage submitted")

    def on_stage_completed(self, stage_id, failure):
        if failure is not None:
            raise RuntimeError("listener broke on a failed stage")


class BreaksOnEveryEvent(JobListener):
    """A user's listener that raises on everything it hears (task output included)."""
    def __init__(self):
        self.calls = 0

    def on_job_start(self, job_id, description):
        self.calls += 1
        raise StopIteration("job start")

    def on_task_end(self, *args):
        self.calls += 1
        raise ValueError("task end")

    def on_task_output(self, prefix, stream, text):
        self.calls += 1
        raise RuntimeError("task output")


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[1,1]"])
def test_a_raising_listener_is_logged_once_per_event_and_the_job_goes_on(caplog, master):
    """Spark's listener bus logs a listener's exception and goes on: the job, the other
    listeners and the listener's later events are not affected.  Before, the job failed
    with the listener's error (on a cluster, its raise on task output also broke the
    executor's connection)."""
    from vega_runtime import Context

    broken = BreaksOnEveryEvent()
    heard = []
    with Context(master=master, app_name="listener-bugs",
                 listeners=[broken, Recorder("after", heard)]) as ctx:
        for _ in range(2):
            assert ctx.parallelize(range(4), 2).map(lambda x: print(x) or x).sum() == 6
    assert broken.calls >= 2 + 4 + 4
    assert sorted(p for _, _, p, _ in heard) == [0, 0, 1, 1]
    logged = [r.getMessage() for r in caplog.records if "BreaksOnEveryEvent" in r.getMessage()]
    assert sorted(m.split(" raised")[1].split(":")[0] for m in logged) == \
        [" in on_job_start", " in on_task_end", " in on_task_output"]
    assert all("ignored" in m for m in logged)


def test_an_engine_listener_that_raises_still_fails_the_job():
    """Only the user's listeners are guarded: a broken listener of the engine itself (here
    the bus's first listener, as the Context's own are) is a bug that fails the job."""
    bus = ListenerBus([BreaksOnEveryEvent()])
    with pytest.raises(StopIteration):
        bus.on_job_start(0, "count")


def test_a_job_that_cannot_be_ended_cleanly_is_still_ended():
    """A listener of the engine's own (one the Context appends to its bus; unlike the
    user's, its errors are bugs that fail the job) raises as the job starts, and again while
    the job is being ended: the job fails with the first error, is no longer running
    (statusTracker) and the next job runs.  Before, the second error came out, and the job
    stayed active for ever."""
    from vega_runtime import Context

    ctx = Context(master="local", app_name="listener-bugs")
    ctx._bus.listeners.append(BreaksOnAFailedJob())
    try:
        with pytest.raises(RuntimeError, match="^listener broke on a stage submitted$"):
            ctx.parallelize(range(4), 2).count()
        tracker = ctx.statusTracker()
        assert tracker.getActiveJobsIds() == []
        assert tracker.getJobInfo(0).status == "FAILED"
        assert ctx.parallelize(range(4), 2).count() == 4
        assert tracker.getActiveJobsIds() == []
    finally:
        ctx.stop()


def test_job_metrics_give_each_stage_to_the_job_whose_graph_has_it():
    """Jobs of two threads run at once: the web UI's job progress lists a stage submitted
    after the second job started under the job that needs it, not the job started last."""
    from vega_runtime.scheduler.job_metrics import JobMetrics

    metrics = JobMetrics()
    metrics.on_job_start(0, "first")
    metrics.on_job_stages(0, [0, 1])
    metrics.on_stage_submitted(0, 0, "map", 2)
    metrics.on_job_start(1, "second")
    metrics.on_job_stages(1, [2])
    metrics.on_stage_submitted(2, 0, "other", 2)
    metrics.on_stage_submitted(1, 0, "result", 2)
    assert {job["id"]: job["stages"] for job in metrics.snapshot()["job_progress"]} == \
        {0: [0, 1], 1: [2]}


def test_a_listener_written_before_an_event_gained_an_argument_still_hears_it():
    """``on_executor_added`` gained ``resources``: a user's listener taking the three
    arguments of before is called with those (passed four, it would raise a TypeError,
    logged, and never hear of an executor); one taking four gets them all."""
    heard = []

    class Before(JobListener):
        def on_executor_added(self, executor_id, host, at):
            heard.append(("before", executor_id, host, at))

    class Now(JobListener):
        def on_executor_added(self, executor_id, host, at, resources=None):
            heard.append(("now", executor_id, resources))

    before = Before()
    bus = ListenerBus([before, Now()], users=[before])
    bus.on_executor_added("exec-1", "10.0.0.7", 5.0, {"gpu": ["0"]})
    assert heard == [("before", "exec-1", "10.0.0.7", 5.0), ("now", "exec-1", {"gpu": ["0"]})]
