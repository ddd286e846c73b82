"""A fork server: one pre-imported process that forks ready-to-run children.

A fresh interpreter needs about 100 ms to import Vega, and a cluster's
start-up pays that for every daemon and executor.  Like PySpark's
``pyspark.daemon``, a fork server imports what its children will need once;
each child is then a fork of it, running in a few milliseconds.  Workers keep
one to start executors; ``local-cluster`` uses one to start its master and
workers.

A forked child keeps the fork server's interpreter settings (its hash seed,
say), so ``ForkServer.launch`` refuses (returns None, the caller starts a
fresh interpreter) when the child's ``PYTHON*`` environment would differ.
A fork server is started as a new interpreter (``spawn``) or forked from a
process with one thread (``fork``), whose imports, and hash seed, it then
shares.

The client talks to the server over a socketpair, in ``net.framing`` frames::

    client -> server  {"type": "launch", "entry": "module:function", "argv": [...],
                       "env": {...}, "log": PATH, "title": TEXT, "tie": bool,
                       "imports": [MODULE, ...]}
    server -> client  {"type": "launched", "pid": N} or {"type": "failed", "reason": TEXT}
    client -> server  {"type": "call", "entry": "module:function", "argv": [...]}
    server -> client  {"type": "called"} or {"type": "failed", "reason": TEXT}
    server -> client  {"type": "exited", "pid": N, "code": C}   (when a child ends)

Each child gets its own session (callers stop children by process group),
``log`` as stdout and stderr, the launch's environment, ``title`` as its
command line in ``ps`` and ``/proc/PID/cmdline`` (as if started fresh), and
with ``tie`` dies when the fork server does.  It runs ``function(argv)`` and
exits with its return value.  The fork server imports a launch's ``imports`` before
forking it (and keeps them for later children).  A ``call`` runs ``function(argv)`` in the fork server
itself, so every child forked after it inherits what it prepared (a local cluster's
TLS contexts, say).  The fork server exits when its client closes
the socket, or (``parent``) when the process that started it dies.

Start-up is staged: a fork server imports its ``preload`` before it serves, then its
``prefetch`` one module at a time while no request waits, so a child that needs little
is forked early (a local cluster's master, which then starts alongside the fork
server importing what the workers need) and the rest is ready by the time it is asked for.

The fork server is a subreaper (``vega_runtime.processes``): when a child dies
without taking its own descendants down (an executor killed with SIGKILL, say),
those re-parent to the fork server, which kills them within ``ADOPTED_CHECK``
seconds and collects them.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from typing import Dict, List, Optional, Sequence

import setproctitle

from .lazy_imports import load_entry_point
from .net.framing import ConnectionClosed, ProtocolError, recv_frame, send_frame
from .processes import (become_subreaper, command_title, die_with_parent, end_adopted,
                        fork_holding_signals, title_argv, write_to_own_descriptors)

log = logging.getLogger(__name__)

#: set (to "1") in the environment of processes that hash with a random seed their fork
#: server took from the process it was forked from (a local cluster's, from its driver): no
#: new interpreter can hash like them, so the executors they start must be forks too
FORK_ONLY_ENV = "VEGA_FORK_ONLY"
#: seconds between two looks for orphans adopted from children that died
ADOPTED_CHECK = 1.0
#: seconds a fork server with modules still to prefetch waits, after answering a request,
#: for the client's next one (a local cluster asks for its master right after its TLS
#: set-up) before it starts an import that would hold that request up
FOLLOW_UP = 0.003


def compatible(env: Dict[str, str], server_env: Dict[str, str]) -> bool:
    """Whether a fork of a server started with ``server_env`` behaves like a fresh
    interpreter started with ``env``: the ``PYTHON*`` variables read at start-up agree."""
    def startup(e: Dict[str, str]) -> Dict[str, str]:
        return {k: v for k, v in e.items() if k.startswith("PYTHON")}

    return startup(env) == startup(server_env)


def single_threaded() -> bool:
    """Whether this process has one thread, counting those started outside Python's
    ``threading`` (``_thread``'s; a library's own, such as OpenBLAS's pool or a CUDA
    runtime's, which a fork would leave in a state its children could not use)."""
    if threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: what Python knows of
        return True


def python_module(module: str) -> List[str]:
    """The command ``python -P -m module``: a fresh interpreter running ``module`` from the
    ``PYTHONPATH`` it is given, without putting its working directory first on the module
    path (``-P``, Python 3.11+), so a driver run from a directory holding another copy of a
    package does not get its daemons and executors from that copy."""
    if sys.version_info >= (3, 11):
        return [sys.executable, "-P", "-m", module]
    return safe_path_module(module)


def safe_path_module(module: str) -> List[str]:
    """``python -P -m module`` for a Python without ``-P`` (3.10): ``-c`` code that takes
    the working directory (``sys.path[0]``, ``''``) off the module path and runs ``module``
    as ``-m`` does (``__main__``, ``sys.argv[0]`` its file, the rest the arguments).  The
    module's name is an argument of its own, as after ``-m``, for whoever reads the command
    line (``processes.is_vega_daemon``)."""
    code = ("import runpy, sys; del sys.path[0]; "
            "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", code, module]


# -- the client's side ----------------------------------------------------------------------

class ForkedProcess:
    """A forked child, with the part of ``subprocess.Popen``'s interface callers use."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: Optional[int] = None
        self._exited = threading.Event()

    def poll(self) -> Optional[int]:
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(f"process {self.pid}", timeout or 0.0)
        return self.returncode  # type: ignore[return-value]

    def _exit(self, code: int) -> None:
        self.returncode = code
        self._exited.set()


class ForkServer:
    """The client's connection to a fork server (see the module docstring)."""

    def __init__(self, sock: socket.socket, env: Dict[str, str], server: "subprocess.Popen | ForkedProcess"):
        self.sock = sock
        self.env = env
        self.server = server
        self.children: Dict[int, ForkedProcess] = {}
        self._lock = threading.Lock()  # one launch at a time: replies come in order
        self._replies: List[dict] = []
        self._reply = threading.Condition()
        self._closed = False
        #: a fork of its client (``fork``), which its children take after, hash seed included
        self.forked = False
        #: the cluster secret whose TLS contexts (``net.tls.cluster_tls``) it inherited from
        #: its client, which made them before forking it: its children share them
        self.tls_secret: Optional[bytes] = None
        threading.Thread(target=self._read, name="forkserver-reader", daemon=True).start()

    @classmethod
    def spawn(cls, env: Dict[str, str], preload: Sequence[str],
              stderr_path: Optional[str] = None, prefetch: Sequence[str] = ()) -> "ForkServer":
        """Start a fork server as a new interpreter with ``env``, importing ``preload``
        (then ``prefetch`` while idle) and tied to this process; what it prints goes to
        ``stderr_path``, else to this process's stderr."""
        ours, theirs = socket.socketpair()
        args = [*python_module(__name__), ",".join(preload), str(os.getpid()),
                ",".join(prefetch)]
        err = open(stderr_path, "ab") if stderr_path else None
        try:
            # a session of its own: a Ctrl-C at the terminal (or a signal to the client's
            # process group) is the client's to handle, not a KeyboardInterrupt mid-preload
            process = subprocess.Popen(args, stdin=theirs, stdout=err or subprocess.DEVNULL,
                                       stderr=err, env=env, start_new_session=True)
        finally:
            if err is not None:
                err.close()
        theirs.close()
        return cls(ours, env, process)

    @classmethod
    def fork(cls, preload: Sequence[str], env: Optional[Dict[str, str]] = None,
             prefetch: Sequence[str] = (),
             path: Optional[List[str]] = None) -> Optional["ForkServer"]:
        """Fork this process into a fork server (sharing what it has imported), tied to it;
        ``env``: the environment its children are to have (this one's by default), which
        ``launch`` holds theirs to; ``path``: its module path, if not this one's.

        Only safe while this process has one thread; None otherwise."""
        if not single_threaded():
            return None
        ours, theirs = socket.socketpair()
        sys.stdout.flush()  # what this process has yet to write is its own, not its children's
        sys.stderr.flush()
        pid = fork_holding_signals()
        if pid == 0:  # the fork server
            code = 1
            try:
                ours.close()
                die_with_parent()
                _forget_parent(path)
                setproctitle.setproctitle(command_title(__name__, [",".join(preload)]))
                code = _serve_after_preload(theirs, preload, prefetch)
            finally:
                os._exit(code)
        theirs.close()
        server = cls(ours, dict(os.environ) if env is None else env, _Reaped(pid))
        server.forked = True
        return server

    def launch(self, entry: str, argv: List[str], env: Dict[str, str], log_path: str,
               title: str, tie: bool = False,
               imports: Sequence[str] = ()) -> Optional[ForkedProcess]:
        """Fork a child running ``entry`` (``module:function``) with ``argv``, once the fork
        server has imported ``imports``; None when the fork server cannot (it is gone, or
        ``env`` needs a fresh interpreter)."""
        if not compatible(env, self.env):
            return None
        request = {"type": "launch", "entry": entry, "argv": argv, "env": env, "log": log_path,
                   "title": title, "tie": tie, "imports": list(imports)}
        with self._lock:
            try:
                send_frame(self.sock, request)
            except OSError:
                return None
            with self._reply:
                while not self._replies and not self._closed:
                    self._reply.wait()
                if not self._replies:
                    return None
                reply = self._replies.pop(0)
        if reply["type"] != "launched":
            log.warning("the fork server could not start %s: %s", entry, reply.get("reason"))
            return None
        return reply["process"]  # (a child that exited at once is no longer in ``children``)

    def call(self, entry: str, argv: List[str]) -> bool:
        """Run ``entry`` (``module:function``) with ``argv`` in the fork server itself, once,
        before the children launched after it are forked; False if it could not."""
        with self._lock:
            try:
                send_frame(self.sock, {"type": "call", "entry": entry, "argv": argv})
            except OSError:
                return False
            with self._reply:
                while not self._replies and not self._closed:
                    self._reply.wait()
                if not self._replies:
                    return False
                reply = self._replies.pop(0)
        if reply["type"] != "called":
            log.warning("the fork server could not run %s: %s", entry, reply.get("reason"))
            return False
        return True

    def _read(self) -> None:
        with contextlib.suppress(OSError, ConnectionClosed, ProtocolError, KeyError):
            while True:  # until the fork server goes away
                message = recv_frame(self.sock, "fork server")
                if message["type"] == "exited":
                    child = self.children.pop(message["pid"], None)
                    if child is not None:
                        child._exit(message["code"])
                    continue
                if message["type"] == "launched":
                    message["process"] = ForkedProcess(message["pid"])
                    self.children[message["pid"]] = message["process"]
                with self._reply:
                    self._replies.append(message)
                    self._reply.notify()
        with self._reply:
            self._closed = True
            self._reply.notify_all()
        if self.children:
            log.warning("the fork server is gone; its children died with it")
        for child in list(self.children.values()):
            child._exit(-signal.SIGKILL)

    @property
    def gone(self) -> bool:
        """Whether the fork server has gone away (its connection ended): it launches no
        more children, and ``close`` reaps it."""
        return self._closed

    def close(self, timeout: float = 5.0) -> None:
        """Stop the fork server (children it tied to itself die with it)."""
        with contextlib.suppress(OSError):  # already gone
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        try:
            self.server.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.server.pid, signal.SIGKILL)
            self.server.wait()


