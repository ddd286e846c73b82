"""The master's estimate of each driver's clock (deploy/driver_clocks.py), on fake clocks:
the REST API times a running application on it."""

from vega_runtime.deploy.driver_clocks import (FRESH_SECONDS, SAME_CLOCK_SECONDS, STEP_SECONDS,
                                               DriverClocks, last_event_time)


class Clocks:
    """This host's wall and monotonic clocks, moved by hand."""

    def __init__(self, wall: float = 1_800_000_000.0):
        self.wall, self.monotonic = wall, 100.0

    def pass_(self, seconds: float) -> None:
        self.wall += seconds
        self.monotonic += seconds


def _events(*times: float) -> str:
    return "".join(f'{{"event": "TaskStart", "time": {t!r}, "stage_id": 0}}\n' for t in times)


def _driver_clocks(clocks: Clocks) -> DriverClocks:
    return DriverClocks(wall=lambda: clocks.wall, monotonic=lambda: clocks.monotonic)


def test_the_last_lines_time_is_read():
    """The time of the batch's last line, not of a field that ends in "time"."""
    text = ('{"event": "TaskInfo", "time": 5.0, "launch_time": 1.0}\n'
            '{"event": "TaskInfo", "time": 7.5, "launch_time": 2.0, "finish_time": 3.0}\n')
    assert last_event_time(text) == 7.5
    assert last_event_time('{"event": "A", "time": 9}') == 9.0  # (no newline at its end)
    assert last_event_time("") is None
    assert last_event_time('{"event": "A"}\n') is None
    assert last_event_time('{"event": "A", "time": 1e400}\n') is None


def test_an_executors_change_is_no_measure_of_the_drivers_clock():
    """An executor's addition or removal is written with the time it happened, which the
    driver may hear of only when its next job runs: the last line of another event counts."""
    text = ('{"event": "JobStart", "time": 50.0, "job_id": 1}\n'
            '{"event": "ExecutorRemoved", "time": 10.0, "executor": "exec-1"}\n'
            '{"event": "ExecutorAdded", "time": 12.0, "executor": "exec-2"}\n')
    assert last_event_time(text) == 50.0
    assert last_event_time(text.split("\n", 1)[1]) is None
    clocks = Clocks()
    drivers = _driver_clocks(clocks)
    drivers.heard("app-1", _events(clocks.wall - 100.0))
    clocks.pass_(FRESH_SECONDS + 1.0)  # (a quiet driver: the next batch is taken whatever)
    drivers.heard("app-1", '{"event": "ExecutorAdded", "time": 5.0, "executor": "exec-2"}\n')
    assert drivers.offset("app-1") == 100.0


def test_a_driver_an_hour_ahead_is_an_hour_ahead():
    clocks = Clocks()
    drivers = _driver_clocks(clocks)
    drivers.heard("app-1", _events(clocks.wall + 3600.0 - 0.3, clocks.wall + 3600.0 - 0.2))
    assert drivers.now("app-1") == clocks.wall + 3600.0 - 0.2
    clocks.pass_(5.0)
    assert drivers.now("app-1") == clocks.wall + 3600.0 - 0.2
    assert drivers.now("app-2") == clocks.wall  # unknown: this host's


def test_clocks_that_agree_within_the_relays_latency_are_the_same():
    clocks = Clocks()
    drivers = _driver_clocks(clocks)
    drivers.heard("app-1", _events(clocks.wall - SAME_CLOCK_SECONDS))  # a batch held 2 s
    assert drivers.offset("app-1") == 0.0 and drivers.now("app-1") == clocks.wall
    drivers.heard("app-1", _events(clocks.wall + SAME_CLOCK_SECONDS + 1.0))
    assert drivers.offset("app-1") == -SAME_CLOCK_SECONDS - 1.0


def test_the_smallest_delay_stands_until_it_is_old_or_the_clock_steps_back():
    """A batch that came late (its events 4 s old) does not move the estimate a prompt one
    made; one that stays late does, ``FRESH_SECONDS`` on; a driver's clock set back more than
    ``STEP_SECONDS`` (NTP, a VM restored) is followed at once (it was ``FRESH_SECONDS`` on,
    the times of a running application off by the step until then)."""
    clocks = Clocks()
    drivers = _driver_clocks(clocks)
    drivers.heard("app-1", _events(clocks.wall - 600.0))  # ten minutes behind
    clocks.pass_(1.0)
    drivers.heard("app-1", _events(clocks.wall - 604.0))  # a late batch
    assert drivers.offset("app-1") == 600.0
    clocks.pass_(1.0)
    drivers.heard("app-1", _events(clocks.wall + 3000.0))  # stepped forward: taken at once
    assert drivers.offset("app-1") == -3000.0
    clocks.pass_(1.0)
    drivers.heard("app-1", _events(clocks.wall - 3600.0))  # stepped back: taken at once
    assert drivers.offset("app-1") == 3600.0
    clocks.pass_(1.0)
    drivers.heard("app-1", _events(clocks.wall - 3600.0 - STEP_SECONDS + 1.0))  # a late one
    assert drivers.offset("app-1") == 3600.0
    clocks.pass_(FRESH_SECONDS + 0.5)
    drivers.heard("app-1", _events(clocks.wall - 3605.0))
    assert drivers.offset("app-1") == 3605.0


def test_a_forgotten_driver_is_on_this_hosts_clock():
    clocks = Clocks()
    drivers = _driver_clocks(clocks)
    drivers.heard("app-1", _events(clocks.wall + 60.0))
    drivers.forget("app-1")
    drivers.forget("app-1")
    assert drivers.now("app-1") == clocks.wall


def test_what_a_master_keeps_across_its_restart_stands_until_the_next_events():
    """``offsets`` is saved when an estimate is new or moves by more than the relay's
    latency (``heard`` says so); ``restore`` takes it back, and the driver's next batch
    replaces it whatever it measures."""
    clocks = Clocks()
    drivers = _driver_clocks(clocks)
    assert drivers.heard("app-1", _events(clocks.wall - 600.0)) is True  # new
    clocks.pass_(1.0)
    assert drivers.heard("app-1", _events(clocks.wall - 599.5)) is False  # (0.5 s closer: no save)
    assert drivers.heard("app-1", _events(clocks.wall - 3600.0)) is True  # set back
    restarted = _driver_clocks(clocks)
    restarted.restore(drivers.offsets())
    assert restarted.offset("app-1") == 3600.0
    restarted.heard("app-1", _events(clocks.wall - 3603.0))  # a late batch, but the first
    assert restarted.offset("app-1") == 3603.0
