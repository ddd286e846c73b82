"""One real ``vega master`` with many simulated workers: the master's idle CPU, the wall time
of ``vega status``, and (``--tasks``) a job scheduled across simulated executors (issue 11).

    python scripts/bench/many_workers.py --workers 200 --idle 30 --tasks 10000
    PYTHONPATH=/path/to/other/checkout python scripts/bench/many_workers.py   # compare

Real workers are too heavy to run 200 of on a laptop, so the workers here are simulated:
threads (spread over ``--processes`` processes) that speak the real protocol
(``vega_runtime.net.messages``) over real authenticated connections.  Each one registers
(``RegisterWorker``), sends a ``WorkerHeartbeat`` every 2 s like a real worker, and answers
``LaunchExecutor`` with a simulated executor: a thread that connects to the driver
(``RegisterExecutor``) and runs the tasks it is sent with Vega's own ``Executor`` (one task
at a time per process: tasks here are empty, the point is the scheduling).  When an
application ends its executors go and the worker reports ``ExecutorExited``.

This is a benchmark, not a test: it prints figures and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import contextlib
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

HEARTBEAT_SECONDS = 2.0  # what a real worker sends (vega_runtime.deploy.worker_state)

JOB = """
import sys, time
from vega_runtime import Context
tasks, executors = int(sys.argv[1]), int(sys.argv[2])
ctx = Context(app_name="many-workers")
started = time.monotonic()
ctx.backend.wait_for_executors(executors, 300)  # raises if some never register
ready = time.monotonic()
count = ctx.parallelize(range(tasks), tasks).map(lambda x: x).count()
done = time.monotonic()
print("RESULT", {"count": count, "executors_seconds": round(ready - started, 2),
                 "job_seconds": round(done - ready, 2)}, flush=True)
