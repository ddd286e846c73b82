"""An executor process's main loop, the same for every master kind.

Tasks run in the main thread while a reader thread watches the driver's
connection, so a ``KillTask`` can interrupt the running task (a signal) and the
executor goes on serving: cancelling a task never costs its executor.  The driver
may send several tasks ahead (``executor_pool.TASKS_IN_FLIGHT``); they wait in the
inbox and run in order, and a ``KillTask`` for one still waiting drops it at once
(reported killed without running).  The task thread sends results itself, several in
one write (``_Outbox``): a thread hand-off and a write per task cost more than a
short task.  The driver's messages about cached blocks and broadcasts (a removal, a
replica to keep) are applied by a thread of their own, in order, beside the running task
(``_apply_block_messages``): a blocking ``unpersist`` hears back at once, or as soon as
the running task's reads of the blocks removed end (the task's thread answers).  A task asks
the executors holding a cached partition it lacks for it
(``_CachedBlockFetcher``): a cluster's executors straight at their block servers
(``serve_cached_blocks``), ``local[N]``'s through the driver, answered from a thread
of its own beside the running task.
"""

from __future__ import annotations

import itertools
import os
import pickle
import queue
import signal
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

from ..errors import VegaError
from ..executor_loss import MEMORY_LIMIT_EXIT_CODE, binary_size
from ..net.connection import Connection
from ..net.endpoints import split_host_port
from ..net.framing import ConnectionClosed, ProtocolError
from ..net.messages import (BarrierSyncReply, BroadcastData, CachedBlock, ExecutorHeartbeat,
                            FetchBroadcast, FetchCachedBlock, KillTask, LaunchTask,
                            RegisteredExecutor, Shutdown, TaskFinished)
from ..processes import end_descendants
from .executor import BLOCK_MESSAGES, Executor, serve_tasks


#: results the task thread holds at most before it sends them (one write)
RESULT_BATCH = 32
#: seconds between the watchdog's looks at held results while results come in: a result
#: is held at most about twice this (plus a switch interval) behind a task that runs long
RESULT_LINGER = 0.002
#: seconds after a KillTask's signal before it is sent again while the task runs on and no
#: interruption came out of it (doubling each time, up to ``KILL_RESEND_MAX``)
KILL_RESEND = 0.05
KILL_RESEND_MAX = 1.0


class TaskKilled(BaseException):
    """Raised in the task thread when the driver kills the running task."""


