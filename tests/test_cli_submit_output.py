"""``vega submit``'s task output and progress, as a user sees them: a real process
(test_cli_submit.py has the rest)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections import defaultdict

import pytest

from proc_helpers import LOCAL_MASTERS as MASTERS
from proc_helpers import REPO, clean_env, write_job

PREFIXED = re.compile(r"^\[localhost (exec-\d+|driver) (\d+)\.(\d+)\] (.*)$")
PREFIX_START = re.compile(r"^\[localhost (exec-\d+|driver) \d+\.\d+\] ")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# -- task output --------------------------------------------------------------------------------

CHATTY = """
    import logging, sys
    from vega_runtime import Context

    def emit(index, records):
        for i in records:
            print(f"out p{index} line {i}")
            print(f"err p{index} line {i}", file=sys.stderr)
        logging.warning("warn p%d", index)
        logging.getLogger("a.library").info("info p%d", index)
        return []

    with Context() as ctx:
        print("driver before", flush=True)
        ctx.parallelize(range(200), 4).map_partitions_with_index(emit).collect()
        print("driver after")
"""


def split_prefixed(text: str):
    """(unprefixed lines, {partition: [payload, ...]}) checking each prefix is well formed."""
    plain, by_partition = [], defaultdict(list)
    for line in text.splitlines():
        match = PREFIXED.match(line)
        if match:
            by_partition[int(match.group(3))].append(match.group(4))
        else:
            plain.append(line)
    return plain, by_partition


@pytest.mark.parametrize("master", MASTERS)
def test_task_stdout_and_stderr_reach_matching_stream_prefixed_none_lost(vega_cli, tmp_path, master):
    """200 lines from 4 tasks arrive on the same stream, prefixed with their task, in order."""
    job = write_job(tmp_path, "chatty.py", CHATTY)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 0, result.stderr
    out_plain, out_tasks = split_prefixed(result.stdout)
    assert out_plain == ["driver before", "driver after"]
    assert dict(out_tasks) == {
        p: [f"out p{p} line {i}" for i in range(p * 50, p * 50 + 50)] for p in range(4)}

    err_plain, err_tasks = split_prefixed(result.stderr)
    # Logging lines are checked by test_task_logging_goes_to_stderr_prefixed_with_its_own_task.
    assert [line for line in err_plain
            if not line.startswith("stage ") and "warn p" not in line
            and " finished in " not in line] == []  # the end-of-application summary
    for p in range(4):
        prints = [line for line in err_tasks[p] if line.startswith("err ")]
        assert prints == [f"err p{p} line {i}" for i in range(p * 50, p * 50 + 50)]


@pytest.mark.parametrize("master", MASTERS)
def test_task_logging_goes_to_stderr_prefixed_with_its_own_task(vega_cli, tmp_path, master):
    """logging.warning in each task appears once on stderr, prefixed with that task's partition."""
    job = write_job(tmp_path, "chatty.py", CHATTY)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warn p" in line]
    assert len(warnings) == 4, result.stderr
    for line in warnings:
        assert PREFIX_START.match(line), line
        match = PREFIXED.match(line)
        assert match and match.group(4).endswith(f"warn p{match.group(3)}"), line
    assert "warn p" not in result.stdout
    # at Python's default level (WARNING) on every master, as in PySpark's Python workers:
    # a library's INFO lines (hdfs.client's, say) do not reach the terminal
    assert "info p" not in result.stderr + result.stdout


