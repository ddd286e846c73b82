"""Long reference runs begun as the session starts, so that what they mostly do, wait, overlaps
the rest of the suite instead of adding to it: PySpark's unit tests and documentation
examples on Vega sleep in their tasks and meet at barriers (~110 s side by side on three
masters, a third of it CPU), PySpark's JVM runs Spark's examples (~80 s; Vega's run of the
one whose tasks sleep begins beside it), and files are exchanged with PySpark
(:class:`PySparkExchange`: SequenceFiles, Hadoop's codecs; their PySpark sides one after
another in one interpreter, so one JVM: ``_pyspark_sides``).

A test module offers such runs with ``head_start(masters)`` (``masters``: the ``master``
parameters of its collected tests), which starts them and returns an object with ``stop()``;
:func:`begin` calls it for every collected module when collection ends, and the module's
fixture takes what it started with :func:`taken` (which calls ``head_start`` itself for a
module that came later, or alone).  The runs are :class:`DetachedRun`\\ s: niced (within
their own sessions only: ``NICE``), and out of this process's tree, so no test that looks at
its descendants (fork servers, executors it started) sees theirs.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import pytest

from proc_helpers import wait_for

#: the runs begun, by module name, until the module's fixture takes them
BEGUN = pytest.StashKey[dict]()
#: the variable naming the directory the session's workers share (tests/conftest.py): under
#: pytest-xdist, one worker begins a module's runs and leaves them there, pickled, for the
#: worker that runs the module's tests; the controlling process stops them at the end
SHARED_TMP = "TESTS_SHARED_TMPDIR"
#: ``nice`` increment of a run.  It ranks the run's processes against the others of its
#: session only where the kernel schedules sessions as groups (``sched_autogroup``, Linux's
#: default): there each run takes a session's share of CPU beside the tests.  Lowering the
#: group's own priority too (``/proc/self/autogroup``, tried in session 37) left PySpark's
#: JVMs so little CPU that their py4j calls failed, and the suite took longer (1457 s
#: against 1358 s): the runs' CPU is spent either way, and spent early it does not hold up
#: the tests that wait for the runs at the suite's end.
NICE = 19


class DetachedRun:
    """``argv`` run in ``directory`` (its ``stdout`` and ``stderr`` files there), ``nice``
    below this process's priority, in a session of its own that this process does not
    parent: a few of ``Popen``'s methods, read from the ``status`` file it leaves."""

    def __init__(self, argv: List[str], env: dict, directory, nice: int = NICE):
        self.directory = Path(directory)
        self.returncode: Optional[int] = None
        env = {**env, "TMPDIR": str(directory)}  # what it leaves goes with its directory
        # ( ... ) & : the shell exits at once and the run is handed to init, out of our tree
        launcher = subprocess.Popen(
            ["sh", "-c", '( nice -n "$0" "$@" </dev/null >stdout 2>stderr; '
                         'echo $? >status.part; mv status.part status ) &', str(nice), *argv],
            cwd=str(directory), env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        launcher.wait()
        self.group = launcher.pid  # the session's process group: the run and its children

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            with contextlib.suppress(FileNotFoundError, ValueError):
                self.returncode = int((self.directory / "status").read_text())
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"the run in {self.directory}", timeout)
            time.sleep(0.1)
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.group, signal.SIGKILL)

    def stop(self) -> None:
        """Kill it unless it has ended."""
        if self.poll() is None:
            self.kill()

    def output(self) -> str:
        """What it printed: its stdout, then its stderr."""
        return "".join((self.directory / name).read_text(errors="replace")
                       for name in ("stdout", "stderr"))


def _shared() -> Optional[Path]:
    """Where workers leave the runs they begin (the directory every worker of the session
    shares), or None in a session without workers."""
    if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(SHARED_TMP):
        return Path(os.environ[SHARED_TMP]) / "head-start"
    return None


