"""``vega submit`` as a user runs it: a real process, exact output, exit codes.

Jobs other than the examples in ``jobs/`` are written into ``tmp_path`` by the
tests themselves, so line numbers in tracebacks and progress lines are known.
This file: the example jobs, what a job sees, --verbose; the task output and progress
are test_cli_submit_output.py, exit codes and errors test_cli_submit_errors.py, Ctrl-C and kills
test_cli_submit_signals.py.
"""

from __future__ import annotations

import ast
import json
import os
import re
import zipfile
from collections import Counter, defaultdict

import pytest

from proc_helpers import LOCAL_MASTERS as MASTERS
from proc_helpers import REPO, write_job


def job_constant(job: str, name: str):
    """A literal module-level constant of an example job, read without running the job."""
    with open(os.path.join(REPO, "jobs", job)) as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{name} not found in jobs/{job}")


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


def test_a_symlinked_job_imports_the_modules_beside_its_target(vega_cli, tmp_path):
    """jobs/main.py a symbolic link to src/main.py, which imports src/helper.py: Python puts
    the script's directory first with links resolved, so `python jobs/main.py` runs; vega
    submit put the link's directory there ('No module named helper')."""
    (tmp_path / "src").mkdir()
    (tmp_path / "jobs").mkdir()
    (tmp_path / "src" / "helper.py").write_text("WHERE = 'beside the target'\n")
    (tmp_path / "src" / "main.py").write_text("import helper\nprint(helper.WHERE)\n")
    (tmp_path / "jobs" / "main.py").symlink_to(tmp_path / "src" / "main.py")
    result = vega_cli("submit", "--master", "local", str(tmp_path / "jobs" / "main.py"))
    assert (result.returncode, result.stdout) == (0, "beside the target\n"), result.stderr


def test_name_flag_sets_app_name(vega_cli, tmp_path):
    """--name NAME becomes ctx.app_name in the job."""
    job = write_job(tmp_path, "probe.py", PROBE)
    assert probe(vega_cli("submit", "--master", "local", "--name", "my report", job))["app_name"] \
        == "my report"


def test_an_empty_name_flag_is_a_usage_error(vega_cli, tmp_path):
    """--name "" names no application: exit 2 naming the flag (it was taken as a blank name)."""
    job = write_job(tmp_path, "probe.py", PROBE)
    result = vega_cli("submit", "--master", "local", "--name", "", job)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "vega: error: --name: vega.app.name must not be empty: give the application a name"]


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


def test_conf_takes_spark_names_as_spark_submit_does(vega_cli, tmp_path):
    """--conf spark.task.maxFailures=3 is vega.task.max_attempts (spark-submit users' own
    command lines); spark.ui.port, which Vega has no use for, is ignored with one warning.
    Before, both were a usage error ('is not a Vega setting')."""
    job = write_job(tmp_path, "probe.py", PROBE)
    result = vega_cli("submit", "--master", "local", "--conf", "spark.task.maxFailures=3",
                      "--conf", "spark.ui.port=4050", job)
    assert probe(result)["max_attempts"] == 3
    assert result.stderr.count("Vega has no use for these Spark settings and ignores them: "
                               "spark.ui.port (--conf)") == 1


def test_a_settings_files_spark_setting_vega_ignores_is_warned_of_once(vega_cli, tmp_path):
    """spark.ui.port in a --config file (or conf/vega-defaults.yaml) is ignored with one
    warning, as README.md says: it was warned of six times, once for each time vega submit
    and the job's Context resolved the settings (twice with no 'vega: WARNING' prefix)."""
    job = write_job(tmp_path, "probe.py", PROBE)
    settings = tmp_path / "site.yaml"
    settings.write_text("spark.ui.port: 4050\nspark.task.maxFailures: 3\n")
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "vega-defaults.yaml").write_text("spark.executor.extraJavaOptions: -Xss4m\n")
    result = vega_cli("submit", "--master", "local", "--config", str(settings), job,
                      env={"VEGA_CONF_DIR": str(conf_dir)})
    assert probe(result)["max_attempts"] == 3
    warned = [line.split("ignores them: ")[1] for line in result.stderr.splitlines()
              if "Vega has no use for these Spark settings" in line]
    assert warned == [f"spark.executor.extraJavaOptions ({conf_dir / 'vega-defaults.yaml'})",
                      f"spark.ui.port ({settings})"]


