"""The Context's task-output printer (vega_runtime.scheduler.listener.OutputPrinter): when it
flushes the driver's streams."""

from vega_runtime.scheduler.listener import OutputPrinter


class Stream:
    """A driver stream that records its writes and flushes; ``flush_interval`` as a Jupyter
    kernel's (ipykernel's OutStream), which sends what it holds on its own."""

    def __init__(self, name: str, events: list, flush_interval=None):
        self.name, self.events = name, events
        if flush_interval is not None:
            self.flush_interval = flush_interval

    def write(self, text: str) -> int:
        self.events.append((self.name, text))
        return len(text)

    def flush(self) -> None:
        self.events.append((self.name, "flush"))


def test_a_file_or_terminal_is_flushed_after_each_piece_of_task_output():
    """A pipe's buffer would hold task output: each piece is flushed at once."""
    events = []
    printer = OutputPrinter(Stream("out", events), Stream("err", events))
    printer.on_task_output("[h e 0.0]", "stdout", "a\n")
    printer.on_task_output("[h e 0.0]", "stdout", "b\n")
    assert events == [("out", "[h e 0.0] a\n"), ("out", "flush"),
                      ("out", "[h e 0.0] b\n"), ("out", "flush")]


def test_a_kernels_stream_is_flushed_only_before_the_other_stream_and_at_the_jobs_end():
    """A kernel's stream sends on its own: no flush per line (each one an iopub message),
    but one before the other stream is written (their lines' order) and at the job's end
    (before the cell's own prints)."""
    events = []
    printer = OutputPrinter(Stream("out", events, 0.2), Stream("err", events, 0.2))
    printer.on_task_output("[p]", "stdout", "a\n")
    printer.on_task_output("[p]", "stdout", "b\n")
    printer.on_task_output("[p]", "stderr", "c\n")
    printer.on_job_end(0, None)
    printer.on_job_end(1, None)  # nothing held: no flush
    assert events == [("out", "[p] a\n"), ("out", "[p] b\n"), ("out", "flush"),
                      ("err", "[p] c\n"), ("err", "flush")]
