"""Task output capture and user-facing tracebacks.

While a task runs, ``sys.stdout``/``sys.stderr`` are replaced by line
buffers that forward each complete line (and whatever is left at the end)
to a sink, tagged with the task id; ``logging`` records inside tasks go to
the task's stderr.  Nothing is lost at the end of a task: ``flush`` runs
before the task reports its outcome.
"""

from __future__ import annotations

import contextlib
import functools
import io
import linecache
import logging
import os
import sys
import threading
import traceback
import types
import weakref
from typing import Callable, Optional

from .errors import VegaError

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: Frames from these directories are Vega's own (the engine and its command line) or
#: the interpreter's way into the job (runpy): none of them is the user's code.
_INTERNAL_DIRS = tuple(os.path.join(d, "") for d in (
    _PACKAGE_DIR, os.path.join(os.path.dirname(_PACKAGE_DIR), "vega_cli")))

#: ``sink(task_id, stream_name, text)``
OutputSink = Callable[[int, str, str], None]


class TaskStream(io.TextIOBase):
    """A text stream that forwards whole lines to a sink.  A line longer than ``limit`` is
    forwarded as it grows, cut where the limit is passed and ended there; the newline that
    later ends it is then no line of its own (``print("x" * 70000)`` gave the line and an
    empty one after it).  A line is forwarded whole: ``flush()`` keeps a line not yet ended
    (``print("Working...", end="", flush=True)``, then ``print("done")``: one line), which
    the task's end (``finish()``) forwards.  A carriage return goes back to its line's start,
    as on a terminal (:func:`overlaid`): a progress bar (``tqdm``'s ``\\r`` updates) is one
    line, its last state.

    >>> sent = []
    >>> stream = TaskStream(0, "stdout", lambda *args: sent.append(args[2]), limit=4)
    >>> print("abcdef", file=stream); print("g", file=stream)
    >>> sent
    ['abcdef\\n', 'g\\n']
    """

    def __init__(self, task_id: int, name: str, sink: OutputSink, limit: int = 1 << 16):
        self.task_id, self.name, self.sink, self.limit = task_id, name, sink, limit
        self._parts: list = []
        self._size = 0
        self._line_cut = False  # the last piece forwarded was a long line's, ended by the cut
        self._buffer: Optional[_TaskBytes] = None

    @property
    def buffer(self) -> "_TaskBytes":
        """As a TextIOWrapper's: bytes written to the stream.  Made when first asked for:
        few tasks write bytes, and made with each stream (a decoder, and a cycle left to
        the garbage collector) it cost every task on ``local`` several microseconds."""
        if self._buffer is None:
            self._buffer = _TaskBytes(self)
        return self._buffer

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._parts.append(text)
        self._size += len(text)
        if "\r" in text:
            self._restart_line()
        if "\n" in text or self._size >= self.limit:
            self._emit(final=False)
        return len(text)

    def _restart_line(self) -> None:
        """The line not yet ended as a terminal shows it so far (:func:`overlaid`): what a
        progress bar's updates leave, not all of them."""
        data = "".join(self._parts)
        start = data.rfind("\n") + 1
        line = overlaid(data[start:])
        if len(line) < len(data) - start:
            data = data[:start] + line
            self._parts, self._size = [data], len(data)

    def _emit(self, final: bool) -> None:
        data = "".join(self._parts)
        if self._line_cut and data.startswith("\n"):  # the end of the line already ended
            data = data[1:]
        self._line_cut = False
        cut = len(data) if final or len(data) >= self.limit else data.rfind("\n") + 1
        if cut:
            piece = data[:cut]
            if not piece.endswith("\n") and not final:  # a long line, cut: ended here
                piece += "\n"
                self._line_cut = True
            if "\r" in piece:
                piece = "\n".join(map(overlaid, piece.split("\n")))
            self.sink(self.task_id, self.name, piece)
        rest = data[cut:]
        self._parts = [rest] if rest else []
        self._size = len(rest)

    def flush(self) -> None:
        """Complete lines are forwarded as they are written; one not yet ended waits."""

    def finish(self) -> None:
        """At the task's end: forward what is left (a last line without its newline)."""
        if self._parts:
            self._emit(final=True)
        self._buffer = None  # (it refers to this stream: no cycle is left to the collector)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def isatty(self) -> bool:
        return False

    mode = "w"  # as a TextIOWrapper's, which a PySpark worker's sys.stdout is
    line_buffering = True  # (lines are forwarded as they end)
    write_through = False

    def reconfigure(self, *, encoding=None, errors=None, newline=None, line_buffering=None,
                    write_through=None) -> None:
        """``sys.stdout.reconfigure(encoding="utf-8")``, which scripts and libraries call
        (it raised AttributeError in a task): nothing to change, a task's text is sent as
        text and encoded where it is shown."""

    def fileno(self) -> int:
        """This process's descriptor of the stream (1 or 2), as a Python worker's
        ``sys.stdout`` has, for libraries that need one (``faulthandler.enable()``,
        ``subprocess.run(..., stdout=sys.stdout)``): what is written there goes where a
        task's child process's output goes (the terminal on ``local`` and ``local[N]``, the
        executor's log on a cluster), without the task's prefix."""
        return 1 if self.name == "stdout" else 2


