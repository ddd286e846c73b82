"""The worker's decisions, driven with plain events and a fake clock (hours in milliseconds)."""

import random

import pytest

from vega_runtime.deploy import worker_state as ws
from vega_runtime.deploy.worker_state import (
    ApplicationFinished, CleanWorkDirs, Connect, ExecutorLaunchFailed, ExecutorProcessExited,
    ExecutorStarted, ExecutorStatus, KillExecutor, KillRequested, LaunchRequested, Refused,
    Registered, RegistrationFailed, RemoveAppData, ReportExecutorExit, SendHeartbeat, SessionLost,
    Shutdown, Started, StartExecutor, StopRequested, Tick, WorkerState, WorkerStatus)
from vega_runtime.net.messages import LaunchExecutor

HOUR = 3600.0


class Sim:
    """A WorkerState, a fake clock and a master that is up or down.

    ``run`` plays the timers as the I/O layer does (sleep until ``next_wakeup``, then
    ``Tick``) and answers each ``Connect`` at once: ``Registered`` while the master is up,
    ``RegistrationFailed`` while it is down.  Every action is kept with its time.
    """

    def __init__(self, death_timeout=60.0, work_dir_ttl=HOUR, seed=0):
        self.state = WorkerState(death_timeout, work_dir_ttl, rng=random.Random(seed))
        self.now = 0.0
        self.master_up = True
        self.master_hangs = False  # accepts connections, never answers a registration
        self.log = []  # (time, action)

    def send(self, event):
        actions = self.state.handle(event, self.now)
        self.log += [(self.now, a) for a in actions]
        for action in actions:
            if isinstance(action, Connect) and not self.master_hangs:
                self.send(Registered(action.session) if self.master_up
                          else RegistrationFailed(action.session, "connection refused"))
        return actions

    def run(self, until):
        """Advance the clock to ``until``, firing every timer due on the way."""
        while self.state.status != WorkerStatus.STOPPED:
            wakeup = self.state.next_wakeup()
            if wakeup is None or wakeup > until:
                break
            self.now = max(self.now, wakeup)
            self.send(Tick())
        self.now = max(self.now, until)

    def lose_master(self):
        """The master dies: the session's connection closes now."""
        self.master_up = False
        self.send(SessionLost(self.state.session, "connection closed"))

    def restart_master(self):
        self.master_up = True

    def of(self, kind, since=0.0):
        return [(t, a) for t, a in self.log if isinstance(a, kind) and t >= since]

    def registrations(self):
        return [t for t, a in self.log if isinstance(a, Connect)]


def started(death_timeout=60.0, **kw) -> Sim:
    sim = Sim(death_timeout, **kw)
    sim.send(Started())
    assert sim.state.status == WorkerStatus.REGISTERED
    return sim


def order(app="app-1", executor="exec-1", sha="") -> LaunchExecutor:
    return LaunchExecutor(app, executor, 1, 1 << 30, "127.0.0.1", 4000, {}, sha)


def running(sim, app="app-1", executor="exec-1"):
    assert sim.send(LaunchRequested(order(app, executor))) == [StartExecutor(order(app, executor))]
    assert sim.send(ExecutorStarted(app, executor)) == []


# -- the master, over hours ---------------------------------------------------------------

def test_heartbeats_every_two_seconds_for_six_hours():
    """Six simulated hours with a steady master: a heartbeat every 2 s, nothing else."""
    sim = started()
    sim.run(6 * HOUR)
    beats = [t for t, _ in sim.of(SendHeartbeat)]
    assert len(beats) == 6 * HOUR / ws.HEARTBEAT_SECONDS
    assert {round(b - a, 9) for a, b in zip(beats, beats[1:])} == {ws.HEARTBEAT_SECONDS}
    assert not sim.of(Shutdown) and sim.registrations() == [0.0]
    assert sim.state.status == WorkerStatus.REGISTERED


def test_a_worker_older_than_its_death_timeout_survives_a_master_restart():
    """The issue-11 bug: up for an hour, the master restarts at once: the worker
    re-registers within the backoff, it does not stop."""
    sim = started(death_timeout=60.0)
    sim.run(HOUR)
    sim.lose_master()
    sim.run(HOUR + 0.5)
    sim.restart_master()
    sim.run(HOUR + 10)
    assert not sim.of(Shutdown)
    assert sim.state.status == WorkerStatus.REGISTERED
    assert HOUR + 0.5 <= sim.registrations()[-1] <= HOUR + 0.5 + sim.state.retry_cap


