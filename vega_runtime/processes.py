"""Process lifetimes (Linux): tying a process to its parent, ending a process's whole
tree, recognising a Vega daemon behind a pid, and saying how a process ended.

No orphans (DESIGN.md, section 6): executors and drivers die with their parent
(``die_with_parent``), and what they start dies with them.  A task may start a
process that double-forks or calls ``setsid``; such a grandchild leaves the
executor's process group and, normally, re-parents to init.  An executor (and a
cluster-mode driver, and a fork server) therefore makes itself a *child
subreaper* (``become_subreaper``): orphans below it re-parent to it, so its
descendants stay findable from /proc, and ``end_descendants`` kills them all when
it ends.  ``kill_tree`` does the same from outside, for a parent killing a child.
"""

from __future__ import annotations

import _signal as _raw_signal
import _thread
import gc
import logging
import os
import signal
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
#: set by a parent in a child's environment: the child ties itself to that pid (``tie_from_env``)
DIE_WITH_ENV = "VEGA_DIE_WITH_PID"


def _prctl(option: int, value: int) -> bool:
    global _libc_prctl
    try:  # no glibc: nothing to ask
        if _libc_prctl is None:
            _libc_prctl = _bind_prctl()
        return _libc_prctl(option, value, 0, 0, 0) == 0
    except OSError:
        return False


#: libc's ``prctl``, bound on first use (``_bind_prctl``)
_libc_prctl = None


