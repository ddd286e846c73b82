"""Vega under a real Slurm: ``vega submit --slurm`` and ``vega slurm-cluster`` in
allocations of a slurmctld and two slurmds (``slurm_hosts.SlurmCluster``: network
namespace hosts, munge, one slurm.conf), checked through their public faces: the job's
output and exit code, the master's status, and /proc after ``scancel``."""

import json
import re
import os
import sys

import pytest

from proc_helpers import REPO, clean_env, read_text, vega_argv, wait_for
from slurm_hosts import SlurmCluster, requires_slurm

pytestmark = requires_slurm

TEXT = "the cat and the dog\nThe bird, the cat.\nA dog; a cat! the end\n"
#: jobs/wordcount.py's lines for TEXT, top 4: count, then word, both descending
EXPECTED = ["     5  the", "     3  cat", "     2  dog", "     2  a"]


@pytest.fixture
def slurm(tmp_path):
    with SlurmCluster(2, tmp_path / "slurm", cpus=2, memory_mb=2000) as cluster:
        yield cluster


def _env(slurm, tmp_path) -> dict:
    """Slurm's config, and a Vega home of the test's own (where the cluster's work dir
    and secret go: ``$VEGA_CONF_DIR/slurm/job-ID``); sbatch passes it all to the job."""
    return clean_env(SLURM_CONF=slurm.conf, VEGA_CONF_DIR=str(tmp_path / "vega-home"),
                     PYTHONPATH=REPO)


def _net_ns_inode(name: str) -> int:
    return os.stat(f"/run/netns/{name}").st_ino


def _processes_in(namespaces) -> dict:
    """pid -> command line of every process (read from /proc) whose network namespace is
    one of ``namespaces``."""
    inodes = {_net_ns_inode(ns) for ns in namespaces}
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino not in inodes:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        found[int(entry)] = [a.decode(errors="replace") for a in argv if a]
    return found


def _not_slurm(processes: dict) -> dict:
    return {pid: argv for pid, argv in processes.items()
            if argv and os.path.basename(argv[0]).split(":")[0]  # slurmctld's "slurmctld:
            not in ("slurmctld", "slurmd", "slurmstepd")}          # slurmscriptd" child


def _wait_until_only_slurm_runs(slurm) -> None:
    try:
        wait_for(lambda: not _not_slurm(_processes_in(slurm.all_namespaces)), 30,
                 "every process of the job to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {_not_slurm(_processes_in(slurm.all_namespaces))}")


def test_submit_slurm_runs_wordcount_on_two_nodes(slurm, tmp_path):
    data = tmp_path / "words.txt"
    data.write_text(TEXT)
    done = slurm.run(vega_argv("submit", "--slurm", "nodes=2,cores=1,memory=1200m,time=5:00",
                               os.path.join(REPO, "jobs", "wordcount.py"), str(data), "4"),
                     env=_env(slurm, tmp_path), cwd=str(tmp_path), timeout=150)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{slurm.logs()}"
    assert done.stdout.splitlines() == EXPECTED, done.stderr
    job_id = done.stderr.split("submitted Slurm job ", 1)[1].split()[0]
    assert slurm.job_state(job_id) == "COMPLETED"
    # one worker per node, each with the allocation's share of its node
    work_dir = tmp_path / "vega-home" / "slurm" / f"job-{job_id}"
    for node, ip in zip(slurm.nodes, slurm.ips):
        log = read_text(str(work_dir / node / "worker.log"))
        assert f"registered with master {slurm.ips[0]}:" in log, log
        assert f"shuffle service on {ip}:" in log, log
    assert not (work_dir / "secret").exists()  # deleted when the cluster stopped
    _wait_until_only_slurm_runs(slurm)


def test_scancel_ends_slurm_cluster_and_leaves_no_vega_process(slurm, tmp_path):
    env = _env(slurm, tmp_path)
    script = tmp_path / "cluster.sh"
    script.write_text("#!/bin/sh\n#SBATCH --nodes=2 --ntasks-per-node=1 --cpus-per-task=2 "
                      "--mem=1500M\n"
                      f"exec {sys.executable} -m vega_cli.main slurm-cluster\n")
    submitted = slurm.run(["sbatch", "--parsable", f"--output={tmp_path}/cluster-%j.out",
                           str(script)], env=env, cwd=str(tmp_path))
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    out = tmp_path / f"cluster-{job_id}.out"
    wait_for(lambda: "master vega://" in read_text(str(out)), 90,
             f"the cluster to start\n{read_text(str(out))}\n{slurm.logs()}")
    url = read_text(str(out)).split("master ", 1)[1].split(",")[0]
    work_dir = tmp_path / "vega-home" / "slurm" / f"job-{job_id}"
    status = slurm.run(vega_argv("status", "--json", "--master", url, "--secret-file",
                                 str(work_dir / "secret")), env=env)
    assert status.returncode == 0, status.stderr
    workers = json.loads(status.stdout)["workers"]
    # a worker per node, with the job's CPUs and memory there (--cpus-per-task=2, --mem)
    assert sorted((w["host"], w["cores"], w["memory_bytes"], w["state"]) for w in workers) == \
        [(ip, 2, 1500 << 20, "alive") for ip in slurm.ips]
    assert len(_not_slurm(_processes_in(slurm.all_namespaces))) >= 3  # master, 2 workers

    assert slurm.run(["scancel", job_id], env=env).returncode == 0
    wait_for(lambda: slurm.job_state(job_id) == "CANCELLED", 60, "the job to be cancelled")
    _wait_until_only_slurm_runs(slurm)
    assert not (work_dir / "secret").exists()