def overlaid(line: str) -> str:
    """``line`` as a terminal shows it: a carriage return goes back to the line's start,
    what follows it written over what was there; one that ends the line is kept (a
    ``\\r\\n``, or the next update's to come).

    >>> overlaid("step 10\\rdone"), overlaid("\\r 50%|#  |\\r100%|###|"), overlaid("a\\r")
    ('done 10', '100%|###|', 'a\\r')
    """
    body = line.rstrip("\r")
    if "\r" not in body:
        return line
    shown = ""
    for segment in body.split("\r"):
        shown = segment + shown[len(segment):]
    return shown + line[len(body):]


class _TaskBytes(io.BufferedIOBase):
    """A task stream's ``buffer`` (``sys.stdout.buffer.write(b"...")``): the bytes are
    decoded as UTF-8 into the text stream, a character split between two writes whole, an
    undecodable byte as U+FFFD (as PySpark decodes what a pipe prints)."""

    def __init__(self, text: TaskStream):
        import codecs

        self._text = text
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)  # (a bytearray, a memoryview)
        self._text.write(self._decoder.decode(data))
        return len(data)

    def flush(self) -> None:
        self._text.flush()


class OutputCapture:
    """Redirect stdout, stderr and root logging to a sink for one task.

    In an executor process (``per_thread=False``) ``sys.stdout``/``sys.stderr`` are the
    task's for every thread of the process, and the root logger's handlers are swapped for
    one writing to the task's stderr.  In the driver's own process (``local``: the task
    runs in a thread of the driver, ``per_thread=True``), only the task's thread and the
    threads it starts write to the task's streams (and its log records to its stderr, and
    it reads an empty stdin); the driver's other threads print, log and read as before.
    """

    _STREAMS = {"out": "stdout", "err": "stderr"}

    def __init__(self, task_id: int, sink: OutputSink, per_thread: bool = False):
        self.task_id, self.sink, self.per_thread = task_id, sink, per_thread
        #: (``per_thread``) the task whose thread this one runs in, if any (``_Routing.enter``)
        self.outer: Optional["OutputCapture"] = None

    def __getattr__(self, name: str) -> TaskStream:
        """``out`` and ``err``, each made when first used: in the driver's process, when the
        task first writes to it (most short tasks never do)."""
        stream = self._STREAMS.get(name)
        if stream is None:
            raise AttributeError(name)
        # (``setdefault``: two of the task's threads writing at once get the same stream)
        return self.__dict__.setdefault(name, TaskStream(self.task_id, stream, self.sink))

    def __enter__(self) -> "OutputCapture":
        if self.per_thread:
            _ROUTING.enter(self)
            return self
        root = logging.getLogger()
        self._saved = sys.stdout, sys.stderr, root.handlers
        sys.stdout, sys.stderr = self.out, self.err
        root.handlers = [_TASK_LOG_HANDLER]
        return self

    def __exit__(self, *exc) -> None:
        try:
            for name in self._STREAMS:
                stream = self.__dict__.get(name)
                if stream is not None:
                    stream.finish()
        finally:
            if self.per_thread:
                _ROUTING.leave(self)
            else:
                sys.stdout, sys.stderr, logging.getLogger().handlers = self._saved