def test_a_misspelt_spark_setting_is_named_with_the_one_meant(vega_cli, tmp_path):
    """--conf spark.exeutor.memory=2g (a typo) is ignored as any Spark setting Vega has no
    use for, as spark-submit keeps it; the warning names the setting meant, since the job
    runs without it (it named the typo alone). A real Spark setting near a used one,
    spark.driver.cores (spark.driver.host), gets no suggestion."""
    job = write_job(tmp_path, "probe.py", PROBE)
    result = vega_cli("submit", "--master", "local", "--conf", "spark.exeutor.memory=2g",
                      "--conf", "spark.driver.cores=2", "--conf", "spark.task.maxFailure=3", job)
    probe(result)
    assert [line for line in result.stderr.splitlines() if "Spark settings" in line] == [
        "Vega has no use for these Spark settings and ignores them: spark.driver.cores, "
        "spark.exeutor.memory (did you mean spark.executor.memory?), spark.task.maxFailure "
        "(did you mean spark.task.maxFailures?) (--conf)"]


def test_spark_event_log_enabled_is_not_warned_of_as_ignored(vega_cli, tmp_path):
    """--conf spark.eventLog.enabled=true (event logs are on already) was warned of as
    ignored, with 'did you mean spark.eventLog.enabled?': itself; =false still keeps none."""
    job = write_job(tmp_path, "probe.py", PROBE)
    result = vega_cli("submit", "--master", "local", "--conf", "spark.eventLog.enabled=true",
                      "--conf", "spark.ui.port=4050", job)
    probe(result)
    assert [line for line in result.stderr.splitlines() if "Spark settings" in line] == [
        "Vega has no use for these Spark settings and ignores them: spark.ui.port (--conf)"]
    assert "event log " in result.stderr
    result = vega_cli("submit", "--master", "local", "--conf", "spark.eventLog.enabled=false",
                      job)
    probe(result)
    assert "Spark settings" not in result.stderr and "event log " not in result.stderr


def test_conf_max_attempts_governs_task_retries(vega_cli, tmp_path):
    """--conf vega.task.max_attempts=2 makes a failing task give up after two attempts (on
    a cluster master: a local one tries it once, as Spark's, and says it ignores it)."""
    job = write_job(tmp_path, "fails.py", """
        from vega_runtime import Context
        with Context() as ctx:
            ctx.parallelize([1], 1).map(lambda x: x / 0).collect()
    """)
    result = vega_cli("submit", "--master", "local-cluster[1,1]", "--conf",
                      "vega.task.max_attempts=2", job)
    assert result.returncode == 1
    assert "failed 2 times" in result.stderr
    # the summary counts the attempts that failed (not "2 retries": one was the last)
    assert re.search(r" read, 2 failed task attempts; event log ", result.stderr), result.stderr
    local = vega_cli("submit", "--master", "local", "--conf", "vega.task.max_attempts=2", job)
    assert local.returncode == 1 and "failed once" in local.stderr
    assert local.stderr.count("vega.task.max_attempts (spark.task.maxFailures) is 2 but local "
                              "tries each task once, as Spark's local mode does: use master "
                              "local[1,2] for 2 attempts a task") == 1, local.stderr


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