def _bind_prctl():
    """libc's ``prctl`` as a callable returning its int result.

    Bound with ``_ctypes``, the C half of ``ctypes``, alone: importing the ``ctypes``
    package (its ~80 type and helper classes) took 3-9 ms of each forked ``local[N]``
    executor's start-up, before its first task, against ~1 ms so.  The package is the
    fallback if the C module ever lacks what is used here."""
    try:
        import _ctypes

        class CInt(_ctypes._SimpleCData):
            _type_ = "i"

        class CFunction(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = CInt

        class Libc:
            _handle = _ctypes.dlopen("libc.so.6", os.RTLD_NOW | os.RTLD_LOCAL)

        return CFunction(("prctl", Libc))
    except (ImportError, AttributeError, TypeError):
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (no orphans).

    Call it, then check ``os.getppid()``: a parent that died just before is
    not noticed.  The "parent" is the thread that started this process: it must
    live as long as the child (the threads that start executors and drivers wait
    for them).  Does nothing where ``prctl`` is unavailable.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


#: the signals a driver handles in Python to stop (Ctrl-C, a kill, the terminal closed)
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: signals that end a driver (a kill, the terminal closed): while a Context runs, a program
#: that left them at their default action (which kills the process where it stands) gets
#: ``DriverExit`` (``128 + N``) instead, so the running job is cancelled and the Context
#: stopped on the way out, its directory deleted (as Spark's shutdown hooks do; ``vega
#: submit`` and ``vega shell`` install the same handler themselves)
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def exit_on_ending_signals() -> Tuple[int, ...]:
    """The ending signals still at their default action, now raising ``DriverExit`` (only
    the main thread may set handlers: elsewhere none)."""
    from .errors import DriverExit

    if threading.current_thread() is not threading.main_thread():
        return ()
    taken = tuple(s for s in ENDING_SIGNALS if signal.getsignal(s) == signal.SIG_DFL)
    for signum in taken:
        signal.signal(signum, DriverExit.raise_for)
    return taken


def restore_ending_signals(taken: Tuple[int, ...]) -> None:
    """Back to the default action, for those ``exit_on_ending_signals`` took that still have
    its handler."""
    from .errors import DriverExit

    if threading.current_thread() is not threading.main_thread():
        return
    for signum in taken:
        if signal.getsignal(signum) == DriverExit.raise_for:
            signal.signal(signum, signal.SIG_DFL)

#: the longest a daemon's main thread blocks at a time: a signal the kernel hands to another
#: thread does not wake the main thread out of a lock or queue wait, and its Python handler
#: runs only there, once it runs again (``relay_signals`` wakes it at once; this is the
#: backstop)
SIGNAL_CHECK_SECONDS = 0.2


def relay_signals(nudge: Callable[[], None]) -> None:
    """Call ``nudge`` (from a thread of its own) each time a signal with a Python handler
    arrives, whichever thread the kernel hands it to: ``nudge`` wakes the main thread out of
    its wait, and the handler, which only the main thread runs, runs then.  Without it, a
    SIGTERM landing in one of a daemon's other threads waited for the main thread's next
    round (up to ``SIGNAL_CHECK_SECONDS``): a local cluster's master took 0.1-0.2 s to stop
    in one stop of five.  Main thread only (``signal.set_wakeup_fd``); a process forked
    later does not inherit it."""
    import socket

    receiver, sender = socket.socketpair()
    sender.setblocking(False)  # the C handler's write never blocks; a full buffer drops it
    signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
    os.register_at_fork(after_in_child=lambda: signal.set_wakeup_fd(-1))

    def relay() -> None:
        with receiver, sender:  # held here: the sender's descriptor lives as long
            while receiver.recv(64):
                nudge()

    threading.Thread(target=relay, name="signal-relay", daemon=True).start()


class HeldSignals:
    """``STOPPING_SIGNALS`` held back while something must not be cut short (a Context's
    stop, a fork): the first of each that comes is taken when the block ends, its handler
    then raising (``KeyboardInterrupt``, ``DriverExit``) or doing what it does; a second of
    the same kind is taken at once, so a second Ctrl-C still forces.  Handlers run in the
    main thread only: in another thread nothing is held, and nothing can land there.

    >>> try:
    ...     with HeldSignals():
    ...         os.kill(os.getpid(), signal.SIGINT)
    ...         print("not cut short")
    ... except KeyboardInterrupt:
    ...     print("then interrupted")
    not cut short
    then interrupted
    """

    def __init__(self) -> None:
        #: signal -> the handler it had, while held
        self.previous: Dict[int, object] = {}
        #: the held signals that came, in order
        self.came: List[int] = []

    def hold(self) -> "HeldSignals":
        # (``_signal``'s functions: ``signal``'s wrappers of them, converting numbers to and
        # from enums, take ten times as long, and a job's loop holds twice a stage)
        if threading.current_thread() is threading.main_thread():
            for signum in STOPPING_SIGNALS:
                handler = _raw_signal.getsignal(signum)
                if handler not in (None, signal.SIG_IGN):
                    self.previous[signum] = handler
                    _raw_signal.signal(signum, self._came)
        return self

    def _came(self, signum: int, frame) -> None:
        if signum not in self.came:
            self.came.append(signum)
            return
        self.release(take=False)  # a second one: as if nothing were held
        signal.raise_signal(signum)

    def release(self, take: bool = True) -> None:
        """The handlers back; with ``take``, those of the signals that came run now."""
        previous, came = self.previous, self.came
        self.previous, self.came = {}, []
        for signum, handler in previous.items():
            _raw_signal.signal(signum, handler)
        if take:
            for signum in came:
                signal.raise_signal(signum)

    def __enter__(self) -> "HeldSignals":
        return self.hold()

    def __exit__(self, *exc) -> None:
        self.release()


class CtrlCWatch:
    """Whether a Ctrl-C (SIGINT) came while the block ran, to tell it from a KeyboardInterrupt
    the block's own code raised (a task of the ``local`` master, run in the driver's main
    thread, may raise one: in PySpark that fails the task).  The SIGINT handler, when it is
    Python's, is wrapped for the block's time; in another thread no signal lands, so
    nothing came.

    >>> with CtrlCWatch() as watch:
    ...     try:
    ...         raise KeyboardInterrupt
    ...     except KeyboardInterrupt:
    ...         pass
    >>> watch.came
    False
    """

    def __init__(self) -> None:
        self.came = False
        self._previous = None

    def __enter__(self) -> "CtrlCWatch":
        if threading.current_thread() is threading.main_thread():
            handler = signal.getsignal(signal.SIGINT)
            if callable(handler):
                self._previous = handler
                signal.signal(signal.SIGINT, self._came)
        return self

    def _came(self, signum: int, frame) -> None:
        self.came = True
        self._previous(signum, frame)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def fork_holding_signals() -> int:
    """``os.fork()``, ``STOPPING_SIGNALS`` held while it runs: a handler run in one of
    Python's at-fork callbacks (logging's lock release, say) raises there, where the
    exception is printed and dropped ("Exception ignored in...") and the driver carried on.
    Taken once the fork has returned, in the parent; if a handler raises then, the new
    child, which no one would know of, is killed first.  The child takes nothing: what
    came was its parent's.  The child's cyclic garbage collector is on, as a new
    interpreter's, even if its parent forked it while pausing the collector (a Context
    starting up does): it never leaves the block that would turn it back on, and a
    process without it keeps every reference cycle its code makes."""
    held = HeldSignals().hold()
    try:
        pid = os.fork()
    except BaseException:
        held.release()
        raise
    if pid == 0:
        gc.enable()
        held.release(take=False)
        return 0
    try:
        held.release()
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    return pid


#: signals Vega's processes handle in Python (a driver's ``DriverExit``, an executor's
#: ``own_descendants`` and task interruption) that a process forked by user code (a
#: ``multiprocessing`` pool's worker) must not keep: ``_forked_without_our_handlers``
FORKED_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)

