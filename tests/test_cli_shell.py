"""``vega shell``: a real ``vega`` process fed on a pipe, and on a pseudo-terminal for Ctrl-C.

Every test ends by checking that the processes the session started (local executors, a local
cluster's master, workers and executors) are gone once the shell has exited.
"""

from __future__ import annotations

import os
import pty
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time

import pytest

from proc_helpers import (REPO, clean_env, descendants, pid_alive, processes_matching,
                          run_into_closed_pipe, vega_argv, wait_for)

#: x86-64 system calls a reading shell blocks in: read, poll, select, pselect6, ppoll
WAITING_FOR_INPUT = {"0", "7", "23", "270", "271"}
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|[=>])")


def spawn_shell(*args: str, env=None) -> subprocess.Popen:
    """``vega shell ARGS`` with stdin, stdout and stderr on pipes."""
    return subprocess.Popen([sys.executable, "-m", "vega_cli.main", "shell", *args], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env or clean_env())


def session_processes(shell_pid: int, app_dir: str) -> list:
    """The live processes a shell's Context started: its descendants, and whatever names its
    application directory (a local cluster's daemons run in their own sessions)."""
    return sorted(set(descendants(shell_pid)) | set(processes_matching(app_dir)))


def assert_all_gone(pids: list) -> None:
    wait_for(lambda: not [p for p in pids if pid_alive(p)], 10, f"processes {pids} to end")


#: a first statement that prints the application's directory after a first job (a
#: ``local[N]`` Context forks its executors at its first job)
APP_DIR_AFTER_A_JOB = "print(sc.parallelize([0], 1).count() and sc.app_dir, flush=True)\n"


