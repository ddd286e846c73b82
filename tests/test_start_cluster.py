"""vega start-cluster / stop-cluster / start-workers over real SSH (sshd on loopback and
in network namespaces)."""

import functools
import json
import os
import re
import shlex
import subprocess
import textwrap

import pytest

import proc_helpers
from http_helpers import api_get_bytes
from proc_helpers import REPO, vega_processes
from sshd_hosts import requires_sshd, start_sshd

#: ``vega ARGS`` from the repo root in this environment, with room for SSH round trips.
vega = functools.partial(proc_helpers.vega, env=os.environ, timeout=300)


def write_cluster(tmp_path, ssh, workers, master_host="127.0.0.1", port=None, extra="",
                  known_hosts=None):
    """A cluster file for these workers reached through ``ssh``'s key and port; host keys
    are checked against ``known_hosts`` (default: the one the sshd fixture wrote, which
    holds the keys of every host it started)."""
    from sshd_hosts import free_port

    port = port or free_port()
    text = textwrap.dedent(f"""\
        master:
          host: {master_host}
          port: {port}
          webui_port: {free_port()}
          work_dir: {tmp_path}/master
        ssh:
          user: root
          key: {ssh.key_path}
          port: {ssh.port}
          connect_timeout: 3
          known_hosts: {known_hosts or ssh.known_hosts_path}
        secret_file: {tmp_path}/secret
        workers:
        """) + "".join(f"  - {textwrap.indent(w, '    ').strip()}\n" for w in workers) + extra
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return str(path), port


def status(port, tmp_path):
    result = vega("status", "--master", f"vega://127.0.0.1:{port}", "--json",
                  "--secret-file", str(tmp_path / "secret"))
    return json.loads(result.stdout) if result.returncode == 0 else None


@pytest.fixture
def sshd(tmp_path):
    host = start_sshd(tmp_path / "sshd")
    yield host
    host.stop()


@requires_sshd
def test_start_cluster_runs_a_job_and_stop_cluster_leaves_nothing(sshd, tmp_path):
    """Master here, two workers over SSH: start, start again, run, stop twice.  The two
    workers of one host serve /metrics each on its webui_port (both took 8081, and the
    second ran without /metrics: the cluster file had no key for the port)."""
    from sshd_hosts import free_port

    metrics_ports = [free_port(), free_port()]
    config, port = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work-a\n"
        f"webui_port: {metrics_ports[0]}",
        f"host: 127.0.0.1\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work-b\nlabels: [second]"
        f"\nwebui_port: {metrics_ports[1]}",
    ])
    try:
        started = vega("start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        serving = set()
        for metrics_port in metrics_ports:
            code, _, body = api_get_bytes((metrics_port, str(tmp_path / "master" / "ca.pem")),
                                          "/metrics", "")
            offered = re.search(rb'vega_worker_offered_cores\{[^}]*worker="([^"]+)"[^}]*\} 1\.0',
                                body)
            assert code == 200 and offered, (code, body)
            serving.add(offered.group(1))
        assert len(serving) == 2, serving
        assert started.stdout.count("started, registered") == 2 and "master" in started.stdout
        # the URL the next commands need, which no row says (and so the secret they need),
        # each command as its own options name the secret (submit's line said --secret-file,
        # which vega submit refused: "No such option")
        url, secret = f"vega://127.0.0.1:{port}", f"{tmp_path}/secret"
        assert started.stdout.splitlines()[-1] == (
            f"master {url}: vega status --master {url} --secret-file {secret}; vega submit "
            f"--master {url} --conf vega.secret.file={secret} JOB.py")
        status_line, submit_line = started.stdout.splitlines()[-1].split(": ", 1)[1].split("; ")
        assert oct(os.stat(tmp_path / "secret").st_mode & 0o777) == "0o600"
        for copy in [tmp_path / "master" / "vega-secret",
                     *tmp_path.glob("work-*/*/vega-secret")]:  # the master's, each worker's
            assert oct(os.stat(copy).st_mode & 0o777) == "0o600", copy
        run_dirs = [tmp_path / "master" / "run", *tmp_path.glob("work-*/*/run")]
        assert [oct(os.stat(d).st_mode & 0o777) for d in run_dirs] == ["0o700"] * 3  # not 0755
        alive = [w for w in status(port, tmp_path)["workers"] if w["state"] == "alive"]
        assert len(alive) == 2
        again = vega("start-cluster", "--config", config)
        assert again.returncode == 0 and again.stdout.count("already running") == 3
        job = tmp_path / "where.py"
        job.write_text("import time\nfrom vega_runtime import Context, TaskContext\n"
                       "def where(_):\n"
                       "    time.sleep(0.3)  # long enough for every executor to take tasks\n"
                       "    return TaskContext.get().executor_id\n"
                       "with Context() as ctx:\n"
                       "    ids = ctx.parallelize(range(8), 8).map(where).distinct().collect()\n"
                       "    print('EXECUTORS', len(ids))\n")
        shown = vega(*shlex.split(status_line)[1:], env=proc_helpers.clean_env())
        assert shown.returncode == 0 and shown.stdout.count(" alive ") == 2, shown.stdout
        ran = vega(*shlex.split(submit_line.replace("JOB.py", str(job)))[1:],
                   env=proc_helpers.clean_env())
        assert ran.returncode == 0 and ran.stdout == "EXECUTORS 2\n", ran.stdout + ran.stderr
    finally:
        stopped = vega("stop-cluster", "--config", config)
    assert stopped.returncode == 0, stopped.stdout
    assert stopped.stdout.count("stopped") == 3
    assert vega_processes(str(tmp_path)) == []
    twice = vega("stop-cluster", "--config", config)
    assert twice.returncode == 0 and "nothing was running" in twice.stdout


@requires_sshd
def test_unreachable_host_and_wrong_key_are_reported_per_host(sshd, tmp_path):
    """A closed SSH port and a key the host refuses each fail their row; exit code 1."""
    from sshd_hosts import free_port, make_client_key

    other_key = make_client_key(tmp_path / "other-key")
    config, port = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\nssh_port: {free_port()}\nwork_dir: {tmp_path}/w1",
        f"host: 127.0.0.1\nkey: {other_key}\nwork_dir: {tmp_path}/w2",
        f"host: 127.0.0.1\nwork_dir: {tmp_path}/w3",
    ])
    try:
        result = vega("start-cluster", "--config", config)
        assert result.returncode == 1
        assert "cannot connect over SSH" in result.stdout
        assert "SSH authentication failed" in result.stdout
        assert "started, registered" in result.stdout
    finally:
        vega("stop-cluster", "--config", config)
    assert vega_processes(str(tmp_path)) == []


