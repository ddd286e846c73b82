"""What Vega reads from a Slurm allocation and writes for sbatch (vega_cli.slurm_allocation),
and the commands' answers to bad input; no Slurm needed (tests/test_slurm.py runs a real one)."""

import os

import pytest

from proc_helpers import clean_env, vega
from vega_cli.slurm_allocation import (AllocationError, SlurmSpecError, allocation_from_env,
                                       job_exit_code, job_fields, master_peer, node_addresses,
                                       parse_spec, sbatch_options, sbatch_script,
                                       worker_resources)

BATCH_ENV = {"SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "node[1-2]", "SLURM_JOB_NUM_NODES": "2",
             "SLURM_CPUS_ON_NODE": "8", "SLURM_MEM_PER_NODE": "16000",
             "SLURMD_NODENAME": "node1"}


def test_allocation_from_a_batch_script_environment():
    allocation = allocation_from_env(BATCH_ENV)
    assert (allocation.job_id, allocation.nodelist, allocation.num_nodes, allocation.cpus_on_node,
            allocation.mem_per_node_mb, allocation.node_name) == \
        ("42", "node[1-2]", 2, 8, 16000, "node1")


def test_allocation_from_an_salloc_shell_without_memory():
    env = {"SLURM_JOBID": "7", "SLURM_NODELIST": "n3", "SLURM_NNODES": "1",
           "SLURM_CPUS_ON_NODE": "4(x1)"}
    allocation = allocation_from_env(env)
    assert (allocation.job_id, allocation.num_nodes, allocation.cpus_on_node,
            allocation.mem_per_node_mb, allocation.node_name) == ("7", 1, 4, None, None)


def test_outside_an_allocation_the_error_says_where_to_run():
    with pytest.raises(AllocationError, match="inside a Slurm allocation.*sbatch.*salloc"):
        allocation_from_env({"HOME": "/root"})


def test_worker_resources_come_from_the_node_share():
    assert worker_resources(BATCH_ENV) == {"cores": 8, "memory": "16000m"}
    assert worker_resources({"SLURM_CPUS_ON_NODE": "2"}) == {"cores": 2}
    with pytest.raises(AllocationError, match="SLURM_MEM_PER_NODE='lots'"):
        worker_resources({"SLURM_MEM_PER_NODE": "lots"})


def test_node_addresses_and_job_fields_from_scontrol():
    nodes = ("NodeName=s18n1 Arch=x86_64 CoresPerSocket=1 NodeAddr=10.118.0.11 NodeHostName=s18n1\n"
             "NodeName=s18n2 Arch=x86_64 NodeAddr=s18n2 NodeHostName=s18n2\n")
    assert node_addresses(nodes) == {"s18n1": "10.118.0.11", "s18n2": "s18n2"}
    assert node_addresses("NodeName=x State=IDLE") == {}
    fields = job_fields("JobId=5 JobName=vega-wc JobState=COMPLETED Reason=None ExitCode=0:0")
    assert (fields["JobState"], fields["ExitCode"]) == ("COMPLETED", "0:0")


def test_master_address_is_the_nodes_ip_or_the_route_to_another_node():
    """An IP NodeAddr is used as it is; a name (Debian maps a host's own name to 127.0.1.1)
    is not trusted: the route to another node of the job decides."""
    ips = {"a": "10.0.0.1", "b": "10.0.0.2"}
    assert master_peer(ips, ["a", "b"], "a") == ("10.0.0.1", None)
    names = {"a": "a", "b": "b.cluster"}
    assert master_peer(names, ["a", "b"], "a") == (None, "b.cluster")
    assert master_peer(names, ["a"], "a") == (None, "a")          # alone: route to itself
    assert master_peer(ips, ["a", "b"], None) == (None, "10.0.0.1")  # salloc on a login node


@pytest.mark.parametrize("state, exit_code, expected", [
    ("COMPLETED", "0:0", 0), ("FAILED", "1:0", 1), ("FAILED", "3:0", 3),
    ("CANCELLED", "0:15", 130), ("TIMEOUT", "0:0", 1), ("FAILED", "0:9", 137)])
def test_job_exit_code(state, exit_code, expected):
    assert job_exit_code({"JobState": state, "ExitCode": exit_code}, 130) == expected