def run_piped(master: str, source: str, *args: str, env=None, first_job: bool = False):
    """Feed ``source`` to ``vega shell --master MASTER`` on a pipe; (exit code, stdout after
    the first line, stderr, the session's processes seen while it ran: after a first job
    when ``first_job``)."""
    proc = spawn_shell("--master", master, *args, env=env)
    try:
        proc.stdin.write(APP_DIR_AFTER_A_JOB if first_job else 'print(sc.app_dir, flush=True)\n')
        proc.stdin.flush()
        app_dir = proc.stdout.readline().strip()
        assert app_dir, proc.stderr.read()
        processes = session_processes(proc.pid, app_dir)
        out, err = proc.communicate(source, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err, processes


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_piped_sum_prints_the_result_exits_0_and_leaves_no_process(master):
    """A piped statement prints exactly its result on stdout; the Context stops at EOF."""
    code, out, err, processes = run_piped(master, "print(sc.parallelize(range(10)).sum())\n",
                                          first_job=True)
    assert code == 0, err
    assert out == "45\n", err
    if master != "local":
        assert processes, "the session should have started executor processes"
    assert_all_gone(processes)


def test_banner_names_master_application_and_web_ui():
    """The banner (on stderr) says the master, the application id and the web UI link."""
    code, out, err, _ = run_piped("local-cluster[1,1]", "print(sc.application_id)\n",
                                  "--name", "banner-test")
    assert code == 0, err
    app_id = out.strip()
    assert re.fullmatch(r"app-\d{14}-[0-9a-f]{4}", app_id), out
    assert f"master local-cluster[1,1], application {app_id} (banner-test)" in err, err
    assert re.search(r"web UI: https://127\.0\.0\.1:\d+/\?token=\w+", err), err


def test_banner_of_a_cluster_master_links_its_web_ui(bare_master):
    """Against a vega:// master the banner gives the master's signed-in web UI link."""
    code, out, err, _ = run_piped(bare_master.url, "print(sc.master)\n", env=bare_master.env)
    assert code == 0, err
    assert out == bare_master.url + "\n"
    assert f"web UI: https://127.0.0.1:{bare_master.port}/?token={bare_master.token}" in err, err


def test_plain_one_liner_as_documented():
    """The README's example: echo a statement into `vega shell --master local[2]`."""
    proc = subprocess.run(f"echo 'print(sc.parallelize(range(10)).sum())' | "
                          f"{sys.executable} -m vega_cli.main shell --master 'local[2]'",
                          shell=True, cwd=REPO, capture_output=True, text=True, env=clean_env(),
                          timeout=120)
    assert (proc.returncode, proc.stdout) == (0, "45\n"), proc.stderr
    assert ">>>" not in proc.stdout + proc.stderr  # no prompts when stdin is not a terminal


def test_a_line_that_is_not_utf8_is_refused_saying_where_and_the_shell_goes_on():
    """A Latin-1 byte typed or piped in was reported as Python's own UnicodeEncodeError
    ("surrogates not allowed"), naming no line nor byte."""
    proc = subprocess.run([sys.executable, "-m", "vega_cli.main", "shell", "--master", "local"],
                          input=b'x = 1\nif x:\n    print("caf\xe9")\n\nprint(x + 1)\n',
                          cwd=REPO, capture_output=True, env=clean_env(), timeout=120)
    assert (proc.returncode, proc.stdout) == (0, b"2\n"), proc.stderr
    assert proc.stderr.decode().splitlines()[-2:-1] == [
        "SyntaxError: line 2 of the statement is not UTF-8: byte 0xe9 at column 15 (the shell "
        "reads UTF-8: set the terminal's encoding to UTF-8, or write the character as an "
        "escape, \\xe9 in a string)"]


def test_failing_job_shows_the_error_and_the_shell_goes_on():
    """A task that raises shows the user's error and remote traceback; the next lines run."""
    source = ("def invert(x):\n"
              "    return 1 / (x - 3)\n"
              "\n"
              "sc.parallelize(range(6), 3).map(invert).collect()\n"
              "print('after', sc.parallelize(range(4)).count())\n"
              "for i in range(2):\n"
              "    print('loop', i)\n")
    code, out, err, processes = run_piped("local[2]", source,
                                          "--conf", "vega.task.max_attempts=1")
    assert code == 0, err
    assert out == "after 4\nloop 0\nloop 1\n", err
    assert "TaskFailed: task 1 of stage 0" in err and "ZeroDivisionError" in err, err
    assert 'File "<console>", line 2, in invert' in err, err
    assert "vega_runtime" + os.sep + "scheduler" not in err  # Vega's own frames are hidden
    assert_all_gone(processes)


def test_driver_exception_shows_the_users_traceback():
    """An error in driver code is reported as Python's console would and the session goes on."""
    code, out, err, _ = run_piped("local", "{}['missing']\nprint('still here')\n")
    assert code == 0, err
    assert out == "still here\n"
    assert "KeyError: 'missing'" in err


def test_import_pyspark_without_the_switch_says_to_start_with_pyspark_compat():
    """`import pyspark` in a plain shell fails as Python's would, and says the switch."""
    code, out, err, _ = run_piped("local", "import pyspark\nprint('still here')\n")
    assert (code, out) == (0, "still here\n"), err
    assert ("ModuleNotFoundError: No module named 'pyspark'\nPySpark programs run on Vega with "
            "vega shell --pyspark-compat: 'import pyspark' then means Vega (docs/api.md).\n"
            ) in err, err


def test_a_script_given_to_the_shell_is_refused_saying_to_submit_it():
    """pyspark job.py (refused since Spark 2.0: use spark-submit); vega shell job.py said
    'Got unexpected extra argument (job.py)'; now exit 2 with what to run instead, before any
    Context starts."""
    proc = subprocess.run(vega_argv("shell", "jobs/pi.py", "10"), cwd=REPO, capture_output=True,
                          text=True, env=clean_env(), timeout=60)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines() == [
        "vega: error: vega shell runs no script (jobs/pi.py 10)",
        "Run it with: vega submit jobs/pi.py 10; or pipe statements into vega shell."]


def test_exit_code_of_exit_is_the_shell_exit_code_and_stops_the_context():
    """exit(3) leaves with status 3, still stopping the Context and its executors."""
    code, out, err, processes = run_piped("local[2]", "exit(3)\nprint('not reached')\n",
                                          first_job=True)
    assert code == 3, err
    assert out == ""
    assert processes
    assert_all_gone(processes)


def test_a_shell_whose_output_nobody_reads_ends_quietly_and_stops_its_context(tmp_path):
    """vega shell | head -1: the print that meets the closed pipe ends the session with exit
    1 and nothing on stderr but the banner and summary, and its executors stop (it printed
    'Traceback ... BrokenPipeError' and read on)."""
    source = ("import sys\n"
              "print(sc.parallelize([0], 1).count() and sc.app_dir, file=sys.stderr)\n"
              "for i in range(100000): print(i)\n"
              "\n"
              "print('after', file=sys.stderr)\n")
    result = run_into_closed_pipe("shell", "--master", "local[2]", input=source, timeout=120,
                                  env=clean_env(VEGA_EVENTLOG_DIR=str(tmp_path / "events")))
    assert result.returncode == 1, result.stderr
    for noise in ("Traceback", "BrokenPipe", "Broken pipe", "vega: error", "after"):
        assert noise not in result.stderr, result.stderr
    app_dir = next(line for line in result.stderr.splitlines() if "vega-app-" in line)
    assert not os.path.exists(app_dir)
    assert_all_gone(list(processes_matching(app_dir)))


def test_a_shell_started_with_stdin_closed_ends_as_at_the_end_of_its_input():
    """vega shell <&-: no input, so the session ends at once with exit 0, as Python's
    does (it said 'internal error: AttributeError: 'NoneType' object has no attribute
    'isatty'' with exit 1)."""
    proc = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh",
                           *vega_argv("shell", "--master", "local[2]")],
                          cwd=REPO, capture_output=True, text=True, env=clean_env(), timeout=120)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr
    assert "master local[2], application app-" in proc.stderr
    assert "error" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("signum, during_job, master", [
    (signal.SIGHUP, False, "local[2]"), (signal.SIGTERM, True, "local[2]"),
    (signal.SIGTERM, True, "local")])  # the task runs in the shell's process: not its failure