@pytest.mark.parametrize("death_timeout, away", [(60.0, 55.0), (4.0, 3.0)])
def test_a_master_away_for_most_of_the_death_timeout_finds_the_worker(death_timeout, away):
    """Away for most of the timeout, then back: the worker registers again before its
    deadline and goes on beating for hours."""
    sim = started(death_timeout)
    sim.run(2 * HOUR)
    sim.lose_master()
    sim.run(2 * HOUR + away)
    assert sim.state.status == WorkerStatus.BACKING_OFF
    sim.restart_master()
    sim.run(2 * HOUR + death_timeout)
    assert sim.state.status == WorkerStatus.REGISTERED
    assert sim.registrations()[-1] < 2 * HOUR + death_timeout
    sim.run(5 * HOUR)
    assert not sim.of(Shutdown)
    assert sim.of(SendHeartbeat)[-1][0] > 5 * HOUR - ws.HEARTBEAT_SECONDS


def test_a_worker_with_a_day_long_death_timeout_retries_a_master_away_for_hours():
    """With --death-timeout 86400, a master away for three hours: the worker retries every
    few seconds all along (the backoff once passed the largest float after ~1,750
    attempts, 1.8 h: OverflowError out of the state machine) and registers once it is back."""
    sim = started(death_timeout=24 * HOUR)
    sim.run(HOUR)
    sim.lose_master()
    sim.run(4 * HOUR)
    tries = sim.registrations()[1:]
    assert len(tries) > 2000 and tries[0] < HOUR + ws.FIRST_RETRY_SECONDS
    assert max(b - a for a, b in zip(tries, tries[1:])) <= ws.MAX_RETRY_SECONDS
    sim.restart_master()
    sim.run(4 * HOUR + ws.MAX_RETRY_SECONDS)
    assert sim.state.status == WorkerStatus.REGISTERED and not sim.of(Shutdown)


@pytest.mark.parametrize("death_timeout", [60.0, 4.0])
def test_a_master_away_longer_than_the_death_timeout_stops_the_worker(death_timeout):
    """Gone for good: the worker stops exactly one death timeout after the loss (no sooner),
    killing its executors, with exit code 1."""
    sim = started(death_timeout)
    running(sim)
    sim.run(3 * HOUR)
    sim.lose_master()
    sim.run(4 * HOUR)
    [(when, stop)] = sim.of(Shutdown)
    assert when == pytest.approx(3 * HOUR + death_timeout)
    assert stop.exit_code == 1 and not stop.goodbye and "unreachable" in stop.reason
    assert sim.of(KillExecutor) == [(when, KillExecutor("app-1", "exec-1"))]
    assert sim.state.next_wakeup() is None


def test_many_master_restarts_over_six_hours():
    """A master that restarts every 20 minutes, away up to 50 s of a 60 s timeout, for six
    hours: the worker re-registers each time and never stops."""
    rng = random.Random(11)
    sim = started(60.0)
    restarts = 0
    while sim.now < 6 * HOUR:
        sim.run(sim.now + 20 * 60)
        sim.lose_master()
        sim.run(sim.now + rng.uniform(0.0, 50.0))
        sim.restart_master()
        restarts += 1
    sim.run(sim.now + 60)
    assert not sim.of(Shutdown)
    assert sim.state.status == WorkerStatus.REGISTERED
    assert restarts == 18
    assert len(sim.registrations()) > restarts  # each restart took one attempt or more
    assert sim.of(SendHeartbeat)[-1][0] > sim.now - ws.HEARTBEAT_SECONDS


def test_a_master_that_never_answers_stops_a_new_worker_after_the_death_timeout():
    sim = Sim(death_timeout=60.0)
    sim.master_up = False
    sim.send(Started())
    sim.run(HOUR)
    [(when, stop)] = sim.of(Shutdown)
    assert when == pytest.approx(60.0) and stop.exit_code == 1


def test_reconnect_backoff_grows_to_a_cap_with_jitter():
    """Delays grow by RETRY_GROWTH from FIRST_RETRY_SECONDS up to the cap (at most 1/8 of
    the death timeout), each shortened by up to JITTER; two workers do not retry in step."""
    def delays(seed, death_timeout):
        sim = started(death_timeout, seed=seed)
        sim.lose_master()
        sim.run(death_timeout - 1)
        times = [t for t, _ in sim.of(Connect, since=0.001)]
        return [b - a for a, b in zip([0.0] + times, times)]

    for death_timeout, cap in ((60.0, 5.0), (4.0, 0.5)):
        got = delays(1, death_timeout)
        for attempt, delay in enumerate(got):
            full = min(cap, ws.FIRST_RETRY_SECONDS * ws.RETRY_GROWTH ** attempt)
            assert full * (1 - ws.JITTER) - 1e-9 <= delay <= full + 1e-9
        assert max(got) > cap * (1 - ws.JITTER)  # the cap was reached
    assert delays(1, 60.0) != delays(2, 60.0)


