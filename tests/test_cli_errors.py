"""How every ``vega`` command ends (vega_cli/main.py): one ``vega: error:`` line and a hint
on stderr, an exit code by the kind of error, the traceback only with ``vega --debug``;
and the remote operations cluster commands run on hosts.  Real processes."""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from proc_helpers import (REPO, clean_env, pid_alive, run_into_closed_pipe, vega, vega_argv,
                          write_job)


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


@pytest.mark.parametrize("url, hint", [
    ("spark://10.0.0.1:7077", "Vega's cluster masters are vega://HOST:PORT, as vega "
                              "start-master prints it; Vega runs on its own master and "
                              "workers, not on a Spark cluster"),
    ("yarn", "Vega runs on its own master and workers (vega://HOST:PORT); for Slurm and "
             "Kubernetes see docs/cluster.md"),
    ("10.0.0.1:7077", "A cluster master's URL starts with vega://: vega://10.0.0.1:7077"),
    # before, these two were taken: a job's Context said 'cannot reach the master' (exit 3),
    # and a job that makes none ran with the bad URL unnoticed
    ("vega://127.0.0.1:99999", "A port is 1 to 65535 (a master listens at 7077 unless "
                               "started with --port)"),
    ("vega://127.0.0.1:0", "A port is 1 to 65535 (a master listens at 7077 unless started "
                           "with --port)"),
    # these had no hint: the port left out, an IPv6 address without its brackets
    ("vega://master.example", "A cluster master's URL names its port: "
                              "vega://master.example:7077 (a master listens at 7077 unless "
                              "started with --port)"),
    ("vega://fe80::1:7077", "An IPv6 address is written in brackets, then its port: "
                            "vega://[fe80::1]:7077"),
    ("vega://[::1]:0", "A port is 1 to 65535 (a master listens at 7077 unless started with "
                       "--port)"),
    # the web UI's link (start-master prints it beside the master's URL) had no hint
    ("https://127.0.0.1:8080/", "That is a web UI's address: the master's URL is "
                                "vega://HOST:PORT with its cluster port (7077 unless started "
                                "with --port), as vega start-master prints it"),
])
def test_a_spark_master_url_or_a_bad_port_is_refused_saying_what_to_give(url, hint):
    """A PySpark user's --master spark://... or yarn: the usage error and, before, nothing
    more; now a hint naming Vega's own master URL."""
    result = vega("submit", "--master", url, "jobs/pi.py")
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"vega: error: invalid master URL {url!r}: use local, "
                                          "local[N], local[N,F], local[*], local-cluster[W,C] or "
                                          "vega://host:port"]
    assert result.stderr.splitlines()[1:] == [hint]


@pytest.mark.parametrize("command, option, instead", [
    ("submit", "--kill", "kill a cluster-mode driver (or any application) with: vega kill "
                         "--master URL ID"),
    ("submit", "--driver-memory", "the driver is a Python process, with no memory setting of "
                                  "its own (in Spark it sizes the driver's JVM); executors take "
                                  "--executor-memory"),
    ("shell", "--properties-file", "Vega's settings file is YAML, --config FILE, with vega.* "
                                   "keys (conf/vega-defaults.yaml lists them)"),
    ("submit", "--load-spark-defaults", "Vega reads its defaults file whenever there is one "
                                        "($VEGA_CONF_DIR/vega-defaults.yaml, else "
                                        "conf/vega-defaults.yaml here), and --config FILE over "
                                        "it"),
    ("submit", "--remote", "Spark Connect serves DataFrames, which Vega does not implement: "
                           "run the job with vega submit --master vega://HOST:PORT"),
])
def test_a_spark_submit_option_vega_lacks_says_what_to_do_instead(command, option, instead):
    """spark-submit's --kill ID was refused with click's guess "Did you mean '--files'?",
    --driver-memory with "Did you mean '--executor-memory'?"; now each says what Vega has."""
    result = vega(command, option, "x", "jobs/pi.py")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (f"Error: No such option {option!r}: it is "
                                              f"spark-submit's; {instead}.")


@pytest.mark.parametrize("option", ["--deploy-mode", "--supervise", "--detach", "--slurm"])
def test_a_submit_option_the_shell_lacks_says_why(option):
    """vega shell --deploy-mode cluster said "No such option" alone (pyspark says cluster deploy
    mode is not applicable to shells); vega submit's options the shell lacks say why."""
    from vega_cli.options import SUBMIT_ONLY_OPTIONS

    result = vega("shell", option, "x")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (f"Error: No such option {option!r}: it is vega "
                                              f"submit's; {SUBMIT_ONLY_OPTIONS[option]}.")