#: the forking thread's signal mask from before a fork to after it, on each side
_fork_masks = threading.local()


def _ours(handler) -> bool:
    """Whether a signal handler is one of Vega's (not the user's, nor a default)."""
    module = getattr(handler, "__module__", None) or ""
    return callable(handler) and module.split(".")[0] in ("vega_runtime", "vega_cli")


def _block_across_fork() -> None:
    _fork_masks.mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORKED_DEFAULT_SIGNALS)


def _unblock_after_fork() -> None:
    mask = getattr(_fork_masks, "mask", None)
    if mask is not None:
        _fork_masks.mask = None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _forked_without_our_handlers() -> None:
    """In a forked child: Vega's handlers of ``FORKED_DEFAULT_SIGNALS`` back to the default
    action, as a child of a plain Python process has them, and only then the signals
    unblocked.  A pool's ``terminate()`` SIGTERMs workers it may have forked a moment
    before: one that came before the child's interpreter cleared the signals it had
    caught (in ``PyOS_AfterFork_Child``), or whose handler raised ``DriverExit`` in an
    at-fork callback (which drops it), was lost, and the worker waited forever for a
    queue lock the pool holds (``with Pool(2)`` hung a task in one run of five).  Blocked
    from before the fork, the signal waits in the kernel and kills the child as it would
    a plain one.  Vega's own forks set their handlers after forking."""
    if threading.current_thread() is threading.main_thread():  # always, after a fork
        for signum in FORKED_DEFAULT_SIGNALS:
            if _ours(signal.getsignal(signum)):
                signal.signal(signum, signal.SIG_DFL)
    _unblock_after_fork()


os.register_at_fork(before=_block_across_fork, after_in_parent=_unblock_after_fork,
                    after_in_child=_forked_without_our_handlers)


#: seconds after a stopping signal's exception was dropped before the signal is sent again:
#: the callback that dropped it (microseconds long) is over by then
RETAKE_DELAY = 0.01


def command_title(module: str, argv: Sequence[str]) -> str:
    """The command line ``python -m module ARGV`` a child forked to run ``module`` shows."""
    return " ".join([sys.executable, "-m", module, *argv])


def title_argv(title: str) -> List[str]:
    """The ``sys.argv`` of a child forked with the ``command_title`` ``title``: the module and
    its arguments, as ``python -m`` gives them (with the module's file first), not its
    parent's (a driver's ``job.py ARGS``; a PySpark worker's is its daemon's too).

    >>> title_argv(command_title("vega_runtime.deploy.executor_main", ["--app-id", "a"]))
    ['vega_runtime.deploy.executor_main', '--app-id', 'a']
    >>> title_argv("another title")  # (not a command_title: its words)
    ['another', 'title']
    """
    _, after_m, rest = title.partition(" -m ")
    return (rest if after_m else title).split(" ")


def write_to_own_descriptors() -> None:
    """In a child just forked from its parent: make ``sys.stdout`` and ``sys.stderr`` (and
    ``sys.__stdout__``/``__stderr__``) write to this process's descriptors 1 and 2, as a new
    interpreter's do.  The parent's need not (a Jupyter kernel's are ZMQ-backed streams,
    whose locks its other threads may have held at the fork and whose writes from a child
    open ZMQ connections to the kernel; a ``contextlib.redirect_stdout``'s are objects whose
    copy here nobody reads).  What the child prints then goes where its descriptors do (a
    kernel catches its own descriptors 1 and 2 and shows what they receive in the cell)."""
    sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False,
                                       errors="backslashreplace")