def test_an_unanswered_registration_is_abandoned_and_tried_again():
    """A master that accepts connections but never answers: each attempt is abandoned after
    REGISTRATION_TIMEOUT_SECONDS; once it answers again the worker registers."""
    sim = started(death_timeout=60.0)
    sim.lose_master()
    sim.master_up, sim.master_hangs = True, True
    sim.run(35.0)
    abandoned = sim.of(ws.AbandonSession)
    assert [round(t) for t, _ in abandoned] == [10, 20, 30]
    assert [a.session for _, a in abandoned] == [c.session for _, c in sim.of(Connect, 0.001)][:3]
    sim.master_hangs = False
    sim.run(45.0)
    assert sim.state.status == WorkerStatus.REGISTERED and not sim.of(Shutdown)


def test_a_successful_registration_resets_the_backoff():
    sim = started(60.0)
    sim.lose_master()
    sim.run(50.0)
    sim.restart_master()
    sim.run(60.0)
    sim.lose_master()
    first = sim.state.retry_at - sim.now
    assert first <= ws.FIRST_RETRY_SECONDS


def test_a_refused_worker_stops_with_exit_code_1():
    sim = Sim()
    [connect] = sim.state.handle(Started(), 0.0)
    assert sim.state.handle(Refused(connect.session, "another Vega"), 0.1) == [
        Shutdown(1, "refused by the master: another Vega", goodbye=False)]


def test_a_stop_says_goodbye_when_registered_and_kills_executors():
    sim = started()
    running(sim)
    assert sim.send(StopRequested()) == [KillExecutor("app-1", "exec-1"),
                                         Shutdown(0, "asked to stop", goodbye=True)]
    assert sim.send(Tick()) == []


def test_events_of_an_old_session_are_ignored():
    sim = started()
    old = sim.state.session
    sim.lose_master()
    sim.master_up = True
    sim.run(1.0)
    assert sim.state.session > old
    assert sim.send(SessionLost(old, "late news")) == []
    assert sim.send(RegistrationFailed(old, "late news")) == []
    assert sim.state.status == WorkerStatus.REGISTERED


# -- executors ----------------------------------------------------------------------------

def test_an_executor_that_exits_unasked_is_reported_with_its_code_and_log_tail():
    sim = started()
    running(sim)
    assert sim.send(ExecutorProcessExited("app-1", "exec-1", 3, "boom")) == [
        ReportExecutorExit("app-1", "exec-1", 3, "exited with code 3", "exit_code", "boom")]
    assert sim.state.exited == 1 and sim.state.executors == {}


@pytest.mark.parametrize("exit_code, memory_limit, oom_kills, cause, reason", [
    (52, 1 << 30, 0, "memory_limit", "exceeded its 1 GiB memory limit (vega.executor.memory)"),
    (52, 0, 0, "exit_code", "exited with code 52"),  # no limit: a plain exit code
    (-9, 1 << 30, 1, "oom_killer",
     "was killed by the kernel's OOM killer (SIGKILL): its host ran out of memory"),
    (-9, 1 << 30, 0, "signal", "was killed by signal 9 (SIGKILL: Killed)"),
    (-11, 0, 2, "signal", "was killed by signal 11 (SIGSEGV: Segmentation fault)"),
    (0, 512 << 20, 0, "exit_code", "exited with code 0"),
])
def test_every_executor_exit_is_classified(exit_code, memory_limit, oom_kills, cause, reason):
    """Exit code, signal by name, memory limit (Spark's exit code 52 under a limit), and
    the kernel's OOM killer (SIGKILL while the host's OOM kill count rose)."""
    sim = started()
    running(sim)
    (report,) = sim.send(ExecutorProcessExited("app-1", "exec-1", exit_code, "tail",
                                               memory_limit, oom_kills))
    # over its limit, the log's last line only says so: the reason says it already
    assert (report.cause, report.reason, report.detail) == \
        (cause, reason, "" if cause == "memory_limit" else "tail")


def test_a_killed_executor_exit_is_not_reported():
    sim = started()
    running(sim)
    assert sim.send(KillRequested("app-1", "exec-1")) == [KillExecutor("app-1", "exec-1")]
    assert sim.send(ExecutorProcessExited("app-1", "exec-1", -15)) == []


