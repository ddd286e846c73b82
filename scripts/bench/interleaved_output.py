"""What interleaved task output costs the master: a task printing N lines alternately to
stdout and stderr (or, with ``--one-stream``, all to stdout), on a master and worker of
this tree on loopback.

    python scripts/bench/interleaved_output.py [N] [--one-stream]

Prints the master's CPU time while the job runs (it stores the output it is relayed) and
while ``vega logs APP > f 2>&1`` reads it back, the latter's wall time, and whether the
lines came back in the order printed.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from proc_helpers import master_and_worker, vega, vega_argv, write_job  # noqa: E402

JOB = """\
import sys
from vega_runtime import Context

count, one_stream = int(sys.argv[1]), sys.argv[2] == "1"

def chatty(_):
    for i in range(count):
        print("line", i, file=sys.stdout if one_stream or i % 2 == 0 else sys.stderr)
    return [0]

with Context(app_name="interleaved") as ctx:
    ctx.parallelize([0], 1).map_partitions(chatty).collect()
"""


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "400000"))
    one_stream = "--one-stream" in sys.argv
    os.environ["PYTHONPATH"] = ROOT
    with tempfile.TemporaryDirectory() as home, master_and_worker(home) as cluster:
        master, env = cluster["master_pid"], cluster["env"]
        job = write_job(home, "interleaved.py", JOB)
        before = _cpu(master)
        subprocess.run(vega_argv("submit", "--master", cluster["url"], job, str(count),
                                 str(int(one_stream))), env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stored = _cpu(master) - before
        status = json.loads(vega("status", "--master", cluster["url"], "--json",
                                 env=env).stdout)
        app_id = status["applications"][0]["id"]
        before, started = _cpu(master), time.perf_counter()
        logs = subprocess.run(vega_argv("logs", "--master", cluster["url"], app_id), env=env,
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              check=True)
        wall, read = time.perf_counter() - started, _cpu(master) - before
        printed = [line.split("] ", 1)[1] for line in logs.stdout.decode().splitlines()
                   if line.startswith("[")]
        in_order = printed == [f"line {i}" for i in range(count)]
        print(f"{count} lines, {'one stream' if one_stream else 'alternating'}: master CPU "
              f"{stored:.2f} s storing them; vega logs 2>&1 {wall:.1f} s, master CPU "
              f"{read:.2f} s; in order: {in_order}")


if __name__ == "__main__":
    main()
