"""Fuzzing the wire protocol: a real master (with a secret) and the frame parser.

The master gets a few hundred seeded cases of garbage, truncated and oversized
frames, wrong handshakes, unknown and out-of-turn messages and abrupt
disconnects; afterwards it must still serve ``vega status --json``, register a
worker, and have logged the peers it dropped.  (The cases are drawn from seeded
``random.Random`` instances: every run sends the same, and a failure names the seed
and the input.  The frame parser and decoder on their own, one property per kind
of bad input, are tests/test_protocol_properties.py, with Hypothesis.)
"""

import json
import math
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import time

import msgpack
import pytest

from vega_runtime.net.connection import client_handshake, create_secret_file, load_secret
from vega_runtime.net.framing import (DEFAULT_MAX_FRAME, ConnectionClosed, ProtocolError,
                                      encode_frame, recv_frame)
from vega_runtime.net.tls import cluster_tls
from vega_runtime.net.messages import (MESSAGE_TYPES, ExecutorExited, ExecutorReady, FetchBlock,
                                       KillTask, LaunchExecutor, LaunchTask, RegisterApplication,
                                       RegisteredWorker, RegisterExecutor, RegisterWorker,
                                       Shutdown, StatusReply, TaskFinished, UnregisterApplication,
                                       WorkerHeartbeat, to_wire)
from vega_runtime import __version__
from vega_runtime.versions import python_version

from http_helpers import api_get_bytes
from proc_helpers import clean_env, read_text, spawn_vega, stop_processes, vega, wait_for

SEED = 20261121
HANDSHAKE_LIMIT = 4096  # the largest frame a master reads before the handshake
CASE_TIMEOUT = 5.0  # the master must react to every case within this


# -- helpers ----------------------------------------------------------------------------------

def proc_counts(pid: int) -> tuple:
    """(threads, open file descriptors) of a process."""
    with open(f"/proc/{pid}/status") as fh:
        threads = int(re.search(r"^Threads:\s+(\d+)", fh.read(), re.M).group(1))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


class MasterProcess:
    """``vega master`` on an ephemeral loopback port, with a secret, and its workers."""

    def __init__(self, root, settings: str = ""):
        """``settings``: YAML the master reads with ``--config`` (shorter deadlines, say)."""
        self.root = str(root)
        self.marker = self.root + os.sep
        self.secret_file = os.path.join(self.root, "secret")
        create_secret_file(self.secret_file)
        self.secret = load_secret(self.secret_file)
        self.work_dir = os.path.join(self.root, "master")
        self.log = os.path.join(self.work_dir, "master.log")
        self.procs = []
        ready = os.path.join(self.root, "master.ready")
        config = []
        if settings:
            config = ["--config", os.path.join(self.root, "master.yaml")]
            with open(config[1], "w") as fh:
                fh.write(settings)
        self.proc = self._spawn("master", ["master", "--host", "127.0.0.1", "--port", "0",
                                           "--webui-port", "0", "--work-dir", self.work_dir,
                                           "--ready-file", ready,
                                           "--secret-file", self.secret_file, *config])

        def ready_info():
            assert self.proc.poll() is None, f"the master exited: {read_text(self.log)[-2000:]}"
            if os.path.exists(ready):
                with open(ready) as fh:
                    return json.load(fh)
            return None

        self.port = wait_for(ready_info, 30, "the master's ready file")["port"]
        self.url = f"vega://127.0.0.1:{self.port}"

    def _spawn(self, name, args):
        with open(os.path.join(self.root, f"{name}.out"), "ab") as out:
            proc = spawn_vega(*args, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True)
        self.procs.append(proc)
        return proc

    def vega(self, *args, timeout=60, env=None):
        return vega(*args, timeout=timeout, env=env)

    def status(self) -> dict:
        result = self.vega("status", "--master", self.url, "--json",
                           "--secret-file", self.secret_file)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def start_worker(self, name: str, check_status: bool = True) -> str:
        """Start a real worker; return its id once registered (and listed alive by status)."""
        work_dir = os.path.join(self.root, name)
        proc = self._spawn(name, ["worker", self.url, "--host", "127.0.0.1", "--cores", "1",
                                  "--memory", "1g", "--work-dir", work_dir,
                                  "--secret-file", self.secret_file])
        log_path = os.path.join(work_dir, "worker.log")

        def registered():
            assert proc.poll() is None, f"the worker exited: {read_text(log_path)[-2000:]}"
            match = re.search(r"registered with master \S+ as (\S+)", read_text(log_path))
            return match and match.group(1)

        worker_id = wait_for(registered, 30, f"worker {name} to register")
        if check_status:
            wait_for(lambda: any(w["id"] == worker_id and w["state"] == "alive"
                                 for w in self.status()["workers"]), 15,
                     f"status to list {worker_id} alive")
        return worker_id

    def stop(self) -> None:
        stop_processes(self.procs, self.marker)