def test_an_application_end_kills_only_its_executors():
    sim = started()
    running(sim, "app-1", "exec-1")
    running(sim, "app-1", "exec-2")
    running(sim, "app-2", "exec-1")
    assert sim.send(ApplicationFinished("app-1")) == [KillExecutor("app-1", "exec-1"),
                                                      KillExecutor("app-1", "exec-2")]
    assert sim.state.executors[("app-2", "exec-1")] == ExecutorStatus.RUNNING


def test_a_finished_applications_data_goes_once_its_last_executor_here_has_exited():
    """Its shuffle output and scratch files are deleted (RemoveAppData, once) when no
    executor of it runs here any more, not while one may still write, and not after the
    work dir TTL (an hour by default) as they were; another application's stay."""
    sim = started()
    running(sim, "app-1", "exec-1")
    running(sim, "app-1", "exec-2")
    running(sim, "app-2", "exec-1")
    sim.send(ApplicationFinished("app-1"))
    assert sim.send(ExecutorProcessExited("app-1", "exec-1", -15)) == []
    assert sim.send(ExecutorProcessExited("app-1", "exec-2", -9)) == [RemoveAppData("app-1")]
    assert sim.send(ExecutorProcessExited("app-2", "exec-1", 0)) != [RemoveAppData("app-2")]
    # an application with no executor here (they all ended before it did): at once
    assert sim.send(ApplicationFinished("app-3")) == [RemoveAppData("app-3")]
    assert sim.send(ApplicationFinished("app-3")) == [RemoveAppData("app-3")]
    assert sim.state.ending == set()


def test_a_short_ttl_cleans_every_half_ttl():
    sim = started(work_dir_ttl=10.0)
    sim.run(HOUR)
    assert len(sim.of(CleanWorkDirs)) == HOUR / 5


def test_a_failed_launch_is_reported_with_its_reason_and_nothing_else_changes():
    """A bad package fails that executor only: reported to the master (for the driver),
    the session and the other applications' executors untouched."""
    sim = started()
    running(sim, "app-good", "exec-1")
    sim.send(LaunchRequested(order("app-bad", "exec-7", sha="ab" * 32)))
    reason = "the job package cannot be used: it is not a zip archive"
    assert sim.send(ExecutorLaunchFailed("app-bad", "exec-7", reason)) == [
        ReportExecutorExit("app-bad", "exec-7", 1, reason, "launch_failed")]
    assert sim.state.status == WorkerStatus.REGISTERED
    assert sim.state.executors == {("app-good", "exec-1"): ExecutorStatus.RUNNING}


def test_an_executor_killed_while_starting_is_killed_once_it_runs():
    sim = started()
    sim.send(LaunchRequested(order()))
    assert sim.send(KillRequested("app-1", "exec-1")) == []
    assert sim.send(ExecutorStarted("app-1", "exec-1")) == [KillExecutor("app-1", "exec-1")]
    assert sim.send(ExecutorProcessExited("app-1", "exec-1", -15)) == []
    assert sim.state.executors == {}


def test_a_launch_that_completes_after_the_stop_is_killed():
    sim = started()
    sim.send(LaunchRequested(order()))
    sim.send(StopRequested())
    assert sim.send(ExecutorStarted("app-1", "exec-1")) == [KillExecutor("app-1", "exec-1")]


def test_exits_while_the_master_is_away_are_not_reported_and_registration_lists_survivors():
    """Reports need a session; the next registration tells the master what still runs."""
    sim = started()
    running(sim, "app-1", "exec-1")
    running(sim, "app-1", "exec-2")
    sim.lose_master()
    assert sim.send(ExecutorProcessExited("app-1", "exec-1", 1)) == []
    sim.restart_master()
    sim.run(5.0)
    [(_, connect)] = sim.of(Connect, since=0.001)[-1:]
    assert connect.executors == [["app-1", "exec-2"]]


def test_a_duplicate_launch_order_is_ignored():
    sim = started()
    running(sim)
    assert sim.send(LaunchRequested(order())) == []


# -- work dirs ----------------------------------------------------------------------------

def test_work_dirs_are_cleaned_every_minute_keeping_running_applications():
    """Every half TTL, at most a minute apart; running applications' dirs are kept."""
    sim = started(work_dir_ttl=600.0)
    running(sim, "app-running", "exec-1")
    sim.run(6 * HOUR)
    cleanups = sim.of(CleanWorkDirs)
    assert len(cleanups) == 6 * HOUR / 60
    assert all(a.keep == {"app-running"} for _, a in cleanups)


def test_expired_app_dirs_picks_idle_finished_applications_only():
    assert ws.expired_app_dirs({"app-old": 0.0, "app-recent": 950.0, "app-running": 0.0,
                                "packages": 0.0}, {"app-running"}, 1000.0, 100.0) == ["app-old"]
