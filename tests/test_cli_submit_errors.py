"""``vega submit``'s exit codes and error messages: a real process (test_cli_submit.py has the
rest, test_cli_submit_signals.py Ctrl-C and kills)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from proc_helpers import LOCAL_MASTERS as MASTERS
from proc_helpers import REPO, frame_lines, write_job

from vega_runtime import Context


def error_lines(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("vega: error:")]


# -- exit codes and errors ----------------------------------------------------------------------

@pytest.mark.parametrize("master", MASTERS)
def test_exception_in_driver_exits_1_with_user_traceback_only(vega_cli, tmp_path, master):
    """A driver exception exits 1 and shows the job's frames, not vega_cli's or runpy's."""
    job = write_job(tmp_path, "driver_fails.py", """
        from vega_runtime import Context

        def check(total):
            raise ValueError(f"unexpected total {total}")

        with Context() as ctx:
            check(ctx.parallelize([1, 2, 3]).sum())
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 1
    assert f'File "{job}", line 7, in <module>' in result.stderr
    assert f'File "{job}", line 4, in check' in result.stderr
    assert "ValueError: unexpected total 6" in result.stderr
    frames = frame_lines(result.stderr)
    assert frames and all(job in line for line in frames), frames
    assert "runpy" not in result.stderr and "vega_cli" not in result.stderr


@pytest.mark.parametrize("master", MASTERS)
def test_exception_in_task_exits_1_with_remote_traceback(vega_cli, tmp_path, master):
    """1/0 in a map exits 1 naming ZeroDivisionError, the user's line and 'failed once' (a
    local master tries a task once, as Spark's)."""
    job = write_job(tmp_path, "task_fails.py", """
        from vega_runtime import Context

        def invert(x):
            return 1 / (x - x)

        with Context() as ctx:
            ctx.parallelize(range(8), 4).map(invert).collect()
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 1
    assert "ZeroDivisionError" in result.stderr
    assert f'File "{job}", line 4, in invert' in result.stderr
    assert "failed once" in result.stderr
    assert not [line for line in frame_lines(result.stderr)
                if "vega_runtime" in line or "vega_cli" in line or "runpy" in line]


@pytest.mark.parametrize("master, executor", [("local[2]", "exec-"), ("local", "driver)")])
def test_a_keyboard_interrupt_raised_by_a_task_fails_the_task(vega_cli, tmp_path, master,
                                                              executor):
    """An executor process ignores Ctrl-C, so a KeyboardInterrupt there is the task's own: a
    task failure with the user's traceback, as in PySpark (not a lost executor). A ``local``
    task runs in the driver, where one came with no Ctrl-C is the task's own too (it said
    'job cancelled (Ctrl-C)', exit code 130)."""
    job = write_job(tmp_path, "interrupts.py", """
        from vega_runtime import Context

        def f(x):
            raise KeyboardInterrupt("from the task")

        with Context() as ctx:
            ctx.parallelize(range(2), 2).map(f).collect()
    """)
    result = vega_cli("submit", "--master", master, "--conf", "vega.task.max_attempts=1", job)
    assert result.returncode == 1, result.stderr
    assert "failed once; last error on localhost (" + executor in result.stderr
    assert "): KeyboardInterrupt: from the task" in result.stderr
    assert frame_lines(result.stderr) == [f'  File "{job}", line 4, in f'], result.stderr
    assert "lost" not in result.stderr


@pytest.mark.parametrize("master", MASTERS)
def test_a_task_ending_with_sys_exit_fails_naming_systemexit_as_python_does(vega_cli, tmp_path,
                                                                           master):
    """sys.exit() in a task fails the task (its process is not ended, the driver's exit code
    is 1), the error named as Python's traceback ends: 'SystemExit', not 'SystemExit: '."""
    job = write_job(tmp_path, "exits_in_task.py", """
        import sys
        from vega_runtime import Context

        def f(x):
            sys.exit()

        with Context() as ctx:
            ctx.parallelize(range(1), 1).map(f).collect()
    """)
    result = vega_cli("submit", "--master", master, "--conf", "vega.task.max_attempts=1", job)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    [job_failed] = [line for line in lines if line.startswith("vega: job failed:")]
    assert re.search(r"failed once; last error on localhost \([\w-]+\): SystemExit$",
                     job_failed), job_failed
    assert not [line for line in lines if line.endswith("SystemExit: ")], result.stderr
    assert frame_lines(result.stderr) == [f'  File "{job}", line 5, in f'], result.stderr


def test_a_pyspark_program_without_the_switch_is_told_about_pyspark_compat(vega_cli, tmp_path):
    """A spark-submit user's first try, vega submit job.py on a PySpark program, ended in
    "ModuleNotFoundError: No module named 'pyspark'" with no word on --pyspark-compat."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is not None:
        pytest.skip("a real pyspark is installed here: the program would import it")
    job = write_job(tmp_path, "spark_job.py", """
        from pyspark import SparkContext
        print(SparkContext().parallelize(range(10)).sum())
    """)
    result = vega_cli("submit", "--master", "local", job)
    assert (result.returncode, result.stdout) == (1, "")
    assert frame_lines(result.stderr) == [f'  File "{job}", line 1, in <module>'], result.stderr
    assert result.stderr.splitlines()[-1] == (
        "PySpark programs run on Vega with vega submit --pyspark-compat: 'import pyspark' then "
        "means Vega (docs/api.md).")
    switched = vega_cli("submit", "--master", "local", "--pyspark-compat", job)
    assert (switched.returncode, switched.stdout) == (0, "45\n"), switched.stderr


def test_sys_exit_code_of_the_job_is_the_exit_code(vega_cli, tmp_path):
    """sys.exit(3) in a job makes vega submit exit 3."""
    job = write_job(tmp_path, "exits.py", """
        import sys
        from vega_runtime import Context
        with Context() as ctx:
            print(ctx.parallelize([1, 2], 2).count())
            sys.exit(3)
    """)
    result = vega_cli("submit", "--master", "local[2]", job)
    assert result.returncode == 3
    assert result.stdout == "2\n"


def test_missing_job_file_exits_2_naming_it(vega_cli, tmp_path):
    """A job path that does not exist is a usage error (2) naming that path."""
    missing = str(tmp_path / "no_such_job.py")
    result = vega_cli("submit", "--master", "local", missing)
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1 and missing in error_lines(result.stderr)[0]
    assert "Traceback" not in result.stderr
    directory = vega_cli("submit", "--master", "local", str(tmp_path))
    assert directory.returncode == 2
    assert error_lines(directory.stderr) == [
        f"vega: error: job {str(tmp_path)!r} is a directory, not a Python script"]


def _not_a_regular_file(tmp_path, kind: str, suffix: str):
    """``(path, what vega submit says it is)`` of a ``kind`` of thing that is no regular file:
    a FIFO, a broken link, nothing at all, named ``*SUFFIX``."""
    path = tmp_path / f"item{suffix}"
    if kind == "fifo":
        os.mkfifo(path)
        return str(path), "is a named pipe, not a regular file"
    if kind == "link":
        path.symlink_to(tmp_path / "deleted")
        return str(path), f"is a broken symbolic link (to {str(tmp_path / 'deleted')!r})"
    return str(path), "does not exist"


@pytest.mark.parametrize("kind", ["fifo", "link", "missing"])
@pytest.mark.parametrize("mode", ["client", "cluster"])
@pytest.mark.parametrize("role, suffix", [("job", ".py"), ("--py-files", ".py"),
                                          ("--files", ".csv"), ("--archives", ".tgz")])
def test_a_job_or_shipped_file_that_is_no_regular_file_is_refused_saying_what_it_is(
        vega_cli, tmp_path, kind, mode, role, suffix):
    """A job, --py-files, --files or --archives item that is a FIFO (vega submit <(...)) or a
    broken link is a usage error saying what it is, in both deploy modes: the job was said
    not to exist, a FIFO in --py-files was an 'internal error: SpecialFileError', and in
    cluster deploy mode a missing --files item was an internal FileNotFoundError and a FIFO
    hung the package's build.  (Refused before any master is asked: none runs here.)"""
    path, problem = _not_a_regular_file(tmp_path, kind, suffix)
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    master = "local" if mode == "client" else "vega://127.0.0.1:1"
    args = [path] if role == "job" else [role, path, job]
    result = vega_cli("submit", "--master", master, "--deploy-mode", mode, *args, timeout=60)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    named = f"job file {path!r}" if role == "job" else f"{role}: {path!r}"
    assert error_lines(result.stderr) == [f"vega: error: {named} {problem}"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="root's read permission is taken away with setpriv")
@pytest.mark.parametrize("role", ["--py-files", "--files"])
def test_a_shipped_file_this_account_cannot_read_is_a_usage_error(tmp_path, role):
    """A --py-files or --files item of mode 000 was 'internal error: PermissionError' (exit
    1). Run as root without the capabilities that read any file, as another user would."""
    unreadable = tmp_path / "secret.py"
    unreadable.write_text("X = 1\n")
    unreadable.chmod(0)
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    tmp_path.chmod(0o755)
    result = subprocess.run(
        ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
         "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m", "vega_cli.main",
         "submit", "--master", "local", role, str(unreadable), job],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert error_lines(result.stderr) == [
        f"vega: error: {role}: {str(unreadable)!r} cannot be read: permission denied"]


def test_a_job_that_is_a_device_or_a_pipe_says_to_save_it_to_a_file(vega_cli):
    """vega submit /dev/stdin (or <(...)): the job is read more than once, so a script file
    it must be; it said the file 'does not exist'."""
    result = vega_cli("submit", "--master", "local", "/dev/null")
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [
        "vega: error: job file '/dev/null' is a character device, not a regular file",
        "Save the script to a file and submit that file (it is read more than once)."]


def test_syntax_error_in_job_exits_1_with_file_line(vega_cli, tmp_path):
    """A job that does not parse exits 1 with 'FILE:LINE' and 'syntax error', running nothing."""
    job = write_job(tmp_path, "broken.py", """
        print("never runs")
        total = 1
        def half(x:
            return x / 2
    """)
    result = vega_cli("submit", "--master", "local", job)
    assert result.returncode == 1
    assert result.stdout == ""
    [message] = error_lines(result.stderr)
    assert f"{job}:3" in message and "syntax error" in message
    assert "Traceback" not in result.stderr


def test_a_job_that_is_a_zip_or_a_directory_with_a_main_says_what_to_submit(vega_cli, tmp_path):
    """Python runs a zip or a directory holding __main__.py; vega submit (as spark-submit)
    runs a .py file: a zip is a usage error saying to ship it with --py-files (it said
    'app.zip:None: syntax error: source code string cannot contain null bytes', exit 1), and
    a directory's hint names its __main__.py."""
    import zipfile

    app = tmp_path / "app"
    app.mkdir()
    (app / "__main__.py").write_text("print('main')\n")
    archive = str(tmp_path / "app.zip")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(app / "__main__.py", "__main__.py")
    result = vega_cli("submit", "--master", "local", archive)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"vega: error: job {archive!r} is a zip archive, not a Python script",
        f"Ship it with --py-files {archive} and submit a script that imports from it."]
    directory = vega_cli("submit", "--master", "local", str(app))
    assert directory.returncode == 2
    assert directory.stderr.splitlines()[1:] == [
        f"Give the path of its script: vega submit {app / '__main__.py'}"]


