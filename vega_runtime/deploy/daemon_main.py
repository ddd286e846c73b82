"""The master and worker daemons' start-up and lives, without the command line.

``vega master`` and ``vega worker`` (``vega_cli.daemons``) parse their options
and call ``run_master`` / ``run_worker``; a local cluster's fork server calls
``fork_entry`` with the same options, skipping the parsing layer and its
imports (``python -m vega_runtime.deploy.daemon_main ROLE JSON_OPTIONS`` does the
same in a new interpreter).  Each function serves until SIGTERM or SIGINT and exits
the process; a daemon that cannot start raises a ``VegaError`` (``ConfigError`` for
bad settings, ``DaemonStartFailed`` otherwise) before it serves, which the CLI turns
into a message and an exit code.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import signal
import sys
import threading
import time
from typing import Callable, List, Optional, Tuple

from ..config import Config
from ..config_schema import MASTER, WORKER
from ..errors import ConfigError, DaemonStartFailed, VegaError
from ..master_url import parse_master
from ..net.addresses import (advertise_address, bind_refusal, loopback_resolution,
                             reachable_instead)
from ..net.connection import (create_secret_file, default_secret_file, load_secret,
                              secret_file_for, usable_default_secret_file)
from ..private_files import (account_name, make_private_dir, open_private, private_fd,
                             use_private_umask, use_strict_modes)
from ..processes import SIGNAL_CHECK_SECONDS, relay_signals, work_dir_lock

#: what a caller may pass as ``show_config``: print the resolved settings of a role
ShowConfig = Callable[[Config, str], None]

log = logging.getLogger("vega_cli")

#: each daemon's options (``run_master``'s and ``run_worker``'s keywords, the flags
#: ``--host`` and so on) and the setting each one sets
MASTER_OPTIONS = {
    "host": "vega.master.host", "bind": "vega.master.bind", "port": "vega.master.port",
    "webui_port": "vega.master.ui.port", "work_dir": "vega.master.work_dir",
    "secret_file": "vega.secret.file", "worker_timeout": "vega.worker.timeout",
    "event_log_dir": "vega.eventlog.dir", "open_reads": "vega.ui.open",
    "ui_allowed_hosts": "vega.ui.allowed_hosts",
}
WORKER_OPTIONS = {
    "host": "vega.worker.host", "bind": "vega.worker.bind", "port": "vega.worker.port",
    "webui_port": "vega.worker.ui.port", "work_dir": "vega.worker.work_dir",
    "cores": "vega.worker.cores", "memory": "vega.worker.memory",
    "labels": "vega.worker.labels", "secret_file": "vega.secret.file",
    "death_timeout": "vega.worker.death_timeout",
    "work_dir_ttl": "vega.worker.cleanup.app_data_ttl",
}
#: ``--host`` given as a wildcard: listen there, advertise this machine's address (as
#: before ``--bind`` existed)
WILDCARDS = ("0.0.0.0", "::")


def daemon_config(options: dict, given: dict, config_file: Optional[str],
                  settings: Optional[dict] = None) -> Config:
    """The daemon's Config: the documented precedence, with the options ``given`` (those
    not None) and ``settings`` as the command line's values."""
    cli = {options[name]: value for name, value in given.items() if value is not None}
    return Config.load(config_file=config_file, cli={**(settings or {}), **cli})


def listen_addresses(conf: Config, host_key: str, bind_key: str,
                     default_host: Callable[[], str]) -> Config:
    """``conf`` with the advertised address (``host_key``) and the listening one
    (``bind_key``) filled in: an empty host is ``default_host()``; an empty bind is the
    host, so nothing listens on every interface unless asked to."""
    host, bind = conf[host_key], conf[bind_key]
    resolved = {}
    if host in WILDCARDS:  # --host 0.0.0.0: the old way of asking to listen everywhere
        resolved[host_key] = default_host()
        if not bind:
            resolved[bind_key] = host
    elif not host:
        resolved[host_key] = default_host()
    conf = conf.with_values(resolved, f"{conf.origin(host_key)}: this machine's address") \
        if resolved else conf
    if not conf[bind_key]:
        conf = conf.with_values({bind_key: conf[host_key]}, f"{conf.origin(bind_key)}: {host_key}")
    return conf


