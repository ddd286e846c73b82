"""The WebHDFS test server's namespace operations, as raw HTTP against the spec.

GETFILESTATUS and LISTSTATUS, MKDIRS, RENAME, DELETE, GETCONTENTSUMMARY and the
attribute setters (SETPERMISSION, SETOWNER, SETREPLICATION, SETTIMES).
"""

import concurrent.futures
import os
import urllib.parse

import pytest

from webhdfs_helpers import (ALICE, STATUS_KEYS, create, millis, nn, read_local, remote_exception,
                             seed, send, server, status)

__all__ = ["server"]  # the fixture, imported so tests here can use it


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


# -- concurrency ----------------------------------------------------------------------------------

def test_concurrent_mkdirs_of_one_tree_all_succeed(server):
    """Racing MKDIRS of the same path are all true and make one tree."""
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda _: nn(server, "PUT", "/race/a/b", op="MKDIRS"), range(12)))
    assert [r.json() for r in replies] == [{"boolean": True}] * 12
    assert nn(server, "GET", "/race", op="GETCONTENTSUMMARY").json()["ContentSummary"][
        "directoryCount"] == 3