# -- talking to the master ------------------------------------------------------------------

def connect(port: int, secret=None) -> socket.socket:
    """A connection to the master: inside TLS with a certificate of the CA of ``secret``
    (what the fuzz cases below send is then past the TLS layer), or raw TCP if None."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=CASE_TIMEOUT)
    sock.settimeout(CASE_TIMEOUT)
    return sock if secret is None else cluster_tls(secret).client.wrap_socket(sock)


def authenticated(port: int, secret: bytes) -> socket.socket:
    sock = connect(port, secret)
    client_handshake(sock, secret, "master")
    return sock


def send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass  # the master may have dropped us before reading it all


def closed_by_master(sock: socket.socket) -> bool:
    """Read until the master closes the connection; False if it keeps it open."""
    try:
        while sock.recv(65536):
            pass
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        pass  # (a TLS peer's close without close_notify, or its alert)
    finally:
        sock.close()
    return True


def rst_close(sock: socket.socket) -> None:
    """Close with a TCP reset instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass  # already closed (a failed TLS handshake closes its socket)
    sock.close()


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


# -- random values ----------------------------------------------------------------------------

def random_value(rng: random.Random, depth: int = 0):
    """A random msgpack-able value, nested a little."""
    kinds = ["nil", "bool", "int", "bigint", "float", "str", "bin"]
    if depth < 3:
        kinds += ["list", "map"]
    kind = rng.choice(kinds)
    if kind == "nil":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-300, 300)
    if kind == "bigint":
        return rng.choice([rng.randint(-2 ** 63, -1), rng.randint(0, 2 ** 64 - 1)])
    if kind == "float":
        return rng.choice([rng.uniform(-1e9, 1e9), math.inf, -math.inf, math.nan, -0.0])
    if kind == "str":
        return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0x80, 0x2FFF)]))
                       for _ in range(rng.randint(0, 12)))
    if kind == "bin":
        return rng.randbytes(rng.randint(0, 24))
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_scalar(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def random_scalar(rng: random.Random):
    return rng.choice([lambda: rng.randint(-5, 5), lambda: rng.randbytes(3),
                       lambda: "k" + str(rng.randint(0, 99)), lambda: None])()


def random_untyped(rng: random.Random):
    """A msgpack value that is not a map with a string ``type``."""
    value = random_value(rng)
    if isinstance(value, dict):
        value.pop("type", None)
        if rng.random() < 0.5:
            value["type"] = rng.choice([None, 7, b"RegisterWorker", ["RegisterWorker"], 1.5])
    return value


def unknown_type_name(rng: random.Random) -> str:
    while True:
        name = rng.choice(["", " ", "registerworker", "RegisterWorker ", "Challenge", "__class__",
                           "Authenticate", "x" * rng.randint(1, 300),
                           "".join(rng.choice("ABCdefé→\x00") for _ in range(rng.randint(1, 20)))])
        if name not in MESSAGE_TYPES:
            return name


APP_ID = "app-20261121000000-0001"


def fake_worker_id(tag) -> str:
    """A worker id of the documented form (vega_runtime/ids.py) for a peer we play."""
    return f"worker-20261121000000-{tag}-1"


# Messages no peer may open a master connection with.
OUT_OF_TURN = [
    ExecutorExited(APP_ID, "exec-1", 1, "boom"),
    WorkerHeartbeat(fake_worker_id("nobody")),
    UnregisterApplication(APP_ID),
    LaunchTask(1, 0, 0, 0, 0, None, b""),
    TaskFinished(1, "success"),
    StatusReply("{}"),
    RegisteredWorker("0.1.0"),
    ExecutorReady("exec-1", "127.0.0.1", 1),
    FetchBlock("/etc/passwd", 0, 10),
    Shutdown("now"),
    KillTask(1),
    RegisterExecutor("exec-1", APP_ID, fake_worker_id("x"), "127.0.0.1", 1, 1),
    LaunchExecutor(APP_ID, "exec-1", 1, 1 << 20, "127.0.0.1", 1),
]


def fake_worker(index: int) -> RegisterWorker:
    return RegisterWorker(worker_id=fake_worker_id(f"fuzz{index}"), host="127.0.0.1", port=1, cores=1,
                          memory=1 << 30, labels=["fuzz"], python_version=python_version(),
                          vega_version=__version__, pid=os.getpid())


def fake_app(index: int) -> RegisterApplication:
    return RegisterApplication(name=f"fuzz-app-{index}", driver_host="127.0.0.1", driver_port=1,
                               cores_max=0, executor_cores=0, executor_memory=1 << 20,
                               python_version=python_version(), vega_version=__version__)


# -- the fuzz against a master ----------------------------------------------------------------

@pytest.fixture(scope="module")
def master(tmp_path_factory):
    running = MasterProcess(tmp_path_factory.mktemp("fuzzmaster"))
    try:
        yield running
    finally:
        running.stop()


class Tally:
    """Counts cases and the ones the master must have dropped (and logged) for a protocol error."""

    def __init__(self):
        self.cases = 0
        self.must_drop = 0
        self.kept_open = []

    def dropped(self, sock: socket.socket, case: str) -> None:
        """The master must close the connection by itself (no half-close from us)."""
        self.cases += 1
        self.must_drop += 1
        if not closed_by_master(sock):
            self.kept_open.append(case)

    def ended(self, sock: socket.socket, case: str) -> None:
        """We stop sending; the master must then close its side."""
        self.cases += 1
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if not closed_by_master(sock):
            self.kept_open.append(case)


@pytest.mark.timeout(180)
def test_master_survives_seeded_protocol_fuzz_and_logs_dropped_peers(master):
    """A few hundred seeded bad peers are each dropped; then status, a new worker and the log are fine."""
    rng = random.Random(SEED)
    tally = Tally()
    port, secret = master.port, master.secret
    baseline_threads, baseline_fds = proc_counts(master.proc.pid)
    started = time.monotonic()

    # One bad peer of each kind first: each is logged with its reason (past 20 lines of a
    # reason at once, the rate limit holds the rest of the flood's lines back)
    for data, handshake in ((b"GET / HTTP/1.0\r\n\r\n", None), (b"", "garbage"),
                            (b"", "wrong mac"), (struct.pack(">I", DEFAULT_MAX_FRAME + 1), "ok"),
                            (frame(b"\xc1"), "ok"), (frame(msgpack.packb([1])), "ok"),
                            (encode_frame({"type": "NoSuchType"}), "ok"),
                            (encode_frame(to_wire(KillTask(1))), "ok")):
        sock = connect(port, None if handshake is None else secret)
        if handshake == "ok":
            client_handshake(sock, secret, "master")
        elif handshake is not None:
            recv_frame(sock, "master", HANDSHAKE_LIMIT)  # the Challenge
            data = encode_frame({"type": "Authenticate", "mac": b"x" * 32, "nonce": b"n" * 32}
                                if handshake == "wrong mac" else {"type": "Hello"})
        send_quietly(sock, data)
        tally.dropped(sock, f"one of each kind: {data[:40]!r}")

    # Random byte strings and frames in plain TCP, where TLS is expected.
    for i in range(40):
        data = rng.randbytes(rng.randint(0, 64))
        if i % 2:
            data = frame(msgpack.packb(random_value(rng), use_bin_type=True))[:200]
        sock = connect(port)
        send_quietly(sock, data)
        tally.ended(sock, f"plaintext bytes {data.hex()}")

    # Random byte strings instead of a handshake.
    for i in range(80):
        data = rng.randbytes(rng.randint(0, 64))
        if i % 4 == 0 and len(data) >= 4:  # a plausible length, to reach the body decoder
            data = struct.pack(">I", rng.randint(0, len(data) - 4)) + data[4:]
        sock = connect(port, secret)
        send_quietly(sock, data)
        definite = len(data) >= 4 and (
            struct.unpack(">I", data[:4])[0] > HANDSHAKE_LIMIT
            or len(data) - 4 >= struct.unpack(">I", data[:4])[0])
        (tally.dropped if definite else tally.ended)(sock, f"random bytes {data.hex()}")

    # Valid-length frames carrying random msgpack instead of Authenticate.
    for i in range(40):
        body = msgpack.packb(random_value(rng), use_bin_type=True)
        if i % 5 == 0:
            body += rng.randbytes(rng.randint(1, 8))  # trailing junk
        body = body[:HANDSHAKE_LIMIT]
        sock = connect(port, secret)
        send_quietly(sock, frame(body))
        tally.dropped(sock, f"msgpack garbage before the handshake {body.hex()}")

    # Truncated frames, before and after the handshake.
    for i in range(30):
        length = rng.randint(1, HANDSHAKE_LIMIT)
        sent = struct.pack(">I", length) + rng.randbytes(rng.randint(0, length - 1))
        sent = sent[:rng.randint(1, len(sent))]  # sometimes even the header is cut
        sock = authenticated(port, secret) if i % 2 else connect(port, secret)
        send_quietly(sock, sent)
        tally.ended(sock, f"truncated frame {sent[:16].hex()}...")

    # Giant length prefixes: refused before any body is read.
    for length in (2 ** 31, 2 ** 32 - 1, DEFAULT_MAX_FRAME + 1, 3 * 2 ** 30, HANDSHAKE_LIMIT + 1):
        sock = connect(port, secret)
        send_quietly(sock, struct.pack(">I", length))
        tally.dropped(sock, f"length prefix {length} before the handshake")
        if length > DEFAULT_MAX_FRAME:
            sock = authenticated(port, secret)
            send_quietly(sock, struct.pack(">I", length) + b"\x80")
            tally.dropped(sock, f"length prefix {length} after the handshake")

    # Handshakes with a wrong MAC, or a malformed Authenticate.
    for i in range(30):
        sock = connect(port, secret)
        challenge = recv_frame(sock, "master", HANDSHAKE_LIMIT)
        assert challenge["type"] == "Challenge" and isinstance(challenge["nonce"], bytes)
        mac = rng.choice([rng.randbytes(32), rng.randbytes(rng.randint(0, 64)), b"",
                          challenge["nonce"], "not bytes", 42, None])
        reply = {"type": "Authenticate", "mac": mac, "nonce": os.urandom(32)}
        if i % 6 == 5:
            reply.pop(rng.choice(["mac", "nonce"]))
        send_quietly(sock, encode_frame(reply))
        tally.dropped(sock, f"Authenticate with mac {mac!r}")

    # After a valid handshake: unknown message types.
    for i in range(30):
        message = {"type": unknown_type_name(rng)}
        message.update({str(random_scalar(rng)): random_value(rng) for _ in range(rng.randint(0, 3))})
        sock = authenticated(port, secret)
        send_quietly(sock, encode_frame(message))
        tally.dropped(sock, f"unknown type {message['type']!r}")

    # After a valid handshake: messages out of turn.
    for message in OUT_OF_TURN * 2:
        sock = authenticated(port, secret)
        send_quietly(sock, encode_frame(to_wire(message)))
        tally.dropped(sock, f"{type(message).__name__} before registering")

    # After a valid handshake: known types missing their fields, and untyped garbage.
    for i in range(30):
        if i % 2:
            body = msgpack.packb({"type": rng.choice(["RegisterWorker", "RegisterApplication"]),
                                  "worker_id": "half"}, use_bin_type=True)
        else:
            body = msgpack.packb(random_untyped(rng), use_bin_type=True)
            if i % 3 == 0:
                body = rng.randbytes(rng.randint(0, 40)) + b"\xc1"  # 0xc1 is never valid msgpack
        sock = authenticated(port, secret)
        send_quietly(sock, frame(body))
        tally.dropped(sock, f"garbage after the handshake {body[:32].hex()}")

    # Registered peers that then misbehave.
    for i in range(6):
        sock = authenticated(port, secret)
        sock.sendall(encode_frame(to_wire(fake_worker(i))))
        assert recv_frame(sock, "master")["type"] == "RegisteredWorker"
        follow = rng.choice([to_wire(fake_app(i)), {"type": unknown_type_name(rng)},
                             to_wire(UnregisterApplication(APP_ID))])
        send_quietly(sock, encode_frame(follow))
        tally.dropped(sock, f"worker then {follow['type']!r}")
    for i in range(6):
        sock = authenticated(port, secret)
        sock.sendall(encode_frame(to_wire(fake_app(i))))
        assert recv_frame(sock, "master")["type"] == "RegisteredApplication"
        follow = rng.choice([to_wire(fake_worker(100 + i)), {"type": unknown_type_name(rng)},
                             to_wire(WorkerHeartbeat(fake_worker_id("x")))])
        send_quietly(sock, encode_frame(follow))
        tally.dropped(sock, f"application then {follow['type']!r}")

    # Many connections opened at once and closed abruptly, at every stage.  Past the cap on
    # connections in the handshake from one address (16) the master closes them at once.
    socks = [connect(port) for _ in range(60)]
    challenged = 0
    for i, sock in enumerate(socks):
        if i % 3 == 1:
            try:
                sock = cluster_tls(secret).client.wrap_socket(sock)
                recv_frame(sock, "master", HANDSHAKE_LIMIT)  # the Challenge
                challenged += 1
            except (ConnectionClosed, ConnectionResetError, ssl.SSLError):
                pass  # refused: over the per-address cap
        elif i % 3 == 2:
            send_quietly(sock, struct.pack(">I", 100) + b"\x85")
        rst_close(sock) if i % 2 else sock.close()
        tally.cases += 1
    assert challenged >= 5, "the first 16 connections from one address must be served"

    elapsed = time.monotonic() - started
    assert tally.kept_open == [], f"the master kept these connections open: {tally.kept_open[:5]}"
    assert tally.cases >= 300
    assert elapsed < 60, f"the fuzz took {elapsed:.0f}s"

    # The master still works for legitimate peers.
    assert master.proc.poll() is None, read_text(master.log)[-3000:]
    status = master.status()
    fakes = {w["id"]: w["state"] for w in status["workers"]}
    assert fakes == {fake_worker_id(f"fuzz{i}"): "lost" for i in range(6)}
    assert {a["name"]: a["state"] for a in status["applications"]} == \
        {f"fuzz-app-{i}": "finished" for i in range(6)}
    worker_id = master.start_worker("worker-after-fuzz")
    assert {w["id"] for w in master.status()["workers"] if w["state"] == "alive"} == {worker_id}

    # Every protocol error was counted as a dropped peer, and logged with its reason up to
    # the rate limit (20 lines at once a reason: the seeded cases put each kind of protocol
    # error among the first 20)
    with open(os.path.join(master.root, "master.ready")) as fh:
        site = (json.load(fh)["webui_port"], os.path.join(master.work_dir, "ca.pem"))
    _, _, metrics = api_get_bytes(site, "/metrics", "")
    counted = sum(float(n) for n in re.findall(
        rb'^vega_rejected_connections_total\{port="rpc",reason="(?:tls|auth_failed|protocol)"\} '
        rb'(\S+)', metrics, re.M))
    log_text = read_text(master.log)
    dropped = re.findall(r"master: dropped 127\.0\.0\.1:\d+: (.*)", log_text)
    print(f"{tally.cases} cases in {elapsed:.1f}s; {tally.must_drop} must be dropped, "
          f"{counted:.0f} counted, {len(dropped)} dropped peers logged")
    assert counted >= tally.must_drop, (counted, tally.must_drop)
    reasons = "\n".join(dropped)
    for reason in ("not a TLS 1.3 client", "wrong cluster secret", "expected Authenticate",
                   "exceeds the limit", "malformed msgpack", "unknown message type",
                   "before registering", "a frame must be a map"):
        assert reason in reasons, f"no dropped peer logged with {reason!r}"
    assert "Traceback" not in log_text, log_text[log_text.index("Traceback") - 500:][:3000]

    # No connection thread or socket outlives its peer.
    wait_for(lambda: proc_counts(master.proc.pid)[0] <= baseline_threads + 2
             and proc_counts(master.proc.pid)[1] <= baseline_fds + 4, 10,
             "the master's threads and descriptors to return to their baseline "
             f"({baseline_threads}, {baseline_fds}): now {proc_counts(master.proc.pid)}")


WRONG_TYPES = [b"\x00\xff", None, {"k": 1}, [1, [2]], "12", 2 ** 64 - 1, -1, 1.5, True]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["worker", "application"])
def test_registration_with_wrongly_typed_fields_does_not_break_the_master(tmp_path, kind):
    """Registrations with each field wrongly typed leave status, new workers and jobs working."""
    own = MasterProcess(tmp_path / "typedmaster")
    try:
        template = to_wire(fake_worker(0) if kind == "worker" else fake_app(0))
        for name in [k for k in template if k != "type"]:
            for index, value in enumerate(WRONG_TYPES):
                wire = dict(template, **{name: value})
                if kind == "worker" and name != "worker_id":
                    wire["worker_id"] = fake_worker_id(f"typed-{name}-{index}")
                sock = authenticated(own.port, own.secret)
                send_quietly(sock, encode_frame(wire))
                sock.settimeout(1.0)
                try:  # whatever the master answers, this peer then goes away
                    recv_frame(sock, "master")
                except (OSError, ProtocolError, ConnectionClosed):
                    pass
                sock.close()

        problems = []
        status = own.vega("status", "--master", own.url, "--json", "--secret-file", own.secret_file)
        if status.returncode != 0:
            problems.append(f"vega status exits {status.returncode}: "
                            + " | ".join(status.stderr.strip().splitlines()[-2:]))
        worker_id = own.start_worker("worker-after-typed-fuzz", check_status=not problems)
        job = tmp_path / "tiny.py"
        job.write_text("from vega_runtime import Context\n"
                       "with Context() as ctx:\n"
                       "    print(sum(ctx.parallelize(range(100), 2).map(lambda x: x * 2).collect()))\n")
        result = own.vega("submit", "--master", own.url, "--conf",
                          "vega.scheduler.executor_wait_timeout=15", str(job), timeout=90,
                          env=clean_env(VEGA_SECRET_FILE=own.secret_file))
        if result.returncode != 0 or result.stdout != "9900\n":
            problems.append(f"a job on worker {worker_id} exits {result.returncode}: "
                            + " | ".join(result.stderr.strip().splitlines()[-3:]))
        errors = re.findall(r"ERROR .*?\n(?:Traceback[\s\S]*?\n(\w+Error: .*))", read_text(own.log))
        assert problems == [], "\n".join(problems) + "\nmaster errors: " + repr(sorted(set(errors)))
    finally:
        own.stop()