def test_a_job_of_null_bytes_is_not_python_source_with_no_line_named(vega_cli, tmp_path):
    """A file with NUL bytes is refused naming the file alone (it said 'job.py:None')."""
    job = tmp_path / "binary.py"
    job.write_bytes(b"print(1)\n\x00\x01\n")
    result = vega_cli("submit", "--master", "local", str(job))
    assert (result.returncode, result.stdout) == (1, "")
    [message] = error_lines(result.stderr)
    assert message.startswith(f"vega: error: {job}: ") and "null bytes" in message, message


UNPICKLABLE = {
    "lock": ("import threading", "threading.Lock()", "lock"),
    "socket": ("import socket", "socket.socket()", "socket"),
}


@pytest.mark.parametrize("master", MASTERS)
@pytest.mark.parametrize("kind", sorted(UNPICKLABLE))
def test_unpicklable_closure_exits_1_naming_variable_and_type(vega_cli, tmp_path, kind, master):
    """A closure capturing a lock or socket fails with one message naming the variable and type."""
    module, make, type_name = UNPICKLABLE[kind]
    job = write_job(tmp_path, "captures.py", f"""
        {module}
        from vega_runtime import Context

        def main():
            guard_{kind} = {make}
            with Context() as ctx:
                ctx.parallelize(range(4), 2).map(lambda x: (guard_{kind}, x)[1]).collect()

        main()
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 1
    assert f"'guard_{kind}' of type {type_name}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # the stage it started ends, failed, with the same reason
    assert re.search(rf"^stage 0 failed after [0-9.]+s: cannot send function 'main.<locals>.<lambda>' .*"
                     rf"'guard_{kind}' of type {type_name}", result.stderr, re.M), result.stderr


@pytest.mark.parametrize("master", MASTERS)
def test_a_closure_capturing_the_context_says_it_exists_only_on_the_driver(vega_cli, tmp_path,
                                                                             master):
    """A function that captures the Context fails before any task runs with PySpark's
    CONTEXT_ONLY_VALID_ON_DRIVER error, naming the variable and the function, whole. Before,
    it was 'it captures 'ctx' of type Context, which cannot be pickled ([that error cut at
    200 characters, mid-word]). Create that object inside the function ...': advice no one
    can follow for a Context."""
    job = write_job(tmp_path, "uses_ctx.py", """
        from vega_runtime import Context

        def main():
            with Context() as ctx:
                ctx.parallelize(range(4), 2).map(lambda x: ctx.parallelize([x]).count()).collect()

        main()
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("vega: job f")] == [
        "vega: job failed: [CONTEXT_ONLY_VALID_ON_DRIVER] the Context (captured as 'ctx' by "
        f"function 'main.<locals>.<lambda>' ({job}:5)) can only be used on the driver, not "
        "inside a task. A transformation's function runs on an executor, which has no "
        "Context: compute what you need before the transformation (for example collect() a "
        "small RDD and broadcast() it), or express it as a join."], result.stderr
    assert "Traceback" not in result.stderr
    assert "failed on" not in result.stderr  # no task ran