@pytest.mark.parametrize("typed, meant", [("sumbit", "submit"), ("start-clster", "start-cluster"),
                                          ("stauts", "status"), ("SUBMIT", "submit")])
def test_a_misspelt_command_names_the_nearest(typed, meant):
    """`vega sumbit job.py` said "No such command 'sumbit'." alone, where a misspelt option
    gets click's "Did you mean"; exit 2 either way."""
    result = vega(typed, "jobs/pi.py")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (f"Error: No such command {typed!r}. Did you "
                                              f"mean {meant!r}?")


@pytest.mark.parametrize("args, option, command", [
    (("--master", "local", "submit", "jobs/pi.py"), "--master", "submit"),
    (("--conf=vega.task.max_attempts=2", "shell"), "--conf", "shell"),
    (("--json", "status"), "--json", "status"),
])
def test_an_option_given_before_its_command_says_to_give_it_after(args, option, command):
    """vega --master local submit job.py said "No such option '--master'." alone: the option
    is the command's, and goes after it."""
    result = vega(*args)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (
        f"Error: No such option {option!r} before the command: it is vega {command}'s, given "
        f"after it (vega {command} {option} ...).")
    unknown = vega("--nonsense", "submit", "jobs/pi.py")  # no command's: click's own words
    assert unknown.stderr.splitlines()[-1] == "Error: No such option '--nonsense'."


def test_docs_cli_lists_every_spark_submit_option_vega_lacks_as_it_is_refused():
    """docs/cli.md's table of spark-submit's options says what the refusals say."""
    from vega_cli.options import SPARK_ONLY_OPTIONS

    text = open(os.path.join(REPO, "docs", "cli.md")).read()
    table = text.split("<!-- spark-submit options: begin")[1].split("<!-- spark-submit options: end")[0]
    documented = {}
    for row in table.splitlines()[3:]:
        options, instead = row.strip("|").split(" | ")
        for option in options.split(", "):
            documented[option.strip("` ")] = instead.strip()
    assert documented == SPARK_ONLY_OPTIONS


def test_docs_cli_names_every_command_vega_help_lists():
    """docs/cli.md's table of commands and `vega --help` name the same commands."""
    listing = vega("--help").stdout.split("Commands:\n")[1]
    commands = {line.split()[0] for line in listing.splitlines() if line.startswith("  ")
                and not line.startswith("   ")}
    text = open(os.path.join(REPO, "docs", "cli.md")).read()
    rows = text.split("| command | does |\n|---|---|\n")[1].split("\n\n")[0].splitlines()
    documented = set()
    for row in rows:
        for code in row.split(" | ")[0].strip("| ").split("`")[1::2]:
            documented.add(code.split()[1] if code.startswith("vega ") else code.split()[0])
    assert commands == documented


@pytest.mark.parametrize("command", ["submit", "shell"])
def test_a_bad_master_from_vega_master_or_a_file_is_named_with_where_it_came_from(tmp_path,
                                                                                 command):
    """A master URL nobody typed (VEGA_MASTER exported long ago, a settings file) was refused
    as "invalid master URL 'bogus'" alone, which a user who gave no --master could not place;
    now the variable or the file is named first, as for other settings."""
    settings = tmp_path / "site.yaml"
    settings.write_text("vega:\n  master: yarn\n")
    args = [command] + (["jobs/pi.py"] if command == "submit" else [])
    from_env = vega(*args, env=clean_env(VEGA_MASTER="bogus"))
    from_file = vega(command, "--config", str(settings), *args[1:])
    for result, source, url in ((from_env, "VEGA_MASTER", "bogus"),
                                (from_file, str(settings), "yarn")):
        assert (result.returncode, result.stdout) == (2, "")
        assert error_lines(result.stderr) == [
            f"vega: error: {source}: invalid master URL {url!r}: use local, local[N], "
            "local[N,F], local[*], local-cluster[W,C] or vega://host:port"]


@pytest.mark.parametrize("command", ["status", "logs", "kill"])
def test_cluster_commands_given_no_cluster_master_say_where_it_came_from(command):
    """vega status with VEGA_MASTER=local[2] exported: 'needs a vega://host:port master, not
    'local[2]'' did not say where 'local[2]' came from (nor, for logs and kill, which command
    needed it: 'this command'); vega://h:99999 was 'not a vega://host:port master' with no
    word on its port."""
    args = [command] + ([] if command == "status" else ["app-20261203083328-0001"])
    result = vega(*args, env=clean_env(VEGA_MASTER="local[2]"))
    assert (result.returncode, result.stdout) == (2, "")
    assert error_lines(result.stderr) == [
        f"vega: error: VEGA_MASTER: vega {command} needs a vega://host:port master, not "
        "'local[2]'"]
    port = vega(*args[:1], "--master", "vega://127.0.0.1:99999", *args[1:])
    assert port.returncode == 2
    assert port.stderr.splitlines() == [
        f"vega: error: vega {command} needs a vega://host:port master, not "
        "'vega://127.0.0.1:99999'",
        "A port is 1 to 65535 (a master listens at 7077 unless started with --port)"]