def reachable_host(conf: Config, host_key: str, bind_key: str,
                   peer_host: str) -> Tuple[Config, str]:
    """``(conf, warning)``: when the advertised address ``host_key`` names (a worker's
    cluster-file name, which Debian's /etc/hosts maps to 127.0.1.1 on its own host) is
    loopback here while ``peer_host`` (the master) is elsewhere, and no ``bind_key`` says
    where to listen, ``conf`` advertises and listens on the address that reaches the peer
    instead (``reachable_instead``), and ``warning`` says so and how to choose; else
    ``(conf, "")``."""
    host = conf[host_key]
    if not host or host in WILDCARDS or conf[bind_key]:
        return conf, ""
    instead = reachable_instead(host, peer_host)
    if not instead:
        return conf, ""
    looped = ", ".join(loopback_resolution(host))
    named = "is a loopback address" if looped == host else \
        f"resolves here to a loopback address ({looped})"
    source = "VEGA_LOCAL_IP" if os.environ.get("VEGA_LOCAL_IP") == instead else \
        "the address that routes to the master"
    warning = (f"{host_key} {host} {named}, where the master at {peer_host} cannot reach "
               f"this {host_key.split('.')[1]}: advertising and listening on {instead} "
               f"instead ({source}). To choose, set VEGA_LOCAL_IP "
               "or --host to this machine's address on the cluster's network"
               + ("" if looped == host else f", or map {host} to it in /etc/hosts"))
    return conf.with_values({host_key: instead}, f"{conf.origin(host_key)}: loopback, so "
                            "the address routing to the master"), warning


def daemon_secret_file(option: Optional[str], no_secret: bool) -> Tuple[str, bool]:
    """``(path, created)``: the secret file a daemon uses (``secret_file_for``), and whether
    it was just made.  Secure by default: with none named and none at the default place,
    the daemon makes one there (mode 0600), as ``vega start-master`` does, so a master and
    the workers and drivers of the same account on its host share it with no step of the
    user's.  ``no_secret`` (``--no-secret``) runs without one: loopback only, and every
    local account can use the daemon (``warn_without_secret``)."""
    if no_secret:
        if option:
            raise ConfigError("", "--no-secret", f"and a secret file ({option}) were both "
                              "given: drop one")
        return "", False
    path = secret_file_for(option)
    if path:
        return path, False
    path = usable_default_secret_file()
    try:
        create_secret_file(path)
    except FileExistsError:  # another daemon of this account made it just now
        return path, False
    except OSError as exc:
        raise secret_not_created(path, exc) from None
    return path, True


def secret_not_created(path: str, exc: OSError) -> ConfigError:
    """The error of a secret file that could not be made at ``path`` (the default one under
    a home this account cannot write, as ``nobody``'s /nonexistent): where it could go.

    >>> str(secret_not_created("/nonexistent/.vega/secret", PermissionError(13, "Permission denied")))
    'the cluster secret could not be created at /nonexistent/.vega/secret (Permission denied): name one with --secret-file (or VEGA_SECRET_FILE), or set VEGA_CONF_DIR to a directory of yours'
    """
    return ConfigError("", "the cluster secret", f"could not be created at {path} "
                       f"({exc.strerror or exc}): name one with --secret-file (or "
                       "VEGA_SECRET_FILE), or set VEGA_CONF_DIR to a directory of yours")


def say_secret_made(name: str, path: str, created: bool, secret: Optional[bytes],
                    bind: str) -> None:
    """Tell the operator where the secret the daemon made is (others need a copy), or, for
    a daemon without one on loopback (``bind``; elsewhere it refuses to start, saying why),
    what that means."""
    if created:
        log.warning("%s: created the cluster secret %s (mode 0600). Every daemon and driver "
                    "of this cluster needs this same file: on other hosts, copy the master's "
                    "there and name it with --secret-file or VEGA_SECRET_FILE", name, path)
    from ..net.server import is_loopback

    if is_loopback(bind):
        warn_without_secret(name, secret)


def warn_without_secret(name: str, secret: Optional[bytes]) -> None:
    """A daemon without a secret listens on loopback only, but every account of the host
    can reach loopback: say what that means, once, at WARNING."""
    if not secret:
        log.warning("%s without a cluster secret: every user of this host can connect to it "
                    "and run code as %s on this cluster's workers (its TLS is encrypted, not "
                    "authenticated). Run it without --no-secret: it then uses %s, made if "
                    "missing", name, account_name(os.getuid()), default_secret_file())