def test_hangup_or_terminate_stops_the_context_and_removes_its_files(signum, during_job, master):
    """SIGHUP (the terminal closed) or SIGTERM, at the prompt or during a job, ends the shell
    with 128+N after stopping the Context: no process and no scratch directory is left."""
    proc = spawn_shell("--master", master)
    errors: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=lambda: [errors.put(line) for line in proc.stderr], daemon=True).start()
    try:
        proc.stdin.write(APP_DIR_AFTER_A_JOB)
        proc.stdin.flush()
        app_dir = proc.stdout.readline().strip()
        assert os.path.isdir(app_dir)
        processes = session_processes(proc.pid, app_dir)
        if during_job:
            proc.stdin.write("sc.parallelize(range(2), 2).map(lambda x: __import__('time')"
                             ".sleep(60)).collect()\n")
            proc.stdin.flush()
            while not errors.get(timeout=60).startswith("stage 1 started"):
                pass
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 128 + signum
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert processes or master == "local"  # executors, which local has none of
    assert_all_gone(processes)
    assert not os.path.exists(app_dir)


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[2,1]"])
def test_options_reach_the_context(tmp_path, master):
    """--name, --conf, --config, --py-files and --files work as for `vega submit` (on a
    cluster the py-files and files travel to the executors in a package). pyspark's --files
    was refused with click's guess "Did you mean '--py-files'?"."""
    (tmp_path / "shell_lib.py").write_text("def tag(x):\n    return ['lib', x]\n")
    (tmp_path / "lookup.csv").write_text("a,1\n")
    config = tmp_path / "settings.yaml"
    config.write_text("vega:\n  default:\n    parallelism: 3\n")
    source = ("import shell_lib\n"
              "from vega_runtime import SparkFiles\n"
              "print(sc.app_name, sc.conf['vega.task.max_attempts'], sc.default_parallelism)\n"
              "print(sc.parallelize([1, 2]).map(lambda x: __import__('shell_lib').tag(x))"
              ".collect())\n"
              "print(repr(open(SparkFiles.get('lookup.csv')).read()), sc.parallelize([0], 1)"
              ".map(lambda _: open(SparkFiles.get('lookup.csv')).read()).collect())\n")
    code, out, err, _ = run_piped(master, source, "--name", "explore", "--conf",
                                  "vega.task.max_attempts=2", "--config", str(config),
                                  "--py-files", str(tmp_path / "shell_lib.py"),
                                  "--files", str(tmp_path / "lookup.csv"))
    assert code == 0, err
    assert out == "explore 2 3\n[['lib', 1], ['lib', 2]]\n'a,1\\n' ['a,1\\n']\n", err


