"""``vega slurm-cluster``: a Vega cluster for the life of a Slurm allocation.

Run inside an allocation (an ``sbatch`` script, or an ``salloc`` shell), it

1. makes a private work dir on the shared file system (``~/.vega/slurm/job-JOBID``, or
   ``--work-dir``) and a new cluster secret in it (mode 0600; the TLS CA derives from it);
2. starts ``vega master`` here (on the batch host; it listens on the address Slurm
   reaches this node at, ``NodeAddr``), on free ports;
3. starts one worker per allocated node with ``srun`` (one job step, so Slurm accounts
   for it, confines it and kills what is left of it), each with the CPUs and memory the
   allocation has on its node (``vega slurm-worker``, below);
4. waits until every worker has registered, then runs ``vega submit --master URL
   [SUBMIT_ARGS]`` and exits with its exit code, or, given no SUBMIT_ARGS, keeps the
   cluster up until the allocation ends (or SIGTERM / Ctrl-C);
5. stops the driver, the worker step and the master, and deletes the secret.

When Slurm ends the job (``scancel``, the time limit), every process of it gets SIGTERM
(then SIGKILL after slurm.conf's ``KillWait``): the workers stop their executors, this
command stops the rest.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import List, Optional, Sequence, Tuple

import click

from vega_runtime.net.connection import create_secret_file, usable_default_secret_file
from vega_runtime.net.endpoints import host_port
from vega_runtime.private_files import make_private_dir

from .errors import EXIT_CANCELLED, CommandError, UsageError, error_console
from .slurm_allocation import (Allocation, AllocationError, allocation_from_env, master_peer,
                               node_addresses, worker_resources)

VEGA = [sys.executable, "-m", "vega_cli.main"]
WORKER_STEP_NAME = "vega-workers"
#: the secret in the worker step's environment (``--secret-in-env``); each worker moves
#: it into a private file and out of its environment before anything else starts
SECRET_ENV = "VEGA_SLURM_SECRET"
#: seconds each part gets to stop on SIGTERM before it is killed
STOP_GRACE = 15.0


def slurm_command(argv: Sequence[str], what: str) -> str:
    """Run a Slurm client command; its stdout, or a clear error naming ``what``."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise UsageError(f"{argv[0]} is not installed here; {what} needs Slurm's client commands",
                         "Run this on a node of the Slurm cluster (or install slurm-client).")
    except subprocess.TimeoutExpired:
        raise CommandError(f"{' '.join(argv)} did not answer in 60s ({what})") from None
    if done.returncode != 0:
        raise CommandError(f"{' '.join(argv)} failed ({what}): "
                           f"{done.stderr.strip() or done.returncode}")
    return done.stdout


def expand_nodelist(nodelist: str) -> List[str]:
    """``node[1-3]`` -> ``[node1, node2, node3]``, as Slurm itself expands it."""
    return slurm_command(["scontrol", "show", "hostnames", nodelist],
                         "expanding SLURM_JOB_NODELIST").split()


def master_address(option: Optional[str], allocation: Allocation, nodes: List[str]) -> str:
    """Where workers and the driver reach the master: ``--host``, else VEGA_LOCAL_IP, else
    this node's NodeAddr in Slurm when that is an IP address, else this machine's address
    on the route to the allocation's other nodes."""
    from vega_runtime.net.addresses import advertise_address

    if option or os.environ.get("VEGA_LOCAL_IP"):
        return advertise_address(option, "")
    addresses = node_addresses(slurm_command(["scontrol", "show", "node", "-o",
                                              allocation.nodelist], "finding the nodes' addresses"))
    own, peer = master_peer(addresses, nodes, allocation.node_name)
    if own:
        return own
    if not peer:
        raise UsageError("cannot tell which address the workers reach this host at",
                         "Give it with --host ADDRESS")
    return advertise_address(None, peer)


def default_work_dir(job_id: str) -> str:
    """``~/.vega/slurm/job-JOBID`` (``$VEGA_CONF_DIR/slurm/...`` when set): the user's Vega
    home, which on a Slurm cluster is on the file system every node shares."""
    return os.path.join(os.path.dirname(usable_default_secret_file()), "slurm", f"job-{job_id}")


class ClusterStartError(RuntimeError):
    """The master or the workers did not come up; the message names the log to read."""


