"""``vega submit --slurm SPEC JOB ARGS``: run a job on a Vega cluster of its own, in a
Slurm batch job, and follow it like a cluster-mode driver.

Writes a batch script asking for SPEC's nodes, cores and memory per node and time
(``slurm_allocation.sbatch_options``) whose one command is ``vega slurm-cluster --
[SUBMIT OPTIONS] JOB ARGS``, submits it with ``sbatch``, then copies the job's output
files (``vega-JOBID.out`` / ``.err`` in the current directory, which Slurm writes from
the batch host: it must be on the shared file system, as Slurm jobs' directories are)
to this process's stdout / stderr until the job ends.  The exit code is the job's (130
when it was cancelled).  Ctrl-C cancels the Slurm job (``scancel``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence, TextIO, Tuple

from .errors import EXIT_CANCELLED, CommandError, UsageError, print_notice
from .slurm_allocation import (ENDED_STATES, SlurmSpecError, job_exit_code, job_fields, parse_spec,
                               sbatch_options, sbatch_script)
from .slurm_cluster import VEGA, slurm_command

POLL = 0.5  # seconds between two looks at the job


def submit_args(job: str, args: Sequence[str], confs: Sequence[str], name: Optional[str],
                config_file: Optional[str], py_files: str, files: str,
                verbose: bool = False, archives: str = "") -> List[str]:
    """``vega submit``'s arguments on the batch host (paths made absolute: the batch
    script may run elsewhere in the shared file system); ``verbose``: it prints the
    driver's settings there, as they are resolved, into the output this command follows."""
    out: List[str] = ["--verbose"] if verbose else []
    for pair in confs:
        out += ["--conf", pair]
    if name:
        out += ["--name", name]
    if config_file:
        out += ["--config", os.path.abspath(config_file)]
    for flag, value in (("--py-files", py_files), ("--files", files), ("--archives", archives)):
        if value:  # (an archive's #NAME kept)
            out += [flag, ",".join(_absolute(p) for p in value.split(",") if p)]
    return out + [os.path.abspath(job), *args]


def _absolute(item: str) -> str:
    """A local file of ``--py-files``, ``--files`` or ``--archives`` (``PATH[#NAME]``) with
    an absolute path."""
    path, hash_, name = item.partition("#")
    return os.path.abspath(path) + hash_ + name


def submit_to_slurm(spec_text: str, master: Optional[str], job: str, args: Sequence[str],
                    confs: Sequence[str], name: Optional[str], config_file: Optional[str],
                    py_files: str, files: str, verbose: bool = False,
                    archives: str = "") -> int:
    """Submit the batch job and follow it; returns the exit code."""
    if master:
        raise UsageError("--slurm starts a cluster of its own; leave out --master")
    try:
        spec = parse_spec(spec_text)
    except SlurmSpecError as exc:
        raise UsageError(str(exc), "e.g. --slurm nodes=2,cores=4,memory=8g,time=30:00") from exc
    app = name or os.path.splitext(os.path.basename(job))[0]
    output_dir = os.getcwd()
    command = VEGA + ["slurm-cluster", "--",
                      *submit_args(job, args, confs, name, config_file, py_files, files,
                                   verbose, archives)]
    script = sbatch_script(sbatch_options(spec, f"vega-{app}", output_dir), command)
    with tempfile.NamedTemporaryFile("w", prefix="vega-sbatch-", suffix=".sh",
                                     delete=False) as fh:
        fh.write(script)
    try:
        job_id = slurm_command(["sbatch", "--parsable", fh.name], "submitting the batch job")
    finally:
        os.unlink(fh.name)
    job_id = job_id.strip().split(";")[0]
    out_path = os.path.join(output_dir, f"vega-{job_id}.out")
    err_path = os.path.join(output_dir, f"vega-{job_id}.err")
    print_notice(f"vega: submitted Slurm job {job_id} ({spec_text}); output in {out_path}")
    return follow(job_id, [(out_path, sys.stdout), (err_path, sys.stderr)])


def _job(job_id: str) -> dict:
    """The job's fields, or {} when slurmctld does not answer (or no longer knows it)."""
    try:
        done = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return job_fields(done.stdout) if done.returncode == 0 else {}


def follow(job_id: str, outputs: List[Tuple[str, TextIO]]) -> int:
    """Copy the job's output files as they grow until the job has ended; its exit code."""
    offsets = [0] * len(outputs)
    cancelled = False
    missing_since = None
    said = ""
    while True:
        try:
            fields = _job(job_id)
            _copy(outputs, offsets)
            state = fields.get("JobState", "")
            if state == "PENDING" and fields.get("Reason", "") != said:
                said = fields.get("Reason", "")
                print_notice(f"vega: Slurm job {job_id} is pending ({said})", style="dim")
            if state in ENDED_STATES:
                _copy(outputs, offsets)
                return EXIT_CANCELLED if cancelled else job_exit_code(fields, EXIT_CANCELLED)
            if not fields:  # slurmctld forgot it (MinJobAge) or cannot be reached
                missing_since = missing_since or time.monotonic()
                if time.monotonic() - missing_since > 60:
                    raise CommandError(f"Slurm no longer knows job {job_id}; its outcome is unknown",
                                       f"See {outputs[0][0]} and sacct -j {job_id}")
            else:
                missing_since = None
            time.sleep(POLL)
        except KeyboardInterrupt:
            if cancelled:
                return EXIT_CANCELLED
            cancelled = True
            subprocess.run(["scancel", job_id], timeout=60)
            print_notice(" (Ctrl-C)", head=f"vega: Slurm job {job_id} cancelled",
                         head_style="bold yellow")


def _copy(outputs: List[Tuple[str, TextIO]], offsets: List[int]) -> None:
    for i, (path, stream) in enumerate(outputs):
        try:
            with open(path, "rb") as fh:
                fh.seek(offsets[i])
                data = fh.read()
        except OSError:
            continue
        if data:
            offsets[i] += len(data)
            binary = getattr(stream, "buffer", None)
            if binary is not None:
                stream.flush()
                binary.write(data)
                binary.flush()
            else:
                stream.write(data.decode("utf-8", errors="replace"))
                stream.flush()
