"""The wheels ``--bootstrap`` installs on hosts: built on this machine, kept in a cache.

Two sets, each in a directory of the cache named after what it is built from:

* ``deps-<digest>``: every dependency at its version in the runtime lock file
  (``requirements/runtime.txt``, hashes checked), and pip at its version in the build lock
  file (what installs them on a host).  It changes only with the lock files (and this
  interpreter), so a changed checkout does not build it again (every build rebuilt all
  31 wheels: 10-25 s, and 13 MB more in the cache).
* ``vega-<build_id>``: Vega's own wheel, built from a clean copy of its sources (built in
  the checkout, it took setuptools' ``build/`` along: a module deleted since an earlier
  build was still installed on the hosts).

A set is built in a directory of its own and renamed into place once complete; the two are
built side by side when both are missing; the cache keeps the current sets and the
``KEPT`` last used others of each kind.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Dict, List

from vega_runtime._version import __version__

from .errors import RemoteError

#: The runtime dependencies' lock file, relative to the source tree (``make lock``).
RUNTIME_LOCK = os.path.join("requirements", "runtime.txt")
#: The build tools' lock file (pip, setuptools, wheel): what builds the wheels of the
#: dependencies published only as source (docopt, which hdfs needs) and Vega's own.
BUILD_LOCK = os.path.join("requirements", "build.txt")
#: what Vega's wheel is built from, besides its packages
SOURCE_FILES = ("setup.cfg", "pyproject.toml", "README.md")
PACKAGES = ("vega_runtime", "vega_cli")
#: sets of each kind the cache keeps besides the current ones (other checkouts' builds)
KEPT = 2
#: seconds after which a build directory no command renamed into place, or a set of an
#: earlier Vega's layout, is abandoned
ABANDONED = 3600


def default_cache_dir() -> str:
    """Where the wheels are kept: ``$XDG_CACHE_HOME/vega``, else ``~/.cache/vega`` (as pip
    keeps its own; a CI that keeps ``XDG_CACHE_HOME`` between runs keeps these too)."""
    from vega_runtime.private_files import expand_home

    return os.path.join(os.environ.get("XDG_CACHE_HOME") or expand_home("~/.cache", "the "
                        "wheels' cache (XDG_CACHE_HOME)"), "vega")


def source_tree() -> str:
    """The directory Vega is installed from; bootstrap needs it to build a wheel."""
    import vega_runtime

    root = os.path.dirname(os.path.dirname(os.path.abspath(vega_runtime.__file__)))
    if not all(os.path.exists(os.path.join(root, name)) for name in ("setup.cfg", RUNTIME_LOCK)):
        raise RemoteError("--bootstrap needs Vega's source tree with its lock files (install "
                          "Vega with pip install -e . from a checkout)")
    return root


def _source_files(root: str) -> List[str]:
    """The files Vega's wheel is built from, relative to ``root``, in a stable order."""
    found = []
    for package in PACKAGES:
        for current, dirs, names in os.walk(os.path.join(root, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            found += [os.path.relpath(os.path.join(current, name), root) for name in sorted(names)
                      if not name.endswith((".pyc", ".pyo"))]
    return found


def build_id() -> str:
    """This Vega's version and a digest of its source (every file of its packages and its
    setup.cfg): a checkout changed without a new version number is a new build, so neither
    the wheel cache nor a host's bootstrapped virtualenv can hand out stale code."""
    root = source_tree()
    digest = hashlib.sha256()
    for path in _source_files(root):
        digest.update(path.encode() + b"\0")
        with open(os.path.join(root, path), "rb") as fh:
            digest.update(fh.read())
    for name in ("setup.cfg", RUNTIME_LOCK, BUILD_LOCK):
        with open(os.path.join(root, name), "rb") as fh:
            digest.update(fh.read())
    return f"{__version__}-{digest.hexdigest()[:12]}"


def lock_id(root: str) -> str:
    """A digest of the lock files and of this interpreter's tag (pip picks the wheels of
    compiled packages for it): what the dependencies' set is built from."""
    digest = hashlib.sha256(sys.implementation.cache_tag.encode() + b"\0")
    for name in (RUNTIME_LOCK, BUILD_LOCK):
        with open(os.path.join(root, name), "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:12]


def build_wheels(cache_dir: str = "") -> List[str]:
    """The wheels of Vega and of every dependency at its locked version (pip's among them),
    from ``cache_dir`` (``default_cache_dir()``), building the sets missing there (module
    docstring)."""
    cache_dir = cache_dir or default_cache_dir()
    root = source_tree()
    sets = {f"deps-{lock_id(root)}": _dependencies_command,
            f"vega-{build_id()}": _vega_command}
    os.makedirs(cache_dir, exist_ok=True)
    missing = {name: command for name, command in sets.items()
               if not os.path.isdir(os.path.join(cache_dir, name))}
    if missing:
        _build(root, cache_dir, missing)
    for name in sets:  # (last used: what _prune keeps)
        os.utime(os.path.join(cache_dir, name))
    _prune(cache_dir, sets)
    wheels = [w for name in sets for w in glob.glob(os.path.join(cache_dir, name, "*.whl"))]
    return sorted(wheels, key=os.path.basename)


def _build(root: str, cache_dir: str, sets: Dict[str, object]) -> None:
    """Build ``sets`` ({directory name: its pip command's maker}) side by side, each in a
    temporary directory renamed into place once pip succeeded."""
    work = tempfile.mkdtemp(prefix=".building-", dir=cache_dir)
    running: Dict[str, tuple] = {}
    try:
        constraints = build_constraints(root, work)
        # pip builds a source-only package in an environment of its own, with the newest
        # build tools unless constrained: pinned to the build lock's (PIP_BUILD_CONSTRAINT
        # since pip 25.3, PIP_CONSTRAINT before), a new setuptools release cannot break it
        isolated = {**os.environ, "PIP_BUILD_CONSTRAINT": constraints,
                    "PIP_CONSTRAINT": constraints}
        for name, command in sets.items():
            target = os.path.join(work, name)
            os.mkdir(target)
            what, argv = command(root, work, [sys.executable, "-m", "pip", "wheel", "--quiet",
                                              "--no-deps", "--wheel-dir", target])
            # (pip refuses build constraints where it builds with this interpreter's tools)
            env = os.environ if "--no-build-isolation" in argv else isolated
            with open(os.path.join(work, f"{name}.err"), "w") as err:  # (not a pipe: the
                running[name] = (what, subprocess.Popen(  # other pip's would wait to be read)
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                    env=env))
        failures = []
        for name, (what, proc) in running.items():
            if proc.wait() != 0:
                with open(os.path.join(work, f"{name}.err")) as err:
                    failures.append(f"building the wheels of {what} failed: "
                                    f"{pip_error(err.read())}")
                continue
            try:
                os.rename(os.path.join(work, name), os.path.join(cache_dir, name))
            except OSError:  # another command built it meanwhile: theirs is as good
                if not os.path.isdir(os.path.join(cache_dir, name)):
                    raise
        if failures:
            raise RemoteError("; ".join(failures))
    finally:
        for _, proc in running.values():
            if proc.poll() is None:  # (an interrupt: pip is not left building)
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def build_vega_wheel(wheel_dir: str, root: str = "") -> str:
    """Vega's wheel, built as ``--bootstrap`` builds it (from a clean copy of ``root``'s
    sources, default ``source_tree()``), into ``wheel_dir``; its path.  What ``make wheel``
    runs: ``pip wheel .`` in the checkout leaves ``build/`` there and packs what it holds,
    a module deleted since an earlier build included."""
    root = os.path.abspath(root or source_tree())
    scratch = tempfile.mkdtemp(prefix="vega-wheel-")
    try:
        _build(root, scratch, {"vega": _vega_command})
        wheel, = glob.glob(os.path.join(scratch, "vega", "*.whl"))
        os.makedirs(wheel_dir, exist_ok=True)
        target = os.path.join(wheel_dir, os.path.basename(wheel))
        shutil.move(wheel, target)
        return target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _dependencies_command(root: str, work: str, pip_wheel: List[str]) -> tuple:
    """(what, argv): the wheels of the runtime lock file's pins and of the build lock's pip."""
    pip_lock = os.path.join(work, "pip-lock.txt")
    with open(pip_lock, "w") as fh:
        fh.write(locked_entry(os.path.join(root, BUILD_LOCK), "pip"))
    return "the locked dependencies", [*pip_wheel, "--require-hashes", "-r",
                                       os.path.join(root, RUNTIME_LOCK), "-r", pip_lock]


def _vega_command(root: str, work: str, pip_wheel: List[str]) -> tuple:
    """(what, argv): Vega's wheel, from a copy of its source files alone; with this
    interpreter's build tools when they are the build lock's (as in a virtualenv ``make``
    made: ~2 s), else in the isolated environment pip fills with them (~6 s)."""
    source = os.path.join(work, "source")
    for path in [*SOURCE_FILES, *_source_files(root)]:
        os.makedirs(os.path.dirname(os.path.join(source, path)), exist_ok=True)
        shutil.copy2(os.path.join(root, path), os.path.join(source, path))
    isolation = ["--no-build-isolation"] if _build_tools_installed(root) else []
    return "Vega", [*pip_wheel, *isolation, source]


def _build_tools_installed(root: str) -> bool:
    """Whether this interpreter has the build lock's setuptools and wheel."""
    pins = locked_pins(os.path.join(root, BUILD_LOCK))
    try:
        return all(metadata.version(name) == pins.get(name) for name in ("setuptools", "wheel"))
    except metadata.PackageNotFoundError:
        return False


def _prune(cache_dir: str, current) -> None:
    """Remove the sets of each kind but ``current`` and the ``KEPT`` last used others; and,
    once untouched for ``ABANDONED`` seconds, what earlier Vega versions left there
    (``wheels-*``: a set of 31 for each build) and the builds of killed commands."""
    for kind in ("deps-", "vega-"):
        others = [path for path in glob.glob(os.path.join(cache_dir, kind + "*"))
                  if os.path.basename(path) not in current]
        others.sort(key=_mtime, reverse=True)
        for path in others[KEPT:]:
            shutil.rmtree(path, ignore_errors=True)
    # (not while an earlier Vega sharing the cache may be uploading from one)
    for path in [*glob.glob(os.path.join(cache_dir, "wheels-*")),
                 *glob.glob(os.path.join(cache_dir, ".building-*"))]:  # a killed command's
        if _mtime(path) < time.time() - ABANDONED:
            shutil.rmtree(path, ignore_errors=True)


def _mtime(path: str) -> float:
    """``path``'s modification time; 0 if another command removed it meanwhile."""
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def locked_pins(path: str) -> Dict[str, str]:
    """{name: version} of a lock file's ``name==version`` lines."""
    pins = {}
    with open(path) as fh:
        for line in fh:
            name, sep, version = line.partition("==")
            if sep and not line.startswith((" ", "#")):
                pins[name.strip().lower()] = version.split()[0]
    return pins


def locked_entry(path: str, name: str) -> str:
    """``name``'s entry in a lock file: its pin and the lines of its hashes."""
    entry, taking = [], False
    with open(path) as fh:
        for line in fh:
            if not line[:1].isspace():
                taking = line.partition("==")[0].strip().lower() == name
            if taking:
                entry.append(line)
    return "".join(entry)


def build_constraints(root: str, directory: str) -> str:
    """A constraints file in ``directory`` pinning each build tool to its version in the
    build lock (``name==version`` lines: pip takes no hashes in constraints)."""
    path = os.path.join(directory, "build-constraints.txt")
    with open(path, "w") as fh:
        fh.writelines(f"{name}=={version}\n"
                      for name, version in locked_pins(os.path.join(root, BUILD_LOCK)).items())
    return path


def pip_error(stderr: str, limit: int = 500) -> str:
    """What pip said went wrong: its ERROR lines (else its last lines), whole lines within
    ``limit`` characters; pip's retry warnings before them are left out.

    >>> pip_error("WARNING: Retrying ... Failed to resolve 'pypi.org'\\n" * 3 +
    ...           "ERROR: No matching distribution found for bcrypt==5.0.0\\n")
    'ERROR: No matching distribution found for bcrypt==5.0.0'
    """
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    lines = [line for line in lines if line.startswith("ERROR")] or lines
    kept: List[str] = []
    for line in reversed(lines):
        if kept and sum(map(len, kept)) + len(line) > limit:
            break
        kept.insert(0, line)
    return "\n".join(kept)


if __name__ == "__main__":  # make wheel: python -m vega_cli.wheel_cache SOURCE_TREE WHEEL_DIR
    try:
        print(build_vega_wheel(sys.argv[2], sys.argv[1]))
    except RemoteError as exc:
        sys.exit(f"make wheel: {exc}")
