"""Job packages at size: packaging, upload, fetch, and a whole submission.

    python scripts/bench/packages.py [MB ...]        (default: 50 300)

For each size, a ``--files`` of that many MB of random (incompressible) bytes:
``build_package``'s time; an upload and a fetch over TLS on loopback, to and from the
master's ``PackageStore`` behind a ``Server`` in a process of its own (the master's own
code for them; ``--serve DIR`` runs it), each with its MB/s; and the wall time of ``vega submit --master local-cluster[2,1]`` of a
job whose two tasks read the file back and hash it (two workers fetch and unpack it), then
of the same on a master and two workers (``vega://``, started for each) in client and in
cluster deploy mode.
Figures in docs/cluster.md (Deploy modes and packages).
"""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

JOB = """
import hashlib, sys
from vega_runtime import Context, SparkFiles

name = sys.argv[1]  # (read here: an executor's own sys.argv is its command line)

def digest(_):
    with open(SparkFiles.get(name), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()

with Context(app_name="bench-packages") as ctx:
    print(sorted(set(ctx.parallelize(range(2), 2).map(digest).collect()))[0])
"""

SECRET = b"bench-secret"


def measure(mb: int, directory: str) -> None:
    from vega_runtime.net.connection import Connection
    from vega_runtime.net.messages import FetchPackage
    from vega_runtime.net.package_stream import receive_file
    from vega_runtime.packaging import build_package, upload

    data = os.urandom(mb * 10 ** 6)
    files, job = os.path.join(directory, f"random-{mb}.bin"), os.path.join(directory, "job.py")
    with open(files, "wb") as out:
        out.write(data)
    with open(job, "w") as out:
        out.write(JOB)
    started = time.perf_counter()
    package = build_package(job, [], [files], os.path.join(directory, f"package-{mb}"))
    print(f"{mb} MB: package {time.perf_counter() - started:.2f}s ({package.size} bytes)")

    server = subprocess.Popen([sys.executable, __file__, "--serve",
                               os.path.join(directory, f"master-{mb}")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        conn = Connection.connect("127.0.0.1", int(server.stdout.readline()), SECRET)
        started = time.perf_counter()
        upload(conn, package)
        _report(mb, "upload", time.perf_counter() - started, package.size)
        started = time.perf_counter()
        conn.send(FetchPackage(package.sha256))
        with open(os.path.join(directory, f"fetched-{mb}.zip"), "wb") as out:
            digest, _ = receive_file(conn, conn.recv().size, out)
        _report(mb, "fetch", time.perf_counter() - started, package.size)
        assert digest == package.sha256
        conn.close()
    finally:
        server.stdin.close()
        server.wait()

    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master",
                           "local-cluster[2,1]", "--files", files, job,
                           os.path.basename(files)], capture_output=True, text=True)
    took = time.perf_counter() - started
    assert done.stdout.split() == [hashlib.sha256(data).hexdigest()], done.stderr[-2000:]
    print(f"{mb} MB: vega submit --master local-cluster[2,1] {took:.2f}s")
    for mode in ("client", "cluster"):  # a cluster each: its workers have no package cached
        with running_cluster(os.path.join(directory, f"{mode}-{mb}")) as (url, env):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "vega_cli.main", "submit", "--master",
                                   url, "--deploy-mode", mode, "--files", files, job,
                                   os.path.basename(files)], capture_output=True, text=True,
                                  env=env)
            took = time.perf_counter() - started
            assert done.stdout.split() == [hashlib.sha256(data).hexdigest()], done.stderr[-2000:]
            print(f"{mb} MB: vega submit --master vega://... --deploy-mode {mode} {took:.2f}s")


@contextlib.contextmanager
def running_cluster(home: str):
    """A master and two 1-core workers on loopback (``vega master``, ``vega worker``) in
    ``home``, with a secret: yields its URL and the environment to submit with."""
    from vega_runtime.net.connection import create_secret_file

    os.makedirs(home)
    create_secret_file(os.path.join(home, "secret"))
    env = {**os.environ, "VEGA_SECRET_FILE": os.path.join(home, "secret")}
    env.pop("VEGA_MASTER", None)
    ready = os.path.join(home, "master.ready")
    quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 start_new_session=True)
    vega = [sys.executable, "-m", "vega_cli.main"]
    procs = [subprocess.Popen(vega + ["master", "--host", "127.0.0.1", "--port", "0",
                                      "--webui-port", "0", "--ready-file", ready,
                                      "--work-dir", os.path.join(home, "master")], **quiet)]
    try:
        url = f"vega://127.0.0.1:{_wait_for(lambda: _read_port(ready))}"
        for name in ("worker-a", "worker-b"):
            procs.append(subprocess.Popen(vega + ["worker", url, "--host", "127.0.0.1",
                                                  "--cores", "1", "--memory", "1g",
                                                  "--webui-port", "0", "--work-dir",
                                                  os.path.join(home, name)], **quiet))

        def alive() -> bool:
            status = subprocess.run(vega + ["status", "--master", url, "--json"],
                                    capture_output=True, text=True, env=env)
            return status.returncode == 0 and sum(
                w["state"] == "alive" for w in json.loads(status.stdout)["workers"]) == 2

        _wait_for(alive)
        yield url, env
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()


def _read_port(ready: str) -> int:
    try:
        with open(ready) as fh:
            return json.load(fh)["port"]
    except (OSError, ValueError, KeyError):
        return 0


def _wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError("the cluster did not start")


def serve(work_dir: str) -> None:
    """A package store on loopback, its port on stdout, until stdin closes."""
    from vega_runtime.deploy.package_store import PackageStore
    from vega_runtime.net.server import Server

    store = PackageStore(work_dir)
    server = Server("127.0.0.1", 0, SECRET, lambda conn: store.serve(conn, conn.recv()),
                    "bench").start()
    print(server.port, flush=True)
    sys.stdin.read()
    server.stop()


def _report(mb: int, what: str, seconds: float, size: int) -> None:
    print(f"{mb} MB: {what} {seconds:.2f}s, {size / seconds / 1e6:.0f} MB/s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(sys.argv[2]))
    with tempfile.TemporaryDirectory(prefix="vega-bench-packages-") as scratch:
        for size in [int(arg) for arg in sys.argv[1:]] or [50, 300]:
            measure(size, scratch)
