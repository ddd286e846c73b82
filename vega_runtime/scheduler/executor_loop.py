"""An executor process's main loop, the same for every master kind.

Tasks run in the main thread while a reader thread watches the driver's
connection, so a ``KillTask`` can interrupt the running task (a signal) and the
executor goes on serving: cancelling a task never costs its executor.  The driver
may send several tasks ahead (``executor_pool.TASKS_IN_FLIGHT``); they wait in the
inbox and run in order, and a ``KillTask`` for one still waiting drops it at once
(reported killed without running).  Results go out through a sender thread, which
sends those that pile up while it waits for its turn in one write.
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
from ..net.messages import (BroadcastData, FetchBroadcast, KillTask, LaunchTask, Shutdown,
                            TaskFinished)
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
    #: guards ``running`` and ``waiting`` between the reader and the task thread
    lock = threading.Lock()
    #: ids of tasks in the inbox, not started; and those killed while waiting (skipped)
    waiting: set = set()
    dropped: set = set()
    #: the id of a running task a KillTask was signalled for
    doomed = {"task_id": None}
    outbox = _Outbox(conn)

    def fetch_broadcast(broadcast_id: int, path: str) -> bytes:
        conn.send(FetchBroadcast(broadcast_id, path))
        return replies.get().data

    executor.fetch_broadcast = fetch_broadcast

    def interrupt(signum, frame):
        if doomed["task_id"] is not None and doomed["task_id"] == running["task_id"]:
            raise TaskKilled()  # else the task it was meant for has ended already

    signal.signal(signal.SIGUSR1, interrupt)

    def kill(task_id: int) -> None:
        with lock:
            if running["task_id"] == task_id:
                doomed["task_id"] = task_id
                os.kill(os.getpid(), signal.SIGUSR1)
            elif task_id in waiting:
                waiting.discard(task_id)
                dropped.add(task_id)
                outbox.put(TaskFinished(task_id, "killed"))

    def read() -> None:
        try:
            while True:
                message = conn.recv()
                if isinstance(message, KillTask):
                    kill(message.task_id)
                elif isinstance(message, BroadcastData):
                    replies.put(message)
                else:
                    if isinstance(message, LaunchTask):
                        with lock:
                            waiting.add(message.task_id)
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
        while True:
            message = inbox.get()
            if not isinstance(message, LaunchTask):
                if isinstance(message, Shutdown):
                    outbox.flush()
                return message
            with lock:
                if message.task_id in dropped:  # killed while it waited: reported already
                    dropped.discard(message.task_id)
                    continue
                waiting.discard(message.task_id)
                running["task_id"] = message.task_id
                running["task"] = f"{message.stage_id}.{message.partition}"
            return message

    def send(message) -> None:
        with lock:
            running["task_id"] = None
            doomed["task_id"] = None
        outbox.put(message)

    while True:
        try:
            serve_tasks(executor, next_message, send)
            return 0
        except TaskKilled:
            killed = running["task_id"]
            if killed is not None:
                send(TaskFinished(killed, "killed"))
        except MemoryError:
            break  # out of the handler: the failed task's frames (and memory) are freed
        finally:
            outbox.flush()
    sys.stderr.write(f"executor {executor.executor_id} exceeded its "
                     f"{binary_size(executor.memory_limit)} memory limit (RLIMIT_DATA) while "
                     f"running task {running['task']}: MemoryError; stopping with exit code "
                     f"{MEMORY_LIMIT_EXIT_CODE}\n")
    sys.stderr.flush()
    return MEMORY_LIMIT_EXIT_CODE


class _Outbox:
    """Task results on their way to the driver, sent by one thread: results that pile up
    while it waits for its turn (a batch of short tasks) go in one write.  It waits for
    the interpreter's lock at most a switch interval (5 ms) while a task runs, so no
    result waits for the end of the task after it."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self._pending: list = []
        self._ready = threading.Condition(threading.Lock())
        self._sending = False
        threading.Thread(target=self._run, name="results-sender", daemon=True).start()

    def put(self, message) -> None:
        with self._ready:
            self._pending.append(message)
            self._ready.notify_all()

    def flush(self) -> None:
        """Wait until every result put so far is sent (or the connection failed)."""
        with self._ready:
            self._ready.wait_for(lambda: not self._pending and not self._sending)

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._pending)
                batch, self._pending, self._sending = self._pending, [], True
            try:
                self.conn.send_many(batch)
            except OSError:
                pass  # the driver is gone: the reader thread ends the process
            finally:
                with self._ready:
                    self._sending = False
                    self._ready.notify_all()
