"""The WebHDFS test server: raw HTTP against the spec, and the ``hdfs`` package as a client.

Raw requests (``http.client`` and plain sockets) check what the WebHDFS
specification fixes: status codes, redirect Locations, headers, JSON bodies and
``RemoteException`` errors as Hadoop sends them.  The ``hdfs`` package checks
that a real client library works against it unchanged.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.parse
from typing import NamedTuple

import hdfs
import pytest

from vega_runtime.testing.webhdfs import WebHDFSServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1024 * 1024
ALICE = {"user.name": "alice"}
STATUS_KEYS = {"accessTime", "blockSize", "childrenNum", "fileId", "group", "length",
               "modificationTime", "owner", "pathSuffix", "permission", "replication",
               "storagePolicy", "type"}


# -- helpers ---------------------------------------------------------------------------------

class Reply(NamedTuple):
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def remote_exception(exception, java_class, message):
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
    return "/webhdfs/v1" + urllib.parse.quote(path) + "?" + urllib.parse.urlencode(params)


def nn(server, method, path, body=None, **params) -> Reply:
    """A NameNode request; keyword arguments are query parameters."""
    return send(server.namenode_port, method, target(path, params), body)


def follow(location, method, body=None, headers=None) -> Reply:
    url = urllib.parse.urlsplit(location)
    return send(url.port, method, f"{url.path}?{url.query}", body, headers)


def create(server, path, data, user="alice", **params) -> Reply:
    """CREATE in two steps, as the spec describes; returns the DataNode's reply."""
    redirect = nn(server, "PUT", path, op="CREATE", **{"user.name": user}, **params)
    assert redirect.status == 307, redirect
    return follow(redirect.headers["location"], "PUT", data)


def status(server, path, **params) -> dict:
    reply = nn(server, "GET", path, op="GETFILESTATUS", **params)
    assert reply.status == 200, reply
    return reply.json()["FileStatus"]


def seed(server, relative, data=b"") -> str:
    """A file put in the root directly, behind the server's back."""
    local = os.path.join(server.root_dir, relative)
    os.makedirs(os.path.dirname(local), exist_ok=True)
    with open(local, "wb") as fh:
        fh.write(data)
    return local


def read_local(server, relative) -> bytes:
    with open(os.path.join(server.root_dir, relative), "rb") as fh:
        return fh.read()


def millis(local) -> int:
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


def datanode_target(location) -> str:
    url = urllib.parse.urlsplit(location)
    return f"{url.path}?{url.query}"


@pytest.fixture
def server(tmp_path):
    with WebHDFSServer(str(tmp_path / "root")) as srv:
        yield srv


@pytest.fixture
def client(server):
    c = hdfs.InsecureClient(server.namenode_url, user="alice", timeout=10)
    yield c
    c._session.close()


# -- the two roles -----------------------------------------------------------------------------

def test_namenode_and_datanode_listen_on_separate_ports(server):
    """Both addresses are loopback URLs on two different ports."""
    assert server.namenode_port != server.datanode_port
    assert server.namenode_url == f"http://127.0.0.1:{server.namenode_port}"
    assert server.datanode_url == f"http://127.0.0.1:{server.datanode_port}"


def test_datanode_serves_only_create_append_and_open(server):
    """A namespace op sent to the DataNode is a 400 'Invalid operation'."""
    reply = send(server.datanode_port, "GET",
                 "/webhdfs/v1/?op=GETFILESTATUS&namenoderpcaddress=x")
    assert reply.status == 400
    assert reply.json() == remote_exception("IllegalArgumentException",
                                            "java.lang.IllegalArgumentException",
                                            "Invalid operation GETFILESTATUS")


def test_datanode_requires_the_namenode_address_from_the_redirect(server):
    """A DataNode URL not made by the NameNode (no namenoderpcaddress) is refused."""
    reply = send(server.datanode_port, "GET", "/webhdfs/v1/f?op=OPEN")
    assert reply.status == 400
    assert reply.json()["RemoteException"]["message"] == (
        "namenoderpcaddress is not specified: DataNode URLs come from a NameNode redirect")


def test_urls_outside_webhdfs_v1_are_404(server):
    """Only /webhdfs/v1 is served."""
    reply = send(server.namenode_port, "GET", "/jmx?op=LISTSTATUS")
    assert (reply.status, reply.body) == (
        404, b"Not Found: WebHDFS paths start with /webhdfs/v1/\n")


# -- CREATE ---------------------------------------------------------------------------------------

def test_create_redirects_to_the_datanode_with_every_query_parameter(server):
    """Step 1: 307 to the DataNode port, the query kept whole plus namenoderpcaddress."""
    params = {"op": "CREATE", "user.name": "alice", "overwrite": "true", "permission": "600",
              "buffersize": "8192", "replication": "2", "blocksize": "2097152",
              "x-custom": "kept too"}
    reply = nn(server, "PUT", "/dir/new.txt", **params)
    assert reply.status == 307
    assert reply.headers["content-length"] == "0"
    location = urllib.parse.urlsplit(reply.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "http", f"127.0.0.1:{server.datanode_port}", "/webhdfs/v1/dir/new.txt")
    expected = {name: [value] for name, value in params.items()}
    expected["namenoderpcaddress"] = [f"127.0.0.1:{server.namenode_port}"]
    assert urllib.parse.parse_qs(location.query) == expected
    assert not os.path.exists(os.path.join(server.root_dir, "dir"))


def test_create_on_the_datanode_answers_201_with_a_webhdfs_location(server):
    """Step 2: the data goes to the DataNode, which answers 201 and the file's webhdfs:// URI."""
    reply = create(server, "/dir/new.txt", b"payload")
    assert reply.status == 201
    assert reply.headers["location"] == f"webhdfs://127.0.0.1:{server.namenode_port}/dir/new.txt"
    assert reply.headers["content-length"] == "0"
    assert read_local(server, "dir/new.txt") == b"payload"


def test_created_file_status_is_the_specs_filestatus_with_the_requested_properties(server):
    """Owner from user.name; permission, replication and block size from the query."""
    create(server, "/dir/new.txt", b"payload", user="bob", permission="600", replication="2",
           blocksize="2097152")
    st = status(server, "/dir/new.txt")
    local = os.path.join(server.root_dir, "dir", "new.txt")
    assert set(st) == STATUS_KEYS
    assert st == {"accessTime": st["accessTime"], "blockSize": 2097152, "childrenNum": 0,
                  "fileId": st["fileId"], "group": "supergroup", "length": 7,
                  "modificationTime": millis(local), "owner": "bob", "pathSuffix": "",
                  "permission": "600", "replication": 2, "storagePolicy": 0, "type": "FILE"}
    assert 0 < st["accessTime"] <= st["modificationTime"]
    assert st["fileId"] > 16385


def test_create_makes_missing_parents_owned_by_the_creator(server):
    """Parent directories appear with the creator as owner and the root's 755 (plus u+wx)."""
    assert create(server, "/p/q/r.txt", b"x", user="bob").status == 201
    for path in ("/p", "/p/q"):
        st = status(server, path)
        assert (st["type"], st["owner"], st["group"], st["permission"]) == (
            "DIRECTORY", "bob", "supergroup", "755")


def test_create_refuses_an_existing_file_without_overwrite(server):
    """The NameNode still redirects (as HDFS does); the DataNode answers 403."""
    create(server, "/f.txt", b"first")
    reply = create(server, "/f.txt", b"second")
    assert reply.status == 403
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    assert reply.json() == remote_exception(
        "FileAlreadyExistsException", "org.apache.hadoop.fs.FileAlreadyExistsException",
        "/f.txt for client 127.0.0.1 already exists")
    assert read_local(server, "f.txt") == b"first"


def test_create_with_overwrite_replaces_the_file_with_a_new_inode(server):
    """overwrite=true swaps the content; the new file gets a new fileId."""
    create(server, "/f.txt", b"first")
    before = status(server, "/f.txt")
    assert create(server, "/f.txt", b"second!", overwrite="true").status == 201
    after = status(server, "/f.txt")
    assert read_local(server, "f.txt") == b"second!"
    assert (after["length"], after["fileId"] != before["fileId"]) == (7, True)


def test_create_over_a_directory_is_refused(server):
    """A directory is never overwritten by CREATE."""
    nn(server, "PUT", "/d", op="MKDIRS", **ALICE)
    reply = create(server, "/d", b"x", overwrite="true")
    assert reply.status == 403
    assert reply.json() == remote_exception(
        "FileAlreadyExistsException", "org.apache.hadoop.fs.FileAlreadyExistsException",
        "/d already exists as a directory")


def test_create_under_a_file_is_parent_not_directory(server):
    """A file in the middle of the path is a ParentNotDirectoryException for creates."""
    create(server, "/f.txt", b"x")
    reply = create(server, "/f.txt/child", b"y")
    assert reply.status == 403
    assert reply.json() == remote_exception(
        "ParentNotDirectoryException", "org.apache.hadoop.fs.ParentNotDirectoryException",
        "/f.txt (is not a directory)")


def test_create_with_createparent_false_needs_the_parent(server):
    """createparent=false and a missing parent is a 404."""
    reply = create(server, "/nodir/f.txt", b"x", createparent="false")
    assert reply.status == 404
    assert reply.json()["RemoteException"]["message"] == "Parent directory doesn't exist: /nodir"