#: AppMetrics a driver might send that /metrics could not sum (its counters must be numbers)
BAD_SNAPSHOTS = [("not json", "it is not JSON"), ("[1, 2]", "it is a JSON list, not an object"),
                 ('{"jobs": "many"}', "'jobs' is not a map of numbers"),
                 ('{"tasks": {"success": "3"}}', "'tasks' is not a map of numbers"),
                 ('{"shuffle": {"read": NaN}}', "'shuffle' is not a map of numbers"),
                 ('{"duration_sum": 1' + "0" * 400 + "}", "'duration_sum' is not a number"),
                 ('{"duration_buckets": [1]}', "'duration_buckets' is not a list of 10 numbers"),
                 ("[" * 100000 + "]" * 100000, "its JSON is nested too deeply")]


@pytest.mark.timeout(120)
def test_a_driver_sending_metrics_of_another_shape_is_dropped_and_metrics_keep_answering(tmp_path):
    """A registered driver whose AppMetrics snapshot is not JSON, or whose counters are not
    numbers, is dropped as a protocol error saying so (one line each, no traceback), and
    /metrics still answers everyone. Before, text that was not JSON logged a traceback, and
    a snapshot of another shape was kept: every later scrape of /metrics failed with 500
    (and a traceback) until the master restarted."""
    own = MasterProcess(tmp_path / "metricsmaster")
    try:
        for index, (snapshot, _) in enumerate(BAD_SNAPSHOTS):
            sock = authenticated(own.port, own.secret)
            sock.sendall(encode_frame(to_wire(fake_app(index))))
            assert recv_frame(sock, "master")["type"] == "RegisteredApplication"
            send_quietly(sock, encode_frame({"type": "AppMetrics", "snapshot_json": snapshot}))
            assert closed_by_master(sock), f"kept the driver that sent {snapshot[:40]!r}"
        with open(os.path.join(own.root, "master.ready")) as fh:
            site = (json.load(fh)["webui_port"], os.path.join(own.work_dir, "ca.pem"))
        status, _, body = api_get_bytes(site, "/metrics", "")
        assert status == 200, body[-500:]
        assert b'vega_tasks_total{outcome="success"} 0.0' in body
        log_text = read_text(own.log)
        assert "Traceback" not in log_text, log_text[log_text.index("Traceback") - 300:][:2000]
        reasons = re.findall(r"master: dropped 127\.0\.0\.1:\d+: bad AppMetrics: (.*)", log_text)
        assert [r.split(" (")[0] for r in reasons] == [reason for _, reason in BAD_SNAPSHOTS]
    finally:
        own.stop()


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (VmHWM)."""
    with open(f"/proc/{pid}/status") as fh:
        return int(re.search(r"^VmHWM:\s+(\d+) kB", fh.read(), re.M).group(1)) * 1024


@pytest.fixture
def own_master(tmp_path):
    """A master of one test's own: its log is not rate-limited by the fuzz before it."""
    running = MasterProcess(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_a_msgpack_bomb_from_a_secret_holder_is_refused_before_it_fills_memory(own_master):
    """After the handshake a frame may be large (task results, packages), but its bulk
    travels as byte strings: a 16 MiB frame of 16 million empty maps (~70 bytes of Python
    each: over 1 GiB decoded) is refused having decoded a bounded part of it, the master's
    peak memory grows by well under the frame's decoded size, the drop is logged, and the
    master goes on serving."""
    count = 16 << 20
    body = (b"\x82\xa4type\xaeRegisterWorker\xa6labels\xdd" + struct.pack(">I", count)
            + b"\x80" * count)
    before = _peak_rss(own_master.proc.pid)
    sock = authenticated(own_master.port, own_master.secret)
    sock.settimeout(60)
    send_quietly(sock, frame(body))
    assert closed_by_master(sock)
    grown = _peak_rss(own_master.proc.pid) - before
    assert grown < 300 << 20, f"the master's peak memory grew by {grown >> 20} MiB"
    wait_for(lambda: "holds more maps, arrays and their entries" in read_text(own_master.log), 10,
             "the master to log the drop")
    assert "workers" in own_master.status()


def test_large_frames_of_real_messages_still_decode():
    """The bound on a frame's maps and arrays leaves real messages alone: a map task's result
    with a million offsets and 4 MiB of records, and an 8 MiB chunk of a package."""
    from vega_runtime.net.framing import decode_body
    from vega_runtime.net.messages import PackageChunk

    offsets = list(range(10 ** 9, 10 ** 9 + 1_000_000))
    for message in (TaskFinished(1, "success", value=b"r" * (4 << 20), offsets=offsets),
                    PackageChunk(b"p" * (8 << 20))):
        wire = to_wire(message)
        assert decode_body(msgpack.packb(wire, use_bin_type=True), "peer") == wire
