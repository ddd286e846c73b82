"""``--bootstrap``: install Vega on hosts that lack it, with no registry access there.

Wheels of Vega and its dependencies are built on this machine (once, cached), uploaded
to the host, and installed offline into a virtualenv in the daemon's Vega home; the
daemon then runs with that interpreter.  The dependencies are the exact versions of the
runtime lock file (``requirements/runtime.txt``, hashes checked), the same set the
Dockerfile installs, so every host runs what CI tested.  A host whose virtualenv already has this Vega
version is left alone.
"""

from __future__ import annotations

import glob
import hashlib
import os
import subprocess
import sys
from typing import List

from vega_runtime._version import __version__

from .errors import RemoteError
from .remote import Host, quote


#: The runtime dependencies' lock file, relative to the source tree (``make lock``).
RUNTIME_LOCK = os.path.join("requirements", "runtime.txt")
#: The build tools' lock file (pip, setuptools, wheel): what builds the wheels of the
#: dependencies published only as source (docopt, which hdfs needs) and Vega's own.
BUILD_LOCK = os.path.join("requirements", "build.txt")


def source_tree() -> str:
    """The directory Vega is installed from; bootstrap needs it to build a wheel."""
    import vega_runtime

    root = os.path.dirname(os.path.dirname(os.path.abspath(vega_runtime.__file__)))
    if not all(os.path.exists(os.path.join(root, name)) for name in ("setup.cfg", RUNTIME_LOCK)):
        raise RemoteError("--bootstrap needs Vega's source tree with its lock files (install "
                          "Vega with pip install -e . from a checkout)")
    return root