def test_create_rejects_a_block_size_under_the_namenode_minimum(server):
    """blocksize below dfs.namenode.fs-limits.min-block-size is an IOException (403)."""
    reply = create(server, "/f.txt", b"x", blocksize="1024")
    assert reply.status == 403
    assert reply.json() == remote_exception(
        "IOException", "java.io.IOException",
        "Specified block size is less than configured minimum value "
        "(dfs.namenode.fs-limits.min-block-size): 1024 < 1048576")


def test_noredirect_returns_the_location_as_json(server):
    """noredirect=true: 200 and {"Location": ...} instead of a 307."""
    create(server, "/f.txt", b"hello")
    reply = nn(server, "GET", "/f.txt", op="OPEN", noredirect="true")
    assert reply.status == 200
    assert reply.json() == {"Location": f"http://127.0.0.1:{server.datanode_port}/webhdfs/v1/"
                                        f"f.txt?op=OPEN&noredirect=true&namenoderpcaddress="
                                        f"127.0.0.1:{server.namenode_port}"}


def test_namenode_ignores_data_sent_with_create_and_keeps_the_connection(server):
    """A client that sends the data to the NameNode gets its 307, and the connection still works."""
    conn = http.client.HTTPConnection("127.0.0.1", server.namenode_port, timeout=10)
    try:
        conn.request("PUT", target("/f.txt", {"op": "CREATE", **ALICE}), body=b"d" * 100_000)
        first = conn.getresponse()
        first.read()
        conn.request("GET", target("/", {"op": "GETFILESTATUS"}))
        second = conn.getresponse()
        assert (first.status, second.status) == (307, 200)
        assert json.loads(second.read())["FileStatus"]["type"] == "DIRECTORY"
    finally:
        conn.close()


# -- request bodies on the DataNode ----------------------------------------------------------------

def test_datanode_decodes_a_chunked_upload(server):
    """Transfer-Encoding: chunked, as http.client sends it from an iterator."""
    location = nn(server, "PUT", "/c.txt", op="CREATE", **ALICE).headers["location"]
    reply = follow(location, "PUT", iter([b"chunk one, ", b"", b"chunk two, ", b"x" * 70_000]))
    assert reply.status == 201
    assert read_local(server, "c.txt") == b"chunk one, chunk two, " + b"x" * 70_000


def test_chunk_extensions_and_trailers_are_understood_and_the_connection_stays_open(server):
    """Chunk extensions are ignored, trailers skipped, and keep-alive survives the body."""
    location = nn(server, "PUT", "/t.txt", op="CREATE", **ALICE).headers["location"]
    raw = RawConnection(server.datanode_port)
    try:
        raw.send(f"PUT {datanode_target(location)} HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"
                 "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: none\r\n\r\n".encode())
        assert raw.read_head()[0] == 201
        raw.send(f"GET {datanode_target(location).replace('op=CREATE', 'op=OPEN')} HTTP/1.1\r\n"
                 "Host: x\r\n\r\n".encode())
        code, headers = raw.read_head()
        assert (code, raw.read_body(int(headers["content-length"]))) == (200, b"hello world")
    finally:
        raw.close()


def test_malformed_chunked_upload_is_a_400_that_closes_the_connection(server):
    """A bad chunk-size line cannot be recovered from: 400, then the server hangs up."""
    location = nn(server, "PUT", "/bad.txt", op="CREATE", **ALICE).headers["location"]
    raw = RawConnection(server.datanode_port)
    try:
        raw.send(f"PUT {datanode_target(location)} HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n".encode())
        code, headers = raw.read_head()
        body = json.loads(raw.read_body(int(headers["content-length"])))
        assert (code, headers["connection"]) == (400, "close")
        assert body == remote_exception("IllegalArgumentException",
                                        "java.lang.IllegalArgumentException",
                                        "Malformed chunked request body: bad chunk size line")
        assert raw.at_eof()
    finally:
        raw.close()


def test_refused_write_answers_before_the_body_when_the_client_expects_100_continue(server):
    """With Expect: 100-continue the 403 comes instead of '100 Continue': no data is sent."""
    create(server, "/f.txt", b"first")
    location = nn(server, "PUT", "/f.txt", op="CREATE", **ALICE).headers["location"]
    raw = RawConnection(server.datanode_port)
    try:
        raw.send(f"PUT {datanode_target(location)} HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n".encode())
        code, headers = raw.read_head()
        assert (code, headers["connection"]) == (403, "close")
        message = json.loads(raw.read_body(int(headers["content-length"])))
        assert message["RemoteException"]["exception"] == "FileAlreadyExistsException"
    finally:
        raw.close()


def test_a_file_being_written_refuses_a_second_writer(server):
    """HDFS's lease: while one upload is open, an APPEND is AlreadyBeingCreatedException."""
    location = nn(server, "PUT", "/busy.txt", op="CREATE", **ALICE).headers["location"]
    writer = RawConnection(server.datanode_port)
    try:
        writer.send(f"PUT {datanode_target(location)} HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n".encode())
        assert writer.read_head()[0] == 100   # the file is now created and leased
        append = nn(server, "POST", "/busy.txt", op="APPEND", **{"user.name": "bob"})
        refused = follow(append.headers["location"], "POST", b"more")
        assert refused.status == 403
        assert refused.json() == remote_exception(
            "AlreadyBeingCreatedException",
            "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException",
            "Failed to APPEND_FILE /busy.txt for bob on 127.0.0.1 because this file lease is "
            "currently owned by alice on 127.0.0.1")
        writer.send(b"first")
        assert writer.read_head()[0] == 201
    finally:
        writer.close()
    assert follow(append.headers["location"], "POST", b"+more").status == 200
    assert read_local(server, "busy.txt") == b"first+more"


# -- APPEND ---------------------------------------------------------------------------------------

def test_append_redirects_a_post_and_the_datanode_appends(server):
    """APPEND: 307 with the query (buffersize, user.name), then a POST to the DataNode → 200."""
    create(server, "/log.txt", b"one\n")
    redirect = nn(server, "POST", "/log.txt", op="APPEND", buffersize="4096", **ALICE)
    assert redirect.status == 307
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(redirect.headers["location"]).query)
    assert query == {"op": ["APPEND"], "buffersize": ["4096"], "user.name": ["alice"],
                     "namenoderpcaddress": [f"127.0.0.1:{server.namenode_port}"]}
    reply = follow(redirect.headers["location"], "POST", b"two\n")
    assert (reply.status, reply.headers["content-length"], reply.body) == (200, "0", b"")
    assert read_local(server, "log.txt") == b"one\ntwo\n"


def test_append_to_a_missing_file_is_404_at_the_namenode(server):
    """The NameNode checks the file exists before redirecting an APPEND."""
    reply = nn(server, "POST", "/nope", op="APPEND", **ALICE)
    assert reply.status == 404
    assert reply.json() == remote_exception("FileNotFoundException",
                                            "java.io.FileNotFoundException",
                                            "File /nope not found.")


def test_append_to_a_directory_is_refused_by_the_datanode(server):
    """A directory is redirected (it exists) and then refused by the DataNode."""
    nn(server, "PUT", "/d", op="MKDIRS", **ALICE)
    reply = follow(nn(server, "POST", "/d", op="APPEND", **ALICE).headers["location"], "POST",
                   b"x")
    assert reply.status == 403
    assert reply.json()["RemoteException"] == {
        "exception": "FileAlreadyExistsException",
        "javaClassName": "org.apache.hadoop.fs.FileAlreadyExistsException",
        "message": "Cannot append to directory /d; already exists as a directory."}


# -- OPEN -----------------------------------------------------------------------------------------

def test_open_redirects_and_the_datanode_serves_offset_and_length(server):
    """OPEN: 307 carrying offset/length; the DataNode sends exactly that range."""
    create(server, "/f.txt", b"hello world")
    redirect = nn(server, "GET", "/f.txt", op="OPEN", offset="3", length="4", **ALICE)
    assert redirect.status == 307
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(redirect.headers["location"]).query)
    assert (query["offset"], query["length"]) == (["3"], ["4"])
    reply = follow(redirect.headers["location"], "GET")
    assert (reply.status, reply.body) == (200, b"lo w")
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.headers["content-length"] == "4"


def test_open_with_a_length_past_the_end_returns_the_rest(server):
    """length beyond the end is cut at the end of the file."""
    create(server, "/f.txt", b"hello world")
    redirect = nn(server, "GET", "/f.txt", op="OPEN", offset="6", length="100")
    assert follow(redirect.headers["location"], "GET").body == b"world"


def test_open_of_an_empty_file_returns_no_bytes(server):
    """Offset 0 of an empty file is in range; the body is empty."""
    create(server, "/empty", b"")
    reply = follow(nn(server, "GET", "/empty", op="OPEN").headers["location"], "GET")
    assert (reply.status, reply.headers["content-length"], reply.body) == (200, "0", b"")


def test_open_at_or_beyond_the_end_is_403(server):
    """The NameNode refuses an offset outside [0, length) with Hadoop's IOException."""
    create(server, "/f.txt", b"hello world")
    reply = nn(server, "GET", "/f.txt", op="OPEN", offset="11")
    assert reply.status == 403
    assert reply.json() == remote_exception("IOException", "java.io.IOException",
                                            "Offset=11 out of the range [0, 11); OPEN, "
                                            "path=/f.txt")


