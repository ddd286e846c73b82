"""Entry points for the fork server tests: each takes the launch's argv."""

import os
import sys
import time


def report(argv):
    """Print what a forked child sees, then exit with the code in argv[0]."""
    print("argv", " ".join(sys.argv[1:]))
    print("env", os.environ.get("FORKSERVER_TEST", ""))
    print("hash", hash("vega"))
    print("session-leader", os.getsid(0) == os.getpid())
    return int(argv[0])


def sleep(argv):
    time.sleep(float(argv[0]))
    return 0