def build_id() -> str:
    """This Vega's version and a digest of its source (every file of its packages and its
    setup.cfg): a checkout changed without a new version number is a new build, so neither
    the wheel cache nor a host's bootstrapped virtualenv can hand out stale code."""
    root = source_tree()
    digest = hashlib.sha256()
    for package in ("vega_runtime", "vega_cli"):
        for current, dirs, names in os.walk(os.path.join(root, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(n for n in names if not n.endswith((".pyc", ".pyo"))):
                path = os.path.join(current, name)
                digest.update(os.path.relpath(path, root).encode() + b"\0")
                with open(path, "rb") as fh:
                    digest.update(fh.read())
    for name in ("setup.cfg", RUNTIME_LOCK, BUILD_LOCK):
        with open(os.path.join(root, name), "rb") as fh:
            digest.update(fh.read())
    return f"{__version__}-{digest.hexdigest()[:12]}"


def wheel_cache() -> str:
    """Where ``--bootstrap`` keeps the wheels it builds: ``$XDG_CACHE_HOME/vega``, else
    ``~/.cache/vega`` (pip's cache follows XDG_CACHE_HOME too)."""
    from vega_runtime.private_files import expand_home

    return os.path.join(os.environ.get("XDG_CACHE_HOME") or expand_home("~/.cache", "the "
                        "wheels' cache (XDG_CACHE_HOME)"), "vega")


def build_wheels(cache_dir: str) -> List[str]:
    """Wheels of Vega and every dependency at its locked version, built once per build
    (``build_id``) into ``cache_dir``."""
    target = os.path.join(cache_dir, f"wheels-{build_id()}")
    wheels = sorted(glob.glob(os.path.join(target, "*.whl")))
    if any(os.path.basename(w).startswith("vega_engine-") for w in wheels):
        return wheels
    os.makedirs(target, exist_ok=True)
    root = source_tree()
    constraints = build_constraints(root, target)
    # pip builds a source-only package in an environment of its own, with the newest build
    # tools unless constrained: pinned to the build lock's (PIP_BUILD_CONSTRAINT since pip
    # 25.3, PIP_CONSTRAINT before), a new setuptools release cannot break a bootstrap
    env = {**os.environ, "PIP_BUILD_CONSTRAINT": constraints, "PIP_CONSTRAINT": constraints}
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", target]
    for what, command in (("the locked dependencies",
                           [*pip_wheel, "--require-hashes", "-r", os.path.join(root, RUNTIME_LOCK)]),
                          ("Vega", [*pip_wheel, root])):
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RemoteError(f"building the wheels of {what} failed: {pip_error(done.stderr)}")
    return sorted(glob.glob(os.path.join(target, "*.whl")))


def build_constraints(root: str, directory: str) -> str:
    """A constraints file in ``directory`` pinning each build tool to its version in the
    build lock (``name==version`` lines: pip takes no hashes in constraints)."""
    pins = []
    with open(os.path.join(root, BUILD_LOCK)) as fh:
        for line in fh:
            name, sep, version = line.partition("==")
            if sep and not line.startswith((" ", "#")):
                pins.append(f"{name.strip()}=={version.split()[0]}\n")
    path = os.path.join(directory, "build-constraints.txt")
    with open(path, "w") as fh:
        fh.writelines(pins)
    return path


def _has_vega(host: Host, interpreter: str) -> bool:
    check = host.run(quote([interpreter, "-c",
                            "import vega_runtime; print(vega_runtime.__version__)"]))
    return check.ok and check.stdout.strip() == __version__


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


def bootstrap(host: Host, python: str, vega_home: str, wheels: List[str],
              reserve: int = 0) -> tuple:
    """The host's Vega interpreter, installing it first when needed; (path, what was done).

    A host whose configured interpreter already runs this Vega version is left alone; a
    bootstrapped virtualenv is named after the build, so a changed checkout installs anew.
    An install is refused, before anything is uploaded, where ``vega_home`` has less free
    space than the wheels and their virtualenv need plus ``reserve`` (the daemon's own).
    """
    if _has_vega(host, python):
        return python, f"Vega {__version__} present"
    build = build_id()
    venv = f"{vega_home}/venv-{build}"
    interpreter = f"{venv}/bin/python"
    if _has_vega(host, interpreter):
        return interpreter, "Vega already bootstrapped"
    wheel_dir = f"{vega_home}/wheels-{build}"  # this build's wheels only: pip picks no other version
    # under umask 077, as everything in a work dir: the directories made here (the daemon's
    # work dir among them, when it is new) are 0700, not the login umask's 0755
    host.check("umask 077 && " + quote(["mkdir", "-p", wheel_dir]), f"mkdir {wheel_dir}")
    _check_free_space(host, vega_home, wheels, reserve)
    for wheel in wheels:
        host.put(wheel, f"{wheel_dir}/{os.path.basename(wheel)}")
    for step in ([python, "-m", "venv", venv],
                 [interpreter, "-m", "pip", "install", "--quiet", "--no-index",
                  "--find-links", wheel_dir, "vega-engine"]):
        result = host.run("umask 077 && " + quote(step), timeout=600)
        if not result.ok:
            raise RemoteError(f"{host}: bootstrap step {' '.join(step[:3])} failed: "
                              f"{(result.stderr or result.stdout).strip()[-400:]}")
    return interpreter, f"bootstrapped Vega {__version__} ({len(wheels)} wheels)"


def _check_free_space(host: Host, vega_home: str, wheels: List[str], reserve: int) -> None:
    """Raise RemoteError if ``vega_home`` lacks the room to install ``wheels`` (the wheels,
    then the virtualenv they unpack into: ~4 times their size) and ``reserve`` more: on a
    full disk an upload failed half-way, saying "size mismatch in put! 0 != 278240"."""
    need = 4 * sum(os.path.getsize(w) for w in wheels) + reserve
    df = host.run("df -Pk -- " + quote([vega_home]) + " | tail -n 1")
    fields = df.stdout.split()
    if not df.ok or len(fields) < 4 or not fields[3].isdigit():
        return  # no POSIX df there: the steps will say what fails
    free = int(fields[3]) * 1024
    if free < need:
        raise RemoteError(f"{host}: only {free >> 20} MiB free in {vega_home}; installing Vega "
                          f"there needs {need >> 20} MiB (its wheels, their virtualenv and "
                          "the daemon's work space); free some there or choose another "
                          "work_dir in the cluster file", answered=True)


def bootstrapped_interpreter(host: Host, vega_home: str) -> str:
    """The Python of the virtualenv ``bootstrap`` made in ``vega_home`` on the host (the
    newest, if builds changed since), else ``""``; a RemoteError if the host cannot be
    reached."""
    return host.run("ls -t -- " + quote([vega_home]) +
                    "/venv-*/bin/python 2>/dev/null | head -n 1").stdout.strip()


def installed_interpreter(host: Host, python: str, vega_home: str) -> str:
    """The Python that runs this Vega on the host without installing anything: ``python``
    when it does (a Vega installed there since a bootstrap is not passed over for an older
    virtualenv), else the virtualenv ``bootstrap`` made in ``vega_home``, else ``python``
    (whose preflight then says what is missing)."""
    found = bootstrapped_interpreter(host, vega_home)
    return found if found and not _has_vega(host, python) else python