def test_open_of_a_missing_file_is_404(server):
    """OPEN of nothing: 404 from the NameNode."""
    reply = nn(server, "GET", "/nope", op="OPEN")
    assert (reply.status, reply.json()["RemoteException"]["message"]) == (
        404, "File /nope not found.")


def test_open_of_a_directory_is_404_at_the_datanode(server):
    """A directory is redirected and then 'Path is not a file' on the DataNode."""
    nn(server, "PUT", "/d", op="MKDIRS")
    reply = follow(nn(server, "GET", "/d", op="OPEN").headers["location"], "GET")
    assert reply.status == 404
    assert reply.json() == remote_exception("FileNotFoundException",
                                            "java.io.FileNotFoundException",
                                            "Path is not a file: /d")


# -- GETFILESTATUS and LISTSTATUS -----------------------------------------------------------------

def test_status_of_the_root_is_the_superusers_directory(server):
    """The root: inode 16385, hdfs:supergroup, 755, as a fresh NameNode has it."""
    reply = nn(server, "GET", "/", op="GETFILESTATUS")
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"FileStatus": {
        "accessTime": 0, "blockSize": 0, "childrenNum": 0, "fileId": 16385,
        "group": "supergroup", "length": 0, "modificationTime": millis(server.root_dir),
        "owner": "hdfs", "pathSuffix": "", "permission": "755", "replication": 0,
        "storagePolicy": 0, "type": "DIRECTORY"}}


def test_status_of_a_file_put_on_disk_directly_has_the_defaults(server):
    """A file not made through the server is the superuser's, 644, default block size."""
    local = seed(server, "seeded/data.csv", b"a,b\n")
    st = status(server, "/seeded/data.csv")
    assert st == {"accessTime": millis(local), "blockSize": 134217728, "childrenNum": 0,
                  "fileId": st["fileId"], "group": "supergroup", "length": 4,
                  "modificationTime": millis(local), "owner": "hdfs", "pathSuffix": "",
                  "permission": "644", "replication": 1, "storagePolicy": 0, "type": "FILE"}
    assert status(server, "/seeded/data.csv")["fileId"] == st["fileId"]


def test_status_of_a_missing_path_is_404_file_does_not_exist(server):
    """GETFILESTATUS of nothing: the spec's FileNotFoundException example."""
    reply = nn(server, "GET", "/foo/a.patch", op="GETFILESTATUS")
    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == remote_exception("FileNotFoundException",
                                            "java.io.FileNotFoundException",
                                            "File does not exist: /foo/a.patch")


def test_path_through_a_file_is_403_access_control(server):
    """Reading below a file is an AccessControlException '(is not a directory)'."""
    create(server, "/f.txt", b"x")
    reply = nn(server, "GET", "/f.txt/child", op="GETFILESTATUS")
    assert reply.status == 403
    assert reply.json() == remote_exception("AccessControlException",
                                            "org.apache.hadoop.security.AccessControlException",
                                            "/f.txt (is not a directory)")


def test_liststatus_lists_children_sorted_by_name(server):
    """Children come sorted, each with its pathSuffix; childrenNum counts a directory's entries."""
    for name in ("b.txt", "a.txt", "sub/inner.txt"):
        seed(server, f"dir/{name}", b"12345")
    reply = nn(server, "GET", "/dir", op="LISTSTATUS")
    statuses = reply.json()["FileStatuses"]["FileStatus"]
    assert [(s["pathSuffix"], s["type"], s["length"], s["childrenNum"]) for s in statuses] == [
        ("a.txt", "FILE", 5, 0), ("b.txt", "FILE", 5, 0), ("sub", "DIRECTORY", 0, 1)]
    assert all(set(s) == STATUS_KEYS for s in statuses)


def test_liststatus_of_an_empty_directory_is_an_empty_array(server):
    """An empty directory lists as []."""
    nn(server, "PUT", "/empty", op="MKDIRS")
    assert nn(server, "GET", "/empty", op="LISTSTATUS").json() == {
        "FileStatuses": {"FileStatus": []}}


def test_liststatus_of_a_file_returns_the_file_with_an_empty_suffix(server):
    """The spec's 'List a File': one FileStatus, pathSuffix ''."""
    create(server, "/dir/f.txt", b"abc")
    statuses = nn(server, "GET", "/dir/f.txt", op="LISTSTATUS").json()["FileStatuses"][
        "FileStatus"]
    assert statuses == [status(server, "/dir/f.txt")]
    assert (statuses[0]["pathSuffix"], statuses[0]["type"], statuses[0]["length"]) == (
        "", "FILE", 3)


def test_liststatus_of_a_missing_path_is_404(server):
    """LISTSTATUS of nothing uses Hadoop's listing message."""
    reply = nn(server, "GET", "/nope", op="LISTSTATUS")
    assert reply.status == 404
    assert reply.json()["RemoteException"] == {
        "exception": "FileNotFoundException", "javaClassName": "java.io.FileNotFoundException",
        "message": "File /nope does not exist."}


def test_symlinks_out_of_the_root_are_neither_listed_nor_followed(server, tmp_path):
    """A path escaping the root through a symlink is refused and hidden."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    os.symlink(outside, os.path.join(server.root_dir, "link"))
    reply = nn(server, "GET", "/link/secret", op="GETFILESTATUS")
    assert reply.status == 403
    assert reply.json()["RemoteException"]["exception"] == "AccessControlException"
    assert nn(server, "GET", "/", op="LISTSTATUS").json() == {"FileStatuses": {"FileStatus": []}}


@pytest.mark.parametrize("raw_path", ["/a/../etc", "/a/%2E%2E/etc", "/a/./b", "/a/b:c"])
def test_invalid_path_names_are_400(server, raw_path):
    """'.', '..' and ':' are not valid HDFS names (DFSUtil.isValidName)."""
    reply = send(server.namenode_port, "GET", f"/webhdfs/v1{raw_path}?op=GETFILESTATUS")
    assert reply.status == 400
    decoded = urllib.parse.unquote(raw_path)
    assert reply.json() == remote_exception("InvalidPathException",
                                            "org.apache.hadoop.fs.InvalidPathException",
                                            f"Invalid path name {decoded}")


def test_doubled_and_trailing_slashes_are_normalized(server):
    """//a//b/ is /a/b, as Hadoop's Path makes it."""
    create(server, "/a/b", b"x")
    reply = send(server.namenode_port, "GET", "/webhdfs/v1//a//b/?op=GETFILESTATUS")
    assert reply.json()["FileStatus"]["length"] == 1


# -- MKDIRS ---------------------------------------------------------------------------------------

def test_mkdirs_creates_every_level_with_owner_and_permission(server):
    """Missing ancestors get the permission plus u+wx; the last level exactly the permission."""
    reply = nn(server, "PUT", "/m/n/o", op="MKDIRS", permission="550", **{"user.name": "carol"})
    assert (reply.status, reply.json()) == (200, {"boolean": True})
    assert reply.headers["content-type"] == "application/json"
    assert [(status(server, p)["owner"], status(server, p)["permission"])
            for p in ("/m", "/m/n", "/m/n/o")] == [("carol", "750"), ("carol", "750"),
                                                   ("carol", "550")]
    assert os.path.isdir(os.path.join(server.root_dir, "m", "n", "o"))


def test_mkdirs_of_an_existing_directory_is_true_and_keeps_it(server):
    """MKDIRS is idempotent on directories; the permission is not changed."""
    nn(server, "PUT", "/d", op="MKDIRS", permission="700")
    assert nn(server, "PUT", "/d", op="MKDIRS", permission="777").json() == {"boolean": True}
    assert status(server, "/d")["permission"] == "700"


def test_mkdirs_over_a_file_is_403(server):
    """A file where a directory is asked for is FileAlreadyExistsException."""
    create(server, "/f.txt", b"x")
    reply = nn(server, "PUT", "/f.txt", op="MKDIRS")
    assert reply.status == 403
    assert reply.json() == remote_exception("FileAlreadyExistsException",
                                            "org.apache.hadoop.fs.FileAlreadyExistsException",
                                            "Path is not a directory: /f.txt")


def test_requests_without_user_name_are_dr_who(server):
    """Simple authentication without user.name: hadoop.http.staticuser.user, dr.who."""
    nn(server, "PUT", "/anon", op="MKDIRS")
    assert status(server, "/anon")["owner"] == "dr.who"
    assert nn(server, "GET", "/", op="GETHOMEDIRECTORY").json() == {"Path": "/user/dr.who"}


def test_doas_makes_the_proxied_user_the_owner(server):
    """doas names the user a proxy user acts for."""
    nn(server, "PUT", "/proxied", op="MKDIRS", doas="bob", **ALICE)
    assert status(server, "/proxied")["owner"] == "bob"


# -- RENAME ---------------------------------------------------------------------------------------

def test_rename_moves_a_file_and_keeps_its_status(server):
    """RENAME → {"boolean": true}; the file keeps fileId, owner and permission."""
    create(server, "/a.txt", b"abc", user="bob", permission="640")
    before = status(server, "/a.txt")
    reply = nn(server, "PUT", "/a.txt", op="RENAME", destination="/b.txt", **ALICE)
    assert (reply.status, reply.json()) == (200, {"boolean": True})
    after = status(server, "/b.txt")
    assert {k: after[k] for k in ("fileId", "owner", "permission", "length")} == {
        k: before[k] for k in ("fileId", "owner", "permission", "length")}
    assert nn(server, "GET", "/a.txt", op="GETFILESTATUS").status == 404


