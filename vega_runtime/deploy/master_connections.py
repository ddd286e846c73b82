"""The master's connections: what each peer sends becomes an event for the master.

One connection per worker and per driver, named by a session number; the first
message says what the connection is (a worker or a driver registering, a status
request, a package transfer, ``vega logs``, a cluster-mode submission or a kill).
Messages to a worker or driver are queued on its session's ``Outbox`` (a sending
thread per connection): ``deliver`` does it under the master's lock, so their order
is the order of the decisions; a failed send becomes a "connection lost" event.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Dict, Iterable

from ..ids import DRIVER
from ..net.connection import Connection
from ..net.framing import ProtocolError
from ..net.messages import (AppEvents, AppLog, AppMetrics, DriverHeartbeat, DriverSubmitted,
                            ExecutorExited, FetchPackage, FollowLogs, KillApplication, KillExecutors, KillResult,
                            PackageQuery, RegisterApplication, RegisterWorker, RequestExecutors,
                            RequestStatus, StatusReply,
                            SubmitDriver, UnregisterApplication, UploadPackage,
                            WorkerHeartbeat, WorkerStopping)
from ..scheduler.job_metrics import checked_snapshot
from .app_logs import KeptOutput, RelayedEvents
from .drivers import submission_problem
from .log_follower import serve_logs
from .master_events import (Action, ApplicationRegistering, ApplicationUnregistered,
                            ConnectionLost, Disconnect, ExecutorExitReported, ExecutorsReleased,
                            ExecutorsRequested, HeartbeatReceived, MetricsReported, Send,
                            WorkerRegistering, WorkerStopped)
from .outbox import Outbox

#: How long a closing connection may take to send what was queued for it.
FLUSH_SECONDS = 5.0


class MasterConnections:
    """The peers of ``master`` (a ``Master``: its ``handle``, ``lock``, ``state``, ``logs``,
    ``packages``, ``drivers``, ``status`` and ``kill``), one session each."""

    def __init__(self, master):
        self.master = master
        self._outboxes: Dict[int, Outbox] = {}
        self._sessions = itertools.count(1)

    def count(self) -> int:
        """How many worker and driver connections are open."""
        with self.master.lock:
            return len(self._outboxes)

    def deliver(self, actions: Iterable[Action]) -> None:
        """Queue the ``Send``s and ``Disconnect``s of ``actions`` on their sessions' outboxes
        (never blocking); called under the master's lock, in the order of the decisions."""
        for action in actions:
            if isinstance(action, (Send, Disconnect)):
                outbox = self._outboxes.get(action.session)
                if outbox is None:
                    continue
                if isinstance(action, Send):
                    outbox.put(action.message)
                else:
                    outbox.close()

    def close_all(self, wait: float = 0.0) -> None:
        """Close every connection after what is queued, waiting up to ``wait`` seconds in
        all for that (the master stops)."""
        with self.master.lock:
            outboxes = list(self._outboxes.values())
        for outbox in outboxes:
            outbox.close()
        deadline = time.monotonic() + wait
        for outbox in outboxes:
            outbox.close(wait=max(0.0, deadline - time.monotonic()))

    def serve(self, conn: Connection) -> None:
        """Serve one connection (the server's handler): its first message says who it is."""
        master = self.master
        first = conn.recv()
        if isinstance(first, RegisterWorker):
            self._serve_worker(conn, first)
        elif isinstance(first, RegisterApplication):
            self._serve_driver(conn, first)
        elif isinstance(first, RequestStatus):
            conn.send(StatusReply(json.dumps(master.status())))
        elif isinstance(first, (PackageQuery, UploadPackage, FetchPackage)):
            master.packages.serve(conn, first)
        elif isinstance(first, FollowLogs):
            serve_logs(master, conn, first)
        elif isinstance(first, SubmitDriver):
            problem = submission_problem(first)
            with master.packages.lock:  # not removed between found and in use
                if not problem and not master.packages.want(first.package_sha):
                    problem = "its package was never uploaded"
                if problem:
                    raise ProtocolError(conn.peer, f"bad SubmitDriver: {problem}")
                driver = master.drivers.submit(first)
            conn.send(DriverSubmitted(driver.driver_id))
        elif isinstance(first, KillApplication):
            killed = master.kill(first.app_id, "with vega kill")
            kind = "driver" if DRIVER.matches(first.app_id) else "application"
            conn.send(KillResult(killed, "killed" if killed else
                                 f"{first.app_id} is not a running {kind}"))
        else:
            raise ProtocolError(conn.peer, f"{type(first).__name__} before registering")

    def _open(self, conn: Connection) -> int:
        master = self.master
        session = next(self._sessions)

        def lost(reason: str) -> None:
            master.handle(ConnectionLost(session, f"sending to it failed: {reason}"))

        with master.lock:
            self._outboxes[session] = Outbox(conn, lost, conn.peer)
        return session

    def _close(self, session: int, reason: str) -> None:
        master = self.master
        master.handle(ConnectionLost(session, reason))
        with master.lock:
            outbox = self._outboxes.pop(session, None)
        if outbox is not None:
            outbox.close(wait=FLUSH_SECONDS)

    def _serve_worker(self, conn: Connection, register: RegisterWorker) -> None:
        master = self.master
        session = self._open(conn)
        try:
            master.handle(WorkerRegistering(session, register))
            while True:
                message = conn.recv()
                if isinstance(message, WorkerHeartbeat):
                    master.handle(HeartbeatReceived(session))
                elif isinstance(message, ExecutorExited):
                    master.handle(ExecutorExitReported(session, message.app_id,
                                                       message.executor_id, message.reason,
                                                       message.cause, message.detail))
                elif isinstance(message, WorkerStopping):
                    master.handle(WorkerStopped(session))
                    return
                else:
                    raise ProtocolError(conn.peer,
                                        f"unexpected {type(message).__name__} from a worker")
        finally:
            self._close(session, "its connection closed")

    def _serve_driver(self, conn: Connection, request: RegisterApplication) -> None:
        master = self.master
        session = self._open(conn)
        try:
            master.handle(ApplicationRegistering(session, request))
            with master.lock:
                app = master.state.app_of(session)
            if app is None:  # rejected
                return
            events_path = master.logs.events_path(app.app_id)
            with KeptOutput(f"the output of {app.app_id}",
                            lambda: master.logs.open_for_append(app.app_id)) as log_file, \
                    KeptOutput(f"the events of {app.app_id}",
                               lambda: RelayedEvents(events_path)) as events_file:
                while True:
                    message = conn.recv()
                    if isinstance(message, DriverHeartbeat):
                        master.handle(HeartbeatReceived(session))
                    elif isinstance(message, AppEvents):
                        events_file.write(message.text)
                        if master.driver_clocks.heard(app.app_id, message.text):
                            master.save_state()  # kept across a restart
                    elif isinstance(message, AppMetrics):
                        try:
                            snapshot = checked_snapshot(message.snapshot_json)
                        except ValueError as exc:
                            raise ProtocolError(conn.peer, f"bad AppMetrics: {exc}") from None
                        master.handle(MetricsReported(session, snapshot))
                    elif isinstance(message, AppLog):
                        runs = message.runs()
                        with master.lock:
                            master.state.counters["log_lines"] += sum(
                                text.count("\n") for _, text in runs)
                        # as the driver's terminal shows it: text that is not UTF-8 (a
                        # record of a task's logging, say) escaped, not the end of the driver's
                        # connection (UnicodeEncodeError) and of its output's relay
                        log_file.write_runs([(stream, text.encode("utf-8", "backslashreplace"))
                                             for stream, text in runs])
                    elif isinstance(message, RequestExecutors):
                        master.handle(ExecutorsRequested(session, message.requested_total))
                    elif isinstance(message, KillExecutors):
                        master.handle(ExecutorsReleased(session, list(message.executor_ids),
                                                        message.reason))
                    elif isinstance(message, UnregisterApplication):
                        master.handle(ApplicationUnregistered(session))
                        break
                    else:
                        raise ProtocolError(conn.peer,
                                            f"unexpected {type(message).__name__} from a driver")
        finally:
            self._close(session, "its driver disconnected")