def test_a_driver_without_the_cluster_secret_says_so(vega_cli, tmp_path):
    """A driver of a vega:// master on another host, on a host without the cluster secret:
    one message saying that and where the secret goes, before anything is sent. Before:
    'refusing to listen on 10.0.0.5 without a cluster secret: ... Bind to 127.0.0.1', the
    driver's own listener speaking, which told a user submitting a job nothing. A secret
    file named by VEGA_SECRET_FILE that does not exist was 'the job raised
    FileNotFoundError' with the job's traceback."""
    conf_dir = tmp_path / "conf"  # no secret in it: the default secret file is missing
    conf_dir.mkdir()
    url = "vega://192.0.2.1:7077"  # TEST-NET-1: never reached, the driver stops before
    result = vega_cli("submit", "--master", url, "jobs/pi.py", "10",
                      env={"VEGA_CONF_DIR": str(conf_dir), "VEGA_SECRET_FILE": ""})
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("vega: job f")] == [
        f"vega: job failed: this host has no cluster secret ({conf_dir / 'secret'} does not "
        f"exist), which a driver of {url} needs: copy the cluster's secret there (the master's "
        f"~/.vega/secret, mode 0600), or point VEGA_SECRET_FILE or --conf vega.secret.file at "
        f"it"], result.stderr
    missing = tmp_path / "no-such-secret"
    result = vega_cli("submit", "--master", url, "jobs/pi.py", "10",
                      env={"VEGA_CONF_DIR": str(conf_dir), "VEGA_SECRET_FILE": str(missing)})
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("vega: job f")] == [
        f"vega: job failed: secret file '{missing}' does not exist"], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("conf, named", [
    ("vega.task.max_attempts", "vega.task.max_attempts"),  # no '='
    ("vega.no.such.key=1", "vega.no.such.key"),
    ("vega.task.max_attempts=abc", "vega.task.max_attempts"),
])
def test_bad_conf_exits_2_naming_the_key(vega_cli, conf, named):
    """A --conf without '=', with an unknown key or with a bad value is a usage error naming it."""
    result = vega_cli("submit", "--master", "local", "--conf", conf, "jobs/make_rdd.py")
    assert result.returncode == 2
    assert result.stdout == ""
    [message] = error_lines(result.stderr)
    assert named in message and "--conf" in message
    assert "Traceback" not in result.stderr


