"""Job listeners: how progress and task output leave the scheduler.

The Context always has an ``OutputPrinter`` (task output to the driver's
terminal, prefixed); ``vega submit`` adds its progress display through the
``vega.listeners`` setting.
"""

from __future__ import annotations

import logging
import sys
from typing import Dict, Iterable, List, Optional, TextIO

from ..logs import plain_stream

log = logging.getLogger(__name__)


def checked_listeners(listeners) -> list:
    """``Context(listeners=...)`` as a list, once known to hold ``JobListener``s: anything
    else is a TypeError at the call, not an AttributeError of the first event sent to it.

    >>> checked_listeners([JobListener()])[0].__class__.__name__
    'JobListener'
    >>> checked_listeners(5)
    Traceback (most recent call last):
    ...
    TypeError: listeners must be JobListeners (vega_runtime.scheduler.listener.JobListener), not int 5
    """
    try:
        given = list(listeners)
    except TypeError:
        given = [listeners]
    wrong = [x for x in given if not isinstance(x, JobListener)]
    if wrong:
        raise TypeError("listeners must be JobListeners (vega_runtime.scheduler.listener."
                        f"JobListener), not {type(wrong[0]).__name__} {wrong[0]!r}"[:200])
    return given


class JobListener:
    """Override what you need; every method is optional."""

    def on_job_start(self, job_id: int, description: str) -> None: ...

    def on_job_stages(self, job_id: int, stage_ids: List[int]) -> None:
        """Every stage of a job's graph, those it will skip (their map output exists) included,
        as Spark's job-start event lists them."""

    def on_job_graph(self, job_id: int, stages: List[dict]) -> None:
        """Every stage of a job's graph as ``stage_graph.stage_info`` describes it (parent
        stages, RDDs and their edges), for event logs and the UI's DAG."""

    def on_stage_submitted(self, stage_id: int, attempt: int, name: str, num_tasks: int) -> None: ...

    def on_task_start(self, stage_id: int, partition: int, task_id: int, attempt: int,
                      executor_id: str, host: str, speculative: bool) -> None:
        """A task attempt was sent to an executor; ``speculative``: a copy of a straggler."""

    def on_task_end(self, stage_id: int, partition: int, executor_id: str, success: bool,
                    duration: float, attempt: int = 0, speculative: bool = False) -> None: ...

    def on_task_killed(self, stage_id: int, partition: int, task_id: int, attempt: int,
                       executor_id: str, speculative: bool, reason: str) -> None:
        """A running attempt was killed while its job went on: another attempt of the
        partition finished first, or its stage was resubmitted.  Its outcome is ignored."""

    def on_speculative_task_submitted(self, stage_id: int, partition: int) -> None:
        """A straggler of the stage gets a copy (Spark's SpeculativeTaskSubmitted)."""

    def on_task_info(self, info: dict) -> None:
        """One finished (or lost) task attempt in full: ids, executor and host, launch and
        finish times (epoch seconds), outcome, error, metrics and cache changes; called right
        after ``on_task_end`` (see ``task_events.task_info``)."""

    def on_stage_completed(self, stage_id: int, failure: Optional[str]) -> None: ...

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None: ...

    def on_task_output(self, prefix: str, stream: str, text: str) -> None: ...

    def on_waiting(self, message: str) -> None: ...

    def on_executor_added(self, executor_id: str, host: str, at: float,
                          resources: Optional[Dict[str, List[str]]] = None) -> None:
        """``at``: when it registered (``time.time()``); between jobs the driver hears of
        executors only when the next job starts, so this is earlier than the call.
        ``resources``: the addresses of the custom resources it holds, by name (``{"gpu":
        ["0"]}``; a listener written before this argument, taking three, is called with
        three)."""

    def on_executor_removed(self, executor_id: str, host: str, reason: str, lost: bool,
                            at: float, cause: str = "") -> None:
        """``reason``: the whole sentence ("executor exec-3 on HOST exceeded its 1 GiB memory
        limit while running task 2.7"); ``lost``: it died or its connection broke; else it was
        released on purpose (dynamic allocation), and its map outputs are still served by its
        worker.  ``at``: when it went (see ``on_executor_added``); ``cause``: an
        ``executor_loss.LossCause`` value or ""."""

    def on_application_start(self, app_id: str, ui_link: Optional[str]) -> None:
        """The Context has started; ``ui_link`` opens its pages in the master's web UI
        (signed in with the token), None where there is no UI (local masters)."""

    def on_application_end(self, summary: dict) -> None:
        """The Context stopped; ``summary`` is its event log's entry in a listing
        (``event_log.summary_of_ends``: the figures counted as it ran, its stages counted,
        ``stage_count``, not listed), or, without a log or with one a failed write cut short,
        the same figures (``run_summary.RunSummary``; a cut log's path is its ``event_log``,
        with ``event_log_failure``, why it was cut, and ``event_log_cut_at``, when, in
        seconds since the epoch)."""

    def on_task_metrics(self, outcome: str, metrics: dict) -> None:
        """``outcome``: success, failed, fetch_failed, lost or killed (a started attempt
        stopped on purpose); ``metrics``: duration and shuffle bytes written/read, as the
        executor measured them."""


