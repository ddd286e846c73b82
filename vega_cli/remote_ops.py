"""``python -m vega_cli.remote_ops OPERATION ARGS...``: what the cluster commands
(``vega start-cluster``, ``stop-cluster``...) do on a host, run there over SSH; each
operation prints one JSON object on stdout.

    probe WORK_DIR MASTER_HOST MASTER_PORT   Python and Vega versions, free space,
                                             whether the master answers (port 0: skip)
    running PIDFILE ROLE                     {"pid": the live vega ROLE it names (else the
                                             one holding its work dir's lock), or 0;
                                             "stopped": whether it is (SIGSTOP);
                                             "argv": its command line, when it runs}
    stop PIDFILE TIMEOUT ROLE                SIGTERM, then SIGKILL after TIMEOUT seconds
    leftovers PATH                           SIGKILL Vega processes with an argument that
                                             is PATH or under it (a work dir, a pidfile)

Only the standard library and Vega's own leaf modules are imported: the host may run
nothing else of Vega.  A pidfile's pid is signalled only if it runs the expected daemon
(``processes.pidfile_process``): a stale pidfile's pid may belong to another process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
from typing import Callable, Dict, List, Optional

#: what Vega's processes run as (their command lines hold one of these)
VEGA_PROGRAMS = ("vega_cli.main", "vega_runtime.deploy.daemon_main",
                 "vega_runtime.deploy.executor_main")


def probe(work_dir: str, master_host: str, master_port: str) -> dict:
    """What decides whether a daemon can start here."""
    from vega_runtime._version import __version__

    out: dict = {"python": "%d.%d" % sys.version_info[:2], "vega": __version__,
                 "free_bytes": None, "master_reachable": None}
    try:
        os.makedirs(work_dir, exist_ok=True)
        out["free_bytes"] = shutil.disk_usage(work_dir).free
    except OSError as exc:
        out["work_dir_error"] = str(exc)
    out["master_loopback"] = _loopback_only(master_host)
    if int(master_port):
        try:
            socket.create_connection((master_host, int(master_port)), 5).close()
            out["master_reachable"] = True
        except OSError as exc:
            out["master_reachable"] = False
            out["master_error"] = str(exc)
    return out


def _loopback_only(host: str) -> List[str]:
    """The addresses ``host`` resolves to here when each is a loopback one, else [] (this
    host's /etc/hosts may map its own name to 127.0.1.1, as Debian's and Ubuntu's do)."""
    import ipaddress

    try:
        resolved = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses = list(dict.fromkeys(sockaddr[0].split("%")[0] for *_, sockaddr in resolved))
    loopback = all(ipaddress.ip_address(a).is_loopback for a in addresses)
    return addresses if addresses and loopback else []


def _daemon(pidfile: str, role: str) -> "tuple[Optional[int], str]":
    """The daemon ``pidfile`` (``<work dir>/run/<role>.pid``) names, else the one holding
    its work dir's lock (started there by another command, such as ``vega start-master``)."""
    from vega_runtime.processes import work_dir_daemon

    return work_dir_daemon(pidfile, os.path.dirname(os.path.dirname(pidfile)), role)


def running(pidfile: str, role: str) -> dict:
    from vega_runtime.processes import command_line, is_stopped

    pid = _daemon(pidfile, role)[0] or 0
    if not pid:
        return {"pid": 0, "stopped": False}
    return {"pid": pid, "stopped": is_stopped(pid), "argv": command_line(pid)}


def stop(pidfile: str, timeout: str, role: str) -> dict:
    from vega_runtime.processes import stop_daemon

    out = {"pid": None, "was_running": False, "killed": False, "gone": True, "foreign": ""}
    pid, out["foreign"] = _daemon(pidfile, role)
    if pid is None:
        return out
    out.update(pid=pid, was_running=True)
    out["killed"], out["gone"] = stop_daemon(pid, float(timeout))
    if out["gone"] and os.path.exists(pidfile):
        os.unlink(pidfile)
    return out


def leftovers(marker: str) -> dict:
    from vega_runtime.processes import command_line

    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (os.getpid(), os.getppid()):
            continue
        argv = command_line(int(entry))
        cmdline = " ".join(argv)
        if any(program in cmdline for program in VEGA_PROGRAMS) \
                and names_path(argv, _cwd_of(int(entry)), marker):
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return {"killed": killed}


def names_path(argv: List[str], cwd: Optional[str], path: str) -> bool:
    """Whether an argument of a process (its relative paths taken from its ``cwd``) is
    ``path`` (relative: from this process's directory) or a path under it.  Not a substring
    match: two masters started with ``--work-dir work/master`` from two directories name
    different directories, and one's stop-cluster must not kill the other.

    >>> names_path(["--pidfile", "work/master/run/master.pid"], "/a", "/a/work/master/run/master.pid")
    True
    >>> names_path(["--pidfile", "work/master/run/master.pid"], "/b", "/a/work/master/run/master.pid")
    False
    >>> names_path(["--app-dir", "/h/work/w/app-1"], "/h", "/h/work/w")
    True
    >>> names_path(["--app-dir", "/x/h/work/w/app-1"], "/h", "/h/work/w")
    False
    """
    wanted = os.path.abspath(path)
    for arg in argv:
        if not arg or (not os.path.isabs(arg) and cwd is None):
            continue
        full = os.path.normpath(os.path.join(cwd or "/", arg))
        if full == wanted or full.startswith(wanted.rstrip("/") + "/"):
            return True
    return False


def _cwd_of(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:  # gone, or another account's
        return None


OPERATIONS: Dict[str, Callable[..., dict]] = {
    "probe": probe, "running": running, "stop": stop, "leftovers": leftovers}


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in OPERATIONS:
        print(f"usage: python -m vega_cli.remote_ops {{{','.join(OPERATIONS)}}} ARGS...",
              file=sys.stderr)
        return 2
    print(json.dumps(OPERATIONS[args[0]](*args[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
