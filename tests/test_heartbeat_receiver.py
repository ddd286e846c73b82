"""Which executors have hung (Spark's ``HeartbeatReceiver``), as pure code driven by a fake
clock in milliseconds; tests/test_executor_heartbeat.py runs real executors."""

from vega_runtime.executor_loss import caused_by_app
from vega_runtime.scheduler.heartbeat_receiver import HeartbeatReceiver, HeartbeatSettings


def test_executor_silent_past_the_timeout_expires_once():
    """Silence of exactly the timeout is allowed; a millisecond more expires the executor,
    which is reported once and then forgotten."""
    receiver = HeartbeatReceiver(timeout_ms=1000, now_ms=0, max_gap_ms=100)
    receiver.executor_added("exec-1", now_ms=0)
    for now in range(100, 1001, 100):
        assert receiver.expired(now) == []
    assert receiver.expired(1001) == [("exec-1", 1001)]
    assert "exec-1" not in receiver
    assert receiver.expired(1050) == []


def test_any_message_from_an_executor_keeps_it():
    """Heartbeats (or results, output) keep an executor for another timeout each; the
    silent one goes, the chatty one stays for hours of simulated time."""
    receiver = HeartbeatReceiver(timeout_ms=120_000, now_ms=0)
    receiver.executor_added("exec-1", now_ms=0)
    receiver.executor_added("exec-2", now_ms=0)
    lost = []
    for now in range(250, 4 * 3600 * 1000, 250):
        if now % 10_000 == 0:
            receiver.heard_from("exec-1", now)
        lost += [(executor_id, now) for executor_id, _ in receiver.expired(now)]
    assert lost == [("exec-2", 120_250)]


def test_oldest_silence_comes_first_and_removed_executors_never_expire():
    receiver = HeartbeatReceiver(timeout_ms=500, now_ms=0)
    for executor_id, added in (("exec-1", 0), ("exec-2", 100), ("exec-3", 200), ("exec-4", 0)):
        receiver.executor_added(executor_id, added)
    receiver.executor_removed("exec-4")
    receiver.heard_from("exec-9", 50)  # never added (gone already): ignored
    assert [receiver.expired(t) for t in (250, 500, 750)] == [
        [], [], [("exec-1", 750), ("exec-2", 650), ("exec-3", 550)]]


def test_time_the_driver_did_not_look_is_not_counted():
    """A driver that stops looking (itself stopped, or no job running) does not take every
    executor for hung when it looks again: their heartbeats may wait unread."""
    receiver = HeartbeatReceiver(timeout_ms=1000, now_ms=0)
    assert receiver.max_gap_ms == 500  # half the timeout (at most MAX_GAP_MS)
    receiver.executor_added("exec-1", now_ms=0)
    assert receiver.expired(400) == []
    assert receiver.expired(60_000) == []  # away for a minute
    assert [receiver.expired(t) for t in (60_200, 60_400, 60_600)] == [[], [], []]
    assert receiver.expired(60_700) == [("exec-1", 1100)]  # 400 ms before, 700 ms after


def test_a_timeout_of_never_turns_the_check_off_and_a_hung_attempt_counts():
    settings = HeartbeatSettings.from_conf({"vega.executor.heartbeat_interval": 10.0,
                                            "vega.executor.timeout": float("inf")})
    assert settings.checked is False
    assert caused_by_app("executor_timeout")  # Spark's ExecutorProcessLost counts too
