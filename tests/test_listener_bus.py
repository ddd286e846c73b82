"""ListenerBus: every listener that handles an event hears it, in order, including listeners
appended to the bus after events went through it."""

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


def test_a_job_that_cannot_be_ended_cleanly_is_still_ended():
    """A listener raises as the job starts, and again while the job is being ended: the job
    fails with the first error, is no longer running (statusTracker) and the next job runs.
    Before, the second error came out, and the job stayed active for ever."""
    import pytest

    from vega_runtime import Context

    ctx = Context(master="local", app_name="listener-bugs",
                  conf={"vega.listeners": "test_listener_bus:BreaksOnAFailedJob"})
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
