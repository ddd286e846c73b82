"""`vega submit --deploy-mode cluster` (and `vega status`, `kill`, `logs`) to a master that
accepts its connections, proves the secret and then never answers (stopped, frozen,
overloaded): each gives up after ``vega.master.reconnect_timeout`` with one message and exit
code 3, where it waited for ever.  The master is a stand-in on loopback (``Server`` with a
handler that reads and never replies), so the moment it stops answering is exact."""

import time

import pytest

from vega_runtime.net.connection import create_secret_file, load_secret
from vega_runtime.net.framing import ConnectionClosed
from vega_runtime.net.messages import PackageQuery, PackageStatus, SubmitDriver
from vega_runtime.net.server import Server

from proc_helpers import clean_env, vega, write_job


class SilentMaster:
    """Answers the package query (``answers`` True) or not, and never a submission; keeps
    the first message of each connection in ``received``."""

    def __init__(self, secret: bytes, answers: bool, port: int = 0):
        self.answers, self.received = answers, []
        self.server = Server("127.0.0.1", port, secret, self.serve, "silent-master").start()
        self.url = f"vega://127.0.0.1:{self.server.port}"

    def serve(self, conn):
        first = conn.recv()
        self.received.append(first)
        if isinstance(first, PackageQuery) and self.answers:
            conn.send(PackageStatus(first.sha256, True))
            return
        try:
            conn.recv()  # nothing comes: the submitter hangs up
        except (ConnectionClosed, OSError):
            pass


@pytest.fixture
def submit_to(tmp_path):
    secret_file = str(tmp_path / "secret")
    create_secret_file(secret_file)
    masters = []

    def submit(answers):
        master = SilentMaster(load_secret(secret_file), answers)
        masters.append(master)
        job = write_job(tmp_path, "job.py", "print('never run')\n")
        started = time.monotonic()
        result = vega("submit", "--master", master.url, "--deploy-mode", "cluster", "--conf",
                      "vega.master.reconnect_timeout=2", job,
                      env=clean_env(VEGA_SECRET_FILE=secret_file), timeout=30)
        return master, result, time.monotonic() - started

    yield submit
    for master in masters:
        master.server.stop()


def error_lines(stderr):
    """The error and its hint: what follows the submission's own lines."""
    lines = stderr.splitlines()
    return lines[[n for n, line in enumerate(lines) if line.startswith("vega: error:")][0]:]


def test_a_master_that_never_answers_the_submission_fails_it_with_exit_3(submit_to):
    """The package is there; the submission is never answered: one message saying so, and
    that the driver may have started, exit 3, after 2 s (vega.master.reconnect_timeout)."""
    master, result, took = submit_to(answers=True)
    assert [type(m) for m in master.received] == [PackageQuery, SubmitDriver]
    assert result.returncode == 3, result
    assert error_lines(result.stderr) == [
        f"vega: error: the master at {master.url} accepted the driver's submission but did "
        f"not answer it within 2s (vega.master.reconnect_timeout): it is stopped, frozen or "
        f"overloaded, and may start the driver later",
        f"See whether it answers and runs the driver: vega status --master {master.url}; a "
        f"master slow to answer needs a longer vega.master.reconnect_timeout (--conf)"]
    assert 2 <= took < 20


def test_a_master_that_never_answers_the_package_query_fails_it_with_exit_3(submit_to):
    """The first question (is the package there?) is never answered: the same, naming the
    upload."""
    master, result, took = submit_to(answers=False)
    assert [type(m) for m in master.received] == [PackageQuery]
    assert result.returncode == 3, result
    assert error_lines(result.stderr) == [
        f"vega: error: the master at {master.url} accepted the job package's upload but did "
        f"not answer it within 2s (vega.master.reconnect_timeout): it is stopped, frozen or "
        f"overloaded",
        f"See whether it answers: vega status --master {master.url}; a master slow to answer "
        f"needs a longer vega.master.reconnect_timeout (--conf)"]
    assert 2 <= took < 20


@pytest.mark.parametrize("command", [["status"], ["kill", "app-20261206010101-0001"],
                                     ["logs", "app-20261206010101-0001"]])
def test_status_kill_and_logs_give_up_on_a_master_that_never_answers(tmp_path, command):
    """``vega status``, ``kill`` and ``logs`` (not following) waited for ever too; now exit 3
    after vega.master.reconnect_timeout (2 s here, from a defaults file), saying so."""
    secret_file = str(tmp_path / "secret")
    create_secret_file(secret_file)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "vega-defaults.yaml").write_text("vega.master.reconnect_timeout: 2\n")
    master = SilentMaster(load_secret(secret_file), answers=False)
    try:
        result = vega(*command, "--master", master.url, timeout=30, env=clean_env(
            VEGA_SECRET_FILE=secret_file, VEGA_CONF_DIR=str(tmp_path / "conf")))
    finally:
        master.server.stop()
    assert result.returncode == 3, result
    assert result.stderr.splitlines()[0] == (
        f"vega: error: cannot reach the master at {master.url}: 127.0.0.1:"
        f"{master.server.port} accepted the connection but did not answer within 2s: the "
        f"process there is stopped, frozen or overloaded"), result.stderr


def test_a_driver_reconnecting_to_a_master_that_never_answers_gives_up_in_time(tmp_path):
    """A driver whose master crashed reconnects for vega.master.reconnect_timeout (2 s) and
    then says the master did not come back (its jobs go on on its executors).  A process on
    the master's port that accepts and never answers its registration (a restarted master,
    frozen) held it for ever: the message never came."""
    import os
    import signal
    import subprocess

    from proc_helpers import master_and_worker, spawn_vega, wait_for
    from test_submit_follows_master_restart import _pumped

    with master_and_worker(tmp_path) as cluster:
        job = write_job(tmp_path, "job.py",
                        "import time\nfrom vega_runtime import Context\n"
                        "with Context() as ctx:\n"
                        "    ctx.parallelize([1], 1).foreach(lambda x: time.sleep(120))\n")
        driver = spawn_vega("submit", "--master", cluster["url"], "--conf",
                            "vega.master.reconnect_timeout=2", job, env=cluster["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
        try:
            lines = _pumped(driver)
            wait_for(lambda: any("stage 0 started" in line for line in lines["err"]), 60,
                     "the job's stage")
            port = int(cluster["url"].rsplit(":", 1)[1])
            os.kill(cluster["master_pid"], signal.SIGKILL)
            secret = load_secret(cluster["env"]["VEGA_SECRET_FILE"])
            silent = wait_for(lambda: _listening_silent(secret, port), 30, "the port")
            try:
                wait_for(lambda: any("the master did not come back within 2s" in line
                                     for line in lines["err"]), 30,
                         "the driver to give the master up")
                assert any(type(m).__name__ == "RegisterApplication" for m in silent.received)
            finally:
                silent.server.stop()
        finally:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(30)



def _listening_silent(secret, port):
    """A silent master on ``port``, or None while the port is not free yet."""
    try:
        return SilentMaster(secret, answers=False, port=port)
    except OSError:
        return None