def test_bad_conf_value_message_names_the_value(vega_cli):
    """vega.task.max_attempts=abc explains that 'abc' is not a whole number."""
    result = vega_cli("submit", "--conf", "vega.task.max_attempts=abc", "jobs/make_rdd.py")
    assert result.returncode == 2
    assert "'abc' is not a whole number" in result.stderr


@pytest.mark.parametrize("args, message", [
    (("--conf", "vega.task.max_attempts=0"),
     "--conf: vega.task.max_attempts must be at least 1, not 0"),
    (("--conf", "vega.task.max_attempts=-3"),
     "--conf: vega.task.max_attempts must be at least 1, not -3"),
    (("--conf", "vega.cores.max=-1"),
     "--conf: vega.cores.max must be at least 1, not -1 (leave it unset for no limit)"),
    (("--total-executor-cores", "-1"),
     "--total-executor-cores: vega.cores.max must be at least 1, not -1 (leave it unset for no "
     "limit)"),
    # 0 cores: the flags refused it while --conf took it as "no limit" (spark-submit refuses
    # both, "Executor cores must be a positive number"); now each says the same
    (("--executor-cores", "0"),
     "--executor-cores: vega.executor.cores must be at least 1, not 0 (leave it unset for no "
     "limit)"),
    (("--conf", "vega.executor.cores=0"),
     "--conf: vega.executor.cores must be at least 1, not 0 (leave it unset for no limit)"),
    (("--total-executor-cores", "0"),
     "--total-executor-cores: vega.cores.max must be at least 1, not 0 (leave it unset for no "
     "limit)"),
    (("--conf", "vega.cores.max=0"),
     "--conf: vega.cores.max must be at least 1, not 0 (leave it unset for no limit)"),
    (("--conf", "spark.executor.cores=0"),
     "--conf: spark.executor.cores (vega.executor.cores) must be at least 1, not 0 (leave it "
     "unset for no limit)"),
    # past what travels to the master (msgpack: OverflowError in the job's Context) or what a
    # clock waits (a thread of the driver died: OverflowError, and the job hung)
    (("--total-executor-cores", "99999999999999999999"),
     "--total-executor-cores: vega.cores.max 99999999999999999999 is too large: at most "
     "2147483647"),
    (("--conf", "vega.net.handshake_timeout=1e300"),
     "--conf: vega.net.handshake_timeout '1e300' is too long: at most 1000000000 seconds "
     "(about 31 years)"),
    (("--conf", "vega.locality.wait=inf"), "--conf: vega.locality.wait 'inf' is not a finite "
     "number"),
    (("--executor-memory", "99999999999999999999g"),
     "--executor-memory: vega.executor.memory '99999999999999999999g' is too large a size (at "
     "most 8388607t)"),
    # no "0m is 0 MiB" advice: 0 is too small in any unit
    (("--conf", "vega.executor.memory=0"),
     "--conf: vega.executor.memory must be at least 1m, not 0"),
    (("--executor-memory", "-5g"),
     "--executor-memory: vega.executor.memory must be at least 1m, not -5g"),
    (("--conf", "vega.driver.max_result_size=-1m"),
     "--conf: vega.driver.max_result_size must be at least 0, not -1m"),
    # spark-submit reads a bare --executor-memory as MiB: '..., not 4096' left a Spark user
    # wondering how 4096 is less than 1m
    (("--executor-memory", "4096"),
     "--executor-memory: vega.executor.memory must be at least 1m, not 4096 bytes (a size "
     "without a unit is in bytes: 4096m is 4096 MiB)"),
    # NaN passed every range check (all comparisons are False): a wait of NaN seconds,
    # a speculation multiplier no task time is ever above
    (("--conf", "vega.locality.wait=nan"), "--conf: vega.locality.wait 'nan' is not a number"),
    (("--conf", "spark.speculation.multiplier=NaN"),
     "--conf: spark.speculation.multiplier (vega.speculation.multiplier) 'NaN' is not a "
     "number"),
    # a Spark name is named as given, with the Vega setting it is: the user wrote no
    # vega.task.max_attempts
    (("--conf", "spark.task.maxFailures=0"),
     "--conf: spark.task.maxFailures (vega.task.max_attempts) must be at least 1, not 0"),
])
def test_values_out_of_range_exit_2_naming_the_flag_setting_value_and_range(vega_cli, args,
                                                                           message):
    """A count that must be positive, given as 0 or less, is a usage error, not silently
    1 (max attempts) or a job waiting forever (cores); a flag's error names that flag."""
    result = vega_cli("submit", "--master", "local", *args, "jobs/make_rdd.py")
    assert result.returncode == 2
    assert result.stdout == ""
    assert error_lines(result.stderr) == [f"vega: error: {message}"]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("setting", ["vega.net.handshake_timeout", "vega.net.send_timeout"])