def test_submit_slurm_exits_with_the_jobs_exit_code(slurm, tmp_path):
    """... and ships --archives (a relative path: the batch host's submit gets it absolute)
    for the tasks to read, unpacked (they were refused with --slurm)."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        archive.writestr("hello.txt", "shipped")
    job = tmp_path / "fails.py"
    job.write_text("import os, sys\nfrom vega_runtime import Context, SparkFiles\n"
                   "def read(_):\n"
                   "    return open(os.path.join(SparkFiles.get('data'), 'hello.txt')).read()\n"
                   "with Context() as ctx:\n    n = ctx.parallelize(range(10), 2).count()\n"
                   "    shipped = ctx.parallelize([0], 1).map(read).collect()\n"
                   "print('counted', n, shipped)\nsys.exit(3)\n")
    done = slurm.run(vega_argv("submit", "--slurm", "nodes=1,cores=1,memory=1100m",
                               "--archives", "data.zip#data", str(job)),
                     env=_env(slurm, tmp_path), cwd=str(tmp_path), timeout=150)
    assert (done.returncode, done.stdout) == (3, "counted 10 ['shipped']\n"), done.stderr
    job_id = done.stderr.split("submitted Slurm job ", 1)[1].split()[0]
    assert slurm.job_state(job_id) == "FAILED"


def test_slurm_cluster_in_an_salloc_runs_the_job_from_the_login_host(slurm, tmp_path):
    """Under salloc the command runs where salloc does (here the controller's namespace, a
    login node): the master runs there, the workers on the two nodes."""
    data = tmp_path / "words.txt"
    data.write_text(TEXT)
    done = slurm.run(["salloc", "--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=1",
                      "--mem=1100M", *vega_argv("slurm-cluster", "--",
                                                os.path.join(REPO, "jobs", "wordcount.py"),
                                                str(data), "4")],
                     env=_env(slurm, tmp_path), cwd=str(tmp_path), timeout=150)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{slurm.logs()}"
    assert done.stdout.splitlines() == EXPECTED, done.stderr
    assert "master vega://10.118.0.1:" in done.stderr  # this host, on the nodes' network
    _wait_until_only_slurm_runs(slurm)


def test_workers_that_do_not_register_in_time_fail_the_job_and_are_stopped(slurm, tmp_path):
    """--register-timeout shorter than a worker's start: one clear error, exit 1, and the
    master and the worker step stopped all the same. A timeout of 0 checks once, as the
    worker step starts, before any worker's interpreter can have started (0.2 s was not
    always shorter than two workers' start on a fast machine)."""
    done = slurm.run(["salloc", "--nodes=2", "--mem=1100M",
                      *vega_argv("slurm-cluster", "--register-timeout", "0", "--",
                                 os.path.join(REPO, "jobs", "wordcount.py"), "/nonexistent")],
                     env=_env(slurm, tmp_path), cwd=str(tmp_path), timeout=150)
    assert done.returncode == 1, done.stderr
    assert re.search(r"vega: error: only [01] of 2 workers registered in 0s .*worker\.log",
                     done.stderr), done.stderr
    _wait_until_only_slurm_runs(slurm)


def test_secret_in_env_reaches_the_workers_but_not_their_executors(slurm, tmp_path):
    """--secret-in-env: each worker gets the secret from srun's environment into a private
    file of its own and out of its environment, so executors do not inherit it."""
    job = tmp_path / "env.py"
    job.write_text(
        "import os\nfrom vega_runtime import Context\nwith Context() as ctx:\n"
        "    seen = ctx.parallelize(range(4), 4).map(\n"
        "        lambda _: os.environ.get('VEGA_SLURM_SECRET', 'unset')).collect()\n"
        "print(sorted(set(seen)))\n")
    work_dir = tmp_path / "work"
    done = slurm.run(["salloc", "--nodes=2", "--mem=1100M",
                      *vega_argv("slurm-cluster", "--secret-in-env", "--work-dir", str(work_dir),
                                 "--", str(job))],
                     env=_env(slurm, tmp_path), cwd=str(tmp_path), timeout=150)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['unset']\n"
    for node in slurm.nodes:  # each worker kept its copy in its own dir, deleted at the end
        assert "registered with master" in read_text(str(work_dir / node / "worker.log"))
    assert not list(work_dir.glob("**/secret"))
    _wait_until_only_slurm_runs(slurm)