class _Reaped(ForkedProcess):
    """A child forked by this process itself, reaped by ``wait``."""

    def wait(self, timeout: Optional[float] = None) -> int:
        if self.returncode is None:
            fd = os.pidfd_open(self.pid)
            try:
                if not select.select([fd], [], [], timeout)[0]:
                    raise subprocess.TimeoutExpired(f"process {self.pid}", timeout or 0.0)
            finally:
                os.close(fd)
            _, status = os.waitpid(self.pid, 0)
            self._exit(os.waitstatus_to_exitcode(status))
        return self.returncode  # type: ignore[return-value]


# -- the server's side ----------------------------------------------------------------------

def _forget_parent(path: Optional[List[str]]) -> None:
    """In a fork server just forked from its client: drop what is the client's own (its
    terminal's process group, whose Ctrl-C is the client's to handle; its log handlers, which
    write to its files and terminal; its handlers of ending signals; its stdin and stdout)
    and take ``path`` as the module path."""
    os.setsid()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers.clear()
    for ending in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(ending, signal.SIG_DFL)
    null_fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1):
        os.dup2(null_fd, target)
    os.close(null_fd)
    # the client's sys.stdout and sys.stderr need not write to its descriptors 1 and 2 (a
    # contextlib.redirect_stderr, pytest's capture): ours and our children's do, which each
    # child points at its log (a daemon's log went into the client's stream's copy instead)
    write_to_own_descriptors()
    if path is not None:
        sys.path[:] = path