class _Routing:
    """The driver's ``sys.stdin``/``stdout``/``stderr`` and root log handlers while tasks
    run in its process: each looks up the calling thread's task (:class:`OutputCapture`)
    and uses its streams, or what was there before for a thread running no task.  A thread
    started by a task's thread (``threading.Thread.start``, which notes the starting
    thread's task from the first task on: Python 3.11 raises no audit event for it) is the
    task's too, until the task ends.  A ``contextlib.redirect_stdout`` (``_stderr``) begun
    while they are installed is its thread's alone (:meth:`_note_redirects`), as it is in
    a PySpark or ``local[N]`` driver, whose tasks print in other processes: it put its target
    as the process's ``sys.stdout``, where the running tasks' prints went too."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
        self.running = 0
        self.redirects = 0  # redirect_stdout/_stderr of one thread begun while installed
        self.held = 0  # holds keeping them installed between tasks (``hold_task_routing``)
        self.hooked = False  # Thread.start notes the starting thread's task
        self.saved: tuple = ()
        self.installed: tuple = ()

    def current(self) -> Optional[OutputCapture]:
        """The running task whose output the calling thread's is, if any."""
        if not self.running:
            return None
        capture = self.tasks.get(threading.current_thread())
        return capture if capture is not None and capture.running else None

    def enter(self, capture: OutputCapture) -> None:
        with self.lock:
            if not self.hooked:
                self._note_thread_starts()
                self._note_redirects()
                self.hooked = True
            capture.running = True
            # a task's own Context (vega.executor.allow_context) runs its tasks in the task's
            # thread on master local: the outer task's output again once they end (an ended
            # task's capture is not kept: each would hold the one before it)
            outer = self.tasks.get(threading.current_thread())
            capture.outer = outer if outer is not None and outer.running else None
            self.tasks[threading.current_thread()] = capture
            self.running += 1
            if self.running == 1 and self.redirects == 0 and self.held == 0:  # (else still
                self._install()  # installed)

    def leave(self, capture: OutputCapture) -> None:
        with self.lock:
            capture.running = False
            thread = threading.current_thread()
            if capture.outer is not None and capture.outer.running:
                self.tasks[thread] = capture.outer
            elif self.tasks.get(thread) is capture:  # (freed with its task)
                del self.tasks[thread]
            capture.outer = None
            self.running -= 1
            if self.running == 0 and self.redirects == 0 and self.held == 0:
                self._uninstall()

    def hold(self, held: bool) -> None:
        """(``hold_task_routing``.)"""
        with self.lock:
            if not held:
                self.held -= 1
                if self.running == 0 and self.redirects == 0 and self.held == 0:
                    self._uninstall()
                return
            if self.running == 0 and self.redirects == 0 and self.held == 0:
                if not self.hooked:
                    self._note_thread_starts()
                    self._note_redirects()
                    self.hooked = True
                self._install()
            self.held += 1

    def _install(self) -> None:
        root = logging.getLogger()
        if not self.installed:  # made once: a Handler's making takes logging's lock
            self.installed = (_Routed(self, "stdin"), _Routed(self, "out"),
                              _Routed(self, "err"), _RoutedLogHandler(self))
        # ours may be there still: a driver thread that saved sys.stdout while a task ran
        # and put it back after it (routed to themselves, each print recursed)
        handlers = [h for h in root.handlers if h is not self.installed[3]]
        if len(handlers) < len(root.handlers):
            handlers[:0] = self.installed[3].plain
        self.saved = (*(plain_stream(s) for s in (sys.stdin, sys.stdout, sys.stderr)),
                      handlers)
        for routed, plain in zip(self.installed, self.saved):
            routed.plain = plain
        sys.stdin, sys.stdout, sys.stderr = self.installed[:3]
        root.handlers = [self.installed[3]]

    def _uninstall(self) -> None:
        """Put back what was there, unless the driver has since put something else there
        (a ``sys.stdout`` it assigned, handlers it added: kept)."""
        root = logging.getLogger()
        for name, installed in zip(("stdin", "stdout", "stderr"), self.installed):
            if getattr(sys, name) is installed:
                setattr(sys, name, installed.plain)
        added = [h for h in root.handlers if h is not self.installed[3]]
        if len(added) < len(root.handlers):
            root.handlers = self.saved[3] + added
        self.saved = ()  # (the routed keep what they route to: one may still be held)

    def _note_thread_starts(self) -> None:
        start = threading.Thread.start

        @functools.wraps(start)
        def start_as_the_task(thread: threading.Thread) -> None:
            capture = self.current()
            if capture is not None:
                self.tasks[thread] = capture
            start(thread)

        threading.Thread.start = start_as_the_task  # type: ignore[method-assign]

    def _note_redirects(self) -> None:
        """Make a ``contextlib.redirect_stdout`` (``_stderr``) that begins while the routed
        streams are ``sys.stdout``/``stderr`` redirect its own thread only (a task's thread
        too: what the task prints in it goes to its target), and keep them installed until
        it ends; one that began before them and ends while they are installed puts back
        what the threads running no task print to.  A driver's thread capturing a function's
        prints (``with redirect_stdout(buf): f()``, as notebooks and tests do) while a job
        ran on another thread got the running tasks' prints in ``buf``, not on the terminal
        with their prefix."""
        redirect = getattr(contextlib, "_RedirectStream", None)  # (both redirects' base)
        probe = redirect and contextlib.redirect_stdout(None)
        if not all(hasattr(probe, name) for name in ("_stream", "_new_target", "_old_targets")):
            return  # another Python's internals: its redirects stay process-wide, as before
        enter, leave = redirect.__enter__, redirect.__exit__

        @functools.wraps(enter)
        def redirect_this_thread(self_: contextlib._RedirectStream):
            with self.lock:
                routed = getattr(sys, self_._stream)
                if not isinstance(routed, _Routed):
                    return enter(self_)
                ident = threading.get_ident()
                routed.redirected.setdefault(ident, []).append(self_._new_target)
                self_._old_targets.append(_ThreadRedirect(routed, ident))
                self.redirects += 1
                return self_._new_target

        @functools.wraps(leave)
        def end_redirect(self_: contextlib._RedirectStream, *exc) -> None:
            with self.lock:
                old = self_._old_targets[-1] if self_._old_targets else None
                current = getattr(sys, self_._stream)
                if isinstance(old, _ThreadRedirect):
                    self_._old_targets.pop()
                    old.end(self_._new_target)
                    self.redirects -= 1
                    if self.running == 0 and self.redirects == 0 and self.held == 0:
                        self._uninstall()
                    return
                if isinstance(current, _Routed) and current in self.installed:
                    current.plain = self_._old_targets.pop()  # what no task's thread uses
                    return
            leave(self_, *exc)

        redirect.__enter__ = redirect_this_thread  # type: ignore[method-assign]
        redirect.__exit__ = end_redirect  # type: ignore[method-assign]