def ssh_fingerprint(public_key_path):
    """``SHA256:...`` of a public key file, as ssh-keygen prints it."""
    from sshd_hosts import SSH_KEYGEN

    return subprocess.run([SSH_KEYGEN, "-lf", public_key_path], capture_output=True,
                          text=True, check=True).stdout.split()[1]


@requires_sshd
def test_start_master_restarts_a_start_cluster_master_with_the_clusters_secret(sshd, tmp_path):
    """The master start-cluster started is SIGKILLed and started again by hand with vega
    start-master on its work dir, naming no secret: it takes the cluster secret start-cluster
    installed there, says so, and the worker registers again (before, it took the default
    secret, creating one if missing, and no worker nor driver of the cluster could reach
    it: 'another secret'); stop-cluster then stops it."""
    import signal

    from proc_helpers import wait_for

    config, port = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"])
    webui_port = re.search(r"webui_port: (\d+)", open(config).read()).group(1)
    env = {k: v for k, v in os.environ.items() if k != "VEGA_SECRET_FILE"}
    env["VEGA_CONF_DIR"] = str(tmp_path / "home")  # where the default secret would be
    try:
        started = vega("start-cluster", "--config", config, env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        pid = int((tmp_path / "master/run/master.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        restarted = vega("start-master", "--host", "127.0.0.1", "--port", str(port),
                         "--webui-port", webui_port, "--work-dir", str(tmp_path / "master"),
                         env=env)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert restarted.stdout.startswith(
            "using the cluster secret vega start-cluster installed in this work dir: "
            f"{tmp_path}/master/vega-secret\n"), restarted.stdout
        assert not (tmp_path / "home" / "secret").exists()
        wait_for(lambda: [w["state"] for w in (status(port, tmp_path) or {"workers": []})[
            "workers"]].count("alive") == 1, what="the worker to register again")
    finally:
        stopped = vega("stop-cluster", "--config", config, env=env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert vega_processes(str(tmp_path)) == []


@requires_sshd
def test_start_workers_names_a_worker_that_runs_but_is_stopped(sshd, tmp_path):
    """A worker that is running but SIGSTOPped (hung, not dead): start-workers fails its row
    at once saying so and what to do, instead of 'already running' and, 30 s later, 'but
    never registered with the master'; exit 1. After SIGCONT it is simply already running."""
    import signal
    import time

    config, port = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"])
    try:
        started = vega("start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        [pidfile] = tmp_path.glob("work/*/run/worker.pid")
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, signal.SIGSTOP)
        began = time.monotonic()
        stuck = vega("start-workers", "--config", config)
        took = time.monotonic() - began
        assert stuck.returncode == 1, stuck.stdout + stuck.stderr
        assert (f"127.0.0.1:{sshd.port}: worker already running (pid {pid}) but stopped "
                "(SIGSTOP: it answers nothing); resume it with 'kill -CONT "
                f"{pid}' on that host, or restart it: vega stop-workers, then vega "
                "start-workers" in stuck.stdout), stuck.stdout
        assert took < 20, took
        os.kill(pid, signal.SIGCONT)
        again = vega("start-workers", "--config", config)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already running, registered" in again.stdout
    finally:
        stopped = vega("stop-cluster", "--config", config)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert vega_processes(str(tmp_path)) == []


@requires_sshd
def test_unknown_host_key_stops_start_cluster_until_accepted(sshd, tmp_path):
    """A worker host whose key is not in the cluster file's known_hosts fails its row with
    the key's fingerprint and the ssh-keyscan hint, and gets no secret; with
    --accept-new-host-keys it starts and its key is recorded; stop-cluster then needs no flag."""
    known = tmp_path / "known_hosts"
    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\ncores: 1\n"
                                               f"work_dir: {tmp_path}/work"],
                              known_hosts=str(known))
    try:
        refused = vega("start-cluster", "--config", config)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "unknown SSH host key ED25519 " + ssh_fingerprint(
            sshd.host_key_path + ".pub") in refused.stdout
        assert f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {known}" in refused.stdout
        assert list(tmp_path.glob("work/*/vega-secret")) == [] and not known.exists()
        accepted = vega("start-cluster", "--accept-new-host-keys", "--config", config)
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert "started, registered" in accepted.stdout
        assert f"recorded the new SSH host key of [127.0.0.1]:{sshd.port}" in accepted.stdout
        assert known.read_text() == open(sshd.known_hosts_path).read()
    finally:
        stopped = vega("stop-cluster", "--config", config)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert vega_processes(str(tmp_path)) == []


@requires_sshd
def test_the_command_the_unknown_host_key_row_gives_records_the_key(sshd, tmp_path):
    """A new account has no ~/.ssh: the row's command to record the key in the default
    known_hosts creates it (0700) before appending, so run as given it works and the next
    command connects (it said 'ssh-keyscan ... >> ~/.ssh/known_hosts', which failed with
    'Directory nonexistent')."""
    home = tmp_path / "new-account"
    home.mkdir()
    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\nwork_dir: {tmp_path}/w"])
    with open(config) as f:  # no ssh.known_hosts: ~/.ssh/known_hosts
        text = "".join(line for line in f if "known_hosts:" not in line)
    with open(config, "w") as f:
        f.write(text)
    env = {**os.environ, "HOME": str(home)}
    refused = proc_helpers.vega("stop-workers", "--config", config, env=env, timeout=300)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    command = re.search(r"record it with '(.*?)' or rerun", refused.stdout).group(1)
    known = home / ".ssh" / "known_hosts"
    assert command == (f"mkdir -p -m 700 {known.parent} && "
                       f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {known}")
    subprocess.run(["sh", "-c", command], check=True, capture_output=True, timeout=60)
    assert oct(os.stat(known.parent).st_mode & 0o777) == "0o700"
    again = proc_helpers.vega("stop-workers", "--config", config, env=env, timeout=300)
    assert (again.returncode, again.stdout) == (0, "nothing was running\n"), again.stderr


@requires_sshd
def test_a_port_without_sshd_fails_its_row_saying_nothing_listens_there(sshd, tmp_path):
    """A worker whose ssh_port has no sshd (a typo): its row says nothing listens on that
    port, with the refusal, and which keys of the cluster file name the port (it said
    '[Errno None] Unable to connect to port N on 127.0.0.1')."""
    from sshd_hosts import free_port

    port = free_port()
    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\nssh_port: {port}\n"
                                               f"work_dir: {tmp_path}/w"])
    result = vega("stop-workers", "--config", config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"root@127.0.0.1:{port}: cannot connect over SSH: nothing listens on port {port} "
            "there (Connection refused); is sshd running, and is the SSH port in the cluster "
            "file right (ssh.port, workers[].ssh_port, master.ssh_port)?" in result.stdout), \
        result.stdout


@requires_sshd
def test_stop_workers_on_a_stopped_cluster_still_says_which_keys_it_recorded(sshd, tmp_path):
    """stop-workers --accept-new-host-keys with nothing running: 'nothing was running', and
    the host key it recorded in known_hosts is named, as when something runs."""
    known = tmp_path / "known_hosts"
    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\nwork_dir: {tmp_path}/w"],
                              known_hosts=str(known))
    result = vega("stop-workers", "--accept-new-host-keys", "--config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (f"nothing was running\nrecorded the new SSH host key of "
                             f"[127.0.0.1]:{sshd.port} (ED25519 "
                             f"{ssh_fingerprint(sshd.host_key_path + '.pub')}) in {known}\n")
    assert known.read_text() == open(sshd.known_hosts_path).read()


@requires_sshd
def test_a_changed_host_key_is_refused_even_with_accept_new(sshd, tmp_path):
    """known_hosts holds another key for the worker's host: its row fails naming a possible
    man-in-the-middle, with or without --accept-new-host-keys, and no secret is sent."""
    from sshd_hosts import make_client_key

    impostor = make_client_key(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    kind, blob = open(impostor + ".pub").read().split()[:2]
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\nwork_dir: {tmp_path}/work"],
                              known_hosts=str(known))
    try:
        for flags in ([], ["--accept-new-host-keys"]):
            result = vega("start-cluster", *flags, "--config", config)
            assert result.returncode == 1, result.stdout + result.stderr
            assert "SSH HOST KEY CHANGED" in result.stdout
            assert "man-in-the-middle" in result.stdout
            assert ssh_fingerprint(sshd.host_key_path + ".pub") in result.stdout
        # a stop refused for the same reason: the host answered, so waiting for it to
        # answer is no advice ("run this command again once the host answers", before)
        stopped = vega("stop-workers", "--config", config)
        assert stopped.returncode == 1 and "man-in-the-middle" in stopped.stdout
        assert "NOT STOPPED" in stopped.stdout and "once the host answers" not in stopped.stdout
    finally:
        vega("stop-cluster", "--config", config)
    assert list(tmp_path.glob("work/*/vega-secret")) == []
    assert known.read_text() == f"[127.0.0.1]:{sshd.port} {kind} {blob}\n"
    assert vega_processes(str(tmp_path)) == []


@requires_sshd
def test_a_host_whose_python_differs_is_refused(sshd, tmp_path):
    """A worker interpreter reporting another Python version fails the preflight."""
    fake = tmp_path / "python3.9"
    fake.write_text('#!/bin/sh\necho \'{"python": "3.9", "vega": null, "free_bytes": 1e12, '
                    '"master_reachable": true}\'\n')
    fake.chmod(0o755)
    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\npython: {fake}\n"
                                               f"work_dir: {tmp_path}/w"])
    try:
        result = vega("start-workers", "--config", config)
    finally:
        vega("stop-cluster", "--config", config)
    assert result.returncode == 1
    assert "is Python 3.9, this machine runs Python" in result.stdout