def test_rename_into_an_existing_directory_moves_inside_it(server):
    """A directory as destination receives the source under its own name."""
    create(server, "/f.txt", b"x")
    nn(server, "PUT", "/d", op="MKDIRS")
    assert nn(server, "PUT", "/f.txt", op="RENAME", destination="/d").json() == {"boolean": True}
    assert status(server, "/d/f.txt")["length"] == 1


def test_rename_of_a_directory_moves_its_tree_and_metadata(server):
    """Everything below a renamed directory follows it, owners included."""
    create(server, "/src/deep/f.txt", b"x", user="bob")
    assert nn(server, "PUT", "/src", op="RENAME", destination="/dst").json() == {"boolean": True}
    assert status(server, "/dst/deep/f.txt")["owner"] == "bob"
    assert status(server, "/dst/deep")["owner"] == "bob"


@pytest.mark.parametrize("source, destination", [
    ("/f.txt", "/g.txt"),            # onto an existing file
    ("/f.txt", "/missing/g.txt"),    # into a missing parent
    ("/nope", "/h.txt"),             # from a missing source
    ("/d", "/d/inner"),              # under itself
])
def test_rename_that_cannot_happen_is_false(server, source, destination):
    """HDFS's rename answers false, not an error, and changes nothing."""
    create(server, "/f.txt", b"f")
    create(server, "/g.txt", b"g")
    nn(server, "PUT", "/d/inner", op="MKDIRS")
    reply = nn(server, "PUT", source, op="RENAME", destination=destination)
    assert (reply.status, reply.json()) == (200, {"boolean": False})
    assert sorted(os.listdir(server.root_dir)) == ["d", "f.txt", "g.txt"]
    assert read_local(server, "g.txt") == b"g"


def test_rename_without_a_destination_is_400(server):
    """A RENAME needs destination; a relative one is an invalid parameter."""
    create(server, "/f.txt", b"f")
    missing = nn(server, "PUT", "/f.txt", op="RENAME")
    relative = nn(server, "PUT", "/f.txt", op="RENAME", destination="g.txt")
    assert (missing.status, relative.status) == (400, 400)
    assert missing.json()["RemoteException"]["message"] == (
        "Required param destination for op: RENAME is null or empty")
    assert relative.json()["RemoteException"]["message"] == (
        'Invalid value for webhdfs parameter "destination": Invalid parameter value: '
        'destination = "g.txt" is not an absolute path.')


# -- DELETE ---------------------------------------------------------------------------------------

def test_delete_of_a_file_is_true_and_of_nothing_false(server):
    """DELETE answers whether something was deleted."""
    create(server, "/f.txt", b"x")
    first = nn(server, "DELETE", "/f.txt", op="DELETE")
    second = nn(server, "DELETE", "/f.txt", op="DELETE")
    assert (first.status, first.json(), second.json()) == (200, {"boolean": True},
                                                           {"boolean": False})
    assert not os.path.exists(os.path.join(server.root_dir, "f.txt"))


def test_delete_of_a_non_empty_directory_needs_recursive(server):
    """Non-recursive: 403 PathIsNotEmptyDirectoryException, as HDFS; recursive=true deletes."""
    create(server, "/d/sub/f.txt", b"x")
    refused = nn(server, "DELETE", "/d", op="DELETE")
    assert refused.status == 403
    assert refused.json() == remote_exception(
        "PathIsNotEmptyDirectoryException",
        "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
        "`/d is non empty': Directory is not empty")
    assert nn(server, "DELETE", "/d", op="DELETE", recursive="true").json() == {"boolean": True}
    assert os.listdir(server.root_dir) == []


def test_delete_of_an_empty_directory_needs_no_recursive(server):
    """An empty directory goes without recursive=true."""
    nn(server, "PUT", "/empty", op="MKDIRS")
    assert nn(server, "DELETE", "/empty", op="DELETE").json() == {"boolean": True}


def test_delete_of_the_root_is_false(server):
    """The root is never deleted, even recursively."""
    seed(server, "keep.txt", b"x")
    assert nn(server, "DELETE", "/", op="DELETE", recursive="true").json() == {"boolean": False}
    assert os.listdir(server.root_dir) == ["keep.txt"]


def test_a_deleted_then_recreated_path_starts_fresh(server):
    """Metadata goes with the file: a new file at the same path has new owner and fileId."""
    create(server, "/f.txt", b"x", user="bob", permission="600")
    old = status(server, "/f.txt")
    nn(server, "DELETE", "/f.txt", op="DELETE")
    create(server, "/f.txt", b"y", user="carol")
    new = status(server, "/f.txt")
    assert (new["owner"], new["permission"], new["fileId"] != old["fileId"]) == (
        "carol", "644", True)


# -- GETCONTENTSUMMARY ----------------------------------------------------------------------------

def test_content_summary_counts_directories_files_and_space(server):
    """directoryCount includes the directory itself; spaceConsumed counts replicas."""
    create(server, "/s/a", b"abc")
    create(server, "/s/t/b", b"12345", replication="2")
    reply = nn(server, "GET", "/s", op="GETCONTENTSUMMARY")
    assert reply.json() == {"ContentSummary": {
        "directoryCount": 2, "fileCount": 2, "length": 8, "quota": -1, "spaceConsumed": 13,
        "spaceQuota": -1, "typeQuota": {}}}


def test_content_summary_of_a_file_and_of_nothing(server):
    """A file is one file and no directory; a missing path is 404."""
    create(server, "/f.txt", b"abcd")
    summary = nn(server, "GET", "/f.txt", op="GETCONTENTSUMMARY").json()["ContentSummary"]
    assert (summary["directoryCount"], summary["fileCount"], summary["length"]) == (0, 1, 4)
    missing = nn(server, "GET", "/nope", op="GETCONTENTSUMMARY")
    assert (missing.status, missing.json()["RemoteException"]["message"]) == (
        404, "File does not exist: /nope")


# -- attribute operations ------------------------------------------------------------------------

def test_set_permission_owner_replication_and_times_show_in_the_status(server):
    """SETPERMISSION, SETOWNER, SETTIMES answer 200 empty; SETREPLICATION a boolean."""
    create(server, "/f.txt", b"x")
    replies = [nn(server, "PUT", "/f.txt", op="SETPERMISSION", permission="1750"),
               nn(server, "PUT", "/f.txt", op="SETOWNER", owner="dave", group="staff"),
               nn(server, "PUT", "/f.txt", op="SETTIMES", modificationtime="1500000000000",
                  accesstime="1600000000000")]
    assert [(r.status, r.body) for r in replies] == [(200, b"")] * 3
    assert nn(server, "PUT", "/f.txt", op="SETREPLICATION", replication="3").json() == {
        "boolean": True}
    st = status(server, "/f.txt")
    assert (st["permission"], st["owner"], st["group"], st["replication"],
            st["modificationTime"], st["accessTime"]) == (
        "1750", "dave", "staff", 3, 1500000000000, 1600000000000)


def test_set_replication_of_a_directory_is_false(server):
    """Only files have a replication factor."""
    nn(server, "PUT", "/d", op="MKDIRS")
    assert nn(server, "PUT", "/d", op="SETREPLICATION", replication="2").json() == {
        "boolean": False}


def test_set_owner_needs_an_owner_or_a_group_and_an_existing_path(server):
    """No owner nor group is a 400; a missing path a 404."""
    create(server, "/f.txt", b"x")
    empty = nn(server, "PUT", "/f.txt", op="SETOWNER")
    missing = nn(server, "PUT", "/nope", op="SETOWNER", owner="x")
    assert (empty.status, empty.json()["RemoteException"]["message"]) == (
        400, "Both owner and group are empty.")
    assert (missing.status, missing.json()["RemoteException"]["message"]) == (
        404, "File does not exist: /nope")


# -- operations and parameters ------------------------------------------------------------------

@pytest.mark.parametrize("method, enum", [("GET", "GetOpParam"), ("PUT", "PutOpParam"),
                                          ("POST", "PostOpParam"),
                                          ("DELETE", "DeleteOpParam")])
def test_unknown_op_is_400_illegal_argument(server, method, enum):
    """An op outside the method's enum: Hadoop's 'No enum constant' message."""
    reply = nn(server, method, "/", op="FROBNICATE")
    assert reply.status == 400
    assert reply.json() == remote_exception(
        "IllegalArgumentException", "java.lang.IllegalArgumentException",
        f'Invalid value for webhdfs parameter "op": No enum constant '
        f'org.apache.hadoop.hdfs.web.resources.{enum}.Op.FROBNICATE')


def test_op_sent_with_the_wrong_method_is_400(server):
    """MKDIRS is a PUT op: as a GET it is not in GetOpParam."""
    reply = nn(server, "GET", "/d", op="MKDIRS")
    assert (reply.status, reply.json()["RemoteException"]["message"]) == (
        400, 'Invalid value for webhdfs parameter "op": No enum constant '
             'org.apache.hadoop.hdfs.web.resources.GetOpParam.Op.MKDIRS')


@pytest.mark.parametrize("params, message", [
    ({}, "op=NULL is not supported"),
    ({"op": "GETFILECHECKSUM"}, "op=GETFILECHECKSUM is not supported"),
])
def test_missing_or_unimplemented_op_is_400_unsupported(server, params, message):
    """No op at all is op=NULL; a real op this server lacks says so the same way."""
    reply = nn(server, "GET", "/", **params)
    assert reply.status == 400
    assert reply.json() == remote_exception("UnsupportedOperationException",
                                            "java.lang.UnsupportedOperationException", message)


