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
