"""SSH host key checking and secret upload (vega_cli.host_keys, vega_cli.remote) against a
real sshd on loopback: unknown keys are refused with their fingerprint unless accepted on
purpose, changed keys always are, and the cluster secret is born 0600 on the host."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from proc_helpers import errors_of_threads
from sshd_hosts import SSH_KEYGEN, make_client_key, requires_sshd, start_sshd
from vega_cli.cluster import _install_secret
from vega_cli.host_keys import KnownHosts
from vega_cli.errors import RemoteError
from vega_cli.remote import Host, LocalHost


@pytest.fixture
def sshd(tmp_path):
    """A real sshd on 127.0.0.1:<free port>; its known_hosts_path holds its host key."""
    host = start_sshd(tmp_path / "sshd")
    yield host
    host.stop()


def host_for(sshd, known_hosts: KnownHosts) -> Host:
    return Host(sshd.host, sshd.user, sshd.port, sshd.key_path, 5, known_hosts)


def fingerprint_of(public_key_path: str) -> str:
    """``SHA256:...`` as ssh-keygen prints it for a public key file."""
    out = subprocess.run([SSH_KEYGEN, "-lf", public_key_path], capture_output=True, text=True,
                         check=True).stdout
    return out.split()[1]


def host_key_line(sshd) -> str:
    return Path(sshd.known_hosts_path).read_text().strip()


@requires_sshd
def test_unknown_host_key_is_refused_with_its_fingerprint_and_the_command_to_accept_it(
        sshd, tmp_path):
    """No entry for the host: no connection, a message with the SHA256 fingerprint, the
    ssh-keyscan command and the flag; the known_hosts file is not created."""
    known = tmp_path / "known_hosts"
    host = host_for(sshd, KnownHosts(str(known)))
    with pytest.raises(RemoteError) as info:
        host.run("true")
    message = str(info.value)
    assert fingerprint_of(sshd.host_key_path + ".pub") in message
    assert f"ED25519 {fingerprint_of(sshd.host_key_path + '.pub')}" in message
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {known}" in message
    assert "--accept-new-host-keys" in message and "check that fingerprint" in message
    assert not known.exists()


@requires_sshd
def test_an_unreadable_known_hosts_refuses_every_step_not_just_the_first(sshd, tmp_path):
    """A known_hosts line paramiko cannot parse fails the connection, and so does every
    later step on the same Host: fabric's own policy accepts any key, so a connection
    whose host key checking could not be set up must never be used (stop-workers, whose
    first step's failure is tolerated, ran its next ones on an unverified host)."""
    known = tmp_path / "known_hosts"
    known.write_text(host_key_line(sshd) + "\n10.0.0.9 ssh-ed25519 not-base64!\n")
    host = host_for(sshd, KnownHosts(str(known)))
    for step in ("first", "second"):
        with pytest.raises(RemoteError, match=f"cannot read known_hosts file {known}: .*; fix "
                                              "or remove that line"):
            host.run(f"echo {step}")
    assert "Accepted publickey" not in sshd.log()


@requires_sshd
def test_marker_lines_are_read_as_ssh_reads_them(sshd, tmp_path):
    """@cert-authority lines (an SSH CA's, common in ~/.ssh/known_hosts) are skipped, not
    an unreadable file; a key marked @revoked is refused, with or without
    --accept-new-host-keys, also when a plain line lists it, and never recorded."""
    known = tmp_path / "known_hosts"
    kind, blob = host_key_line(sshd).split()[1:3]
    ca_kind, ca_blob = open(make_client_key(tmp_path / "ca") + ".pub").read().split()[:2]
    ca = f"@cert-authority *.example.com {ca_kind} {ca_blob}\n"
    known.write_text(ca + host_key_line(sshd) + "\n")
    assert host_for(sshd, KnownHosts(str(known))).run("echo hi").stdout == "hi\n"
    revoked = f"@revoked 10.0.0.1,127.0.0.1,[127.0.0.1]:{sshd.port} {kind} {blob}\n"
    for text, accept_new in ((ca + revoked, True), (host_key_line(sshd) + "\n" + revoked, False)):
        known.write_text(text)
        host = host_for(sshd, KnownHosts(str(known), accept_new=accept_new))
        for _ in range(2):  # every step, not only the first
            with pytest.raises(RemoteError) as info:
                host.run("true")
            assert str(info.value) == (
                f"root@127.0.0.1:{sshd.port}: SSH HOST KEY REVOKED: the host offers ED25519 "
                f"{fingerprint_of(sshd.host_key_path + '.pub')}, which {known} marks @revoked; "
                "it may be a stolen key, so Vega will not connect (nor send the secret). Ask "
                "the host's administrator for its new key")
        assert known.read_text() == text


@requires_sshd
def test_default_known_hosts_is_the_users(sshd, tmp_path, monkeypatch):
    """Without a known_hosts setting, ~/.ssh/known_hosts is the file consulted."""
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(RemoteError, match=r"not in .*/\.ssh/known_hosts"):
        Host(sshd.host, sshd.user, sshd.port, sshd.key_path, 5).run("true")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text(host_key_line(sshd) + "\n")
    assert Host(sshd.host, sshd.user, sshd.port, sshd.key_path, 5).run("echo hi").stdout == "hi\n"


@requires_sshd
def test_accept_new_records_the_key_once_then_it_is_known(sshd, tmp_path):
    """--accept-new-host-keys: eight parallel connections to one new host append its key
    once (after a last line lacking its newline); later strict connections pass."""
    other = " ".join(Path(make_client_key(tmp_path / "k") + ".pub").read_text().split()[:2])
    known = tmp_path / "ssh" / "known_hosts"
    known.parent.mkdir()
    known.write_text(f"[10.9.9.9]:2222 {other}")  # no newline at the end
    accepting = KnownHosts(str(known), accept_new=True)

    def connect():
        assert host_for(sshd, accepting).run("true").ok

    assert errors_of_threads(connect, 8) == []
    lines = known.read_text().splitlines()
    assert lines == [f"[10.9.9.9]:2222 {other}", host_key_line(sshd)]
    assert accepting.accepted == [f"[127.0.0.1]:{sshd.port} (ED25519 "
                                  f"{fingerprint_of(sshd.host_key_path + '.pub')})"]
    assert host_for(sshd, KnownHosts(str(known))).run("echo ok").stdout == "ok\n"


@requires_sshd
def test_hashed_known_hosts_entries_are_recognised(sshd, tmp_path):
    """A known_hosts hashed with ssh-keygen -H (HashKnownHosts) still verifies the host."""
    known = tmp_path / "known_hosts"
    known.write_text(host_key_line(sshd) + "\n")
    subprocess.run([SSH_KEYGEN, "-H", "-f", str(known)], capture_output=True, check=True)
    assert known.read_text().startswith("|1|")
    assert host_for(sshd, KnownHosts(str(known))).run("echo ok").stdout == "ok\n"


@requires_sshd
@pytest.mark.parametrize("accept_new", [False, True])
def test_a_changed_host_key_is_refused_as_possible_man_in_the_middle(sshd, tmp_path,
                                                                       accept_new):
    """known_hosts records another key for host:port: refused, also with accept-new, naming
    both fingerprints and how to remove the old entry; the file is left as it was."""
    other = make_client_key(tmp_path / "other_host_key")
    kind, blob = Path(other + ".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    before = known.read_text()
    with pytest.raises(RemoteError) as info:
        host_for(sshd, KnownHosts(str(known), accept_new)).run("true")
    message = str(info.value)
    assert "SSH HOST KEY CHANGED" in message and "man-in-the-middle" in message
    assert fingerprint_of(sshd.host_key_path + ".pub") in message
    assert fingerprint_of(other + ".pub") in message
    assert f'ssh-keygen -R "[127.0.0.1]:{sshd.port}" -f {known}' in message
    assert known.read_text() == before


@requires_sshd
def test_the_secret_is_born_0600_on_the_host(sshd, tmp_path):
    """The uploaded secret is 0600 the moment it has its name, though the SSH session's
    umask makes other new files 0644; an old 0644 copy is replaced; no temporary is left;
    a directory made for it is 0700."""
    host = host_for(sshd, KnownHosts(sshd.known_hosts_path))
    probe = tmp_path / "probe"
    assert host.run(f"umask 022 && touch {probe}").ok
    assert stat.S_IMODE(os.stat(probe).st_mode) == 0o644  # what a plain upload would get
    secret = tmp_path / "secret"
    secret.write_text("cafe" * 16 + "\n")
    old = tmp_path / "old"
    old.mkdir()
    (old / "vega-secret").write_text("stale\n")
    os.chmod(old / "vega-secret", 0o644)
    for directory in (old, tmp_path / "new" / "dir"):
        remote = _install_secret(host, str(secret), str(directory))
        assert remote == f"{directory}/vega-secret"
        assert stat.S_IMODE(os.stat(remote).st_mode) == 0o600
        assert Path(remote).read_text() == secret.read_text()
        assert os.listdir(directory) == ["vega-secret"]
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o700
    host.close()


@requires_sshd
def test_a_failed_step_of_the_secret_upload_fails_with_its_stderr(sshd, tmp_path):
    """A work dir under a regular file: the upload fails naming the step and mkdir's error."""
    host = host_for(sshd, KnownHosts(sshd.known_hosts_path))
    secret = tmp_path / "secret"
    secret.write_text("cafe\n")
    (tmp_path / "file").write_text("")
    with pytest.raises(RemoteError) as info:
        _install_secret(host, str(secret), str(tmp_path / "file" / "dir"))
    assert f"writing {tmp_path}/file/dir/vega-secret (mode 0600) failed" in str(info.value)
    assert "Not a directory" in str(info.value)
    host.close()


def test_a_local_masters_secret_is_born_0600(tmp_path):
    """The master's copy on this machine is written the same way: 0600, even under umask 022."""
    secret = tmp_path / "secret"
    secret.write_text("beef\n")
    old_umask = os.umask(0o022)
    try:
        remote = _install_secret(LocalHost("127.0.0.1"), str(secret), str(tmp_path / "master"))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(remote).st_mode) == 0o600
    assert Path(remote).read_text() == "beef\n"
