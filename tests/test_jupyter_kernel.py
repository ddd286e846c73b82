"""Vega in a real Jupyter kernel (ipykernel, driven by jupyter_client as a notebook server
drives it), not IPython's shell alone (tests/test_notebook.py): the kernel's sys.stdout and
sys.stderr are ZMQ-backed streams, it has threads of its own (ZMQ's IO, heartbeat,
control), an interrupt is a SIGINT from the kernel manager, and output arrives as iopub
messages.  Skipped unless ipykernel and jupyter_client are installed.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import tempfile
import threading

import pytest

from proc_helpers import REPO, clean_env, wait_for

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")


@pytest.fixture(scope="module")
def kernel():
    """A Python kernel whose cells import this checkout's Vega; (its manager, its client)."""
    with tempfile.TemporaryDirectory() as home:  # IPython's history, not the user's
        path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)
        manager = jupyter_client.KernelManager(kernel_name="python3")
        manager.start_kernel(env=clean_env(PYTHONPATH=path, IPYTHONDIR=home),
                             cwd=home)
        client = manager.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            yield manager, client
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=False)


def run_cell(client, code: str, timeout: float = 60) -> tuple:
    """Run ``code`` as a notebook cell: (its status, its streams' text as [(name, text)],
    one per iopub message, with its display data as ("display", {mime type: data}), its
    error's name and value, or None)."""
    streams, error = [], None

    def output(msg) -> None:
        nonlocal error
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "stream":
            streams.append((content["name"], content["text"]))
        elif kind == "display_data":
            streams.append(("display", content["data"]))
        elif kind == "error":
            error = f"{content['ename']}: {content['evalue']}"

    reply = client.execute_interactive(code, output_hook=output, timeout=timeout)
    return reply["content"]["status"], streams, error


def text(streams, name: str = "stdout") -> str:
    return "".join(t for n, t in streams if n == name)


def test_a_local_executors_own_output_goes_to_its_descriptors_not_the_kernels_zmq_streams(kernel, tmp_path):
    """A local[N] executor is forked from the kernel: what it prints outside a task (a thread
    the task started, after the task) goes to its descriptors 1 and 2, which the kernel shows
    in the cell, not through the kernel's ZMQ-backed sys.stdout copied into it (whose locks
    the kernel's threads may hold at the fork, and whose writes from a child open ZMQ
    connections to the kernel, one iopub message per write)."""
    _, client = kernel
    marker = tmp_path / "printed"
    status, streams, error = run_cell(client, f"""
import os, sys, threading, time
from vega_runtime import Context
ctx = Context(master="local[1]", app_name="kernel-fork")
def task(x):
    def after_the_task():
        time.sleep(0.2)  # the task has ended: sys.stdout is the executor's own again
        print("after the task", x)
        sys.stdout.flush()
        with open({str(marker)!r} + ".part", "w") as fh:
            fh.write(type(sys.stdout).__module__ + "." + type(sys.stdout).__name__)
        os.rename({str(marker)!r} + ".part", {str(marker)!r})
    threading.Thread(target=after_the_task).start()
    return x
print(ctx.parallelize([7], 1).map(task).collect())
""")
    assert (status, error) == ("ok", None), streams
    assert text(streams) == "[7]\n"
    wait_for(marker.exists, timeout=30, what="the task's thread to print")
    assert marker.read_text() == "_io.TextIOWrapper"  # ipykernel.iostream.OutStream before
    status, streams, error = run_cell(client, "print(ctx.parallelize(range(4), 2).sum())\n"
                                              "ctx.stop()")
    assert (status, error, text(streams)) == ("ok", None, "6\n")