def test_a_timeout_of_months_is_waited_in_steps_not_overflowed(vega_cli, setting):
    """--conf vega.net.handshake_timeout=1e7 (116 days) on a local cluster: the job runs. A
    wait past ~24.8 days overflowed poll()'s milliseconds: the driver's RPC server thread
    died of 'OverflowError: timeout is too large' and vega submit hung."""
    result = vega_cli("submit", "--master", "local-cluster[1,1]", "--conf", f"{setting}=1e7",
                      "jobs/pi.py", "100", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Pi is roughly ")
    assert "Traceback" not in result.stderr


def test_max_attempts_from_the_environment_out_of_range_exits_2_naming_the_variable(vega_cli):
    result = vega_cli("submit", "--master", "local", "jobs/make_rdd.py",
                      env={"VEGA_TASK_MAX_ATTEMPTS": "0"})
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "vega: error: VEGA_TASK_MAX_ATTEMPTS: vega.task.max_attempts must be at least 1, not 0"]


RESULT_HINT = ("bring less back to the driver (take, a sample, an aggregate, or "
               "save_as_text_file) or raise vega.driver.max_result_size (0: no limit but the "
               "1 GiB any one task's result can be)")


@pytest.mark.parametrize("master, executor", [("local", "driver"), ("local[2]", "exec-[12]")])
def test_a_task_result_over_max_result_size_fails_the_job_at_once(vega_cli, tmp_path, master,
                                                                  executor):
    """A task whose serialized result is bigger than vega.driver.max_result_size fails
    the job on its first attempt (the executor does not send it: no protocol error, no
    executor lost), naming the setting and both sizes."""
    job = write_job(tmp_path, "big_result.py", """
        from vega_runtime import Context

        with Context() as ctx:
            print(len(ctx.parallelize(range(2), 2).map(lambda i: b"x" * (2 << 20)).collect()))
    """)
    started = time.monotonic()
    result = vega_cli("submit", "--master", master, "--conf", "vega.driver.max_result_size=1m",
                      job)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert result.stdout == ""
    [failed] = [line for line in result.stderr.splitlines() if line.startswith("vega: job failed:")]
    assert re.fullmatch(
        r"vega: job failed: task [01] of stage 0 \(RDD created at big_result.py:4 in <module>\) "
        rf"failed once; last error on localhost \({executor}\): ResultTooLarge: the serialized "
        r"result of 1 task \(2.0 MiB\) is bigger than vega.driver.max_result_size \(1 MiB\): "
        + re.escape(RESULT_HINT), failed), failed
    assert "(attempt 1)" not in result.stderr and "will run again" not in result.stderr
    assert "protocol error" not in result.stderr and "was lost" not in result.stderr


