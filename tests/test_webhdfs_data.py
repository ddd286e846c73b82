"""The WebHDFS test server's data path: CREATE, APPEND and OPEN through the DataNode.

The NameNode's 307 redirects, the DataNode's answers, request bodies (chunked,
100-continue, malformed framing), the writer's lease, and large bodies streamed
rather than held in memory.
"""

import hashlib
import http.client
import json
import os
import tracemalloc
import urllib.parse

from webhdfs_helpers import (ALICE, STATUS_KEYS, MiB, RawConnection, create, datanode_target,
                             follow, millis, nn, read_local, remote_exception, server, status,
                             target)

__all__ = ["server"]  # the fixture, imported so tests here can use it


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
    # set as the file is written (the server's clock and the file system's mtime may
    # differ by a millisecond's rounding either way)
    assert 0 < st["accessTime"] and abs(st["accessTime"] - st["modificationTime"]) < 1000
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


# -- streaming ------------------------------------------------------------------------------------

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
