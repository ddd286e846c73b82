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
