"""The wheels ``--bootstrap`` builds, and what its cache keeps (``vega_cli.wheel_cache``):
pip is replaced by a fake that makes empty wheels, but for the test of Vega's own wheel."""

from __future__ import annotations

import os
import shutil
import sys
import time
import zipfile

import pytest

from vega_cli import bootstrap
from vega_cli.wheel_cache import (ABANDONED, KEPT, PACKAGES, SOURCE_FILES, build_id, lock_id,
                                  locked_pins)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def checkout(path):
    """A copy of what Vega's wheels are built from: its packages, setup files, lock files."""
    path.mkdir()
    for name in (*SOURCE_FILES, "requirements"):
        copy = shutil.copytree if os.path.isdir(os.path.join(REPO, name)) else shutil.copy
        copy(os.path.join(REPO, name), path / name)
    for package in PACKAGES:
        shutil.copytree(os.path.join(REPO, package), path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return path


class FakePip:
    """Stands for ``subprocess.Popen`` in the module that builds the wheels: a ``pip wheel``
    command makes empty wheels of what it names in its ``--wheel-dir``, and is recorded."""

    def __init__(self, root):
        self.root = root
        self.commands = []

    def __call__(self, argv, **kwargs):
        self.commands.append(argv)
        self.args = argv
        target = argv[argv.index("--wheel-dir") + 1]
        if "--require-hashes" in argv:  # the locked dependencies (and pip)
            names = [*locked_pins(os.path.join(self.root, "requirements", "runtime.txt")),
                     "pip"]
        else:
            names = ["vega_engine"]
        for name in names:
            open(os.path.join(target, f"{name}-1-py3-none-any.whl"), "w").close()
        self.returncode = 0
        return self

    def poll(self):
        return 0

    def wait(self, timeout=None):
        return 0

    def communicate(self, *args, **kwargs):
        return "", ""

    def kill(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def built(self):
        """What each command since the last call built: "deps" or "vega"."""
        kinds = ["deps" if "--require-hashes" in argv else "vega" for argv in self.commands]
        self.commands.clear()
        return sorted(kinds)


@pytest.fixture
def fake_pip(tmp_path, monkeypatch):
    root = checkout(tmp_path / "checkout")
    module = sys.modules[bootstrap.build_wheels.__module__]
    monkeypatch.setattr(module, "source_tree", lambda: str(root))
    pip = FakePip(str(root))
    monkeypatch.setattr(module.subprocess, "Popen", pip)
    return pip


def change_source(root, n):
    """Change the checkout's code: a new build."""
    with open(os.path.join(root, "vega_cli", "main.py"), "a") as fh:
        fh.write(f"# change {n}\n")


def test_a_changed_checkout_builds_vegas_wheel_alone(fake_pip, tmp_path):
    """Only Vega's wheel is built again for a new build of the same lock files (every
    build built all 31 wheels again: 10-25 s, and 13 MB more in the cache each time)."""
    cache = str(tmp_path / "cache")
    first = bootstrap.build_wheels(cache)
    assert fake_pip.built() == ["deps", "vega"]
    assert len(first) == 32 and {os.path.basename(w).split("-")[0] for w in first} >= {
        "vega_engine", "pip", "cryptography", "docopt"}
    assert bootstrap.build_wheels(cache) == first and fake_pip.built() == []
    change_source(fake_pip.root, 1)
    second = bootstrap.build_wheels(cache)
    assert fake_pip.built() == ["vega"]
    [old_vega] = [w for w in first if "vega_engine" in w]
    [new_vega] = [w for w in second if "vega_engine" in w]
    assert new_vega != old_vega and [w for w in second if w != new_vega] == \
        [w for w in first if w != old_vega]
    with open(os.path.join(fake_pip.root, "requirements", "runtime.txt"), "a") as fh:
        fh.write("# relocked\n")
    bootstrap.build_wheels(cache)
    assert fake_pip.built() == ["deps", "vega"]  # (a new build too: its venv is named so)


def test_the_cache_keeps_the_last_used_builds(fake_pip, tmp_path):
    """The cache holds the current build's wheels and those of the KEPT builds used last
    (it kept every build's: 335 MB over a day's commits); what an earlier Vega left there
    (``wheels-<build>``, a set of 31 each) and a build a killed command left go once
    untouched for ABANDONED seconds."""
    cache = tmp_path / "cache"
    cache.mkdir()
    for name, age in ((".building-killed", ABANDONED + 60), (".building-running", 60),
                      ("wheels-0.1.0-000000000000", ABANDONED + 60),
                      ("wheels-0.1.0-111111111111", 60)):  # (an earlier Vega's, in use)
        (cache / name).mkdir()
        os.utime(cache / name, (time.time() - age,) * 2)
    builds = []
    for n in range(KEPT + 3):
        change_source(fake_pip.root, n)
        bootstrap.build_wheels(str(cache))
        builds.append(f"vega-{build_id()}")
    assert sorted(os.listdir(cache)) == sorted(
        [".building-running", "wheels-0.1.0-111111111111", f"deps-{lock_id(fake_pip.root)}",
         *builds[-KEPT - 1:]])


def test_vegas_wheel_holds_its_sources_alone(tmp_path, monkeypatch):
    """Vega's wheel is built from a copy of its sources: built in the checkout, it took
    setuptools' build/ directory along, and a module deleted since an earlier build was
    still installed on the hosts."""
    from vega_cli import wheel_cache

    root = checkout(tmp_path / "checkout")
    stale = root / "build" / "lib" / "vega_cli"
    stale.mkdir(parents=True)
    (stale / "deleted_since.py").write_text("print('stale')\n")
    monkeypatch.setattr(wheel_cache, "source_tree", lambda: str(root))
    cache = tmp_path / "cache"
    (cache / f"deps-{wheel_cache.lock_id(str(root))}").mkdir(parents=True)  # (no index here)
    [wheel] = wheel_cache.build_wheels(str(cache))
    names = zipfile.ZipFile(wheel).namelist()
    assert "vega_cli/main.py" in names and "vega_runtime/deploy/ui/index.html" in names
    assert [n for n in names if "deleted_since" in n] == []
    assert os.listdir(root / "build" / "lib" / "vega_cli") == ["deleted_since.py"]


def test_the_cache_is_where_xdg_cache_home_says(monkeypatch, tmp_path):
    """``$XDG_CACHE_HOME/vega`` where it is set (as pip's cache), else ``~/.cache/vega``
    (the path was fixed: a CI keeping XDG_CACHE_HOME between runs built every wheel again)."""
    from vega_cli.wheel_cache import default_cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == str(tmp_path / "home" / ".cache" / "vega")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "ci-cache"))
    assert default_cache_dir() == str(tmp_path / "ci-cache" / "vega")