@pytest.mark.parametrize("flag", ["--verbose", "-v"])  # pyspark takes spark-submit's
def test_verbose_prints_the_resolved_configuration_as_vega_submit_does(flag):
    """vega shell --verbose (pyspark --verbose): the settings the driver uses, each with its
    value and origin, on stderr, as vega submit --verbose prints them; the session runs.
    It was refused: "No such option '--verbose'"."""
    from vega_runtime.config_schema import DRIVER, settings_used_by

    code, out, err, _ = run_piped("local", "print(sc.parallelize([1, 2]).sum())\n", flag,
                                  "--conf", "vega.task.max_attempts=2")
    assert (code, out) == (0, "3\n"), err
    rows = {cells[1].strip(): (cells[2].strip(), cells[3].strip())
            for cells in (line.split("│") for line in err.splitlines() if line.startswith("│"))}
    assert sorted(rows) == sorted(s.key for s in settings_used_by(DRIVER)), err
    assert rows["vega.task.max_attempts"] == ("2", "command line")
    assert rows["vega.app.name"] == ("vega-shell", "command line")


def test_pyspark_compat_makes_import_pyspark_work():
    """With --pyspark-compat, `import pyspark` is Vega, getOrCreate() is the shell's sc, and
    `spark` is a SparkSession on it (as in PySpark's shell)."""
    source = ("import pyspark\n"
              "from pyspark import SparkContext, StorageLevel\n"
              "print(SparkContext.getOrCreate() is sc, pyspark.__name__)\n"
              "print(spark.sparkContext is sc, spark.read.text('README.md').rdd.count() > 0)\n")
    code, out, err, _ = run_piped("local", source, "--pyspark-compat")
    assert code == 0, err
    assert out == "True vega_runtime.pyspark_compat\nTrue True\n", err
    assert "defined: Context, SparkContext, ctx, sc, spark" in err


def test_pyspark_compat_sc_is_a_spark_context_with_the_shells_conf():
    """vega shell --pyspark-compat: `sc` is a SparkContext, as in pyspark's shell, so
    `sc.getConf()` has the session's Spark properties (-c spark.x=1, spark.app.name); it was
    a plain Context: AttributeError for getConf."""
    code, out, err, _ = run_piped(
        "local", "print(type(sc).__name__, sc.getConf().get('spark.x'), "
        "sc.getConf().get('spark.app.name'), sc.environment['PYTHONHASHSEED'])\n",
        "--pyspark-compat", "-c", "spark.x=1")
    assert (code, out) == (0, "SparkContext 1 vega-shell 0\n"), err


