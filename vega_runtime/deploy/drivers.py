"""Cluster deploy mode: drivers run by the master, on the master's host.

A driver is ``vega submit --deploy-mode client`` run on the extracted job
package, so it behaves exactly like a driver started by hand; its output
goes to ``<work_dir>/apps/<driver_id>/output.log`` (its stderr to ``stderr.log``, their
order to ``streams.log``: ``driver_output``) where ``vega logs`` and an attached
``vega submit`` follow it.  With ``supervise`` a driver that
exits non-zero or is killed by a signal is restarted, up to a limit.

A driver dies with the master (``VEGA_DIE_WITH_PID``: it sets PR_SET_PDEATHSIG
on itself, see ``vega_cli.submit``), and as a subreaper takes what its job
started down with it; a driver killed here goes with its whole tree.  So a
restarted master starts its supervised drivers again from their saved requests
(``resume``: as Spark's master relaunches the supervised drivers of a worker it
lost), and takes the others for failed.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from typing import Callable, Deque, Dict, List, Optional, Tuple

from .. import ids, packaging
from ..config import DRIVER_CONF_ENV, DRIVER_ID_ENV, DRIVER_PACKAGE_ENV, SUBMIT_CONF_ENV
from ..errors import BadPackage, InvalidIdentifier
from ..net.framing import ProtocolError
from ..net.messages import SubmitDriver, from_wire
from ..processes import DIE_WITH_ENV, end_group
from ..records import Record, field_names
from ..retry import backoff_delay
from .app_logs import STDERR_FILE
from .driver_output import DRIVER_OUTPUT_ENV
from .log_files import PROCESS_OUTPUT_BACKUPS, PROCESS_OUTPUT_MAX_BYTES
from .ordered_output import OrderedOutput

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
#: A supervised driver that ran this long before it failed is no crash loop: its count of
#: failures in a row (held to vega.master.supervise.max_restarts) and its backoff start
#: again, as Spark's DriverRunner resets its backoff after a successful run.
STABLE_RUN_SECONDS = 60.0
#: the saved states of a driver that was running when its master stopped
ACTIVE_STATES = ("submitted", "running", "restarting")
#: At most this many drivers run at once (vega.master.max_running_drivers).
MAX_RUNNING = 32
#: At most this many ended drivers are kept, the oldest forgotten first (Spark's
#: spark.deploy.retainedDrivers).
RETAINED_DRIVERS = 200


class DriverState(str, enum.Enum):
    SUBMITTED = "submitted"
    RUNNING = "running"
    RESTARTING = "restarting"  # supervised, after a failure
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"

    @property
    def ended(self) -> bool:
        return self in (DriverState.FINISHED, DriverState.FAILED, DriverState.KILLED)


class DriverInfo(Record):
    """A driver the master runs (cluster deploy mode): its request, state and restarts."""
    driver_id: str
    request: SubmitDriver
    state: DriverState
    restarts: int
    exit_code: Optional[int]
    pid: int
    submitted: float
    ended: Optional[float]
    #: how many drivers of this master had ended before it: which ended last, whatever the
    #: wall clock (``ended``) did meanwhile
    end_order: int
    proc: Optional[subprocess.Popen]
    #: why it failed before it could run (its submitter is told): "" once it ran
    start_failure: str
    #: restarts since the last run of at least ``STABLE_RUN_SECONDS`` (to ``max_restarts``)
    restarts_in_a_row: int
    #: ``time.monotonic()`` at ``submitted``, and how long it ran once ended: its duration
    #: does not follow steps of the wall clock (set back an hour, a running driver's was
    #: shown as -3600 s)
    since: float
    ran: Optional[float]

    def __init__(self, driver_id: str, request: SubmitDriver,
                 state: DriverState = DriverState.SUBMITTED, restarts: int = 0,
                 exit_code: Optional[int] = None, pid: int = 0,
                 submitted: Optional[float] = None, ended: Optional[float] = None,
                 end_order: int = 0, proc: Optional[subprocess.Popen] = None,
                 start_failure: str = "", restarts_in_a_row: int = 0,
                 since: Optional[float] = None, ran: Optional[float] = None):
        self.driver_id = driver_id
        self.request = request
        self.state = state
        self.restarts, self.restarts_in_a_row = restarts, restarts_in_a_row
        self.exit_code = exit_code
        self.pid = pid
        self.submitted = time.time() if submitted is None else submitted
        self.ended = ended
        self.end_order = end_order
        self.proc = proc
        self.start_failure = start_failure
        self.since = time.monotonic() - max(0.0, time.time() - self.submitted) \
            if since is None else since
        self.ran = ran

    @property
    def done(self) -> bool:
        return self.state.ended


class DriverRunner:
    def __init__(self, work_dir: str, master_url: Callable[[], str], secret_file: str,
                 on_change: Callable[[], None] = lambda: None,
                 max_restarts: int = MAX_RESTARTS, retained: int = RETAINED_DRIVERS,
                 on_forget: Callable[[str, str], None] = lambda driver_id, package: None,
                 on_end: Callable[[DriverInfo], None] = lambda info: None,
                 max_running: int = MAX_RUNNING):
        self.work_dir = work_dir
        #: how many ended drivers are kept; ``on_forget(driver_id, package_sha)`` removes
        #: what an older one leaves (its output, its package)
        self.retained, self.on_forget = retained, on_forget
        #: ``on_end(info)`` when a driver has ended (its package may go)
        self.on_end = on_end
        #: how often a supervised driver that failed is started again
        self.max_restarts = max_restarts
        self.on_change = on_change
        self.master_url = master_url
        self.secret_file = secret_file
        self.drivers: Dict[str, DriverInfo] = {}
        self.lock = threading.Lock()
        self._count = 0
        #: how many drivers run at once (vega.master.max_running_drivers); the others wait
        #: in ``_waiting`` (their ids, oldest first) for ``_place_free``
        self.max_running = max_running
        self._running = 0
        self._waiting: Deque[str] = collections.deque()
        self._place_free = threading.Condition(self.lock)
        self._ends = itertools.count(1)
        #: set when the master stops: no driver is started or restarted any more
        self.stopping = False

    def number_after(self, driver_ids: List[str]) -> None:
        """Number new drivers after the highest of ``driver_ids`` (a restarted master's, from
        its recovery state): no id is handed out twice, whatever the clock shows."""
        numbers = [int(i.rsplit("-", 1)[1]) for i in driver_ids if ids.DRIVER.matches(i)]
        with self.lock:
            self._count = max([self._count, *numbers])

    def output_path(self, driver_id: str) -> str:
        directory = os.path.join(self.work_dir, "apps", ids.DRIVER.check(driver_id))
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, "output.log")

    def stderr_path(self, driver_id: str) -> str:
        """Its standard error, kept apart from its output (``AppLogs.stderr_path``)."""
        return os.path.join(os.path.dirname(self.output_path(driver_id)), STDERR_FILE)

    def _say(self, driver_id: str, text: str, stream: str = "stderr") -> None:
        """Add ``text`` to a driver's stored output, in order (``ordered_output``), while
        the driver does not run: before it starts, after it exits."""
        directory = os.path.dirname(self.output_path(driver_id))
        with contextlib.suppress(OSError), \
                OrderedOutput(directory, PROCESS_OUTPUT_MAX_BYTES, PROCESS_OUTPUT_BACKUPS) as out:
            out.write(text.encode(), stream)

    def submit(self, request: SubmitDriver) -> DriverInfo:
        with self.lock:
            self._count += 1
            driver_id = time.strftime("driver-%Y%m%d%H%M%S-", time.localtime()) + f"{self._count:04d}"
            info = self.drivers[driver_id] = DriverInfo(driver_id, request)
        threading.Thread(target=self._supervise, args=(info,), name=driver_id, daemon=True).start()
        self.on_change()
        return info

    def resume(self, saved: List[dict]) -> List[str]:
        """Start again the supervised drivers a restarted master finds it was running
        (``saved``: its recovery records); the ids of those it started."""
        resumed = []
        for record in saved:
            request = record.get("request")
            if not (record.get("supervise") and isinstance(request, dict)
                    and record.get("state") in ACTIVE_STATES):
                continue
            try:
                # checked as the master checks a submission: types, ids, settings
                submit = from_wire({**request, "type": SubmitDriver.__name__},
                                   "the recovery state")
                driver_id = ids.DRIVER.check(str(record["id"]))
                problem = submission_problem(submit)
                if problem:
                    raise ValueError(problem)
            except (KeyError, TypeError, ValueError, InvalidIdentifier, ProtocolError) as exc:
                log.warning("driver %s not restarted: its saved request is unreadable (%s)",
                            record.get("id"), exc)
                continue
            info = DriverInfo(driver_id, submit, DriverState.RESTARTING,
                              restarts=int(record.get("restarts") or 0),
                              submitted=float(record.get("started") or time.time()))
            with self.lock:
                self.drivers[driver_id] = info
            log.warning("driver %s died with the master: starting it again (--supervise)",
                        driver_id)
            self._say(driver_id, "vega: the master restarted; starting the supervised driver "
                                 "again\n", "stdout")
            threading.Thread(target=self._supervise, args=(info,), name=driver_id,
                             daemon=True).start()
            resumed.append(driver_id)
        if resumed:
            self.on_change()
        return resumed

    def _package_dir(self, sha256: str) -> str:
        directory = os.path.join(self.work_dir, "packages", ids.PACKAGE.check(sha256))
        if not os.path.isdir(directory):
            packaging.extract(self._package_zip(sha256), directory)
        return directory

    def _package_zip(self, sha256: str) -> str:
        """The package as the master stores it (``PackageStore.path``)."""
        return os.path.join(self.work_dir, "packages", f"{ids.PACKAGE.check(sha256)}.zip")

    def _command(self, info: DriverInfo, package_dir: str) -> List[str]:
        request = info.request
        py_dir = os.path.join(package_dir, "py")
        files_dir = os.path.join(package_dir, "files")
        command = [sys.executable, "-m", "vega_cli.main", "submit", "--master", self.master_url(),
                   "--name", request.name]
        if os.path.isdir(py_dir) and os.listdir(py_dir):
            command += ["--py-files", ",".join(os.path.join(py_dir, n) for n in sorted(os.listdir(py_dir)))]
        if os.path.isdir(files_dir) and os.listdir(files_dir):
            command += ["--files", ",".join(os.path.join(files_dir, n) for n in sorted(os.listdir(files_dir)))]
        archives = os.path.join(package_dir, "archives")  # archives/NAME/FILE
        if os.path.isdir(archives) and os.listdir(archives):
            command += ["--archives", ",".join(
                f"{os.path.join(archives, name, os.listdir(os.path.join(archives, name))[0])}#{name}"
                for name in sorted(os.listdir(archives)))]
        return command + [os.path.join(package_dir, request.job_file), *request.args]

    def _executors_package(self, info: DriverInfo, package_dir: str) -> Dict[str, str]:
        """``DRIVER_PACKAGE_ENV`` for the driver: the package its submitter uploaded, which
        its executors run as it is (what they see is the same: the job, py/, files/); not
        for one with --archives: the driver adds them itself (``add_archive``), and its
        executors' workers would fetch them twice, in the package and from the driver."""
        archives = os.path.join(package_dir, "archives")
        if os.path.isdir(archives) and os.listdir(archives):
            return {}
        return {DRIVER_PACKAGE_ENV: self._package_zip(info.request.package_sha)}

    @staticmethod
    def _settings(info: DriverInfo) -> str:
        """The submitter's settings for the driver (``DRIVER_CONF_ENV``), as its ``--conf``
        pairs would give them: not on its command line, which ``ps`` shows every user."""
        return json.dumps({key: str(value)
                           for key, value in json.loads(info.request.conf_json or "{}").items()
                           if key not in ("vega.master", "vega.app.name", "vega.submit.package",
                                          "vega.listeners")})

    def _supervise(self, info: DriverInfo) -> None:
        try:
            package_dir = self._package_dir(info.request.package_sha)
        except FileNotFoundError as exc:
            self._not_started(info, f"its package is missing: {exc}")
            return
        except OSError as exc:  # a full disk, say: extracting the package failed
            self._not_started(info, f"its package could not be extracted in the master's "
                                    f"work dir: {exc}")
            return
        except BadPackage as exc:
            self._not_started(info, str(exc))
            return
        if ids.path_inside(os.path.join(package_dir, info.request.job_file), package_dir) is None:
            self._not_started(info, f"its job file {info.request.job_file!r} is not in its "
                                    "package")
            return
        if not self._take_place(info):
            return
        try:
            self._run(info, package_dir)
        finally:
            with self.lock:
                self._running -= 1
                self._place_free.notify_all()

    def _take_place(self, info: DriverInfo) -> bool:
        """Wait for a place among the ``max_running`` drivers, in the order they came (the
        driver's stderr says it waits); False if it is killed or the master stops first."""
        with self.lock:
            self._waiting.append(info.driver_id)
            told = False
            while True:
                if info.state == DriverState.KILLED or self.stopping:
                    self._waiting.remove(info.driver_id)
                    self._place_free.notify_all()
                    return False
                if self._running < self.max_running and self._waiting[0] == info.driver_id:
                    self._waiting.popleft()
                    self._running += 1
                    self._place_free.notify_all()  # the next in line may have a place too
                    return True
                if not told:
                    told = True
                    self._say(info.driver_id,
                              f"vega: waiting: {self._running} cluster-mode drivers run on "
                              f"this master already (vega.master.max_running_drivers "
                              f"{self.max_running}); this one starts when one ends\n")
                self._place_free.wait()

    def _run(self, info: DriverInfo, package_dir: str) -> None:
        """Run the driver, again while it fails supervised (up to ``max_restarts`` times in
        a row: a run of ``STABLE_RUN_SECONDS`` starts the count again, or a driver running
        for months was given up after its fourth failure of all)."""
        scratch = os.path.join(self.work_dir, "apps", info.driver_id)
        while True:
            # the thread that starts a driver waits for it: PDEATHSIG counts from this thread
            env = {**os.environ, "VEGA_SECRET_FILE": self.secret_file,
                   DIE_WITH_ENV: str(os.getpid()), DRIVER_CONF_ENV: self._settings(info),
                   DRIVER_ID_ENV: info.driver_id, DRIVER_OUTPUT_ENV: scratch}
            env.pop(SUBMIT_CONF_ENV, None)
            env.pop(DRIVER_PACKAGE_ENV, None)
            env.update(self._executors_package(info, package_dir))
            try:
                output, errors = self.output_path(info.driver_id), self.stderr_path(info.driver_id)
                self._say(info.driver_id, "")  # its order there first (and whole)
                with open(output, "ab") as out, open(errors, "ab") as err:
                    proc = subprocess.Popen(self._command(info, package_dir), cwd=scratch,
                                            env=env, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=err, start_new_session=True,
                                            umask=submitter_umask(info.request))
            except OSError as exc:  # a full disk, no descriptors or processes left
                self._not_started(info, f"it could not be started: {exc}")
                return
            with self.lock:
                if info.state == DriverState.KILLED or self.stopping:
                    _kill_group(proc)
                    return
                info.proc, info.pid, info.state = proc, proc.pid, DriverState.RUNNING
            log.info("driver %s started (pid %d)", info.driver_id, proc.pid)
            started = time.monotonic()
            # it rotates its output itself (driver_output): its order with it
            code = proc.wait()
            self._say(info.driver_id, "")  # what it wrote past its order: counted
            with self.lock:
                if info.state == DriverState.KILLED or self.stopping:
                    return
                failed = code != 0
                if time.monotonic() - started >= STABLE_RUN_SECONDS:
                    info.restarts_in_a_row = 0
                if failed and info.request.supervise and \
                        info.restarts_in_a_row < self.max_restarts:
                    info.restarts += 1
                    info.restarts_in_a_row += 1
                    info.state = DriverState.RESTARTING
                    message = (f"driver {info.driver_id} exited with code {code}; restarting "
                               f"({info.restarts_in_a_row}/{self.max_restarts})")
                else:
                    message = None
            if message is None:
                self._end(info, DriverState.FAILED if failed else DriverState.FINISHED, code,
                          f"exited with code {code}")
                return
            log.warning(message)
            self._say(info.driver_id, f"vega: {message}\n")
            time.sleep(backoff_delay(info.restarts_in_a_row, first=0.5, cap=5.0))

    def _not_started(self, info: DriverInfo, reason: str) -> None:
        """The driver could not run: failed, exit code 1, ``reason`` for its submitter."""
        info.start_failure = reason
        self._end(info, DriverState.FAILED, 1, reason)

    def _end(self, info: DriverInfo, state: DriverState, code: int, reason: str) -> None:
        with self.lock:
            info.state, info.exit_code, info.ended = state, code, time.time()
            info.ran = time.monotonic() - info.since
            info.end_order = next(self._ends)
            forgotten = self._forget_ended()
        log.info("driver %s %s: %s", info.driver_id, state.value, reason)
        self._forgotten(forgotten)
        self.on_end(info)
        self.on_change()

    def _forget_ended(self) -> List[DriverInfo]:
        """Drop the oldest ended drivers beyond ``retained`` (with the lock held)."""
        ended = sorted((d.end_order, d.driver_id) for d in self.drivers.values() if d.done)
        return [self.drivers.pop(driver_id)
                for _, driver_id in ended[:max(0, len(ended) - self.retained)]]

    def _forgotten(self, drivers: List[DriverInfo]) -> None:
        for info in drivers:
            log.info("driver %s forgotten (only the latest %d ended drivers are kept)",
                     info.driver_id, self.retained)
            self.on_forget(info.driver_id, info.request.package_sha)

    def uses_package(self, sha256: str) -> bool:
        """Whether a driver not ended runs from (or may run again from) package ``sha256``."""
        with self.lock:
            return any(d.request.package_sha == sha256 and not d.done
                       for d in self.drivers.values())

    def kill(self, driver_id: str, before: Callable[[], None] = lambda: None,
             why: str = "") -> bool:
        """Kill a driver not ended (False if there is none): it is killed, then ``before()``
        is called (the master kills its application: that then ends killed, not finished
        when its connection drops) and then its processes end.  ``why``: its error, which
        its submitter is told, when nobody asked for it (the master stops)."""
        with self.lock:
            info = self.drivers.get(driver_id)
            if info is None or info.done:
                return False
            info.state, info.start_failure = DriverState.KILLED, why
            info.exit_code, info.ended = 130, time.time()
            info.ran = time.monotonic() - info.since
            info.end_order = next(self._ends)
            proc = info.proc
            self._place_free.notify_all()  # one waiting for a place goes
            forgotten = self._forget_ended()
        before()
        if proc is not None:
            _kill_group(proc)
        self._forgotten(forgotten)
        self.on_end(info)
        return True

    def stop(self) -> None:
        """The master stops: every driver's process ends.  A supervised one keeps its
        record (running, with its request), so that the master started again on this work
        dir starts it again, as after a crash; the others are killed."""
        with self.lock:
            self.stopping = True
            self._place_free.notify_all()
            supervised = {d.driver_id: d.proc for d in self.drivers.values()
                          if not d.done and d.request.supervise}
        for proc in supervised.values():
            if proc is not None:
                _kill_group(proc)
        for driver_id in list(self.drivers):
            if driver_id not in supervised:
                self.kill(driver_id, why="the master was stopped")

    def records(self) -> List[dict]:
        """What the recovery state keeps of each driver: its status, and the request of a
        driver not ended (a restarted master starts a supervised one again from it)."""
        with self.lock:
            requests = {d.driver_id: {name: getattr(d.request, name)
                                      for name in field_names(SubmitDriver)}
                        for d in self.drivers.values() if not d.done}
        return [{**d, "request": requests[d["id"]]} if d["id"] in requests else d
                for d in self.status()]

    def status(self) -> List[dict]:
        now = time.monotonic()
        with self.lock:
            return [{"id": d.driver_id, "name": d.request.name, "state": d.state.value,
                     "restarts": d.restarts, "exit_code": d.exit_code, "pid": d.pid,
                     "supervise": d.request.supervise, "started": d.submitted,
                     "duration_seconds": round(now - d.since if d.ran is None else d.ran, 1),
                     "error": d.start_failure}
                    for d in self.drivers.values()]


