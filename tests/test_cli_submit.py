"""``vega submit`` as a user runs it: a real process, exact output, exit codes.

Jobs other than the examples in ``jobs/`` are written into ``tmp_path`` by the
tests themselves, so line numbers in tracebacks and progress lines are known.
"""

from __future__ import annotations

import ast
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter, defaultdict

import pytest

from proc_helpers import frame_lines, write_job

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASTERS = ["local", "local[2]"]
PREFIXED = re.compile(r"^\[localhost (exec-\d+|driver) (\d+)\.(\d+)\] (.*)$")
PREFIX_START = re.compile(r"^\[localhost (exec-\d+|driver) \d+\.\d+\] ")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def job_constant(job: str, name: str):
    """A literal module-level constant of an example job, read without running the job."""
    with open(os.path.join(REPO, "jobs", job)) as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{name} not found in jobs/{job}")


def error_lines(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("vega: error:")]


def clean_env(**extra) -> dict:
    env = dict(os.environ)
    env.pop("VEGA_MASTER", None)
    env.update(extra)
    return env


# -- the example jobs -----------------------------------------------------------------------

def expected_wordcount(path: str, top: int = 10) -> str:
    counts: Counter = Counter()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            for word in line.split():
                normalised = word.lower().strip(".,;:!?\"'()")
                if normalised:
                    counts[normalised] += 1
    best = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:top]
    return "".join(f"{n:6d}  {word}\n" for word, n in best)


def expected_pagerank(edges, iterations: int = 10) -> str:
    links = defaultdict(list)
    for source, target in sorted({tuple(e.split()) for e in edges}):
        links[source].append(target)
    ranks = {page: 1.0 for page in links}
    for _ in range(iterations):
        contribs: dict = defaultdict(float)
        for page, urls in links.items():
            if page in ranks:
                for url in urls:
                    contribs[url] += ranks[page] / len(urls)
        ranks = {url: 0.15 + 0.85 * c for url, c in contribs.items()}
    return "".join(f"{page} has rank {rank:.4f}\n"
                   for page, rank in sorted(ranks.items(), key=lambda kv: -kv[1]))


def expected_group_by() -> str:
    grouped: dict = defaultdict(list)
    for key, value in job_constant("group_by.py", "PAIRS"):
        grouped[key].append(value)
    return "".join(f"{key} {values}\n" for key, values in sorted(grouped.items()))


def expected_join() -> str:
    left, right = job_constant("join.py", "LEFT"), job_constant("join.py", "RIGHT")
    rows = sorted((k, n, l) for k, n in left for k2, l in right if k == k2)
    return "".join(f"{k} {n} {l}\n" for k, n, l in rows)


EXAMPLES = {
    "make_rdd.py": lambda: f"result: {[x * 2 for x in range(1, 11)]}\n",
    "group_by.py": expected_group_by,
    "join.py": expected_join,
    "subtract.py": lambda: f"result: {[x for x in range(1, 21) if not 5 <= x <= 15]}\n",
    "pagerank.py": lambda: expected_pagerank(job_constant("pagerank.py", "EDGES")),
}


def test_wordcount_prints_top_words_with_exact_counts(vega_cli):
    """wordcount on local[2] prints the ten most common words of data/sample.txt, exactly."""
    result = vega_cli("submit", "--master", "local[2]", "jobs/wordcount.py", "data/sample.txt")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_wordcount(os.path.join(REPO, "data", "sample.txt"))


@pytest.mark.parametrize("master", MASTERS)
@pytest.mark.parametrize("job", sorted(EXAMPLES))
def test_example_job_prints_exact_expected_output(vega_cli, job, master):
    """Each example job exits 0 and prints exactly the output computed in plain Python."""
    result = vega_cli("submit", "--master", master, f"jobs/{job}")
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXAMPLES[job]()


@pytest.mark.parametrize("master", MASTERS)
def test_pi_estimate_is_close_to_pi(vega_cli, master):
    """jobs/pi.py with 200000 samples prints one estimate between 3.0 and 3.3."""
    result = vega_cli("submit", "--master", master, "jobs/pi.py", "200000")
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"Pi is roughly (\d\.\d{5}) \(200000 samples\)\n", result.stdout)
    assert match, result.stdout
    assert 3.0 < float(match.group(1)) < 3.3


# -- what the job sees --------------------------------------------------------------------------

PROBE = """
    import json, sys
    from vega_runtime import Context

    with Context() as ctx:
        print(json.dumps({"argv": sys.argv, "app_name": ctx.app_name, "master": ctx.master,
                          "max_attempts": ctx.conf["vega.task.max_attempts"],
                          "batch_records": ctx.conf["vega.shuffle.batch_records"]}))
"""


def probe(result) -> dict:
    import json

    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_job_sys_argv_is_script_then_arguments(vega_cli, tmp_path):
    """sys.argv is [JOB.py, ARGS...], with flag-like and spaced arguments passed untouched."""
    job = write_job(tmp_path, "probe.py", PROBE)
    seen = probe(vega_cli("submit", "--master", "local", job, "in.txt", "two words", "--top", "3"))
    assert seen["argv"] == [job, "in.txt", "two words", "--top", "3"]