def test_bad_master_is_a_usage_error():
    """A master URL that does not parse exits 2 before anything starts."""
    proc = subprocess.run([sys.executable, "-m", "vega_cli.main", "shell", "--master", "lokal[2]"],
                          cwd=REPO, capture_output=True, text=True, env=clean_env(), timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert "lokal[2]" in proc.stderr


# -- on a terminal ------------------------------------------------------------------------------

class Terminal:
    """``vega shell ARGS`` on a pseudo-terminal that is its controlling terminal, so that
    writing ``\\x03`` sends SIGINT as a key press does.  ``expect`` reads until a string."""

    def __init__(self, *args: str, **env_vars: str):
        env = clean_env(TERM="xterm-256color", COLUMNS="120", LINES="40", **env_vars)
        argv = [sys.executable, "-m", "vega_cli.main", "shell", *args]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: nothing but exec
            os.chdir(REPO)
            os.execve(sys.executable, argv, env)
        self.pending = ""
        self.transcript = ""
        self.code = None

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, text: str, timeout: float = 60.0) -> str:
        """What the terminal showed up to and including ``text`` (escape sequences removed)."""
        deadline = time.monotonic() + timeout
        while text not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} within {timeout}s; the terminal shows:\n"
                                     + self.transcript[-3000:])
            if select.select([self.fd], [], [], min(left, 0.5))[0]:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # EIO: the shell has closed the terminal
                    data = b""
                if not data:
                    raise AssertionError(f"the shell ended before {text!r}:\n"
                                         + self.transcript[-3000:])
                chunk = ANSI.sub("", data.decode("utf-8", "replace")).replace("\r", "")
                self.pending += chunk
                self.transcript += chunk
        end = self.pending.index(text) + len(text)
        seen, self.pending = self.pending[:end], self.pending[end:]
        return seen

    def wait_for_key(self) -> None:
        """Wait until the shell is blocked reading the terminal: a SIGINT that lands in the
        instant before readline calls select() waits for the next key (CPython's readline
        checks signals only when select() is interrupted); a person cannot type that fast,
        a test can."""
        def blocked() -> bool:
            try:
                with open(f"/proc/{self.pid}/syscall") as fh:
                    number = fh.read().split()[0]
            except (OSError, IndexError):
                return False
            return number in WAITING_FOR_INPUT
        wait_for(blocked, 30, "the shell to wait for a key")

    def wait(self, timeout: float = 30.0) -> int:
        def ended():
            try:  # keep the terminal drained (without blocking: the shell may not end)
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.transcript += ANSI.sub("", os.read(self.fd, 65536).decode(
                        "utf-8", "replace")).replace("\r", "")
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
            return pid != 0
        wait_for(ended, timeout, "the shell to exit")
        return self.code

    def close(self) -> None:
        if self.code is None:
            try:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


@pytest.fixture
def terminal():
    opened = []

    def open_terminal(*args: str, **env_vars: str) -> Terminal:
        opened.append(Terminal(*args, **env_vars))
        return opened[-1]

    yield open_terminal
    for term in opened:
        term.close()


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_ctrl_c_cancels_the_running_job_and_keeps_the_shell(terminal, master):
    """On a terminal: Ctrl-C during a long job brings the prompt back within seconds with a
    one-line message, the Context still runs jobs, and Ctrl-D leaves no process behind."""
    term = terminal("--master", master, "--plain")  # Python's console even with IPython
    term.expect(">>> ")
    term.send(b"print('dir=' + sc.app_dir + '=')\n")
    app_dir = re.search(r"dir=(.+)=\n", term.expect("=\n>>> ")).group(1)
    term.send(b"sc.parallelize(range(4),4).map(lambda x: __import__('time').sleep(60))"
              b".collect()\n")
    term.expect("stage 0 ")  # the progress bar of the running stage
    if master == "local[2]":
        wait_for(lambda: len(descendants(term.pid)) >= 2, 30, "two executors")
    processes = session_processes(term.pid, app_dir)

    ctrl_c_cancels_job_0(term)

    term.send(b"print('count =', sc.parallelize([1, 2]).count())\n")
    assert "count = 2\n" in term.expect(">>> ", timeout=60)
    processes += session_processes(term.pid, app_dir)

    term.send(b"\x04")  # Ctrl-D
    assert term.wait() == 0, term.transcript[-3000:]
    assert_all_gone(processes)


