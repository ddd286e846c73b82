"""Frames and messages: round trips and rejection of malformed input."""

import socket
import struct

import msgpack
import pytest

from vega_runtime.net.framing import ConnectionClosed, ProtocolError, recv_frame, send_frame
from vega_runtime.net.messages import LaunchTask, TaskFinished, from_wire, to_wire


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_messages_round_trip_through_frames(pair):
    """A dataclass message arrives equal, bytes and nested maps included."""
    a, b = pair
    for message in (LaunchTask(1, 2, 0, 3, 1, b"\x00payload", b"part"),
                    TaskFinished(1, "success", value=b"v", metrics={"duration": 0.5})):
        send_frame(a, to_wire(message))
        assert from_wire(recv_frame(b)) == message


def test_oversized_frames_are_rejected_before_reading_the_body(pair):
    """A giant length prefix is refused at once."""
    a, b = pair
    a.sendall(struct.pack(">I", 2 ** 31))
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        recv_frame(b, max_frame=1 << 20)


@pytest.mark.parametrize("body", [b"\xc1\xc1", msgpack.packb([1, 2]), msgpack.packb({"x": 1})])
def test_malformed_or_untyped_frames_are_protocol_errors(pair, body):
    """Invalid msgpack, non-maps and maps without a type are rejected."""
    a, b = pair
    a.sendall(struct.pack(">I", len(body)) + body)
    with pytest.raises(ProtocolError):
        recv_frame(b)


def test_unknown_message_types_and_truncated_frames(pair):
    """Unknown types are protocol errors; a peer closing mid-frame is ConnectionClosed."""
    a, b = pair
    with pytest.raises(ProtocolError, match="unknown message type"):
        from_wire({"type": "Nope"})
    a.sendall(struct.pack(">I", 100) + b"abc")
    a.close()
    with pytest.raises(ConnectionClosed):
        recv_frame(b)
