"""``--bootstrap``: install Vega on hosts that lack it, with no registry access there.

Wheels of Vega and its dependencies are built on this machine (``wheel_cache``: once,
cached), uploaded to the host, and installed offline into a virtualenv in the daemon's
Vega home; the daemon then runs with that interpreter.  The dependencies are the exact
versions of the runtime lock file (``requirements/runtime.txt``, hashes checked), the same
set the Dockerfile installs, so every host runs what CI tested.  A host whose virtualenv
already has this Vega version is left alone.
"""

from __future__ import annotations

import os
from typing import List

from vega_runtime._version import __version__

from .errors import RemoteError
from .remote import Host, quote
from .wheel_cache import build_id, build_wheels  # noqa: F401 (build_wheels: the CLI's)


def _has_vega(host: Host, interpreter: str) -> bool:
    check = host.run(quote([interpreter, "-c",
                            "import vega_runtime; print(vega_runtime.__version__)"]))
    return check.ok and check.stdout.strip() == __version__


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
    for step in _install_steps(python, venv, wheel_dir, wheels):
        result = host.run("umask 077 && " + quote(step), timeout=600)
        if not result.ok:
            raise RemoteError(f"{host}: bootstrap step {' '.join(step[:3])} failed: "
                              f"{(result.stderr or result.stdout).strip()[-400:]}")
    return interpreter, f"bootstrapped Vega {__version__} ({len(wheels)} wheels)"


def _install_steps(python: str, venv: str, wheel_dir: str, wheels: List[str]) -> List[list]:
    """The commands that make the virtualenv ``venv`` with ``python`` and install the
    uploaded wheels in it: without ensurepip, which installed the interpreter's own pip
    with a pip run of its own (4-7 s a host) and is missing where Debian's python3-venv is
    not installed; the locked pip, run from its wheel, installs Vega and itself, leaving
    the modules to be compiled as they are first imported (a daemon imports ~90 of the
    1,900 modules pip compiled, 3-4 s of CPU a host)."""
    [pip] = [os.path.basename(w) for w in wheels if os.path.basename(w).startswith("pip-")]
    return [[python, "-m", "venv", "--without-pip", venv],
            [f"{venv}/bin/python", f"{wheel_dir}/{pip}/pip", "install", "--quiet",
             "--no-compile", "--no-index", "--find-links", wheel_dir, "vega-engine", "pip"]]


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
