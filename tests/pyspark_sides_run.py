"""The PySpark sides of the suite's file exchanges (``head_start.PySparkExchange``), run one
after another in one interpreter, so in one JVM: a PySpark JVM's start is most of a small
exchange's CPU (~12 s of it; a further SparkContext in the same process ~4 s).

``serve SPOOL`` (PySpark's interpreter) runs each ``SPOOL/NAME.request`` (JSON: a script
and its arguments) as ``__main__`` in the script's directory and answers with
``SPOOL/NAME.done`` (JSON: null, or what went wrong); it exits when ``SPOOL/stop`` appears
(its JVM then exits as it would after one script, deleting its files in ``/tmp``) or once
nothing was asked for ``IDLE`` seconds.  ``ask SPOOL NAME SCRIPT ARGS...`` (any
interpreter) asks and waits for the answer: exit 0, or 1 saying what went wrong (also when
the server has ended: its ``DetachedRun`` leaves ``SPOOL/status``).
"""

import json
import os
import runpy
import sys
import time
import traceback

IDLE = 900.0
POLL = 0.05


def _write(path: str, value) -> None:
    with open(f"{path}.part", "w") as fh:
        json.dump(value, fh)
    os.rename(f"{path}.part", path)


def _run(request: dict):
    """What went wrong running ``request``'s script, or None; its SparkContext is stopped."""
    script = request["script"]
    try:
        os.chdir(os.path.dirname(script))
        sys.argv = [script, *request["args"]]
        runpy.run_path(script, run_name="__main__")
        return None
    except SystemExit as exc:
        return None if exc.code in (0, None) else f"{script} exited with {exc.code}"
    except BaseException:  # (everything, to the asker: the next script still runs)
        return traceback.format_exc()
    finally:
        active = getattr(sys.modules.get("pyspark"), "SparkContext", None)
        if active is not None and active._active_spark_context is not None:
            active._active_spark_context.stop()


def serve(spool: str) -> int:
    answered = set()
    last = time.monotonic()
    while time.monotonic() - last < IDLE and not os.path.exists(os.path.join(spool, "stop")):
        asked = sorted(name for name in os.listdir(spool)
                       if name.endswith(".request") and name not in answered)
        if not asked:
            time.sleep(POLL)
            continue
        for name in asked:
            answered.add(name)
            with open(os.path.join(spool, name)) as fh:
                request = json.load(fh)
            _write(os.path.join(spool, name[:-len(".request")] + ".done"), _run(request))
            sys.stdout.flush()
        last = time.monotonic()
    return 0


def ask(spool: str, name: str, script: str, *args: str) -> int:
    _write(os.path.join(spool, f"{name}.request"), {"script": script, "args": list(args)})
    done = os.path.join(spool, f"{name}.done")
    while not os.path.exists(done):
        if os.path.exists(os.path.join(spool, "status")):
            print(f"the PySpark sides' interpreter ended before running {script}: see "
                  f"{spool}/stderr", file=sys.stderr)
            return 1
        time.sleep(POLL)
    with open(done) as fh:
        failure = json.load(fh)
    if failure is not None:
        print(failure, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    sys.exit(serve(*rest) if command == "serve" else ask(*rest))