def test_spec_to_sbatch_script():
    spec = parse_spec("nodes=2, cores=4,memory=8g,time=30:00,partition=batch")
    assert spec == {"nodes": "2", "cores": "4", "memory": "8192M", "time": "30:00",
                    "partition": "batch"}
    script = sbatch_script(sbatch_options(spec, "vega-wc", "/home/u/run"),
                           ["/opt/py/bin/python", "-m", "vega_cli.main", "slurm-cluster", "--",
                            "/home/u/my job.py", "x"])
    assert script == (
        "#!/bin/sh\n# written by vega submit --slurm\n"
        "#SBATCH --job-name=vega-wc\n#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n"
        "#SBATCH --output=/home/u/run/vega-%j.out\n#SBATCH --error=/home/u/run/vega-%j.err\n"
        "#SBATCH --cpus-per-task=4\n#SBATCH --mem=8192M\n#SBATCH --time=30:00\n"
        "#SBATCH --partition=batch\n"
        "exec /opt/py/bin/python -m vega_cli.main slurm-cluster -- '/home/u/my job.py' x\n")


@pytest.mark.parametrize("spec, message", [
    ("nodes=2,gpus=1", "unknown key 'gpus'"), ("nodes", "'nodes' is not KEY=VALUE"),
    ("nodes=0", "nodes must be a positive whole number"), ("memory=lots", "memory 'lots'")])
def test_bad_spec(spec, message):
    with pytest.raises(SlurmSpecError, match=message):
        parse_spec(spec)


def test_slurm_cluster_outside_an_allocation_fails_clearly():
    env = {k: v for k, v in clean_env().items() if not k.startswith("SLURM")}
    done = vega("slurm-cluster", env=env)
    assert done.returncode == 2
    assert "runs inside a Slurm allocation" in done.stderr and "SLURM_JOB_ID" in done.stderr


def test_submit_slurm_refuses_a_bad_spec_and_a_master(tmp_path):
    done = vega("submit", "--slurm", "nodes=2,gpus=1", "jobs/wordcount.py", "data/sample.txt")
    assert done.returncode == 2 and "unknown key 'gpus'" in done.stderr
    done = vega("submit", "--slurm", "nodes=2", "--master", "local", "jobs/wordcount.py")
    assert done.returncode == 2 and "leave out --master" in done.stderr


@pytest.mark.parametrize("flags", [["--deploy-mode", "cluster"], ["--supervise"], ["--detach"],
                                   ["--conf", "spark.submit.deployMode=cluster"]])
def test_submit_slurm_refuses_the_cluster_deploy_mode_flags(flags):
    """They were ignored without a word: the batch job's driver is followed in any case."""
    done = vega("submit", "--slurm", "nodes=1", *flags, "jobs/wordcount.py")
    assert done.returncode == 2 and "--deploy-mode cluster, --supervise and --detach are " \
        "not taken with --slurm" in done.stderr, done.stderr


def test_submit_slurm_verbose_prints_the_drivers_settings_in_the_batch_job():
    """--verbose goes to the batch host's vega submit, which prints the settings it
    resolves into the output this command follows (it was dropped)."""
    from vega_cli.slurm_submit import submit_args

    assert submit_args("job.py", ["x"], [], None, None, "", "", verbose=True) == \
        ["--verbose", os.path.abspath("job.py"), "x"]


def test_submit_slurm_checks_the_job_before_submitting(tmp_path):
    """A missing job or a syntax error is reported at once, not after the queue."""
    done = vega("submit", "--slurm", "nodes=1", str(tmp_path / "nope.py"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    done = vega("submit", "--slurm", "nodes=1", str(broken))
    assert done.returncode == 1 and "broken.py:1: syntax error" in done.stderr


def test_submit_slurm_passes_archives_to_the_batch_hosts_submit(tmp_path):
    """--archives travels to the batch host's vega submit with absolute paths, #NAME kept
    (it was refused: "--archives is not taken with --slurm"); a URL is refused as in
    --py-files and --files, and a corrupt archive at once, not after the queue."""
    from vega_cli.slurm_submit import submit_args

    assert submit_args("job.py", [], [], None, None, "", "", archives="env.tar.gz#environment,"
                       "/data/b.zip") == ["--archives", os.path.abspath("env.tar.gz") +
                                          "#environment,/data/b.zip", os.path.abspath("job.py")]
    job = tmp_path / "job.py"
    job.write_text("print(1)\n")
    done = vega("submit", "--slurm", "nodes=1", "--archives", "hdfs://nn:9870/env.tgz#env",
                str(job))
    assert done.returncode == 2 and "URLs in --py-files, --files and --archives are not taken " \
        "with --slurm (hdfs://nn:9870/env.tgz#env)" in done.stderr, done.stderr
    corrupt = tmp_path / "env.zip"
    corrupt.write_bytes(b"not a zip")
    done = vega("submit", "--slurm", "nodes=1", "--archives", str(corrupt), str(job))
    assert done.returncode == 2 and f"--archives: '{corrupt}' cannot be read as a zip file" \
        in done.stderr, done.stderr
    assert "sbatch" not in done.stderr, done.stderr
