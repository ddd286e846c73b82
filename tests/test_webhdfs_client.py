"""The WebHDFS test server with the ``hdfs`` package as its client.

A real client library works against the server unchanged: reads and writes,
listings, renames and deletes, uploads and downloads, errors, and many clients
at once.
"""

import concurrent.futures
import json
import os

import hdfs
import pytest

from webhdfs_helpers import MiB, client, nn, server

__all__ = ["client", "server"]  # the fixtures, imported so tests here can use them


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


# -- concurrency ----------------------------------------------------------------------------------

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
