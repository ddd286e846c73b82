"""What the master keeps on disk to survive a restart.

Workers, applications (ids, names, states, times, their next executor number)
and cluster-mode drivers are written to ``<work_dir>/recovery/state.json`` on
every change.  After a restart, applications that were running wait (state
``recovering``) for their drivers to reconnect; workers re-register with the
executors they still run, and the two are matched up again; workers that never
come back are shown lost (dead if they had stopped on purpose); those that had gone
before the restart leave the status when they would have without it.

A save is durable: the new state goes to a temporary file that is fsynced,
renamed over the old one, and the directory is fsynced so the rename survives
a power cut.  A state file that cannot be parsed is not silently dropped: it is
renamed to ``state.json.corrupt-<timestamp>`` (for an operator to look at) and
reported at ERROR, and the master starts with an empty state; so is one that parses but
is not of the shape this master writes (``shape_problem``: edited by hand, or cut and
mended), which would otherwise stop the master with a TypeError as it started.

``RecoveryWriter`` decides when to write: on every change, never two writers at
once (a change during a write only marks the state unsaved, and the writer goes
round again), and a failed write is logged at ERROR at most once a minute and
retried by the master's tick.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..private_files import account_name, make_private_dir, open_regular, set_aside_foreign

log = logging.getLogger(__name__)

#: A recovery write that keeps failing is logged at ERROR at most this often.
SAVE_ERROR_EVERY_SECONDS = 60.0


class RecoveryStore:
    """The state file; with ``enabled`` False (``vega.master.recovery``) there is none: the
    master starts empty and writes nothing."""

    def __init__(self, work_dir: str, enabled: bool = True):
        # where the work dir is now: a link put in its place later is not written through
        self.directory = os.path.join(os.path.realpath(work_dir), "recovery")
        self.path = os.path.join(self.directory, "state.json")
        self.enabled = enabled

    def load(self) -> Dict[str, Any]:
        """``{"apps": {...}, "workers": {...}, "drivers": [...]}`` as last saved."""
        if not self.enabled:
            return {"apps": {}, "workers": {}, "drivers": []}
        state: Dict[str, Any] = {}
        # one another account wrote (it decides which drivers start again) is not read
        set_aside_foreign(self.directory, "the master's recovery state")
        try:
            with _own_file(self.path) as fh:
                state = json.loads(fh.read().decode("utf-8"))
            problem = shape_problem(state)
            if problem:
                raise ValueError(problem)
        except FileNotFoundError:
            state = {}
        except (ValueError, UnicodeDecodeError) as exc:
            self._keep_aside(exc)
            state = {}
        except NotThisAccounts as exc:
            log.error("the recovery state %s is not used: %s. Starting without it; remove it "
                      "(it could start drivers of its owner's choosing as this account)",
                      self.path, exc.strerror)
            state = {}
        except OSError as exc:
            log.error("cannot read the recovery state %s (%s): starting without it", self.path, exc)
            state = {}
        return {"apps": state.get("apps", {}), "workers": state.get("workers", {}),
                "drivers": state.get("drivers", [])}

    def _keep_aside(self, problem: Exception) -> None:
        aside = f"{self.path}.corrupt-{time.strftime('%Y%m%d%H%M%S')}"
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            log.error("the recovery state %s is corrupt (%s) and could not be moved aside (%s): "
                      "starting without it", self.path, problem, exc)
            return
        log.error("the recovery state %s is corrupt (%s): kept as %s; starting without it "
                  "(applications and workers of before the restart are not shown)",
                  self.path, problem, aside)

    def save(self, apps: Dict[str, dict], workers: Dict[str, dict], drivers: List[dict]) -> None:
        """Write the state durably; raises OSError when it cannot (the caller retries), or
        ``DirectoryOfAnotherAccount`` (its directory, or one above, is another account's)."""
        if not self.enabled:
            return
        make_private_dir(self.directory, follow_links=False)
        data = json.dumps({"apps": apps, "workers": workers, "drivers": drivers}).encode("utf-8")
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError:  # a full disk: the part written would hold what the next save needs
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_directory(self.directory)


class NotThisAccounts(PermissionError):
    """A file, or its directory, of another account."""


def _own_file(path: str):
    """``open(path, "rb")`` of a regular file this account owns in a directory it owns; else
    ``NotThisAccounts`` saying whose it is (another user of the host who wrote it into the
    work dir while that was open to others, before the master made it 0700) or ``OSError``
    (ELOOP: a symbolic link)."""

    def owned(fd: int) -> None:
        for what, info in (("it", os.fstat(fd)), ("its directory", os.stat(os.path.dirname(path)))):
            if info.st_uid != os.getuid():
                raise NotThisAccounts(errno.EPERM, f"{what} belongs to {account_name(info.st_uid)},"
                                      f" not to this account, {account_name(os.getuid())}", path)

    return open_regular(path, owned)


_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
#: the fields of the records a master saves, each with the types it may have: the fields
#: of a record the master reads back with [] or computes with are required
APP_FIELDS = {"name": str, "state": str, "submitted": _NUMBER, "ended": _OPTIONAL_NUMBER}
APP_OPTIONAL = {"next_executor": int, "package_sha": str, "executor_size": list,
                "driver_id": str, "driver_host": str, "driver_port": int,
                # this master's clock less the driver's (driver_clocks.DriverClocks)
                "driver_clock_offset": _NUMBER}
WORKER_FIELDS = {"host": str, "port": int, "cores": int, "memory": int, "labels": list,
                 "state": str}
WORKER_OPTIONAL = {"resources": dict, "gone": _OPTIONAL_NUMBER}
DRIVER_FIELDS = {"id": str, "name": str, "state": str}
DRIVER_OPTIONAL = {"restarts": int, "exit_code": (int, type(None)), "pid": int,
                   "supervise": bool, "started": _NUMBER, "duration_seconds": _NUMBER,
                   "request": dict}


def shape_problem(state: Any) -> Optional[str]:
    """What makes a parsed state not one this master wrote, or None.

    >>> shape_problem({"apps": {"app-1": {"name": "n", "state": "running", "submitted": "x",
    ...                                   "ended": None}}})
    "apps['app-1']: 'submitted' is str, not a number"
    """
    if not isinstance(state, dict):
        return f"a JSON {type(state).__name__}, not an object"
    for key, kind in (("apps", dict), ("workers", dict), ("drivers", list)):
        if not isinstance(state.get(key, kind()), kind):
            return f"{key!r} is {type(state[key]).__name__}, not {kind.__name__}"
    records = [(f"apps[{k!r}]", r, APP_FIELDS, APP_OPTIONAL)
               for k, r in state.get("apps", {}).items()]
    records += [(f"workers[{k!r}]", r, WORKER_FIELDS, WORKER_OPTIONAL)
                for k, r in state.get("workers", {}).items()]
    records += [(f"drivers[{n}]", r, DRIVER_FIELDS, DRIVER_OPTIONAL)
                for n, r in enumerate(state.get("drivers", []))]
    for where, record, required, optional in records:
        if not isinstance(record, dict):
            return f"{where} is {type(record).__name__}, not an object"
        for name, kind in {**required, **optional}.items():
            if name not in record:
                if name in required:
                    return f"{where} has no {name!r}"
            elif not isinstance(record[name], kind) or \
                    (isinstance(record[name], bool) and kind is not bool):
                wanted = "a number" if kind in (_NUMBER, _OPTIONAL_NUMBER) else \
                    kind.__name__ if isinstance(kind, type) else kind[0].__name__
                return f"{where}: {name!r} is {type(record[name]).__name__}, not {wanted}"
    return None


def gone_long_ago(workers: Dict[str, dict], before: float) -> List[str]:
    """The workers of a recovery state that had gone (lost or dead) before ``before``: a
    restarted master shows them as long as it would have without the restart (Spark does
    not even recover them); one that was alive is waited for until the recovery ends.

    >>> gone_long_ago({"a": {"state": "dead", "gone": 5.0}, "b": {"state": "lost",
    ...                "gone": 50.0}, "c": {"state": "alive", "gone": None}}, 10.0)
    ['a']
    """
    return [worker_id for worker_id, record in workers.items()
            if record.get("state") != "alive" and isinstance(record.get("gone"), (int, float))
            and record["gone"] < before]


def shifted(record: dict, step: float, fields) -> dict:
    """``record`` with its times among ``fields`` moved by ``step`` seconds (None stays).

    >>> shifted({"state": "lost", "gone": 5.0, "ended": None}, 10.0, ("gone", "ended"))
    {'state': 'lost', 'gone': 15.0, 'ended': None}
    """
    return {k: v + step if k in fields and isinstance(v, (int, float)) else v
            for k, v in record.items()}


class RecoveryWriter:
    """Writes what ``snapshot()`` returns (``(apps, workers, drivers)``) to ``store``.

    Writers do not queue up: while one writes, others only mark the state unsaved,
    and the writer goes round again.  A failure leaves the state unsaved; whoever
    calls ``save`` next (the master's tick, every ``retry_seconds``) tries again."""

    def __init__(self, store: RecoveryStore,
                 snapshot: Callable[[], Tuple[Dict[str, dict], Dict[str, dict], List[dict]]],
                 retry_seconds: float):
        self.store = store
        self._snapshot = snapshot
        self._retry_seconds = retry_seconds
        self._lock = threading.Lock()
        self._unsaved = False
        self._failing_since: Optional[float] = None
        #: when a failure was last logged (None: never; not 0.0, which on the monotonic
        #: clock is the boot: a master started with its host kept quiet for a minute)
        self._error_logged: Optional[float] = None

    @property
    def unsaved(self) -> bool:
        """Whether a change is not on disk yet (a write failed or is going on)."""
        return self._unsaved

    def save(self, wait: bool = False) -> None:
        """Write the state now, or have the writer at work write it again; with ``wait``,
        return only once the state as it is now is on disk (a master's stop: its process
        ends next, and the writer at work with it).  A failure is logged at ERROR and left
        for the next call."""
        self._unsaved = True
        if not self._lock.acquire(blocking=wait):
            return
        try:
            while self._unsaved:
                # Cleared before the snapshot: a change after it marks the state again.
                self._unsaved = False
                apps, workers, drivers = self._snapshot()
                try:
                    self.store.save(apps, workers, drivers)
                except Exception as exc:  # noqa: BLE001 - a full disk must not stop the master
                    self._unsaved = True
                    self._failed(exc)
                    return
                if self._failing_since is not None:
                    log.info("recovery state written again to %s after %.0fs of failures",
                             self.store.path, time.monotonic() - self._failing_since)
                    self._failing_since = None
        finally:
            self._lock.release()

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if self._error_logged is None or now - self._error_logged >= SAVE_ERROR_EVERY_SECONDS:
            self._error_logged = now
            log.error("cannot write the recovery state to %s: %s (retrying every %.0fs; a "
                      "master restart now would forget the latest changes)",
                      self.store.directory, exc, self._retry_seconds)


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