def setup_daemon_logging(work_dir: str, name: str) -> None:
    """Log to stderr and to ``<work_dir>/<name>.log``, which rotates at
    ``DAEMON_LOG_MAX_BYTES`` keeping ``DAEMON_LOG_BACKUPS`` old files (``log_files``); so
    does stderr when it is a file (``<name>.out`` of a daemon in the background)."""
    from .log_files import StderrHandler, daemon_log_handler

    make_private_dir(work_dir)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    log_file = os.path.join(os.path.realpath(work_dir), f"{name}.log")
    for handler in (StderrHandler(), daemon_log_handler(log_file)):
        handler.setFormatter(fmt)
        root.addHandler(handler)


def exit_now(code: int) -> None:
    """End a daemon whose state is saved and whose children are gone: flush the logs and
    exit without tearing down the interpreter (its server threads and modules), which
    takes longer than everything before it."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT.

    A signal the kernel hands to another of the daemon's threads does not wake the main
    thread out of a lock wait, and its handler runs only in the main thread: such a signal
    wakes it through ``processes.relay_signals``, and rounds of ``SIGNAL_CHECK_SECONDS`` are
    the backstop (a local cluster's master stopped as it started ran on until the SIGKILL
    5 s later, now and then, with neither)."""
    stop, woken = threading.Event(), threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    relay_signals(woken.set)
    while not stop.is_set():
        woken.wait(SIGNAL_CHECK_SECONDS)
        woken.clear()  # the handler runs by this call at the latest


def run_master(host: Optional[str] = None, port: Optional[int] = None,
               webui_port: Optional[int] = None, work_dir: Optional[str] = None,
               secret_file: Optional[str] = None, worker_timeout: Optional[float] = None,
               ready_file: Optional[str] = None, daemonize: bool = False,
               pidfile: Optional[str] = None, log_file: Optional[str] = None,
               event_log_dir: Optional[str] = None, open_reads: Optional[bool] = None,
               ui_allowed_hosts: Optional[str] = None, bind: Optional[str] = None,
               config_file: Optional[str] = None,
               show_config: Optional[ShowConfig] = None, no_secret: bool = False) -> None:
    """Run the master (``vega master``); options left None come from the configuration;
    ``show_config(conf, role)`` sees the resolved settings first; ``no_secret``: see
    ``daemon_secret_file``."""
    from ..config_limits import http_limits
    from ..net.tls import write_ca_file
    from .http_api import TOKEN_FILE, allowed_hosts, master_token, start_http
    from .master import Master

    use_private_umask()  # work dir 0700, all in it 0600 (vega_runtime/private_files.py)
    given = {"host": host, "bind": bind, "port": port, "webui_port": webui_port,
             "work_dir": work_dir, "secret_file": secret_file, "worker_timeout": worker_timeout,
             "event_log_dir": event_log_dir, "open_reads": open_reads,
             "ui_allowed_hosts": ui_allowed_hosts}
    conf = daemon_config(MASTER_OPTIONS, given, config_file)
    looped = "" if conf["vega.master.host"] else loopback_name_warning()
    conf = listen_addresses(conf, "vega.master.host", "vega.master.bind", _this_host_address)
    use_strict_modes(conf["vega.strict_modes"])
    if show_config:
        show_config(conf, MASTER)
    work_dir = conf["vega.master.work_dir"]
    started = _detach_if_asked(daemonize, pidfile, log_file, work_dir, "master")
    work_lock = hold_work_dir(work_dir, "master")
    setup_daemon_logging(work_dir, "master")
    if looped:
        log.warning("%s", looped)
    watch_work_dir(work_dir, "master", work_lock)
    secret_path, created = daemon_secret_file(conf["vega.secret.file"], no_secret)
    secret = load_secret(secret_path)
    say_secret_made("master", secret_path, created, secret, conf["vega.master.bind"])
    bind, advertise = conf["vega.master.bind"], conf["vega.master.host"]
    try:
        daemon = Master(conf, secret, secret_path).start()
    except (OSError, VegaError) as exc:
        raise _start_failed(f"the master on {bind}:{conf['vega.master.port']}", exc,
                            conf["vega.master.port"]) from exc
    try:
        hosts = allowed_hosts(bind, advertise, conf["vega.ui.allowed_hosts"])
        http = start_http(bind, conf["vega.master.ui.port"], daemon, secret,
                          open_reads=conf["vega.ui.open"],
                          token=master_token(secret, daemon.work_dir), hosts=hosts,
                          **http_limits(conf))
        daemon.webui = {"webui_port": http.server_address[1],
                        "token_file": os.path.join(daemon.work_dir, TOKEN_FILE),
                        "ca_file": write_ca_file(secret, daemon.work_dir),
                        "webui_scheme": http.scheme}
    except (OSError, VegaError) as exc:
        raise _start_failed(f"the master's web UI on {bind}:{conf['vega.master.ui.port']}",
                            exc, conf["vega.master.ui.port"]) from exc
    if ready_file:
        # staged under a name nobody could have put a link at first (it may be in a
        # directory others write to), then renamed into place
        tmp = f"{ready_file}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
        with open_private(tmp, "w") as fh:
            json.dump({"port": daemon.server.port, "webui_port": http.server_address[1],
                       "host": advertise}, fh)
        os.replace(tmp, ready_file)
    log.info("master %s ready (listening on %s); web UI on %s://%s:%d/ (CA certificate %s)",
             daemon.url, bind, http.scheme, advertise, http.server_address[1],
             daemon.webui["ca_file"])
    started()
    wait_for_signal()
    daemon.stop()
    http.server_close()
    if ready_file:  # it is not ready any more: a script waiting for the next start must wait
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ready_file)
    exit_now(0)