@pytest.mark.parametrize("master", MASTERS)
def test_results_over_max_result_size_together_fail_the_job(vega_cli, tmp_path, master):
    """Results each within vega.driver.max_result_size but over it together fail the job
    as soon as the driver has counted them (Spark's "Total size of serialized results")."""
    job = write_job(tmp_path, "many_results.py", """
        from vega_runtime import Context

        with Context() as ctx:
            print(len(ctx.parallelize(range(4), 4).map(lambda i: b"x" * 400000).collect()))
    """)
    result = vega_cli("submit", "--master", master, "--conf", "vega.driver.max_result_size=1m",
                      job)
    assert result.returncode == 1
    assert result.stdout == ""
    [failed] = [line for line in result.stderr.splitlines() if line.startswith("vega: job failed:")]
    assert failed == ("vega: job failed: total size of serialized results of 3 tasks (1.1 MiB) "
                      "is bigger than vega.driver.max_result_size (1 MiB): " + RESULT_HINT)
    assert "failed on" not in result.stderr


@pytest.mark.parametrize("master", MASTERS)
def test_results_within_max_result_size_are_collected(vega_cli, tmp_path, master):
    """The same job with room enough (or no limit: 0) succeeds."""
    job = write_job(tmp_path, "many_results.py", """
        from vega_runtime import Context

        with Context() as ctx:
            print(len(ctx.parallelize(range(4), 4).map(lambda i: b"x" * 400000).collect()))
    """)
    for limit in ("2m", "0"):
        result = vega_cli("submit", "--master", master, "--conf",
                          f"vega.driver.max_result_size={limit}", job)
        assert (result.returncode, result.stdout) == (0, "4\n"), result.stderr


@pytest.mark.parametrize("url", ["bogus", "local[0]", "local[two]", "vega://nohost"])
def test_bad_master_url_exits_2_naming_it(vega_cli, url):
    """An unknown master URL is a usage error that quotes the URL."""
    result = vega_cli("submit", "--master", url, "jobs/make_rdd.py")
    assert result.returncode == 2
    assert result.stdout == ""
    [message] = error_lines(result.stderr)
    assert repr(url) in message
    assert "Traceback" not in result.stderr


