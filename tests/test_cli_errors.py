"""How every ``vega`` command ends (vega_cli/main.py): one ``vega: error:`` line and a hint
on stderr, an exit code by the kind of error, the traceback only with ``vega --debug``;
and the remote operations cluster commands run on hosts.  Real processes."""

import json
import socket
import subprocess
import sys

from proc_helpers import REPO, clean_env, vega


def error_lines(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("vega: error:")]


def test_a_usage_error_exits_2_with_one_message_and_no_traceback():
    """A bad master URL: exit 2, one line naming it, no traceback."""
    result = vega("worker", "nonsense")
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "vega: error: invalid master URL 'nonsense': use local, local[N], local[N,F], local[*], "
        "local-cluster[W,C] or vega://host:port"]
    assert "Traceback" not in result.stderr


def test_vega_debug_adds_the_traceback_before_the_message():
    """vega --debug: the same exit code and message, with the full traceback before it."""
    result = vega("--debug", "worker", "nonsense")
    assert result.returncode == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "vega_runtime.errors.MasterURLError: invalid master URL 'nonsense'" in result.stderr
    assert len(error_lines(result.stderr)) == 1


def test_a_missing_secret_file_is_a_usage_error_with_a_hint(tmp_path):
    """A daemon's start-up (deploy/daemon_main.py) raises; the CLI prints message and hint."""
    missing = tmp_path / "no-secret"
    result = vega("worker", "vega://127.0.0.1:7077", "--secret-file", str(missing))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"vega: error: secret file '{missing}' does not exist"]
    assert "Create one with: vega start-master" in result.stderr


def test_a_master_that_cannot_listen_exits_1_naming_the_address(tmp_path):
    """A port already taken: exit 1 'cannot start the master on HOST:PORT: ...'."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        secret = tmp_path / "secret"
        secret.write_text("s" * 64)
        secret.chmod(0o600)
        result = vega("master", "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0",
                      "--work-dir", str(tmp_path / "master"), "--secret-file", str(secret))
    assert result.returncode == 1, result.stderr
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"vega: error: cannot start the master on 127.0.0.1:{port}: ")


def test_remote_ops_answer_in_json_and_refuse_unknown_operations(tmp_path):
    """python -m vega_cli.remote_ops: JSON answers; an unknown operation is exit 2."""
    def remote_op(*args):
        return subprocess.run([sys.executable, "-m", "vega_cli.remote_ops", *args], cwd=REPO,
                              env=clean_env(), capture_output=True, text=True, timeout=60)

    running = remote_op("running", str(tmp_path / "worker.pid"), "worker")
    assert (running.returncode, json.loads(running.stdout)) == (0, {"pid": 0})
    stopped = remote_op("stop", str(tmp_path / "worker.pid"), "1", "worker")
    assert json.loads(stopped.stdout) == {"pid": None, "was_running": False, "killed": False,
                                          "gone": True, "foreign": ""}
    probe = json.loads(remote_op("probe", str(tmp_path / "w"), "127.0.0.1", "0").stdout)
    assert probe["python"] == "%d.%d" % sys.version_info[:2] and probe["free_bytes"] > 0
    assert probe["master_reachable"] is None and (tmp_path / "w").is_dir()
    unknown = remote_op("format-disk")
    assert unknown.returncode == 2 and "usage: python -m vega_cli.remote_ops" in unknown.stderr