def run_worker(master_url: str, host: Optional[str] = None, cores: Optional[int] = None,
               memory: Optional[str] = None, port: Optional[int] = None,
               webui_port: Optional[int] = None, work_dir: Optional[str] = None,
               labels: Optional[str] = None, secret_file: Optional[str] = None,
               death_timeout: Optional[float] = None, work_dir_ttl: Optional[float] = None,
               daemonize: bool = False, pidfile: Optional[str] = None,
               log_file: Optional[str] = None, bind: Optional[str] = None,
               config_file: Optional[str] = None,
               show_config: Optional[ShowConfig] = None, no_secret: bool = False,
               resources: Tuple[str, ...] = ()) -> None:
    """Run a worker (``vega worker``); options left None come from the configuration;
    ``show_config(conf, role)`` sees the resolved settings first; ``no_secret``: see
    ``daemon_secret_file``; ``resources``: ``--resource NAME=AMOUNT:SCRIPT`` flags."""
    from ..resources import worker_resource_settings

    from vega_runtime.deploy.worker import Worker

    use_private_umask()  # work dir 0700, all in it 0600, executors' too (inherited)
    spec = parse_master(master_url)  # MasterURLError
    if spec.kind != "vega":
        raise ConfigError("", "MASTER_URL", f"{master_url!r} is not vega://host:port, "
                          "the only kind of master a worker serves")
    given = {"host": host, "bind": bind, "port": port, "webui_port": webui_port,
             "work_dir": work_dir, "cores": cores, "memory": memory or None, "labels": labels,
             "secret_file": secret_file, "death_timeout": death_timeout,
             "work_dir_ttl": work_dir_ttl}
    offered = {}
    for flag in resources:
        try:
            offered.update(worker_resource_settings(flag))
        except ValueError as exc:
            raise ConfigError("", "--resource", str(exc)) from None
    conf, moved = reachable_host(daemon_config(WORKER_OPTIONS, given, config_file, offered),
                                 "vega.worker.host", "vega.worker.bind", spec.host)
    conf = listen_addresses(conf, "vega.worker.host", "vega.worker.bind",
                            lambda: advertise_address(None, spec.host))
    use_strict_modes(conf["vega.strict_modes"])
    machine = {}
    if not conf["vega.worker.cores"]:
        machine["vega.worker.cores"] = os.cpu_count() or 1
    if not conf["vega.worker.memory"]:
        machine["vega.worker.memory"] = _default_memory()
    if machine:
        conf = conf.with_values(machine, "default: this machine's")
    if show_config:
        show_config(conf, WORKER)
    secret_path, created = daemon_secret_file(conf["vega.secret.file"], no_secret)
    work_dir = conf["vega.worker.work_dir"]
    started = _detach_if_asked(daemonize, pidfile, log_file, work_dir, "worker")
    work_lock = hold_work_dir(work_dir, "worker")
    setup_daemon_logging(work_dir, "worker")
    if moved:
        log.warning("%s", moved)
    secret = load_secret(secret_path)
    say_secret_made("worker", secret_path, created, secret, conf["vega.worker.bind"])
    try:
        daemon = Worker(conf, spec.host, spec.port, secret, secret_path, adopt_orphans=True)
    except (OSError, VegaError) as exc:
        raise _start_failed("the worker", exc, conf["vega.worker.port"]) from exc
    # only now: a worker with one thread forks its executors' fork server from itself
    # (Worker()); with the watch's thread it would start a new interpreter (~0.1 s of CPU)
    watch_work_dir(work_dir, "worker", work_lock)
    from ..config_limits import http_limits
    from .http_api import start_metrics_http
    from .metrics import WorkerCollector

    webui_port = conf["vega.worker.ui.port"]
    try:
        metrics = start_metrics_http(daemon.bind_host, webui_port, WorkerCollector(daemon),
                                     daemon.secret, (daemon.host,), **http_limits(conf))
        log.info("worker metrics on %s://%s:%d/metrics", metrics.scheme, daemon.host,
                 metrics.server_address[1])
    except OSError as exc:
        log.warning("no /metrics: cannot listen on %s:%d (%s)", daemon.bind_host, webui_port, exc)
    started()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.request_stop())
    relay_signals(daemon.wake)
    exit_now(daemon.run())