@requires_sshd
def test_a_host_without_the_interpreter_is_refused_saying_what_to_set(sshd, tmp_path):
    """A worker's python that does not exist on its host fails its row naming it and the
    cluster file keys to set; nothing was started, so stop-workers says nothing was running
    (it failed saying the same, exit 1, "run this command again once the host answers")."""
    missing = tmp_path / "no-such-venv" / "bin" / "python3"
    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\npython: {missing}\n"
                                               f"work_dir: {tmp_path}/w"])
    expected = re.compile(  # the shell's own words, which depend on the login shell
        rf"root@127\.0\.0\.1:{sshd.port}: cannot run {re.escape(str(missing))} there \(exit "
        r"127: [^\n]*\); set workers\[\]\.python \(or defaults\.python; master\.python for "
        r"the master\) in the cluster file to that host's Python with Vega [^ ]+, or run with "
        r"--bootstrap\s*│")
    started = vega("start-workers", "--config", config)
    assert started.returncode == 1, started.stdout + started.stderr
    assert expected.search(started.stdout), started.stdout
    stopped = vega("stop-workers", "--config", config)
    assert (stopped.returncode, stopped.stdout) == (0, "nothing was running\n"), stopped.stdout
    assert vega_processes(str(tmp_path)) == []


@requires_sshd
def test_a_port_without_ssh_and_a_hung_sshd_are_named_without_tracebacks(sshd, tmp_path):
    """A worker whose ssh_port is a server that is no sshd, and one whose sshd is stopped
    (SIGSTOP: the kernel still accepts connections): each row says which it is and what
    to check, within the connect timeout, and nothing else is printed (paramiko's own
    traceback of the failed handshake was)."""
    import signal
    import socket
    import threading
    import time

    def not_ssh(server):
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    # ended by shutdown(), not by close() alone: an accept() blocked in another thread
    # outlives its socket's close(), and the thread stayed in this process for the tests
    # after (test_forkserver's need it to have no thread but the main one)
    serving = threading.Thread(target=not_ssh, args=(server,), daemon=True)
    serving.start()
    hung = start_sshd(tmp_path / "hung-sshd", client_key=sshd.key_path)
    known = tmp_path / "known_hosts"
    known.write_text(open(sshd.known_hosts_path).read() + open(hung.known_hosts_path).read())
    config, _ = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\nssh_port: {port}\nwork_dir: {tmp_path}/w1",
        f"host: 127.0.0.1\nssh_port: {hung.port}\nwork_dir: {tmp_path}/w2"],
        known_hosts=str(known))
    os.kill(hung.pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        result = vega("stop-workers", "--config", config)
        took = time.monotonic() - began
    finally:
        os.kill(hung.pid, signal.SIGCONT)
        hung.stop()
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        serving.join(10)
    assert not serving.is_alive()
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(  # paramiko may add why it read no banner: the server reset the connection
        rf"root@127\.0\.0\.1:{port}: no SSH greeting on port {port} \(Error reading SSH "
        r"protocol banner[^)]*\): not an SSH server there, or sshd dropped the connection \(too "
        r"many at once, MaxStartups\); check the SSH port in the cluster file \(ssh\.port, "
        r"workers\[\]\.ssh_port, master\.ssh_port\)", result.stdout), result.stdout
    assert (f"root@127.0.0.1:{hung.port}: the SSH handshake did not finish within 3s (the "
            "port accepts connections but sshd does not answer: hung or overloaded?); check "
            "sshd on that host, or raise ssh.connect_timeout" in result.stdout), result.stdout
    assert result.stderr == ""
    assert took < 30


@requires_sshd
def test_a_read_only_work_dir_fails_its_row_with_the_hosts_error(sshd, tmp_path):
    """A worker's daemon dir that exists on a read-only file system: installing the secret
    there fails, and the worker's row shows the host's own error (mktemp's Read-only file system), not
    the traceback of the SSH channel the failed command closed under its input."""
    from vega_runtime.cluster_file import load_cluster_file

    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\nwork_dir: {tmp_path}/ro"])
    [worker] = load_cluster_file(config).workers
    (tmp_path / "ro" / worker.daemon_id).mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(tmp_path / "ro"), str(tmp_path / "ro")], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(tmp_path / "ro")], check=True)
        result = vega("start-cluster", "--config", config)
    finally:
        subprocess.run(["umount", str(tmp_path / "ro")], check=True)
        stopped = vega("stop-cluster", "--config", config)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    secret = f"{tmp_path}/ro/{worker.daemon_id}/vega-secret"
    assert (f"root@127.0.0.1:{sshd.port}: writing {secret} (mode 0600) failed (exit 1): mktemp: "
            in result.stdout), result.stdout
    assert "Read-only file system" in result.stdout and "Exception" not in result.stdout
    assert vega_processes(str(tmp_path)) == []