@pytest.mark.parametrize("master", [*MASTERS, "local-cluster[2,1]"])
def test_classes_and_functions_of_the_job_script_travel_as_data(vega_cli, tmp_path, master):
    """Objects of a class the job's script defines, in parallelize's data, a broadcast, a
    shuffle, results and pickle files, and a function of the script as data: an executor
    started as an interpreter of its own (local-cluster) has another ``__main__``, so they
    go by value, and come back to the driver as the script's own class."""
    job = write_job(tmp_path, "points.py", """
        import json, os, sys
        from vega_runtime import Context

        class Point:
            def __init__(self, x, y):
                self.x, self.y = x, y

        def double(v):
            return 2 * v

        with Context() as sc:
            points = sc.parallelize([Point(1, 2), Point(3, 4), Point(5, 6)], 2)
            shift = sc.broadcast(Point(10, 20))
            print(json.dumps(points.map(lambda p: p.x + shift.value.x).collect()))
            back = points.map(lambda p: (p.x % 2, p)).reduce_by_key(
                lambda a, b: Point(a.x + b.x, a.y + b.y)).collect()
            print(json.dumps([(k, type(p) is Point, p.x, p.y) for k, p in back]))
            print(json.dumps(sc.parallelize([double], 1).map(lambda f: f(21)).collect()))
            out = os.path.join(sys.argv[1], "points")
            points.save_as_pickle_file(out)
            print(json.dumps(sorted(p.y for p in sc.pickle_file(out).collect())))
    """)
    result = vega_cli("submit", "--master", master, job, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[11, 13, 15]", "[[1, true, 9, 12]]", "[42]",
                                          "[2, 4, 6]"]


@pytest.mark.parametrize("master", [*MASTERS, "local-cluster[2,1]"])
def test_a_context_the_job_never_stops_is_stopped_at_exit(vega_cli, tmp_path, master):
    """As Spark's shutdown hook: the application's summary is told and its event log ends
    (vega history lists it finished, not incomplete); nothing is left in $TMPDIR."""
    job = write_job(tmp_path, "nostop.py", """
        from vega_runtime import Context
        ctx = Context(app_name="nostop")
        print(ctx.parallelize(range(10), 2).sum())
    """)
    scratch, events = tmp_path / "scratch", tmp_path / "events"
    scratch.mkdir()
    result = vega_cli("submit", "--master", master, job,
                      env={"TMPDIR": str(scratch), "VEGA_EVENTLOG_DIR": str(events)})
    assert result.returncode == 0 and result.stdout == "45\n", result.stderr
    log, = events.glob("*.jsonl")
    assert re.search(rf"^{log.stem} finished in .*: 1 job, 1 stage, 2 tasks", result.stderr,
                     re.M), result.stderr
    with open(log) as fh:
        assert json.loads(fh.readlines()[-1])["event"] == "ApplicationEnd"
    assert os.listdir(scratch) == []


@pytest.mark.parametrize("master", ["local", "local[2]"])
def test_files_are_readable_through_sparkfiles_in_driver(vega_cli, tmp_path, master):
    """--files a,b are found by name with vega_runtime.SparkFiles.get in the driver and in
    tasks, through the directory PySpark programs put on sys.path first thing."""
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "lookup.csv").write_text("a,1\nb,2\n")
    (tmp_path / "shipped" / "notes.txt").write_text("hello from --files\n")
    job = write_job(tmp_path, "reads_files.py", """
        import sys
        from vega_runtime import Context, SparkFiles

        with Context() as ctx:
            sys.path.insert(0, SparkFiles.getRootDirectory())
            for name in ("lookup.csv", "notes.txt"):
                with open(SparkFiles.get(name)) as fh:
                    print(name, repr(fh.read()))
            print(ctx.parallelize([0, 1], 2).map(
                lambda _: open(SparkFiles.get("notes.txt")).read().strip()).collect())
    """)
    shipped = f"{tmp_path}/shipped/lookup.csv,{tmp_path}/shipped/notes.txt"
    result = vega_cli("submit", "--master", master, "--files", shipped, job)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("lookup.csv 'a,1\\nb,2\\n'\nnotes.txt 'hello from --files\\n'\n"
                             "['hello from --files', 'hello from --files']\n")


@pytest.mark.parametrize("option, name, found_by", [
    ("--files", "data.txt", "SparkFiles.get finds a file by its name alone"),
    ("--py-files", "helper.py", "Python imports a module by its name alone")])
