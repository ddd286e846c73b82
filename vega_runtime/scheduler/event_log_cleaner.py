"""Deleting old event logs, as Spark's history server cleaner (``spark.history.fs.cleaner.*``).

Every Context writes an event log (``~/.vega/events`` by default), so a directory nobody
cleans grows with every application, and so does the memory of a master listing it.  Two
cleaners apply ``vega.history.fs.cleaner.*`` (on by default) to a local directory: the
master's, every ``interval`` to its ``--event-log-dir``, and a Context's as it starts, to
its own ``vega.eventlog.dir``, at most once an ``interval`` for all the processes of its
account writing there (``MARKER``'s time says when one last looked).

Which logs go (a Context's cleaner looks only at its own account's: in a directory several
accounts share, each cleans its own): those not written for ``max_age``, ended or not
(Spark's too: a log whose driver was killed never ends); then, while more than
``max_num`` are left, the oldest of the ended ones, as Spark's ``maxNum`` deletes
completed logs only (a log without its end may be of a driver running now).  Never one of ``keep`` (the applications the caller runs).

Only Vega's event logs, files named by an application id: the default directory is one
every driver of the account shares, and any directory can be given as
``vega.eventlog.dir``, so other files there (``notes.jsonl``, a data set's ``part.jsonl.1``)
are not the cleaner's to delete, however old.  (Spark's history server deletes the
files of its own log directory that it cannot read as logs too, but its cleaner is off by
default and only ever given a directory of its own.)
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Dict, Iterable, List

from .. import ids

log = logging.getLogger(__name__)

#: A file in the event log directory whose modification time is when a Context's cleaner
#: of that account last looked there (a dot file: event log listings read ``*.jsonl`` and
#: their parts).
MARKER = ".vega-cleaner-{uid}"
#: The bytes at the end of a log its last line is looked for in (an ApplicationEnd with its
#: totals is ~400 bytes).
TAIL_BYTES = 4096
#: A log last written more than this after now (seconds) was written while the clock was
#: ahead (a wrong clock at boot, set back by NTP; a clock set by hand): it would be kept
#: until the clock caught up with it, then for ``max_age`` (a clock a year ahead: a year),
#: and count as the newest against ``max_num``.  The cleaner sets its modification time to
#: now, from which it ages.  (A minute: a shared file server's clock a little ahead of
#: this host's gives each fresh log a time a little ahead.)
FUTURE_SLACK_SECONDS = 60.0


def expired_event_logs(last_written: Dict[str, float], ended: Callable[[str], bool],
                       keep: Iterable[str], now: float, max_age: float,
                       max_num: int) -> List[str]:
    """Which event logs the cleaner deletes: of ``last_written`` (``{app_id: when its log
    was last written}``), those not written for ``max_age`` seconds, then, while more than
    ``max_num`` logs are left (0: no limit), the oldest for which ``ended(app_id)``; never a
    log of ``keep``.

    >>> logs = {"app-a": 100.0, "app-b": 200.0, "app-c": 300.0, "app-d": 50.0}
    >>> expired_event_logs(logs, lambda _: True, keep={"app-d"}, now=400.0, max_age=250.0,
    ...                    max_num=0)
    ['app-a']
    >>> expired_event_logs(logs, lambda a: a != "app-a", keep={"app-d"}, now=400.0,
    ...                    max_age=1000.0, max_num=2)
    ['app-b', 'app-c']
    """
    keep = set(keep)
    candidates = sorted((when, app_id) for app_id, when in last_written.items()
                        if app_id not in keep)
    expired = [app_id for when, app_id in candidates if now - when > max_age]
    if max_num:
        over = len(last_written) - len(expired) - max_num
        for _, app_id in candidates:
            if over <= 0:
                break
            if app_id not in expired and ended(app_id):
                expired.append(app_id)
                over -= 1
    return expired


def log_ended(paths: List[str]) -> bool:
    """Whether the event log in ``paths`` (its parts) ends with its application's end."""
    def part(path: str) -> int:
        number = path.rpartition(".jsonl.")[2]
        return int(number) if number.isdigit() else 1

    try:
        last = last_line(max(paths, key=part))
    except OSError:
        return False
    return last.startswith(b'{"event": "ApplicationEnd"')


