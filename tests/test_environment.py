"""A misspelt ``VEGA_*`` variable (``VEGA_MASTR``) is said once by the ``vega`` command
that ignores it, naming the closest one Vega reads, where it was ignored silently; every
``VEGA_*`` name in the repository is a variable Vega or its tests know, so none of those
is ever warned of (``vega_runtime.environment``)."""

from __future__ import annotations

import os
import re

from vega_runtime.environment import known_variables, unknown_variable_warnings

from proc_helpers import REPO, clean_env, vega, write_job

#: ``VEGA_*`` names in the repository that are Python names, not variables
PYTHON_NAMES = {"VEGA_DIR", "VEGA_SIDE", "VEGA_PROGRAMS", "VEGA_VERSION"}
#: the misspellings this file and ``environment``'s examples give
MISSPELT = {"VEGA_MASTR", "VEGA_EVENTLOG_DIRR", "VEGA_NOTHING_LIKE_IT"}


def _repository_names():
    """Every ``VEGA_*`` name in the repository's text files (by file)."""
    names = {}
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            path = os.path.join(top, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
            except (UnicodeDecodeError, OSError):
                continue
            for found in re.findall(r"\bVEGA_[A-Z0-9_]*[A-Z0-9]", text):
                names.setdefault(found, os.path.relpath(path, REPO))
    return names


def test_every_vega_name_in_the_repository_is_a_known_variable():
    """What Vega reads or sets, the k8s manifests' and the tests' own variables: all known,
    so the suite's and a deployment's runs never warn."""
    unknown = {name: path for name, path in _repository_names().items()
               if name not in known_variables() | PYTHON_NAMES | MISSPELT}
    assert unknown == {}


def test_an_unknown_variable_is_named_with_the_closest_known_one():
    assert unknown_variable_warnings({"VEGA_EVENTLOG_DIRR": "/tmp/e", "VEGA_MASTR": "local",
                                      "VEGA_NOTHING_LIKE_IT": "1", "VEGA_MASTER": "local",
                                      "PATH": "/bin"}) == [
        "ignoring VEGA_EVENTLOG_DIRR: Vega reads no such variable "
        "(did you mean VEGA_EVENTLOG_DIR?)",
        "ignoring VEGA_MASTR: Vega reads no such variable (did you mean VEGA_MASTER?)",
        "ignoring VEGA_NOTHING_LIKE_IT: Vega reads no such variable"]


def test_vega_submit_warns_once_of_a_misspelt_variable(tmp_path):
    """`VEGA_MASTR=local[1] vega submit job.py`: one line on stderr naming VEGA_MASTER; the
    job runs (on the default master: the variable is ignored), its output untouched."""
    job = write_job(tmp_path, "job.py", "from vega_runtime import Context\n"
                    "with Context() as ctx:\n    print('master', ctx.master)\n")
    done = vega("submit", job, env=clean_env(VEGA_MASTR="local[1]"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "master local[*]\n"
    warned = [line for line in done.stderr.splitlines() if "VEGA_MASTR" in line]
    assert warned == ["vega: ignoring VEGA_MASTR: Vega reads no such variable "
                      "(did you mean VEGA_MASTER?)"]


def test_known_variables_are_not_warned_of(tmp_path):
    """The suite's own environment (VEGA_EVENTLOG_DIR ...) and Vega's variables: no line."""
    done = vega("status", "--help", env=clean_env(VEGA_CONF_DIR=str(tmp_path),
                                                  VEGA_LOCAL_IP="127.0.0.1"))
    assert done.returncode == 0 and "ignoring" not in done.stderr, done.stderr
