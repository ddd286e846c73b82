"""The WebHDFS test server: requests refused before any file operation.

Which role serves what (NameNode and DataNode on two ports), URLs outside
/webhdfs/v1, unknown or mis-sent ops and malformed parameters: each refused with
the status and ``RemoteException`` Hadoop sends.
"""

import pytest

from webhdfs_helpers import nn, remote_exception, seed, send, server, status

__all__ = ["server"]  # the fixture, imported so tests here can use it


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