class _ThreadRedirect:
    """A ``redirect_stdout`` of one thread while the routed streams are installed (what its
    ``_old_targets`` holds in place of the stream it replaced)."""

    def __init__(self, routed: "_Routed", ident: int) -> None:
        self.routed, self.ident = routed, ident

    def end(self, target) -> None:
        stack = self.routed.redirected[self.ident]
        del stack[len(stack) - 1 - stack[::-1].index(target)]  # (its last: nested, the same)
        if not stack:
            del self.routed.redirected[self.ident]


class _Routed:
    """``sys.stdout`` (``stderr``, ``stdin``) while tasks run in the driver's process: the
    calling thread's task's stream, or ``plain`` (what was there) for any other thread.
    Every attribute is the chosen stream's (``write``, ``buffer``, ``fileno``, ...)."""

    def __init__(self, routing: _Routing, name: str) -> None:
        self._routing, self._name = routing, name
        self.plain = None  # what was there (``_Routing._install``)
        self.redirected: dict = {}  # thread id: its redirect_stdout targets, innermost last

    def _target(self):
        if self.redirected:
            targets = self.redirected.get(threading.get_ident())
            if targets:
                return targets[-1]
        capture = self._routing.current()
        if capture is None:
            return self.plain
        return _no_input() if self._name == "stdin" else getattr(capture, self._name)

    def __getattr__(self, name: str):
        return getattr(self._target(), name)

    def __iter__(self):
        return iter(self._target())

    def write(self, text):
        return self._target().write(text)

    def flush(self) -> None:
        target = self._target()
        if target is not None:
            target.flush()