def test_a_master_that_cannot_be_reached_exits_3_and_leaves_nothing(vega_cli, tmp_path):
    """The README's exit code 3; the Context that could not start leaves no directory."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job = write_job(tmp_path, "ok.py", """
        from vega_runtime import Context
        with Context() as ctx:
            print(ctx.parallelize([1]).count())
    """)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = vega_cli("submit", "--master", f"vega://127.0.0.1:{port}", job,
                      env={"TMPDIR": str(scratch)})
    assert result.returncode == 3, result.stderr
    assert f"cannot reach the master at vega://127.0.0.1:{port}" in result.stderr
    assert result.stdout == "" and os.listdir(scratch) == []


@pytest.mark.parametrize("master", ["local", "local[2]"])
def test_cluster_deploy_mode_with_local_master_exits_2(vega_cli, master):
    """--deploy-mode cluster needs a vega:// master; with a local one it is a usage error."""
    result = vega_cli("submit", "--deploy-mode", "cluster", "--master", master, "jobs/make_rdd.py")
    assert result.returncode == 2
    assert result.stdout == ""
    [message] = error_lines(result.stderr)
    assert "--deploy-mode cluster" in message and repr(master) in message


def test_unknown_flag_exits_2(vega_cli):
    """An unknown vega submit flag before the job exits 2 and names the flag."""
    result = vega_cli("submit", "--no-such-flag", "jobs/make_rdd.py")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--no-such-flag" in result.stderr


def test_unknown_flag_is_reported_as_an_unknown_option(vega_cli):
    """An unknown flag is called an unknown option, not a missing job file."""
    result = vega_cli("submit", "--no-such-flag", "jobs/make_rdd.py")
    assert result.returncode == 2
    assert re.search(r"(no such|unknown|unrecognized) option", result.stderr, re.IGNORECASE), \
        result.stderr
    assert "does not exist" not in result.stderr


def test_a_local_cluster_too_small_for_an_executor_fails_with_its_error_alone(vega_cli, tmp_path):
    """local-cluster[W,C,M] with M below vega.executor.memory is refused before anything
    starts: the error and the job's frame, no thread's traceback. The driver's TLS set-up
    thread used to start first and read the cluster secret as the failed Context deleted
    it: most runs also printed 'Exception in thread vega-tls-setup: ... FileNotFoundError:
    .../cluster-secret'. Three runs: the race lost about two times in three."""
    for _ in range(3):
        result = vega_cli("submit", "--master", "local-cluster[2,1,100]", "jobs/pi.py", "10",
                          env={"HOME": str(tmp_path)})
        assert result.returncode == 1, result.stderr
        lines = [line for line in result.stderr.splitlines()
                 if not line.startswith("vega: job package")]
        assert lines == [
            "vega: job failed: local-cluster[2,1,100]: vega.executor.memory (1024 MiB) is more "
            "than each worker's 100 MiB: give the workers more memory (M of "
            "local-cluster[W,C,M], in MiB) or the executors less",
            f'(raised by the driver at "{os.path.join(REPO, "jobs", "pi.py")}", line 19, in main)'
        ], result.stderr


def test_a_settings_file_not_in_utf8_is_a_usage_error_naming_it(vega_cli, tmp_path):
    """--config of a Latin-1 file said 'internal error: UnicodeDecodeError ... please
    report it' (exit 1), for vega submit and the daemons alike."""
    conf = tmp_path / "latin1.yaml"
    conf.write_bytes(b"vega.app.name: caf\xe9\n")
    result = vega_cli("submit", "--config", str(conf), "jobs/make_rdd.py")
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [
        f"vega: error: {conf}: file cannot be read: 'utf-8' codec can't decode byte 0xe9 in "
        "position 18: invalid continuation byte"]


def test_a_settings_file_s_spark_name_is_named_as_written(vega_cli, tmp_path):
    """A --config file's bad value of a Spark setting names it as the file writes it, with
    Vega's name beside it (it named vega.task.max_attempts, which the file does not have)."""
    conf = tmp_path / "spark.yaml"
    conf.write_text("spark.task.maxFailures: 0\n")
    result = vega_cli("submit", "--config", str(conf), "jobs/make_rdd.py")
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [
        f"vega: error: {conf}: spark.task.maxFailures (vega.task.max_attempts) must be at "
        "least 1, not 0"]