def test_vega_debug_adds_the_traceback_before_the_message():
    """vega --debug: the same exit code and message, with the full traceback before it."""
    result = vega("--debug", "worker", "nonsense")
    assert result.returncode == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "vega_runtime.errors.MasterURLError: invalid master URL 'nonsense'" in result.stderr
    assert len(error_lines(result.stderr)) == 1


def test_a_ctrl_c_while_the_command_loads_ends_it_with_one_line(tmp_path):
    """A Ctrl-C in the command's first ~40 ms, while it imports its modules: exit 130 with
    the message a later Ctrl-C gives, not Python's traceback. (A stand-in ``click``, first
    on the path, sends the SIGINT from inside the command's imports.)"""
    (tmp_path / "click.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n")
    env = clean_env(PYTHONPATH=os.pathsep.join([str(tmp_path), REPO]))
    for argv in (vega_argv("status"), [sys.executable, "-c",
                                       "import sys; from vega_cli.main import main; "
                                       "sys.exit(main())"]):  # the installed vega script
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stderr) == (130, "vega: error: interrupted\n")


def test_a_missing_secret_file_is_a_usage_error_with_a_hint(tmp_path):
    """A daemon's start-up (deploy/daemon_main.py) raises; the CLI prints message and hint."""
    missing = tmp_path / "no-secret"
    result = vega("worker", "vega://127.0.0.1:7077", "--secret-file", str(missing))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"vega: error: secret file '{missing}' does not exist"]
    assert "Create one with: vega start-master" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="root's read permission is taken away with setpriv")
def test_a_secret_file_this_account_cannot_read_says_so_not_that_the_master_is_down(tmp_path):
    """vega status with a secret file it cannot read said 'cannot reach the master ...:
    Permission denied' and asked whether the master runs. (Run as root without the
    capabilities that read any file, as another account would be.)"""
    secret = tmp_path / "secret"
    secret.write_text("s" * 64)
    secret.chmod(0)
    result = subprocess.run(
        ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
         "--bounding-set=-dac_override,-dac_read_search",
         *vega_argv("status", "--master", "vega://127.0.0.1:1", "--secret-file", str(secret))],
        cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert error_lines(result.stderr) == [
        f"vega: error: secret file '{secret}' cannot be read (Permission denied): make it "
        "readable to this account (owned by it, mode 0600)"]


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_an_empty_secret_file_is_refused_not_taken_for_no_secret(tmp_path, content):
    """A secret file left empty (touch, a failed copy): exit 2 naming it. Before, the master
    started without a secret, as with --no-secret (every local account could run code on
    the cluster), warning 'Run it without --no-secret' to a user who had not given it."""
    secret = tmp_path / "secret"
    secret.write_text(content)
    secret.chmod(0o600)
    for argv in (["master", "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                  "--work-dir", str(tmp_path / "master")],
                 ["status", "--master", "vega://127.0.0.1:9"]):
        result = vega(*argv, "--secret-file", str(secret), timeout=60)
        assert result.returncode == 2, result.stderr
        assert error_lines(result.stderr) == [
            f"vega: error: secret file '{secret}' is empty"], result.stderr
        assert "Create one with: vega start-master" in result.stderr
        assert "listening" not in result.stderr


def test_a_secret_file_that_is_a_directory_is_named_so(tmp_path):
    """--secret-file DIR said the directory 'does not exist'."""
    result = vega("worker", "vega://127.0.0.1:7077", "--secret-file", str(tmp_path))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"vega: error: secret file '{tmp_path}' is a directory, not a file"]


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
    assert (running.returncode, json.loads(running.stdout)) == (0, {"pid": 0, "stopped": False})
    stopped = remote_op("stop", str(tmp_path / "worker.pid"), "1", "worker")
    assert json.loads(stopped.stdout) == {"pid": None, "was_running": False, "killed": False,
                                          "gone": True, "foreign": ""}
    probe = json.loads(remote_op("probe", str(tmp_path / "w"), "127.0.0.1", "0").stdout)
    assert probe["python"] == "%d.%d" % sys.version_info[:2] and probe["free_bytes"] > 0
    assert probe["master_reachable"] is None and (tmp_path / "w").is_dir()
    unknown = remote_op("format-disk")
    assert unknown.returncode == 2 and "usage: python -m vega_cli.remote_ops" in unknown.stderr