def last_line(path: str, tail: int = TAIL_BYTES) -> bytes:
    """The last line of the local file ``path`` (a regular file, not a link:
    ``open_regular``), found in its last ``tail`` bytes (``last_line_of``); OSError as
    ``open_regular``."""
    from ..private_files import open_regular

    with open_regular(path) as fh:
        fh.seek(max(0, fh.seek(0, os.SEEK_END) - tail))
        return last_line_of(fh.read())


def last_line_of(data: bytes) -> bytes:
    """The last line ``data`` (a file's end) holds whole, without its newline; b"" where
    none ends it (a write that never finished).

    >>> last_line_of(b'a}\\n{"b"}\\n'), last_line_of(b'a}\\n{"b"'), last_line_of(b'x\\n')
    (b'{"b"}', b'', b'x')
    """
    if not data.endswith(b"\n"):
        return b""
    return data[:-1].rpartition(b"\n")[2]


def clean_event_logs(directory: str, keep: Iterable[str], now: float, max_age: float,
                     max_num: int, own_only: bool = False) -> List[str]:
    """Delete the event logs (every part of each) in local ``directory`` that
    ``expired_event_logs`` names, only this account's with ``own_only``; the ids of the
    applications whose logs went.  Only event logs: files named by an application id
    (``APP_ID.jsonl``, ``APP_ID.jsonl.N``), never another file the directory holds."""
    last_written: Dict[str, float] = {}
    paths: Dict[str, List[str]] = {}
    try:
        entries = list(os.scandir(directory))
    except OSError:  # not there (yet): nothing to clean
        return []
    for entry in entries:
        log_name, _, number = entry.name.rpartition(".jsonl.")
        if not (entry.name.endswith(".jsonl") or (log_name and number.isdigit())):
            continue
        app_id = entry.name[:-len(".jsonl")] if entry.name.endswith(".jsonl") else log_name
        if not ids.APP.matches(app_id):  # no event log: a file someone else put there
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if own_only and info.st_uid != os.getuid():  # another account's: it cleans its own
            continue
        written = info.st_mtime
        if written > now + FUTURE_SLACK_SECONDS and _touch(entry.path, now):
            written = now  # ages from now on (see FUTURE_SLACK_SECONDS)
        last_written[app_id] = max(written, last_written.get(app_id, written))
        paths.setdefault(app_id, []).append(entry.path)
    removed = []
    for app_id in expired_event_logs(last_written, lambda a: log_ended(paths[a]), keep, now,
                                     max_age, max_num):
        try:
            for path in paths[app_id]:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot delete the event log of %s: %s", app_id, exc)
            continue
        removed.append(app_id)
    return removed


def _touch(path: str, now: float) -> bool:
    """Set the modification time of ``path`` (not followed if a link) to ``now``; whether
    it could (another account's file: not)."""
    try:
        os.utime(path, (now, now), follow_symlinks=False)
    except OSError:
        return False
    return True


def clean_if_due(directory: str, keep: Iterable[str], now: float, interval: float,
                 max_age: float, max_num: int) -> List[str]:
    """``clean_event_logs`` of this account's logs in ``directory`` unless its cleaner
    looked there less than ``interval`` seconds ago (``MARKER``); a directory it cannot
    mark is left alone.  A mark from the future (left while the clock was ahead) is no
    recent look: it held every cleaner off until the clock caught up with it."""
    marker = os.path.join(directory, MARKER.format(uid=os.getuid()))
    try:
        if 0 <= now - os.stat(marker).st_mtime < interval:
            return []
    except OSError:
        pass
    try:  # never through a link planted in a shared directory
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.utime(fd, (now, now))
        finally:
            os.close(fd)
    except OSError:
        return []
    return clean_event_logs(directory, keep, now, max_age, max_num, own_only=True)