def fork_entry(argv: List[str]) -> None:
    """``[ROLE, JSON_OPTIONS, ...]``: run the master or a worker with these options (the
    entry point local clusters give their fork server; arguments past the two are the
    options again, as flags, for the process's title).  A daemon that cannot start prints
    why on stderr (its log) and exits with 1."""
    role, options = argv[0], json.loads(argv[1])
    try:
        {"master": run_master, "worker": run_worker}[role](**options)
    except VegaError as exc:
        print(f"vega {role}: error: {exc}", file=sys.stderr)
        exit_now(1)


if __name__ == "__main__":
    fork_entry(sys.argv[1:])


#: seconds a daemon refused a work dir waits for the pid of the one holding it (which took the
#: lock a moment ago, when two start at once) to name it
HOLDER_PID_WAIT = 1.0


def hold_work_dir(work_dir: str, role: str, follow_links: bool = True) -> Optional[int]:
    """Lock ``<work_dir>/<role>.lock`` (``flock``, released when this process ends, however
    it ends) and write this pid in it; the descriptor, to keep for the daemon's life.  Two
    daemons of a role in one work dir (``vega start-master`` where ``start-cluster``
    already started one, on another port) would overwrite each other's recovery state,
    packages and logs: ``DaemonStartFailed`` names the other's pid.  A file system
    without locks (some NFS) is not refused: None.  A work dir another account could
    rename away (``private_files.check_parents``) is refused; with ``follow_links`` False
    (``keep_work_dir``), so is a symbolic link in its way."""
    import fcntl

    what = f"the {role} in {os.path.abspath(work_dir)}"
    path = work_dir_lock(work_dir, role)
    try:
        make_private_dir(work_dir, follow_links)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise _unusable_work_dir(what, path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
            os.close(fd)
            return None
        holder = _lock_holder(fd)
        os.close(fd)
        raise DaemonStartFailed(what, _work_dir_taken(role, holder)) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:  # a full disk: nothing the daemon keeps there could be written
        os.close(fd)
        raise _unusable_work_dir(what, path, exc) from None
    return fd


def _lock_holder(fd: int, wait: float = HOLDER_PID_WAIT) -> str:
    """The pid the daemon holding the work dir's lock wrote in it; one that took the lock a
    moment ago (two daemons started at once) is given ``wait`` seconds to write it."""
    deadline = time.monotonic() + wait
    while True:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if holder or time.monotonic() >= deadline:
            return holder
        time.sleep(0.01)


def _work_dir_taken(role: str, holder: str) -> str:
    """Why a daemon of ``role`` cannot use a work dir whose lock ``holder`` (a pid, or ""
    when the other has not written it) holds, and what to do."""
    if role == "master":
        stop = "vega stop-master or vega stop-cluster"
    elif holder:
        stop = f"kill {holder}, or vega stop-workers for one a cluster file started"
    else:
        stop = "pgrep -af 'vega worker' finds it; vega stop-workers for one a cluster file " \
            "started"
    who = f"another {role} (pid {holder})" if holder else \
        f"another {role}, starting at this moment,"
    return f"{who} uses that work dir; stop it ({stop}) or give this one a work dir of its own"


def _unusable_work_dir(what: str, path: str, exc: OSError) -> DaemonStartFailed:
    """``DaemonStartFailed`` for a work dir whose lock file ``path`` cannot be made or
    written (a full disk, no permission, a file in the way of the directory)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DaemonStartFailed(what, f"cannot write {path} ({exc.strerror or exc}): free "
                                       "space on its disk, or give it a work dir it can write "
                                       "(--work-dir)")
    return DaemonStartFailed(what, f"cannot write {path} ({exc.strerror or exc}: "
                                   f"{exc.filename or path}): give it a work dir it can create "
                                   "and write (--work-dir)")


def watch_work_dir(work_dir: str, role: str, lock_fd: Optional[int]) -> None:
    """Every ``WORK_DIR_CHECK_SECONDS``, make the work dir and its lock again if they were
    deleted while the daemon runs (``rm -rf`` by hand, a tmp cleaner): else a second
    daemon could start there, and a worker starting in a work dir deletes the shuffle
    files it finds; the log reopens by itself (``DaemonLogFile``).  The lock's
    descriptor ``lock_fd`` (None: the file system has no locks) is held for ever.  The
    work dir is looked for where it was when the daemon started (its real path): a
    symbolic link put in its place, or above it, is not followed."""
    if lock_fd is None:
        return
    real = os.path.realpath(work_dir)

    def watch(held: Optional[int]) -> None:
        while held is not None:
            time.sleep(WORK_DIR_CHECK_SECONDS)
            held = keep_work_dir(real, role, held)

    threading.Thread(target=watch, args=(lock_fd,), name="work-dir-watch", daemon=True).start()


def keep_work_dir(work_dir: str, role: str, held: int) -> Optional[int]:
    """The lock's descriptor, taken again (and the work dir made again) when the file
    ``held`` is not the work dir's lock any more; None when it cannot be (said once: the
    watch ends).  Nothing is made, nor chmodded, through a symbolic link."""
    try:
        now, then = os.lstat(work_dir_lock(work_dir, role)), os.fstat(held)
        if (now.st_dev, now.st_ino) == (then.st_dev, then.st_ino):
            return held
    except OSError:
        pass
    try:
        make_private_dir(work_dir, follow_links=False)  # what is wrong, not a start's failure
        taken = hold_work_dir(work_dir, role, follow_links=False)
    except (OSError, VegaError) as exc:
        log.error("the %s's work dir %s (or its %s.lock) was deleted or replaced while the %s "
                  "runs, and cannot be held again: %s", role, work_dir, role, role, exc)
        return None
    log.warning("the %s's work dir %s (or its %s.lock) was deleted while the %s runs: "
                "made again; what was in it is lost (logs, %s)", role,
                os.path.abspath(work_dir), role, role,
                "recovery state, job packages" if role == "master"
                else "shuffle output of running applications, cached packages")
    os.close(held)
    return taken  # None: no locks there any more


def _start_failed(what: str, exc: Exception, port: int = 0) -> DaemonStartFailed:
    """``DaemonStartFailed`` for ``exc``; a port in use, or one below 1024 for an account
    not root (``port``), gets a hint saying what to do."""
    hint = bind_refusal(exc, port) if isinstance(exc, OSError) else ""
    return DaemonStartFailed(what, str(exc), hint)


def _detach_if_asked(daemonize: bool, pidfile: Optional[str], log_file: Optional[str],
                     work_dir: str, name: str) -> Callable[[], None]:
    """Detach if asked (``detach``); returns what the daemon calls once it listens."""
    if not daemonize:
        return lambda: None
    if not pidfile:
        raise ConfigError("", "--daemonize", "needs --pidfile")
    return detach(pidfile, log_file or os.path.join(work_dir, f"{name}.out"), name)


#: how long ``vega master|worker --daemonize`` waits for its daemon to listen
DETACH_READY_TIMEOUT = 60.0
#: A daemon that wrote nothing to its log before it exited is taken to have failed for a
#: full disk when the log's disk has less than this many bytes free.
FULL_DISK_BYTES = 64 << 10
#: How often a daemon looks whether its work dir was deleted under it.
WORK_DIR_CHECK_SECONDS = 2.0


def detach(pidfile: str, log_file: str, name: str = "daemon") -> Callable[[], None]:
    """Detach from the terminal and the SSH session (double fork, setsid); returns
    ``started``, which the daemon calls once it listens.

    The original process waits for that: it exits 0 when the daemon has started, and 1
    when the daemon exits first (its port is taken, say), with the daemon's error from
    its log on stderr, so a remote ``vega worker --daemonize`` fails saying why.  A
    daemon that has not started after ``DETACH_READY_TIMEOUT`` seconds is stopped.
    """
    os.makedirs(os.path.dirname(os.path.abspath(pidfile)), exist_ok=True)
    try:
        log_start = os.path.getsize(log_file)  # what this daemon writes comes after
    except OSError:
        log_start = 0
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        readable, _, _ = select.select([read_end], [], [], DETACH_READY_TIMEOUT)
        if readable and os.read(read_end, 1) == b"1":
            os._exit(0)
        _explain_start_failure(pidfile, log_file, log_start, name, timed_out=not readable)
        os._exit(1)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    # never through a symbolic link: --pidfile and --log-file may name a shared directory
    try:  # the log first: a pid file is left only by a daemon that goes on
        log_fd = private_fd(log_file, "ab")
        with open_private(pidfile + ".tmp", "w") as fh:
            fh.write(f"{os.getpid()}\n")
        os.replace(pidfile + ".tmp", pidfile)
    except OSError as exc:
        linked = " (a symbolic link there is not followed)" if exc.errno == errno.ELOOP else ""
        raise DaemonStartFailed("the daemon in the background",
                                f"cannot write {exc.filename}: {exc.strerror}{linked}") from None
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)

    def started() -> None:
        os.write(write_end, b"1")
        os.close(write_end)

    return started


def _explain_start_failure(pidfile: str, log_file: str, log_start: int, name: str,
                           timed_out: bool) -> None:
    """On stderr: why the detached daemon did not start (its error, from its log), or
    that it took too long (it is stopped then)."""
    if timed_out:
        from ..processes import pidfile_process

        pid = pidfile_process(pidfile, name)[0]
        if pid:
            os.kill(pid, signal.SIGTERM)
        print(f"vega {name}: error: it did not start listening within "
              f"{DETACH_READY_TIMEOUT:.0f}s, so it was stopped; see {log_file}",
              file=sys.stderr, flush=True)
        return
    print(start_error(log_file, log_start) or
          f"vega {name}: error: it exited before it started listening", file=sys.stderr)
    print(f"(the {name}'s log: {log_file})", file=sys.stderr, flush=True)


def start_error(log_file: str, log_start: int = 0) -> str:
    """What a daemon that could not start wrote to ``log_file`` past byte ``log_start``: its
    ``vega: error:`` line and the hint below it, else the log's last lines ("" if none);
    when it wrote nothing to a full disk, that."""
    try:
        with open(log_file, "rb") as fh:
            fh.seek(log_start)
            lines = fh.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    if not lines:
        import shutil

        with contextlib.suppress(OSError):
            free = shutil.disk_usage(os.path.dirname(os.path.abspath(log_file))).free
            if free < FULL_DISK_BYTES:
                return (f"vega: error: it could not write why to {log_file}: that disk is "
                        f"full ({free} bytes free)\nFree space on it, or give the daemon "
                        "another work dir (--work-dir)")
        return ""
    errors = [i for i, line in enumerate(lines) if line.startswith("vega") and "error:" in line]
    return "\n".join(lines[errors[-1]:] if errors else lines[-10:])


def loopback_name_warning() -> str:
    """What to say when the address a master takes by default (``_this_host_address``) is
    loopback: the host name resolves to 127.0.1.1 (Debian's /etc/hosts) or 127.0.0.1, so
    workers on other hosts cannot reach it (Spark warns of the same); else ''."""
    import ipaddress
    import socket

    address = _this_host_address()
    if os.environ.get("VEGA_LOCAL_IP") or not ipaddress.ip_address(address).is_loopback:
        return ""
    return (f"this machine's host name, {socket.gethostname()}, resolves to a loopback "
            f"address ({address}): the master listens there, where only this machine "
            "reaches it. For workers on other hosts, start it with --host ADDRESS (this "
            "machine's address on their network) or set VEGA_LOCAL_IP")


def _this_host_address() -> str:
    import socket

    if os.environ.get("VEGA_LOCAL_IP"):
        return os.environ["VEGA_LOCAL_IP"]
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _default_memory() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 30
    return max(512 << 20, total - (1 << 30))