class SlurmVegaCluster:
    """The master (a child process), the worker step (an ``srun`` child) and their files."""

    def __init__(self, allocation: Allocation, nodes: List[str], work_dir: str, host: str,
                 console, secret_in_env: bool = False):
        self.allocation, self.nodes, self.host = allocation, nodes, host
        self.secret_in_env = secret_in_env
        self.work_dir = work_dir
        self.secret_file = os.path.join(work_dir, "secret")
        self.console = console
        self.master: Optional[subprocess.Popen] = None
        self.workers: Optional[subprocess.Popen] = None
        self.url = ""

    def start(self, register_timeout: float) -> None:
        make_private_dir(self.work_dir)
        if not os.path.exists(self.secret_file):
            create_secret_file(self.secret_file)
        self.url = self._start_master()
        self._start_workers()
        self._wait_for_workers(register_timeout)

    def _start_master(self) -> str:
        import json

        ready = os.path.join(self.work_dir, "master.ready")
        if os.path.exists(ready):
            os.unlink(ready)
        with open(os.path.join(self.work_dir, "master.out"), "ab") as out:
            self.master = subprocess.Popen(
                VEGA + ["master", "--host", self.host, "--port", "0", "--webui-port", "0",
                        "--work-dir", os.path.join(self.work_dir, "master"),
                        "--secret-file", self.secret_file, "--ready-file", ready],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if self.master.poll() is not None:
                raise ClusterStartError(f"the master exited with {self.master.returncode}; see "
                                      f"{self.work_dir}/master.out")
            if time.monotonic() > deadline:
                raise ClusterStartError(f"the master did not start in 60s; see "
                                      f"{self.work_dir}/master.out")
            time.sleep(0.1)
        with open(ready) as fh:
            port = json.load(fh)["port"]
        os.unlink(ready)
        return f"vega://{host_port(self.host, port)}"

    def _start_workers(self) -> None:
        count = str(len(self.nodes))
        env, secret_args = os.environ, ["--secret-file", self.secret_file]
        if self.secret_in_env:
            with open(self.secret_file, encoding="ascii") as fh:
                env = {**os.environ, SECRET_ENV: fh.read().strip()}
            secret_args = ["--secret-from-env"]
        self.workers = subprocess.Popen(
            ["srun", f"--nodes={count}", f"--ntasks={count}", "--ntasks-per-node=1",
             "--kill-on-bad-exit=0", f"--job-name={WORKER_STEP_NAME}",
             f"--output={self.work_dir}/worker-task%t.out"]
            + VEGA + ["slurm-worker", self.url, "--work-dir", self.work_dir, *secret_args],
            stdin=subprocess.DEVNULL, start_new_session=True, env=env)

    def _wait_for_workers(self, timeout: float) -> None:
        from vega_runtime.net.framing import ProtocolError

        from .status import request_status

        deadline = time.monotonic() + timeout
        alive: List[str] = []
        while True:
            if self.workers.poll() is not None:
                raise ClusterStartError(f"the worker step (srun) exited with "
                                      f"{self.workers.returncode}; see "
                                      f"{self.work_dir}/NODE/worker.log and worker-taskN.out")
            try:
                status = request_status(self.url, self.secret_file)
                alive = [w["host"] for w in status["workers"] if w["state"] == "alive"]
            except (OSError, ProtocolError):
                pass
            if len(alive) >= len(self.nodes):
                return
            if time.monotonic() > deadline:
                raise ClusterStartError(f"only {len(alive)} of {len(self.nodes)} workers "
                                      f"registered in {timeout:g}s ({', '.join(alive)}); see "
                                      f"{self.work_dir}/NODE/worker.log and worker-taskN.out")
            time.sleep(0.2)

    def alive(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self.master, self.workers))

    def stop(self) -> None:
        """The workers first, then the master: each gets SIGTERM and time to stop its
        executors and clean up before it is killed."""
        if self.workers is not None and self.workers.poll() is None:
            self._signal_worker_step()
            try:
                self.workers.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                pass
        _terminate(self.workers)  # srun ends the step at once on SIGTERM: the fallback
        _terminate(self.master)
        for path in [self.secret_file, *(os.path.join(self.work_dir, n, "secret")
                                         for n in self.nodes)]:  # workers' copies
            try:
                os.unlink(path)
            except OSError:
                pass

    def _signal_worker_step(self) -> None:
        """SIGTERM to the worker step's tasks (``scancel --signal``: srun itself, given
        SIGTERM, would SIGKILL them)."""
        try:
            listed = subprocess.run(["squeue", "--noheader", "--steps", "--format=%i %j",
                                     f"--jobs={self.allocation.job_id}"],
                                    capture_output=True, text=True, timeout=30)
            for line in listed.stdout.splitlines():
                step, _, name = line.strip().partition(" ")
                if name.strip() == WORKER_STEP_NAME:
                    subprocess.run(["scancel", "--signal=TERM", step], capture_output=True,
                                   timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass  # then srun's SIGTERM ends the step


def _terminate(proc: Optional[subprocess.Popen], grace: float = STOP_GRACE) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _run_until_stopped(cluster: SlurmVegaCluster, submit_args: Tuple[str, ...],
                       stop: threading.Event) -> int:
    """Run the driver (or nothing) until it ends, a stop is asked, or the cluster dies."""
    driver = None
    if submit_args:
        env = {**os.environ, "VEGA_SECRET_FILE": cluster.secret_file}
        driver = subprocess.Popen(VEGA + ["submit", "--master", cluster.url, *submit_args],
                                  env=env)
    while not stop.is_set():
        if driver is not None and driver.poll() is not None:
            return driver.returncode
        if driver is None and not cluster.alive():
            cluster.console.print("vega: the master or the worker step ended; stopping")
            return 1
        stop.wait(0.2)
    _terminate(driver)
    return EXIT_CANCELLED


@click.command("slurm-cluster", context_settings={"allow_interspersed_args": False})
@click.option("--work-dir", type=click.Path(file_okay=False),
              help="A directory every node sees (default: ~/.vega/slurm/job-JOBID): the "
                   "secret, the master's and workers' directories and logs.")
@click.option("--host", help="Address the workers reach the master at (default: VEGA_LOCAL_IP, "
                             "then this node's NodeAddr in Slurm).")
@click.option("--register-timeout", type=click.FloatRange(min=0), default=120.0,
              show_default=True,
              help="Seconds to wait for every worker to register (0: check once).")
@click.option("--secret-in-env", is_flag=True,
              help="Give the workers the secret in the worker step's environment (srun "
                   "passes it to each node) instead of the work dir: for a --work-dir that "
                   "is on each node's own disk.")
@click.argument("submit_args", nargs=-1, type=click.UNPROCESSED)
def slurm_cluster(work_dir: Optional[str], host: Optional[str], register_timeout: float,
                  secret_in_env: bool, submit_args: Tuple[str, ...]) -> int:
    """Start a Vega cluster in this Slurm allocation: the master here, a worker per node
    (srun); then run `vega submit --master URL SUBMIT_ARGS` (e.g. jobs/wordcount.py
    data.txt) and exit with its code, or with no SUBMIT_ARGS keep the cluster up until
    the allocation ends."""
    console = error_console()
    try:
        allocation = allocation_from_env(os.environ)
    except AllocationError as exc:
        raise UsageError(str(exc)) from exc
    nodes = expand_nodelist(allocation.nodelist)
    address = master_address(host, allocation, nodes)
    directory = os.path.abspath(work_dir or default_work_dir(allocation.job_id))
    cluster = SlurmVegaCluster(allocation, nodes, directory, address, console, secret_in_env)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    code = 1
    try:
        cluster.start(register_timeout)
        console.print(f"vega: Slurm job {allocation.job_id}: master {cluster.url}, "
                      f"{len(nodes)} worker(s) on {allocation.nodelist}; secret file "
                      f"{cluster.secret_file}; logs in {directory}", highlight=False)
        code = _run_until_stopped(cluster, submit_args, stop)
    except ClusterStartError as exc:
        console.print(f"[bold red]vega: error:[/] {exc}", highlight=False)
    finally:
        cluster.stop()
    return code


@click.command("slurm-worker", hidden=True)
@click.argument("master_url")
@click.option("--work-dir", required=True, type=click.Path(file_okay=False))
@click.option("--secret-file")
@click.option("--secret-from-env", is_flag=True)
def slurm_worker(master_url: str, work_dir: str, secret_file: Optional[str],
                 secret_from_env: bool) -> None:
    """One task of slurm-cluster's worker step: becomes ``vega worker`` (the same process,
    so Slurm tracks it) with this node's share of the allocation, in WORK_DIR/NODE."""
    node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    own_dir = os.path.join(work_dir, node)
    try:
        resources = worker_resources(os.environ)
    except AllocationError as exc:
        raise UsageError(str(exc)) from exc
    if secret_from_env:
        secret_file = _secret_from_env(own_dir)
    if not secret_file:
        raise UsageError("slurm-worker needs --secret-file or --secret-from-env")
    options = [f"--{name}={value}" for name, value in resources.items()]
    os.execv(sys.executable, VEGA + ["worker", master_url, "--work-dir", own_dir,
                                     "--secret-file", secret_file, *options])


def _secret_from_env(directory: str) -> str:
    """Move the secret from the environment (where executors would inherit it) into
    ``directory/secret`` (0600, in a 0700 directory); its path."""
    from vega_runtime.private_files import open_private

    secret = os.environ.pop(SECRET_ENV, "")
    if not secret:
        raise UsageError(f"{SECRET_ENV} is not set in this task's environment")
    make_private_dir(directory)
    path = os.path.join(directory, "secret")
    with open_private(path, "w", encoding="ascii") as fh:
        fh.write(secret + "\n")
    return path
