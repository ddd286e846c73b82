"""Issue 11: the driver's buffer of task output for an absent master is bounded; what it
drops is counted and said in the master's stored log once the master is back."""

from __future__ import annotations

import logging
import os
import signal
import subprocess

from vega_runtime import Context
from vega_runtime.scheduler import log_buffer
from vega_runtime.scheduler.log_buffer import LogRelayBuffer, dropped_notice

from proc_helpers import arg_value, cmdline, processes_matching, vega_argv, wait_for


def test_the_buffer_keeps_the_newest_lines_within_its_bounds():
    """Past max_lines the oldest lines go, and are counted."""
    buffer = LogRelayBuffer(max_lines=5, max_bytes=1 << 20)
    buffer.add("".join(f"line {i}\n" for i in range(12)))
    assert buffer.take() == [f"line {i}\n" for i in range(7, 12)]
    assert (buffer.unreported, buffer.dropped_total) == (7, 7)


def test_the_buffer_is_bounded_in_bytes_too():
    buffer = LogRelayBuffer(max_lines=1000, max_bytes=100)
    buffer.add("x" * 59 + "\n")
    buffer.add("y" * 59 + "\n")
    assert buffer.take() == ["y" * 59 + "\n"] and buffer.dropped_total == 1


def test_single_lines_are_bounded_as_added_text_is():
    """add_line (event-log lines) keeps the same bounds in lines and bytes as add."""
    buffer = LogRelayBuffer(max_lines=3, max_bytes=100)
    for i in range(5):
        buffer.add_line(f"event {i}\n")
    assert buffer.take() == [f"event {i}\n" for i in range(2, 5)]
    buffer.add_line("x" * 59 + "\n")
    buffer.add_line("y" * 59 + "\n")
    assert buffer.take() == ["y" * 59 + "\n"] and buffer.dropped_total == 3


def test_lines_put_back_after_a_failed_send_are_dropped_first():
    """A batch the master did not take goes back in front of newer lines."""
    buffer = LogRelayBuffer(max_lines=4, max_bytes=1 << 20)
    buffer.add("a\nb\nc\n")
    batch = buffer.take()
    buffer.add("d\ne\n")
    buffer.put_back(batch)
    assert buffer.take() == ["b\n", "c\n", "d\n", "e\n"]
    assert buffer.unreported == 1
    buffer.drop(3)  # a final send that failed
    assert (buffer.unreported, buffer.dropped_total) == (4, 4)


def test_dropped_lines_are_reported_in_the_stored_log_once_the_master_is_back(
        tmp_path, monkeypatch, caplog):
    """SIGKILL the master, run a chatty job, restart the master: `vega logs` has the newest
    lines, a line saying how many were dropped (on stderr), and the driver says so at the
    job's end."""
    monkeypatch.setattr(log_buffer, "MASTER_LOG_BUFFER_LINES", 40)
    caplog.set_level(logging.WARNING, logger="vega_runtime.scheduler.cluster_backend")
    ctx = Context(master="local-cluster[1,1]", app_name="chatty")
    try:
        backend, cluster = ctx.backend, ctx.backend.owned_cluster
        master = cluster.processes[0]
        argv = cmdline(master.pid)
        stored = os.path.join(arg_value(argv, "--work-dir"), "apps", backend.app_id, "output.log")
        os.killpg(master.pid, signal.SIGKILL)
        master.wait()
        before = backend.master

        def chatter(i):
            print(f"chatter {i:03d}")
            return i

        assert ctx.parallelize(range(200), 1).map(chatter).sum() == sum(range(200))
        assert backend.log_lines_dropped >= 200 - 40
        assert any("lines of task output were dropped while the master was away" in r.message
                   for r in caplog.records)
        ready = arg_value(argv, "--ready-file")
        os.unlink(ready)
        env = {**os.environ, "VEGA_SECRET_FILE": cluster.secret_file}
        with open(os.path.join(ctx.app_dir, "master-restarted.log"), "ab") as out:
            restart = vega_argv("master", *argv[argv.index("master") + 1:])  # its title's flags
            cluster.processes[0] = subprocess.Popen(restart, env=env, stdout=out, stderr=out,
                                                    start_new_session=True)
        wait_for(lambda: backend.master is not before, 60, "the driver to reconnect")
        notice = dropped_notice(backend.log_lines_dropped)
        wait_for(lambda: os.path.exists(stored) and "chatter 199" in open(stored).read(), 30,
                 "the buffered lines to reach the master")
        text = open(stored).read()  # the notice, Vega's words, on the stderr kept beside
        assert notice in open(os.path.join(os.path.dirname(stored), "stderr.log")).read()
        assert [line.rsplit(" ", 1)[-1] for line in text.splitlines() if "chatter" in line] \
            == [f"{i:03d}" for i in range(160, 200)]
    finally:
        ctx.stop()
    wait_for(lambda: not processes_matching(ctx.app_dir), 15, "every cluster process to exit")