def _serve_after_preload(control: socket.socket, preload: Sequence[str],
                         prefetch: Sequence[str] = ()) -> int:
    with _no_collections():
        for module in preload:
            importlib.import_module(module)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the client decides when we stop
    return serve(control, prefetch)


def serve(control: socket.socket, prefetch: Sequence[str] = ()) -> int:
    """Fork a child per launch request; report each one's exit; end when the client does;
    kill what dead children left behind (they re-parent here); import ``prefetch``, a
    module at a time, while nothing else is to be done."""
    pidfds: Dict[int, int] = {}  # pidfd -> pid
    adopting = become_subreaper()
    idle_imports = list(prefetch)
    answered = False  # a request was just answered: its client's next one may follow

    def client_gone() -> int:
        if adopting:
            end_adopted(set(pidfds.values()))  # last look: nobody else will
        return 0

    while True:
        timeout = (FOLLOW_UP if answered else 0.0) if idle_imports else \
            ADOPTED_CHECK if adopting else None
        answered = False
        ready, _, _ = select.select([control, *pidfds], [], [], timeout)
        if not ready and idle_imports:
            _import(idle_imports.pop(0))
            continue
        if adopting:
            end_adopted(set(pidfds.values()))
        for fd in ready:
            if fd is control:
                try:
                    request = recv_frame(control, "fork server client")
                except (OSError, ConnectionClosed, ProtocolError):
                    return client_gone()
                answer = _call(request) if request.get("type") == "call" else \
                    _fork(request, control, pidfds)
                answered = True
            else:
                pid = pidfds.pop(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                answer = {"type": "exited", "pid": pid, "code": os.waitstatus_to_exitcode(status)}
            try:
                send_frame(control, answer)
            except OSError:  # it went away while we forked or called (a Ctrl-C as it started)
                return client_gone()


def _call(request: dict) -> dict:
    try:
        load_entry_point(request["entry"])(request["argv"])
    except Exception as exc:  # the children will do without what it prepares
        return {"type": "failed", "reason": f"{type(exc).__name__}: {exc}"}
    return {"type": "called"}


@contextlib.contextmanager
def _no_collections():
    """No garbage collection passes while importing: imports make many objects and next
    to no garbage, and each pass would go over all of them (about a tenth of the time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import(module: str) -> Optional[str]:
    """Import ``module`` here, for the children forked from now on; why it failed, if it did
    (each child then imports what it needs itself, and fails as a fresh interpreter would)."""
    try:
        with _no_collections():
            importlib.import_module(module)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _fork(request: dict, control: socket.socket, pidfds: Dict[int, int]) -> dict:
    for module in request.get("imports", ()):
        problem = _import(module)
        if problem is not None:
            return {"type": "failed", "reason": f"cannot import {module}: {problem}"}
    server_pid = os.getpid()
    # what is here now lives as long as the child: its collections need not go over it
    # (nor copy the pages they would touch); Python's advice for forking servers
    gc.freeze()
    try:
        pid = os.fork()
    except OSError as exc:
        return {"type": "failed", "reason": f"fork failed: {exc}"}
    if pid == 0:
        _run_child(request, [control.fileno(), *pidfds], server_pid)
    pidfds[os.pidfd_open(pid)] = pid
    return {"type": "launched", "pid": pid}


def _run_child(request: dict, inherited: List[int], server_pid: int) -> None:
    """In the forked child: run the entry point, then exit without returning."""
    code = 1
    try:
        for fd in inherited:
            os.close(fd)
        os.setsid()
        if request.get("tie"):
            die_with_parent()
            if os.getppid() != server_pid:
                return  # the fork server died before we could tie our fate to it
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # before touching the environment, which setproctitle relocates
        setproctitle.setproctitle(request["title"])
        os.environ.clear()
        os.environ.update(request["env"])
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        for target, source in ((0, null_fd), (1, log_fd), (2, log_fd)):
            os.dup2(source, target)
        os.close(log_fd)
        os.close(null_fd)
        sys.argv = title_argv(request["title"])
        code = load_entry_point(request["entry"])(request["argv"]) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m vega_runtime.forkserver PRELOAD[,PRELOAD...] CLIENT_PID [PREFETCH[,...]]``,
    with the client's end of the socketpair as stdin."""
    preload, client_pid, *rest = sys.argv[1:] if argv is None else argv
    die_with_parent()
    if os.getppid() != int(client_pid):
        return 1  # the client died before we could tie our fate to it
    control = socket.socket(fileno=os.dup(0))
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)  # children get /dev/null as stdin anyway
    os.close(null_fd)
    prefetch = rest[0] if rest else ""
    return _serve_after_preload(control, [m for m in preload.split(",") if m],
                                [m for m in prefetch.split(",") if m])


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # nothing to tear down: skip unloading everything it preloaded