def test_op_and_parameter_names_are_case_insensitive(server):
    """op values and parameter names are matched ignoring case (Hadoop's ParamFilter)."""
    reply = send(server.namenode_port, "PUT", "/webhdfs/v1/ci?OP=mkdirs&User.Name=erin")
    assert reply.json() == {"boolean": True}
    assert status(server, "/ci")["owner"] == "erin"


@pytest.mark.parametrize("method, params, message", [
    ("GET", {"op": "OPEN", "offset": "abc"},
     'Invalid value for webhdfs parameter "offset": Failed to parse "abc" as a radix-10 long '
     'integer.'),
    ("GET", {"op": "OPEN", "offset": "-1"},
     'Invalid value for webhdfs parameter "offset": Invalid parameter range: offset = -1 < 0'),
    ("GET", {"op": "OPEN", "length": "x"},
     'Invalid value for webhdfs parameter "length": Failed to parse "x" as a radix-10 long '
     'integer.'),
    ("GET", {"op": "OPEN", "buffersize": "0"},
     'Invalid value for webhdfs parameter "buffersize": Invalid parameter range: buffersize = 0 '
     '< 1'),
    ("PUT", {"op": "CREATE", "permission": "999"},
     'Invalid value for webhdfs parameter "permission": Failed to parse "999" as a radix-8 '
     'short integer.'),
    ("PUT", {"op": "MKDIRS", "permission": "2000"},
     'Invalid value for webhdfs parameter "permission": Invalid parameter range: permission = '
     '2000 > 1777'),
    ("PUT", {"op": "CREATE", "overwrite": "yes"},
     'Invalid value for webhdfs parameter "overwrite": Failed to parse "yes" to Boolean.'),
    ("PUT", {"op": "CREATE", "replication": "0"},
     'Invalid value for webhdfs parameter "replication": Invalid parameter range: replication '
     '= 0 < 1'),
    ("DELETE", {"op": "DELETE", "recursive": "maybe"},
     'Invalid value for webhdfs parameter "recursive": Failed to parse "maybe" to Boolean.'),
    ("GET", {"op": "GETFILESTATUS", "user.name": "1bad"},
     'Invalid value for webhdfs parameter "user.name": Invalid value: "1bad" does not belong '
     'to the domain ^[A-Za-z_][A-Za-z0-9._-]*[$]?$'),
])
def test_malformed_parameters_are_400_with_hadoops_message(server, method, params, message):
    """Parameters are parsed as Hadoop's *Param classes parse them."""
    seed(server, "f.txt", b"x")
    reply = nn(server, method, "/f.txt", **params)
    assert reply.status == 400
    assert reply.json() == remote_exception("IllegalArgumentException",
                                            "java.lang.IllegalArgumentException", message)


# -- the hdfs package as a client ----------------------------------------------------------------

def test_hdfs_client_writes_and_reads_with_offset_and_length(client):
    """write() then read() of the whole file and of a range."""
    client.write("/data/hello.txt", b"hello webhdfs world")
    with client.read("/data/hello.txt") as reader:
        assert reader.read() == b"hello webhdfs world"
    with client.read("/data/hello.txt", offset=6, length=7) as reader:
        assert reader.read() == b"webhdfs"
    with client.read("/data/hello.txt", encoding="utf-8", delimiter=" ") as lines:
        assert list(lines) == ["hello", "webhdfs", "world"]


def test_hdfs_client_streams_generators_and_writers_as_chunked_uploads(client, server):
    """A generator and the write() context manager both upload with chunked encoding."""
    client.write("/gen.bin", (bytes([i]) * 10_000 for i in range(20)))
    with client.write("/ctx.txt", encoding="utf-8") as writer:
        json.dump({"rows": list(range(5))}, writer)
    assert client.status("/gen.bin")["length"] == 200_000
    with client.read("/ctx.txt", encoding="utf-8") as reader:
        assert json.load(reader) == {"rows": [0, 1, 2, 3, 4]}


def test_hdfs_client_write_with_properties_and_append(client):
    """permission/replication/blocksize reach the file; append=True adds to it."""
    client.write("/p.txt", b"one,", permission="600", replication=2, blocksize=4 * MiB)
    client.write("/p.txt", b"two", append=True)
    st = client.status("/p.txt")
    assert (st["owner"], st["permission"], st["replication"], st["blockSize"], st["length"]) == (
        "alice", "600", 2, 4 * MiB, 7)
    with client.read("/p.txt") as reader:
        assert reader.read() == b"one,two"


def test_hdfs_client_lists_makes_directories_and_summarizes(client):
    """list (with status), makedirs with a permission, content."""
    client.makedirs("/tree/empty", permission="700")
    client.write("/tree/a.txt", b"aaa")
    client.write("/tree/b/c.txt", b"cc")
    assert client.list("/tree") == ["a.txt", "b", "empty"]
    listed = dict(client.list("/tree", status=True))
    assert (listed["empty"]["permission"], listed["b"]["type"]) == ("700", "DIRECTORY")
    assert client.content("/tree") == {"directoryCount": 3, "fileCount": 2, "length": 5,
                                       "quota": -1, "spaceConsumed": 5, "spaceQuota": -1,
                                       "typeQuota": {}}
    assert [path for path, _, _ in client.walk("/tree")] == ["/tree", "/tree/b", "/tree/empty"]


def test_hdfs_client_rename_and_delete(client):
    """rename() into a directory and onto a file (an error); delete() with and without recursion."""
    client.write("/r/f.txt", b"f")
    client.write("/r/g.txt", b"g")
    client.makedirs("/moved")
    client.rename("/r/f.txt", "/moved")
    assert client.list("/moved") == ["f.txt"]
    with pytest.raises(hdfs.HdfsError, match=r"Unable to rename '/r/g.txt' to '/moved/f.txt'"):
        client.rename("/r/g.txt", "/moved/f.txt")
    with pytest.raises(hdfs.HdfsError) as not_empty:
        client.delete("/moved")
    assert not_empty.value.exception == "PathIsNotEmptyDirectoryException"
    assert client.delete("/moved", recursive=True) is True
    assert client.delete("/moved") is False


def test_hdfs_client_sees_hadoop_errors(client):
    """Missing files, existing files and listing a file fail with HdfsError as on HDFS."""
    with pytest.raises(hdfs.HdfsError) as missing:
        client.status("/nope")
    assert (missing.value.message, missing.value.exception) == (
        "File does not exist: /nope", "FileNotFoundException")
    assert client.status("/nope", strict=False) is None
    with pytest.raises(hdfs.HdfsError, match="File /nope not found."):
        with client.read("/nope") as reader:
            reader.read()
    client.write("/exists.txt", b"x")
    with pytest.raises(hdfs.HdfsError) as exists:
        client.write("/exists.txt", b"y")
    assert exists.value.exception == "FileAlreadyExistsException"
    with pytest.raises(hdfs.HdfsError, match="is not a directory"):
        client.list("/exists.txt")


def test_hdfs_client_uploads_and_downloads_a_tree(client, tmp_path):
    """upload() of a local tree (several threads), then download() of it back."""
    local = tmp_path / "local"
    for name, data in {"a.txt": b"A" * 1000, "sub/b.bin": os.urandom(300_000),
                       "sub/deeper/c.txt": b"c"}.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    assert client.upload("/up", str(local), n_threads=3) == "/up"
    assert sorted(p for p, _, files in client.walk("/up") for _ in files) == [
        "/up", "/up/sub", "/up/sub/deeper"]
    back = tmp_path / "back"
    client.download("/up", str(back), n_threads=3)
    for name in ("a.txt", "sub/b.bin", "sub/deeper/c.txt"):
        assert (back / name).read_bytes() == (local / name).read_bytes()


def test_hdfs_client_upload_with_overwrite_replaces_an_existing_file(client, tmp_path):
    """overwrite=True uploads to a temporary name, deletes the old file and renames."""
    client.write("/target.txt", b"old")
    source = tmp_path / "new.txt"
    source.write_bytes(b"new content")
    with pytest.raises(hdfs.HdfsError, match="already exists"):
        client.upload("/target.txt", str(source))
    client.upload("/target.txt", str(source), overwrite=True)
    with client.read("/target.txt") as reader:
        assert reader.read() == b"new content"
    assert client.list("/") == ["target.txt"]


def test_hdfs_client_relative_paths_live_in_the_home_directory(client):
    """Relative paths resolve through GETHOMEDIRECTORY to /user/<name>."""
    client.write("notes.txt", b"n")
    assert client.status("/user/alice/notes.txt")["owner"] == "alice"


def test_hdfs_client_delete_to_trash(client):
    """delete(skip_trash=False) moves the file under GETTRASHROOT."""
    client.write("/doomed.txt", b"x")
    assert client.delete("/doomed.txt", skip_trash=False) is True
    [stamp] = client.list("/user/alice/.Trash/Current")
    assert client.list(f"/user/alice/.Trash/Current/{stamp}") == ["doomed.txt"]