ctx.stop()
"""


# -- measuring ----------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (its threads included), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads_and_rss(pid: int) -> Tuple[int, int]:
    values = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            values[key] = value.split()
    return int(values["Threads"][0]), int(values["VmRSS"][0]) // 1024


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def vega_status(url: str, secret: str, *flags: str) -> Tuple[float, float, str]:
    """Run ``vega status FLAGS`` as a user would; (wall seconds, CPU seconds, its output).
    On a loaded machine the wall time waits for a core; the CPU time does not."""
    cpu, started = children_cpu(), time.monotonic()
    done = subprocess.run([sys.executable, "-m", "vega_cli.main", "status", *flags,
                           "--master", url, "--secret-file", secret],
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"vega status failed: {done.stderr.strip()[-300:]}")
    return elapsed, children_cpu() - cpu, done.stdout


def report_status_times(url: str, secret: str, runs: int, *flags: str) -> None:
    times = [vega_status(url, secret, *flags)[:2] for _ in range(runs)]
    walls, cpus = [t[0] for t in times], [t[1] for t in times]
    print(f"vega status {' '.join(flags) or '(table)'}: wall median {statistics.median(walls):.2f}s, "
          f"max {max(walls):.2f}s; CPU median {statistics.median(cpus):.2f}s ({runs} runs, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


# -- simulated workers (run with --simulate, one process per share of them) ---------------------

class SimulatedWorker:
    """One worker: a registered session with the master, and its simulated executors."""

    def __init__(self, index: int, master: Tuple[str, int], secret: bytes, cores: int,
                 work_dir: str, run_lock: threading.Lock):
        self.worker_id = f"worker-sim-{index:04d}"
        self.port = 20000 + index  # a shuffle port nobody will ask (tasks here do not shuffle)
        self.master, self.secret, self.cores = master, secret, cores
        self.work_dir, self.run_lock = work_dir, run_lock
        self.conn = None
        self.executors: Dict[Tuple[str, str], object] = {}
        self.lock = threading.Lock()

    def register(self) -> None:
        from vega_runtime._version import __version__
        from vega_runtime.net.connection import Connection
        from vega_runtime.net.messages import RegisteredWorker, RegisterWorker
        from vega_runtime.versions import python_version

        self.conn = Connection.connect(*self.master, self.secret, timeout=60)
        self.conn.send(RegisterWorker(self.worker_id, "127.0.0.1", self.port, self.cores,
                                      1 << 30, [], python_version(), __version__, os.getpid(), []))
        reply = self.conn.recv()
        if not isinstance(reply, RegisteredWorker):
            raise SystemExit(f"{self.worker_id}: registration refused: {reply}")
        threading.Thread(target=self.follow_master, daemon=True).start()

    def heartbeat(self) -> None:
        from vega_runtime.net.messages import WorkerHeartbeat

        with contextlib.suppress(OSError):  # the master is gone: the run is ending
            self.conn.send(WorkerHeartbeat(self.worker_id))

    def follow_master(self) -> None:
        from vega_runtime.net.messages import ApplicationEnded, KillExecutor, LaunchExecutor

        try:
            while True:
                message = self.conn.recv()
                if isinstance(message, LaunchExecutor):
                    threading.Thread(target=self.run_executor, args=(message,), daemon=True).start()
                elif isinstance(message, KillExecutor):
                    self.stop_executors(lambda key: key == (message.app_id, message.executor_id))
                elif isinstance(message, ApplicationEnded):
                    self.stop_executors(lambda key: key[0] == message.app_id)
        except Exception:  # noqa: BLE001 - the master went away: the benchmark is over
            os._exit(0)

    def stop_executors(self, doomed) -> None:
        with self.lock:
            conns = [conn for key, conn in self.executors.items() if doomed(key)]
        for conn in conns:
            conn.close()

    def run_executor(self, order) -> None:
        """A simulated executor: register with the driver, run its tasks, report the exit."""
        from vega_runtime.net.connection import Connection
        from vega_runtime.net.messages import ExecutorExited, RegisterExecutor, TaskOutput
        from vega_runtime.scheduler.executor import Executor, ExecutorDirs, serve_tasks

        key = (order.app_id, order.executor_id)
        try:
            conn = Connection.connect(order.driver_host, order.driver_port, self.secret, timeout=60)
        except Exception as exc:  # noqa: BLE001 - counted and reported, as a worker would
            with open(os.path.join(self.work_dir, "failed-executors.txt"), "a") as fh:
                fh.write(f"{order.executor_id}: {exc}\n")
            self.conn.send(ExecutorExited(*key, 1, f"could not reach the driver: {exc}"))
            return
        with self.lock:
            self.executors[key] = conn
        conn.send(RegisterExecutor(order.executor_id, order.app_id, self.worker_id, "127.0.0.1",
                                   self.port, os.getpid()))
        app_dir = os.path.join(self.work_dir, order.app_id)
        executor = Executor(order.executor_id, "127.0.0.1", ExecutorDirs.under(app_dir, order.executor_id),
                            lambda task_id, stream, text: conn.send(TaskOutput(task_id, stream, text)),
                            64 << 20)
        run = executor.run

        def run_one_at_a_time(message):
            with self.run_lock:
                return run(message)

        executor.run = run_one_at_a_time
        with contextlib.suppress(Exception):  # the driver went away, or we were told to stop
            serve_tasks(executor, conn.recv, conn.send)
        with self.lock:
            self.executors.pop(key, None)
        conn.close()
        with contextlib.suppress(OSError):  # the master is gone: the run is ending
            self.conn.send(ExecutorExited(*key, 0, "exited"))


def simulate(first: int, count: int, url: str, secret_file: str, cores: int, work_dir: str) -> None:
    """Run ``count`` simulated workers until the master goes away (or SIGTERM)."""
    from vega_runtime.net.connection import load_secret

    host, port = url[len("vega://"):].rsplit(":", 1)
    secret = load_secret(secret_file)
    run_lock = threading.Lock()
    workers = [SimulatedWorker(first + i, (host, int(port)), secret, cores, work_dir, run_lock)
               for i in range(count)]
    for worker in workers:
        worker.register()
    print(f"registered {count}", flush=True)
    spacing = HEARTBEAT_SECONDS / count  # spread the heartbeats as independent workers would
    while True:
        for worker in workers:
            worker.heartbeat()
            time.sleep(spacing)


# -- the benchmark ------------------------------------------------------------------------------

def start_master(directory: str, secret: str) -> Tuple[subprocess.Popen, str, int]:
    ready = os.path.join(directory, "master.ready")
    log = open(os.path.join(directory, "master.out"), "ab")
    master = subprocess.Popen([sys.executable, "-m", "vega_cli.main", "master", "--host", "127.0.0.1",
                               "--port", "0", "--webui-port", "0", "--work-dir",
                               os.path.join(directory, "master"), "--secret-file", secret,
                               "--ready-file", ready], stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(ready):
        if master.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the master did not start; see {directory}/master.out")
        time.sleep(0.1)
    time.sleep(0.1)
    with open(ready) as fh:
        ports = json.load(fh)
    return master, f"vega://127.0.0.1:{ports['port']}", ports["webui_port"]


def run(args) -> None:
    from vega_runtime.net.connection import create_secret_file

    directory = tempfile.mkdtemp(prefix="vega-many-workers-")
    secret = os.path.join(directory, "secret")
    create_secret_file(secret)
    master, url, _ = start_master(directory, secret)
    simulators: List[subprocess.Popen] = []
    try:
        share = -(-args.workers // args.processes)
        for first in range(0, args.workers, share):
            count = min(share, args.workers - first)
            simulators.append(subprocess.Popen(
                [sys.executable, __file__, "--simulate", str(first), str(count), url, secret,
                 str(args.cores), os.path.join(directory, "workers")],
                stdout=subprocess.DEVNULL, start_new_session=True))
        started = time.monotonic()
        while True:
            status = json.loads(vega_status(url, secret, "--json")[2])
            alive = [w for w in status["workers"] if w["state"] == "alive"]
            if len(alive) == args.workers:
                break
            if time.monotonic() - started > 180 or any(p.poll() is not None for p in simulators):
                raise SystemExit(f"only {len(alive)} of {args.workers} workers registered")
            time.sleep(0.5)
        print(f"{args.workers} simulated workers ({args.cores} cores each) registered with the "
              f"master in {time.monotonic() - started:.1f}s")
        time.sleep(3)  # let registration settle before measuring idle

        before, t0 = cpu_seconds(master.pid), time.monotonic()
        time.sleep(args.idle)
        used, elapsed = cpu_seconds(master.pid) - before, time.monotonic() - t0
        threads, rss = threads_and_rss(master.pid)
        print(f"master idle with {args.workers} heartbeating workers: {used:.2f} CPU-s over "
              f"{elapsed:.0f}s = {100 * used / elapsed:.2f}% of a core "
              f"({threads} threads, {rss} MiB RSS)")

        report_status_times(url, secret, args.status_runs, "--json")
        report_status_times(url, secret, args.status_runs)

        if args.tasks:
            run_job(args, url, secret, master.pid, directory)
    finally:
        for proc in simulators:
            with_group(proc, signal.SIGKILL)
        with_group(master, signal.SIGTERM)
        try:
            master.wait(10)
        except subprocess.TimeoutExpired:
            with_group(master, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


def run_job(args, url: str, secret: str, master_pid: int, directory: str) -> None:
    executors = args.workers * args.cores
    job = os.path.join(directory, "job.py")
    with open(job, "w") as fh:
        fh.write(JOB)
    env = {**os.environ, "VEGA_MASTER": url, "VEGA_SECRET_FILE": secret,
           "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = cpu_seconds(master_pid)
    started = time.monotonic()
    done = subprocess.run([sys.executable, job, str(args.tasks), str(executors)], env=env,
                          capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - started
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not result:
        raise SystemExit(f"the job failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
    figures = eval(result[0][len("RESULT "):])  # noqa: S307 - our own job's dict
    failures = os.path.join(directory, "workers", "failed-executors.txt")
    if os.path.exists(failures):
        with open(failures) as fh:
            lines = fh.read().splitlines()
        late = [line for line in lines if int(line.split(":")[0].split("-")[-1]) > executors]
        print(f"{len(lines)} simulated executors could not connect to the driver, {len(late)} of "
              f"them replacements (ids past {executors}) launched while the application ended, "
              f"e.g. {lines[0]}")
    print(f"job of {args.tasks} tasks on {executors} simulated executors: count "
          f"{figures['count']}, executors registered in {figures['executors_seconds']}s, job "
          f"{figures['job_seconds']}s = {args.tasks / max(figures['job_seconds'], 1e-9):.0f} tasks/s; "
          f"driver process {wall:.1f}s in all; master CPU during it "
          f"{cpu_seconds(master_pid) - before:.2f}s")


def with_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, sig)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--simulate":
        first, count, url, secret, cores, work_dir = sys.argv[2:8]
        simulate(int(first), int(count), url, secret, int(cores), work_dir)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--cores", type=int, default=1, help="cores per simulated worker")
    parser.add_argument("--processes", type=int, default=2,
                        help="processes the simulated workers are spread over")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measured")
    parser.add_argument("--status-runs", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=0,
                        help="also run a job of this many tasks on the simulated executors")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
