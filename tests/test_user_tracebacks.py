"""A failing task's traceback names the user's files, whatever cloudpickle is installed.

cloudpickle 3.1.3 renames every function it pickles by value to ``"<dynamic-code>"``;
Vega ships code objects whole (``serde``), so the job's path survives.  The same jobs run
with the newest cloudpickle (the lock file's) and with the oldest one setup.cfg allows
(``requirements/lowest.txt``), installed for the test beside the suite's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import traceback

import pytest

from proc_helpers import REPO, clean_env, frame_lines, vega, write_job
from vega_runtime import logs, packaging, serde

FAILING_JOB = """
    import cloudpickle
    from vega_runtime import Context
    from helpers import check

    def invert(x):
        return 1 / (x - x)

    print("cloudpickle", cloudpickle.__version__)
    with Context() as ctx:
        ctx.parallelize(range(8), 4).map({function}).collect()
"""

HELPERS = """
    def check(x):
        raise ValueError(f"bad record {x}")
"""


def lowest_allowed(package: str) -> str:
    """The ``package==X --hash ...`` block of requirements/lowest.txt."""
    with open(os.path.join(REPO, "requirements", "lowest.txt")) as fh:
        lines = fh.read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{package}=="))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" "):
            break
        block.append(line)
    return "\n".join(block) + "\n"


@pytest.fixture(scope="module", params=["newest", "oldest"])
def cloudpickle_path(request, tmp_path_factory):
    """``PYTHONPATH`` under which ``vega`` runs with that cloudpickle: the suite's own
    (the lock file's, the newest) or the oldest setup.cfg allows, installed by hash."""
    if request.param == "newest":
        return ""
    target = tmp_path_factory.mktemp("cloudpickle-oldest")
    requirement = target / "requirements.txt"
    requirement.write_text(lowest_allowed("cloudpickle"))
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--require-hashes", "--target", str(target / "site"), "-r", str(requirement)],
        capture_output=True, text=True, timeout=300)
    if installed.returncode != 0:
        pytest.skip(f"cannot install the oldest allowed cloudpickle from PyPI: {installed.stderr}")
    return str(target / "site")


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
@pytest.mark.parametrize("function, where, line", [
    ("invert", "job", 6),
    ("check", "helpers", 2),
])
def test_task_traceback_names_the_users_file_and_line(cloudpickle_path, tmp_path, master,
                                                       function, where, line):
    """A task raising in the job or a --py-files module shows that file's absolute path,
    line and source, with the newest and the oldest allowed cloudpickle, on every master."""
    helpers = write_job(tmp_path, "helpers.py", HELPERS)
    job = write_job(tmp_path, "job.py", FAILING_JOB.format(function=function))
    result = vega("submit", "--master", master, "--py-files", helpers, job,
                  env=clean_env(PYTHONPATH=cloudpickle_path))
    assert result.returncode == 1, result.stderr
    expected_version = (lowest_allowed("cloudpickle").split("==")[1].split()[0]
                        if cloudpickle_path else None)
    if expected_version:
        assert f"cloudpickle {expected_version}" in result.stdout
    path = job if where == "job" else helpers
    frames = frame_lines(result.stderr)
    assert frames[0].strip() == f'File "{path}", line {line}, in {function}', result.stderr
    source = result.stderr.splitlines()[result.stderr.splitlines().index(frames[0]) + 1]
    assert source.strip() == ("return 1 / (x - x)" if where == "job"
                              else 'raise ValueError(f"bad record {x}")')
    assert "<dynamic-code>" not in result.stderr
    assert f'(raised by the driver at "{job}", line 10, in <module>)' in result.stderr
    assert not [f for f in frames if "vega_runtime" in f or "vega_cli" in f or "runpy" in f]


def test_code_objects_keep_their_file_name_through_the_closure_pickler(tmp_path):
    """A function compiled from a file comes back from serde with that co_filename."""
    source = tmp_path / "made_here.py"
    source.write_text("def f(x):\n    return x + 1\n")
    namespace: dict = {"__name__": "made_here_not_importable"}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    copy = serde.loads(serde.dumps_closure(namespace["f"], "f"))
    assert copy(1) == 2
    assert copy.__code__.co_filename == str(source)


