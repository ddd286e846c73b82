"""Vega's WebHDFS client follows a namenode's redirects only to the namenode's own host or a
host in ``vega.hdfs.datanodes``: a namenode redirecting elsewhere (the test server with its
DataNode on another address plays a rogue third host) gets nothing sent there."""

import pickle

import pytest

from vega_runtime import Context, HdfsIO, VegaError
from vega_runtime.config import Config
from vega_runtime.config_values import parse_hosts
from vega_runtime.errors import ConfigError, TaskFailed
from vega_runtime.io.hdfs import (HdfsOutput, HdfsRedirectRefused, HdfsSettings, list_files,
                                  open_read, redirect_allowed)
from vega_testing.webhdfs import WebHDFSServer


@pytest.fixture
def elsewhere(tmp_path):
    """A namenode on 127.0.0.1 whose data operations redirect to 127.0.0.2 (another host)."""
    with WebHDFSServer(str(tmp_path / "root"), datanode_host="127.0.0.2") as server:
        server.url = "hdfs://" + server.namenode_url.split("://", 1)[1]
        yield server


def test_the_test_server_can_redirect_to_another_host(elsewhere):
    """The DataNode listens on, and the NameNode redirects to, the other address."""
    assert elsewhere.datanode_url.startswith("http://127.0.0.2:")
    assert elsewhere.namenode_url.startswith("http://127.0.0.1:")


def test_a_write_redirected_to_another_host_is_refused_before_anything_is_sent(elsewhere):
    """CREATE: the error names the host and the setting; the third host took no connection."""
    url = f"{elsewhere.url}/secret.txt"
    with pytest.raises(HdfsRedirectRefused) as info:
        HdfsOutput(url, HdfsSettings("alice")).write("/secret.txt", b"payroll")
    message = str(info.value)
    assert f"redirected to http://127.0.0.2:{elsewhere.datanode_port}" in message
    assert "vega.hdfs.datanodes=127.0.0.2" in message and "nothing was sent there" in message
    assert elsewhere.datanode_connections == 0
    assert isinstance(info.value, VegaError)


def test_a_read_redirected_to_another_host_is_refused(elsewhere):
    """OPEN (which requests would follow by itself): refused, the third host never reached;
    listing, which needs no redirect, still works."""
    HdfsOutput(elsewhere.url, HdfsSettings("alice", datanodes=("127.0.0.2",))).write(
        "/data.txt", b"rows\n")
    taken = elsewhere.datanode_connections
    with pytest.raises(HdfsRedirectRefused, match="127.0.0.2"):
        open_read(f"{elsewhere.url}/data.txt", HdfsSettings("alice")).read()
    assert elsewhere.datanode_connections == taken
    assert list_files(f"{elsewhere.url}/data.txt", HdfsSettings("alice")) == [
        (f"{elsewhere.url}/data.txt", 5, 128 << 20)]  # (path, size, its HDFS block size)


@pytest.mark.parametrize("datanodes", ["127.0.0.2", "127.0.0.0/30", "127.0.0.2, dn.example"])
def test_redirects_to_listed_datanodes_are_followed(elsewhere, datanodes):
    """A host in vega.hdfs.datanodes, by address or network, is followed for writes and reads."""
    settings = HdfsSettings("alice", datanodes=parse_hosts(datanodes))
    HdfsOutput(elsewhere.url, settings).write("/ok.txt", b"fine\n")
    assert open_read(f"{elsewhere.url}/ok.txt", settings).read() == b"fine\n"
    assert elsewhere.datanode_connections >= 2


def test_redirects_to_the_namenodes_own_host_need_no_setting(tmp_path):
    """The usual single-host case (a DataNode on the namenode's host, another port) just works."""
    with WebHDFSServer(str(tmp_path / "root")) as server:
        io = HdfsIO(server.namenode_url, user="alice", datanodes=[])
        io.write_to_hdfs(b"same host\n", "/a.txt")
        assert io.read_to_vec("/a.txt") == b"same host\n"


def test_jobs_read_from_listed_datanodes_only(elsewhere):
    """text_file in a job: refused by default, naming the host and the setting; read when
    vega.hdfs.datanodes lists it (also through HdfsIO's datanodes)."""
    HdfsIO(elsewhere.namenode_url, user="alice", datanodes=["127.0.0.2"]).write_to_hdfs(
        b"a\nb\n", "/in.txt")
    with Context(master="local", conf={"vega.hdfs.user": "alice"}) as ctx:
        with pytest.raises(VegaError, match=r"not the namenode's host nor in vega.hdfs.datanodes"):
            ctx.text_file(f"{elsewhere.url}/in.txt").collect()
    with Context(master="local", conf={"vega.hdfs.user": "alice",
                                       "vega.hdfs.datanodes": "127.0.0.2"}) as ctx:
        assert ctx.text_file(f"{elsewhere.url}/in.txt").collect() == ["a", "b"]


def test_a_refused_redirect_fails_its_job_at_once_without_library_frames(elsewhere):
    """Every attempt would meet the same refusal: the job fails at the first, and the error
    is the message alone (not hdfs's and requests' frames on the way to it)."""
    HdfsIO(elsewhere.namenode_url, user="alice", datanodes=["127.0.0.2"]).write_to_hdfs(
        b"a\nb\n", "/in.txt")
    with Context(master="local[2]", conf={"vega.hdfs.user": "alice"}) as ctx:
        with pytest.raises(TaskFailed) as info:
            ctx.text_file(f"{elsewhere.url}/in.txt", 1).collect()
    assert (info.value.error_type, info.value.attempts) == ("HdfsRedirectRefused", 1)
    assert info.value.remote_traceback == ""
    assert "nothing was sent there" in str(info.value)


def test_the_refusal_pickles_for_the_trip_from_executor_to_driver():
    """An executor's refusal reaches the driver whole (facts as arguments)."""
    error = HdfsRedirectRefused("hdfs://nn:9870/x", "http://evil:1/webhdfs/v1/x", "http://nn:9870")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and "evil" in str(again)


def test_allowed_hosts():
    """Names match exactly (case-insensitively), *.domain its subdomains only, networks
    addresses only; nothing else passes, however it is spelled."""
    allowed = parse_hosts("dn1.example.com, *.dn.example.org, 10.1.0.0/16, 192.168.5.9")
    assert redirect_allowed("NN.example.com", "nn.example.com", ())
    for host in ("dn1.example.com", "DN1.EXAMPLE.COM", "a.dn.example.org", "10.1.200.3",
                 "192.168.5.9"):
        assert redirect_allowed(host, "nn", allowed), host
    for host in ("dn2.example.com", "dn.example.org", "evil-dn.example.org.attacker.net",
                 "xdn.example.org", "10.2.0.1", "192.168.5.10", "dn1.example.com.evil"):
        assert not redirect_allowed(host, "nn", allowed), host


def test_the_datanodes_setting_is_validated_naming_the_key():
    """A value that is no host, pattern or network is a config error naming the key."""
    assert Config.load(environ={}, overrides={"vega.hdfs.datanodes": ["dn1", "10.0.0.0/8"]})[
        "vega.hdfs.datanodes"] == ("dn1", "10.0.0.0/8")
    assert Config.load(environ={"VEGA_HDFS_DATANODES": "a,b"})["vega.hdfs.datanodes"] == ("a", "b")
    with pytest.raises(ConfigError, match=r"vega.hdfs.datanodes.*'dn;rm' is not a host name"):
        Config.load(environ={}, overrides={"vega.hdfs.datanodes": "dn;rm"})
