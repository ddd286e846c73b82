"""The WebHDFS test server with HDFS permission checks (``enforce_permissions=True``).

Raw requests check each operation's check and Hadoop's AccessControlException
messages; the ``hdfs`` package checks that a client sees them as HdfsError.
"""

import os

import hdfs
import pytest

from vega_testing.webhdfs import WebHDFSServer

from webhdfs_helpers import (ALICE, create, follow, nn, read_local, remote_exception, send, server,
                             status)

__all__ = ["server"]  # the fixture, imported so tests here can use it


# -- the tree every test starts from --------------------------------------------------------------

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


# -- raw requests ---------------------------------------------------------------------------------

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


# -- the hdfs package as a client -----------------------------------------------------------------

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
