"""Shared helpers and fixtures for the WebHDFS test server's tests (``test_webhdfs_*.py``).

Raw requests (``http.client`` and plain sockets) check what the WebHDFS
specification fixes: status codes, redirect Locations, headers, JSON bodies and
``RemoteException`` errors as Hadoop sends them.  The ``hdfs`` package checks
that a real client library works against it unchanged.

``tests/`` is on ``sys.path``, so a test module imports what it needs by name,
the fixtures included (pytest finds a fixture through the module's namespace)::

    from webhdfs_helpers import ALICE, nn, server, status

    __all__ = ["server"]  # the fixture, imported so tests here can use it
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from typing import NamedTuple

import hdfs
import pytest

from vega_testing.webhdfs import WebHDFSServer

MiB = 1024 * 1024
ALICE = {"user.name": "alice"}
#: The keys of every FileStatus, as the WebHDFS specification lists them.
STATUS_KEYS = {"accessTime", "blockSize", "childrenNum", "fileId", "group", "length",
               "modificationTime", "owner", "pathSuffix", "permission", "replication",
               "storagePolicy", "type"}


# -- requests ------------------------------------------------------------------------------------

class Reply(NamedTuple):
    """A whole HTTP response: status, headers (lower-case names) and body."""

    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def remote_exception(exception, java_class, message):
    """The JSON body of an error, as Hadoop's WebHDFS sends it."""
    return {"RemoteException": {"exception": exception, "javaClassName": java_class,
                                "message": message}}


def send(port, method, target, body=None, headers=None) -> Reply:
    """One request on a fresh connection; ``target`` is the raw path and query."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                     response.read())
    finally:
        conn.close()


def target(path, params) -> str:
    """The request target of ``path`` (quoted) under /webhdfs/v1 with the query ``params``."""
    return "/webhdfs/v1" + urllib.parse.quote(path) + "?" + urllib.parse.urlencode(params)


def nn(server, method, path, body=None, **params) -> Reply:
    """A NameNode request; keyword arguments are query parameters."""
    return send(server.namenode_port, method, target(path, params), body)


def follow(location, method, body=None, headers=None) -> Reply:
    """Send a request to where a redirect's ``location`` points (the DataNode)."""
    url = urllib.parse.urlsplit(location)
    return send(url.port, method, f"{url.path}?{url.query}", body, headers)


def datanode_target(location) -> str:
    """The path and query of a redirect's ``location``, for a connection of one's own."""
    url = urllib.parse.urlsplit(location)
    return f"{url.path}?{url.query}"


def create(server, path, data, user="alice", **params) -> Reply:
    """CREATE in two steps, as the spec describes; returns the DataNode's reply."""
    redirect = nn(server, "PUT", path, op="CREATE", **{"user.name": user}, **params)
    assert redirect.status == 307, redirect
    return follow(redirect.headers["location"], "PUT", data)


def status(server, path, **params) -> dict:
    """The FileStatus of ``path`` (GETFILESTATUS must answer 200)."""
    reply = nn(server, "GET", path, op="GETFILESTATUS", **params)
    assert reply.status == 200, reply
    return reply.json()["FileStatus"]


# -- the server's root directory -------------------------------------------------------------------

def seed(server, relative, data=b"") -> str:
    """A file put in the root directly, behind the server's back."""
    local = os.path.join(server.root_dir, relative)
    os.makedirs(os.path.dirname(local), exist_ok=True)
    with open(local, "wb") as fh:
        fh.write(data)
    return local


def read_local(server, relative) -> bytes:
    """The bytes of a file in the root, read directly from disk."""
    with open(os.path.join(server.root_dir, relative), "rb") as fh:
        return fh.read()


def millis(local) -> int:
    """The modification time of a local file in milliseconds, as FileStatus gives it."""
    return os.stat(local).st_mtime_ns // 1_000_000


class RawConnection:
    """A socket for what http.client cannot do: 100-continue, chunk extensions, bad framing."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def read_head(self):
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buffer)
            self.buffer += data
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:])}
        return int(lines[0].split()[1]), headers

    def read_body(self, length):
        while len(self.buffer) < length:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(self.buffer)
            self.buffer += data
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return body

    def at_eof(self):
        return self.buffer == b"" and self.sock.recv(1) == b""

    def close(self):
        self.sock.close()


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    """A WebHDFS server (permissions recorded, not enforced) on a fresh root directory."""
    with WebHDFSServer(str(tmp_path / "root")) as srv:
        yield srv


@pytest.fixture
def client(server):
    """An ``hdfs`` package client of ``server``, as user alice."""
    c = hdfs.InsecureClient(server.namenode_url, user="alice", timeout=10)
    yield c
    c._session.close()