class _RoutedLogHandler(logging.Handler):
    """The root logger's one handler while tasks run in the driver's process: a task's
    thread's records go to the task's stderr, the others' to the handlers that were there
    (or Python's last resort, as with none)."""

    def __init__(self, routing: _Routing) -> None:
        super().__init__()
        self.routing = routing
        self.plain: list = []  # the handlers that were there (``_Routing._install``)

    def handle(self, record: logging.LogRecord) -> bool:
        if self.routing.current() is not None:
            return _TASK_LOG_HANDLER.handle(record)
        handlers = self.plain or ([logging.lastResort] if logging.lastResort else [])
        for handler in handlers:
            if record.levelno >= handler.level:
                handler.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


_ROUTING = _Routing()


def _forked_in_a_task() -> None:
    """In a process forked while a task ran (a ``multiprocessing`` pool's worker, forked
    by default on Linux): what it prints goes to its own descriptors 1 and 2, as a child
    process's output does.  It went through the task's stream: over the executor's
    connection to the driver, which two processes writing at once broke (the executor
    lost, the task failed attempt after attempt), and on ``local`` through the driver's
    own printer, whose locks another thread may have held at the fork."""
    if isinstance(sys.stdout, (TaskStream, _Routed)) or \
            isinstance(sys.stderr, (TaskStream, _Routed)):
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
    if isinstance(sys.stdin, _Routed):
        sys.stdin = _no_input()


os.register_at_fork(after_in_child=_forked_in_a_task)


def _no_input() -> io.StringIO:
    """A task's stdin in the driver's process: empty (``input()`` raises EOFError at once,
    as in an executor, whose stdin is /dev/null), a new one each time (a task may close it)."""
    return io.StringIO()


def hold_task_routing(held: bool = True) -> None:
    """Keep (``held``) the driver's routed ``sys.stdin``/``stdout``/``stderr`` and root log
    handler installed between the tasks that run in its process, until as many calls with
    ``held=False``: ``local`` runs a task set's tasks one after another, and installing
    them and putting back what was there around each task was most of what its output
    capture cost a tiny task.  Between the tasks every thread prints as it would without
    them (none runs a task)."""
    _ROUTING.hold(held)


def plain_stream(stream):
    """``stream``, or what it routes the threads running no task to when it is the
    driver's ``sys.stdout``/``stderr`` while a task runs in the driver's process."""
    return stream.plain if isinstance(stream, _Routed) else stream


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (the task's stream in a task)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


_TASK_LOG_HANDLER = _CurrentStderrHandler()
_TASK_LOG_HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))


#: Spark's (log4j's) level names, which ``setLogLevel`` takes, as Python's levels
SPARK_LOG_LEVELS = {"ALL": 1, "TRACE": 5, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
                    "WARN": logging.WARNING, "ERROR": logging.ERROR,
                    "FATAL": logging.CRITICAL, "OFF": logging.CRITICAL + 10}


def spark_log_level(name: str) -> int:
    """The Python level of a Spark level name, in any case (Python's own names too); any
    other is Spark's ValueError naming the levels.

    >>> spark_log_level("off") > logging.CRITICAL, spark_log_level("WARNING")
    (True, 30)
    >>> spark_log_level("LOUD")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    ValueError: Supplied level LOUD did not match one of: ALL, DEBUG, ..., TRACE, WARN
    """
    upper = str(name).upper()
    if upper in SPARK_LOG_LEVELS:
        return SPARK_LOG_LEVELS[upper]
    if upper in ("WARNING", "CRITICAL", "NOTSET"):
        return logging.getLevelName(upper)
    raise ValueError(f"Supplied level {name} did not match one of: "
                     f"{', '.join(sorted(SPARK_LOG_LEVELS))}")