# -- a reader that has gone (vega ... | head -1) --------------------------------------------------

def test_a_command_whose_output_nobody_reads_ends_quietly(tmp_path):
    """vega history --json | head -0: exit 1 (Python's note on SIGPIPE), nothing on stderr
    (it said 'internal error: BrokenPipeError')."""
    result = run_into_closed_pipe("history", "--json", "--dir", str(tmp_path))
    assert (result.returncode, result.stderr) == (1, "")


def test_start_master_whose_output_nobody_reads_leaves_the_master_running(tmp_path):
    """vega start-master | head -0 ends quietly, and the master it started runs on,
    recorded in its pidfile (vega stop-master stops it)."""
    secret = tmp_path / "secret"
    secret.write_text("s" * 64)
    secret.chmod(0o600)
    work = tmp_path / "master"
    result = run_into_closed_pipe("start-master", "--host", "127.0.0.1", "--port", "0",
                                  "--webui-port", "0", "--work-dir", str(work), "--secret-file",
                                  str(secret), cwd=str(tmp_path))
    assert (result.returncode, result.stderr) == (1, "")
    pid = int((work / "master.pid").read_text())
    try:
        assert pid_alive(pid)
        port = json.loads((work / "master.ready").read_text())["port"]
        status = vega("status", "--json", "--master", f"vega://127.0.0.1:{port}",
                      "--secret-file", str(secret))
        assert status.returncode == 0 and json.loads(status.stdout)["workers"] == []
    finally:
        stopped = vega("stop-master", "--work-dir", str(work), cwd=str(tmp_path))
    assert stopped.stdout == f"master stopped (pid {pid})\n"
    assert not os.path.exists(work / "master.pid")


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[1,2]"])
def test_submit_whose_output_nobody_reads_ends_quietly_and_its_tasks_run_on(tmp_path, master):
    """vega submit job.py | head -1: the tasks' output to a gone reader is dropped and they
    run on (it failed the stage, or on a cluster lost the executors four times over 20s),
    the driver's next print ends the command quietly with exit 1 (it said 'the job raised
    BrokenPipeError' with a traceback)."""
    job = write_job(tmp_path, "chatty.py", """
        from vega_runtime import Context

        def emit(index, records):
            for i in records:
                print("line", i)
            return [index]

        with Context() as ctx:
            print(ctx.parallelize(range(20000), 2).map_partitions_with_index(emit).collect())
            print("after the job")
    """)
    env = clean_env(VEGA_EVENTLOG_DIR=str(tmp_path / "events"))
    result = run_into_closed_pipe("submit", "--master", master, job, env=env, timeout=60)
    assert result.returncode == 1, result.stderr
    stages = [line for line in result.stderr.splitlines() if line.startswith("stage 0 ")]
    assert [line.split(" in ")[0] for line in stages[1:]] == ["stage 0 finished"], result.stderr
    for noise in ("vega: error", "job failed", "Traceback", "Broken pipe", "BrokenPipe"):
        assert noise not in result.stderr, result.stderr


def test_status_logs_and_kill_naming_no_master_say_which_one_they_tried():
    """With neither --master nor VEGA_MASTER, vega status, logs and kill ask
    vega://127.0.0.1:7077; when nothing answers there, the hint says that this address was a
    default and how to name the master (before: 'Is it running?', which misleads when a
    master runs at this machine's address, where vega start-master puts it by default)."""
    def vega_alone(*args):
        """vega ARGS where nothing listens on 127.0.0.1:7077: in a network namespace of its
        own (loopback only) when this process may make one, else here if that port is free."""
        if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
            argv = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                    *vega_argv(*args)]
            return subprocess.run(argv, cwd=REPO, env=clean_env(), capture_output=True,
                                  text=True, timeout=120)
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", 7077)) == 0:
                pytest.skip("something listens on 127.0.0.1:7077")
        return vega(*args)

    for args in (["status"], ["logs", "app-20261203083328-0001"],
                 ["kill", "app-20261203083328-0001"]):
        result = vega_alone(*args)
        assert result.returncode == 3, result.stderr
        assert error_lines(result.stderr) == [
            "vega: error: cannot reach the master at vega://127.0.0.1:7077: "
            "[Errno 111] Connection refused"]
        assert result.stderr.splitlines()[1] == (
            "No --master was given and VEGA_MASTER is not set, so vega://127.0.0.1:7077 was "
            "tried. Start a master (vega start-master), or name the one that runs: --master "
            "vega://HOST:PORT, as vega start-master printed it (or VEGA_MASTER).")
        assert "Traceback" not in result.stderr
    named = vega_alone("status", "--master", "vega://127.0.0.1:7077")
    assert named.returncode == 3
    assert "No --master was given" not in named.stderr
    help_text = " ".join(vega("status", "--help").stdout.split())
    assert "--master TEXT vega://host:port (default: VEGA_MASTER, else vega://127.0.0.1:7077)." \
        in help_text


