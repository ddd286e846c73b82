"""Run Spark's example programs with the real PySpark, for their answers (one JVM for all).

    .venv-bench/bin/python tests/spark_examples_run.py EXAMPLES_DIR RUNS.json OUT.json

``RUNS.json`` is ``[[name, [args...]], ...]``; ``OUT.json`` maps each name to what its
program printed.  Each example runs as ``__main__`` with its own ``sys.argv``, as
``spark-submit`` would run it; their ``spark.stop()`` leaves the JVM up for the next one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys


def main(examples_dir: str, runs_path: str, out_path: str) -> int:
    with open(runs_path) as fh:
        runs = json.load(fh)
    outputs = {}
    for name, args in runs:
        path = os.path.join(examples_dir, f"{name}.py")
        sys.argv = [path, *args]
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit:
                pass
        outputs[name] = printed.getvalue()
    with open(out_path, "w") as out:
        json.dump(outputs, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
