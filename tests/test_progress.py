"""vega submit's progress display (vega_cli.progress) on a terminal, in a Jupyter notebook
and in plain text: escape codes only where a terminal redraws them.

No Jupyter kernel runs here, so a notebook is rich's Console with ``force_jupyter``:
what rich hands to Jupyter's display is recorded (``record=True``) and read back."""

import builtins
import io
import os
import pty
import re

import pytest
from rich.console import Console

from vega_cli.progress import (LINES, NOTEBOOK, NOTEBOOK_LINES, TERMINAL, ProgressDisplay,
                               display_mode)
from vega_cli.terminal import surely_lines

ESC = "\x1b"


def run_stage(display):
    # the signed-in link: the token is left out of what is printed (job logs are kept)
    display.on_application_start("app-1", "https://m:8080/ui/app.html?app=app-1&token=3f9c")
    display.on_job_start(0, "count")
    display.on_stage_submitted(0, 0, "result stage at job.py:3", 2)
    display.on_task_end(0, 0, "exec-1", True, 0.1)
    display.on_task_end(0, 1, "exec-2", True, 0.1)
    display.on_stage_completed(0, None)
    display.on_job_end(0, None)


def test_how_progress_shows_on_each_kind_of_output():
    assert display_mode(Console(force_jupyter=True), widgets=True) == NOTEBOOK
    assert display_mode(Console(force_jupyter=True), widgets=False) == NOTEBOOK_LINES
    assert display_mode(Console(file=io.StringIO(), force_terminal=True,
                                _environ={"TERM": "xterm"}), widgets=False) == TERMINAL
    assert display_mode(Console(file=io.StringIO(), force_terminal=True,
                                _environ={"TERM": "dumb"}), widgets=True) == LINES
    assert display_mode(Console(file=io.StringIO()), widgets=True) == LINES  # a pipe


@pytest.mark.parametrize("environ", [{}, {"FORCE_COLOR": "1"}, {"FORCE_COLOR": ""},
                                     {"TTY_COMPATIBLE": "1"}, {"TTY_COMPATIBLE": "0"},
                                     {"TERM": "dumb"}])
@pytest.mark.parametrize("ipython", [False, True])
def test_progress_found_plain_without_rich_is_what_rich_finds(monkeypatch, environ, ipython):
    """``surely_lines`` (which spares a job off a terminal rich's import) says plain lines
    only where rich's Console on the same stream, in the same environment, does too; and
    it does say so for a pipe and a closed file in a plain environment."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    if ipython:  # (IPython puts it there; rich looks for it)
        monkeypatch.setattr(builtins, "get_ipython", lambda: None, raising=False)
    controller, terminal_fd = pty.openpty()
    closed = io.StringIO()
    closed.close()
    with os.fdopen(terminal_fd, "w") as terminal, os.fdopen(controller, "rb"):
        streams = {"pipe": io.StringIO(), "closed": closed, "terminal": terminal}
        found = {name: surely_lines(stream) for name, stream in streams.items()}
        for name, stream in streams.items():
            if found[name]:
                assert display_mode(Console(file=stream), widgets=False) == LINES, name
    plain = not ipython and not {"FORCE_COLOR", "TTY_COMPATIBLE"} & {
        name for name, value in environ.items() if value not in ("", "0")}
    assert found == {"pipe": plain, "closed": plain, "terminal": False}


def test_in_a_notebook_progress_is_rich_notebook_output_without_escape_codes():
    stream = io.StringIO()
    notebook = Console(file=stream, force_jupyter=True, record=True, width=100)
    display = ProgressDisplay(notebook)
    display.stderr = stream
    assert display.mode in (NOTEBOOK, NOTEBOOK_LINES)  # NOTEBOOK with ipywidgets installed
    if display.mode == NOTEBOOK:
        return  # the bars are an ipywidgets Output widget: only a notebook can show it
    assert display.progress is None and not display.live
    run_stage(display)
    html = notebook.export_html(clear=False)
    shown = notebook.export_text()
    assert shown.splitlines()[0] == \
        "application app-1: web UI https://m:8080/ui/app.html?app=app-1"
    assert "stage 0 started: result stage at job.py:3, 2 tasks" in shown
    assert "stage 0 finished in " in shown
    assert ESC not in shown and stream.getvalue() == ""  # all of it went to Jupyter's display
    assert "<span" in html and "started: result stage at job.py:" in html  # rich HTML


def test_a_terminal_gets_live_bars_and_a_dumb_one_plain_lines():
    terminal = io.StringIO()
    display = ProgressDisplay(Console(file=terminal, force_terminal=True, width=100,
                                      _environ={"TERM": "xterm"}))
    assert display.mode == TERMINAL
    run_stage(display)
    assert ESC in terminal.getvalue()
    assert "stage 0 finished in " in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())

    dumb = io.StringIO()
    display = ProgressDisplay(Console(file=dumb, force_terminal=True,
                                      _environ={"TERM": "dumb"}))
    display.stderr = dumb
    assert display.mode == LINES
    run_stage(display)
    lines = dumb.getvalue().splitlines()
    assert lines[:2] == ["application app-1: web UI https://m:8080/ui/app.html?app=app-1",
                         "stage 0 started: result stage at job.py:3, 2 tasks"]
    assert lines[2].startswith("stage 0 finished in ") and len(lines) == 3
    assert ESC not in dumb.getvalue()


def test_the_bars_stay_while_another_threads_job_runs():
    """Jobs of two threads overlap: the first one's end leaves the second's bar live (it
    stopped the display, and the second stage's tasks no longer advanced a bar)."""
    terminal = io.StringIO()
    display = ProgressDisplay(Console(file=terminal, force_terminal=True, width=100,
                                      _environ={"TERM": "xterm"}))
    display.on_job_start(0, "count")
    display.on_stage_submitted(0, 0, "first", 1)
    display.on_job_start(1, "collect")
    display.on_stage_submitted(1, 0, "second", 2)
    display.on_task_end(0, 0, "exec-1", True, 0.1)
    display.on_stage_completed(0, None)
    display.on_job_end(0, None)
    display.on_task_end(1, 0, "exec-2", True, 0.1)
    assert display.progress is not None
    assert display.progress.tasks[0].completed == 1  # stage 1's bar (stage 0's went)
    display.on_stage_completed(1, None)
    display.on_job_end(1, None)
    assert display.progress is None


@pytest.mark.parametrize("head", [("", ""), ("vega: error: ", "bold red")])
@pytest.mark.parametrize("text", [
    "plain", "[bold]not markup[/] :x: nor an emoji", "bell\x07 cr\r tab\t form\x0c end",
    "two\nlines", "ends with a newline\n", "", "ünïcödé ✓ 漢字", "  spaces kept  "])
def test_a_notice_written_plain_is_what_rich_prints_to_a_pipe(monkeypatch, text, head):
    """``print_notice`` (errors, warnings) off a terminal writes what rich's Console would
    there, without importing rich: the same characters, markup and emoji codes left as
    they are, the control characters rich drops dropped."""
    from rich.text import Text

    from vega_cli.errors import error_console, print_notice

    plain, pipe = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.__stderr__", plain)
    print_notice(text, style="dim", head=head[0], head_style=head[1])
    monkeypatch.setattr("sys.__stderr__", pipe)
    error_console().print(Text.assemble((head[0], head[1]), (text, "dim")))
    assert plain.getvalue() == pipe.getvalue()
