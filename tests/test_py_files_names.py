"""Python files' names in another case: ``--py-files LIB.ZIP`` and ``add_py_file("LIB.ZIP")``
were refused (the suffix compared as written), where PySpark's ``addPyFile`` compares
``filename[-4:].lower()`` with its ``PACKAGE_EXTENSIONS`` and spark-submit ships any name.
A ``.PY`` file, which no Python importer reads as a module, is refused saying so."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from proc_helpers import REPO, clean_env, vega, write_job

TASKS = """
print("RESULT", ctx.parallelize([1, 2], 2).map(
    lambda _: (__import__("zipped").NAME, __import__("egged").NAME)).collect())
ctx.stop()
"""
EXPECTED = "RESULT [('zipped', 'egged'), ('zipped', 'egged')]"


@pytest.fixture
def job_dir(tmp_path):
    """deps/LIB.ZIP (zipped.py), deps/Deps.Egg (egged.py) and deps/Util.PY."""
    deps = tmp_path / "deps"
    deps.mkdir()
    for name, module in (("LIB.ZIP", "zipped"), ("Deps.Egg", "egged")):
        with zipfile.ZipFile(deps / name, "w") as archive:
            archive.writestr(f"{module}.py", f"NAME = {module!r}\n")
    (deps / "Util.PY").write_text("NAME = 'util'\n")
    return tmp_path


def _env() -> dict:
    return {**clean_env(), "PYTHONPATH": REPO}


@pytest.mark.parametrize("master", ["local", "local[2]", "local-cluster[2,1]"])
def test_py_files_zips_named_in_upper_case_are_importable(job_dir, master):
    """vega submit --py-files deps/LIB.ZIP,deps/Deps.Egg: both import in tasks (a local
    cluster's executors take them from the job package)."""
    job = write_job(job_dir, "job.py", "from vega_runtime import Context\nctx = Context()\n"
                    + TASKS)
    result = vega("submit", "--master", master, "--py-files", "deps/LIB.ZIP,deps/Deps.Egg",
                  job, cwd=str(job_dir), env=_env())
    assert result.returncode == 0, result.stderr
    assert EXPECTED in result.stdout.splitlines()


@pytest.mark.parametrize("how", ["add_py_file", "spark.submit.pyFiles"])
def test_add_py_file_takes_zips_named_in_upper_case(job_dir, how):
    """ctx.add_py_file("deps/LIB.ZIP") (and the setting naming it) puts it on the path."""
    if how == "add_py_file":
        start = ("ctx = Context(master='local[2]')\nctx.add_py_file('deps/LIB.ZIP')\n"
                 "ctx.add_py_file('deps/Deps.Egg')\n")
    else:
        start = ("ctx = Context(master='local[2]', conf={'spark.submit.pyFiles': "
                 "'deps/LIB.ZIP,deps/Deps.Egg'})\n")
    job = write_job(job_dir, "driver.py", "from vega_runtime import Context\n" + start + TASKS)
    result = subprocess.run([sys.executable, job], cwd=str(job_dir), capture_output=True,
                            text=True, timeout=120, env=_env())
    assert result.returncode == 0, result.stderr
    assert EXPECTED in result.stdout.splitlines()


def test_a_py_file_named_dot_upper_case_py_is_refused_saying_why(job_dir):
    """--py-files Util.PY and add_py_file("Util.PY"): one message saying to rename it."""
    why = ("Python imports a module only from a file whose name ends in .py (lower case): "
           "rename it Util.py")
    job = write_job(job_dir, "job.py", "print('RAN')\n")
    result = vega("submit", "--master", "local", "--py-files", "deps/Util.PY", job,
                  cwd=str(job_dir), env=_env())
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"vega: error: --py-files: 'deps/Util.PY': {why}"
    job = write_job(job_dir, "driver.py", """
        from vega_runtime import Context
        ctx = Context(master="local")
        try:
            ctx.add_py_file("deps/Util.PY")
        except ValueError as exc:
            print("REFUSED", exc)
        ctx.stop()
        """)
    result = subprocess.run([sys.executable, job], cwd=str(job_dir), capture_output=True,
                            text=True, timeout=120, env=_env())
    assert result.stdout.splitlines() == [f"REFUSED deps/Util.PY: {why}"], result.stderr
