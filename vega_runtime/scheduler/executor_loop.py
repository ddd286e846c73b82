"""An executor process's main loop, the same for every master kind.

Tasks run in the main thread while a reader thread watches the driver's
connection, so a ``KillTask`` can interrupt the running task (a signal) and the
executor goes on serving: cancelling a task never costs its executor.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading

from ..executor_loss import MEMORY_LIMIT_EXIT_CODE, binary_size
from ..net.connection import Connection
from ..net.framing import ConnectionClosed, ProtocolError
from ..net.messages import BroadcastData, FetchBroadcast, KillTask, LaunchTask, TaskFinished
from ..processes import end_descendants
from .executor import Executor, serve_tasks


class TaskKilled(BaseException):
    """Raised in the task thread when the driver kills the running task."""


def serve_cancellable(executor: Executor, conn: Connection) -> int:
    """Run tasks in the main thread while a reader thread watches the driver; returns the
    executor's exit code.

    A ``KillTask`` for the running task interrupts it (a signal, so even a
    sleeping task stops); a closed driver connection ends the process at once.  A task
    that runs out of the executor's memory limit ends it with ``MEMORY_LIMIT_EXIT_CODE``,
    after a line on its log saying so (its worker reports the exit as over the limit).
    """
    inbox: "queue.Queue" = queue.Queue()
    replies: "queue.Queue" = queue.Queue()
    running = {"task_id": None, "task": ""}

    def fetch_broadcast(broadcast_id: int, path: str) -> bytes:
        conn.send(FetchBroadcast(broadcast_id, path))
        return replies.get().data

    executor.fetch_broadcast = fetch_broadcast

    def interrupt(signum, frame):
        raise TaskKilled()

    signal.signal(signal.SIGUSR1, interrupt)

    def read() -> None:
        try:
            while True:
                message = conn.recv()
                if isinstance(message, KillTask):
                    if running["task_id"] == message.task_id:
                        os.kill(os.getpid(), signal.SIGUSR1)
                elif isinstance(message, BroadcastData):
                    replies.put(message)
                else:
                    inbox.put(message)
        except (OSError, ConnectionClosed, ProtocolError):
            end_descendants()
            os._exit(0)  # the driver is gone: nothing left to do, nobody to report to
        except MemoryError:  # a message larger than what is left under the limit
            sys.stderr.write(f"executor {executor.executor_id} ran out of memory reading from "
                             f"its driver; stopping with exit code {MEMORY_LIMIT_EXIT_CODE}\n")
            sys.stderr.flush()
            end_descendants()
            os._exit(MEMORY_LIMIT_EXIT_CODE)

    threading.Thread(target=read, name="driver-reader", daemon=True).start()

    def next_message():
        message = inbox.get()
        if isinstance(message, LaunchTask):
            running["task_id"] = message.task_id
            running["task"] = f"{message.stage_id}.{message.partition}"
        return message

    def send(message) -> None:
        running["task_id"] = None
        conn.send(message)

    while True:
        try:
            serve_tasks(executor, next_message, send)
            return 0
        except TaskKilled:
            send(TaskFinished(running["task_id"] or -1, "killed"))
        except MemoryError:
            break  # out of the handler: the failed task's frames (and memory) are freed
    sys.stderr.write(f"executor {executor.executor_id} exceeded its "
                     f"{binary_size(executor.memory_limit)} memory limit (RLIMIT_DATA) while "
                     f"running task {running['task']}: MemoryError; stopping with exit code "
                     f"{MEMORY_LIMIT_EXIT_CODE}\n")
    sys.stderr.flush()
    return MEMORY_LIMIT_EXIT_CODE
