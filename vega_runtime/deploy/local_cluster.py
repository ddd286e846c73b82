"""``local-cluster[W,C]``: a real master and W workers on loopback, for this Context.

The daemons are separate processes running the ``vega master`` and ``vega
worker`` commands (the full distributed code path, on one machine) with
ephemeral ports and a throwaway secret; they are stopped with the Context.
They are forked from one fork server that has imported the daemons' and the
executors' code once (``vega_runtime.forkserver``; itself a fork of the driver
when it can be), so a local cluster starts in a fraction of the time of
separate interpreters; its workers fork their executors' fork servers from
themselves in turn.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple

from ..errors import VegaError
from ..forkserver import FORK_ONLY_ENV, ForkServer, command_title, python_module
from ..master_url import MasterSpec
from ..private_files import make_private_dir, open_private
from ..processes import signal_group

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0
READY_POLL_SECONDS = 0.001
#: what runs a daemon: ``vega master``/``vega worker`` past the option parsing (the
#: options come ready-made, as JSON), forked by the fork server or run with ``-m``
DAEMON_MODULE = "vega_runtime.deploy.daemon_main"
DAEMON_ENTRY = "vega_runtime.deploy.daemon_main:fork_entry"
#: run by the fork server once it has the cluster's secret, before forking the daemons
PREPARE_TLS = "vega_runtime.net.tls:prepare_cluster_tls"
#: imported by the fork server before it serves: what every daemon needs (configuration,
#: connections, TLS and its sockets, the HTTP server, the codec a first connection to a
#: host name loads), and what the master and the workers both import besides (log files,
#: job packages, executor exits: ~12 modules the master would otherwise import again).
#: The master is forked then and imports the little that is its own, while the fork server
#: imports the workers' and their executors' code (``IMPORTS``: while idle, and before it
#: forks a worker), once for all of them.
PRELOAD = ("vega_runtime.deploy.daemon_main", "vega_runtime.deploy.http_api",
           "vega_runtime.net.tls_socket", "encodings.idna", "vega_runtime.deploy.log_files",
           "vega_runtime.packaging", "vega_runtime.executor_loss", "queue")
#: each daemon's settings besides the options: the master keeps no recovery state (its
#: work dir goes with the application; its fsyncs cost ~10 ms each on a busy disk, and
#: the files they commit make deleting the application's directory slow)
ROLE_ENV = {"master": {"VEGA_MASTER_RECOVERY": "false"}, "worker": {}}
#: the largest data memory (``VmData``) a driver forks its local cluster's fork server with:
#: every daemon and executor would inherit it, and an executor's memory limit counts it
FORK_DATA_LIMIT = 64 << 20
IMPORTS = {"master": (),
           "worker": ("vega_runtime.deploy.worker", "vega_runtime.deploy.metrics",
                      "vega_runtime.deploy.executor_preload")}


class LocalClusterFailed(VegaError):
    def __init__(self, what: str, log_path: str, tail: str):
        super().__init__(what, log_path, tail)
        self.what, self.log_path, self.tail = what, log_path, tail

    def __str__(self) -> str:
        # the log goes with the application's directory when the Context fails to start
        kept = f" (log: {self.log_path})" if os.path.exists(self.log_path) else ""
        return f"local-cluster: {self.what}{kept}: {self.tail}"


def start_forkserver() -> ForkServer:
    """The fork server a local cluster's daemons are forked from: a fork of this driver when
    it can be (``driver_can_fork``), sharing what it has imported, else a new interpreter,
    which takes ~0.1 s of CPU to import what they all need (``PRELOAD``).  A Context starts it
    first thing: it imports while the Context reads its configuration.  What it prints
    (nothing, unless it fails) goes to this stderr.  A forked one inherits the TLS contexts
    of the cluster's secret (``tls_secret``), which the driver makes first: it needs them
    too, and then neither the fork server nor its daemons import TLS or issue certificates
    again."""
    env = _daemon_env()
    if driver_can_fork():
        from ..net.connection import new_secret
        from ..net.tls import cluster_tls

        secret = new_secret()
        cluster_tls(secret)
        forked = ForkServer.fork(PRELOAD, env, IMPORTS["worker"], daemon_path())
        if forked is not None:
            forked.tls_secret = secret
            return forked
    return ForkServer.spawn(env, PRELOAD, prefetch=IMPORTS["worker"])


def driver_can_fork(data_bytes: Optional[int] = None) -> bool:
    """Whether this driver may fork its local cluster's fork server: its data memory
    (``data_bytes``, else its ``VmData``) is under ``FORK_DATA_LIMIT``, so that its executors,
    which would inherit it, are not held to their memory limit (RLIMIT_DATA) with the
    driver's data already counted; and it hashes like a fresh interpreter of the cluster's
    seed (``PYTHONHASHSEED=0``), or like nothing a fresh one could (a random seed: then
    every process of the cluster must be a fork, ``FORK_ONLY_ENV``), not like a fixed seed
    its daemons could not restart with.

    >>> driver_can_fork(FORK_DATA_LIMIT)
    False
    """
    if data_bytes is None:
        data_bytes = _data_memory()
    seeded = sys.flags.hash_randomization == 0 or \
        os.environ.get("PYTHONHASHSEED", "random") == "random"
    return seeded and data_bytes < FORK_DATA_LIMIT


def hashes_with_random_seed(forkserver: ForkServer) -> bool:
    """Whether the processes forked from ``forkserver`` hash with the driver's random seed,
    which no new interpreter can have."""
    return forkserver.forked and sys.flags.hash_randomization != 0


def _data_memory() -> int:
    """This process's data memory (``VmData``: heap and private writable mappings), in bytes;
    0 where ``/proc`` does not say."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _daemon_env() -> Dict[str, str]:
    # Executors see the driver's modules, as Spark's local-cluster shares its classpath;
    # PySpark's default hash seed lets workers fork executors' fork servers from themselves.
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": os.pathsep.join(daemon_path())}
    env.pop("VEGA_SUBMIT_CONF", None)
    return env