def test_name_flag_sets_app_name(vega_cli, tmp_path):
    """--name NAME becomes ctx.app_name in the job."""
    job = write_job(tmp_path, "probe.py", PROBE)
    assert probe(vega_cli("submit", "--master", "local", "--name", "my report", job))["app_name"] \
        == "my report"


def test_app_name_defaults_to_job_file_stem(vega_cli, tmp_path):
    """Without --name the application is named after the job file."""
    job = write_job(tmp_path, "nightly_totals.py", PROBE)
    assert probe(vega_cli("submit", "--master", "local", job))["app_name"] == "nightly_totals"


def test_conf_flags_reach_the_job_context(vega_cli, tmp_path):
    """--conf KEY=VALUE settings are visible, parsed, in ctx.conf."""
    job = write_job(tmp_path, "probe.py", PROBE)
    seen = probe(vega_cli("submit", "--master", "local", "--conf", "vega.task.max_attempts=2",
                          "--conf", "vega.shuffle.batch_records=100", job))
    assert (seen["max_attempts"], seen["batch_records"]) == (2, 100)


def test_conf_max_attempts_governs_task_retries(vega_cli, tmp_path):
    """--conf vega.task.max_attempts=2 makes a failing task give up after two attempts."""
    job = write_job(tmp_path, "fails.py", """
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize([1], 1).map(lambda x: x / 0).collect()
    """)
    result = vega_cli("submit", "--master", "local", "--conf", "vega.task.max_attempts=2", job)
    assert result.returncode == 1
    assert "failed 2 times" in result.stderr


def test_vega_master_env_is_used_without_master_flag(vega_cli, tmp_path):
    """VEGA_MASTER chooses the master when --master is absent."""
    job = write_job(tmp_path, "probe.py", PROBE)
    assert probe(vega_cli("submit", job, env={"VEGA_MASTER": "local[3]"}))["master"] == "local[3]"


def test_master_flag_beats_vega_master_env(vega_cli, tmp_path):
    """--master wins over VEGA_MASTER."""
    job = write_job(tmp_path, "probe.py", PROBE)
    result = vega_cli("submit", "--master", "local[2]", job, env={"VEGA_MASTER": "local[3]"})
    assert probe(result)["master"] == "local[2]"


@pytest.fixture
def py_files(tmp_path):
    """A .py module, a directory holding a package, and a .zip holding a package.

    They live away from the job's directory, so only --py-files can make them importable.
    """
    libs = tmp_path / "libs"
    (libs / "single").mkdir(parents=True)
    (libs / "single" / "single_mod.py").write_text("def tag(x):\n    return ['single', x]\n")
    (libs / "tree" / "dirpkg").mkdir(parents=True)
    (libs / "tree" / "dirpkg" / "__init__.py").write_text("def tag(x):\n    return ['dirpkg', x]\n")
    with zipfile.ZipFile(libs / "bundle.zip", "w") as bundle:
        bundle.writestr("zippkg/__init__.py", "def tag(x):\n    return ['zippkg', x]\n")
    return ",".join([str(libs / "single" / "single_mod.py"), str(libs / "tree"),
                     str(libs / "bundle.zip")])


@pytest.mark.parametrize("master", MASTERS)
def test_py_files_are_importable_in_driver_and_tasks(vega_cli, tmp_path, py_files, master):
    """A .py module, a directory and a .zip given with --py-files import in the driver and tasks."""
    (tmp_path / "job").mkdir()
    job = write_job(tmp_path / "job", "uses_libs.py", """
        import json
        import single_mod, dirpkg, zippkg
        from vega_runtime import Context

        def in_task(x):
            import single_mod as s, dirpkg as d, zippkg as z
            return [s.tag(x), d.tag(x), z.tag(x)]

        with Context() as ctx:
            print(json.dumps([single_mod.tag(0), dirpkg.tag(0), zippkg.tag(0)]))
            print(json.dumps(ctx.parallelize([1, 2], 2).map(in_task).collect()))
            print(json.dumps(ctx.parallelize([3, 4], 2).map(zippkg.tag).collect()))
    """)
    result = vega_cli("submit", "--master", master, "--py-files", py_files, job)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        '[["single", 0], ["dirpkg", 0], ["zippkg", 0]]',
        '[[["single", 1], ["dirpkg", 1], ["zippkg", 1]], [["single", 2], ["dirpkg", 2], '
        '["zippkg", 2]]]',
        '[["zippkg", 3], ["zippkg", 4]]',
    ]


def test_files_are_readable_through_sparkfiles_in_driver(vega_cli, tmp_path):
    """--files a,b are found by name with vega_runtime.SparkFiles.get in the driver."""
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "lookup.csv").write_text("a,1\nb,2\n")
    (tmp_path / "shipped" / "notes.txt").write_text("hello from --files\n")
    job = write_job(tmp_path, "reads_files.py", """
        from vega_runtime import Context, SparkFiles

        with Context() as ctx:
            for name in ("lookup.csv", "notes.txt"):
                with open(SparkFiles.get(name)) as fh:
                    print(name, repr(fh.read()))
    """)
    shipped = f"{tmp_path}/shipped/lookup.csv,{tmp_path}/shipped/notes.txt"
    result = vega_cli("submit", "--master", "local", "--files", shipped, job)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "lookup.csv 'a,1\\nb,2\\n'\nnotes.txt 'hello from --files\\n'\n"