def test_hdfs_client_sets_owner_permission_replication_and_times(client):
    """set_owner, set_permission, set_replication and set_times."""
    client.write("/attrs.txt", b"x")
    client.set_owner("/attrs.txt", owner="zoe", group="analysts")
    client.set_permission("/attrs.txt", "640")
    client.set_replication("/attrs.txt", 3)
    client.set_times("/attrs.txt", access_time=1234567890000, modification_time=1234567890000)
    st = client.status("/attrs.txt")
    assert (st["owner"], st["group"], st["permission"], st["replication"],
            st["accessTime"], st["modificationTime"]) == (
        "zoe", "analysts", "640", 3, 1234567890000, 1234567890000)
    client.makedirs("/adir")
    with pytest.raises(hdfs.HdfsError, match="is not a file"):
        client.set_replication("/adir", 2)


# -- permissions (enforce_permissions=True) -------------------------------------------------------

SUPER = {"user.name": "hdfs"}
BOB = {"user.name": "bob"}

#: What ``secure`` holds, made by the superuser: (path, owner, group, mode, data), data None for
#: a directory.  One entry for each situation the permission tests need.
TREE = [
    ("/dir", "bob", "supergroup", "755", None),                # bob's; others read and traverse
    ("/dir/f.txt", "bob", "supergroup", "644", b"bob's"),
    ("/dir/secret.txt", "bob", "supergroup", "600", b"secret"),
    ("/dir/unlisted", "bob", "supergroup", "711", None),       # others traverse, cannot list
    ("/dir/unlisted/f.txt", "bob", "supergroup", "644", b"u"),
    ("/private", "bob", "supergroup", "700", None),            # others cannot even traverse
    ("/private/f.txt", "bob", "supergroup", "644", b"p"),
    ("/home", "hdfs", "supergroup", "755", None),
    ("/home/alice", "alice", "supergroup", "755", None),       # alice's own
    ("/home/alice/f.txt", "alice", "supergroup", "644", b"a"),
    ("/open", "hdfs", "supergroup", "777", None),              # anyone adds and removes entries
    ("/open/bob.txt", "bob", "supergroup", "644", b"b"),
    ("/open/tree", "bob", "supergroup", "777", None),
    ("/open/tree/locked", "bob", "supergroup", "755", None),   # a closed non-empty directory
    ("/open/tree/locked/f.txt", "bob", "supergroup", "644", b"l"),
    ("/open/shallow", "bob", "supergroup", "777", None),
    ("/open/shallow/empty", "bob", "supergroup", "500", None),  # closed, but empty
    ("/tmp", "hdfs", "supergroup", "1777", None),              # sticky
    ("/tmp/bob.txt", "bob", "supergroup", "644", b"t"),
    ("/team", "bob", "alice", "070", None),                    # for the group alice only
]


def access_denied(message) -> dict:
    return remote_exception("AccessControlException",
                            "org.apache.hadoop.security.AccessControlException", message)


def assert_denied(*replies, message):
    """Each reply is a 403 AccessControlException saying ``message``."""
    assert [(r.status, r.json()) for r in replies] == [(403, access_denied(message))] * len(
        replies)


def build(server, tree):
    """Make ``tree`` as the superuser, then hand each entry to its owner, group and mode."""
    for path, owner, group, mode, data in tree:
        if data is None:
            assert nn(server, "PUT", path, op="MKDIRS", **SUPER).json() == {"boolean": True}
        else:
            assert create(server, path, data, user="hdfs").status == 201
        assert nn(server, "PUT", path, op="SETOWNER", owner=owner, group=group,
                  **SUPER).status == 200
        assert nn(server, "PUT", path, op="SETPERMISSION", permission=mode,
                  **SUPER).status == 200


@pytest.fixture
def secure(tmp_path):
    """A server that enforces permissions (dfs.permissions.enabled), holding TREE."""
    with WebHDFSServer(str(tmp_path / "secure-root"), enforce_permissions=True) as srv:
        build(srv, TREE)
        yield srv


def test_permissions_are_enforced_only_when_asked(server, tmp_path):
    """By default permissions are recorded only; enforce_permissions=True checks them."""
    assert nn(server, "PUT", "/made", op="MKDIRS", **ALICE).json() == {"boolean": True}
    with WebHDFSServer(str(tmp_path / "enforcing"), enforce_permissions=True) as secure:
        refused = nn(secure, "PUT", "/made", op="MKDIRS", **ALICE)
        anonymous = nn(secure, "PUT", "/made", op="MKDIRS")
    assert refused.status == 403
    assert refused.json() == access_denied(
        'Permission denied: user=alice, access=WRITE, inode="/":hdfs:supergroup:drwxr-xr-x')
    assert anonymous.json()["RemoteException"]["message"].startswith(
        "Permission denied: user=dr.who, access=WRITE")


def test_superuser_passes_every_check(secure):
    """The superuser lists, reads, writes, deletes and gives away whatever the modes say."""
    listed = nn(secure, "GET", "/private", op="LISTSTATUS", **SUPER).json()
    assert [s["pathSuffix"] for s in listed["FileStatuses"]["FileStatus"]] == ["f.txt"]
    redirect = nn(secure, "GET", "/dir/secret.txt", op="OPEN", **SUPER)
    assert follow(redirect.headers["location"], "GET").body == b"secret"
    assert nn(secure, "PUT", "/team/x", op="MKDIRS", **SUPER).json() == {"boolean": True}
    assert nn(secure, "DELETE", "/open/tree", op="DELETE", recursive="true",
              **SUPER).json() == {"boolean": True}
    assert nn(secure, "PUT", "/dir/f.txt", op="SETOWNER", owner="carol", **SUPER).status == 200
    assert status(secure, "/dir/f.txt")["owner"] == "carol"


def test_every_existing_ancestor_needs_execute(secure):
    """Traversal: EXECUTE on each existing ancestor, not on the path itself."""
    assert_denied(nn(secure, "GET", "/private/f.txt", op="GETFILESTATUS", **ALICE),
                  nn(secure, "GET", "/private/no/such", op="GETFILESTATUS", **ALICE),
                  nn(secure, "PUT", "/private/x/y", op="MKDIRS", **ALICE),
                  message='Permission denied: user=alice, access=EXECUTE, '
                          'inode="/private":bob:supergroup:drwx------')
    assert status(secure, "/private", **ALICE)["permission"] == "700"
    assert status(secure, "/private/f.txt", **BOB)["length"] == 1


def test_mkdirs_needs_write_on_the_deepest_existing_ancestor(secure):
    """MKDIRS of /dir/a/b needs WRITE on /dir; an existing directory needs nothing more."""
    reply = nn(secure, "PUT", "/dir/a/b", op="MKDIRS", **ALICE)
    assert_denied(reply, message=(
        'Permission denied: user=alice, access=WRITE, inode="/dir":bob:supergroup:drwxr-xr-x'))
    assert not os.path.exists(os.path.join(secure.root_dir, "dir", "a"))
    assert nn(secure, "PUT", "/dir", op="MKDIRS", **ALICE).json() == {"boolean": True}
    assert nn(secure, "PUT", "/home/alice/a/b", op="MKDIRS", **ALICE).json() == {"boolean": True}
    assert nn(secure, "PUT", "/dir/a/b", op="MKDIRS", **BOB).json() == {"boolean": True}


def test_create_needs_write_on_the_parent_and_is_refused_by_the_datanode(secure):
    """The NameNode redirects as ever (create() checks the 307); the DataNode refuses."""
    assert_denied(create(secure, "/dir/new.txt", b"data"),
                  create(secure, "/dir/a/b/new.txt", b"data"),
                  message='Permission denied: user=alice, access=WRITE, '
                          'inode="/dir":bob:supergroup:drwxr-xr-x')
    assert not os.path.exists(os.path.join(secure.root_dir, "dir", "new.txt"))
    assert create(secure, "/dir/new.txt", b"data", user="bob").status == 201


def test_create_with_overwrite_also_needs_write_on_the_file(secure):
    """Replacing someone's file needs WRITE on it; without overwrite it just exists."""
    refused = create(secure, "/open/bob.txt", b"mine", overwrite="true")
    assert_denied(refused, message=(
        'Permission denied: user=alice, access=WRITE, '
        'inode="/open/bob.txt":bob:supergroup:-rw-r--r--'))
    exists = create(secure, "/open/bob.txt", b"mine")
    assert exists.json()["RemoteException"]["exception"] == "FileAlreadyExistsException"
    assert read_local(secure, "open/bob.txt") == b"b"
    assert create(secure, "/open/bob.txt", b"new", user="bob", overwrite="true").status == 201


def test_append_needs_write_on_the_file(secure):
    """APPEND is redirected, then refused by the DataNode without WRITE on the file."""
    redirect = nn(secure, "POST", "/dir/f.txt", op="APPEND", **ALICE)
    assert redirect.status == 307
    reply = follow(redirect.headers["location"], "POST", b"+alice")
    assert_denied(reply, message=(
        'Permission denied: user=alice, access=WRITE, '
        'inode="/dir/f.txt":bob:supergroup:-rw-r--r--'))
    bobs = nn(secure, "POST", "/dir/f.txt", op="APPEND", **BOB)
    assert follow(bobs.headers["location"], "POST", b"+bob").status == 200
    assert read_local(secure, "dir/f.txt") == b"bob's+bob"


