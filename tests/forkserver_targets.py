"""Entry points for the fork server tests: each takes the launch's argv."""

import gc
import os
import sys
import time


def report(argv):
    """Print what a forked child sees, then exit with the code in argv[0]."""
    print("argv", " ".join(sys.argv[1:]))
    print("env", os.environ.get("FORKSERVER_TEST", ""))
    print("hash", hash("vega"))
    print("session-leader", os.getsid(0) == os.getpid())
    print("gc-enabled", gc.isenabled())
    return int(argv[0])


#: what ``prepare`` left in the fork server, for the children forked after it
PREPARED = []


def prepare(argv):
    """Run in the fork server itself (``ForkServer.call``): remember argv."""
    PREPARED.extend(argv)


def prepare_once_there(argv):
    """Run in the fork server itself: return once the file argv[0] exists (at most 30 s)."""
    deadline = time.monotonic() + 30
    while not os.path.exists(argv[0]) and time.monotonic() < deadline:
        time.sleep(0.01)


def fail_to_prepare(argv):
    raise ValueError(f"cannot prepare {argv[0]}")


def show_prepared(argv):
    """Print what the fork server prepared before forking this child."""
    print("prepared", " ".join(PREPARED))
    return 0


def show_loaded(argv):
    """Print which of the modules named in argv this child has without importing them."""
    print("loaded", " ".join(name for name in argv if name in sys.modules))
    return 0


def sleep(argv):
    time.sleep(float(argv[0]))
    return 0


def daemonize_sleep(argv):
    """Start a ``sleep`` that leaves this process's session (setsid, double fork), write its
    pid to argv[0], then wait to be killed."""
    import subprocess

    out = subprocess.run(["sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True).stdout
    with open(argv[0] + ".tmp", "w") as fh:
        fh.write(out.split()[-1])
    os.replace(argv[0] + ".tmp", argv[0])
    time.sleep(1000)
    return 0
