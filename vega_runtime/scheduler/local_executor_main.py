"""A ``local[N]`` executor in the Python the application ships (``executor_python``).

A ``local[N]`` executor is a fork of its driver; one whose application names another
interpreter replaces itself with ``INTERPRETER -m vega_runtime.scheduler.local_executor_main
FD EXECUTOR_ID APP_DIR MEMORY_BUDGET RESOURCES_JSON``, keeping its connection to the driver
(descriptor ``FD``), and serves tasks as the fork would have.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import List, Optional

from ..processes import end_descendants
from .local_backend import run_executor_process


def main(argv: Optional[List[str]] = None) -> int:
    fd, executor_id, app_dir, budget, resources = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(fd))
    try:
        return run_executor_process(sock, executor_id, app_dir, int(budget), json.loads(resources))
    finally:  # what its tasks started goes with it, as with a forked executor
        end_descendants()


if __name__ == "__main__":
    sys.exit(main())
