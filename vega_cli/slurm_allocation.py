"""What a Slurm allocation gives Vega, and the sbatch script that asks for one: pure
decisions (no processes, no files), used by ``vega slurm-cluster`` and ``vega submit
--slurm``.

Slurm describes an allocation in the environment of the processes it starts:
``SLURM_JOB_ID``, ``SLURM_JOB_NODELIST`` (compressed, e.g. ``node[1-3,7]``, expanded by
``scontrol show hostnames``), ``SLURM_JOB_NUM_NODES``, ``SLURM_CPUS_ON_NODE`` (the CPUs
of this job on the node the process runs on), ``SLURM_MEM_PER_NODE`` (megabytes, set
when the job asked for ``--mem``) and ``SLURMD_NODENAME`` (the node a process runs on;
absent in an ``salloc`` shell on a login host).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from vega_runtime.config_values import parse_size

#: job states after which a job no longer runs (``scontrol show job``'s JobState)
ENDED_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                          "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED"})
#: ``vega submit --slurm KEY=VALUE,...``: key -> what it asks sbatch for
SPEC_KEYS = {
    "nodes": "nodes (one worker each)",
    "cores": "CPUs per node for the worker",
    "memory": "memory per node for the worker, e.g. 4g",
    "time": "time limit, e.g. 30:00 or 1-00:00:00",
    "partition": "partition", "account": "account", "qos": "quality of service",
    "constraint": "node features",
}


class SlurmSpecError(ValueError):
    """A bad ``--slurm`` spec; the message names the part."""


class AllocationError(ValueError):
    """Not inside an allocation, or one Vega cannot use; the message says what to do."""


@dataclass(frozen=True)
class Allocation:
    """The parts of a Slurm job Vega uses."""

    job_id: str
    nodelist: str                  # compressed, as Slurm gives it
    num_nodes: int
    cpus_on_node: Optional[int]    # this node's CPUs (None: not said)
    mem_per_node_mb: Optional[int]  # None: the job did not ask for --mem
    node_name: Optional[str]       # the node this process runs on (None: not on a node)


def allocation_from_env(env: Mapping[str, str]) -> Allocation:
    """The allocation this process runs in, from Slurm's variables in ``env``."""
    job_id = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not job_id or not nodelist:
        raise AllocationError(
            "vega slurm-cluster runs inside a Slurm allocation, and SLURM_JOB_ID / "
            "SLURM_JOB_NODELIST are not set here; start it in an sbatch script or an salloc "
            "shell (or let vega submit --slurm write the script)")
    return Allocation(job_id=job_id, nodelist=nodelist,
                      num_nodes=_int(env, "SLURM_JOB_NUM_NODES") or _int(env, "SLURM_NNODES") or 0,
                      cpus_on_node=_cpus(env.get("SLURM_CPUS_ON_NODE")),
                      mem_per_node_mb=_int(env, "SLURM_MEM_PER_NODE"),
                      node_name=env.get("SLURMD_NODENAME") or None)


def _int(env: Mapping[str, str], name: str) -> Optional[int]:
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise AllocationError(f"{name}={value!r} is not a whole number") from None


def _cpus(value: Optional[str]) -> Optional[int]:
    """SLURM_CPUS_ON_NODE; a heterogeneous job's form ``2(x3)`` means 2 on each."""
    if not value:
        return None
    match = re.match(r"^\s*(\d+)", value)
    return int(match.group(1)) if match else None


def worker_resources(env: Mapping[str, str]) -> Dict[str, object]:
    """``vega worker``'s ``cores`` and ``memory`` on the node a task of the worker step
    runs on: the CPUs and memory Slurm gave this job there (omitted when not said, so
    the worker's own defaults apply)."""
    resources: Dict[str, object] = {}
    cpus = _cpus(env.get("SLURM_CPUS_ON_NODE"))
    if cpus:
        resources["cores"] = cpus
    memory = _int(env, "SLURM_MEM_PER_NODE")
    if memory:
        resources["memory"] = f"{memory}m"
    return resources


def node_addresses(scontrol_nodes: str) -> Dict[str, str]:
    """Node name -> ``NodeAddr`` (the address Slurm itself reaches the node at, often the
    name again) from ``scontrol show node -o NODES``'s lines."""
    found = {}
    for line in scontrol_nodes.splitlines():
        name = re.search(r"(?:^|\s)NodeName=(\S+)", line)
        address = re.search(r"(?:^|\s)NodeAddr=(\S+)", line)
        if name and address:
            found[name.group(1)] = address.group(1)
    return found