def read_no_input() -> None:
    """In a child just forked from its parent: read nothing from the parent's stdin (the
    terminal of a ``vega submit``, which a task's ``input()`` waited on, its prompt unseen,
    until the user typed a line): descriptor 0 and ``sys.stdin`` are /dev/null, as a
    worker's executor's are, and ``input()`` raises EOFError at once."""
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    sys.stdin = sys.__stdin__ = open(0, "r", closefd=False)


def take_lost_signals_again() -> None:
    """Chain a ``sys.unraisablehook`` that sends a stopping signal again when its handler's
    exception (``KeyboardInterrupt``, a ``DriverExit`` with its ``signum``) was raised where
    Python drops exceptions: a weakref callback (importlib's module locks' run at the end of
    every import), a ``__del__``.  A Ctrl-C or kill landing there was lost ("Exception
    ignored in: <function _get_module_lock.<locals>.cb>... KeyboardInterrupt") and the job
    ran on; sent again, it is taken once that callback is over.  Other exceptions go to the
    hook that was there."""
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        signum = _stopping_signal(unraisable.exc_value)
        if signum is None:
            previous(unraisable)
            return
        # a bare thread, not a Timer: Timer.start waits until its thread runs, and a signal
        # sent again meanwhile (a main thread without CPU for RETAKE_DELAY) was taken here,
        # in the hook, where Python drops it too
        try:
            _thread.start_new_thread(_send_again, (signum,))
        except BaseException as exc:  # a stopping signal's handler raised in the hook
            again = _stopping_signal(exc)
            if again is None:
                raise
            _thread.start_new_thread(_send_again, (again,))

    sys.unraisablehook = hook


def _send_again(signum: int) -> None:
    time.sleep(RETAKE_DELAY)
    os.kill(os.getpid(), signum)


def _stopping_signal(exc: Optional[BaseException]) -> Optional[int]:
    """The signal whose handler raised ``exc``, if it is one of ``STOPPING_SIGNALS``'."""
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    signum = getattr(exc, "signum", None) if isinstance(exc, SystemExit) else None
    return signum if signum in STOPPING_SIGNALS else None


def tie_from_env() -> bool:
    """``die_with_parent`` if this process's starter asked for it in ``VEGA_DIE_WITH_PID``
    (removed from the environment, so this process's own children are not confused).

    False when the parent named there is already gone: the caller should exit."""
    expected = os.environ.pop(DIE_WITH_ENV, "")
    if not expected:
        return True
    die_with_parent()
    return os.getppid() == int(expected)


def become_subreaper() -> bool:
    """Make this process a child subreaper: descendants orphaned below it (a double-forked
    daemon, say) re-parent to it instead of to init.  False where unsupported."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def children(pid: int) -> List[int]:
    """The child processes of ``pid`` (zombies included), [] if it is gone."""
    found: List[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found.extend(int(child) for child in fh.read().split())
        except OSError:  # the thread ended, or no such file: look through every process
            return _children_by_scan(pid)
    return found


def _children_by_scan(pid: int) -> List[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _stat(int(entry)).get("ppid") == pid:
            found.append(int(entry))
    return found


def _stat(pid: int) -> Dict[str, object]:
    """State and ppid from /proc/PID/stat; {} if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        fields = data[data.rindex(b")") + 2:].split()
        return {"state": fields[0].decode(), "ppid": int(fields[1])}
    except (OSError, ValueError, IndexError):
        return {}


def descendants(pid: int) -> List[int]:
    """Every process below ``pid`` (children, their children, ...), parents first."""
    found, frontier = [], [pid]
    while frontier:
        for child in children(frontier.pop(0)):
            if child not in found:
                found.append(child)
                frontier.append(child)
    return found