def test_open_needs_read_on_the_file(secure):
    """OPEN without READ is refused by the NameNode, and by the DataNode if asked directly."""
    direct = send(secure.datanode_port, "GET", "/webhdfs/v1/dir/secret.txt?op=OPEN&"
                                               "user.name=alice&namenoderpcaddress=x")
    assert_denied(nn(secure, "GET", "/dir/secret.txt", op="OPEN", **ALICE), direct,
                  message='Permission denied: user=alice, access=READ, '
                          'inode="/dir/secret.txt":bob:supergroup:-rw-------')
    bobs = nn(secure, "GET", "/dir/secret.txt", op="OPEN", **BOB)
    assert follow(bobs.headers["location"], "GET").body == b"secret"
    readable = nn(secure, "GET", "/dir/f.txt", op="OPEN", **ALICE)
    assert follow(readable.headers["location"], "GET").body == b"bob's"


def test_liststatus_needs_read_and_execute_on_a_directory(secure):
    """A 711 directory is traversed but not listed; a file lists with traversal alone."""
    reply = nn(secure, "GET", "/dir/unlisted", op="LISTSTATUS", **ALICE)
    assert_denied(reply, message=(
        'Permission denied: user=alice, access=READ_EXECUTE, '
        'inode="/dir/unlisted":bob:supergroup:drwx--x--x'))
    assert status(secure, "/dir/unlisted/f.txt", **ALICE)["length"] == 1
    listed = nn(secure, "GET", "/dir/unlisted/f.txt", op="LISTSTATUS", **ALICE)
    assert listed.json()["FileStatuses"]["FileStatus"][0]["pathSuffix"] == ""
    bobs = nn(secure, "GET", "/dir/unlisted", op="LISTSTATUS", **BOB).json()
    assert [s["pathSuffix"] for s in bobs["FileStatuses"]["FileStatus"]] == ["f.txt"]


def test_delete_needs_write_on_the_parent(secure):
    """DELETE in a directory one cannot write is refused, even of a path that is not there."""
    assert_denied(nn(secure, "DELETE", "/dir/f.txt", op="DELETE", **ALICE),
                  nn(secure, "DELETE", "/dir/missing", op="DELETE", **ALICE),
                  message='Permission denied: user=alice, access=WRITE, '
                          'inode="/dir":bob:supergroup:drwxr-xr-x')
    assert os.path.exists(os.path.join(secure.root_dir, "dir", "f.txt"))
    assert nn(secure, "DELETE", "/home/alice/f.txt", op="DELETE", **ALICE).json() == {
        "boolean": True}
    assert nn(secure, "DELETE", "/dir/f.txt", op="DELETE", **BOB).json() == {"boolean": True}


def test_recursive_delete_needs_all_on_every_non_empty_directory_below(secure):
    """A closed non-empty directory inside stops a recursive DELETE; a closed empty one not."""
    reply = nn(secure, "DELETE", "/open/tree", op="DELETE", recursive="true", **ALICE)
    assert_denied(reply, message=(
        'Permission denied: user=alice, access=ALL, '
        'inode="/open/tree/locked":bob:supergroup:drwxr-xr-x'))
    assert os.path.exists(os.path.join(secure.root_dir, "open", "tree", "locked", "f.txt"))
    assert nn(secure, "DELETE", "/open/shallow", op="DELETE", recursive="true",
              **ALICE).json() == {"boolean": True}


def test_rename_needs_write_on_the_source_parent_and_the_destination_parent(secure):
    """RENAME checks WRITE where the entry leaves and where it arrives."""
    source = nn(secure, "PUT", "/dir/f.txt", op="RENAME", destination="/home/alice/g.txt",
                **ALICE)
    assert_denied(source, message=(
        'Permission denied: user=alice, access=WRITE, inode="/dir":bob:supergroup:drwxr-xr-x'))
    for destination in ("/dir/unlisted/g.txt", "/dir/unlisted"):   # a directory: moved inside
        reply = nn(secure, "PUT", "/home/alice/f.txt", op="RENAME", destination=destination,
                   **ALICE)
        assert_denied(reply, message=(
            'Permission denied: user=alice, access=WRITE, '
            'inode="/dir/unlisted":bob:supergroup:drwx--x--x'))
    assert nn(secure, "PUT", "/home/alice/f.txt", op="RENAME", destination="/open/a.txt",
              **ALICE).json() == {"boolean": True}
    assert nn(secure, "PUT", "/dir/f.txt", op="RENAME", destination="/dir/g.txt",
              **BOB).json() == {"boolean": True}


def test_sticky_directory_keeps_other_users_entries(secure):
    """In a 1777 directory anyone adds entries but removes or moves only their own."""
    deleted = nn(secure, "DELETE", "/tmp/bob.txt", op="DELETE", **ALICE)
    renamed = nn(secure, "PUT", "/tmp/bob.txt", op="RENAME", destination="/tmp/a.txt", **ALICE)
    assert_denied(deleted, renamed, message=(
        'Permission denied by sticky bit: user=alice, path="/tmp/bob.txt":bob:supergroup:'
        '-rw-r--r--, parent="/tmp":hdfs:supergroup:drwxrwxrwt'))
    assert create(secure, "/tmp/alice.txt", b"a").status == 201
    assert nn(secure, "DELETE", "/tmp/alice.txt", op="DELETE", **ALICE).json() == {
        "boolean": True}
    assert nn(secure, "DELETE", "/tmp/bob.txt", op="DELETE", **BOB).json() == {"boolean": True}


def test_group_bits_apply_to_the_users_own_group_and_owner_bits_to_the_owner(secure):
    """A user's group is its own name: alice uses /team's group bits; its owner bob and the
    other carol are held to their own (empty) bits."""
    assert nn(secure, "PUT", "/team/x", op="MKDIRS", **ALICE).json() == {"boolean": True}
    listed = nn(secure, "GET", "/team", op="LISTSTATUS", **ALICE).json()
    assert [s["pathSuffix"] for s in listed["FileStatuses"]["FileStatus"]] == ["x"]
    for user in ("bob", "carol"):
        reply = nn(secure, "PUT", "/team/y", op="MKDIRS", **{"user.name": user})
        assert_denied(reply, message=(
            f'Permission denied: user={user}, access=EXECUTE, '
            f'inode="/team":bob:alice:d---rwx---'))


def test_set_permission_is_for_the_owner_and_the_superuser(secure):
    """SETPERMISSION by anyone else is refused; a missing path is still a 404."""
    reply = nn(secure, "PUT", "/dir/f.txt", op="SETPERMISSION", permission="777", **ALICE)
    assert_denied(reply, message=(
        "Permission denied. user=alice is not the owner of inode=/dir/f.txt"))
    missing = nn(secure, "PUT", "/dir/nope", op="SETPERMISSION", permission="777", **ALICE)
    assert (missing.status, missing.json()["RemoteException"]["message"]) == (
        404, "File does not exist: /dir/nope")
    assert nn(secure, "PUT", "/dir/f.txt", op="SETPERMISSION", permission="600",
              **BOB).status == 200
    assert status(secure, "/dir/f.txt")["permission"] == "600"
    assert nn(secure, "PUT", "/dir/f.txt", op="SETPERMISSION", permission="640",
              **SUPER).status == 200


def test_set_owner_gives_a_path_away_only_as_the_superuser(secure):
    """The owner may only pick a group it is in (its own name); the superuser does anything."""
    assert_denied(nn(secure, "PUT", "/dir/f.txt", op="SETOWNER", owner="alice", **ALICE),
                  message="Permission denied. user=alice is not the owner of inode=/dir/f.txt")
    assert_denied(nn(secure, "PUT", "/dir/f.txt", op="SETOWNER", owner="alice", **BOB),
                  message="User bob is not a super user (non-super user cannot change owner).")
    assert_denied(nn(secure, "PUT", "/dir/f.txt", op="SETOWNER", group="staff", **BOB),
                  message="User bob does not belong to staff")
    assert nn(secure, "PUT", "/dir/f.txt", op="SETOWNER", owner="bob", group="bob",
              **BOB).status == 200
    assert (status(secure, "/dir/f.txt")["owner"], status(secure, "/dir/f.txt")["group"]) == (
        "bob", "bob")
    assert nn(secure, "PUT", "/dir/f.txt", op="SETOWNER", owner="alice", group="staff",
              **SUPER).status == 200
    assert status(secure, "/dir/f.txt")["owner"] == "alice"


def test_set_replication_and_set_times_need_write(secure):
    """Changing a file's replication or times needs WRITE on it."""
    assert_denied(
        nn(secure, "PUT", "/dir/f.txt", op="SETREPLICATION", replication="3", **ALICE),
        nn(secure, "PUT", "/dir/f.txt", op="SETTIMES", modificationtime="1000", **ALICE),
        message='Permission denied: user=alice, access=WRITE, '
                'inode="/dir/f.txt":bob:supergroup:-rw-r--r--')
    assert nn(secure, "PUT", "/dir/f.txt", op="SETREPLICATION", replication="3",
              **BOB).json() == {"boolean": True}
    assert nn(secure, "PUT", "/dir/f.txt", op="SETTIMES", modificationtime="1000",
              **BOB).status == 200
    assert (status(secure, "/dir/f.txt")["replication"],
            status(secure, "/dir/f.txt")["modificationTime"]) == (3, 1000)