def master_peer(addresses: Mapping[str, str], nodes: Sequence[str],
                this_node: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """How to find the master's address: ``(address, None)`` when this node's NodeAddr is
    an IP address (use it), else ``(None, peer)``: the address routing to ``peer``,
    another node of the allocation (or this one, alone), is the one workers reach."""
    own = addresses.get(this_node or "")
    if own and _is_ip(own):
        return own, None
    others = [addresses.get(n, n) for n in nodes if n != this_node]
    return None, (others[0] if others else own)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def job_fields(scontrol_job: str) -> Dict[str, str]:
    """``KEY=VALUE`` fields of ``scontrol show job -o ID``'s one line (values without
    spaces, which are the ones used here: JobState, ExitCode, StdOut...)."""
    return dict(field.split("=", 1) for field in scontrol_job.split() if "=" in field)


def job_exit_code(fields: Mapping[str, str], cancelled_code: int) -> int:
    """The exit code a follower of the job returns: ``cancelled_code`` for a cancelled
    job, else the batch script's (``ExitCode=CODE:SIGNAL``; 128+SIGNAL when killed).

    >>> job_exit_code({"JobState": "FAILED", "ExitCode": "3:0"}, 130)
    3
    >>> job_exit_code({"JobState": "CANCELLED", "ExitCode": "0:15"}, 130)
    130
    """
    if fields.get("JobState", "").startswith("CANCELLED"):
        return cancelled_code
    code, _, signal = fields.get("ExitCode", "1:0").partition(":")
    if signal and signal != "0":
        return 128 + int(signal)
    state = fields.get("JobState", "")
    code_int = int(code or 1)
    return code_int if code_int or state == "COMPLETED" else 1


def parse_spec(spec: str) -> Dict[str, str]:
    """``vega submit --slurm``'s ``nodes=2,cores=4,memory=8g,time=30:00,...``.

    >>> parse_spec("nodes=2,cores=4,memory=8g,time=30:00")
    {'nodes': '2', 'cores': '4', 'memory': '8192M', 'time': '30:00'}
    """
    result: Dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not value:
            raise SlurmSpecError(f"--slurm {spec!r}: {part!r} is not KEY=VALUE")
        if key not in SPEC_KEYS:
            known = ", ".join(SPEC_KEYS)
            raise SlurmSpecError(f"--slurm {spec!r}: unknown key {key!r} (known: {known})")
        result[key] = value
    for key in ("nodes", "cores"):
        if key in result and not (result[key].isdigit() and int(result[key]) > 0):
            raise SlurmSpecError(f"--slurm {spec!r}: {key} must be a positive whole number")
    if "memory" in result:
        try:
            result["memory"] = f"{max(1, parse_size(result['memory']) >> 20)}M"
        except ValueError as exc:
            raise SlurmSpecError(f"--slurm {spec!r}: memory {result['memory']!r}: {exc}") from None
    return result


def sbatch_options(spec: Mapping[str, str], name: str, output_dir: str) -> List[str]:
    """sbatch's options for a Vega job: one task per node (the worker), the cores and
    memory per node, and the output files (``vega-JOBID.out`` / ``.err``)."""
    options = [f"--job-name={name}", f"--nodes={spec.get('nodes', '1')}",
               "--ntasks-per-node=1",
               f"--output={output_dir}/vega-%j.out", f"--error={output_dir}/vega-%j.err"]
    if "cores" in spec:
        options.append(f"--cpus-per-task={spec['cores']}")
    if "memory" in spec:
        options.append(f"--mem={spec['memory']}")
    for key in ("time", "partition", "account", "qos", "constraint"):
        if key in spec:
            options.append(f"--{key}={spec[key]}")
    return options


def sbatch_script(options: Sequence[str], command: Sequence[str]) -> str:
    """A batch script: ``#SBATCH`` lines, then ``exec COMMAND``."""
    lines = ["#!/bin/sh", "# written by vega submit --slurm"]
    lines += [f"#SBATCH {option}" for option in options]
    lines.append("exec " + " ".join(shlex.quote(part) for part in command))
    return "\n".join(lines) + "\n"