def test_copies_of_user_files_are_shown_under_their_original_paths(tmp_path):
    """A frame in a package's copy of a file reads as the original path, with its source
    line, even where the original does not exist (a worker that has only the package)."""
    copy = tmp_path / "package" / "py" / "helpers.py"
    copy.parent.mkdir(parents=True)
    copy.write_text(textwrap.dedent(HELPERS).lstrip("\n"))
    original = "/home/someone/project/helpers.py"
    namespace: dict = {}
    exec(compile(copy.read_text(), str(copy), "exec"), namespace)
    logs.name_sources({str(copy): original})
    try:
        namespace["check"](7)
    except ValueError as exc:
        shown = logs.user_traceback(exc)
    frames = frame_lines(shown)
    assert frames[-1] == f'  File "{original}", line 2, in check'
    assert 'raise ValueError(f"bad record {x}")' in shown
    assert shown.rstrip().endswith("ValueError: bad record 7")


def test_a_copy_in_another_encoding_shows_its_lines_as_python_reads_them(tmp_path):
    """A job file declaring Latin-1 (PEP 263) showed U+FFFD for its accented letters in the
    tasks' tracebacks: its copy was read as UTF-8.  The task's code names the original path
    (a closure of the job's ``__main__`` travels by value), which this host lacks."""
    copy = tmp_path / "helpers.py"
    copy.write_bytes("# -*- coding: latin-1 -*-\ndef check(x):\n"
                     "    raise ValueError('caf\u00e9 %d' % x)\n".encode("latin-1"))
    original = "/home/someone/project/latin.py"
    namespace: dict = {}
    exec(compile(copy.read_bytes(), original, "exec"), namespace)
    logs.name_sources({str(copy): original})
    try:
        namespace["check"](7)
    except ValueError as exc:
        shown = logs.user_traceback(exc)
    assert "    raise ValueError('caf\u00e9 %d' % x)" in shown.splitlines()
    assert shown.rstrip().endswith("ValueError: caf\u00e9 7")


def test_a_package_records_where_its_python_files_came_from(tmp_path):
    """sources.json maps each .py member of a package to its absolute path on the submitter."""
    job = write_job(tmp_path, "job.py", "print(1)\n")
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "__init__.py").write_text("")
    (lib / "sub" / "mod.py").write_text("X = 1\n")
    data = tmp_path / "data.py"
    data.write_text("not code, a --files entry\n")
    package = packaging.build_package(job, [str(lib)], [str(data)], str(tmp_path / "out"))
    with open(package.path, "rb") as fh:
        packaging.extract(fh.read(), str(tmp_path / "extracted"))
    copies = packaging.source_copies(str(tmp_path / "extracted"))
    extracted = str(tmp_path / "extracted")
    assert copies == {
        os.path.join(extracted, "job", "job.py"): job,
        os.path.join(extracted, "py", "lib", "__init__.py"): str(lib / "__init__.py"),
        os.path.join(extracted, "py", "lib", "sub", "mod.py"): str(lib / "sub" / "mod.py"),
    }


def test_frames_of_vega_and_runpy_are_not_the_users(tmp_path):
    """user_stack keeps the job's frames and drops Vega's own and runpy's."""
    job = write_job(tmp_path, "driver_job.py", """
        def fail():
            raise KeyError("k")
        fail()
    """)
    import runpy

    try:
        runpy.run_path(job)
    except KeyError as exc:
        stack = logs.user_stack(exc)
        everything = traceback.extract_tb(exc.__traceback__)
    assert [(f.filename, f.name) for f in stack] == [
        (__file__, "test_frames_of_vega_and_runpy_are_not_the_users"), (job, "<module>"),
        (job, "fail")]
    assert len(everything) > len(stack)


@pytest.mark.parametrize("master", ["local", "local[2]"])
def test_a_tasks_stop_iteration_shows_the_users_line_not_vegas(tmp_path, master):
    """A StopIteration from a mapped function (which Vega turns into its own error) and one
    that ends a generator of map_partitions (Python's RuntimeError) are shown at the user's
    line, with no frame of Vega's."""
    job = write_job(tmp_path, "stops.py", """
        import sys
        from vega_runtime import Context

        def f(x):
            raise StopIteration("boom")

        def parts(it):
            for x in it:
                yield next(iter([]))

        with Context() as ctx:
            rdd = ctx.parallelize(range(4), 2)
            rdd.map(f).collect() if sys.argv[1] == "map" else rdd.map_partitions(parts).collect()
    """)
    for kind, line in (("map", 'line 5, in f'), ("generator", 'line 9, in parts')):
        done = vega("submit", "--master", master, "--conf", "vega.task.max_attempts=1", job, kind)
        assert done.returncode == 1
        assert frame_lines(done.stderr) == [f'  File "{job}", {line}'], done.stderr
