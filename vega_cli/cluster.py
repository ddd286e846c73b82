"""``vega start-cluster`` / ``stop-cluster`` / ``start-workers`` / ``stop-workers``.

The cluster file (``conf/cluster.yaml``, or a Rust Vega ``hosts.conf``) says where
everything runs.  The master starts on its host (locally when that is this machine,
else over SSH), then every worker in parallel over SSH, each after a preflight check
(SSH, Python and Vega versions, free disk, the master's port).  Each daemon records its
pid in a run dir of its own (``<work_dir>/<daemon_id>/run``), so hosts sharing a home
directory never collide.  One table row per host; exit code 1 if any host failed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from vega_runtime._version import __version__
from vega_runtime.errors import ConfigError
from vega_runtime.net.addresses import loopback_resolution, resolved_addresses

from .bootstrap import bootstrap, build_wheels, installed_interpreter
from .wheel_cache import default_cache_dir
from .errors import Cancelled, CommandError, RemoteError, UsageError
from .host_keys import KnownHosts
from .options import INSTALLED_SECRET_FILE, ensure_secret_file
from .remote import Host, LocalHost, daemon_command, is_this_machine, local_python, quote

MIN_FREE_BYTES = 256 << 20


@dataclass
class Row:
    host: str
    role: str
    action: str
    result: str = ""
    pid: str = ""
    seconds: float = 0.0
    failed: bool = False


def _load(config: Optional[str]):
    from vega_runtime.cluster_file import load_cluster_file

    try:
        return load_cluster_file(config)
    except ConfigError as exc:
        raise UsageError(str(exc))


def _worker_dir(entry) -> str:
    return f"{entry.work_dir.rstrip('/')}/{entry.daemon_id}"


def _master_host(cluster, known_hosts: KnownHosts) -> Host:
    if is_this_machine(cluster.master.host):
        return LocalHost(cluster.master.host)
    user, key, port = cluster.master_login()
    return Host(cluster.master.host, user, port, key, cluster.ssh.connect_timeout, known_hosts)


def _worker_host(cluster, entry, known_hosts: KnownHosts) -> Host:
    return Host(entry.host, entry.user, entry.ssh_port, entry.key, cluster.ssh.connect_timeout,
                known_hosts)


def _preflight(host: Host, python: str, work_dir: str, master: tuple) -> dict:
    """Raise RemoteError if ``python`` cannot run this Vega on the host; else return what
    the host answered (``remote_ops.probe``), for ``_check_can_start``."""
    probe = host.remote_op(python, "probe", work_dir, master[0], str(master[1]))
    local = "%d.%d" % sys.version_info[:2]
    if probe["python"] != local:
        raise RemoteError(f"{host}: {python} is Python {probe['python']}, this machine runs "
                          f"Python {local}; set workers[].python (master.python for the "
                          "master) in the cluster file")
    if probe["vega"] != __version__:
        found = probe["vega"] or "not installed"
        raise RemoteError(f"{host}: Vega {__version__} is needed with {python}, found {found}; "
                          "install it there or run with --bootstrap")
    return probe


def _check_can_start(host: Host, work_dir: str, master: tuple, probe: dict) -> None:
    """Raise RemoteError naming the first thing that would make a daemon starting in
    ``work_dir`` fail (``probe``: what ``_preflight`` found there)."""
    if probe.get("work_dir_error"):
        raise RemoteError(f"{host}: work dir {work_dir}: {probe['work_dir_error']}; make it "
                          "writable there or choose another work_dir in the cluster file")
    if probe["free_bytes"] is not None and probe["free_bytes"] < MIN_FREE_BYTES:
        raise RemoteError(f"{host}: only {probe['free_bytes'] >> 20} MiB free in {work_dir} "
                          f"(a daemon needs {MIN_FREE_BYTES >> 20} MiB); free some there or "
                          "choose another work_dir in the cluster file")
    if probe["master_reachable"] is False:
        why = str(probe.get("master_error"))
        advice = ("nothing listens there: is the master running? (vega start-cluster starts "
                  "it)" if "Connection refused" in why else "check firewalls and addresses")
        raise RemoteError(f"{host}: cannot reach the master at {master[0]}:{master[1]} "
                          f"({why}); {advice}")


def _check_master_not_on_loopback(cluster, host: Host, probe: dict) -> None:
    """Raise RemoteError when the master's name resolves on its (remote) host to loopback
    addresses only, as that host's /etc/hosts may map its own name to 127.0.1.1, while a
    worker is on another host: the master would listen where none of them reaches it (the
    check ``_check_not_on_loopback`` makes for a master on this machine)."""
    looped = [] if isinstance(host, LocalHost) else probe.get("master_loopback") or []
    name = cluster.master.host
    elsewhere = ", ".join(dict.fromkeys(w.host for w in cluster.workers
                                        if w.host.lower() != name.lower()))
    if looped and elsewhere:
        raise RemoteError(
            f"{host}: master.host {name} resolves there to a loopback address "
            f"({', '.join(looped)}): the master would listen on it alone, where the workers "
            f"on other hosts ({elsewhere}) cannot reach it; nothing was started. Set "
            f"master.host in {cluster.path} to that host's address on the workers' network, "
            f"or map {name} to it in that host's /etc/hosts")


def _install_secret(host: Host, secret: str, directory: str) -> str:
    """Copy the secret to ``directory/vega-secret`` on the host, born with mode 0600."""
    remote = f"{directory}/{INSTALLED_SECRET_FILE}"
    with open(secret, encoding="ascii") as fh:
        host.write_private_file(remote, fh.read())
    return remote


def _running_pid(host: Host, python: str, pidfile: str, role: str,
                 expected: Sequence[str] = ()) -> int:
    """The pid recorded in ``pidfile`` if that process runs ``vega ROLE``, else 0; a
    RemoteError if it runs but is stopped (SIGSTOP): it serves nothing, so neither
    "already running" nor waiting for it to register would be true; or if its command line
    lacks ``expected`` (its ports, its master's URL), as for a daemon started before the
    cluster file changed them: "already running" it served elsewhere than the file says."""
    found = host.remote_op(python, "running", pidfile, role)
    pid = int(found["pid"])
    argv = found.get("argv") or []
    if pid and "--daemonize" in argv:  # started by a cluster command, with these arguments
        differing = [(_argument_like(argv, arg), arg) for arg in expected
                     if arg not in argv and arg not in map(" ".join, zip(argv, argv[1:]))]
        if differing:
            raise RemoteError(
                f"{host}: {role} already running (pid {pid}) with "
                f"{', '.join(have for have, _ in differing)}, but the cluster file says "
                f"{', '.join(want for _, want in differing)}: it was started before the file "
                f"changed; stop it (vega {'stop-cluster' if role == 'master' else 'stop-workers'}"
                "), then start it again")
    if found.get("stopped"):
        commands = "stop-cluster, then vega start-cluster" if role == "master" else \
            "stop-workers, then vega start-workers"
        raise RemoteError(f"{host}: {role} already running (pid {pid}) but stopped (SIGSTOP: "
                          f"it answers nothing); resume it with 'kill -CONT {pid}' on that "
                          f"host, or restart it: vega {commands}")
    return pid


def _argument_like(argv: List[str], wanted: str) -> str:
    """The argument of ``argv`` in the place of ``wanted`` (``--port 7077``, or a master URL).

    >>> _argument_like(["vega", "--port", "7078"], "--port 7077")
    '--port 7078'
    >>> _argument_like(["worker", "vega://h:7078", "--host", "w"], "vega://h:7077")
    'vega://h:7078'
    """
    flag = wanted.split(" ")[0]
    if flag.startswith("--"):
        return next((f"{a} {b}" for a, b in zip(argv, argv[1:]) if a == flag), f"no {flag}")
    return next((a for a in argv if a.startswith("vega://")), "no master URL")


def _start_daemon(host: Host, python: str, role: str, args: List[str], run_dir: str,
                  row: Row, expected: Sequence[str] = (),
                  prepare: Callable[[], None] = lambda: None) -> None:
    """Start the daemon unless it runs already; ``prepare`` (its checks, its secret) runs
    first, and only for a daemon to start: before, a daemon running on a disk since filled
    had its row fail "only 0 MiB free ... (a daemon needs 256 MiB)", and not a word that
    it ran (pid and all) on the second start-cluster."""
    pidfile = f"{run_dir}/{role}.pid"
    running = _running_pid(host, python, pidfile, role, expected)
    if running:
        row.result, row.pid = "already running", str(running)
        return
    prepare()
    result = host.run(daemon_command(python, role, args, run_dir))
    if not result.ok:
        raise RemoteError(f"{host}: {role} did not start (exit {result.code}): "
                          f"{(result.stderr or result.stdout).strip()[-1000:]}")
    pid = _running_pid(host, python, pidfile, role)
    if not pid:
        raise RemoteError(f"{host}: {role} exited right after starting; see "
                          f"{run_dir}/{role}.out there")
    row.result, row.pid = "started", str(pid)


def _start_master(cluster, secret: str, known_hosts: KnownHosts,
                  wheels: Optional[List[str]] = None) -> Row:
    master = cluster.master
    row = Row(master.host, "master", "start")
    started = time.monotonic()
    host = _master_host(cluster, known_hosts)
    python = cluster.master_python() or local_python()
    try:
        python = _start_interpreter(host, python, f"{master.work_dir}/vega-home", wheels, row)
        probe = _preflight(host, python, master.work_dir, (master.host, 0))
        _check_master_not_on_loopback(cluster, host, probe)

        def prepare() -> None:
            _check_can_start(host, master.work_dir, (master.host, 0), probe)
            _install_secret(host, secret, master.work_dir)

        _start_daemon(host, python, "master",
                      ["--host", master.host, "--port", str(master.port),
                       "--webui-port", str(master.webui_port), "--work-dir", master.work_dir,
                       "--secret-file", f"{master.work_dir}/{INSTALLED_SECRET_FILE}"],
                      f"{master.work_dir}/run", row,
                      [f"--port {master.port}", f"--webui-port {master.webui_port}"], prepare)
    except RemoteError as exc:
        row.result, row.failed = str(exc), True
    finally:
        host.close()
    row.seconds = time.monotonic() - started
    return row


def worker_args(master_url: str, entry, directory: str, secret_file: str) -> List[str]:
    """``vega worker``'s arguments for a worker of the cluster file (``entry``).

    >>> from vega_runtime.cluster_file import WorkerEntry
    >>> worker_args("vega://m:7077", WorkerEntry("h", cores=4, labels=("gpu",),
    ...             resources=(("gpu", 2, "/opt/find"),)), "w", "s")[-6:]
    ['--cores', '4', '--labels', 'gpu', '--resource', 'gpu=2:/opt/find']
    """
    args = [master_url, "--host", entry.host, "--work-dir", directory,
            "--secret-file", secret_file]
    if entry.cores:
        args += ["--cores", str(entry.cores)]
    if entry.memory:
        args += ["--memory", str(entry.memory)]
    if entry.labels:
        args += ["--labels", ",".join(entry.labels)]
    for name, amount, script in entry.resources:
        args += ["--resource", f"{name}={amount}:{script}"]
    if entry.webui_port:
        args += ["--webui-port", str(entry.webui_port)]
    return args


def _start_worker(cluster, entry, secret: str, known_hosts: KnownHosts,
                  wheels: Optional[List[str]] = None) -> Row:
    row = Row(entry.host, "worker", "start")
    started = time.monotonic()
    host = _worker_host(cluster, entry, known_hosts)
    python = entry.python or local_python()
    directory = _worker_dir(entry)
    master = (cluster.master.host, cluster.master.port)
    try:
        python = _start_interpreter(host, python, f"{directory}/vega-home", wheels, row)
        probe = _preflight(host, python, directory, master)

        def prepare() -> None:
            _check_can_start(host, directory, master, probe)
            _install_secret(host, secret, directory)

        _start_daemon(host, python, "worker",
                      worker_args(cluster.master.url, entry, directory,
                                  f"{directory}/{INSTALLED_SECRET_FILE}"),
                      f"{directory}/run", row, [cluster.master.url], prepare)
    except RemoteError as exc:
        row.result, row.failed = str(exc), True
    finally:
        host.close()
    row.seconds = time.monotonic() - started
    return row


def _start_interpreter(host: Host, python: str, vega_home: str,
                       wheels: Optional[List[str]], row: Row) -> str:
    """The Python a daemon starts with: with ``--bootstrap`` (``wheels``), the one
    ``bootstrap`` finds or installs (its own virtualenv in ``vega_home``, for the master as
    for a worker); else ``python`` if it runs this Vega, else the virtualenv an earlier
    ``--bootstrap`` made there, as the ``stop-*`` commands find it.  Before, a start-cluster
    without --bootstrap after one with it failed every bootstrapped host's row ("Vega is
    needed with /usr/bin/python3, found not installed"), its daemon running all along."""
    if wheels is None:
        return installed_interpreter(host, python, vega_home)
    python, done = bootstrap(host, python, vega_home, wheels, reserve=MIN_FREE_BYTES)
    row.action = f"start ({done})"
    return python


def _stop(host: Host, python: str, role: str, run_dir: str, owned_dir: str,
          vega_home: str) -> Row:
    """Stop the daemon of ``run_dir`` with ``python`` if it runs this Vega, else with the
    Python ``--bootstrap`` installed in ``vega_home``; kill what is left of it in
    ``owned_dir``."""
    row = Row(host.name, role, "stop")
    started = time.monotonic()
    try:  # (an unreachable host fails here, its row said so after one timeout, not two)
        python = installed_interpreter(host, python, vega_home)
        outcome = host.remote_op(python, "stop", f"{run_dir}/{role}.pid", "10", role)
        if outcome.get("foreign"):
            row.result, row.failed = f"not stopped: {outcome['foreign']}", True
        elif not outcome["was_running"]:
            row.result = "not running"
        elif not outcome["gone"]:
            row.result, row.failed = f"pid {outcome['pid']} survived SIGKILL", True
        else:
            row.result = "killed after 10s" if outcome["killed"] else "stopped"
            row.pid = str(outcome["pid"])
        leftovers = host.remote_op(python, "leftovers", owned_dir)["killed"]
        if leftovers:
            row.result += f"; killed {leftovers} leftover process(es)"
    except RemoteError as exc:
        if exc.answered and not _started_there(host, run_dir):
            row.result = "not running"  # (Vega cannot run there, but nothing was started)
        else:
            row.result, row.failed = _not_stopped(exc, role), True
    finally:
        host.close()
    row.seconds = time.monotonic() - started
    return row


def _started_there(host: Host, run_dir: str) -> bool:
    """Whether a cluster command ever started a daemon in ``run_dir`` on the host (it makes
    that directory right before): a host whose start failed its preflight has none, and its
    stop row is "not running", not a failure (it failed, saying that the Python named there
    has no Vega, and to run again "once the host answers", though nothing ran there)."""
    try:
        return host.run(quote(["test", "-d", run_dir])).code != 1
    except RemoteError:
        return True


def _not_stopped(exc: RemoteError, role: str) -> str:
    """A stop's failed row: what went wrong, and that what runs there still runs; run again
    once the host answers, or (its host key refused: it did answer) once what the error
    says is done."""
    again = "once what it says is done" if exc.answered else "once the host answers"
    return (f"{exc}; NOT STOPPED: the {role} there, if it runs, keeps running (run this "
            f"command again {again})")


#: connections to the master in a row that time out before start-cluster stops waiting for
#: its workers' registration, saying it could not check it (each waits the connect timeout)
SILENT_MASTER_TRIES = 2


def _wait_for_workers(cluster, secret: str, rows: List[Row], timeout: float = 30.0) -> None:
    """Mark each started worker registered, or failed if the master never hears of it; if
    the master never answered this machine (a firewall lets the workers reach its port,
    not this machine), say that registration was not checked, rather than that the workers
    never registered: each of them reached the master's port in its preflight."""
    from vega_runtime.errors import VegaError
    from vega_runtime.net.connection import load_secret
    from vega_runtime.net.status_request import fetch_master_status

    expected = [r for r in rows if r.role == "worker" and not r.failed]
    # a worker whose name is loopback on its own host advertises its address instead
    names = {address: r.host for r in expected for address in resolved_addresses(r.host)
             if address not in {x.host for x in expected}}
    deadline = time.monotonic() + timeout
    alive: List[str] = []
    answered, why, silent = False, "", 0
    while time.monotonic() < deadline:
        try:
            status = fetch_master_status(cluster.master.host, cluster.master.port,
                                         load_secret(secret) or b"")
            answered = True
        except (OSError, VegaError) as exc:  # the master may still be starting
            status, why = {"workers": []}, str(exc) or type(exc).__name__
            # a starting master refuses at once; one that let two tries time out in a row
            # (SYN retransmits and all) is behind something dropping this machine's packets
            silent = silent + 1 if isinstance(exc, TimeoutError) else 0
            if silent == SILENT_MASTER_TRIES and not answered:
                break
        alive = [names.get(w["host"], w["host"]) for w in status["workers"]
                 if w["state"] == "alive"]
        if all(alive.count(r.host) >= sum(1 for x in expected if x.host == r.host)
               for r in expected):
            break
        time.sleep(0.2)
    for row in expected:
        wanted = sum(1 for x in expected if x.host == row.host)
        if alive.count(row.host) >= wanted:
            row.result += ", registered"
        elif row.host in alive:  # which of the host's workers is missing, the master can't say
            row.result = (f"{row.result}, but only {alive.count(row.host)} of the {wanted} "
                          f"workers on {row.host} registered with the master")
            row.failed = True
        elif not answered:
            row.result += (f"; not checked that it registered: this machine cannot reach the "
                           f"master at {cluster.master.url} ({why}); vega status on a host "
                           "that can shows it")
        else:
            row.result, row.failed = f"{row.result}, but never registered with the master", True


def _check_running_master_secret(cluster, secret: str) -> None:
    """Raise CommandError if a master answers at the cluster file's address but with another
    secret than ``secret`` (the file was replaced): installing this one on the hosts would
    leave the running daemons with a secret no file holds, and no worker could register."""
    from vega_runtime.errors import VegaError
    from vega_runtime.net.connection import AuthenticationFailed, HandshakeRefused, load_secret
    from vega_runtime.net.status_request import fetch_master_status

    try:
        fetch_master_status(cluster.master.host, cluster.master.port,
                            load_secret(secret) or b"")
    except HandshakeRefused:
        return  # busy, or not a Vega port: the rows will tell
    except AuthenticationFailed:
        raise CommandError(
            f"the master running at {cluster.master.url} has another cluster secret than "
            f"{secret} (was that file replaced?), or another TLS service answers on that "
            "port; nothing was started or copied to the hosts",
            "Put back the secret the cluster was started with, or stop it (vega stop-cluster) "
            "and start it again with this one.") from None
    except (OSError, VegaError):
        return  # no master there yet, or not reachable from here: the rows will tell


def _check_not_on_loopback(cluster) -> None:
    """Raise CommandError when a daemon would start on this machine listening on loopback
    only (its name is a loopback address, or resolves here to loopback addresses only, as
    Debian's /etc/hosts maps a machine's own name to 127.0.1.1) while a worker is on another
    host: the master, which no such worker could reach (each row said "nothing listens
    there: is the master running?" of the master this command had just started), or a
    worker (Spark's conf/workers lists ``localhost``), whose shuffle output no other worker
    could fetch (it registered, and every job with a shuffle failed)."""
    local = {w.host for w in cluster.workers if is_this_machine(w.host)}
    elsewhere = ", ".join(dict.fromkeys(w.host for w in cluster.workers if w.host not in local))
    if not elsewhere:
        return
    for role, host in [("master", cluster.master.host),
                       *(("worker", w.host) for w in cluster.workers if w.host in local)]:
        addresses = loopback_resolution(host) if is_this_machine(host) else []
        if not addresses:
            continue
        named = host if addresses == [host] else f"{host} (here: {', '.join(addresses)})"
        if role == "master":
            what = (f"master.host {named} is a loopback address: the master would listen on "
                    f"it alone, where the workers on other hosts ({elsewhere}) cannot reach it")
            fix = (f"Set master.host in {cluster.path} to this machine's address on the "
                   "workers' network (or to a name that resolves to it here too")
        else:
            what = (f"the worker {named} is a loopback address: it would listen on it alone, "
                    f"where the workers on other hosts ({elsewhere}) cannot fetch its shuffle "
                    "output")
            fix = (f"Name that worker in {cluster.path} by this machine's address on the "
                   "workers' network (or by a name that resolves to it here too")
        raise CommandError(f"{what}; nothing was started", f"{fix}: /etc/hosts may map this "
                           "machine's name to 127.0.1.1).")


def _render(rows: List[Row], title: str, known_hosts: Optional[KnownHosts] = None) -> int:
    table = Table(title=title, title_justify="left")
    for column in ("host", "role", "action", "result", "pid", "time"):
        table.add_column(column, overflow="fold")
    for row in rows:
        # a remote host's message is never markup ("[/x]" would fail the whole table)
        table.add_row(row.host, row.role, row.action,
                      Text(row.result, style="red" if row.failed else ""), row.pid,
                      f"{row.seconds:.1f}s")
    console = Console()
    if not console.is_terminal:
        console = Console(width=1000)  # piped or captured: whole messages, no wrapping
    console.print(table)
    _print_accepted(known_hosts)
    return 1 if any(row.failed for row in rows) else 0


def _print_accepted(known_hosts: Optional[KnownHosts]) -> None:
    """Say which host keys --accept-new-host-keys recorded (the file changed)."""
    for accepted in (known_hosts.accepted if known_hosts else ()):
        click.echo(f"recorded the new SSH host key of {accepted} in {known_hosts.path}")


config_option = click.option("--config", "config", type=click.Path(dir_okay=False),
                             help="Cluster file (default: VEGA_CLUSTER_CONFIG, conf/cluster.yaml).")
accept_option = click.option(
    "--accept-new-host-keys", "accept_new", is_flag=True,
    help="Connect to hosts whose SSH host key is not in the known_hosts file yet, and record "
         "their keys there (ssh's StrictHostKeyChecking=accept-new). A changed key is "
         "always refused.")
bootstrap_option = click.option(
    "--bootstrap", is_flag=True,
    help="Install Vega (wheels built here, installed offline) on the hosts (the master's, "
         "the workers') that lack it.")


def _known_hosts(cluster, accept_new: bool) -> KnownHosts:
    return KnownHosts(cluster.ssh.known_hosts, accept_new)


def _wheels(bootstrap_hosts: bool) -> Optional[List[str]]:
    """The wheels ``--bootstrap`` installs on the hosts (built here once), else None."""
    if not bootstrap_hosts:
        return None
    cache = default_cache_dir()
    try:
        return build_wheels(cache)
    except RemoteError as exc:
        raise CommandError(str(exc))
    except OSError as exc:  # a home this account cannot write (nobody's /nonexistent)
        raise CommandError(f"--bootstrap cannot keep the wheels it builds in {cache} "
                           f"({exc.strerror or exc}: {exc.filename or cache})",
                           "Set XDG_CACHE_HOME to a directory of yours (the wheels go in "
                           "its vega/), as pip's cache follows it; nothing was started") from None


def _start_workers(cluster, secret: str, wheels: Optional[List[str]],
                   known_hosts: KnownHosts) -> List[Row]:
    return _in_parallel(lambda e: _start_worker(cluster, e, secret, known_hosts, wheels),
                        cluster.workers)


def _in_parallel(function, items, at_once: int = 16) -> list:
    """``[function(item) for item in items]``, ``at_once`` at a time, each in a daemon
    thread: a Ctrl-C leaves at once, what still runs abandoned (a thread pool's threads are
    joined as the interpreter exits, so the command waited, after the Ctrl-C, until every
    host's step had ended or timed out: a connect_timeout, or 3 of them, or more)."""
    items = list(items)
    results: list = [None] * len(items)
    failures: List[BaseException] = []
    slots = threading.BoundedSemaphore(at_once)

    def run(index: int, item) -> None:
        try:
            results[index] = function(item)
        except BaseException as exc:  # raised again in the calling thread, below
            failures.append(exc)
        finally:
            slots.release()

    threads = []
    for index, item in enumerate(items):
        slots.acquire()
        threads.append(threading.Thread(target=run, args=(index, item), daemon=True,
                                        name=f"vega-host-{index}"))
        threads[-1].start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


def _stop_workers(cluster, known_hosts: KnownHosts) -> List[Row]:
    def stop(entry):
        directory = _worker_dir(entry)
        return _stop(_worker_host(cluster, entry, known_hosts),
                     entry.python or local_python(), "worker", f"{directory}/run", directory,
                     f"{directory}/vega-home")

    return _in_parallel(stop, cluster.workers)


@click.command("start-cluster")
@config_option
@bootstrap_option
@accept_option
def start_cluster(config: Optional[str], bootstrap: bool, accept_new: bool) -> int:
    """Start the master, then every worker (over SSH), and wait for them to register."""
    return _start(config, bootstrap, accept_new, with_master=True)


def _start(config: Optional[str], bootstrap: bool, accept_new: bool, with_master: bool) -> int:
    cluster = _load(config)
    _check_not_on_loopback(cluster)
    known_hosts = _known_hosts(cluster, accept_new)
    secret = ensure_secret_file(cluster.secret_file)
    _check_running_master_secret(cluster, secret)
    wheels = _wheels(bootstrap)
    try:
        rows = [_start_master(cluster, secret, known_hosts, wheels)] if with_master else []
        if not any(row.failed for row in rows):
            rows += _start_workers(cluster, secret, wheels, known_hosts)
            _wait_for_workers(cluster, secret, rows)
    except KeyboardInterrupt:
        raise Cancelled("interrupted: what had started keeps running",
                        f"vega stop-cluster --config {cluster.path} stops it; vega "
                        "start-cluster again starts the rest") from None
    command = "start-cluster" if with_master else "start-workers"
    code = _render(rows, f"{command} ({cluster.path})", known_hosts)
    if with_master and not rows[0].failed:  # what the next commands need: no row says it
        _print_master_url(cluster.master.url, secret)
    return code


def _print_master_url(url: str, secret: str) -> None:
    """The master's URL, as the commands that use it are written (``vega start-master``
    prints it too), with the secret file when it is not the one they read by default:
    ``vega status --secret-file``, ``vega submit --conf vega.secret.file=`` (submit has no
    ``--secret-file`` option: the line used to give it one, and submit refused it)."""
    from vega_runtime.net.connection import default_secret_file

    default = os.path.abspath(secret) == os.path.abspath(default_secret_file())
    named = "" if default else f" --secret-file {quote([secret])}"
    setting = "" if default else f" --conf {quote(['vega.secret.file=' + secret])}"
    click.echo(f"master {url}: vega status --master {url}{named}; "
               f"vega submit --master {url}{setting} JOB.py")


@click.command("start-workers")
@config_option
@bootstrap_option
@accept_option
def start_workers(config: Optional[str], bootstrap: bool, accept_new: bool) -> int:
    """Start every worker of the cluster file (the master must be running)."""
    return _start(config, bootstrap, accept_new, with_master=False)


@click.command("stop-workers")
@config_option
@accept_option
def stop_workers(config: Optional[str], accept_new: bool) -> int:
    """Stop every worker (SIGTERM, then SIGKILL) and check nothing of theirs still runs."""
    cluster = _load(config)
    known_hosts = _known_hosts(cluster, accept_new)
    with _interrupted_stop(cluster, "stop-workers"):
        rows = _stop_workers(cluster, known_hosts)
    return _finish(rows, f"stop-workers ({cluster.path})", known_hosts)


@contextlib.contextmanager
def _interrupted_stop(cluster, command: str):
    """A Ctrl-C while stopping: say that some daemons may still run, and how to go on."""
    try:
        yield
    except KeyboardInterrupt:
        raise Cancelled("interrupted: the daemons being stopped may still run",
                        f"vega {command} --config {cluster.path} again stops what is "
                        "left") from None


@click.command("stop-cluster")
@config_option
@accept_option
def stop_cluster(config: Optional[str], accept_new: bool) -> int:
    """Stop the workers, then the master."""
    cluster = _load(config)
    known_hosts = _known_hosts(cluster, accept_new)
    master = cluster.master
    with _interrupted_stop(cluster, "stop-cluster"):
        rows = _stop_workers(cluster, known_hosts)
        host = _master_host(cluster, known_hosts)
        rows.append(_stop(host, cluster.master_python() or local_python(), "master",
                          f"{master.work_dir}/run",
                          f"{master.work_dir}/run/master.pid", f"{master.work_dir}/vega-home"))
        if rows[-1].result == "not running":
            _check_master_gone(cluster, rows[-1], isinstance(host, LocalHost))
    return _finish(rows, f"stop-cluster ({cluster.path})", known_hosts)


def _check_master_gone(cluster, row: Row, local: bool) -> None:
    """Fail the master's "not running" row if the cluster's master still answers at its
    address (with the cluster's secret) from another work dir than the cluster file's: a
    relative master.work_dir is taken from the directory vega runs in when the master is
    this machine, so a stop-cluster run from another directory than start-cluster found no
    pid file, said "not running", exit 0, and the master ran on."""
    from vega_runtime.errors import VegaError
    from vega_runtime.net.connection import default_secret_file, load_secret
    from vega_runtime.net.status_request import fetch_master_status

    try:
        secret = load_secret(cluster.secret_file or default_secret_file())
        status = fetch_master_status(cluster.master.host, cluster.master.port, secret or b"",
                                     timeout=3.0)
    except (OSError, VegaError):
        return  # nothing answers there (or not with this cluster's secret)
    token_file = (status.get("master") or {}).get("token_file") or ""
    work_dir = os.path.dirname(token_file) or "its own"
    where = ("run this command from the directory vega start-cluster ran in (a relative "
             "master.work_dir is taken from the current directory), or "
             if local else "on its host, ")
    configured = os.path.abspath(cluster.master.work_dir) if local else cluster.master.work_dir
    row.result, row.failed = (
        f"not running in {configured}, but the cluster's master answers at "
        f"{cluster.master.url} from work dir {work_dir}; NOT STOPPED: {where}vega stop-master "
        f"--work-dir {quote([work_dir])} stops it"), True


def _finish(rows: List[Row], title: str, known_hosts: KnownHosts) -> int:
    if all(row.result == "not running" for row in rows):
        click.echo("nothing was running")
        _print_accepted(known_hosts)
        return 0
    return _render(rows, title, known_hosts)
