"""Running the WebHDFS test server: starting and stopping it, and its command line.

``stop()`` ends every connection and thread; ``python -m vega_testing.webhdfs``
serves until interrupted.
"""

import http.client
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import hdfs
import pytest

from vega_testing.webhdfs import WebHDFSServer

from proc_helpers import REPO
from webhdfs_helpers import send, target


# -- starting and stopping ------------------------------------------------------------------------

def _server_threads():
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("webhdfs-"))


def test_stop_ends_keep_alive_connections_and_every_thread(tmp_path):
    """stop() closes idle keep-alive connections at once and leaves no thread behind."""
    server = WebHDFSServer(str(tmp_path / "root")).start()
    client = hdfs.InsecureClient(server.namenode_url, user="alice", timeout=10)
    idle = http.client.HTTPConnection("127.0.0.1", server.namenode_port, timeout=10)
    try:
        client.write("/k.txt", b"keep")   # pooled keep-alive connections to both ports
        with client.read("/k.txt") as reader:
            assert reader.read() == b"keep"
        idle.request("GET", target("/", {"op": "GETFILESTATUS"}))
        idle.getresponse().read()
        assert "webhdfs-namenode-connection" in _server_threads()
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2
        assert _server_threads() == []
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.namenode_port), timeout=5)
    finally:
        idle.close()
        client._session.close()
        server.stop()


def test_a_server_starts_once_and_stops_any_number_of_times(tmp_path):
    """start() twice is an error; stop() before start or twice is harmless."""
    server = WebHDFSServer(str(tmp_path / "root"))
    server.stop()
    with pytest.raises(RuntimeError, match="starts once"):
        server.start()
    running = WebHDFSServer(str(tmp_path / "other")).start()
    running.stop()
    running.stop()
    assert _server_threads() == []


# -- the command line -----------------------------------------------------------------------------

def test_command_line_serves_until_interrupted(tmp_path):
    """python -m ... --root DIR prints both addresses, serves, and exits 0 on Ctrl-C."""
    root = tmp_path / "cli-root"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vega_testing.webhdfs", "--root", str(root),
         "--namenode-port", "0", "--datanode-port", "0", "--quiet"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        namenode_line, datanode_line = proc.stdout.readline(), proc.stdout.readline()
        namenode = re.fullmatch(r"NameNode \(WebHDFS\): http://127\.0\.0\.1:(\d+)\n",
                                namenode_line)
        datanode = re.fullmatch(r"DataNode: +http://127\.0\.0\.1:(\d+)\n", datanode_line)
        assert namenode and datanode, (namenode_line, datanode_line)
        reply = send(int(namenode.group(1)), "PUT", "/webhdfs/v1/made?op=MKDIRS&user.name=cli")
        assert reply.json() == {"boolean": True}
        assert (root / "made").is_dir()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_command_line_can_enforce_permissions(tmp_path):
    """--enforce-permissions: a user other than hdfs cannot write into the root."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vega_testing.webhdfs", "--root", str(tmp_path / "r"),
         "--namenode-port", "0", "--datanode-port", "0", "--quiet", "--enforce-permissions"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r":(\d+)$", proc.stdout.readline().strip()).group(1))
        refused = send(port, "PUT", "/webhdfs/v1/made?op=MKDIRS&user.name=cli")
        allowed = send(port, "PUT", "/webhdfs/v1/made?op=MKDIRS&user.name=hdfs")
        assert (refused.status, allowed.json()) == (403, {"boolean": True})
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
        proc.stdout.close()
