"""What ``vega submit`` shows while a job runs: stage progress and task output.

On a terminal, rich progress bars (one per running stage) with task output
printed above them; in a Jupyter notebook, rich's notebook output (the bars as a
widget when ipywidgets is installed, else one HTML line per stage started and
finished), never terminal escape codes; otherwise (files, pipes, dumb terminals)
plain lines.  Installed in the job's Context through the ``vega.listeners``
setting (``vega_cli.progress:ProgressDisplay``).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from typing import TYPE_CHECKING, Dict, Optional

from vega_runtime.scheduler.listener import JobListener, OutputPrinter, prefix_lines

from .terminal import surely_lines

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


#: how progress shows (``display_mode``)
TERMINAL, NOTEBOOK, NOTEBOOK_LINES, LINES = "terminal", "notebook", "notebook-lines", "lines"


def display_mode(console: "Console", widgets: bool) -> str:
    """How progress shows on ``console``: live bars redrawn with escape codes on a
    terminal; rich's Jupyter output in a notebook (live bars as a widget when ``widgets``,
    ipywidgets, is there, else HTML lines); plain lines elsewhere (files, pipes, dumb
    terminals)."""
    if console.is_jupyter:
        return NOTEBOOK if widgets else NOTEBOOK_LINES
    if console.is_terminal and not console.is_dumb_terminal:
        return TERMINAL
    return LINES


def _has_ipywidgets() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


class ProgressDisplay(JobListener):
    #: The Context leaves task output to this listener instead of its default printer.
    handles_output = True

    def __init__(self, console: Optional["Console"] = None) -> None:
        """``console``: where to show progress (default: a rich Console on stderr, which
        finds out whether that is a terminal or a Jupyter notebook; none where the lines
        are surely plain: ``surely_lines``)."""
        self.stdout = sys.stdout
        self.stderr = sys.stderr
        self.printer = OutputPrinter(self.stdout, self.stderr)  # task output off a terminal
        self.console = console
        if console is None and surely_lines(self.stderr):
            self.mode = LINES
        else:
            from rich.console import Console

            self.console = console or Console(file=self.stderr, highlight=False,
                                              soft_wrap=True)
            self.mode = display_mode(self.console,
                                     self.console.is_jupyter and _has_ipywidgets())
        if console is None and self.mode == NOTEBOOK_LINES:
            # lines as display data whose plain text has no escape codes (what a frontend
            # without HTML shows: jupyter console, nbconvert's text formats); their HTML
            # keeps the styles.  (The bars of a widget keep their colours: without them
            # rich leaves a bar's unfinished part blank.)
            self.console = Console(file=self.stderr, highlight=False, soft_wrap=True,
                                   force_jupyter=True, color_system=None)
        #: progress bars (redrawn on a terminal, a widget in a notebook)
        self.live = self.mode in (TERMINAL, NOTEBOOK)
        self.progress: Optional[Progress] = None
        self.tasks: Dict[int, int] = {}
        self.started: Dict[int, float] = {}
        self.names: Dict[int, str] = {}
        #: jobs started and not ended (several threads' run at once), and the lock of
        #: starting and stopping the bars
        self.running_jobs = 0
        self.jobs_lock = threading.Lock()

    # -- jobs and stages --------------------------------------------------------
    def on_job_start(self, job_id: int, description: str) -> None:
        with self.jobs_lock:  # (each job's thread calls it)
            self.running_jobs += 1
            if self.live and self.progress is None:
                # (imported here: off a terminal, where most jobs run, no bars are drawn)
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                           TextColumn, TimeElapsedColumn)

                self.progress = Progress(TextColumn("[bold]stage {task.fields[stage]}[/]"),
                                         TextColumn("{task.description}"), BarColumn(),
                                         MofNCompleteColumn(), TimeElapsedColumn(),
                                         console=self.console, transient=True)
                self.progress.start()

    def on_stage_submitted(self, stage_id: int, attempt: int, name: str, num_tasks: int) -> None:
        self.started[stage_id] = time.monotonic()
        label = name + (f" (attempt {attempt + 1})" if attempt else "")
        self.names[stage_id] = label
        if self.progress is not None:
            self.tasks[stage_id] = self.progress.add_task(label, total=num_tasks, stage=stage_id)
        else:
            self._line(f"stage {stage_id} started: {label}, {counted(num_tasks, 'task')}")

    def on_task_end(self, stage_id: int, partition: int, executor_id: str, success: bool,
                    duration: float, attempt: int = 0, speculative: bool = False) -> None:
        if success and self.progress is not None and stage_id in self.tasks:
            self.progress.advance(self.tasks[stage_id])

    def on_stage_completed(self, stage_id: int, failure: Optional[str]) -> None:
        elapsed = time.monotonic() - self.started.pop(stage_id, time.monotonic())
        name = self.names.pop(stage_id, "")
        if self.progress is not None and stage_id in self.tasks:
            self.progress.remove_task(self.tasks.pop(stage_id))
        if failure:
            self._line(f"stage {stage_id} failed after {elapsed:.2f}s: {failure}", "red")
        else:
            self._line(f"stage {stage_id} finished in {elapsed:.2f}s: {name}", "dim")

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        self.printer.flush()
        with self.jobs_lock:
            self.running_jobs = max(0, self.running_jobs - 1)
            if self.progress is not None and not self.running_jobs:  # (other threads' go on)
                self.progress.stop()
                self.progress = None
                self.tasks.clear()

    def on_application_start(self, app_id: str, ui_link: Optional[str]) -> None:
        # the token stays out of job logs: ``--verbose`` prints the signed-in link
        if ui_link:
            from vega_runtime.net.ui_links import without_token

            self._line(f"application {app_id}: web UI {without_token(ui_link)}", "dim")

    def on_application_end(self, summary: dict) -> None:
        """One screen at the end: duration, stages, tasks, shuffle, failed task attempts and
        stage resubmissions, the event log (or ``no event log``: the figures were counted as
        the application ran, with its stages counted, not listed; so too when a failed write
        cut the log short, and the line says where it stops)."""
        if not summary:
            return
        if "stages" in summary:
            stages = len(summary["stages"])
            resubmitted = sum(1 for s in summary["stages"] if s["attempt"])
        else:
            stages, resubmitted = summary["stage_count"], summary["resubmitted_stages"]
        failures = counted(summary['failed_tasks'], "failed task attempt") + (
            f", {counted(resubmitted, 'stage')} resubmitted" if resubmitted else "")
        log = _event_log_text(summary)
        times = summary["task_seconds"]  # (none to tell of when no task finished)
        times = f" (task time p50 {times['p50']:.3f}s, max {times['max']:.3f}s)" \
            if summary["tasks"] else ""
        self._line(f"{summary['app_id']} finished in {summary['duration_seconds']:.2f}s: "
                   f"{counted(summary['jobs'], 'job')}, {counted(stages, 'stage')}, "
                   f"{counted(summary['tasks'], 'task')}{times}, shuffle "
                   f"{_bytes(summary['shuffle_written_bytes'])} written / "
                   f"{_bytes(summary['shuffle_read_bytes'])} read, {failures}; {log}", "dim")

    # -- output ----------------------------------------------------------------
    def on_task_output(self, prefix: str, stream: str, text: str) -> None:
        if self.progress is not None and self.console.is_terminal and _same_terminal(self.stdout, self.stderr):
            self.progress.console.print(prefix_lines(prefix, text), end="", markup=False,
                                        highlight=False)
            return
        self.printer.on_task_output(prefix, stream, text)

    def _line(self, text: str, style: str = "") -> None:
        self.printer.flush()  # the task output before it
        if self.mode != LINES:  # through rich: styled on a terminal, HTML in a notebook
            self.console.print(text, style=style or None, markup=False)
        else:
            self.stderr.write(text + "\n")
            self.stderr.flush()


def _event_log_text(summary: dict) -> str:
    """The end of the summary line: where the event log is, and, when a failed write cut
    it short (the figures are then those counted as the application ran), when (the date
    too, as ``vega history`` gives times: the line may be read days later) and why.

    >>> _event_log_text({"event_log": None})
    'no event log'
    >>> _event_log_text({"event_log": "/d/app-1.jsonl", "event_log_failure": "No space left on device"})
    'event log /d/app-1.jsonl cut short (No space left on device): later events are not in it'
    """
    path = summary["event_log"]
    if path is None:
        return "no event log"
    failure = summary.get("event_log_failure")
    if not failure:
        return f"event log {path}"
    from .status import moment_text

    cut_at = summary.get("event_log_cut_at")
    when = f" at {moment_text(cut_at)}" if cut_at else ""
    return f"event log {path} cut short{when} ({failure}): later events are not in it"


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _same_terminal(a, b) -> bool:
    try:
        return a.isatty() and b.isatty()
    except (AttributeError, ValueError):
        return False


def counted(n: int, noun: str) -> str:
    """``1 task``, ``2 tasks``, ``0 tasks``.

    >>> counted(1, "job"), counted(2, "failed attempt")
    ('1 job', '2 failed attempts')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
