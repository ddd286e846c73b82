"""The driver's entry point: ``Context`` creates RDDs and runs jobs."""

from __future__ import annotations

import atexit
import functools
import gc
import itertools
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from . import aliases, context_backend, ids
from ._version import __version__
from .errors import (BroadcastNotSerializable, ContextStoppedError, DriverOnlyError,
                     MultipleContextsWarning)
from .context_event_logs import EventLogs
from .context_files import FileShipping
from .context_in_task import (ALLOW_IN_TASK, allowed_in_task, in_task, made_in_task,
                              master_in_task, own_context)
from .context_inputs import Inputs
from .context_jobs import JobControl
from .context_persistence import Persistence, unpersist_unreachable
from .context_profiles import Profiles
from .lazy_imports import lazy_module, load_entry_point
from .logs import spark_log_level, user_stacklevel
from .master_url import MasterSpec, parse_master, task_attempts
from .private_files import (hold_owner_lock, make_private_dirs, new_private_dir, open_private,
                            remove_abandoned, remove_tree)
from .processes import HeldSignals, exit_on_ending_signals, restore_ending_signals
from .shuffle.gc_pause import gc_paused
from .versions import executor_hash_seed, full_python_version, hashes_as, platform_name


config = lazy_module("vega_runtime.config")
hdfs = lazy_module("vega_runtime.io.hdfs")
outputs = lazy_module("vega_runtime.io.output")
rdd_base = lazy_module("vega_runtime.rdd.base")
sources = lazy_module("vega_runtime.rdd.sources")
allocation = lazy_module("vega_runtime.scheduler.allocation")
block_tracker = lazy_module("vega_runtime.scheduler.block_tracker")
dag = lazy_module("vega_runtime.scheduler.dag")
event_log = lazy_module("vega_runtime.scheduler.event_log")
job_metrics = lazy_module("vega_runtime.scheduler.job_metrics")
listener = lazy_module("vega_runtime.scheduler.listener")
speculation = lazy_module("vega_runtime.scheduler.speculation")
map_output = lazy_module("vega_runtime.scheduler.map_output")
runner = lazy_module("vega_runtime.scheduler.runner")
run_summary = lazy_module("vega_runtime.scheduler.run_summary")
resources = lazy_module("vega_runtime.resources")
serde = lazy_module("vega_runtime.serde")
checkpoints = lazy_module("vega_runtime.context_checkpoints")
shared = lazy_module("vega_runtime.shared")
task_context = lazy_module("vega_runtime.task_context")

if TYPE_CHECKING:
    from .rdd.base import RDD
    from .scheduler.dag import TaskSpec

log = logging.getLogger(__name__)