@pytest.mark.parametrize("master", MASTERS)
def test_bytes_a_task_writes_to_sys_stdout_buffer_reach_stdout_as_text(vega_cli, tmp_path,
                                                                        master):
    """sys.stdout.buffer.write(b"...") in a task (print(..., file=sys.stdout.buffer),
    libraries writing bytes) failed it: AttributeError: 'TaskStream' object has no attribute
    'buffer'. The bytes are decoded as UTF-8, a character split between writes whole, an
    undecodable byte as U+FFFD (as PySpark decodes a pipe's output)."""
    job = write_job(tmp_path, "bytes_out.py", """
        import sys
        from vega_runtime import Context

        def emit(x):
            out = sys.stdout.buffer
            out.write("café ".encode()[:4])
            out.write("café ".encode()[4:] + b"\\xff done\\n")
            out.flush()
            print("then text")
            return x

        with Context() as ctx:
            ctx.parallelize([1], 1).map(emit).collect()
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 0, result.stderr
    plain, by_partition = split_prefixed(result.stdout)
    assert (plain, dict(by_partition)) == ([], {0: ["café \ufffd done", "then text"]})


@pytest.mark.parametrize("master", [*MASTERS, "local-cluster[1,1]"])
def test_task_output_a_terminal_cannot_encode_is_escaped_not_fatal(vega_cli, tmp_path, master):
    """A driver whose stdout is ASCII (PYTHONIOENCODING=ascii, a Latin-1 terminal): a task
    printing 'café' failed its job with UnicodeEncodeError on local masters, and on a
    cluster broke each executor's connection to the driver (a traceback per attempt) until
    the job failed. The line is printed with the characters escaped, as Python's
    backslashreplace writes them."""
    job = write_job(tmp_path, "unicode_out.py", """
        from vega_runtime import Context

        with Context() as ctx:
            ctx.parallelize([1], 1).foreach(lambda _: print("caf\\u00e9 \\u2713"))
            print("done")
    """)
    result = vega_cli("submit", "--master", master, job, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    plain, by_partition = split_prefixed(result.stdout.replace("127.0.0.1", "localhost"))
    assert (plain, dict(by_partition)) == (["done"], {0: ["caf\\xe9 \\u2713"]})
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("master", [*MASTERS, "local-cluster[1,1]"])
def test_a_line_longer_than_64_kib_is_one_line_not_followed_by_an_empty_one(vega_cli, tmp_path,
                                                                           master):
    """print("x" * 70000) in a task: one prefixed line of the 70,000 x's, then the task's
    next line; a task stream forwards such a line before its newline (past 64 KiB), and
    the newline was then forwarded alone, as an empty prefixed line."""
    job = write_job(tmp_path, "long_line.py", """
        from vega_runtime import Context

        def emit(x):
            print("x" * 70000)
            print("y" * 65536, end="")
            print()
            print("end")
            return x

        with Context() as ctx:
            ctx.parallelize([1], 1).map(emit).collect()
    """)
    result = vega_cli("submit", "--master", master, job)
    assert result.returncode == 0, result.stderr
    plain, by_partition = split_prefixed(result.stdout.replace("127.0.0.1", "localhost"))
    assert (plain, dict(by_partition)) == ([], {0: ["x" * 70000, "y" * 65536, "end"]})


def test_driver_prints_are_not_prefixed(vega_cli, tmp_path):
    """What the driver code prints reaches stdout exactly as printed."""
    job = write_job(tmp_path, "driver_prints.py", """
        from vega_runtime import Context
        with Context() as ctx:
            print("[not a prefix] total", ctx.parallelize(range(10), 2).sum())
    """)
    result = vega_cli("submit", "--master", "local[2]", job)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[not a prefix] total 45\n"


# -- progress -----------------------------------------------------------------------------------

def test_progress_is_plain_stage_lines_on_stderr_when_not_a_tty(vega_cli, tmp_path):
    """Without a terminal, each stage gets a 'started' and a 'finished in' line on stderr."""
    job = write_job(tmp_path, "two_stages.py", """
        from operator import add
        from vega_runtime import Context
        with Context() as ctx:
            pairs = ctx.parallelize(range(10), 2).map(lambda x: (x % 3, x)).reduce_by_key(add)
            print(sorted(pairs.collect()))
    """)
    result = vega_cli("submit", "--master", "local[2]", job)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[(0, 18), (1, 12), (2, 15)]\n"
    lines = result.stderr.splitlines()
    started = [re.fullmatch(r"stage (\d+) started: (.+), (\d+) tasks", line) for line in lines]
    finished = [re.fullmatch(r"stage (\d+) finished in \d+\.\d+s: (.+)", line) for line in lines]
    assert [(m.group(1), m.group(3)) for m in started if m] == [("0", "2"), ("1", "2")]
    assert [m.group(1) for m in finished if m] == ["0", "1"]
    labels = {m.group(1): m.group(2) for m in started if m}
    assert {m.group(1): m.group(2) for m in finished if m} == labels
    assert all("two_stages.py:" in label for label in labels.values()), labels
    order = [(kind, m.group(1)) for line in lines
             for kind, m in (("start", re.match(r"stage (\d+) started", line)),
                             ("end", re.match(r"stage (\d+) finished", line))) if m]
    assert order == [("start", "0"), ("end", "0"), ("start", "1"), ("end", "1")]
    assert "stage " not in result.stdout


def run_in_terminal(args, timeout: float = 60.0):
    """Run ``vega ARGS`` with stdin/stdout/stderr on a pseudo-terminal; (exit code, output)."""
    master_fd, slave_fd = os.openpty()
    env = clean_env(TERM="xterm-256color", COLUMNS="120", LINES="40")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    proc = subprocess.Popen([sys.executable, "-m", "vega_cli.main", *args], cwd=REPO,
                            stdin=slave_fd, stdout=slave_fd, stderr=slave_fd, env=env,
                            close_fds=True)
    os.close(slave_fd)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master_fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master_fd, 65536)
                except OSError:  # EIO: every writer of the terminal has closed it
                    break
                if not data:
                    break
                chunks.append(data)
        else:
            proc.kill()
            pytest.fail(f"vega {' '.join(args)} did not finish within {timeout}s")
        code = proc.wait(timeout=10)
    finally:
        os.close(master_fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_progress_renders_rich_bars_under_a_terminal(tmp_path):
    """On a terminal, stages show as rich progress bars and task output still reaches the user."""
    job = write_job(tmp_path, "slow.py", """
        import time
        from vega_runtime import Context

        def work(x):
            time.sleep(0.6)
            print("task", x)
            return x

        with Context() as ctx:
            print("sum", ctx.parallelize(range(4), 4).map(work).sum())
    """)
    code, raw = run_in_terminal(["submit", "--master", "local[2]", job])
    text = ANSI.sub("", raw).replace("\r\n", "\n")
    assert code == 0, text
    assert "\x1b[" in raw  # styled for a terminal
    assert "━" in text and re.search(r"\b[0-4]/4\b", text), text  # rich bar with m/n counter
    assert re.search(r"stage 0 finished in \d+\.\d+s", text), text
    for x in range(4):
        assert re.search(rf"\[localhost exec-\d+ 0\.{x}\] task {x}\n", text), text
    assert "sum 6\n" in text