@requires_sshd
def test_a_replaced_secret_file_is_refused_before_anything_is_copied(sshd, tmp_path):
    """The cluster runs; its secret file is replaced (deleted, then created anew by the
    next start). start-cluster and start-workers refuse at once, exit 1, saying the running
    master has another secret, and copy nothing: the hosts keep the running cluster's
    secret and its worker stays registered. With the old file back, start-cluster is happy."""
    config, port = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"])
    try:
        started = vega("start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        [copy] = tmp_path.glob("work/*/vega-secret")
        original = copy.read_text()
        os.rename(tmp_path / "secret", tmp_path / "secret.old")
        for command in ("start-cluster", "start-workers"):
            refused = vega(command, "--config", config)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert (f"vega: error: the master running at vega://127.0.0.1:{port} has another "
                    f"cluster secret than {tmp_path / 'secret'} (was that file replaced?), or "
                    "another TLS service answers on that port; nothing was started or copied "
                    "to the hosts\n" in refused.stderr
                    ), refused.stderr
            assert copy.read_text() == original
        os.replace(tmp_path / "secret.old", tmp_path / "secret")
        assert [w["state"] for w in status(port, tmp_path)["workers"]] == ["alive"]
        again = vega("start-cluster", "--config", config)
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.count("already running") == 2 and "registered" in again.stdout
    finally:
        stopped = vega("stop-cluster", "--config", config)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert vega_processes(str(tmp_path)) == []


@requires_sshd
def test_start_workers_without_a_master_says_to_start_it(sshd, tmp_path):
    """start-workers while no master listens at the cluster file's address: each worker's
    row says nothing listens there and how to start the master, exit code 1."""
    config, port = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\nwork_dir: {tmp_path}/w"])
    result = vega("start-workers", "--config", config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"root@127.0.0.1:{sshd.port}: cannot reach the master at 127.0.0.1:{port} ([Errno "
            "111] Connection refused); nothing listens there: is the master running? (vega "
            "start-cluster starts it)" in result.stdout), result.stdout
    assert vega_processes(str(tmp_path)) == []


@requires_sshd
def test_stop_workers_with_an_unreadable_known_hosts_touches_no_host(sshd, tmp_path):
    """A known_hosts line Vega cannot read: stop-workers fails the worker's row saying so
    and leaves the worker running, rather than stopping it over a connection whose host
    key was never checked; with the file fixed, stop-cluster stops everything."""
    known = tmp_path / "known_hosts"
    known.write_text(open(sshd.known_hosts_path).read())
    config, _ = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\ncores: 1\nmemory: 1g\nwork_dir: {tmp_path}/work"],
        known_hosts=str(known))
    try:
        started = vega("start-cluster", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        workers = vega_processes(str(tmp_path / "work"))
        assert workers
        bad_line = "10.0.0.9 ssh-ed25519 not-base64!\n"
        known.write_text(open(sshd.known_hosts_path).read() + bad_line)
        refused = vega("stop-workers", "--config", config)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert (f"root@127.0.0.1:{sshd.port}: cannot read known_hosts file {known}: "
                in refused.stdout and "fix or remove that line" in refused.stdout
                ), refused.stdout
        assert vega_processes(str(tmp_path / "work")) == workers
    finally:
        known.write_text(open(sshd.known_hosts_path).read())
        stopped = vega("stop-cluster", "--config", config)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert vega_processes(str(tmp_path)) == []


def test_cluster_file_mistakes_exit_2_naming_the_key(tmp_path):
    """A bad size in the cluster file is a usage error naming file, entry and key."""
    path = tmp_path / "cluster.yaml"
    path.write_text("master:\n  host: 127.0.0.1\nworkers:\n  - host: 127.0.0.1\n"
                    "    memory: 12 parsecs\n")
    result = vega("start-cluster", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: workers[0].memory" in result.stderr


def test_a_host_name_that_does_not_resolve_is_named_as_such(tmp_path):
    """A worker host name no resolver knows (a typo in the cluster file) fails its row saying
    the name does not resolve and where to fix it, not asking whether sshd runs, and, as
    every stop that cannot reach its host, that what runs there was not stopped; exit 1."""
    path = tmp_path / "cluster.yaml"
    path.write_text(f"master:\n  host: 127.0.0.1\n  work_dir: {tmp_path}/master\n"
                    f"ssh:\n  known_hosts: {tmp_path}/known_hosts\n"
                    f"workers:\n  - host: wroker-1.invalid\n    work_dir: {tmp_path}/w\n")
    result = vega("stop-workers", "--config", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    [row] = [line for line in result.stdout.splitlines() if "wroker-1.invalid:22" in line]
    assert "wroker-1.invalid:22: the host name wroker-1.invalid does not resolve (" in row, row
    assert ("); check the host's name in the cluster file (workers[].host, master.host) and "
            "that this machine's DNS or /etc/hosts knows it; NOT STOPPED: the worker there, if "
            "it runs, keeps running (run this command again once the host answers)" in row), row
    assert "sshd" not in row, row


def test_a_master_named_by_a_loopback_name_with_workers_elsewhere_is_refused(tmp_path):
    """master.host a name that resolves here to loopback only (localhost; Debian's /etc/hosts
    maps a machine's own name to 127.0.1.1) and a worker on another host: start-cluster and
    start-workers refuse before starting or creating anything, saying why and what to set,
    exit 1 (start-cluster started the master listening on loopback, and every worker's row
    said "nothing listens there: is the master running?" of that master)."""
    from sshd_hosts import free_port

    path = tmp_path / "cluster.yaml"
    path.write_text(f"master:\n  host: localhost\n  port: {free_port()}\n  webui_port: "
                    f"{free_port()}\n  work_dir: {tmp_path}/master\n"
                    f"ssh:\n  known_hosts: {tmp_path}/known_hosts\n"
                    f"secret_file: {tmp_path}/secret\n"
                    f"workers:\n  - host: node-2.invalid\n    work_dir: {tmp_path}/w\n"
                    f"  - host: 127.0.0.1\n    work_dir: {tmp_path}/w\n")
    try:
        for command in ("start-cluster", "start-workers"):
            result = vega(command, "--config", str(path))
            assert result.returncode == 1, result.stdout + result.stderr
            assert result.stdout == "", result.stdout
            assert result.stderr.startswith(
                f"vega: error: master.host localhost (here: ") and result.stderr.endswith(
                f") is a loopback address: the master would listen on it alone, where the "
                f"workers on other hosts (node-2.invalid) cannot reach it; nothing was "
                f"started\nSet master.host in {path} to this machine's address on the "
                f"workers' network (or to a name that resolves to it here too: /etc/hosts may "
                f"map this machine's name to 127.0.1.1).\n"), result.stderr
            assert sorted(os.listdir(tmp_path)) == ["cluster.yaml"]  # no secret, no work dir
        # a worker named so (Spark's conf/workers says localhost) beside workers elsewhere:
        # it registered, and no other worker could fetch its shuffle output
        path.write_text(path.read_text().replace("host: localhost", "host: node-1.invalid")
                        .replace("host: 127.0.0.1", "host: localhost"))
        result = vega("start-cluster", "--config", str(path))
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.startswith("vega: error: the worker localhost (here: ") and (
            ") is a loopback address: it would listen on it alone, where the workers on other "
            "hosts (node-2.invalid) cannot fetch its shuffle output; nothing was started\nName "
            f"that worker in {path} by this machine's address on the workers' network (or by "
            "a name that resolves to it here too: /etc/hosts may map this machine's name to "
            "127.0.1.1).\n") in result.stderr, result.stderr
    finally:
        vega("stop-cluster", "--config", str(path))
    assert vega_processes(str(tmp_path)) == []


def test_a_secret_file_that_is_a_directory_is_a_usage_error(tmp_path):
    """secret_file naming a directory: exit code 2 and one message, before any host is
    touched (it was an internal error, IsADirectoryError, after the master's preflight)."""
    path = tmp_path / "cluster.yaml"
    path.write_text(f"master: {{host: 127.0.0.1, work_dir: {tmp_path}/master}}\n"
                    f"workers: [{{host: 127.0.0.1, work_dir: {tmp_path}/w}}]\n"
                    f"secret_file: {tmp_path}\n")
    for command in ("start-cluster", "start-workers"):
        result = vega(command, "--config", str(path))
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith(f"vega: error: the secret file {tmp_path} is a "
                                        "directory: name the file that holds (or will hold) "
                                        "the cluster secret, e.g. "), result.stderr
    assert not (tmp_path / "master").exists()


def test_stop_cluster_leaves_the_master_of_a_cluster_started_elsewhere_alone(tmp_path):
    """Two clusters started from two directories, each with the default (relative) master
    work_dir, so both masters run with '--pidfile work/master/run/master.pid': stop-cluster
    in the first stops its master only. Before, its search for leftovers matched that text
    in the other master's command line and SIGKILLed it ('killed 1 leftover process(es)').
    Run from a third directory, it fails the master's row naming where the master runs (it
    said "not running", exit 0, and left it running)."""
    from sshd_hosts import free_port

    pids, ports = {}, {}
    for name in ("first", "second"):
        directory = tmp_path / name
        directory.mkdir()
        ports[name] = free_port()
        (directory / "cluster.yaml").write_text(
            f"master: {{host: 127.0.0.1, port: {ports[name]}, webui_port: {free_port()}}}\n"
            f"ssh: {{connect_timeout: 1, known_hosts: {tmp_path}/known_hosts}}\n"
            f"secret_file: {tmp_path}/secret\n"
            f"workers: [{{host: 127.0.0.1, ssh_port: {free_port()}}}]\n")  # its row fails
        # (no sshd there), the master starts
        started = vega("start-cluster", "--config", "cluster.yaml", cwd=str(directory))
        assert started.returncode == 1, started.stdout + started.stderr
        pids[name] = int((directory / "work/master/run/master.pid").read_text().split()[0])
    try:  # from a third directory: its work/master is no master's, and the row says so
        config, first = str(tmp_path / "first/cluster.yaml"), tmp_path / "first/work/master"
        elsewhere = vega("stop-cluster", "--config", config, cwd=str(tmp_path))
        assert (f"not running in {tmp_path}/work/master, but the cluster's master answers at "
                f"vega://127.0.0.1:{ports['first']} from work dir {first}; NOT STOPPED: run "
                "this command from the directory vega start-cluster ran in" in elsewhere.stdout
                ), elsewhere.stdout  # (it said "not running" and the master ran on)
        assert elsewhere.returncode == 1 and proc_helpers.pid_alive(pids["first"])
        stopped = vega("stop-cluster", "--config", "cluster.yaml", cwd=str(tmp_path / "first"))
        master_row = [line for line in stopped.stdout.splitlines() if " master " in line]
        assert len(master_row) == 1 and "│ stopped " in master_row[0], stopped.stdout
        assert not proc_helpers.pid_alive(pids["first"])  # (stop-cluster waits for it)
        assert proc_helpers.pid_alive(pids["second"])
    finally:
        vega("stop-cluster", "--config", "cluster.yaml", cwd=str(tmp_path / "second"))
        for pid in pids.values():
            if proc_helpers.pid_alive(pid):
                os.kill(pid, 9)


@requires_sshd
def test_a_python_with_vega_is_not_passed_over_for_an_older_bootstrap(sshd, tmp_path):
    """A worker's virtualenv left by an earlier --bootstrap no longer runs this Vega (an
    older build: here it runs nothing), while the worker's configured Python does:
    start-workers starts the worker with that Python, and stop-workers stops it (it failed,
    running the virtualenv's Python: "... failed (exit 1): an older build")."""
    from vega_runtime.cluster_file import load_cluster_file

    config, port = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\ncores: 1\nwork_dir: {tmp_path}/w"])
    [entry] = load_cluster_file(config).workers
    stale = tmp_path / "w" / entry.daemon_id / "vega-home" / "venv-0.0.9-000000000000" / "bin"
    stale.mkdir(parents=True)
    (stale / "python").write_text("#!/bin/sh\necho 'an older build' >&2; exit 1\n")
    (stale / "python").chmod(0o755)
    try:
        assert vega("start-master", "--host", "127.0.0.1", "--port", str(port), "--webui-port",
                    "0", "--work-dir", str(tmp_path / "master"), "--secret-file",
                    str(tmp_path / "secret")).returncode == 0
        started = vega("start-workers", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "started, registered" in started.stdout, started.stdout
        stopped = vega("stop-workers", "--config", config)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert "│ stopped " in stopped.stdout, stopped.stdout
        assert vega_processes(str(tmp_path / "w")) == []
    finally:
        vega("stop-master", "--work-dir", str(tmp_path / "master"))
        for pid in vega_processes(str(tmp_path / "w")):
            os.kill(pid, 9)


@requires_sshd
def test_a_passphrase_protected_key_is_named_with_how_to_use_it(sshd, tmp_path):
    """ssh.key names a passphrase-protected key (the host authorizes it): the row says so
    and to load it into ssh-agent and leave the key out, and to run again once that is
    done, exit 1 (it said "PasswordRequiredException: Private key file is encrypted; ...
    run this command again once the host answers")."""
    from sshd_hosts import SSH_KEYGEN

    key = tmp_path / "protected"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(key)],
                   check=True)
    authorized = os.path.join(sshd.tmp_dir, "authorized_keys")
    with open(authorized, "a") as fh:
        fh.write(open(f"{key}.pub").read())
    config, _ = write_cluster(tmp_path, sshd, [
        f"host: 127.0.0.1\nkey: {key}\nwork_dir: {tmp_path}/w"])
    result = vega("stop-workers", "--config", config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"root@127.0.0.1:{sshd.port}: the SSH key {key} is protected by a passphrase, which "
            f"Vega cannot ask for; load it into your ssh-agent (ssh-add {key}) and take its key: "
            "line (ssh.key, workers[].key) out of the cluster file, so that Vega uses the "
            "agent's keys as ssh does, or name a key without a passphrase; NOT STOPPED: the "
            "worker there, if it runs, keeps running (run this command again once what it says "
            "is done)" in result.stdout), result.stdout


@requires_sshd
def test_a_cluster_file_without_a_key_logs_in_with_the_ssh_agents_key(sshd, tmp_path):
    """No ssh.key in the cluster file (conf/cluster.yaml: "empty: ssh-agent and ssh's default
    keys"), the user's key held by their ssh-agent only, as a passphrase-protected key is:
    stop-workers logs in with it and finds nothing running, exit code 0 (it said "SSH
    authentication failed": the agent was never asked)."""
    home = tmp_path / "home"
    home.mkdir()
    config, _ = write_cluster(tmp_path, sshd, [f"host: 127.0.0.1\nwork_dir: {tmp_path}/w"])
    text = open(config).read()
    open(config, "w").write(text.replace(f"  key: {sshd.key_path}\n", ""))
    agent = subprocess.run(["ssh-agent", "-s", "-a", str(tmp_path / "agent.sock")],
                           capture_output=True, text=True, check=True).stdout
    agent_pid = int(re.search(r"SSH_AGENT_PID=(\d+)", agent).group(1))
    try:
        env = proc_helpers.clean_env(HOME=str(home), SSH_AUTH_SOCK=str(tmp_path / "agent.sock"))
        subprocess.run(["ssh-add", sshd.key_path], env=env, capture_output=True, check=True)
        result = vega("stop-workers", "--config", config, env=env)
    finally:
        os.kill(agent_pid, 15)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "nothing was running\n", result.stdout