def setup_executor_logging(level: int = logging.WARNING) -> None:
    """In an executor process: log records go to the running task's stderr, at Python's
    default level, as in PySpark's Python workers: a task's ``logging.warning`` shows, and
    neither its ``logging.info`` nor a library's INFO lines (``hdfs.client``'s) do, as on
    the ``local`` master, whose tasks log through the driver's (unconfigured) logging."""
    root = logging.getLogger()
    root.handlers = [_TASK_LOG_HANDLER]
    root.setLevel(level)
    for name in _VEGA_LOGGERS:  # a forked local[N] executor's are its driver's
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def setup_driver_logging() -> None:
    """In ``vega submit``'s and ``vega shell``'s driver: Vega's own records (its loggers',
    ``vega_runtime.*`` and ``vega_cli.*``) go to stderr as ``vega: LEVEL message``, from
    WARNING on (``Context.set_log_level`` changes that); the root logger is left to the
    job, as under ``python job.py`` or ``spark-submit`` (it was configured here, and a
    job's ``logging.basicConfig(level=logging.INFO, format=...)`` did nothing: its INFO
    records were dropped, its warnings shown as ``vega: WARNING ...``)."""
    handler = _VegaRecords()
    handler.setFormatter(logging.Formatter("vega: %(levelname)s %(message)s"))
    for name in _VEGA_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False  # not again through the job's handlers
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


_VEGA_LOGGERS = ("vega_runtime", "vega_cli")


class _VegaRecords(logging.StreamHandler):
    """Vega's own records in a driver: on stderr, but a task's (``local``: run in the
    driver's process) in the task's stderr, as in an executor."""

    def handle(self, record: logging.LogRecord) -> bool:
        if _ROUTING.current() is not None:
            return _TASK_LOG_HANDLER.handle(record)
        return super().handle(record)


#: This process's copies of the user's source files (``--py-files`` staged for a local
#: master, a job package extracted on a worker) and the paths the user knows them by.
_SOURCE_NAMES: dict = {}


def name_sources(copies: dict) -> None:
    """Show each copy ``{copy: original}`` under its original path in tracebacks.

    ``linecache`` serves the copy's lines under the original name too, so a task on a
    host that lacks the user's files still shows the failing line of source.
    """
    for copy, original in copies.items():
        _SOURCE_NAMES[copy] = original
        try:
            lines = _source_lines(copy)
        except OSError:
            continue
        linecache.cache[original] = (sum(map(len, lines)), None, lines, original)


def _source_lines(path: str) -> list:
    """The lines of the Python source ``path`` as Python reads it: in the encoding its
    coding line (PEP 263) or BOM declares, else UTF-8; what does not decode is U+FFFD."""
    import tokenize

    with open(path, "rb") as fh:
        try:
            encoding, _ = tokenize.detect_encoding(fh.readline)
        except SyntaxError:  # an unknown encoding named: as UTF-8
            encoding = "utf-8"
        fh.seek(0)
        return io.TextIOWrapper(fh, encoding, errors="replace").readlines()