class Context(JobControl, FileShipping, Inputs, Persistence, Profiles, EventLogs):
    """The connection to a Vega master; creates RDDs and runs jobs.

    >>> with Context(master="local", app_name="doc") as ctx:
    ...     ctx.parallelize([1, 2, 3]).map(lambda x: x * 10).collect()
    [10, 20, 30]
    """

    def __init__(self, master: Optional[str] = None, app_name: Optional[str] = None,
                 conf: Optional[Dict[str, Any]] = None, config_file: Optional[str] = None,
                 listeners: Sequence[listener.JobListener] = (), profiler_cls: Any = None):
        """``profiler_cls``: what profiles each RDD's tasks when ``vega.python.profile`` is
        on (vega_runtime/profiler.py; ``BasicProfiler`` by default)."""
        # start-up loads the engine's modules (~30 ms): they make objects, no garbage, so
        # the collector's passes over them while they load would find nothing
        with gc_paused():
            self._start(master, app_name, conf, config_file, listeners, profiler_cls)

    def _start(self, master: Optional[str], app_name: Optional[str],
               conf: Optional[Dict[str, Any]], config_file: Optional[str],
               listeners: Sequence[listener.JobListener], profiler_cls: Any = None) -> None:
        overrides = config.settings_of(conf)
        nested = in_task()  # a task's own Context (vega.executor.allow_context)
        if nested and not allowed_in_task(overrides):
            raise DriverOnlyError("creating a Context", ALLOW_IN_TASK)
        listeners = listener.checked_listeners(listeners)
        active = Context.get_active()
        if active is not None and not nested:  # (a local master's driver runs the task)
            warnings.warn(MultipleContextsWarning(active.application_id, active.master,
                                                  active.app_name), stacklevel=user_stacklevel())
        if master is not None:
            overrides["vega.master"] = master
        elif nested:
            overrides["vega.master"] = master_in_task(overrides)
        if app_name is not None:
            overrides["vega.app.name"] = app_name
        early_forkserver = context_backend.start_local_cluster_early(master)
        try:
            self.conf = config.Config.load(config_file=config_file, overrides=overrides)
            self.master_spec: MasterSpec = parse_master(self.conf["vega.master"])
            if early_forkserver is None:  # a local cluster named by the configuration
                early_forkserver = context_backend.start_local_cluster_early(self.master)
            # each module loads only when its feature is on (refused before anything starts)
            speculation_policy = speculation.SpeculationPolicy.from_conf(self.conf) \
                if self.conf["vega.speculation"] else None
            if self.conf["vega.dynamic_allocation.enabled"]:
                allocation.AllocationSettings.from_conf(self.conf)
        except BaseException:
            if early_forkserver is not None:
                early_forkserver.close()
            raise
        self._early_forkserver = early_forkserver
        #: made inside a task (``vega.executor.allow_context``)
        self._nested = nested
        #: whether ``hash()`` here agrees with the executors' (which place keys in partitions):
        #: a local master's executors are forks of the driver, as a local cluster's forked
        #: from it are; a cluster's have their own seed
        self.hashes_as_executors = self.master_spec.kind in ("inline", "local") or \
            getattr(early_forkserver, "forked", False) or hashes_as(executor_hash_seed())
        logging.getLogger("vega_runtime").setLevel(self.conf["vega.log.level"].upper())
        self._app_name: str = self.conf["vega.app.name"]
        self._start_time = time.time()
        #: the id this Context makes itself, which names its event log and directory; a
        #: cluster's master gives the application this id too (``application_id``)
        self.context_id = ids.new_context_id(self._start_time)
        self.checkpoint_dir: Optional[str] = None
        self.hdfs_settings = hdfs.HdfsSettings(self.conf["vega.hdfs.user"], self.conf["vega.hdfs.timeout"],
                                               self.conf["vega.hdfs.datanodes"], self.conf["vega.hdfs.namenode"])
        self._ids = itertools.count()
        self._shuffle_ids = itertools.count()
        self._lock = threading.RLock()
        self._stopped = False
        #: the master's web UI and its token (``_master_web_ui``), once known
        self._ui_web_url: Optional[Tuple[str, str]] = None
        self._persisted: Dict[int, "weakref.ref[RDD]"] = {}
        self._local = threading.local()
        self.app_dir = ""
        try:
            self.app_dir = self._new_app_dir()
            self._start_in(listeners, speculation_policy, profiler_cls)
        except BaseException as exc:  # Ctrl-C included: what started stops, the directory goes
            with HeldSignals():  # not cut short by another signal (a second Ctrl-C forces)
                self._abandon_start()
            if type(exc) is KeyboardInterrupt and not exc.args:  # what a notebook shows
                exc.args = ("the Context's start was interrupted; what it had started is stopped",)
            raise

    def _start_in(self, listeners, speculation_policy, profiler_cls) -> None:
        """The rest of ``_start``, once the application's directory exists."""
        extra = [*listeners, *self._configured_listeners()]
        printer = [] if any(getattr(x, "handles_output", False) for x in extra) else [listener.OutputPrinter()]
        self._bus = listener.ListenerBus(printer + extra, users=extra)
        self._blocks = block_tracker.BlockTracker()
        self.job_metrics = job_metrics.JobMetrics()
        self._bus.listeners.append(self.job_metrics)
        self._job_status = self._job_status_store()
        self._bus.listeners.append(self._job_status)
        self.event_log: Optional[event_log.EventLog] = self._open_event_log()
        if self.event_log is not None:
            self._bus.listeners.append(self.event_log)
            self._clean_event_logs()
        #: the end-of-run summary's figures counted as jobs run: the summary without an event
        #: log, or with one a failed write cut short (kept with a log too, it cannot know)
        self._run_summary = run_summary.RunSummary(self.app_name, self.master_spec.url)
        self._bus.listeners.append(self._run_summary)
        self._metrics_server = context_backend.start_driver_metrics(self)
        #: what executors and tasks have and take, the driver's resources discovered
        self.resource_plan = resources.plan(self.conf, self.master_spec.kind, self.master_spec.cores)
        self._plan_executor_python()  # (its archive staged for executors before they start)
        if self._executor_python_env:  # not forks of anything of the driver's: their own seed
            self.hashes_as_executors = hashes_as(executor_hash_seed())
        #: the relay of this application's events to a cluster master (cluster backends)
        self.backend, self._event_relay = context_backend.create_backend(self)
        for writer in self._event_writers():  # each job's group, description and tags
            writer.job_properties = self._job_properties
        self._log_environment()
        self._runner = runner.JobRunner(
            self.backend,
            dag.DAGScheduler(map_output.MapOutputTracker(), task_attempts(self.master_spec, self.conf),
                             self.conf["vega.stage.max_attempts"]),
            self._bus,
            {"memory_bound": self.conf["vega.shuffle.memory_bound"],
             "batch_records": self.conf["vega.shuffle.batch_records"],
             "fetch_timeout": self.conf["vega.shuffle.io.connection_timeout"],
             "max_result_size": self.conf["vega.driver.max_result_size"],
             "scheduler_mode": self.conf["vega.scheduler.job_mode"],
             "dynamic_allocation": self.conf["vega.dynamic_allocation.enabled"]  # not local's:
             and self.master_spec.kind not in ("inline", "local"),  # fixed, as in Spark
             "barrier_sync_timeout": self.conf["vega.barrier.sync_timeout"],
             "barrier_slots_wait": self.conf["vega.barrier.slots_wait"],
             **self.resource_plan.settings()},
            self._merge_accumulators, self._blocks, self._job_settings, speculation_policy)
        #: PySpark's profilers, one per RDD a stage computes (``vega.python.profile``), or None
        self.profiler_collector = None
        if self.conf["vega.python.profile"]:
            from .profiler import BasicProfiler, ProfilerCollector

            self.profiler_collector = ProfilerCollector(
                profiler_cls or BasicProfiler, self.conf["vega.python.profile.dump"] or None)
            self._runner.profiler_of = functools.partial(self.profiler_collector.profiler_for,
                                                         ctx=self)
        self._runner.forget_rdd = functools.partial(unpersist_unreachable, weakref.ref(self))
        self._finalizer = weakref.finalize(self, _shutdown, self.backend, self.app_dir,
                                           self._owner_lock)
        # Interpreter exit's collection of every module's, class's and function's cycles
        # (~16k objects) took 8 ms of the trivial job's 0.1 s: at exit, after the Contexts'
        # shutdown (atexit is last in, first out), they are frozen (``gc.freeze``) and left
        # to the operating system (Python does not promise to finalize them either).
        atexit.unregister(gc.freeze)
        atexit.register(gc.freeze)
        atexit.register(self._finalizer)
        # A Context still running at exit is stopped as ``stop()`` does (its event log
        # ends, the summary is told), as Spark's shutdown hook stops a SparkContext; run
        # before the finalizer (atexit is last in, first out), which it then calls.
        self._stop_at_exit = functools.partial(_stop_at_exit, weakref.ref(self))
        atexit.register(self._stop_at_exit)
        self._start_idle_events()  # executors lost or released between jobs: recorded then
        self._start_files_root()  # SparkFiles' directory on the driver
        if self._nested:  # the task's own, not its process's running Context; its life
            made_in_task(self)  # is the task's at most
        else:
            Context._active = weakref.ref(self)
        # (a task's own leaves its executor's signals to the executor)
        self._ending_signals = exit_on_ending_signals() if not self._nested else ()
        self._bus.on_application_start(self.application_id, self.application_ui_link)
        log.info("context %s started on %s", self.application_id, self.master_spec.url)

    def _abandon_start(self) -> None:
        """Undo what a ``_start`` that failed had started: the metrics server, the
        backend (a local cluster's daemons), the fork server, the application's directory."""
        self._stopped = True
        self._stop_files_root()
        hook = getattr(self, "_stop_at_exit", None)
        if hook is not None:
            atexit.unregister(hook)
        server = getattr(self, "_metrics_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
        if getattr(self, "event_log", None) is not None:
            self.event_log.close()
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()  # the backend's stop, then the directory
            atexit.unregister(finalizer)
            return
        backend = getattr(self, "backend", None)
        try:
            if backend is not None:
                backend.stop()
            elif self._early_forkserver is not None:
                self._early_forkserver.close()
        finally:
            _shutdown(None, self.app_dir, getattr(self, "_owner_lock", None))

    _active: "Optional[weakref.ref[Context]]" = None

    @classmethod
    def get_or_create(cls, conf: Optional[Dict[str, Any]] = None) -> "Context":
        """The running Context of this process, or a new one from ``conf``.

        >>> with Context(master="local", app_name="doc") as context:
        ...     Context.get_or_create() is context
        True
        """
        active = cls.get_active()
        return active if active is not None else cls(conf=conf)

    @classmethod
    def get_active(cls) -> Optional["Context"]:
        """The running Context of this process (the last one created, not stopped), or None;
        in a task, the one the task made (``vega.executor.allow_context``), as in PySpark's
        Python worker, which has no other: a ``local`` master's driver runs the task."""
        if in_task():
            active = own_context()
        else:
            active = cls._active() if cls._active is not None else None
        return active if active is not None and not active._stopped else None

    def _configured_listeners(self) -> List[listener.JobListener]:
        specs = filter(None, (s.strip() for s in self.conf["vega.listeners"].split(",")))
        return [load_entry_point(spec)() for spec in specs]

    def _event_writers(self) -> List[event_log.EventWriter]:
        return [x for x in self._bus.listeners if isinstance(x, event_log.EventWriter)]

    def _log_environment(self) -> None:
        """The resolved configuration (value and where it came from) and the driver's
        runtime, into the event log and the master's copy (Spark's environment page)."""
        writers = self._event_writers()
        if not writers:
            return
        settings = event_log.redacted([[key, _plain(self.conf[key]), self.conf.origin(key)]
                                       for key in sorted(self.conf)])
        runtime = {"pythonVersion": full_python_version(), "vegaVersion": __version__,
                   "pythonExecutable": sys.executable, "platform": platform_name(),
                   "sparkUser": self.spark_user()}
        for writer in writers:
            writer.executor_cores = self.resource_plan.executor_cores
            writer.environment(settings, runtime)

    # -- lifecycle -----------------------------------------------------------------
    #: The driver's Python as ``major.minor`` (PySpark's ``pythonVer``); a task refuses to run
    #: on an executor whose Python differs, since pickled code needs the same version.
    python_ver = "%d.%d" % sys.version_info[:2]

    @property
    def pythonExec(self) -> str:  # noqa: N802 - PySpark's name
        """The Python the executors run (PySpark's ``pythonExec``, which names
        ``PYSPARK_PYTHON`` or ``python3``): the one the application names
        (``vega.executor.python``, ``executor_python``) as given, else the driver's own
        interpreter, which the local masters' executors run (a cluster's workers run theirs,
        of the same ``major.minor``)."""
        return self._executor_python or sys.executable

    @property
    def pythonVer(self) -> str:  # noqa: N802 - PySpark's name
        return self.python_ver

    @pythonVer.setter
    def pythonVer(self, value: str) -> None:  # noqa: N802
        self.python_ver = value

    @property
    def resources(self) -> Dict[str, Any]:
        """The driver's custom resources (GPUs) by name (``vega.driver.resource.*``)."""
        return dict(self.resource_plan.driver)

    def _job_settings(self) -> Dict[str, Any]:
        """What every task of a job starting now is told besides its stage's settings."""
        settings = {"local_properties": dict(self._local_properties()),
                    "python_version": self.python_ver}
        # ``import pyspark`` in a task means Vega there too, if it does here (a process that
        # never loaded the switch's module has it off: importlib.abc loads tempfile, shutil)
        alias = sys.modules.get(f"{__package__}.pyspark_alias")
        if alias is not None and alias.installed():
            settings["pyspark_alias"] = alias.InTasks()
        return settings

    def stop(self) -> None:
        """Stop the executors and delete this application's scratch files."""
        with self._lock:
            if not self._stopped:
                self._stopped = True
                # a Ctrl-C or kill landing here would leave the rest undone (the application's
                # directory, say): it is taken once the Context has stopped (a second forces)
                with HeldSignals():
                    self._stop()
                restore_ending_signals(self._ending_signals)
                log.info("context %s stopped", self.application_id)

    def _stop(self) -> None:
        atexit.unregister(self._stop_at_exit)
        # the jobs other threads still run are cancelled (Spark's "because SparkContext was
        # shut down"), and ended before the executors go
        self._runner.stop_jobs("because the Context was stopped")
        self._stop_idle_events()
        self._take_in_last_events()
        if self._event_relay is not None:  # before the backend's last send
            self._event_relay.close()
        self._finalizer()
        atexit.unregister(self._finalizer)  # kept, a process of many Contexts piled them up
        self._stop_files_root()
        if self.event_log is not None:  # its end carries what ran, which listings read
            self.event_log.close(self._run_summary.totals())
        self._bus.on_application_end(self._summary())
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()

    def _take_in_last_events(self) -> None:
        """What the backend reported after the last job (executors released), into the
        event log before it closes."""
        try:
            self._runner.catch_up()
        except Exception as exc:  # a backend already broken: its errors were reported
            log.debug("events after the last job not taken in: %s", exc)

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __reduce__(self):
        raise DriverOnlyError("the Context")

    @property
    def application_id(self) -> str:
        """This application's id, e.g. ``app-20261121093000-1a2b``: on a cluster, the one
        its master knows it by (its web UI, ``vega status``, ``vega logs``, ``vega kill``), as
        Spark's; that is the Context's own (``context_id``) unless the master had it."""
        return getattr(getattr(self, "backend", None), "app_id", "") or self.context_id

    @property
    def app_name(self) -> str:
        """The application's name (``vega.app.name``); ``appName`` as in PySpark."""
        return self._app_name

    @property
    def master(self) -> str:
        return self.master_spec.url

    @property
    def start_time(self) -> int:
        """When this Context started, in milliseconds since the epoch (as PySpark)."""
        return int(self._start_time * 1000)

    @property
    def ui_web_url(self) -> Optional[str]:
        """The web UI showing this application: a local cluster's master UI, or a cluster
        master's on the HTTPS port it reports in its status; None in local mode (no UI)
        or when the master cannot be asked."""
        cluster = getattr(self.backend, "owned_cluster", None)
        if cluster is None and self.master_spec.kind != "vega":
            return None  # local mode: no UI, and no TLS module (ssl, cryptography) to import
        if cluster is not None:
            from .net.tls import http_scheme

            return f"{http_scheme()}://127.0.0.1:{cluster.webui_port}"
        return self._master_web_ui()[0] or None

    def _master_web_ui(self) -> Tuple[str, str]:
        """``scheme://host:port`` of a cluster master's web UI as its status reports it, and
        the token that signs a browser in to it (derived from the cluster secret, else read
        from the token file the master names, when this driver can read it); "" for what
        cannot be had.  Asked once."""
        if self._ui_web_url is not None:
            return self._ui_web_url
        from .net.framing import ProtocolError
        from .net.status_request import fetch_master_status
        from .net.endpoints import host_port
        from .net.tls import http_scheme
        from .net.ui_links import api_token, read_token_file

        try:
            reported = fetch_master_status(*self.backend.master_address,
                                           getattr(self.backend, "secret", None) or b"")
            reported = reported.get("master", {})
        except (OSError, ProtocolError, ValueError) as exc:
            log.debug("no web UI link: the master could not be asked for its port: %s", exc)
            return "", ""  # asked again next time: the master may be back
        port = reported.get("webui_port")
        scheme = reported.get("webui_scheme") or http_scheme()
        base = f"{scheme}://{host_port(self.master_spec.host, port)}" if port else ""
        secret = getattr(self.backend, "secret", None)
        if secret:
            token = api_token(secret)
        else:  # a master without a cluster secret: its random token, if readable here
            token = read_token_file(reported.get("token_file") or "") or ""
        self._ui_web_url = (base, token)
        return self._ui_web_url

    @property
    def application_ui_link(self) -> Optional[str]:
        """The link to this application's pages in the master's web UI (jobs, stage DAGs,
        task timelines, executors, storage, environment), signed in with the token where
        this driver can have it; None in local mode (no UI)."""
        cluster = getattr(self.backend, "owned_cluster", None)
        if cluster is None and self.master_spec.kind != "vega":
            return None  # local mode: no UI (nor ui_links' hashlib/hmac to import)
        from .net.ui_links import application_link

        app_id = getattr(self.backend, "app_id", "")
        if cluster is not None:
            return application_link(cluster.ui_link, app_id)
        base, token = self._master_web_ui()
        if not base:
            return None
        return application_link(f"{base}/" + (f"?token={token}" if token else ""), app_id)

    def _repr_html_(self) -> str:
        """What Jupyter shows for a Context: master, application, link to its web UI."""
        from html import escape

        link = self.application_ui_link
        ui = f'<a href="{escape(link)}" target="_blank">open the web UI</a>' if link else \
            "none (a local master has no web UI)"
        shown = self.application_id + ("" if self.application_id == self.context_id
                                       else f" (event log {self.context_id})")
        rows = [("master", escape(self.master)), ("application", escape(shown)),
                ("name", escape(self.app_name)), ("web UI", ui),
                ("state", "stopped" if self._stopped else "running")]
        return ('<div class="vega-context"><b>Vega Context</b><table>' +
                "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>"
                        for k, v in rows) + "</table></div>")

    @property
    def version(self) -> str:
        return __version__

    @property
    def default_parallelism(self) -> int:
        """Partitions used by parallelize() when none is given: the executor cores."""
        configured = self.conf["vega.default.parallelism"]
        return configured if configured > 0 else self.backend.default_parallelism()

    @property
    def default_min_partitions(self) -> int:
        return min(self.default_parallelism, 2)

    def default_reduce_partitions(self, parent_partitions: int) -> int:
        configured = self.conf["vega.default.parallelism"]
        return configured if configured > 0 else parent_partitions

    def new_rdd_id(self) -> int:
        self._check_running()
        return next(self._ids)

    def new_shuffle_id(self) -> int:
        return next(self._shuffle_ids)

    def register_shuffle_for_cleanup(self, dep) -> None:
        """Once ``dep`` is garbage (no RDD can read its shuffle again), its map outputs are
        forgotten and its files deleted, as the next job starts (Spark's ContextCleaner);
        until then a job that reads it again skips its map stage."""
        cleanup = weakref.finalize(dep, self._runner.unreachable_shuffles.append, dep.shuffle_id)
        cleanup.atexit = False  # at exit the application's directory goes whole

    def _check_running(self) -> None:
        if self._stopped:
            raise ContextStoppedError(self.application_id)

    # -- creating RDDs ---------------------------------------------------------------
    def parallelize(self, data: Iterable, num_slices: Optional[int] = None) -> RDD:
        """An RDD of a local collection, cut into ``num_slices`` partitions (``int()`` of
        it, as PySpark's: ``"2"`` from ``sys.argv`` is 2).

        >>> ctx.parallelize(range(5), 2).glom().collect()
        [[0, 1], [2, 3, 4]]
        """
        return sources.ParallelCollectionRDD(
            self, data, self.default_parallelism if num_slices is None else int(num_slices))

    make_rdd = parallelize

    def range(self, start: int, end: Optional[int] = None, step: int = 1,
              num_slices: Optional[int] = None) -> RDD:
        """Integers from ``start`` up to, not including, ``end``.

        >>> ctx.range(1, 7, 2).collect()
        [1, 3, 5]
        """
        if end is None:
            start, end = 0, start
        return self.parallelize(range(start, end, step), num_slices)

    def empty_rdd(self) -> RDD:
        """An RDD with no partitions and no elements."""
        return sources.EmptyRDD(self)

    def union(self, rdds: Sequence[RDD]) -> RDD:
        """The elements of all ``rdds``, one after another.

        >>> ctx.union([ctx.parallelize([1]), ctx.parallelize([2])]).collect()
        [1, 2]
        """
        from .rdd.narrow import PartitionerAwareUnionRDD, UnionRDD

        rdds = list(rdds)
        first = rdds[0].partitioner if rdds else None
        if first is not None and all(r.partitioner == first and
                                     r.get_num_partitions() == first.num_partitions
                                     for r in rdds):
            return PartitionerAwareUnionRDD(self, rdds)
        return UnionRDD(self, rdds)

    def text_file(self, path: str, min_partitions: Optional[int] = None,
                  use_unicode: bool = True) -> RDD:
        """Lines of text files: a file, a directory, a glob or a comma-separated list.
        Lines end at ``\\n``, ``\\r\\n`` or ``\\r``; with ``use_unicode=False`` they are
        UTF-8 ``bytes``.

        >>> ctx.text_file("data/sample.txt").count()  # from the checkout
        14
        """
        return sources.TextFileRDD(self, path, min_partitions or self.default_min_partitions,
                                   self.conf["vega.input.split_size"], use_unicode,
                                   hadoop_ranges=bool(min_partitions))

    def whole_text_files(self, path: str, min_partitions: Optional[int] = None,
                         use_unicode: bool = True) -> RDD:
        """``(path, content)`` for each file, as ``str``, or with ``use_unicode=False`` as
        UTF-8 ``bytes`` (both, as in PySpark).

        >>> [path.rsplit("/", 1)[1] for path in ctx.whole_text_files("data/").keys().collect()]
        ['sample.txt']
        """
        return sources.WholeFilesRDD(self, path, min_partitions or self.default_min_partitions,
                                     self.conf["vega.input.split_size"], binary=False,
                                     use_unicode=use_unicode)

    def binary_files(self, path: str, min_partitions: Optional[int] = None) -> RDD:
        """``(path, bytes)`` for each file."""
        return sources.WholeFilesRDD(self, path, min_partitions or self.default_min_partitions,
                                     self.conf["vega.input.split_size"], binary=True)

    def binary_records(self, path: str, record_length: int) -> RDD:
        """Fixed-length ``bytes`` records of ``record_length`` bytes from binary files.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "records.bin")
        >>> with open(path, "wb") as fh:
        ...     _ = fh.write(bytes(range(24)))
        >>> ctx.binary_records(path, 8).map(lambda r: r[0]).collect()
        [0, 8, 16]
        >>> os.remove(path); os.rmdir(os.path.dirname(path))
        """
        if record_length < 1:
            raise ValueError(f"record_length must be positive, not {record_length}")
        return self.binary_files(path).flat_map(sources.FixedLengthRecords(record_length))

    # -- shared variables -------------------------------------------------------------
    def _new_app_dir(self) -> str:
        """The application's own scratch directory, in ``vega.local.dir`` (else the system's
        temporary directory); one that cannot be made there names the setting."""
        local_dir = self.conf["vega.local.dir"] or None
        try:
            path = new_private_dir(f"vega-{self.context_id}-", local_dir,
                                   strict=self.conf["vega.strict_modes"],
                                   claim=functools.partial(setattr, self, "app_dir"))
            self._owner_lock = hold_owner_lock(path)  # and those of drivers killed outright go
            remove_abandoned(os.path.dirname(path), "vega-app-")
            return path
        except OSError as exc:
            if local_dir is None:
                raise
            self.app_dir = ""  # claimed but never made
            raise OSError(exc.errno, f"cannot make the application's directory in {local_dir} "
                                     f"({exc.strerror}): point vega.local.dir (VEGA_LOCAL_DIR) "
                                     "at a writable directory") from exc

    def broadcast(self, value: Any) -> shared.Broadcast:
        """Send ``value`` to every executor once; read it in tasks as ``b.value``.

        >>> b = ctx.broadcast({1: "a"})
        >>> ctx.parallelize([1]).map(lambda k: b.value[k]).collect()
        ['a']
        """
        self._check_running()
        broadcast_id = shared.new_broadcast_id()
        directory = os.path.join(self.app_dir, "broadcast")
        make_private_dirs(directory)
        path = os.path.join(directory, f"broadcast_{broadcast_id}")
        try:
            data = serde.dumps(value)
        except Exception as exc:
            raise BroadcastNotSerializable(type(value).__name__, str(exc)) from exc
        with open_private(path, "wb") as out:
            out.write(data)
        broadcast = shared.Broadcast(broadcast_id, value, path, self.remove_broadcast)
        # once no one can read it, executors drop their copies and its file goes, as the
        # next job starts (Spark's ContextCleaner); until then unpersist() keeps the file
        cleanup = weakref.finalize(broadcast, self._runner.unreachable_broadcasts.append,
                                   (broadcast_id, path))
        cleanup.atexit = False  # at exit the application's directory goes whole
        return broadcast

    def accumulator(self, value: Any,
                    accum_param: Optional[shared.AccumulatorParam] = None) -> shared.Accumulator:
        """A counter tasks add to; read ``acc.value`` on the driver.

        >>> acc = ctx.accumulator(0); ctx.range(5).foreach(lambda x: acc.add(x)); acc.value
        10

        Without ``accum_param`` the value must be a number (``int``, ``float``, ``complex``),
        as in PySpark; anything else needs its ``AccumulatorParam``.  A stopped Context still
        makes one (it adds on the driver), as PySpark's.
        """
        if accum_param is None and not isinstance(value, (int, float, complex)):
            raise TypeError(f"No default accumulator param for type {type(value)}: pass an "
                            "AccumulatorParam (its zero() and addInPlace()) as accum_param")
        return shared.new_accumulator(value, accum_param)

    def _merge_accumulators(self, updates: Dict[int, Any]) -> None:
        for acc_id, update in updates.items():
            # this Context's or another's (accumulators are the process's, as PySpark's);
            # one nothing holds any more has no one to read it
            acc = shared.driver_accumulator(acc_id)
            if acc is not None:
                acc.merge(update)

    # -- running jobs ---------------------------------------------------------------------
    def run_job(self, rdd: RDD, partition_func: Callable[[Iterable], Iterable],
                partitions: Optional[Sequence[int]] = None, allow_local: bool = False) -> list:
        """Run ``partition_func`` on the given partitions and concatenate what it returns.

        >>> ctx.run_job(ctx.parallelize(range(6), 3), lambda it: [sum(it)], [0, 2])
        [1, 9]
        """
        rdd_base.check_context(rdd, self)
        parts = self.run_partitions(rdd, lambda it: list(partition_func(it)), partitions)
        return [x for part in parts for x in part]

    def run_partitions(self, rdd: RDD, func: Callable[[Iterable], Any],
                       partitions: Optional[Sequence[int]] = None) -> list:
        """Run ``func`` on each given partition of ``rdd`` (all for None); one result each."""
        self._check_running()
        partitions = rdd_base.partition_indexes(rdd, partitions)
        results = self._runner.run_job(rdd, func, list(partitions), rdd_base.job_name(rdd))
        checkpoints.write_checkpoints(self, rdd, self._runner.run_job)
        return results

    def run_partitions_within(self, rdd: RDD, func: Callable[[Iterable], Any],
                              timeout: float) -> Dict[int, Any]:
        """``func``'s result for each partition of ``rdd`` finished within ``timeout`` seconds
        (the job runs on past it: ``JobRunner.run_job_within``)."""
        self._check_running()
        return self._runner.run_job_within(rdd, func, list(range(rdd.get_num_partitions())),
                                           rdd_base.job_name(rdd), timeout)

    def save_partitions(self, rdd: RDD, path: str, writer, overwrite: bool) -> None:
        """Write each partition with ``writer`` (a writer, the part files' suffix and
        optionally their prefix) and commit the output atomically."""
        write, suffix, *prefix = writer
        target = outputs.prepare_output(path, overwrite, self.hdfs_settings)

        def save(records: Iterable) -> None:
            tc = task_context.TaskContext.get()
            outputs.write_part(target, tc.partition, tc.attempt, iter(records), write, suffix,
                               *prefix)

        try:
            try:
                self.run_partitions(rdd, save)
            finally:  # no task it killed (a failed job's, a speculative copy) still writes
                self._runner.wait_for_killed_tasks(KILLED_TASKS_WAIT)
            outputs.commit_output(target)
        except BaseException:  # a failed job or commit: no half-written output stays
            outputs.abort_output(target)
            raise

    def _on_task_output(self, task_id: int, executor_id: str, host: str, stream: str,
                        text: str, spec: Optional["TaskSpec"]) -> None:
        # (the backend's spec: the task in flight on that executor, whether or not the job
        # loop has taken in its start or killed it since; else the loop's, for ``local``)
        spec = spec or self._runner.task(task_id)
        where = f"{spec.stage_id}.{spec.partition}" if spec else f"task {task_id}"
        self._bus.on_task_output(f"[{host} {executor_id} {where}]", stream, text)

    def set_log_level(self, level: str) -> None:
        logging.getLogger("vega_runtime").setLevel(spark_log_level(level))

    def __repr__(self) -> str:
        # The class's own name: a PySpark program's SparkContext shows as <SparkContext ...>
        return (f"<{type(self).__name__} {self.application_id} master={self.master} "
                f"app={self.app_name!r}>")



aliases.install(Context, aliases.CONTEXT_MEMBERS, pyspark_class="SparkContext")

#: PySpark's name for the same thing, so ``SparkContext(...)`` jobs port by import alone.
SparkContext = Context


def _stop_at_exit(context_ref) -> None:
    context = context_ref()
    if context is not None:
        context.stop()


def _shutdown(backend, app_dir: str, owner_lock: Optional[int]) -> None:
    try:
        if backend is not None:
            backend.stop()
    finally:
        if app_dir:
            remove_tree(app_dir)
        if owner_lock is not None:
            os.close(owner_lock)


def _plain(value: Any) -> Any:
    """A setting's value as JSON can carry it."""
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


#: how long a save waits for the tasks it killed to end before it commits or removes its
#: output (an executor whose killed task runs on is ended after
#: ``vega.task.reaper.kill_timeout``, 3 s: the task reaper)
KILLED_TASKS_WAIT = 10.0