def daemon_path(path: Optional[List[str]] = None) -> List[str]:
    """The driver's ``sys.path`` (``path``) for the daemons, the standard library's
    directories first: a module of the job's directory named as one of the standard
    library's (``token.py``, ``code.py``) does not stand in for it in the daemons, as it
    does not in a driver run by ``vega submit``, which has imported the real one.

    >>> stdlib = os.path.dirname(os.__file__)
    >>> daemon_path(["/job", stdlib, "/site"]) == [stdlib, "/job", "/site"]
    True
    """
    stdlib = os.path.dirname(os.__file__)
    version = f"python{sys.version_info[0]}{sys.version_info[1]}.zip"
    entries = [p or os.getcwd() for p in (sys.path if path is None else path)]

    def standard(entry: str) -> bool:
        return entry in (stdlib, os.path.join(stdlib, "lib-dynload")) or \
            entry == os.path.join(os.path.dirname(stdlib), version)

    return [p for p in entries if standard(p)] + [p for p in entries if not standard(p)]


class LocalCluster:
    def __init__(self, spec: MasterSpec, memory: str, directory: str, secret_file: str,
                 forkserver: Optional[ForkServer] = None,
                 worker_settings: Optional[Dict[str, object]] = None,
                 event_log_dir: Optional[str] = None):
        """W workers of C cores (``spec``) and ``memory`` (a size: "2048m") each;
        ``worker_settings``: the workers' settings besides (their custom resources, as
        Spark's local cluster gives its workers the application's spark.worker.*);
        ``event_log_dir``: where the master's history pages read (and its cleaner deletes)
        event logs: the driver's own ``vega.eventlog.dir`` (None: the master's setting)."""
        self.directory = directory
        self.secret_file = secret_file
        #: the daemons (master first), Popen-like; ``names`` and ``log_paths`` alongside
        self.processes: list = []
        self.names: List[str] = []
        self.log_paths: List[str] = []
        make_private_dir(directory)
        from ..config import SUBMIT_CONF_ENV  # (loaded by now: not on the early path)
        from ..net.connection import load_secret

        self.forkserver = forkserver or start_forkserver()
        #: the daemons' processes hash like the driver (forks of it), which has a random seed
        self.fork_only = hashes_with_random_seed(self.forkserver)
        self.env = {**_daemon_env(), "VEGA_SECRET_FILE": secret_file,
                    **({FORK_ONLY_ENV: "1"} if self.fork_only else {})}
        self.role_env = {**ROLE_ENV, "worker": {SUBMIT_CONF_ENV: json.dumps(worker_settings)}
                         if worker_settings else {}}
        # the daemons and their executors inherit the fork server's TLS contexts
        if self.forkserver.tls_secret != load_secret(secret_file):
            self.forkserver.call(PREPARE_TLS, [secret_file])
        ready = os.path.join(directory, "master.ready")
        port = _free_port()  # chosen here so the workers can start alongside the master
        #: launches the workers while the master starts (``wait_started``)
        self._launcher: Optional[threading.Thread] = None
        self._launch_failure: Optional[BaseException] = None
        try:
            self._start("master", "master", {
                "host": "127.0.0.1", "port": port, "webui_port": 0,
                "work_dir": os.path.join(directory, "master"), "ready_file": ready,
                **({} if event_log_dir is None else {"event_log_dir": event_log_dir})})
            workers = [(f"worker-{index + 1}", {
                "master_url": f"vega://127.0.0.1:{port}", "host": "127.0.0.1",
                "webui_port": 0, "port": 0, "cores": spec.cores, "memory": memory,
                "work_dir": os.path.join(directory, f"worker-{index + 1}")})
                for index in range(spec.workers)]
            # the fork server imports the workers' code before it forks them (tens of ms):
            # meanwhile the master starts and the driver can register with it
            self._launcher = threading.Thread(target=self._start_workers, args=(workers,),
                                              name="vega-local-cluster-workers", daemon=True)
            self._launcher.start()
            info = self._wait_ready(ready, 0)
        except BaseException:
            self.stop()  # what did start, and the fork server
            raise
        self.master_port = info["port"]
        self.webui_port = info["webui_port"]
        #: the master's HTTP API token (``deploy.http_api.TOKEN_FILE`` in its work dir)
        with open(os.path.join(directory, "master", "master.token")) as fh:
            self.token = fh.read().strip()
        log.info("local-cluster web UI: %s", self.ui_link)

    @property
    def ui_link(self) -> str:
        """The link that opens this cluster's web UI in a browser (``?token=``)."""
        from ..net.tls import http_scheme

        return f"{http_scheme()}://127.0.0.1:{self.webui_port}/?token={self.token}"

    @property
    def ca_file(self) -> str:
        """The cluster CA's certificate, which the master's HTTPS certificate chains to."""
        from ..net.tls import CA_FILE

        return os.path.join(self.directory, "master", CA_FILE)

    def _start_workers(self, workers: List[Tuple[str, dict]]) -> None:
        try:
            for name, options in workers:
                self._start(name, "worker", options)
        except BaseException as exc:  # told by ``wait_started``
            self._launch_failure = exc

    def wait_started(self) -> None:
        """Wait until every worker is started (they register with the master on their
        own); raises what stopped one from starting."""
        if self._launcher is not None:
            self._launcher.join()
        if self._launch_failure is not None:
            raise self._launch_failure

    def _start(self, name: str, role: str, options: dict) -> None:
        """Start ``vega ROLE`` with ``options``: forked from the fork server, else (it is
        gone) as a new interpreter."""
        log_path = os.path.join(self.directory, f"{name}.log")
        argv = [role, json.dumps(options)]
        env = {**self.env, **self.role_env[role]}
        proc = self.forkserver.launch(DAEMON_ENTRY, argv, env, log_path,
                                      command_title(DAEMON_MODULE, _command_line(role, options)),
                                      tie=True, imports=IMPORTS[role])
        if proc is None and self.fork_only:
            raise LocalClusterFailed(f"the {name} could not be forked: its fork server is "
                                     "gone (it hashes like the driver, which no new "
                                     "interpreter can)", log_path, _tail(log_path))
        if proc is None:
            with open_private(log_path, "ab") as log_file:
                proc = subprocess.Popen([*python_module(DAEMON_MODULE), *argv],
                                        stdin=subprocess.DEVNULL, stdout=log_file,
                                        stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        self.processes.append(proc)
        self.names.append(name)
        self.log_paths.append(log_path)

    def check_running(self) -> None:
        """Raise ``LocalClusterFailed`` for a daemon that has exited (a worker that could not
        start, say for want of the resources it was to have), with the end of its log."""
        for proc, name, log_path in list(zip(self.processes, self.names, self.log_paths)):
            if proc.poll() is not None:
                raise LocalClusterFailed(f"the {name} exited with code {proc.returncode}",
                                         log_path, _tail(log_path))

    def _wait_ready(self, path: str, index: int) -> dict:
        proc, name, log_path = self.processes[index], self.names[index], self.log_paths[index]
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path) as fh:
                    return json.load(fh)
            if proc.poll() is not None:
                raise LocalClusterFailed(f"the {name} exited with code {proc.returncode}",
                                         log_path, _tail(log_path))
            time.sleep(READY_POLL_SECONDS)
        raise LocalClusterFailed(f"the {name} did not start within {START_TIMEOUT:.0f}s",
                                 log_path, _tail(log_path))

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every daemon at once (workers take their executors with them), then
        SIGKILL whatever is left after ``grace`` seconds."""
        if self._launcher is not None:
            # every daemon it starts is in ``processes`` (an interrupted start may not have
            # started it: nothing to wait for then)
            with contextlib.suppress(RuntimeError):
                self._launcher.join()
        for proc in self.processes:
            # a daemon forked a moment ago may not lead its own group yet (making its session
            # is the first thing it does): the signal then goes to it alone, else it would
            # start and run on until the SIGKILL below
            if not signal_group(proc.pid, signal.SIGTERM) and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.processes:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            signal_group(proc.pid, signal.SIGKILL)  # anything left in the group
            proc.wait()
        self.processes = []
        self.forkserver.close()


def _command_line(role: str, options: dict) -> List[str]:
    """``ROLE`` and flags equivalent to ``options`` (what the daemon's title shows, as
    ``vega ROLE`` would take them)."""
    args = [role]
    for key, value in options.items():
        if key == "master_url":
            args.insert(1, value)
        else:
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            lines = fh.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-5:])