def test_content_summary_needs_read_and_execute_on_every_directory_below(secure):
    """GETCONTENTSUMMARY reads the whole subtree, so every directory in it must be readable."""
    reply = nn(secure, "GET", "/dir", op="GETCONTENTSUMMARY", **ALICE)
    assert_denied(reply, message=(
        'Permission denied: user=alice, access=READ_EXECUTE, '
        'inode="/dir/unlisted":bob:supergroup:drwx--x--x'))
    assert nn(secure, "GET", "/dir", op="GETCONTENTSUMMARY", **BOB).json()["ContentSummary"][
        "fileCount"] == 3
    assert nn(secure, "GET", "/home", op="GETCONTENTSUMMARY", **ALICE).status == 200


def test_the_proxied_user_is_the_one_checked(secure):
    """With doas the checks are the proxied user's, not the proxy's."""
    assert nn(secure, "PUT", "/dir/by-bob", op="MKDIRS", doas="bob", **ALICE).json() == {
        "boolean": True}
    refused = nn(secure, "PUT", "/dir/by-carol", op="MKDIRS", doas="carol", **BOB)
    assert refused.json()["RemoteException"]["message"].startswith(
        "Permission denied: user=carol, access=WRITE")


def _read(path):
    def read(client):
        with client.read(path) as reader:
            return reader.read()
    return read


#: (what alice tries, the part of the message that says why it is refused)
CLIENT_DENIALS = {
    "traverse": (lambda c: c.status("/private/f.txt"), 'access=EXECUTE, inode="/private"'),
    "mkdirs": (lambda c: c.makedirs("/dir/a/b"), 'access=WRITE, inode="/dir"'),
    "create": (lambda c: c.write("/dir/new.txt", b"x"), 'access=WRITE, inode="/dir"'),
    "overwrite": (lambda c: c.write("/open/bob.txt", b"x", overwrite=True),
                  'access=WRITE, inode="/open/bob.txt"'),
    "append": (lambda c: c.write("/dir/f.txt", b"x", append=True),
               'access=WRITE, inode="/dir/f.txt"'),
    "read": (_read("/dir/secret.txt"), 'access=READ, inode="/dir/secret.txt"'),
    "list": (lambda c: c.list("/dir/unlisted"), 'access=READ_EXECUTE, inode="/dir/unlisted"'),
    "content": (lambda c: c.content("/dir"), 'access=READ_EXECUTE, inode="/dir/unlisted"'),
    "delete": (lambda c: c.delete("/dir/f.txt"), 'access=WRITE, inode="/dir"'),
    "delete-tree": (lambda c: c.delete("/open/tree", recursive=True),
                    'access=ALL, inode="/open/tree/locked"'),
    "rename-from": (lambda c: c.rename("/dir/f.txt", "/home/alice/g.txt"),
                    'access=WRITE, inode="/dir"'),
    "rename-to": (lambda c: c.rename("/home/alice/f.txt", "/dir/unlisted"),
                  'access=WRITE, inode="/dir/unlisted"'),
    "sticky-bit": (lambda c: c.delete("/tmp/bob.txt"), 'sticky bit: user=alice'),
    "set-permission": (lambda c: c.set_permission("/dir/f.txt", "777"),
                       "user=alice is not the owner of inode=/dir/f.txt"),
    "set-owner": (lambda c: c.set_owner("/dir/f.txt", owner="alice"),
                  "user=alice is not the owner of inode=/dir/f.txt"),
    "set-replication": (lambda c: c.set_replication("/dir/f.txt", 3),
                        'access=WRITE, inode="/dir/f.txt"'),
    "set-times": (lambda c: c.set_times("/dir/f.txt", modification_time=1000),
                  'access=WRITE, inode="/dir/f.txt"'),
}


@pytest.fixture
def clients(secure):
    """hdfs clients of the enforcing server, by user name."""
    made = {user: hdfs.InsecureClient(secure.namenode_url, user=user, timeout=10)
            for user in ("alice", "bob", "carol", "hdfs")}
    yield made
    for c in made.values():
        c._session.close()


@pytest.mark.parametrize("action, reason", CLIENT_DENIALS.values(), ids=CLIENT_DENIALS.keys())
def test_hdfs_client_sees_permission_denied(clients, action, reason):
    """Each refused operation is an HdfsError: AccessControlException, 'Permission denied'."""
    with pytest.raises(hdfs.HdfsError, match="Permission denied") as refused:
        action(clients["alice"])
    assert refused.value.exception == "AccessControlException"
    assert reason in refused.value.message


def test_hdfs_client_owners_groups_and_the_superuser_pass_the_checks(clients, secure):
    """What alice was refused, bob (owner), alice in /team (group) and hdfs (superuser) do."""
    bob, alice, root = clients["bob"], clients["alice"], clients["hdfs"]
    bob.makedirs("/dir/a/b")
    bob.write("/dir/new.txt", b"new")
    bob.write("/dir/f.txt", b"+more", append=True)
    assert _read("/dir/secret.txt")(bob) == b"secret"
    assert bob.list("/dir/unlisted") == ["f.txt"]
    assert bob.content("/dir")["fileCount"] == 4
    bob.set_permission("/dir/f.txt", "640")
    bob.set_replication("/dir/f.txt", 2)
    bob.rename("/dir/f.txt", "/dir/g.txt")
    assert bob.delete("/dir/g.txt") is True
    assert bob.delete("/tmp/bob.txt") is True
    alice.write("/team/notes.txt", b"group work")
    assert alice.list("/team") == ["notes.txt"]
    with pytest.raises(hdfs.HdfsError, match="Permission denied: user=carol, access=READ_EXECUTE"):
        clients["carol"].list("/team")
    with pytest.raises(hdfs.HdfsError, match=r"User bob is not a super user"):
        bob.set_owner("/dir/new.txt", owner="alice")
    assert root.list("/private") == ["f.txt"]
    root.set_owner("/dir/new.txt", owner="alice", group="staff")
    assert alice.status("/dir/new.txt")["owner"] == "alice"
    assert root.delete("/open/tree", recursive=True) is True


# -- robustness -----------------------------------------------------------------------------------

def test_concurrent_clients_write_and_read_their_own_files(server):
    """Sixteen clients at once, each writing, reading back and listing."""
    def work(i):
        client = hdfs.InsecureClient(server.namenode_url, user=f"user{i}", timeout=10)
        try:
            data = os.urandom(100_000 + i)
            client.write(f"/par/{i}/data.bin", data)
            with client.read(f"/par/{i}/data.bin") as reader:
                assert reader.read() == data
            assert client.list(f"/par/{i}") == ["data.bin"]
            return client.status(f"/par/{i}/data.bin")["owner"]
        finally:
            client._session.close()

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        owners = list(pool.map(work, range(16)))
    assert owners == [f"user{i}" for i in range(16)]
    summary = nn(server, "GET", "/par", op="GETCONTENTSUMMARY").json()["ContentSummary"]
    assert (summary["fileCount"], summary["directoryCount"]) == (16, 17)


def test_concurrent_mkdirs_of_one_tree_all_succeed(server):
    """Racing MKDIRS of the same path are all true and make one tree."""
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda _: nn(server, "PUT", "/race/a/b", op="MKDIRS"), range(12)))
    assert [r.json() for r in replies] == [{"boolean": True}] * 12
    assert nn(server, "GET", "/race", op="GETCONTENTSUMMARY").json()["ContentSummary"][
        "directoryCount"] == 3


def test_large_download_is_streamed_not_buffered(server):
    """A 32 MiB OPEN passes through in pieces: peak traced memory stays far below the file size."""
    size = 32 * MiB
    local = os.path.join(server.root_dir, "big.bin")
    with open(local, "wb") as fh:
        fh.truncate(size)
        fh.seek(size // 2)
        fh.write(b"middle")
        fh.seek(size - 3)
        fh.write(b"end")
    expected = hashlib.sha256()
    with open(local, "rb") as fh:
        while piece := fh.read(MiB):
            expected.update(piece)
    location = nn(server, "GET", "/big.bin", op="OPEN", **ALICE).headers["location"]
    digest, total = hashlib.sha256(), 0
    conn = http.client.HTTPConnection("127.0.0.1", server.datanode_port, timeout=10)
    tracemalloc.start()
    try:
        conn.request("GET", datanode_target(location))
        response = conn.getresponse()
        while piece := response.read(64 * 1024):
            digest.update(piece)
            total += len(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        conn.close()
    assert (response.status, total, digest.hexdigest()) == (200, size, expected.hexdigest())
    assert peak < 4 * MiB


def test_large_chunked_upload_is_streamed_to_disk(server):
    """A 32 MiB chunked CREATE is written as it arrives: peak traced memory stays small."""
    block = bytes(range(256)) * 256
    count = 32 * MiB // len(block)
    location = nn(server, "PUT", "/up.bin", op="CREATE", **ALICE).headers["location"]
    conn = http.client.HTTPConnection("127.0.0.1", server.datanode_port, timeout=10)
    tracemalloc.start()
    try:
        conn.request("PUT", datanode_target(location), body=(block for _ in range(count)))
        response = conn.getresponse()
        response.read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        conn.close()
    assert response.status == 201
    assert os.path.getsize(os.path.join(server.root_dir, "up.bin")) == 32 * MiB
    assert peak < 4 * MiB


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


def test_command_line_serves_until_interrupted(tmp_path):
    """python -m ... --root DIR prints both addresses, serves, and exits 0 on Ctrl-C."""
    root = tmp_path / "cli-root"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vega_runtime.testing.webhdfs", "--root", str(root),
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
        [sys.executable, "-m", "vega_runtime.testing.webhdfs", "--root", str(tmp_path / "r"),
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
