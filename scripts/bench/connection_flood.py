"""Flood a real ``vega master`` with idle connections; print its threads, descriptors and CPU,
and whether ``vega status`` and the web UI answer afterwards (issue 11).

    python scripts/bench/connection_flood.py --connections 400 --nofile 256
    PYTHONPATH=/path/to/other/checkout python scripts/bench/connection_flood.py   # compare

Connections come from 127.0.0.1-127.0.0.8 (all of 127/8 is local on Linux) to the RPC port
and the HTTP port alike, send nothing, are held for ``--hold`` seconds and closed.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ADDRESSES = [f"127.0.0.{i}" for i in range(1, 9)]


def counts(pid: int) -> tuple:
    """(threads, descriptors, CPU seconds) of ``pid``."""
    with open(f"/proc/{pid}/status") as fh:
        threads = int(next(line for line in fh if line.startswith("Threads:")).split()[1])
    with open(f"/proc/{pid}/stat") as fh:
        ticks = sum(int(v) for v in fh.read().rsplit(")", 1)[1].split()[11:13])
    return threads, len(os.listdir(f"/proc/{pid}/fd")), ticks / os.sysconf("SC_CLK_TCK")


def open_idle(port: int, count: int) -> list:
    socks, failures = [], 0
    for i in range(count):
        sock = socket.socket()
        sock.bind((ADDRESSES[i % len(ADDRESSES)], 0))
        sock.settimeout(0.5)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()  # the backlog is full: the master is not accepting
            failures += 1
            if failures == 5:
                break
            continue
        socks.append(sock)
    return socks


def answers(argv: list, timeout: float) -> str:
    started = time.monotonic()
    try:
        ok = subprocess.run(argv, capture_output=True, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    return f"{'ok' if ok else 'FAILED'} in {time.monotonic() - started:.1f}s"


def http_answers(port: int, timeout: float, ca_file: str) -> str:
    """Whether /metrics answers, over HTTPS verified against the master's CA file (plain
    HTTP for a checkout from before HTTPS, which writes none)."""
    started = time.monotonic()
    try:
        if os.path.exists(ca_file):
            from vega_runtime.net.tls import http_client_context

            urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", timeout=timeout,
                                   context=http_client_context(ca_file)).read()
        else:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read()
        return f"ok in {time.monotonic() - started:.1f}s"
    except OSError as exc:
        return f"FAILED ({exc.__class__.__name__}) in {time.monotonic() - started:.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=400, help="to each port")
    parser.add_argument("--nofile", type=int, default=256, help="the master's descriptor limit")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds to hold them open")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="vega-flood-")
    secret = os.path.join(root, "secret")
    with open(secret, "w") as fh:
        fh.write(os.urandom(16).hex())
    ready = os.path.join(root, "ready")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEGA_")}
    master = subprocess.Popen(
        [sys.executable, "-m", "vega_cli.main", "master", "--host", "127.0.0.1", "--port", "0",
         "--webui-port", "0", "--work-dir", os.path.join(root, "m"), "--ready-file", ready,
         "--secret-file", secret], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                              (args.nofile, args.nofile)))
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(ready) and time.monotonic() < deadline:
            time.sleep(0.1)
        with open(ready) as fh:
            ports = json.load(fh)
        status = [sys.executable, "-m", "vega_cli.main", "status", "--master",
                  f"vega://127.0.0.1:{ports['port']}", "--secret-file", secret, "--json"]
        print(f"baseline: threads, fds, cpu = {counts(master.pid)}")
        socks = open_idle(ports["port"], args.connections)
        socks += open_idle(ports["webui_port"], args.connections)
        print(f"{len(socks)} connections open")
        peak = counts(master.pid)
        end = time.monotonic() + args.hold
        while time.monotonic() < end:
            time.sleep(0.5)
            now = counts(master.pid)
            peak = (max(peak[0], now[0]), max(peak[1], now[1]), now[2])
        print(f"held {args.hold:.0f}s: peak threads {peak[0]}, peak fds {peak[1]}, cpu {peak[2]:.2f}s")
        for sock in socks:
            sock.close()
        cpu = counts(master.pid)[2]
        print(f"after closing: vega status {answers(status, 20)}, "
              f"web UI {http_answers(ports['webui_port'], 10, os.path.join(root, 'm', 'ca.pem'))}")
        time.sleep(2)
        after = counts(master.pid)
        print(f"2s later: threads {after[0]}, fds {after[1]}, cpu used {after[2] - cpu:.2f}s")
    finally:
        master.kill()
        master.wait()


if __name__ == "__main__":
    main()