def submitter_umask(request: SubmitDriver) -> int:
    """The umask the driver of ``request`` runs under: its submitter's
    (``vega.submit.umask``), so that its output has the modes a client-mode driver's would
    have (its scratch files are private whatever the umask: ``private_files``); -1 (the
    master's own, 077) for a submission without it or with one that is not octal.

    >>> submitter_umask(SubmitDriver("n", "job/j.py", [], '{"vega.submit.umask": "022"}', "0" * 64, False))
    18
    """
    try:
        mask = int(json.loads(request.conf_json or "{}").get("vega.submit.umask", ""), 8)
    except (ValueError, TypeError, AttributeError):
        return -1
    return mask if 0 <= mask <= 0o777 else -1


def submission_problem(request: SubmitDriver) -> str:
    """Why the master cannot run ``request`` as it is ("" when it can): its settings must be
    a JSON object, and none of its strings may hold NUL (no file name, argument or setting
    can).  Checked when it arrives, so that its submitter is refused at once.

    >>> submission_problem(SubmitDriver("n", "job/j.py", ["1"], '{"k": 1}', "0" * 64, False))
    ''
    >>> submission_problem(SubmitDriver("n", "job/j.py", [], "[1]", "0" * 64, False))
    'its conf_json is not a JSON object of settings'
    """
    try:
        conf = json.loads(request.conf_json or "{}")
    except (ValueError, RecursionError) as exc:
        return f"its conf_json is not JSON ({type(exc).__name__})"
    if not isinstance(conf, dict):
        return "its conf_json is not a JSON object of settings"
    texts = [request.name, request.job_file, *request.args, *conf, *map(str, conf.values())]
    if any("\0" in text for text in texts):
        return "it holds a NUL character (no file name, argument or setting can)"
    return ""


def retained_drivers(saved: List[dict], retained: int) -> Tuple[List[dict], List[str]]:
    """The drivers of a recovery state (oldest first) a restarted master keeps, and the
    ids of the ended ones beyond ``retained`` it forgets (the oldest)."""
    ended = [d.get("id") for d in saved if d.get("state") in ("finished", "failed", "killed")]
    forgotten = set(ended[:max(0, len(ended) - retained)])
    return [d for d in saved if d.get("id") not in forgotten], sorted(map(str, forgotten))


def _kill_group(proc: subprocess.Popen) -> None:
    """End a driver's process group (it ends its descendants; its tree goes with SIGKILL
    if it lingers)."""
    end_group(proc, grace=5.0)