def test_ctrl_c_cancels_the_running_job_after_another_threads_job_ended(terminal):
    """Jobs of two threads at once: the main thread's long job, and a thread's short one
    that ends first. Ctrl-C then cancels the main thread's job as with one job: the prompt
    within seconds, one line naming it. Before, the thread's job's end made the shell
    believe no job ran: Ctrl-C interrupted the driver mid-job and showed a traceback."""
    term = terminal("--master", "local[2]", "--plain")
    term.expect(">>> ")
    term.send(b"import threading, time\n")
    term.expect(">>> ")
    term.send(b"def short_job():\n"
              b"    while not sc.status_tracker().get_active_job_ids(): time.sleep(0.01)\n"
              b"    print('short job:', sc.parallelize([1, 2], 1).count())\n"
              b"\n")
    term.expect(">>> ")
    term.send(b"threading.Thread(target=short_job).start(); "
              b"sc.parallelize([0], 1).map(lambda x: time.sleep(60)).collect()\n")
    term.expect("short job: 2\n")
    ctrl_c_cancels_job_0(term)
    term.send(b"print('count =', sc.parallelize([1, 2]).count())\n")
    assert "count = 2\n" in term.expect(">>> ", timeout=60)
    term.send(b"\x04")
    assert term.wait() == 0, term.transcript[-3000:]


def test_ctrl_c_at_the_prompt_cancels_a_threads_running_job(terminal):
    """A thread's job running while the session waits for a statement: Ctrl-C there
    cancels it and clears the line, as PySpark's handler cancels all jobs and raises
    KeyboardInterrupt; the thread gets JobCancelled.  Before, the thread's job was taken
    for the statement's: the line stayed."""
    term = terminal("--master", "local[2]", "--plain")
    term.expect(">>> ")
    term.send(b"import sys, threading, time\n")
    term.expect(">>> ")
    term.send(b"def long_job():\n"
              b"    try: sc.parallelize([0], 1).map(lambda x: time.sleep(60)).collect()\n"
              b"    except Exception as e: sys.stdout.write(f'long job: {type(e).__name__}\\n')\n"
              b"\n")
    term.expect(">>> ")
    term.send(b"threading.Thread(target=long_job).start()\n")
    term.expect(">>> ")
    term.send(b"while not sc.status_tracker().get_active_job_ids(): time.sleep(0.01)\n\n")
    term.expect(">>> ")
    term.wait_for_key()
    term.send(b"\x03")
    try:
        term.expect("KeyboardInterrupt\n", timeout=3)
    except AssertionError:
        # the kernel handed the SIGINT to another of the shell's threads (1 run in ~10 here):
        # its handler runs in the main thread, which CPython's read of the terminal does not
        # leave for it until a key comes (a known limit, noted in the session's note)
        term.send(b"\n")
    # the thread's line may come before KeyboardInterrupt (then the expect above read past it)
    if "long job: JobCancelled\n" not in term.transcript:
        term.expect("long job: JobCancelled\n", timeout=15)
    term.send(b"print('after')\n")
    term.expect("after\n>>> ", timeout=15)
    assert "\nKeyboardInterrupt\n" in term.transcript, term.transcript[-3000:]  # line cleared
    term.send(b"\x04")
    assert term.wait() == 0, term.transcript[-3000:]


@pytest.mark.parametrize("console", ["--plain", "ipython"])
def test_pythonstartup_runs_in_the_sessions_namespace(terminal, tmp_path, console):
    """On a terminal, the file PYTHONSTARTUP names runs before the first prompt, with `sc`
    defined, as pyspark's shell runs it (and Python's REPL, and IPython); a failing one shows
    its error and the session goes on.  --plain (Python's console) ran none."""
    if console == "ipython":
        pytest.importorskip("IPython")
    startup = tmp_path / "startup.py"
    startup.write_text("double = lambda rdd: rdd.map(lambda x: 2 * x)\n"
                       "startup_saw = type(sc).__name__\n")
    term = terminal("--master", "local", *([console] if console == "--plain" else []),
                    PYTHONSTARTUP=str(startup))
    term.send(b"print(startup_saw, double(sc.parallelize([1, 2])).collect())\n")
    assert "Context [2, 4]\n" in term.expect("[2, 4]\n", timeout=60)
    term.send(b"exit()\n")
    assert term.wait() == 0


