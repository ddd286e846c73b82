"""What the vega-engine wheel holds: the runtime and the CLI, never the test servers."""

import os
import shutil
import subprocess
import sys
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: what the build reads; vega_testing is copied too, so the test sees it being left out
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "vega_runtime", "vega_cli", "vega_testing")


def test_the_wheel_holds_vega_runtime_and_vega_cli_only(tmp_path):
    """A wheel built from a copy of the sources has the two packages and no test server."""
    source = tmp_path / "src"
    for name in SOURCES:
        path = os.path.join(REPO, name)
        if os.path.isdir(path):
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(path, source / name)
    (tmp_path / "tmp").mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, timeout=120,
                   env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})  # pip's scratch too
    (wheel,) = os.listdir(tmp_path / "dist")
    names = zipfile.ZipFile(tmp_path / "dist" / wheel).namelist()
    tops = sorted({name.split("/")[0] for name in names})
    assert tops == ["vega_cli", "vega_engine-" + wheel.split("-")[1] + ".dist-info",
                    "vega_runtime"]
    assert [name for name in names if "webhdfs" in name or "testing" in name] == []
    assert "vega_runtime/deploy/ui/index.html" in names  # package data still comes along
    assert "vega_cli/remote_ops.py" in names  # what cluster commands run on hosts


def readme_wheel_command() -> list:
    """The README's command that builds the wheel (the first of its install block)."""
    with open(os.path.join(REPO, "README.md")) as fh:
        after = fh.read().split("To install Vega outside the checkout", 1)[1]
    block = after.split("```", 2)[1]
    return block.strip().splitlines()[0].split("#")[0].split()


def test_the_readmes_wheel_command_packs_no_module_deleted_since_an_earlier_build(tmp_path):
    """The README's command, run twice in a copy of the checkout with a module deleted in
    between: the second wheel has no such module.  (Before, ``pip wheel ... -w dist .``
    in the checkout left setuptools' ``build/lib`` there and packed the deleted module
    from it; ``make wheel`` builds from a clean copy of the sources, as --bootstrap.)"""
    checkout = tmp_path / "checkout"
    listed = subprocess.run(["git", "ls-files", "setup.cfg", "pyproject.toml", "README.md",
                             "Makefile", "requirements", "vega_runtime", "vega_cli"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in listed.split():
        os.makedirs(os.path.dirname(checkout / name), exist_ok=True)
        shutil.copy(os.path.join(REPO, name), checkout / name)
    venv = os.path.dirname(os.path.dirname(sys.executable))
    command = readme_wheel_command()
    if command[0] == "make":  # the suite's venv, as installed (the stamp: not made again)
        command += ["-o", os.path.join(venv, ".installed"), f"VENV={venv}"]
    else:
        command = [sys.executable if c == ".venv/bin/python" else c for c in command]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    gone = checkout / "vega_runtime" / "gone_module.py"
    gone.write_text("X = 1\n")
    wheels = []
    for _ in range(2):
        done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        (wheel,) = os.listdir(checkout / "dist")
        wheels.append(zipfile.ZipFile(checkout / "dist" / wheel).namelist())
        os.unlink(checkout / "dist" / wheel)
        if gone.exists():
            gone.unlink()
    assert "vega_runtime/gone_module.py" in wheels[0]
    assert "vega_runtime/gone_module.py" not in wheels[1]
    assert "vega_runtime/context.py" in wheels[1] and "vega_cli/main.py" in wheels[1]
    assert not (checkout / "build").exists()  # nothing of the build left in the checkout
