"""The master's per-peer outbox over real sockets: queuing never blocks on a peer that
does not read, a failed send is reported once (for that peer only), close flushes."""

import socket
import threading

from vega_runtime.deploy.outbox import Outbox
from vega_runtime.net.connection import Connection
from vega_runtime.net.messages import BlockData, LogChunk


def pair():
    ours, theirs = socket.socketpair()
    return Connection(ours, "peer"), Connection(theirs, "master")


def test_queuing_to_a_peer_that_does_not_read_never_blocks():
    """64 MiB queued for a peer that reads nothing: every put returns; the writer
    thread alone is stuck on the socket."""
    conn, peer = pair()
    outbox = Outbox(conn, lambda reason: None, "silent")
    done = threading.Event()

    def queue_all():
        for _ in range(64):
            outbox.put(BlockData(b"x" * (1 << 20)))
        done.set()

    threading.Thread(target=queue_all, daemon=True).start()
    assert done.wait(30), "put() blocked on a peer that does not read"
    peer.close()
    conn.close()


def test_a_failed_send_is_reported_once_and_closes_that_connection():
    """The peer is gone: on_error is called once, with the reason; later puts are dropped."""
    conn, peer = pair()
    peer.close()
    errors = []
    reported = threading.Event()
    outbox = Outbox(conn, lambda reason: (errors.append(reason), reported.set()), "gone")
    for _ in range(100):
        outbox.put(BlockData(b"x" * 65536))
    assert reported.wait(10)
    outbox.put(LogChunk("late"))
    outbox.close(wait=5)
    assert len(errors) == 1 and conn.closed


def test_a_peer_too_far_behind_is_dropped():
    """More than max_queued messages waiting: the peer is reported lost."""
    conn, peer = pair()
    reasons = []
    reported = threading.Event()
    outbox = Outbox(conn, lambda reason: (reasons.append(reason), reported.set()), "slow",
                    max_queued=10)
    for _ in range(200):
        outbox.put(BlockData(b"x" * (1 << 20)))
    assert reported.wait(10)
    assert reasons == ["it fell 10 messages behind"]
    peer.close()


def test_close_sends_what_was_queued_then_closes():
    """Messages queued before close() all arrive, in order, then the connection ends."""
    conn, peer = pair()
    outbox = Outbox(conn, lambda reason: None, "orderly")
    for i in range(50):
        outbox.put(LogChunk(str(i)))
    outbox.close()
    received = [peer.recv().text for _ in range(50)]
    assert received == [str(i) for i in range(50)]
    peer.sock.settimeout(10)
    assert peer.sock.recv(1) == b""