def test_a_failing_pythonstartup_is_reported_and_the_session_goes_on(terminal, tmp_path):
    """A PYTHONSTARTUP file that raises: its traceback, then the prompt, as Python's REPL."""
    startup = tmp_path / "startup.py"
    startup.write_text("raise ValueError('bad startup')\n")
    term = terminal("--master", "local", "--plain", PYTHONSTARTUP=str(startup))
    assert "ValueError: bad startup" in term.expect(">>> ", timeout=60)
    term.send(b"print(6 * 7)\n")
    assert "42\n" in term.expect(">>> ")
    term.send(b"exit()\n")
    assert term.wait() == 0


def test_ctrl_c_at_the_prompt_clears_the_line(terminal):
    """Ctrl-C while typing drops the unfinished statement, as Python's REPL does."""
    term = terminal("--master", "local", "--plain")
    term.expect(">>> ")
    term.send(b"for i in range(3):\n")
    term.expect("... ")
    term.send(b"    print(i)")
    term.expect("print(i)")
    term.wait_for_key()
    term.send(b"\x03")
    assert "KeyboardInterrupt" in term.expect(">>> ", timeout=15)
    term.send(b"print(6 * 7)\n")
    assert "42\n" in term.expect(">>> ")
    term.send(b"exit()\n")
    assert term.wait() == 0


def test_ipython_session_cancels_with_ctrl_c_and_reports_errors(terminal):
    """Where IPython is installed, the shell is IPython, with the same Ctrl-C and errors."""
    pytest.importorskip("IPython")
    term = terminal("--master", "local[2]")
    term.expect("In [1]: ")
    term.send(b"sc.parallelize(range(4),4).map(lambda x: __import__('time').sleep(60))"
              b".collect()\r")
    term.expect("stage 0 ")
    wait_for(lambda: len(descendants(term.pid)) >= 2, 30, "two executors")
    processes = descendants(term.pid)
    started = time.monotonic()
    term.send(b"\x03")
    shown = term.expect("In [2]: ", timeout=15)
    assert time.monotonic() - started < 5, shown
    assert "KeyboardInterrupt: job 0 cancelled; its running tasks were stopped" in shown, shown
    term.send(b"sc.parallelize([1, 0], 2).map(lambda x: 1 / x).collect()\r")
    shown = term.expect("In [3]: ")
    assert "ZeroDivisionError: division by zero" in shown, shown
    assert "interactiveshell.py" not in shown  # neither IPython's frames nor Vega's
    term.send(b"print('count =', sc.parallelize([1, 2]).count())\r")
    assert "count = 2\n" in term.expect("In [4]: ")
    processes += descendants(term.pid)
    term.send(b"\x04")
    assert term.wait() == 0, term.transcript[-3000:]
    assert_all_gone(processes)


@pytest.mark.parametrize("statement, code", [(b"exit(3)", 3), (b"quit(4)", 4), (b"exit", 0)])
def test_ipython_exit_with_a_status_is_the_shell_exit_code(terminal, statement, code):
    """README: ``exit(N)`` sets the exit status, in IPython too (whose own ``exit`` takes no
    argument: ``exit(3)`` was a TypeError and the session went on); bare ``exit`` leaves
    with 0, and the Context's executors stop either way."""
    pytest.importorskip("IPython")
    term = terminal("--master", "local[2]")
    term.expect("In [1]: ")
    term.send(b"print('count =', sc.parallelize([1, 2]).count())\r")
    assert "count = 2\n" in term.expect("In [2]: ")
    processes = descendants(term.pid)
    assert processes
    term.send(statement + b"\r")
    assert term.wait() == code, term.transcript[-3000:]
    assert "TypeError" not in term.transcript
    assert_all_gone(processes)


def ctrl_c_cancels_job_0(term) -> None:
    """Ctrl-C in ``term`` while job 0 runs: the prompt again within seconds, one line saying
    the job was cancelled, no traceback."""
    started = time.monotonic()
    term.send(b"\x03")
    shown = term.expect(">>> ", timeout=15)
    assert time.monotonic() - started < 5, shown
    assert "KeyboardInterrupt: job 0 cancelled; its running tasks were stopped" in shown, shown
    assert "Traceback" not in shown