def run_directory(prefix: str) -> Path:
    """A new directory for a run, in the suite's temporary directory (``$TMPDIR``, which
    goes with the session; this process's ``tempfile`` keeps the real one), or in the one
    the workers share, which outlives the worker that began the run."""
    parent = _shared() or os.environ.get("TMPDIR")
    os.makedirs(parent, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


#: runs the exchanges' PySpark sides in one interpreter (``_pyspark_sides``)
SIDES_RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyspark_sides_run.py")
#: this process's: ``(its spool directory, its DetachedRun)``
_SIDES: list = []


class _SidesRun(DetachedRun):
    """The PySpark sides' interpreter: asked to stop first (its JVM, killed, would leave its
    files in /tmp), killed only if it does not within 30 s."""

    def stop(self) -> None:
        if self.poll() is None:
            (self.directory / "stop").touch()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(30)
        super().stop()


def _pyspark_sides() -> Path:
    """The spool of this process's PySpark interpreter for the exchanges' PySpark sides
    (``pyspark_sides_run.py``), started on first use (and again if it has ended: idle for
    ``pyspark_sides_run.IDLE`` seconds).  Under workers it is left, as a run, where the
    controlling process stops the runs at the end (``end``)."""
    if not _SIDES or _SIDES[-1][1].poll() is not None:
        from proc_helpers import REPO, clean_env
        from pyspark_install import pyspark_python

        spool = run_directory("pyspark-sides-")
        run = _SidesRun([pyspark_python(), SIDES_RUNNER, "serve", str(spool)],
                        clean_env(PYTHONPATH=REPO), spool)
        if _shared() is not None:
            with open(spool / "runs.pickle", "wb") as fh:
                pickle.dump(run, fh)
        _SIDES.append((spool, run))
    return _SIDES[-1][0]


class PySparkExchange:
    """Files exchanged with the real PySpark, from one run begun as the session starts:
    ``vega_side`` (a script run with this interpreter and this checkout) writes Vega's
    files into ``ROOT/vega``, then ``pyspark_side`` (run with PySpark's interpreter) reads
    them, writes PySpark's into ``ROOT/pyspark`` and pickles what it read there as
    ``read.pickle``; each is given ``args`` (``ROOT/args.pickle``: ``args`` then the two
    directories)."""

    def __init__(self, root: Path, vega_side: str, pyspark_side: str, args: tuple):
        from proc_helpers import REPO, clean_env

        self.vega_dir, self.out_dir = root / "vega", root / "pyspark"
        os.makedirs(self.out_dir)
        (root / "vega_side.py").write_text(vega_side)
        (root / "pyspark_side.py").write_text(pyspark_side)
        pickled = root / "args.pickle"
        with open(pickled, "wb") as fh:
            pickle.dump((*args, str(self.vega_dir), str(self.out_dir)), fh)
        sides = [[sys.executable, str(root / "vega_side.py"), str(pickled)],
                 # PySpark's side is run by this process's one PySpark interpreter
                 [sys.executable, SIDES_RUNNER, "ask", str(_pyspark_sides()), root.name,
                  str(root / "pyspark_side.py"), str(pickled)]]
        self.proc = DetachedRun(["sh", "-c", " && ".join(map(shlex.join, sides))],
                                clean_env(PYTHONPATH=REPO), root)

    def files(self):
        """``(vega_dir, out_dir, read)``, waiting for the run to end."""
        self.proc.wait(600)
        assert self.proc.returncode == 0, self.proc.output()[-5000:]
        with open(self.out_dir / "read.pickle", "rb") as fh:
            return self.vega_dir, self.out_dir, pickle.load(fh)

    def stop(self) -> None:
        self.proc.stop()


class _NoRuns:
    """What a module whose runs cannot start (no PySpark here) offers."""

    def stop(self) -> None:
        """Nothing runs: nothing to stop."""


NO_RUNS = _NoRuns()


def _masters(items, module) -> list:
    return list(dict.fromkeys(item.callspec.params["master"] for item in items
                              if getattr(item, "module", None) is module
                              and "master" in getattr(getattr(item, "callspec", None),
                                                      "params", {})))


def begin(session) -> None:
    """Start the runs of every collected module that offers them (``head_start``); under
    workers, the first worker to claim them begins them all (so the exchanges' PySpark
    sides share its one interpreter: ``_pyspark_sides``), and the others wait until it
    has named the modules it begins (``_left_by_another_worker`` then finds their runs)."""
    begun = session.config.stash.setdefault(BEGUN, {})
    if session.config.option.collectonly:
        return
    modules = [module for module in dict.fromkeys(getattr(item, "module", None)
                                                  for item in session.items)
               if module is not None and hasattr(module, "head_start")]
    shared = _shared()
    if shared is not None:
        named = shared / "modules-named"
        try:
            os.makedirs(shared / "claimed")
        except FileExistsError:  # another worker's
            wait_for(named.exists, 120, f"{named} (the worker beginning the runs)")
            return
        for module in modules:
            os.makedirs(shared / module.__name__)
        named.touch()
    for module in modules:
        runs = begun[module.__name__] = module.head_start(_masters(session.items, module))
        if shared is not None:
            left = shared / module.__name__ / "runs.pickle"
            with open(f"{left}.part", "wb") as fh:
                pickle.dump(runs, fh)
            os.rename(f"{left}.part", left)


def _left_by_another_worker(name: str):
    """The runs another worker began for module ``name`` (waiting for it to leave them),
    or None if none did."""
    shared = _shared()
    if shared is None or not (shared / name).is_dir():
        return None
    left = shared / name / "runs.pickle"
    wait_for(left.exists, 120, f"the runs left in {left.parent}")
    with open(left, "rb") as fh:
        return pickle.load(fh)


@contextlib.contextmanager
def taken(request):
    """The runs :func:`begin` started for ``request.module`` (else started now), stopped
    when the module's tests are done."""
    name = request.module.__name__
    runs = request.config.stash.setdefault(BEGUN, {}).pop(name, None)
    if runs is None:
        runs = _left_by_another_worker(name)
    if runs is None:
        runs = request.module.head_start(_masters(request.session.items, request.module))
    try:
        yield runs
    finally:
        runs.stop()


def end(session) -> None:
    """Stop the runs no module took (its tests were not reached: ``-x``, an interrupt).
    A worker leaves those it shared to the controlling process, which stops them all once
    every worker is done."""
    if _shared() is not None:
        return
    for runs in session.config.stash.get(BEGUN, {}).values():
        runs.stop()
    for _, run in _SIDES:
        run.stop()
    shared = os.environ.get(SHARED_TMP)
    for left in Path(shared).glob("head-start/*/runs.pickle") if shared else ():
        with open(left, "rb") as fh:
            pickle.load(fh).stop()