def test_two_shipped_files_of_one_name_are_refused_naming_both(vega_cli, tmp_path, option, name,
                                                               found_by):
    """--files a/data.txt,b/data.txt: SparkFiles.get("data.txt") silently gave the last one
    (Spark's addFile refuses a second path under a name); now a usage error naming both, before
    the job runs. The same file given twice is still taken."""
    for directory in ("a", "b"):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / name).write_text(f"x = {directory!r}\n")
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    first, second = str(tmp_path / "a" / name), str(tmp_path / "b" / name)
    result = vega_cli("submit", "--master", "local", option, f"{first},{second}", job)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [
        f"vega: error: {option}: {first!r} and {second!r} are both named {name!r}",
        f"{found_by}: rename one of them, or give one."]
    again = vega_cli("submit", "--master", "local", option, f"{first},{first}", job)
    assert (again.returncode, again.stdout) == (0, "ran\n"), again.stderr


@pytest.mark.parametrize("command", ["submit", "shell"])
def test_a_py_files_item_that_is_no_python_is_refused_saying_to_use_files(vega_cli, tmp_path,
                                                                           command):
    """--py-files data.csv was taken silently and put on sys.path, where nothing imports it:
    the job then met FileNotFoundError in SparkFiles.get("data.csv").  Now a usage error
    saying to ship it with --files (spark-submit ships it as --files would; Vega's
    --py-files takes what Python imports from: .py, .zip, .egg, .whl, directories)."""
    (tmp_path / "data.csv").write_text("a,1\n")
    (tmp_path / "lib.py").write_text("x = 1\n")
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    given = f"{tmp_path}/lib.py,{tmp_path}/data.csv"
    result = vega_cli(command, "--master", "local", "--py-files", given,
                      *([job] if command == "submit" else []), input="")
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [
        f"vega: error: --py-files: {str(tmp_path / 'data.csv')!r} is no Python module or "
        f"package (.py, .zip, .egg, .whl, .jar or a directory)",
        f"Ship a data file with --files {tmp_path / 'data.csv'}: tasks and the driver find it "
        f"with SparkFiles.get('data.csv')."]


@pytest.mark.parametrize("command", ["submit", "shell"])
@pytest.mark.parametrize("content", ["garbage", "truncated"])
def test_a_py_files_zip_python_cannot_read_is_refused(vega_cli, tmp_path, command, content):
    """A corrupt --py-files zip was taken silently: the job then met ModuleNotFoundError
    (or a zipimport error) at its first import, on every executor."""
    import io
    import zipfile

    lib = tmp_path / "lib.zip"
    if content == "garbage":
        lib.write_bytes(b"not a zip at all\n" * 50)
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("helper.py", "x = 1\n" * 100)
        lib.write_bytes(buffer.getvalue()[:-30])  # its central directory cut off
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    result = vega_cli(command, "--master", "local", "--py-files", str(lib),
                      *([job] if command == "submit" else []), input="")
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [
        f"vega: error: --py-files: {str(lib)!r} is not a zip archive Python can import from "
        "(File is not a zip file)",
        "Rebuild it (python -m zipfile -c lib.zip PACKAGE_DIR), or give the package's "
        "directory."]


def test_add_py_file_refuses_a_zip_python_cannot_read(tmp_path):
    from vega_runtime import Context

    lib = tmp_path / "lib.zip"
    lib.write_bytes(b"PK\x03\x04 and then nothing")
    with Context(master="local") as ctx:
        with pytest.raises(ValueError, match=r"lib.zip: not a zip archive Python can import "
                                             r"from \(File is not a zip file\)$"):
            ctx.add_py_file(str(lib))


def write_archives(directory) -> str:
    """env.tar.gz and tools.zip, each holding greeting.txt; returns the --archives value
    (the tarball named env after #, the zip under its file's name)."""
    import tarfile

    (directory / "greeting.txt").write_text("hello from an archive\n")
    with tarfile.open(directory / "env.tar.gz", "w:gz") as tar:
        tar.add(directory / "greeting.txt", "greeting.txt")
    with zipfile.ZipFile(directory / "tools.zip", "w") as zf:
        zf.write(directory / "greeting.txt", "greeting.txt")
    return f"{directory / 'env.tar.gz'}#env,{directory / 'tools.zip'}"


ARCHIVES_JOB = """
    import os
    from vega_runtime import Context, SparkFiles

    def read(name):
        return open(os.path.join(SparkFiles.get(name), "greeting.txt")).read().strip()

    with Context() as ctx:
        print(read("env"), read("tools.zip"))
        print(ctx.parallelize([0, 1], 2).map(lambda _: (read("env"), read("tools.zip"))).collect())
"""
ARCHIVES_OUT = ("hello from an archive hello from an archive\n"
                + str([("hello from an archive",) * 2] * 2) + "\n")