def test_a_misspelt_setting_is_refused_with_the_setting_meant(tmp_path):
    """A typo in a setting's name (--conf, a --config file, a daemon's too): one usage
    error naming the setting of the nearest name; before, only 'is not a Vega setting;
    see conf/vega-defaults.yaml', a file a Vega installed from its wheel lacks."""
    result = vega("submit", "--conf", "vega.task.max_atempts=2", "jobs/pi.py")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "vega: error: --conf: vega.task.max_atempts is not a Vega setting (did you mean "
        "vega.task.max_attempts?); see conf/vega-defaults.yaml"]
    settings = tmp_path / "site.yaml"
    settings.write_text("vega.master.prot: 7000\n")
    result = vega("master", "--config", str(settings))
    assert result.returncode == 2
    assert "vega.master.prot is not a Vega setting (did you mean vega.master.port?)" in result.stderr
    result = vega("submit", "--conf", "vega.zzz=1", "jobs/pi.py")  # nothing near: no hint
    assert "vega.zzz is not a Vega setting; see" in result.stderr
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1


def test_a_master_that_accepts_but_never_answers_is_named_as_stopped_or_hung(tmp_path):
    """vega status against a port whose process does not answer (a SIGSTOPped master: the
    kernel still accepts its connections): exit 3 saying the process there is stopped,
    hung or overloaded. Before: '_ssl.c:989: The handshake operation timed out'."""
    from vega_runtime.net.connection import create_secret_file

    secret = str(tmp_path / "secret")
    create_secret_file(secret)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted, never answered
        port = silent.getsockname()[1]
        result = vega("status", "--master", f"vega://127.0.0.1:{port}",
                      env=clean_env(VEGA_SECRET_FILE=secret))
    assert result.returncode == 3, result.stderr
    assert error_lines(result.stderr) == [
        f"vega: error: cannot reach the master at vega://127.0.0.1:{port}: 127.0.0.1:{port} "
        "accepted the connection but did not answer its TLS handshake within 5s: the process "
        "there is stopped (SIGSTOP), hung or overloaded"]


def test_stop_master_refuses_a_negative_timeout(tmp_path):
    """vega stop-master --timeout -1 was taken: the master got its SIGKILL right after the
    SIGTERM, with no time to stop."""
    result = vega("stop-master", "--timeout", "-1", "--work-dir", str(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--timeout': -1.0 is not in the range x>=0.")


def test_python_dash_m_vega_cli_is_the_vega_command():
    """``python -m vega_cli`` (an environment whose scripts are not on PATH) runs ``vega``:
    it was 'No module named vega_cli.__main__'."""
    from vega_runtime import __version__

    done = subprocess.run([sys.executable, "-m", "vega_cli", "--version"], cwd=REPO,
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"vega, version {__version__}\n", "")


def test_a_file_where_the_default_secrets_directory_must_be_is_named(tmp_path):
    """A file where the default secret's directory must be (VEGA_CONF_DIR, else ~/.vega):
    `vega master` and `vega start-master` took its FileExistsError for another daemon
    having just made the secret, then failed with 'internal error: NotADirectoryError' and
    'please report it'. Now exit 2 with the usage error an unwritable home gets."""
    conf_dir = tmp_path / "vega"
    conf_dir.write_text("")
    env = clean_env(VEGA_CONF_DIR=str(conf_dir))
    for command in (["master", "--host", "127.0.0.1", "--work-dir", str(tmp_path / "m")],
                    ["start-master", "--work-dir", str(tmp_path / "s")]):
        done = vega(*command, "--port", "0", "--webui-port", "0", env=env, timeout=60)
        assert done.returncode == 2, done.stderr
        assert error_lines(done.stderr) == [
            f"vega: error: the cluster secret could not be created at {conf_dir}/secret "
            f"({conf_dir} is a file, not a directory): name one with --secret-file (or "
            "VEGA_SECRET_FILE), or set VEGA_CONF_DIR to a directory of yours"], done.stderr
