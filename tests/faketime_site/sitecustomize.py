"""Loaded as ``sitecustomize`` by the processes a test puts on a clock of their own with
libfaketime (``test_skewed_clocks.faketime_env``): libfaketime 0.9.10, told to leave the
monotonic clock alone (DONT_FAKE_MONOTONIC=1), fails every ``clock_nanosleep`` on it with
EINVAL, so each ``time.sleep`` raised OSError; here it waits in ``select`` instead.  (Faking
the monotonic clock too is no way out: Python's timed lock and condition waits give the
kernel an absolute deadline on the monotonic clock, which the kernel reads unfaked, so a
process an hour ahead waited an hour for each.)"""

import os

if "faketime" in os.environ.get("LD_PRELOAD", ""):
    import select
    import time

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            select.select([], [], [], left)

    time.sleep = _sleep
