"""What TLS costs: per connection and frame throughput, and per phase of a job.

    python scripts/bench/tls_cost.py connect [CONNECTS] [MIB]
    python scripts/bench/tls_cost.py jobs [PAIRS]

Each measurement runs in a fresh subprocess, once with TLS and once with
``VEGA_INSECURE_PLAINTEXT_FOR_BENCHMARKS=1``, alternating (A B A B ...) so that a
machine shared with other work drifts the same way for both.

``connect``: an in-process ``Server`` on loopback; the median connect time (TCP +
TLS + the HMAC handshake) and the throughput of 1 MiB frames into a sink.
``jobs``: ``local-cluster[2,1]`` start-up (Context until a first job ran), three
``group_by_key`` jobs (2,000,000 pairs, 100,000 keys, as harness.py's) and stop.
The whole-process comparison is harness.py's; figures in docs/benchmarks.md.
"""

import json
import os
import statistics
import subprocess
import sys
import time

PLAINTEXT = {"VEGA_INSECURE_PLAINTEXT_FOR_BENCHMARKS": "1"}


def _sink(conn):
    from vega_runtime.net.messages import RequestStatus, StatusReply

    while True:
        if isinstance(conn.recv(), RequestStatus):
            conn.send(StatusReply("{}"))


def measure_connect(connects: int, mib: int) -> dict:
    from vega_runtime.net.connection import Connection
    from vega_runtime.net.messages import RequestStatus, StatusReply
    from vega_runtime.net.server import Server

    secret = b"bench-secret"
    server = Server("127.0.0.1", 0, secret, _sink, "bench").start()
    try:
        Connection.connect("127.0.0.1", server.port, secret).close()  # warm-up
        times = []
        for _ in range(connects):
            started = time.perf_counter()
            conn = Connection.connect("127.0.0.1", server.port, secret)
            times.append(time.perf_counter() - started)
            conn.close()
        conn = Connection.connect("127.0.0.1", server.port, secret)
        block = StatusReply("x" * (1 << 20))
        started = time.perf_counter()
        for _ in range(mib):
            conn.send(block)
        conn.send(RequestStatus())
        conn.recv()  # everything before it has been read
        elapsed = time.perf_counter() - started
        conn.close()
    finally:
        server.stop()
    return {"connect_ms": statistics.median(times) * 1e3, "mib_per_s": mib / elapsed}


def measure_jobs() -> dict:
    started = time.perf_counter()
    from vega_runtime import Context

    ctx = Context(master="local-cluster[2,1]", app_name="tls-cost")
    ctx.parallelize(range(2), 2).count()
    start = time.perf_counter() - started
    jobs = []
    for _ in range(3):
        began = time.perf_counter()
        count = (ctx.parallelize(range(2_000_000), 2).map(lambda i: (i % 100_000, i))
                 .group_by_key().map_values(len).count())
        jobs.append(time.perf_counter() - began)
        assert count == 100_000
    began = time.perf_counter()
    ctx.stop()
    return {"start": start, "jobs": jobs, "stop": time.perf_counter() - began}


def _child(argv) -> dict:
    if argv[0] == "connect":
        return measure_connect(int(argv[1]), int(argv[2]))
    return measure_jobs()


def _run(argv, plaintext: bool) -> dict:
    env = dict(os.environ, TLS_COST_CHILD="1", **(PLAINTEXT if plaintext else {}))
    out = subprocess.run([sys.executable, __file__, *argv], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv) -> None:
    if os.environ.get("TLS_COST_CHILD"):
        print(json.dumps(_child(argv)))
        return
    mode = argv[0] if argv else "connect"
    if mode == "connect":
        child = ["connect", *(argv[1:3] + ["200", "512"][len(argv[1:3]):])]
        for plaintext in (False, True):
            got = _run(child, plaintext)
            label = "plaintext" if plaintext else "TLS 1.3  "
            print(f"{label}  connect {got['connect_ms']:.2f} ms "
                  f"(median of {child[1]}), {got['mib_per_s']:,.0f} MiB/s in 1 MiB frames")
        return
    pairs = int(argv[1]) if len(argv) > 1 else 6
    results = {False: [], True: []}
    for _ in range(pairs):
        for plaintext in (False, True):
            results[plaintext].append(_run(["jobs"], plaintext))
    for plaintext, runs in results.items():
        jobs = [job for run in runs for job in run["jobs"]]
        print(f"{'plaintext' if plaintext else 'TLS 1.3  '}  start "
              f"{statistics.median(r['start'] for r in runs):.2f} s, group_by_key "
              f"{statistics.median(jobs):.2f} s ({min(jobs):.2f}-{max(jobs):.2f}, "
              f"{len(jobs)} jobs), "
              f"stop {statistics.median(r['stop'] for r in runs):.3f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