def kill_tree(pid: int, include_root: bool = True) -> int:
    """SIGKILL the processes below ``pid`` (and ``pid`` itself with ``include_root``);
    returns how many were signalled.

    Each one is stopped (SIGSTOP) before anything is killed, until no new one
    appears, so a process cannot fork its way out while the tree is taken down,
    and nothing re-parents away from ``pid`` half way.  Processes that orphans
    re-parented to ``pid`` are found only if ``pid`` is a subreaper."""
    doomed: List[int] = []
    if include_root and _signal(pid, signal.SIGSTOP):
        doomed.append(pid)
    while True:
        new = [p for p in descendants(pid) if p not in doomed]
        if not new:
            break
        doomed.extend(p for p in new if _signal(p, signal.SIGSTOP))
        if not any(p in doomed for p in new):
            break  # all vanished meanwhile
    for victim in doomed:
        _signal(victim, signal.SIGKILL)
    return len(doomed)


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the process group ``pgid``; False when no process is left in it."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False


def end_group(proc, grace: float) -> None:
    """End a child that leads its own process group (``start_new_session``) with all it
    started: SIGTERM the group and wait up to ``grace`` seconds for the child; if it
    lingers, SIGKILL its whole tree (``kill_tree``: not yet reaped, its pid is still its
    own); then SIGKILL whatever is left in the group and reap the child.  ``proc`` is a
    ``subprocess.Popen`` or a fork server's ``ForkedProcess``.  The one way Vega ends the
    process groups it started (executors, drivers, a local cluster's daemons)."""
    import subprocess

    if not signal_group(proc.pid, signal.SIGTERM):
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
    signal_group(proc.pid, signal.SIGKILL)  # anything left in its group
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        log.warning("process %d did not exit after SIGKILL", proc.pid)


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


#: one ``end_descendants`` at a time: a thread that finds the driver gone and a SIGTERM
#: handler may both run it, and the handler must not end the process half way through the
#: other's (leaving stopped, orphaned processes); reentrant for a handler that interrupts
#: the same thread
_ENDING = threading.RLock()


def end_descendants(wait: float = 1.0) -> int:
    """Kill every descendant of this process and collect those that became its children
    (waiting up to ``wait`` seconds); call it as this process ends.  Returns how many."""
    with _ENDING:
        return _end_descendants(wait)


def _end_descendants(wait: float) -> int:
    me = os.getpid()
    count = kill_tree(me, include_root=False)
    deadline = time.monotonic() + wait
    while count:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if not children(me) or time.monotonic() > deadline:
                break
            time.sleep(0.01)
    return count


def own_descendants() -> None:
    """Become a subreaper and take every descendant down when this process ends: on a
    normal exit (atexit) and on SIGTERM (after which it dies of SIGTERM as before).

    Paths that leave with ``os._exit`` call ``end_descendants`` themselves; a SIGKILL
    leaves it to the parent (``kill_tree``) or to the subreaper above."""
    import atexit

    if not become_subreaper():
        return
    atexit.register(end_descendants)

    def on_sigterm(signum, frame):
        end_descendants()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)


def end_adopted(known) -> List[int]:
    """For a subreaper whose own children are ``known``: kill every other child (an orphan
    adopted from a child that died without cleaning up) with its tree, and collect the
    adopted ones that have ended.  Returns the pids collected."""
    collected = []
    for child in children(os.getpid()):
        if child in known:
            continue
        if _stat(child).get("state") != "Z":
            kill_tree(child)
        try:
            if os.waitpid(child, os.WNOHANG)[0]:
                collected.append(child)
        except ChildProcessError:
            pass
    return collected


# -- which process a pid is ---------------------------------------------------------------------

