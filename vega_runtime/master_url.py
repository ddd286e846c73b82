"""Master URLs: where a Context runs its jobs."""

from __future__ import annotations

import logging
import os
import re

from .config_schema import SETTINGS_BY_KEY
from .errors import MasterURLError, TooManyLocalExecutors
from .net.endpoints import unbracketed
from .records import FrozenRecord

# patterns as strings: ``re`` compiles (and caches) the one a URL needs on first use
_LOCAL_N = r"^local\[\s*(\d+|\*)\s*(?:,\s*(\d+)\s*)?\]$"
_LOCAL_CLUSTER = r"^local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*(\d+[kmgtKMGT]?)\s*)?\]$"
_VEGA = r"^vega://(\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]]+):(\d+)/?$"  # a name, IPv4 or [IPv6]

#: the most executor processes a local master runs (each is a process, ~30 MB of its own as
#: it works; Spark's local[N] runs threads): more than a laptop's cores many times over, for
#: jobs that wait on I/O, and below the forks that make a machine suffer
MAX_LOCAL_EXECUTORS = 256

log = logging.getLogger(__name__)


class MasterSpec(FrozenRecord):
    """A parsed master URL.

    >>> parse_master("local[4]")
    MasterSpec(kind='local', url='local[4]', cores=4, workers=0, memory='', host='', port=0, max_failures=0)

    As in Spark, ``local[N,F]`` also sets how many times a task may fail (``F``, the
    job's ``vega.task.max_attempts``), and a bare memory size in ``local-cluster[W,C,M]``
    is in MiB:

    >>> parse_master("local[2, 3]").max_failures, parse_master("local-cluster[2,1,1024]").memory
    (3, '1024m')
    """

    kind: str  # "inline", "local", "local-cluster" or "vega"
    url: str
    cores: int
    workers: int
    memory: str
    host: str
    port: int
    #: ``F`` of ``local[N,F]``: attempts per task; 0: none given (``task_attempts``)
    max_failures: int

    def __init__(self, kind, url, cores=1, workers=0, memory="", host="", port=0, max_failures=0):
        setattr = object.__setattr__
        setattr(self, "kind", kind)
        setattr(self, "url", url)
        setattr(self, "cores", cores)
        setattr(self, "workers", workers)
        setattr(self, "memory", memory)
        setattr(self, "host", host)
        setattr(self, "port", port)
        setattr(self, "max_failures", max_failures)


def parse_master(url: str) -> MasterSpec:
    text = (url or "").strip()
    if text == "local":
        return MasterSpec("inline", text, 1)
    match = re.match(_LOCAL_N, text)
    if match:
        cores = (os.cpu_count() or 1) if match.group(1) == "*" else int(match.group(1))
        max_failures = int(match.group(2) or 0)
        if cores < 1 or (match.group(2) and max_failures < 1):
            raise MasterURLError(url)
        _check_local_executors(url, cores)
        return MasterSpec("local", text, cores, max_failures=max_failures)
    match = re.match(_LOCAL_CLUSTER, text)
    if match:
        workers, cores = int(match.group(1)), int(match.group(2))
        if workers < 1 or cores < 1:
            raise MasterURLError(url)
        _check_local_executors(url, workers * cores)
        memory = match.group(3) or ""
        return MasterSpec("local-cluster", text, cores, workers,
                          memory + "m" if memory.isdigit() else memory)
    match = re.match(_VEGA, text)
    if match and 0 < int(match.group(2)) < 65536:  # (port 0 or 99999: no master listens)
        return MasterSpec("vega", text, host=unbracketed(match.group(1)), port=int(match.group(2)))
    raise MasterURLError(url)


def local_executor_limit() -> int:
    """How many executor processes a local master (``local[N]``, ``local-cluster[W,C]``: W×C)
    may run: ``MAX_LOCAL_EXECUTORS``, or this machine's cores if more (``local[*]`` always
    runs)."""
    return max(MAX_LOCAL_EXECUTORS, os.cpu_count() or 1)


def _check_local_executors(url: str, executors: int) -> None:
    """Refuse a local master of more executors than ``local_executor_limit``: local[1000000]
    forked executors, each a process, until the machine ran out of them, the first job
    waiting (Spark's local[N] runs N threads)."""
    limit = local_executor_limit()
    if executors > limit:
        raise TooManyLocalExecutors(url, executors, limit, os.cpu_count() or 1)


def task_attempts(spec: MasterSpec, conf) -> int:
    """How many times a task may run on ``spec``'s master before its job fails: as Spark's
    (``SparkContext.createTaskScheduler``), ``local`` and ``local[N]`` try it once
    (``MAX_LOCAL_TASK_FAILURES``), ``local[N,F]`` F times, every other master
    ``vega.task.max_attempts`` (``spark.task.maxFailures``), which a local master without F
    ignores, saying so once when it is set to anything but its default."""
    configured = conf["vega.task.max_attempts"]
    if spec.kind not in ("inline", "local"):
        return configured
    default = SETTINGS_BY_KEY["vega.task.max_attempts"].default
    if not spec.max_failures and configured not in (1, default):
        threads = spec.url[len("local["):].split("]")[0].strip() if spec.kind == "local" else "1"
        log.warning("vega.task.max_attempts (spark.task.maxFailures) is %d but %s tries each task "
                    "once, as Spark's local mode does: use master local[%s,%d] for %d attempts a "
                    "task", configured, spec.url, threads, configured, configured)
    return spec.max_failures or 1
