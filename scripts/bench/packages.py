"""Job packages at size: packaging, upload, fetch, and a whole submission.

    python scripts/bench/packages.py [MB ...]        (default: 50 300)

For each size, a ``--files`` of that many MB of random (incompressible) bytes:
``build_package``'s time; an upload and a fetch over TLS on loopback, to and from the
master's ``PackageStore`` behind a ``Server`` in a process of its own (the master's own
code for them; ``--serve DIR`` runs it), each with its MB/s; and the wall time of ``vega submit --master local-cluster[2,1]`` of a
job whose two tasks read the file back and hash it (two workers fetch and unpack it).
Figures in docs/cluster.md (Deploy modes and packages).
"""

import hashlib
import os
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