# -- task output --------------------------------------------------------------------------------

CHATTY = """
    import logging, sys
    from vega_runtime import Context

    def emit(index, records):
        for i in records:
            print(f"out p{index} line {i}")
            print(f"err p{index} line {i}", file=sys.stderr)
        logging.warning("warn p%d", index)
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
    """1/0 in a map exits 1 naming ZeroDivisionError, the user's line and 'failed 4 times'."""
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
    assert "failed 4 times" in result.stderr
    assert not [line for line in frame_lines(result.stderr)
                if "vega_runtime" in line or "vega_cli" in line or "runpy" in line]


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


@pytest.mark.parametrize("url", ["bogus", "local[0]", "local[two]", "vega://nohost"])
def test_bad_master_url_exits_2_naming_it(vega_cli, url):
    """An unknown master URL is a usage error that quotes the URL."""
    result = vega_cli("submit", "--master", url, "jobs/make_rdd.py")
    assert result.returncode == 2
    assert result.stdout == ""
    [message] = error_lines(result.stderr)
    assert repr(url) in message
    assert "Traceback" not in result.stderr


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


# -- Ctrl-C -------------------------------------------------------------------------------------

def _children_of(pid: int) -> dict:
    """{child pid: start time} of the live (non-zombie) processes whose parent is ``pid``."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[1] == str(pid) and stat[0] != "Z":
                found[int(entry)] = stat[19]
    return found


def _stat(pid: int):
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _alive(pid: int, start_time: str) -> bool:
    stat = _stat(pid)
    return bool(stat) and stat[19] == start_time and stat[0] != "Z"


def _pump(stream, lines: "queue.Queue[str]") -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put("")


@pytest.mark.parametrize("master", MASTERS)
def test_ctrl_c_exits_130_and_leaves_no_executors(tmp_path, master):
    """SIGINT during a running stage exits 130 within seconds and leaves no executor processes."""
    job = write_job(tmp_path, "sleepy.py", """
        import time
        from vega_runtime import Context
        with Context() as ctx:
            print("started", flush=True)
            ctx.parallelize(range(4), 4).map(lambda x: time.sleep(60)).collect()
            print("finished")
    """)
    proc = subprocess.Popen([sys.executable, "-m", "vega_cli.main", "submit", "--master", master,
                             job], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env())
    out_lines: "queue.Queue[str]" = queue.Queue()
    err_lines: "queue.Queue[str]" = queue.Queue()
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, out_lines), daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, err_lines), daemon=True)]
    for pump in pumps:
        pump.start()
    try:
        assert out_lines.get(timeout=60) == "started\n"
        seen = []
        while not any(line.startswith("stage 0 started") for line in seen):
            line = err_lines.get(timeout=60)
            assert line, "vega submit ended before the stage started: " + "".join(seen)
            seen.append(line)
        executors = _children_of(proc.pid)
        assert len(executors) == (2 if master == "local[2]" else 0)

        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        code = proc.wait(timeout=15)
        assert time.monotonic() - started < 5
        assert code == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pump in pumps:
        pump.join(timeout=10)
    rest = []
    while not err_lines.empty():
        rest.append(err_lines.get())
    assert "cancelled" in "".join(rest)
    assert "finished" not in [out_lines.get() for _ in range(out_lines.qsize())]
    deadline = time.monotonic() + 5  # the kernel reaps the killed executors asynchronously
    while any(_alive(pid, start) for pid, start in executors.items()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid, start in executors.items() if _alive(pid, start)] == []
    assert _children_of(proc.pid) == {}


# -- --verbose ----------------------------------------------------------------------------------

def test_verbose_prints_resolved_config_with_origins(vega_cli):
    """--verbose lists each setting with its value and where it came from."""
    result = vega_cli("submit", "--verbose", "--master", "local", "--conf",
                      "vega.task.max_attempts=2", "jobs/make_rdd.py", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"result: {[x * 2 for x in range(1, 11)]}\n"
    assert re.search(r"vega\.task\.max_attempts\W+2\W+command line", result.stderr), result.stderr
    assert re.search(r"vega\.master\W+local\W+command line", result.stderr), result.stderr
    assert re.search(r"vega\.app\.name\W+make_rdd\W+command line", result.stderr), result.stderr


def test_verbose_reports_environment_origin_of_vega_master(vega_cli):
    """A master taken from VEGA_MASTER is shown as coming from the environment."""
    result = vega_cli("submit", "--verbose", "jobs/make_rdd.py",
                      env={"COLUMNS": "200", "VEGA_MASTER": "local"})
    assert result.returncode == 0, result.stderr
    assert re.search(r"vega\.master\W+local\W+environment", result.stderr), result.stderr
