"""The frame parser and message decoder against bad input, one property per kind of bad
input, with Hypothesis: whatever arrives, ``recv_frame`` returns the frames that were whole
and valid and then raises ``ProtocolError`` or ``ConnectionClosed``; ``from_wire`` returns
a message of the named type or raises ``ProtocolError``; nothing else ever escapes.  (The
master's behaviour under such input, a real process, is tests/test_protocol_fuzz.py.)
A failing case is shrunk by Hypothesis and printed as the smallest input that fails.
"""

import socket
import struct

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vega_runtime.net.framing import (DEFAULT_MAX_FRAME, ConnectionClosed, ProtocolError,
                                      encode_frame, recv_frame)
from vega_runtime.net.messages import MESSAGE_TYPES, from_wire
from vega_runtime.records import field_names

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
MAX_FRAME = 1 << 16

#: values msgpack carries (what a peer can put in a frame)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 63, 2 ** 64 - 1),
                    st.floats(allow_nan=True), st.text(max_size=20), st.binary(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
#: well-formed frames: a map with a known or unknown message type and any fields
typed_maps = st.builds(lambda name, fields: {**fields, "type": name},
                       st.one_of(st.sampled_from(sorted(MESSAGE_TYPES)), st.text(max_size=12)),
                       st.dictionaries(st.text(max_size=8), values, max_size=4))


def parse_all(data: bytes, max_frame: int = MAX_FRAME):
    """Feed ``data`` to recv_frame over a socketpair until it raises; (frames, error)."""
    a, b = socket.socketpair()
    try:
        a.sendall(data)
        a.close()
        frames = []
        for _ in range(len(data) + 2):
            try:
                frames.append(recv_frame(b, "fuzz", max_frame))
            except (ProtocolError, ConnectionClosed) as exc:
                return frames, exc
        raise AssertionError("recv_frame kept returning frames past the end of its input")
    finally:
        a.close()
        b.close()


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def as_bytes(frames) -> list:
    """Frames compared by their encoding (NaN != NaN as a value)."""
    return [encode_frame(f) for f in frames]


@SETTINGS
@given(st.binary(max_size=200), st.sampled_from([16, 64, 4096, MAX_FRAME]))
def test_arbitrary_bytes_give_typed_maps_then_a_protocol_error(data, max_frame):
    """Any bytes at all: each frame returned is a map with a str type; then it stops with
    ProtocolError or ConnectionClosed."""
    frames, error = parse_all(data, max_frame)
    assert isinstance(error, (ProtocolError, ConnectionClosed))
    assert all(isinstance(f, dict) and isinstance(f.get("type"), str) for f in frames)


@SETTINGS
@given(st.integers(DEFAULT_MAX_FRAME + 1, 2 ** 32 - 1), st.binary(max_size=64))
def test_a_length_beyond_the_limit_is_refused_before_the_body(length, body):
    """A length prefix over the limit is a ProtocolError naming it, whatever follows."""
    frames, error = parse_all(struct.pack(">I", length) + body, DEFAULT_MAX_FRAME)
    assert frames == [] and isinstance(error, ProtocolError)
    assert "exceeds the limit" in str(error)


@SETTINGS
@given(st.lists(typed_maps, min_size=1, max_size=3), st.data())
def test_frames_cut_short_give_the_whole_ones_then_an_error(messages, data):
    """Valid frames cut anywhere: the frames before the cut come back, then an error."""
    wire = b"".join(encode_frame(m) for m in messages)
    cut = data.draw(st.integers(0, len(wire) - 1))
    frames, error = parse_all(wire[:cut])
    assert isinstance(error, (ProtocolError, ConnectionClosed))
    whole = [m for i, m in enumerate(messages)
             if len(b"".join(encode_frame(x) for x in messages[:i + 1])) <= cut]
    assert as_bytes(frames) == as_bytes(whole)


@SETTINGS
@given(st.lists(typed_maps, min_size=1, max_size=3), st.data())
def test_flipped_bytes_give_typed_maps_then_an_error(messages, data):
    """Valid frames with a few bytes overwritten: only typed maps, then an error."""
    wire = bytearray(b"".join(encode_frame(m) for m in messages))
    for _ in range(data.draw(st.integers(1, 4))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    frames, error = parse_all(bytes(wire))
    assert isinstance(error, (ProtocolError, ConnectionClosed))
    assert all(isinstance(f, dict) and isinstance(f.get("type"), str) for f in frames)


@SETTINGS
@given(values.filter(lambda v: not (isinstance(v, dict) and isinstance(v.get("type"), str))))
def test_msgpack_that_is_not_a_typed_map_is_a_protocol_error(value):
    """A frame holding valid msgpack that is no map with a str "type" is refused."""
    frames, error = parse_all(frame(msgpack.packb(value, use_bin_type=True)))
    assert frames == [] and isinstance(error, ProtocolError)


@SETTINGS
@given(st.lists(typed_maps, min_size=1, max_size=3), st.binary(min_size=1, max_size=40))
def test_valid_frames_followed_by_garbage_come_back_intact(messages, garbage):
    """Whole frames before garbage are returned exactly as sent."""
    frames, error = parse_all(b"".join(encode_frame(m) for m in messages) + garbage)
    assert isinstance(error, (ProtocolError, ConnectionClosed))
    assert as_bytes(frames[:len(messages)]) == as_bytes(messages)


@SETTINGS
@given(st.text(max_size=30).filter(lambda name: name not in MESSAGE_TYPES),
       st.dictionaries(st.text(max_size=8), values, max_size=3))
def test_an_unknown_message_type_is_a_protocol_error(name, fields):
    """A map whose type names no message is refused by from_wire, naming the type."""
    try:
        from_wire({**fields, "type": name}, "fuzz")
    except ProtocolError as exc:
        assert "unknown message type" in str(exc)
    else:
        raise AssertionError(f"{name!r} was accepted")


@SETTINGS
@given(st.sampled_from(sorted(MESSAGE_TYPES)), st.data())
def test_wrongly_typed_fields_give_a_message_or_a_protocol_error(name, data):
    """Every field of a known message with any value (right type or not, malformed ids):
    from_wire returns that message or raises ProtocolError, nothing else."""
    cls = MESSAGE_TYPES[name]
    fields = {name: data.draw(values, label=name) for name in field_names(cls)
              if data.draw(st.booleans(), label=f"send {name}")}
    try:
        message = from_wire({**fields, "type": name}, "fuzz")
    except ProtocolError:
        return
    assert type(message) is cls