def user_stack(exc: BaseException) -> traceback.StackSummary:
    """The frames of ``exc``'s traceback that are the user's code, named as the user knows them."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_INTERNAL_DIRS) and not _is_runpy(f.filename)]
    for frame in frames:
        frame.filename = _SOURCE_NAMES.get(frame.filename, frame.filename)
    return traceback.StackSummary.from_list(frames)


#: The error :func:`hide_vega_frames` last cut, the frame it was cut at and the frames cut
#: (as text, holding no frame): what ``--debug`` puts back (:func:`whole_stack`).
_LAST_CUT: list = []


def hide_vega_frames(exc: BaseException) -> BaseException:
    """``exc``, leaving the public API method whose frame is the first of its traceback,
    without the frames under it that only the engine ran through: a traceback (Python's,
    IPython's, a notebook's) then shows the user's call and the message, not pages of the
    scheduler. A ``VegaError`` or Ctrl-C loses every frame of Vega's (and of the libraries
    Vega called): its message says what happened. Another error keeps its frames from the
    first one of the user's on (a function of the user's the driver ran, and what that
    called); with none of the user's, it keeps them all (an error in Vega itself)."""
    cut_at = exc.__traceback__
    if cut_at is None:
        return exc
    ours = isinstance(exc, (VegaError, KeyboardInterrupt))
    outside = _INTERNAL_DIRS + _library_dirs() + ("<frozen ",)
    kept, users = [], False
    entry = cut_at.tb_next
    while entry is not None:
        filename = entry.tb_frame.f_code.co_filename
        users = users or not filename.startswith(outside)
        if users and not (ours and filename.startswith(_INTERNAL_DIRS)):
            kept.append(entry)
        entry = entry.tb_next
    if not ours and not kept:
        return exc.with_traceback(cut_at.tb_next)
    _LAST_CUT[:] = [exc, cut_at.tb_frame, traceback.StackSummary.extract(
        traceback.walk_tb(cut_at), lookup_lines=False)]  # lines read if --debug prints them
    tb = None
    for entry in reversed(kept):
        tb = types.TracebackType(tb, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return exc.with_traceback(tb)


def whole_stack(exc: BaseException) -> Optional[traceback.StackSummary]:
    """Every frame of ``exc``'s traceback, those :func:`hide_vega_frames` cut included, or
    None when none were cut from it."""
    if not _LAST_CUT or _LAST_CUT[0] is not exc:
        return None
    _, cut_frame, cut = _LAST_CUT
    above, entry = [], exc.__traceback__
    while entry is not None and entry.tb_frame is not cut_frame:
        above.append(entry)
        entry = entry.tb_next
    if entry is None:
        return None
    return traceback.StackSummary.from_list(
        list(traceback.extract_tb(above[0], limit=len(above)) if above else []) + list(cut))


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning its caller gives name the user's line: the
    first frame up the stack that is not Vega's."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def _is_runpy(filename: str) -> bool:
    return filename == "<frozen runpy>" or filename.endswith(os.sep + "runpy.py")


def error_text(exc: BaseException) -> str:
    """``str(exc)``, or Python's ``<exception str() failed>`` when the user's ``__str__``
    raises (as a traceback prints it), so reporting a task's error never fails itself.

    >>> class Unprintable(Exception):
    ...     def __str__(self):
    ...         raise RuntimeError
    >>> error_text(ValueError("bad")), error_text(Unprintable())
    ('bad', '<exception str() failed>')
    """
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


def error_summary(exc: BaseException) -> str:
    """The first line of :func:`error_text`, or the type's name when that is empty.

    >>> error_summary(ValueError("bad\\nmore")), error_summary(KeyError())
    ('bad', 'KeyError')
    """
    return (error_text(exc).splitlines() or [type(exc).__name__])[0]


def _library_dirs() -> tuple:
    """The directories of the standard library and installed packages."""
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(os.path.join(paths[k], "") for k in ("stdlib", "platstdlib", "purelib",
                                                       "platlib") if paths.get(k))


def user_traceback(exc: BaseException) -> str:
    """The traceback with Vega's own frames removed (all of it if no frame is the user's);
    for an error Vega raised from the user's (a task's StopIteration), the user's frames;
    none for a Vega error that no file of the user's was on the way to (an HDFS redirect
    refused while reading a text file, say: its message says what to do, and the frames
    left would be the libraries' Vega called)."""
    stack = user_stack(exc)
    cause = exc.__cause__
    while not stack and cause is not None:
        stack, cause = user_stack(cause), cause.__cause__
    if isinstance(exc, VegaError):
        libraries = _library_dirs()
        if all(f.filename.startswith(libraries) or f.filename.startswith("<frozen ")
               for f in stack):
            return ""
    stack = stack or traceback.extract_tb(exc.__traceback__)
    lines = ["Traceback (most recent call last):\n"] + stack.format()
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)