def command_line(pid: int) -> List[str]:
    """The argv of ``pid`` ([] if it is gone or a zombie).  A process forked from a fork
    server shows one title string (setproctitle), split here at spaces."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    argv = raw.decode("utf-8", "replace").rstrip("\0").split("\0") if raw else []
    if len(argv) == 1 and " " in argv[0]:
        argv = argv[0].split(" ")
    return argv


def is_vega_daemon(pid: int, role: str) -> bool:
    """Whether ``pid`` runs ``vega ROLE`` (``python -m vega_cli.main ROLE ...``, the ``vega``
    script, or a local cluster's ``python -m vega_runtime.deploy.daemon_main ROLE ...``, the
    title a fork server gives it too), not some process that reuses the pid.

    >>> is_vega_daemon(os.getpid(), "master")
    False
    """
    argv = command_line(pid)
    for index, arg in enumerate(argv[:-1]):
        if arg in ("vega_cli.main", "vega_runtime.deploy.daemon_main") \
                or os.path.basename(arg) == "vega":
            return argv[index + 1] == role
    return False


def pidfile_process(path: str, role: str) -> "tuple[Optional[int], str]":
    """The Vega ``role`` daemon a pidfile names: ``(pid, "")`` if it runs; ``(None, "")`` if
    the file is missing, unreadable or names no live process; ``(None, why)`` if the pid
    belongs to another process (a stale pidfile whose pid was reused), never to be signalled.
    """
    try:
        with open(path) as fh:
            pid = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None, ""
    state = _stat(pid).get("state")
    if state in (None, "Z"):
        return None, ""
    if is_vega_daemon(pid, role):
        return pid, ""
    shown = " ".join(command_line(pid))[:120] or "unknown"
    return None, (f"{path} names pid {pid}, which is not a vega {role} (it runs {shown!r}); "
                  f"it was left alone. The pidfile is stale: remove it")


def work_dir_lock(work_dir: str, role: str) -> str:
    """The file a ``role`` daemon locks in its work dir; it holds the daemon's pid."""
    return os.path.join(work_dir, f"{role}.lock")


def work_dir_daemon(pidfile: str, work_dir: str, role: str) -> "tuple[Optional[int], str]":
    """``pidfile_process(pidfile, role)``, else the ``role`` daemon holding ``work_dir``'s
    lock: one started there by another command (``vega start-master`` where ``vega
    start-cluster`` had started one, or by hand) whose pid is in no pidfile of ours."""
    pid, foreign = pidfile_process(pidfile, role)
    if pid is None and not foreign:
        pid = pidfile_process(work_dir_lock(work_dir, role), role)[0]
    return pid, foreign


def is_stopped(pid: int) -> bool:
    """Whether ``pid`` is stopped by a signal (SIGSTOP, SIGTSTP; ``T`` in /proc): alive, but
    it runs and answers nothing until SIGCONT."""
    return _stat(pid).get("state") == "T"


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not).

    >>> is_alive(os.getpid())
    True
    """
    return _stat(pid).get("state") not in (None, "Z")


def stop_daemon(pid: int, timeout: float, poll: float = 0.05) -> "tuple[bool, bool]":
    """Stop a daemon that is not a child of this process (``vega master``/``worker`` in
    the background): SIGTERM its process group (its own after ``setsid``; never this
    process's), wait ``timeout`` seconds, then SIGKILL the group and wait 5 more.  Returns
    ``(killed, gone)``: whether SIGKILL was needed, and whether the daemon is gone.  Only
    for a pid checked with ``pidfile_process``."""
    killed = False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        killed = sig == signal.SIGKILL
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            break
        if group == os.getpgrp():  # ours too: signal the daemon alone
            if not _signal(pid, sig):
                break
        elif not signal_group(group, sig):
            break
        deadline = time.monotonic() + wait
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(poll)
        if not is_alive(pid):
            break
    return killed, not is_alive(pid)


def describe_exit(status: int) -> str:
    """How a process ended, from its ``os.waitpid`` status, naming a fatal signal.

    >>> describe_exit(11)
    'was killed by signal 11 (SIGSEGV: Segmentation fault)'
    >>> describe_exit(3 << 8)
    'exited with code 3'
    """
    if os.WIFSIGNALED(status):
        return describe_returncode(-os.WTERMSIG(status))
    return describe_returncode(os.WEXITSTATUS(status))


def describe_returncode(code: int) -> str:
    """The same from a ``subprocess`` return code (negative: the signal's number).

    >>> describe_returncode(-9)
    'was killed by signal 9 (SIGKILL: Killed)'
    """
    if code >= 0:
        return f"exited with code {code}"
    number = -code
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown signal"
    return f"was killed by signal {number} ({name}: {signal.strsignal(number)})"


def oom_kill_count() -> int:
    """How many processes the kernel's OOM killer has killed on this host since it booted
    (``oom_kill`` in /proc/vmstat, Linux 4.13+); 0 where that cannot be read."""
    try:
        with open("/proc/vmstat", "rb") as fh:
            for line in fh:
                if line.startswith(b"oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