@pytest.mark.parametrize("master", [*MASTERS, "local-cluster[2,1]"])
def test_archives_are_unpacked_for_the_driver_and_tasks(vega_cli, tmp_path, master):
    """spark-submit's --archives env.tar.gz#env,tools.zip: each unpacked in SparkFiles.get(NAME)
    (the name after #, else the file's), in the driver and in tasks, as sc.add_archive does.
    vega submit had no --archives."""
    (tmp_path / "shipped").mkdir()
    archives = write_archives(tmp_path / "shipped")
    job = write_job(tmp_path, "reads_archives.py", ARCHIVES_JOB)
    result = vega_cli("submit", "--master", master, "--archives", archives, job)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ARCHIVES_OUT


@pytest.mark.parametrize("archives, message", [
    ("missing.tar.gz", "--archives: 'missing.tar.gz' does not exist"),
    ("notes.txt", "--archives: 'notes.txt' is not a .zip, .tar, .tar.gz or .tgz archive"),
    ("a.zip#x,b.zip#x", "--archives: 'b.zip#x': two archives named 'x'"),
    ("a.zip#..", "--archives: 'a.zip#..': '..' is not a directory name of its own: give a "
                 "name without '/', not '.' or '..'"),
])
def test_a_bad_archive_is_refused_before_the_job_runs(vega_cli, tmp_path, archives, message):
    """A missing, unknown or twice-named --archives entry is a usage error naming it; so is
    a NAME after # that is not a directory's own name (#.. unpacked it in the parent of
    SparkFiles' directory, deleting that first)."""
    for name in ("notes.txt", "a.zip", "b.zip"):
        (tmp_path / name).write_bytes(b"")
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    result = vega_cli("submit", "--master", "local", "--archives", archives, job,
                      cwd=str(tmp_path))
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [f"vega: error: {message}"]


def test_an_archive_named_as_a_shipped_file_is_refused(vega_cli, tmp_path):
    """--files lookup.csv --archives env.zip#lookup.csv: both land in SparkFiles' directory
    under one name; the archive silently hid the file (in the driver and in tasks)."""
    (tmp_path / "lookup.csv").write_text("a,1\n")
    (tmp_path / "env.zip").write_bytes(b"")
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    result = vega_cli("submit", "--master", "local", "--files", "lookup.csv", "--archives",
                      "env.zip#lookup.csv", job, cwd=str(tmp_path))
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [
        "vega: error: --archives: 'lookup.csv' is also the name of --files 'lookup.csv'",
        "SparkFiles.get finds both in one directory, the archive hiding the file: give the "
        "archive another NAME after #."]


def test_a_package_past_its_configured_size_is_refused_before_reading(vega_cli, tmp_path):
    """--deploy-mode cluster --archives of more than vega.package.max_size (a sparse file
    here: nothing is read): a usage error naming the limit, the largest file and what to do,
    before the package is built. Before, the limit was the master's fixed 1 GiB; earlier
    still, vega submit read and zipped it, and the driver failed on the master."""
    with open(tmp_path / "env.tar", "wb") as out:
        out.truncate(1100 << 20)
    job = write_job(tmp_path, "job.py", "print('ran')\n")
    result = vega_cli("submit", "--master", "vega://127.0.0.1:1", "--deploy-mode", "cluster",
                      "--conf", "vega.package.max_size=1g", "--archives", "env.tar", job,
                      cwd=str(tmp_path), timeout=30)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines() == [
        "vega: error: the job package would hold 1.1 GiB (the job, --py-files, --files, "
        "--archives), more than vega.package.max_size (1.0 GiB)",
        f"Put {tmp_path / 'env.tar'} (1.1 GiB) on storage every host reads (HDFS) and add it "
        "in the job (sc.add_file(URL), sc.add_archive(URL#NAME)), or raise "
        "vega.package.max_size."]