def test_an_event_log_directory_on_a_file_system_vega_lacks_is_refused(vega_cli, tmp_path):
    """--conf vega.eventlog.dir=s3a://bucket/events wrote the log to ./s3a:/bucket/events
    (saying 'event log s3a://bucket/events/app-....jsonl'), and vega history --dir s3a://...
    listed that local copy; now a usage error naming the setting, and for vega history one
    error line (a ValueError of the path check said 'internal error' there)."""
    job = write_job(tmp_path, "job.py", """
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize([1]).count()
    """)
    words = ("s3a://bucket/events: Vega reads and writes local paths, file: URLs and HDFS "
             "(hdfs://, webhdfs://), not s3a:// URLs: copy the data to HDFS or to a file "
             "system every host mounts")
    here = {"cwd": str(tmp_path), "env": {"PYTHONPATH": REPO}}  # (REPO's Vega, not one installed)
    result = vega_cli("submit", "--conf", "vega.eventlog.dir=s3a://bucket/events", job, **here)
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [f"vega: error: --conf: vega.eventlog.dir {words}"]
    listed = vega_cli("history", "--dir", "s3a://bucket/events", **here)
    assert (listed.returncode, error_lines(listed.stderr)) == (2, [f"vega: error: --dir {words}"])
    assert sorted(os.listdir(tmp_path)) == ["job.py"]


def test_history_refuses_an_hdfs_url_with_one_slash_saying_so(vega_cli, tmp_path):
    """docs/storage.md: Hadoop's hdfs:/events (one slash) is refused wherever a path is
    taken, vega history --dir included, saying to write two; vega history said "no event
    log directory hdfs:/events", as of a local directory that was not there, and a
    directory on a file system Vega lacks was exit code 1, not a usage error's 2."""
    listed = vega_cli("history", "--dir", "hdfs:/events", cwd=str(tmp_path),
                      env={"PYTHONPATH": REPO})  # (REPO's Vega, not one installed)
    assert (listed.returncode, error_lines(listed.stderr)) == (2, [
        "vega: error: --dir hdfs:/events: an HDFS URL has two slashes: hdfs:///events (the "
        "namenode of vega.hdfs.namenode) or hdfs://HOST:PORT/events"])


@pytest.mark.parametrize("mode, message", [
    ("cluster", "--deploy-mode cluster needs a vega://host:port master, not 'local'"),
    ("yarn", "--conf: spark.submit.deployMode must be client or cluster, not 'yarn'"),
])
def test_spark_submits_deploy_mode_setting_is_the_deploy_mode(vega_cli, mode, message):
    """--conf spark.submit.deployMode=cluster is spark-submit's --deploy-mode cluster; Vega
    ran the job in client mode, warning it had 'no use for' the setting."""
    result = vega_cli("submit", "--master", "local", "--conf",
                      f"spark.submit.deployMode={mode}", "jobs/make_rdd.py")
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [f"vega: error: {message}"]


def test_the_deploy_mode_flag_wins_over_spark_submits_setting(vega_cli):
    result = vega_cli("submit", "--master", "local", "--deploy-mode", "client", "--conf",
                      "spark.submit.deployMode=cluster", "jobs/make_rdd.py")
    assert result.returncode == 0, result.stderr
    assert "no use for" not in result.stderr


def test_the_error_forms_the_readme_gives_are_what_a_failing_job_prints(vega_cli, tmp_path):
    """README's "Errors and exit codes" says how a job's failure reads under vega submit (it
    named only 'vega: error: ...', and a failed task printed 'vega: job failed: ...')."""
    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    section = re.sub(r"\s+", " ", readme.split("## Errors and exit codes")[1].split("\n## ")[0])
    failed = write_job(tmp_path, "job.py", """
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize([1]).map(lambda x: 1 / 0).collect()
        """)
    result = vega_cli("submit", "--master", "local", failed)
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and lines[-1] == (
        f'(raised by the driver at "{failed}", line 3, in <module>)'), result.stderr
    assert "`vega: job failed: ...`" in section and "`(raised by the driver at \"job.py\", " \
        "line 3, in <module>)`" in section
    assert [line for line in lines if line.startswith("vega: job failed: ")], result.stderr
    raised = write_job(tmp_path, "own.py", "raise ValueError('bad arg')\n")
    result = vega_cli("submit", "--master", "local", raised)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"vega: error: the job {raised} raised ValueError: " \
                                            "bad arg"
    assert "`vega: error: the job job.py raised ValueError: ...`" in section
