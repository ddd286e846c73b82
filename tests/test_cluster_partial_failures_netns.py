"""Partial failures an operator meets running the cluster commands over SSH: network
namespaces, each with a real sshd (``netns_hosts``)."""

import glob
import json
import os
import subprocess

import pytest

from netns_hosts import NetworkHosts, requires_netns_sshd
from proc_helpers import REPO, vega_argv, vega_processes
from test_start_cluster import write_cluster

BARE_PYTHON = "/usr/bin/python3"  # an interpreter without Vega, on every "host"


def vega_in_control(net, *args):
    """``vega ARGS`` run in the control namespace (where the hosts are reachable), to the end."""
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run(net.in_control(vega_argv(*args)), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def row(output: str, host: str) -> str:
    """The table row of ``host``'s worker, its cells joined by ``|``."""
    [line] = [line for line in output.splitlines() if f"│ {host} │ worker" in line]
    return " ".join(line.split()).replace("│", "|")


def python_without_ensurepip(path) -> str:
    """A script running BARE_PYTHON with its ensurepip hidden (an empty directory mounted
    over it, in a mount namespace of its own), as a Debian host's Python is without the
    python3-venv package: ``python -m venv`` fails there unless given ``--without-pip``."""
    found = subprocess.run([BARE_PYTHON, "-c", "import ensurepip, os; "
                            "print(os.path.dirname(ensurepip.__file__))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    empty = path.parent / "empty"
    empty.mkdir()
    path.write_text(f"#!/bin/sh\nexec unshare --mount sh -c 'mount --bind {empty} {found} && "
                    f"exec {BARE_PYTHON} \"$@\"' sh \"$@\"\n")
    path.chmod(0o755)
    return str(path)


def locked_versions():
    """{package: version} of the runtime lock file."""
    pins = {}
    with open(os.path.join(REPO, "requirements", "runtime.txt")) as fh:
        for line in fh:
            name, sep, version = line.partition("==")
            if sep and not line.startswith((" ", "#")):
                pins[name.strip().lower().replace("_", "-")] = version.split()[0].rstrip("\\")
    return pins


def installed_versions(work_dir):
    """{package: version} in the virtualenv --bootstrap made under ``work_dir``, Vega aside."""
    [python] = glob.glob(f"{work_dir}/*/vega-home/venv-*/bin/python")  # <work_dir>/<daemon id>/
    listed = subprocess.run([python, "-m", "pip", "list", "--format", "json"], check=True,
                            capture_output=True, text=True).stdout
    skipped = {"vega-engine", "pip", "setuptools"}
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(listed)
            if p["name"].lower() not in skipped}


def mount_tmpfs(path, size: str) -> None:
    """Mount a tmpfs of ``size`` at ``path``."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True)


def fill(path) -> None:
    """Fill the file system of ``path`` (dd ends when it is full)."""
    subprocess.run(["dd", "if=/dev/zero", f"of={path}/filler", "bs=1M"], capture_output=True)


@requires_netns_sshd
@pytest.mark.skipif(not os.path.exists(BARE_PYTHON), reason="needs a system python3")
def test_bootstrapped_hosts_and_full_disks_across_start_and_stop(tmp_path):
    """Two hosts whose Python lacks Vega, the first one's work dir on a full disk.
    start-cluster --bootstrap refuses the full one before uploading anything, saying how much
    room is free and needed (it failed half-way: "size mismatch in put! 0 != 278240", an
    empty wheel left behind), and bootstraps the other, whose disk then fills up: the
    locked versions, though its Python has no ensurepip (Debian's without python3-venv:
    "bootstrap step ... -m venv failed: The virtual environment was not created
    successfully because ensurepip is not available");
    start-cluster again without --bootstrap finds that one's worker running with its
    virtualenv (it failed: "Vega is needed with /usr/bin/python3, found not installed";
    then, with that fixed, "only 0 MiB free ... (a daemon needs 256 MiB)", no word of the
    worker running there); stop-cluster stops it and says the full host runs nothing, exit
    0 (its row failed, exit 1: "NOT STOPPED ... run this command again once the host
    answers", where Vega had never started)."""
    from vega_cli.bootstrap import build_wheels

    # built here, where the package index is reachable (the control namespace has no route
    # out), into the cache start-cluster --bootstrap takes them from
    build_wheels()
    full, room = tmp_path / "full", tmp_path / "room"
    bare_python = python_without_ensurepip(tmp_path / "python3")
    try:
        mount_tmpfs(full, "2m")
        fill(full)
        mount_tmpfs(room, "420m")  # the install's 317 MiB, then a daemon's 256 MiB
        with NetworkHosts(2, tmp_path / "net") as net:
            first, second = net.hosts
            config, _ = write_cluster(tmp_path, first, [
                f"host: {first.host}\ncores: 1\npython: {BARE_PYTHON}\nwork_dir: {full}/work",
                f"host: {second.host}\ncores: 1\npython: {bare_python}\n"
                f"work_dir: {room}/work"], master_host=net.control_ip, port=7077)
            try:
                started = vega_in_control(net, "start-cluster", "--bootstrap", "--config", config)
                assert started.returncode == 1, started.stdout + started.stderr
                refused = row(started.stdout, first.host)
                assert f"root@{first.host}:22: only 0 MiB free in {full}/work/" in refused, refused
                assert ("/vega-home; installing Vega there needs " in refused and " MiB (its "
                        "wheels, their virtualenv and the daemon's work space); free some "
                        "there or choose another work_dir in the cluster file" in refused
                        ), refused
                assert [f for _, _, files in os.walk(full / "work") for f in files] == []
                assert "bootstrapped Vega 0.1.0" in row(started.stdout, second.host)
                assert "| started, registered |" in row(started.stdout, second.host)
                assert installed_versions(room / "work") == locked_versions()
                running = vega_processes(str(tmp_path))
                assert len(running) == 2  # the master, the second host's worker
                fill(room)

                again = vega_in_control(net, "start-cluster", "--config", config)
                assert again.returncode == 1, again.stdout + again.stderr
                assert "| start | already running, registered |" in row(again.stdout,
                                                                      second.host), again.stdout
                assert "Vega 0.1.0 is needed with /usr/bin/python3" in row(again.stdout,
                                                                         first.host)
                assert vega_processes(str(tmp_path)) == running
            finally:
                stopped = vega_in_control(net, "stop-cluster", "--config", config)
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr
            assert "| stop | not running |" in row(stopped.stdout, first.host), stopped.stdout
            assert "| stop | stopped |" in row(stopped.stdout, second.host), stopped.stdout
            assert vega_processes(str(tmp_path)) == []
    finally:
        for path in (full, room):
            if os.path.ismount(path):
                subprocess.run(["umount", str(path)], check=True)
