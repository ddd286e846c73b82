"""Backend construction for a ``Context``: the master URL picks the backend.

``inline`` and ``local[N]`` run in this process and its children
(``scheduler/local_backend.py``); ``vega://`` joins a running cluster and
``local-cluster[W,C]`` starts one for this Context first (``LocalCluster``), both
through ``ClusterBackend``, which then waits for the executors a local cluster is
sure to give.  The modules below load only when a backend of theirs is built, so a
local cluster's fork server (started by ``start_local_cluster_early`` before the
configuration is read) imports Vega while the driver does.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Optional, Tuple

from .master_url import MasterSpec

if TYPE_CHECKING:
    from .config import Config

log = logging.getLogger(__name__)


def start_local_cluster_early(master: Optional[str]):
    """The fork server of a local cluster asked for by name (the master argument wins over
    every configuration source), started before the configuration is read; else None."""
    if not isinstance(master, str) or not master.replace(" ", "").startswith("local-cluster["):
        return None
    from .deploy.local_cluster import start_forkserver

    return start_forkserver()


def create_backend(ctx) -> Tuple[Any, Any]:
    """``(backend, event relay)`` for ``ctx`` (a ``Context`` being built: its ``conf``,
    ``master_spec``, ``app_dir`` and listener bus); the relay of the application's events
    to a cluster master, or None for local backends."""
    spec = ctx.master_spec
    output = ctx._on_task_output
    budget = ctx.conf["vega.storage.memory"]
    if spec.kind not in ("inline", "local"):  # a cluster's driver runs no task itself
        return _create_cluster_backend(ctx, spec)
    from .scheduler.heartbeat_receiver import HeartbeatSettings
    from .scheduler.local_backend import InlineBackend, ProcessPoolBackend

    if ctx.conf["vega.dynamic_allocation.enabled"]:
        log.warning("vega.dynamic_allocation.enabled has no effect on %s: its executors "
                    "are fixed (use a cluster or local-cluster master)", spec.url)
    plan = ctx.resource_plan
    if spec.kind == "inline":
        return InlineBackend(ctx.app_dir, output, budget, plan.local_executors[0]), None
    return ProcessPoolBackend(len(plan.local_executors), ctx.app_dir, output, budget,
                              ctx.conf["vega.locality.wait"],
                              HeartbeatSettings.from_conf(ctx.conf),
                              {**plan.executor_env, **ctx._executor_python_env},
                              plan.local_executors, ctx.context_id,
                              ctx.conf["vega.task.reaper.kill_timeout"]), None


def _create_cluster_backend(ctx, spec: MasterSpec) -> Tuple[Any, Any]:
    """A backend on a running cluster, or on a local-cluster started for this Context."""
    from .config import cluster_mode_package
    from .config_limits import rpc_limits
    from .errors import DriverSecretMissing
    from .net.connection import create_secret_file, default_secret_file, load_secret
    from .net.server import is_loopback
    from .scheduler import allocation
    from .scheduler.heartbeat_receiver import HeartbeatSettings
    from .scheduler.cluster_backend import ClusterBackend, MasterEventRelay, MasterLogRelay
    from .deploy.local_cluster import LocalCluster

    conf = ctx.conf
    cluster = backend = None
    try:  # whatever stops the start (Ctrl-C too) stops what it started
        if spec.kind == "local-cluster":
            worker_memory = local_cluster_worker_memory(spec, conf)  # refused: nothing started
            # (before the job runner reads the plan's settings)
            ctx.resource_plan.executor_cores = local_cluster_executor_cores(spec, conf)
            idle = local_cluster_idle_cores(spec, conf)
            if idle:
                log.warning("%s", idle)
            secret_file = os.path.join(ctx.app_dir, "cluster-secret")
            # this driver's TLS (~60 ms: ssl, cryptography, its leaf) is made while the
            # cluster starts, which leaves it idle, rather than when it first connects to
            # the master
            # (goes with the app's directory) the secret whose TLS contexts the early fork
            # server has, if it was forked with them
            create_secret_file(secret_file, durable=False,
                               secret=getattr(ctx._early_forkserver, "tls_secret", None))
            tls = threading.Thread(target=_prepare_tls, args=(secret_file,),
                                   name="vega-tls-setup", daemon=True)
            tls.start()
            try:
                cluster = LocalCluster(spec, worker_memory, os.path.join(ctx.app_dir, "cluster"),
                                       secret_file, ctx._early_forkserver,
                                       {k: v for k, v in conf.items()
                                        if k.startswith(("vega.worker.resource.",
                                                         "vega.worker.resources_file"))},
                                       # its history: what this driver writes, not the
                                       # default directory (another's, or a suite's)
                                       conf["vega.eventlog.dir"])
            finally:  # it reads the secret file, which goes with the app's directory on failure
                tls.join()
            host, port = "127.0.0.1", cluster.master_port
        else:
            secret_file = driver_secret_file(conf)
            if not secret_file and not is_loopback(driver_addresses(conf, spec)[1]):
                # its listener would refuse to start, saying only "refusing to listen on ..."
                raise DriverSecretMissing(spec.url, default_secret_file())
            host, port = spec.host, spec.port
        secret = load_secret(secret_file)
        advertise, bind = driver_addresses(conf, spec)
        plan = ctx.resource_plan
        request = {"name": ctx.app_name, "proposed_id": ctx.context_id,
                   "cores_per_executor": plan.executor_cores,
                   "executor_resources": {k: int(v) for k, v in plan.executor_resources.items()},
                   "executor_env": {**plan.executor_env, **ctx._executor_python_env},
                   "executors_per_address": plan.address_sharing,
                   "cores_max": conf["vega.cores.max"],
                   "executor_cores": conf["vega.executor.cores"],
                   "executor_memory": conf["vega.executor.memory"],
                   "labels": list(conf["vega.executor.labels"]),
                   "package": conf["vega.submit.package"],
                   "package_sha": cluster_mode_package(conf["vega.submit.package"])}
        heartbeat = HeartbeatSettings.from_conf(conf)
        limits = rpc_limits(conf)  # no send to a hung executor blocks past its timeout
        limits["send_timeout"] = min(limits["send_timeout"], heartbeat.timeout)
        backend = ClusterBackend(host, port, secret, request, advertise,
                                 bind,
                                 ctx._on_task_output, ctx._bus.on_waiting,
                                 conf["vega.locality.wait"],
                                 conf["vega.scheduler.executor_wait_timeout"],
                                 starting=cluster is not None,
                                 master_reconnect_timeout=conf["vega.master.reconnect_timeout"],
                                 server_limits=limits,
                                 allocation=allocation.AllocationSettings.from_conf(conf),
                                 heartbeat=heartbeat,
                                 kill_timeout=conf["vega.task.reaper.kill_timeout"])
        backend.owned_cluster = cluster
        backend.broadcast_dir = os.path.join(ctx.app_dir, "broadcast")
        ctx._bus.listeners.append(MasterLogRelay(backend))
        event_relay = MasterEventRelay(backend, source=ctx.event_log)
        event_relay.start(backend.app_id, ctx.app_name, spec.url,
                          context_id=ctx.context_id)
        if ctx.event_log is None:  # else it takes the event log's lines
            ctx._bus.listeners.append(event_relay)
        backend.metrics_source = lambda: {**ctx.job_metrics.snapshot(),
                                          "cached_rdds": ctx.cached_rdds()}
        backend.holds_cached_blocks = ctx._blocks.holds_blocks
        if cluster is not None:
            cluster.wait_started()
            backend.wait_for_executors(local_cluster_slots(spec, conf, backend), 60.0,
                                       cluster.check_running)
    except BaseException:
        if backend is not None:
            backend.stop()
        if cluster is not None:
            cluster.stop()  # (again, if the backend owned it: nothing is left to stop)
        raise
    return backend, event_relay


#: what the Context builds once its backend is up (its job runner): loaded while a local
#: cluster starts, which leaves the driver idle, rather than after
AFTER_BACKEND = ("vega_runtime.scheduler.runner", "vega_runtime.scheduler.dag",
                 "vega_runtime.scheduler.map_output")


def _prepare_tls(secret_file: str) -> None:
    from .net.tls import prepare_cluster_tls  # imported here: in the thread

    prepare_cluster_tls([secret_file])
    # and what the driver's first connection to the master loads, while the cluster starts
    import encodings.idna  # noqa: F401

    from .net import tls_socket  # noqa: F401

    for name in AFTER_BACKEND:  # the Context's lazy modules run at their first attribute
        getattr(importlib.import_module(name), "__name__")


def local_cluster_worker_memory(spec: MasterSpec, conf: "Config") -> str:
    """The memory of each worker of ``local-cluster[W,C,M]``: M, else room for its C
    executors (one per core) of ``vega.executor.memory`` each.  A worker too small for one
    executor is refused, as Spark refuses it, rather than waited for.

    >>> from .master_url import parse_master
    >>> conf = {"vega.executor.memory": 512 * 2**20}
    >>> local_cluster_worker_memory(parse_master("local-cluster[1,3]"), conf)
    '1536m'
    >>> local_cluster_worker_memory(parse_master("local-cluster[1,3,256]"), conf)
    Traceback (most recent call last):
    ...
    vega_runtime.errors.ConfigError: local-cluster[1,3,256]: vega.executor.memory (512 MiB) is more than each worker's 256 MiB: give the workers more memory (M of local-cluster[W,C,M], in MiB) or the executors less
    """
    from .config_values import parse_size
    from .errors import ConfigError

    executor = conf["vega.executor.memory"]
    if not spec.memory:
        return f"{spec.cores * executor // 2**20}m"
    if parse_size(spec.memory) < executor:
        raise ConfigError(spec.url, "vega.executor.memory",
                          f"({executor // 2**20} MiB) is more than each worker's "
                          f"{parse_size(spec.memory) // 2**20} MiB: give the workers more memory "
                          f"(M of local-cluster[W,C,M], in MiB) or the executors less")
    return spec.memory


def local_cluster_idle_cores(spec: MasterSpec, conf: "Config") -> str:
    """What to say when the memory M of ``local-cluster[W,C,M]`` holds fewer executors of
    ``vega.executor.memory`` than its workers have cores for (Spark's one executor per worker
    would run C tasks at once in it; Vega's executors run one each), else "".

    >>> from .master_url import parse_master
    >>> conf = {"vega.executor.memory": 2**30, "vega.task.cpus": 1}
    >>> print(local_cluster_idle_cores(parse_master("local-cluster[1,4,1024]"), conf))
    local-cluster[1,4,1024]: each worker's 1024 MiB holds 1 executor of vega.executor.memory (1024 MiB), so tasks run on 1 of its 4 cores, where Spark's one executor would run 4 at once: give the executors less memory (--executor-memory 256m, spark.executor.memory) or the workers more (M of local-cluster[W,C,M], in MiB)
    >>> local_cluster_idle_cores(parse_master("local-cluster[1,4,4096]"), conf)
    ''
    """
    from .config_values import parse_size
    from .resources import executor_cores

    if not spec.memory:
        return ""
    memory, executor = parse_size(spec.memory), conf["vega.executor.memory"]
    per_executor = executor_cores(conf["vega.task.cpus"])
    wanted, fits = spec.cores // per_executor, memory // executor
    if fits >= wanted:
        return ""
    return (f"{spec.url}: each worker's {memory // 2**20} MiB holds {fits} executor"
            f"{'s' if fits != 1 else ''} of vega.executor.memory ({executor // 2**20} MiB), so "
            f"tasks run on {fits * per_executor} of its {spec.cores} cores, where Spark's one "
            f"executor would run {wanted} at once: give the executors less memory "
            f"(--executor-memory {memory // wanted // 2**20}m, spark.executor.memory) or the "
            f"workers more (M of local-cluster[W,C,M], in MiB)")


def _executors_fitting(spec: MasterSpec, conf: "Config") -> int:
    """How many executors each worker of ``local-cluster[W,C,M]`` has the memory and the
    resources (GPUs) for, its cores aside: an address of a resource tasks take a fraction
    of is held by as many executors as share it (``tasks_per_address``)."""
    from .config_values import parse_size
    from .resources import resource_amounts, tasks_per_address

    fits = parse_size(local_cluster_worker_memory(spec, conf)) // conf["vega.executor.memory"]
    offered, tasks = resource_amounts(conf, "worker"), resource_amounts(conf, "task")
    for name, amount in resource_amounts(conf, "executor").items():
        sharing = tasks_per_address(tasks[name]) if name in tasks else 1
        fits = min(fits, int(offered.get(name, 0) // amount) * sharing)
    return fits


def local_cluster_executor_cores(spec: MasterSpec, conf: "Config") -> int:
    """The cores each executor of ``local-cluster[W,C,M]`` holds: those its one task at a
    time takes (``vega.task.cpus`` rounded up), or, when the worker's memory or resources
    hold fewer executors than that leaves cores for, its share of the worker's cores, as
    Spark's one executor per worker holds all of them (``vega.executor.cores`` and
    ``vega.cores.max`` shared out among the executors that fit).  It still runs one task at a time, but a stage's resource profile
    (``with_resources``) may ask for them: PySpark's tests run stages of 2-CPU tasks on
    ``local-cluster[1,2,1024]`` with 1 GiB executors.

    >>> from .master_url import parse_master
    >>> conf = {"vega.executor.memory": 2**30, "vega.task.cpus": 0.5, "vega.cores.max": 0,
    ...         "vega.executor.cores": 0}
    >>> local_cluster_executor_cores(parse_master("local-cluster[1,4,1024]"), conf)
    4
    >>> local_cluster_executor_cores(parse_master("local-cluster[1,4,2048]"), conf)
    2
    >>> local_cluster_executor_cores(parse_master("local-cluster[1,4]"), conf)
    1
    >>> conf["vega.cores.max"] = 2  # two workers' executors of a core each, as before
    >>> local_cluster_executor_cores(parse_master("local-cluster[2,4,1024]"), conf)
    1
    """
    from .resources import executor_cores

    cores = executor_cores(conf["vega.task.cpus"])
    fits = _executors_fitting(spec, conf)
    if fits <= 0:
        return cores
    share = spec.cores // fits
    # the caps share out among as many executors as before (Spark spreads them too)
    if conf["vega.executor.cores"]:  # per worker
        share = min(share, conf["vega.executor.cores"] // fits)
    if conf["vega.cores.max"]:
        share = min(share, conf["vega.cores.max"] // (spec.workers * fits))
    return max(cores, share)


def local_cluster_slots(spec: MasterSpec, conf: "Config", backend) -> int:
    """How many executors (task slots) a new local cluster is waited for: as many as its
    workers' cores, memory and resources hold, or as ``vega.cores.max`` allows, or only
    what dynamic allocation asks for."""
    cores = local_cluster_executor_cores(spec, conf)
    wanted = spec.workers * min(spec.cores // cores, _executors_fitting(spec, conf))
    cores_max = conf["vega.cores.max"]
    if cores_max:
        wanted = min(wanted, cores_max // cores)
    if backend.allocation is not None:
        wanted = min(wanted, backend.allocation.target)
    return wanted


def cluster_secret(conf: "Config", spec: MasterSpec) -> Optional[bytes]:
    """The secret of the vega:// cluster this driver joins (None in local modes, whose
    secret, if any, is made later with their cluster)."""
    if spec.kind != "vega":
        return None
    from .net.connection import load_secret

    return load_secret(driver_secret_file(conf))


def start_driver_metrics(ctx):
    """The driver's /metrics server (HTTPS) on ``vega.driver.metrics.port``, as a worker's,
    or None when that is 0; a port it cannot take is a ``ConfigError`` saying what to do."""
    conf = ctx.conf
    port = conf["vega.driver.metrics.port"]
    if not port:
        return None
    from .config_limits import http_limits
    from .deploy.http_api import start_metrics_http
    from .errors import ConfigError
    from .net.addresses import bind_refusal
    from .scheduler.job_metrics import JobMetricsCollector

    bind = driver_addresses(conf, ctx.master_spec)[1]
    try:
        return start_metrics_http(bind, port, JobMetricsCollector(ctx.job_metrics),
                                  cluster_secret(conf, ctx.master_spec), **http_limits(conf))
    except OSError as exc:
        hint = bind_refusal(exc, port) or "Give it another port (0: any free port)."
        raise ConfigError(conf.origin("vega.driver.metrics.port"), "vega.driver.metrics.port",
                          f"{port}: the driver's /metrics cannot listen on {bind}:{port} "
                          f"({exc.strerror or exc}). {hint}") from None


def driver_secret_file(conf: "Config") -> str:
    """The secret file of the vega:// cluster this driver joins: ``vega.secret.file``
    (``VEGA_SECRET_FILE``), else the default one when it exists, else ``''`` (none); one
    named that does not exist is a ``SecretFileMissing``, not an OSError of the job."""
    from .net.connection import secret_file_to_use

    return secret_file_to_use(conf["vega.secret.file"])


def driver_addresses(conf: "Config", spec: MasterSpec) -> Tuple[str, str]:
    """(advertised, bound) addresses of the driver's listeners: ``vega.driver.host``,
    else VEGA_LOCAL_IP, else the local address routing to the master (loopback for
    local masters); ``vega.driver.bind``, else the advertised one."""
    from .net.addresses import advertise_address

    peer = spec.host if spec.kind == "vega" else "127.0.0.1"
    advertise = advertise_address(conf["vega.driver.host"] or None, peer)
    return advertise, conf["vega.driver.bind"] or advertise