def test_task_output_reaches_the_cell_and_an_interrupt_cancels_the_job(kernel, tmp_path):
    """On local[2], what tasks print reaches the cell (prefixed, each task's lines in order);
    the kernel's interrupt (SIGINT from the kernel manager) cancels a running job, and the
    next cell's job runs on the same Context."""
    manager, client = kernel
    status, streams, error = run_cell(client, """
from vega_runtime import Context
ctx = Context(master="local[2]", app_name="kernel-interrupt")
def shout(x):
    print("line", x)
    return x
print(ctx.parallelize(range(4), 2).map(shout).collect())
""")
    assert (status, error) == ("ok", None), streams
    lines = text(streams).splitlines()
    assert lines[-1] == "[0, 1, 2, 3]"
    assert sorted(re.sub(r"exec-\d", "exec-N", line) for line in lines[:-1]) == \
        [f"[localhost exec-N 0.{x // 2}] line {x}" for x in range(4)]
    for partition, records in (("0.0]", ["0", "1"]), ("0.1]", ["2", "3"])):  # in order
        assert [line.split()[-1] for line in lines[:-1] if partition in line] == records

    started = tmp_path / "started"
    interrupter = threading.Thread(target=lambda: (
        wait_for(started.exists, timeout=30, what="the long job's tasks"),
        manager.interrupt_kernel()))
    interrupter.start()
    status, streams, error = run_cell(client, f"""
import time
def slow(x):
    open({str(started)!r}, "a").close()
    time.sleep(120)
ctx.parallelize(range(2), 2).map(slow).count()
""", timeout=90)
    interrupter.join()
    assert (status, error) == ("error", "KeyboardInterrupt: job 1 cancelled; its running "
                                        "tasks were stopped")
    status, streams, error = run_cell(client, "print(ctx.parallelize(range(10), 2).sum())\n"
                                              "ctx.stop()")
    assert (status, error, text(streams)) == ("ok", None, "45\n")


def test_many_lines_of_task_output_come_in_a_few_iopub_messages_in_order(kernel):
    """10,000 lines printed by tasks reach the cell whole and in order, stdout and stderr
    lines in their order, in a few iopub messages, as a cell's own prints do (one message
    per line before, each flush waiting for the kernel's IO thread: 10 s and 10,000
    messages, past the rate at which a notebook server drops output)."""
    _, client = kernel
    status, streams, error = run_cell(client, """
import sys
from vega_runtime import Context
ctx = Context(master="local[2]", app_name="kernel-lines")
def shout(records):
    for x in records:
        print("line", x)
    print("to stderr", file=sys.stderr)
    print("last")
    return []
ctx.parallelize(range(10000), 2).map_partitions(shout).count()
print("counted")
ctx.stop()
""")
    assert (status, error) == ("ok", None), streams[-5:]
    # a stream's consecutive messages joined: the kernel sends what it holds every
    # flush_interval, which can fall between the two writes of a print (its text, then "\n")
    joined = [(name, "".join(part for _, part in run))
              for name, run in itertools.groupby(streams, key=lambda stream: stream[0])]
    lines = [(name, line) for name, part in joined for line in part.splitlines()]
    for partition, records in ((0, range(5000)), (1, range(5000, 10000))):
        prefix = f"0.{partition}]"
        assert [(name, line.split("] ")[1]) for name, line in lines if prefix in line] == \
            [("stdout", f"line {x}") for x in records] + [("stderr", "to stderr"),
                                                         ("stdout", "last")]
    assert lines[-1] == ("stdout", "counted")
    assert len(streams) < 100


def test_the_progress_display_shows_styled_html_and_plain_text_without_escape_codes(kernel):
    """With vega_cli.progress:ProgressDisplay (docs/monitoring.md), a stage's lines are
    display data: HTML with the styles, plain text without escape codes (what a frontend
    without HTML shows; the finished line's was wrapped in ESC[2m ... ESC[0m before)."""
    if importlib.util.find_spec("ipywidgets") is not None:
        pytest.skip("with ipywidgets the bars are a widget: only a notebook can show it")
    _, client = kernel
    status, streams, error = run_cell(client, """
from vega_runtime import Context
ctx = Context(master="local", app_name="kernel-progress",
              conf={"vega.listeners": "vega_cli.progress:ProgressDisplay"})
ctx.parallelize(range(4), 2).count()
ctx.stop()
""")
    assert (status, error) == ("ok", None), streams
    shown = [data for name, data in streams if name == "display"]
    assert [re.sub(r"In\[\d+\]:\d+|\d+\.\d+s|app-\S+ ", "X", data["text/plain"]).split(";")[0]
            for data in shown] == ["stage 0 started: count at X, 2 tasks\n",
                                   "stage 0 finished in X: count at X\n",
                                   "Xfinished in X: 1 job, 1 stage, 2 tasks (task time p50 X, "
                                   "max X), shuffle 0 B written / 0 B read, 0 failed task "
                                   "attempts"]
    assert "color: #7f7f7f" in shown[1]["text/html"]  # dim