# -- --verbose ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--verbose", "-v"])  # -v: spark-submit's too
def test_verbose_prints_resolved_config_with_origins(vega_cli, flag):
    """--verbose lists each setting with its value and where it came from."""
    result = vega_cli("submit", flag, "--master", "local", "--conf",
                      "vega.task.max_attempts=2", "jobs/make_rdd.py", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"result: {[x * 2 for x in range(1, 11)]}\n"
    assert re.search(r"vega\.task\.max_attempts\W+2\W+command line", result.stderr), result.stderr
    assert re.search(r"vega\.master\W+local\W+command line", result.stderr), result.stderr
    assert re.search(r"vega\.app\.name\W+make_rdd\W+command line", result.stderr), result.stderr


def test_verbose_and_the_event_log_name_a_settings_origin_alike(vega_cli, tmp_path):
    """A --conf setting's origin in the --verbose table is the one the event log's
    environment records (it said "vega submit" where the table said "command line")."""
    events = tmp_path / "events"
    events.mkdir()
    result = vega_cli("submit", "--verbose", "--master", "local", "--conf",
                      "vega.task.max_attempts=2", "--conf", f"vega.eventlog.dir={events}",
                      "jobs/make_rdd.py", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert re.search(r"vega\.task\.max_attempts\W+2\W+command line", result.stderr), \
        result.stderr
    [log] = list(events.glob("*.jsonl"))
    [settings] = [json.loads(line)["settings"] for line in log.read_text().splitlines()
                  if line.startswith('{"event": "Environment"')]
    origins = {key: origin for key, _value, origin in settings}
    assert (origins["vega.task.max_attempts"], origins["vega.eventlog.dir"],
            origins["vega.master"]) == ("command line",) * 3


@pytest.mark.parametrize("command", ["submit", "shell"])
def test_c_is_short_for_conf_as_in_spark_submit(vega_cli, command):
    """spark-submit's and pyspark's -c PROP=VALUE is --conf; it was refused: "No such
    option '-c'"."""
    result = vega_cli(command, "-v", "--master", "local", "-c", "vega.task.max_attempts=2",
                      *(["jobs/make_rdd.py"] if command == "submit" else []), input="",
                      env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert re.search(r"vega\.task\.max_attempts\W+2\W+command line", result.stderr), result.stderr


def test_verbose_written_to_a_file_names_every_setting_whole(vega_cli, tmp_path):
    """vega submit --verbose 2> file: rich's 80 columns cut the longer setting names short
    ('vega.dynamic_allocation.cached_executor_idl…'); now each is whole on its line, as in
    status tables written to a pipe."""
    from vega_runtime.config_schema import DRIVER, settings_used_by

    result = vega_cli("submit", "--verbose", "--master", "local", "jobs/make_rdd.py")
    assert result.returncode == 0, result.stderr
    cells = [line.split("│")[1].strip() for line in result.stderr.splitlines()
             if line.startswith("│")]
    assert cells == sorted(s.key for s in settings_used_by(DRIVER)), result.stderr
    assert "…" not in result.stderr


def test_verbose_lists_the_executor_environment_and_resource_settings_given(vega_cli,
                                                                             tmp_path):
    """--verbose lists the settings of a family given (vega.executor.env.VAR, Spark's
    spark.executorEnv.VAR, vega.driver.resource.NAME.*) with the others: they were left
    out, the table naming only the settings of vega_runtime/config_schema.py. A password setting
    shows redacted, as the Environment page shows it (it was printed in clear)."""
    script = tmp_path / "gpus.sh"
    script.write_text("echo '{\"name\": \"gpu\", \"addresses\": [\"0\"]}'\n")
    script.chmod(0o700)
    result = vega_cli("submit", "--verbose", "--master", "local", "--conf",
                      "vega.executor.env.DB_PASSWORD=hunter2", "--conf",
                      "spark.executorEnv.REGION=eu", "--conf",
                      "vega.driver.resource.gpu.amount=1", "--conf",
                      f"vega.driver.resource.gpu.discovery_script={script}", "jobs/make_rdd.py",
                      env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    rows = {cells[1].strip(): (cells[2].strip(), cells[3].strip()) for cells in
            (line.split("│") for line in result.stderr.splitlines() if line.startswith("│"))}
    assert rows["vega.executor.env.DB_PASSWORD"] == ("*********(redacted)", "command line")
    assert "hunter2" not in result.stderr
    assert rows["vega.executor.env.REGION"] == ("eu", "command line")
    assert rows["vega.driver.resource.gpu.amount"] == ("1", "command line")


def test_verbose_shows_values_with_brackets_as_they_are(vega_cli):
    """--verbose with a value holding brackets (--name "[/daily] etl"): the table shows it
    as it is and the job runs. Before, rich read it as markup: "internal error:
    MarkupError", and the job never ran."""
    result = vega_cli("submit", "--verbose", "--master", "local", "--name", "[/daily] etl",
                      "jobs/make_rdd.py", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"result: {[x * 2 for x in range(1, 11)]}\n"
    assert re.search(r"vega\.app\.name\W+\[/daily\] etl\W+command line", result.stderr), \
        result.stderr


def test_verbose_reports_environment_origin_of_vega_master(vega_cli):
    """A master taken from VEGA_MASTER is shown as coming from the environment."""
    result = vega_cli("submit", "--verbose", "jobs/make_rdd.py",
                      env={"COLUMNS": "200", "VEGA_MASTER": "local"})
    assert result.returncode == 0, result.stderr
    assert re.search(r"vega\.master\W+local\W+environment", result.stderr), result.stderr


def test_a_job_module_named_as_the_standard_librarys_leaves_a_local_cluster_working(
        vega_cli, tmp_path):
    """A ``token.py`` beside the job (a module of the user's named as the standard
    library's ``token``): the local cluster's daemons, given the driver's ``sys.path``, took
    it for the standard library's and the master died at start ("the master exited with
    code 1"), where ``local[2]`` ran; they now find the standard library's first."""
    (tmp_path / "token.py").write_text("raise ImportError('the job directory token.py')\n")
    job = write_job(tmp_path, "job.py", """
        from vega_runtime import Context
        with Context() as ctx:
            print(ctx.parallelize(range(10), 2).map(lambda x: x * 2).sum())
    """)
    result = vega_cli("submit", "--master", "local-cluster[1,1]", job)
    assert (result.returncode, result.stdout) == (0, "90\n"), result.stderr


def test_verbose_redacts_as_the_event_log_and_rest_environment_do(vega_cli, tmp_path):
    """`vega submit --verbose` with a password setting and a setting whose value holds one
    (-Dapi.password=..., which Spark's spark.redaction.regex redacts by its value): neither
    value is printed; the table, the event log's environment event and the REST
    /environment say "*********(redacted)" for the same settings. Before, --verbose printed
    both in clear, and the event log kept the second."""
    from vega_runtime.deploy.app_events import AppRecord, apply
    from vega_runtime.deploy.spark_api_documents import environment
    from vega_runtime.scheduler.event_log import parse_event

    events = tmp_path / "events"
    result = vega_cli("submit", "--verbose", "--master", "local", "--conf",
                      "vega.executor.env.DB_PASSWORD=hunter2", "--conf",
                      "vega.executor.env.JAVA_OPTS=-Dapi.password=swordfish", "--conf",
                      "vega.executor.env.REGION=eu", "--conf", f"vega.eventlog.dir={events}",
                      "jobs/make_rdd.py", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stderr and "swordfish" not in result.stderr
    rows = {cells[1].strip(): cells[2].strip() for cells in
            (line.split("│") for line in result.stderr.splitlines() if line.startswith("│"))}
    (log,) = events.glob("app-*.jsonl")
    assert b"hunter2" not in log.read_bytes() and b"swordfish" not in log.read_bytes()
    app = AppRecord("")
    apply(app, [parse_event(line) for line in log.read_bytes().splitlines(keepends=True)])
    shown = dict(environment(app)["sparkProperties"])
    for key in ("vega.executor.env.DB_PASSWORD", "vega.executor.env.JAVA_OPTS",
                "vega.executor.env.REGION", "vega.secret.file"):
        assert rows[key] == shown[key], key
    assert rows["vega.executor.env.JAVA_OPTS"] == "*********(redacted)"
    assert rows["vega.executor.env.REGION"] == "eu"