def serve_cancellable(executor: Executor, conn: Connection,
                      secret: Optional[bytes] = None) -> int:
    """Run tasks in the main thread while a reader thread watches the driver; returns the
    executor's exit code.

    A ``KillTask`` for the running task interrupts it (a signal, so even a
    sleeping task stops; sent again until it has raised ``TaskKilled``: ``send_again``); a
    closed driver connection ends the process at once.  A task
    that runs out of the executor's memory limit ends it with ``MEMORY_LIMIT_EXIT_CODE``,
    after a line on its log saying so (its worker reports the exit as over the limit).
    ``secret``: the cluster's, to fetch cached partitions straight from the executors that
    serve them (``serve_cached_blocks``); None: through the driver only.
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
    outbox = _Outbox(conn, inbox.qsize)

    def fetch_broadcast(broadcast_id: int, path: str) -> bytes:
        conn.send(FetchBroadcast(broadcast_id, path))
        reply = replies.get()
        while reply.broadcast_id != broadcast_id:  # the answer to a killed task's request
            reply = replies.get()
        if reply.error:
            raise VegaError(reply.error)
        return reply.data

    executor.fetch_broadcast = fetch_broadcast
    synced: "queue.Queue" = queue.Queue()  # BarrierSyncReplies

    def barrier_sync(request, timeout: float):
        conn.send(request)
        deadline = time.monotonic() + timeout
        while True:  # (a reply to a killed task's sync may come first: dropped)
            try:
                reply = synced.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no reply within {timeout:g}s") from None
            if reply.task_id == request.task_id and reply.epoch == request.epoch:
                return reply

    executor.barrier_sync = barrier_sync
    executor.fetch_cached_block = fetcher = _CachedBlockFetcher(conn, secret)

    def serve_cached_block(request: FetchCachedBlock) -> None:
        try:
            conn.send(executor.cached_block(request))
        except OSError:
            pass  # the driver is gone: the reader thread ends the process

    #: the id of the doomed task its TaskKilled was raised in (once a task: a second
    #: interruption would cut short the ending of the first), until Python drops it
    raised = {"task_id": None}
    main_thread = threading.main_thread().ident

    def interrupt(signum, frame):
        task_id = doomed["task_id"]
        # else the task it was meant for has ended already, or is ending from it
        if task_id is not None and task_id == running["task_id"] != raised["task_id"]:
            raised["task_id"] = task_id
            raise TaskKilled()

    signal.signal(signal.SIGUSR1, interrupt)
    previous_hook = sys.unraisablehook

    def unraisable_kill(unraisable) -> None:
        """Python dropped what the handler raised (it ran in a ``__del__``, or in the weakref
        callback that ends every import): the task runs on, and the signal is sent again."""
        if isinstance(unraisable.exc_value, TaskKilled):
            raised["task_id"] = None
        else:
            previous_hook(unraisable)

    sys.unraisablehook = unraisable_kill

    def send_again(task_id: int) -> None:
        """Signal the doomed task again until an interruption came out of it: a signal that
        lands as the task thread enters a wait (between releasing the GIL and the wait's
        system call, where another thread took the GIL and sent it) runs no handler until
        that wait ends by itself (a year, for a barrier sync), and Python drops what one
        raises where it drops exceptions (``unraisable_kill``).  Ends with the task."""
        delay = KILL_RESEND
        while True:
            time.sleep(delay)
            with lock:
                if doomed["task_id"] != task_id or running["task_id"] != task_id:
                    return
                if raised["task_id"] != task_id:
                    signal.pthread_kill(main_thread, signal.SIGUSR1)
            delay = min(2 * delay, KILL_RESEND_MAX)

    def kill(task_id: int) -> None:
        with lock:
            if running["task_id"] == task_id:
                if doomed["task_id"] != task_id:  # (a second KillTask for it changes nothing)
                    doomed["task_id"] = task_id
                    threading.Thread(target=send_again, args=(task_id,), name="task-kill",
                                     daemon=True).start()
                # to the main thread, which runs the task: sent to the process, the kernel
                # may hand it to another thread, and a task waiting in one C call (a sleep,
                # a socket read) would see it only when that call returns
                signal.pthread_kill(main_thread, signal.SIGUSR1)
            elif task_id in waiting:
                waiting.discard(task_id)
                dropped.add(task_id)
                outbox.put(TaskFinished(task_id, "killed"), hold=False)

    def read() -> None:
        try:
            while True:
                message = conn.recv()
                if isinstance(message, KillTask):
                    kill(message.task_id)
                elif isinstance(message, BroadcastData):
                    replies.put(message)
                elif isinstance(message, BarrierSyncReply):
                    synced.put(message)
                elif isinstance(message, CachedBlock):
                    fetcher.replies.put(message)
                elif isinstance(message, FetchCachedBlock):  # (pickling it may take a while)
                    threading.Thread(target=serve_cached_block, args=(message,),
                                     name="cached-block", daemon=True).start()
                elif isinstance(message, RegisteredExecutor):
                    send_heartbeats(conn, message.heartbeat_interval)
                elif isinstance(message, BLOCK_MESSAGES):
                    executor.block_message_arrived(message)
                    block_messages.put(message)
                else:
                    if isinstance(message, LaunchTask):
                        executor.task_arrived(message)  # (in the order the driver sent them)
                        with lock:
                            waiting.add(message.task_id)
                    inbox.put(message)
        except (OSError, ConnectionClosed, ProtocolError):
            end_descendants()
            os._exit(0)  # the driver is gone: nothing left to do, nobody to report to
        except MemoryError:  # a message larger than what is left under the limit
            _exit_out_of_memory(executor, "reading from its driver")

    block_messages: "queue.Queue" = queue.Queue()
    threading.Thread(target=_apply_block_messages, args=(executor, block_messages, outbox),
                     name="block-manager", daemon=True).start()
    threading.Thread(target=read, name="driver-reader", daemon=True).start()

    def next_message():
        while True:
            if not inbox.qsize():
                outbox.send_pending()  # nothing to run next: the driver hears of every end now
            message = inbox.get()
            if not isinstance(message, LaunchTask):
                if isinstance(message, Shutdown):
                    outbox.flush()
                return message
            with lock:
                if message.task_id in dropped:  # killed while it waited: reported already
                    dropped.discard(message.task_id)
                    executor.task_dropped(message)
                    continue
                waiting.discard(message.task_id)
                running["task_id"] = message.task_id
                running["task"] = f"{message.stage_id}.{message.partition}"
            return message

    def send(message) -> None:
        with lock:
            running["task_id"] = None
            doomed["task_id"] = None
        outbox.put(message)  # a task's result may wait for the next ones

    while True:
        try:
            serve_tasks(executor, next_message, send)
        except TaskKilled:
            killed = running["task_id"]
            if killed is not None:
                send(TaskFinished(killed, "killed"))
            continue
        except MemoryError:
            break  # out of the handler: the failed task's frames (and memory) are freed
        finally:
            outbox.flush()
        # told to stop, all sent: the driver, reading to the connection's end (its tasks'
        # last lines), hears it now, not once this process has ended (~10-40 ms later)
        conn.shutdown()
        return 0
    sys.stderr.write(f"executor {executor.executor_id} exceeded its "
                     f"{binary_size(executor.memory_limit)} memory limit (RLIMIT_DATA) while "
                     f"running task {running['task']}: MemoryError; stopping with exit code "
                     f"{MEMORY_LIMIT_EXIT_CODE}\n")
    sys.stderr.flush()
    return MEMORY_LIMIT_EXIT_CODE


def _exit_out_of_memory(executor: Executor, doing: str) -> None:
    """End this executor process, out of memory under its limit outside any task, saying so
    (its worker reports the exit code as the memory limit's)."""
    sys.stderr.write(f"executor {executor.executor_id} ran out of memory {doing}; stopping "
                     f"with exit code {MEMORY_LIMIT_EXIT_CODE}\n")
    sys.stderr.flush()
    end_descendants()
    os._exit(MEMORY_LIMIT_EXIT_CODE)


def _apply_block_messages(executor: Executor, messages: "queue.Queue",
                          outbox: "_Outbox") -> None:
    """The block manager's thread: apply the driver's ``BLOCK_MESSAGES`` in the order they
    came, a running task or not, and send a removal's reply as soon as it is done (its
    driver waits): at once, or as the running task's reads of the blocks end."""
    def send_reply(reply) -> None:
        outbox.put(reply, hold=False)

    while True:
        message = messages.get()
        try:
            executor.apply_block_message(message, send_reply)
        except MemoryError:  # a replica larger than what is left under the limit
            _exit_out_of_memory(executor, "storing a cached block")
        except Exception as exc:  # noqa: BLE001 - a replica that does not unpickle here
            sys.stderr.write(f"executor {executor.executor_id} could not apply the driver's "
                             f"{type(message).__name__}: {exc!r}\n")
            sys.stderr.flush()
            continue


def serve_cached_blocks(executor: Executor, conn: Connection) -> None:
    """A cluster executor's block server's handler: answer another executor's requests for
    cached partitions held here (``FetchCachedBlock``), one after another."""
    while True:
        request = conn.recv()
        if not isinstance(request, FetchCachedBlock):
            raise ProtocolError(conn.peer, f"unexpected {type(request).__name__} at a block server")
        conn.send(executor.cached_block(request))


#: Connections to other executors' block servers an executor keeps for its next fetches:
#: past this many the least recently used is closed (one to a holder that has gone since,
#: under dynamic allocation's churn, would otherwise be kept for as long as the executor runs)
KEPT_BLOCK_CONNECTIONS = 16


class _CachedBlockFetcher:
    """A task's requests for cached partitions other executors hold (``FetchCachedBlock``):
    straight from a holder's block server where it has one (with the cluster's ``secret``;
    the connection is kept for the next), else through the driver, whose replies the
    reader thread puts in ``replies``."""

    def __init__(self, conn: Connection, secret: Optional[bytes]):
        self.conn, self.secret = conn, secret
        self.replies: "queue.Queue" = queue.Queue()
        self._request_ids = itertools.count(1)
        self._servers: Dict[str, Connection] = {}
        #: block servers this executor could not connect to (a firewall, an executor gone):
        #: asked through the driver from then on
        self._unreachable: set = set()

    def __call__(self, block: tuple, holders: List[str], addresses: Dict[str, str],
                 timeout: float) -> Optional[list]:
        """The block's records from the first of ``holders`` that hands them over, else
        None (the task computes it): a holder lost, without it, or silent past ``timeout``
        seconds is passed over."""
        while not self.replies.empty():  # replies to a killed task's requests: let go
            self.replies.get_nowait()
        for holder in holders:
            address, reply = addresses.get(holder, ""), None
            if address and self.secret is not None and address not in self._unreachable:
                reply = self._direct(address, block, timeout)
            if reply is None and (not address or address in self._unreachable):
                reply = self._relayed(holder, block, timeout)
            if reply is None or reply.data is None:
                continue
            try:
                return pickle.loads(reply.data)
            except Exception:  # noqa: BLE001 - a class the holder had and this one lacks
                continue
        return None

    def _direct(self, address: str, block: tuple, timeout: float) -> Optional[CachedBlock]:
        conn = self._servers.pop(address, None)
        if conn is None:
            host, port = split_host_port(address)
            try:
                conn = Connection.connect(host, port, self.secret or b"")
            except (OSError, ProtocolError):
                # not reachable from here (a firewall), or its executor is gone: through
                # the driver, which relays to a live holder and answers for a lost one
                self._unreachable.add(address)
                return None
        try:
            conn.sock.settimeout(timeout)  # a reply that never comes passes the holder over
            conn.send(FetchCachedBlock(0, block[0], block[1]))
            reply = conn.recv()
        except (OSError, ConnectionClosed, ProtocolError):
            conn.close()
            return None
        except BaseException:  # the task killed while it waited: its reply is no one's
            conn.close()
            raise
        self._servers[address] = conn  # the latest last: the oldest go first
        while len(self._servers) > KEPT_BLOCK_CONNECTIONS:
            self._servers.pop(next(iter(self._servers))).close()
        return reply if isinstance(reply, CachedBlock) else None

    def _relayed(self, holder: str, block: tuple, timeout: float) -> Optional[CachedBlock]:
        request_id = next(self._request_ids)
        try:
            self.conn.send(FetchCachedBlock(request_id, block[0], block[1], holder))
        except OSError:
            return None  # the driver is gone: the reader thread ends the process
        deadline = time.monotonic() + timeout
        while True:  # (a reply to a killed task's request may come first: dropped)
            try:
                reply = self.replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if reply.request_id == request_id:
                return reply


def send_heartbeats(conn: Connection, interval: float) -> None:
    """Send the driver an ``ExecutorHeartbeat`` every ``interval`` seconds, from a thread of
    its own, for as long as the process lives (Spark's executors heartbeat from a thread
    too).  A running task does not hold it up: the thread needs the GIL for a moment each
    time, which a task in Python code hands over every switch interval (5 ms) and one that
    sleeps, waits on I/O or runs C code that releases it (numpy, zlib, hashlib, file and
    socket calls) does not hold.  Only one C call that keeps the GIL longer than
    ``vega.executor.timeout`` (a sort or ``pickle.dumps`` of a huge list, ``sum`` over a
    huge range) silences it, and the driver then takes the executor for hung."""
    def beat() -> None:
        while True:
            time.sleep(interval)
            try:
                conn.send(ExecutorHeartbeat())
            except OSError:
                return  # the driver is gone: the reader thread ends the process

    threading.Thread(target=beat, name="executor-heartbeat", daemon=True).start()


class _Outbox:
    """Task results on their way to the driver.  The task thread sends them itself, those
    of a run of short tasks in a few writes: it holds a result while more tasks wait in
    its inbox, and sends what it holds once that is as many as still wait there (so the
    driver sends more while it runs the rest), at most ``RESULT_BATCH``, and before it
    waits for its next task (``send_pending``).  A result held while the next task runs
    long is sent by a watchdog thread, which looks every ``RESULT_LINGER`` seconds while
    results come in (and sleeps otherwise): no result waits for the end of the task after
    it."""

    def __init__(self, conn: Connection, waiting: Callable[[], int]):
        self.conn = conn
        #: how many messages wait in the task thread's inbox
        self.waiting = waiting
        self._pending: list = []
        #: results put so far (the watchdog's clock: what it saw held one look ago is late)
        self._puts = 0
        self._cond = threading.Condition(threading.Lock())
        self._watching = False
        threading.Thread(target=self._watch, name="results-watchdog", daemon=True).start()

    def put(self, message, hold: bool = True) -> None:
        """Queue a result; ``hold``: it may wait for the next ones (the task thread's), else
        it is sent now with those held."""
        with self._cond:
            self._pending.append(message)
            self._puts += 1
            held = len(self._pending)
            if not hold or held >= RESULT_BATCH or held >= self.waiting():
                self._send_locked()
            elif not self._watching:
                self._watching = True
                self._cond.notify()

    def send_pending(self) -> None:
        """Send every result held (one write)."""
        if self._pending:
            with self._cond:
                self._send_locked()

    flush = send_pending

    def _send_locked(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            if len(batch) == 1:
                self.conn.send(batch[0])
            else:
                self.conn.send_many(batch)
        except OSError:
            pass  # the driver is gone: the reader thread ends the process

    def _watch(self) -> None:
        with self._cond:
            while True:
                self._cond.wait_for(lambda: self._watching)
                seen = self._puts
                while True:
                    self._cond.wait(RESULT_LINGER)
                    if self._pending and self._puts - len(self._pending) < seen:
                        self._send_locked()  # held since the last look: its task runs long
                    elif not self._pending and self._puts == seen:
                        self._watching = False  # a quiet look: sleep until results come
                        break
                    seen = self._puts