def prefix_lines(prefix: str, text: str) -> str:
    """``[host exec-1 3.12] line`` for every line of ``text``: lines end at newlines only
    (``str.splitlines`` also ended them at U+2028, a form feed, a carriage return, ...: one
    line a task printed got two prefixes).

    >>> prefix_lines("[p]", "a\\u2028b\\x0cc\\nd") == "[p] a\\u2028b\\x0cc\\n[p] d\\n"
    True
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return "".join(f"{prefix} {line}\n" for line in lines)


class OutputPrinter(JobListener):
    """Writes task output to the driver's stdout/stderr as they were at start-up.

    Each piece is flushed at once (a pipe's buffer would hold it), except to a stream that
    sends what it holds on its own within a moment, a Jupyter kernel's (ipykernel's
    ``OutStream``, whose ``flush_interval`` says how soon): there a flush per line waits for
    the kernel's IO thread and sends one iopub message per line (20,000 lines took 12-20 s
    and as many messages, past the rate at which a notebook server drops output), where its
    own flushes send a few.  Such a stream is flushed when the other one is written to, so
    that stdout and stderr lines stay in their order."""

    def __init__(self, stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None):
        self.stdout = plain_stream(stdout or sys.stdout)
        self.stderr = plain_stream(stderr or sys.stderr)
        self.closed: set = set()  # streams whose reader has gone
        self._unflushed: Optional[TextIO] = None  # a self-flushing stream written to last

    def on_task_output(self, prefix: str, stream: str, text: str) -> None:
        if stream in self.closed:
            return
        out = self.stderr if stream == "stderr" else self.stdout
        lines = prefix_lines(prefix, text)
        try:
            if self._unflushed is not None and self._unflushed is not out:
                self._unflushed.flush()  # its lines before these
            self._unflushed = None
            try:
                out.write(lines)
            except UnicodeEncodeError:  # a terminal of another encoding (ASCII, Latin-1):
                encoding = getattr(out, "encoding", None) or "ascii"  # as Python's \xe9
                out.write(lines.encode(encoding, "backslashreplace").decode(encoding))
            if flushes_itself(out):
                self._unflushed = out
            else:
                out.flush()
        except BrokenPipeError:  # vega submit job.py | head -1: the tasks run on, their
            self.closed.add(stream)  # output dropped (Spark's never reaches the driver)

    def flush(self) -> None:
        """Send what a self-flushing stream still holds (before what comes after the job's
        output: the cell's own prints, a progress line)."""
        unflushed, self._unflushed = self._unflushed, None
        if unflushed is not None:
            unflushed.flush()

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        self.flush()


def flushes_itself(stream) -> bool:
    """Whether ``stream`` sends what is written to it on its own within a moment: a Jupyter
    kernel's ``OutStream`` (its ``flush_interval``, in seconds), not a file or a terminal.

    >>> import io
    >>> flushes_itself(io.StringIO()), flushes_itself(sys.__stderr__)
    (False, False)
    """
    interval = getattr(stream, "flush_interval", None)
    return isinstance(interval, (int, float)) and 0 < interval <= 1


class ListenerBus(JobListener):
    """Fans every event out to a list of listeners (``listeners``: others append to it).

    The user's listeners (``users``: ``Context(listeners=...)``, ``vega.listeners``) are
    isolated as Spark's bus isolates every listener: what one raises is logged, once per
    listener and event, and the job, the other listeners and its later events go on.  The
    engine's own listeners are not: an error of theirs is a bug, and fails the job.

    Each event's fan-out is worked out once per set of listeners: only the listeners that
    override the event's method are called (a scheduler of short tasks sends four
    task-level events per task to half a dozen listeners, most of which ignore them)."""

    def __init__(self, listeners: List[JobListener], users: Iterable[JobListener] = ()):
        self.listeners = list(listeners)
        self._users = {id(listener) for listener in users}
        self._logged: set = set()  # (listener id, event) whose error was logged
        self._fan_outs: dict = {}
        self._fan_outs_for: list = []  # the listeners _fan_outs were made for

    def __getattribute__(self, name: str):
        if name.startswith("on_"):
            state = object.__getattribute__(self, "__dict__")
            listeners = state["listeners"]
            if state["_fan_outs_for"] != listeners:
                state["_fan_outs"], state["_fan_outs_for"] = {}, list(listeners)
            fan_out = state["_fan_outs"].get(name)
            if fan_out is None:
                fan_out = state["_fan_outs"][name] = _fan_out(
                    name, listeners, state["_users"], state["_logged"])
            return fan_out
        return object.__getattribute__(self, name)


def _fan_out(name: str, listeners: List[JobListener], users: set, logged: set):
    """A function calling ``name`` on each listener that does something for it, through
    ``_isolated`` for the ``users`` (``id``s)."""
    ignored = JobListener.__dict__.get(name)
    overriding = [(x, getattr(x, name)) for x in listeners]
    overriding = [(x, _taking_what_it_can(method, ignored)) for x, method in overriding
                  if ignored is None or getattr(method, "__func__", None) is not ignored]
    methods = [_isolated(method, listener, name, logged) if id(listener) in users else method
               for listener, method in overriding]
    if not methods:
        return _ignore
    if len(methods) == 1:
        return methods[0]

    def fan_out(*args):
        for method in methods:
            method(*args)

    return fan_out


#: the flag of a code object whose function takes ``*args``
_VARARGS = 0x04


def _taking_what_it_can(method, declared):
    """``method``, or, if it takes fewer positional arguments than ``declared`` (the
    ``JobListener`` method: a listener written before an argument was added to the event,
    such as ``on_executor_added``'s ``resources``), a function passing it only the first
    ones it takes."""
    # (read from the code objects: ``inspect`` would load ast and dis into every driver)
    code = getattr(getattr(method, "__func__", method), "__code__", None)
    if declared is None or code is None or code.co_flags & _VARARGS:
        return method
    takes = code.co_argcount - (1 if hasattr(method, "__self__") else 0)
    if takes >= declared.__code__.co_argcount - 1:  # (self)
        return method

    def fewer(*args):
        return method(*args[:takes])

    return fewer


def _isolated(method, listener, name: str, logged: set):
    """``method`` (``listener.name``) logging what it raises instead: the first time with its
    traceback (``logged``: the bus's record of those), later ones not at all (an error per
    line of task output would flood the terminal)."""
    def isolated(*args):
        try:
            method(*args)
        except Exception as exc:  # noqa: BLE001 - a user's listener: any bug of it
            if (id(listener), name) not in logged:
                logged.add((id(listener), name))
                log.error("the listener %s raised in %s: %s: %s (ignored, as its later errors "
                          "there will be; the job goes on)", type(listener).__qualname__, name,
                          type(exc).__name__, exc, exc_info=True)

    return isolated


def _ignore(*args) -> None:
    """The fan-out of an event no listener handles."""