def _relay_with(send, max_lines, max_bytes):
    from vega_runtime.scheduler.master_relay import MasterRelay

    relay = MasterRelay(send, lambda: None, log_bounds=(max_lines, max_bytes))
    relay.start()
    return relay


def test_a_burst_larger_than_the_buffer_reaches_a_slow_master_whole():
    """The master is there but slower than the tasks print: the tasks' output waits for room
    instead of being dropped (before, every line past 8 MiB between two sends was dropped,
    and the stored log said they went 'while the master was away')."""
    import threading
    import time

    from vega_runtime.net.messages import AppLog

    received = []

    def slow_send(message):
        if isinstance(message, AppLog):
            time.sleep(0.01)
            received.append(message.text)

    relay = _relay_with(slow_send, max_lines=20, max_bytes=1000)
    lines = [f"line {i}\n" for i in range(200)]
    writer = threading.Thread(target=lambda: [relay.add_log(line) for line in lines])
    writer.start()  # as an executor connection's reader thread does
    writer.join()
    relay.add_log("x" * 5000 + "\n")  # one chunk over the byte bound, on its own
    relay.stop()
    assert "".join(received) == "".join(lines) + "x" * 5000 + "\n"
    assert relay.log_lines_dropped == 0


def test_lines_for_an_absent_master_are_dropped_and_said_so():
    from vega_runtime.net.messages import AppLog

    received, away = [], [True]

    def send(message):
        if isinstance(message, AppLog):
            if away[0]:
                raise OSError("master away")
            received.append(message.text)

    relay = _relay_with(send, max_lines=10, max_bytes=1 << 20)
    for i in range(30):
        relay.add_log(f"line {i}\n")
    away[0] = False
    relay.stop()
    assert relay.log_lines_dropped == 20
    assert "".join(received) == dropped_notice(20) + "".join(f"line {i}\n" for i in range(20, 30))


def test_a_master_that_stops_taking_lines_holds_the_tasks_up_only_for_a_while(monkeypatch):
    """The master's connection is there but nothing is taken (a stopped master): output
    waits MASTER_LOG_WAIT_SECONDS once, then lines are dropped and counted without waiting,
    until the master takes lines again."""
    import threading
    import time

    from vega_runtime.net.messages import AppLog

    monkeypatch.setattr(log_buffer, "MASTER_LOG_WAIT_SECONDS", 0.3)
    received, stuck = [], threading.Event()

    def send(message):
        if isinstance(message, AppLog):
            stuck.wait()
            received.append(message.text)

    relay = _relay_with(send, max_lines=10, max_bytes=1 << 20)
    started = time.monotonic()
    for i in range(100):
        relay.add_log(f"line {i}\n")
    assert 0.3 <= time.monotonic() - started < 2.0
    stuck.set()
    relay.stop()
    text = "".join(received)
    dropped = relay.log_lines_dropped
    assert 0 < dropped <= 90
    assert dropped_notice(dropped) in text
    assert text.replace(dropped_notice(dropped), "").count("\n") == 100 - dropped
    assert text.endswith("line 99\n")
