"""The settings' schema: every key Vega reads, with its default, parser, unit, documentation,
environment variable and flag, and the roles (driver, master, worker) that read it.

``conf/vega-defaults.yaml`` is written from this table (``scripts/write_defaults_yaml.py``)
and documents every key with its default and unit; a test keeps the two in step.  The
loader, which resolves values from all sources, is ``config``.
"""

from __future__ import annotations

from typing import Any, Callable

from .config_values import (
    parse_bool, parse_scheduling_mode, parse_float, parse_task_cpus, parse_seconds_or_never,
    at_least, size_at_least, parse_str, parse_location, parse_name, parse_hosts, parse_names,
    parse_port, parse_seconds, parse_size_at_least_0, parse_cores_limit)
from .records import FrozenRecord


#: who reads a setting: the driver (the job's process), the master, the workers
DRIVER, MASTER, WORKER = "driver", "master", "worker"
DAEMONS = (MASTER, WORKER)


class Setting(FrozenRecord):
    """One configuration key: its default, parser, unit, documentation, environment variable
    and flag, and the roles that read it."""
    key: str
    default: Any
    parse: Callable[[Any], Any]
    unit: str
    doc: str
    env: str | None
    #: the command-line flag that sets it, e.g. ``vega master --port``
    flag: str | None
    used_by: tuple[str, ...]

    def __init__(self, key, default, parse, unit, doc, env=None, flag=None, used_by=(DRIVER,)):
        setattr = object.__setattr__
        setattr(self, "key", key)
        setattr(self, "default", default)
        setattr(self, "parse", parse)
        setattr(self, "unit", unit)
        setattr(self, "doc", doc)
        setattr(self, "env", env)
        setattr(self, "flag", flag)
        setattr(self, "used_by", used_by)


def _master(key, default, parse, unit, doc, env=None, flag=None):
    return Setting(key, default, parse, unit, doc, env,
                   flag and f"vega master {flag}", (MASTER,))


def _history(key, default, parse, unit, doc):
    """An event log cleaner setting: the master's and the drivers' cleaners read it."""
    return Setting(key, default, parse, unit, doc, used_by=(DRIVER, MASTER))


def _worker(key, default, parse, unit, doc, env=None, flag=None):
    return Setting(key, default, parse, unit, doc, env,
                   flag and f"vega worker {flag}", (WORKER,))


def _daemons(key, default, parse, unit, doc, env=None):
    return Setting(key, default, parse, unit, doc, env, None, DAEMONS)


def _rpc(key, default, parse, unit, doc):
    """A setting of every RPC port: the master's, a worker's shuffle service, a driver's."""
    return Setting(key, default, parse, unit, doc, None, None, (DRIVER, MASTER, WORKER))


#: The master's and workers' settings (vega master, vega worker; Spark's spark.master.*,
#: spark.worker.*); their flags win over everything below them, as for the driver.
DAEMON_SETTINGS: tuple[Setting, ...] = (
    _master("vega.master.host", "", parse_str, "address",
            "Address workers and drivers reach the master at (its URL is "
            "vega://HOST:PORT); empty means VEGA_LOCAL_IP, else this machine's address.",
            env="VEGA_MASTER_HOST", flag="--host"),
    _master("vega.master.bind", "", parse_str, "address",
            "Address the master's ports (RPC, HTTP) listen on; empty means vega.master.host. "
            "0.0.0.0 listens on every interface; without a secret only loopback is allowed.",
            env="VEGA_MASTER_BIND", flag="--bind"),
    _master("vega.master.port", 7077, parse_port, "port",
            "Port for workers and drivers (0: any free port).", env="VEGA_MASTER_PORT",
            flag="--port"),
    _master("vega.master.ui.port", 8080, parse_port, "port",
            "The master's HTTPS port: web UI, JSON API and /metrics (0: any free port).",
            env="VEGA_MASTER_UI_PORT", flag="--webui-port"),
    _master("vega.master.work_dir", "work/master", parse_str, "path",
            "The master's directory: recovery state, job packages, application logs, API token.",
            flag="--work-dir"),
    _master("vega.worker.timeout", 15.0, parse_seconds, "seconds",
            "Seconds without a heartbeat before the master marks a worker lost (Spark's "
            "spark.worker.timeout).",
            env="VEGA_WORKER_TIMEOUT", flag="--worker-timeout"),
    _master("vega.master.driver_timeout", 600.0, parse_seconds_or_never, "seconds",
            "An application whose driver the master hears nothing from for this long (drivers "
            "send a heartbeat every tenth of it, at most every 10 s) is ended and its executors "
            "stopped: a driver stopped (SIGSTOP), frozen or cut off without its connection "
            "closing. 10 minutes, as long as Spark's executors wait for a silent driver "
            "(spark.executor.heartbeat.maxFailures x spark.executor.heartbeatInterval): a "
            "driver's thread can hold Python's GIL for minutes (a sort of 10^8 items). 0 or "
            "never turns the check off."),
    _master("vega.master.recovery", True, parse_bool, "boolean",
            "Keep the master's state (workers, applications, cluster-mode drivers) in its "
            "work dir, written durably (fsync) at every change, so that a restarted master "
            "takes up where it left off. A local-cluster master, whose work dir goes with "
            "its application, keeps none.",
            env="VEGA_MASTER_RECOVERY"),
    _master("vega.master.finished_app_ttl", 24 * 3600.0, parse_seconds, "seconds",
            "How long the master keeps a finished application (record, package, logs)."),
    _master("vega.master.retained_applications", 200, at_least(1), "applications",
            "The most finished applications the master keeps (record, package, logs, and "
            "so its status, web UI and REST API): beyond it the oldest are forgotten before "
            "vega.master.finished_app_ttl (Spark's spark.deploy.retainedApplications)."),
    _master("vega.master.retained_drivers", 200, at_least(1), "drivers",
            "The most ended cluster-mode drivers the master keeps (status, output and job "
            "package): beyond it the oldest are forgotten (Spark's "
            "spark.deploy.retainedDrivers)."),
    _master("vega.master.app_output.max_size", "64m", size_at_least(1), "bytes",
            "An application's output the master keeps (apps/APP_ID/output.log, stderr.log and "
            "their order streams.log) is renamed to .1 (older ones shift up) before a write "
            "would take either stream file past this (Spark's "
            "spark.executor.logs.rolling.maxSize)."),
    _master("vega.master.app_output.max_retained_files", 5, at_least(0), "files",
            "How many rotated generations of an application's kept output the master keeps "
            "(.1 ... .N; vega logs prints them, oldest first, then the current files; Spark's "
            "spark.executor.logs.rolling.maxRetainedFiles)."),
    _history("vega.history.fs.cleaner.enabled", True, parse_bool, "boolean",
             "Delete old event logs, as Spark's history server does with "
             "spark.history.fs.cleaner.enabled: those not written for "
             "vega.history.fs.cleaner.max_age, then, while more than "
             "vega.history.fs.cleaner.max_num are left, the oldest of those that ended (a log "
             "without its end, of a running or a killed driver, only by age); never a running "
             "application's. The master cleans its --event-log-dir every interval, and a "
             "Context its own vega.eventlog.dir as it starts, at most once an interval for "
             "every process writing there. Local directories only. Without it the directory, "
             "the history the web UI lists and the master's memory grow with every "
             "application (every Context writes a log, unlike Spark's drivers)."),
    _history("vega.history.fs.cleaner.interval", 24 * 3600.0, parse_seconds, "seconds",
             "How often the cleaner looks (Spark's spark.history.fs.cleaner.interval)."),
    _history("vega.history.fs.cleaner.max_age", 7 * 24 * 3600.0, parse_seconds, "seconds",
             "Event logs not written for this long are deleted by the cleaner (Spark's "
             "spark.history.fs.cleaner.maxAge)."),
    _history("vega.history.fs.cleaner.max_num", 1000, at_least(0), "event logs",
             "The most event logs the cleaner leaves, deleting the oldest ended ones first; "
             "0: no limit (Spark's spark.history.fs.cleaner.maxNum). It bounds the master's "
             "memory too: about 5 KB for each log it lists."),
    _master("vega.master.max_executor_failures", 10, at_least(1), "exits",
            "An application whose executors exit this many times within an hour is failed "
            "once it has no executor left (Spark's spark.deploy.maxExecutorRetries: one with "
            "executors running is never removed); a worker where this many of an "
            "application's executors exited within an hour gets no more of them for the hour."),
    _master("vega.master.dead_worker_persistence", 15, at_least(0), "worker timeouts",
            "Lost and dead workers leave the status this many vega.worker.timeout after "
            "they went, counted across master restarts too (Spark's "
            "spark.dead.worker.persistence)."),
    _master("vega.scheduler.mode", "fifo", parse_scheduling_mode, "mode",
            "How the master shares cores between applications: fifo, oldest first, each "
            "taking what it may (Spark standalone); fair, each at most an even share (an "
            "application keeps what it holds beyond it until it gives executors back).",
            env="VEGA_SCHEDULER_MODE"),
    _master("vega.master.supervise.max_restarts", 3, at_least(0), "restarts",
            "How many times in a row the master restarts a cluster-mode driver submitted "
            "with --supervise that failed (a run of a minute or more starts the count "
            "again)."),
    _master("vega.master.max_running_drivers", 32, at_least(1), "drivers",
            "The most cluster-mode drivers the master runs on its host at once; those "
            "submitted beyond wait (submitted) and start as running ones end, in the order "
            "they came (as Spark's master keeps drivers waiting for a worker with room)."),
    _master("vega.ui.open", False, parse_bool, "boolean",
            "Let anyone who can reach the master's HTTP port read the web UI and JSON API "
            "without the token (otherwise every request but /metrics needs it).",
            flag="--ui-open"),
    _master("vega.ui.allowed_hosts", "", parse_names, "hosts",
            "More host names (comma-separated or a list) the master's HTTP port answers to, "
            "besides its own names, localhost and IP addresses; * answers to any (behind a "
            "proxy).", env="VEGA_UI_ALLOWED_HOSTS", flag="--ui-allowed-hosts"),
    _worker("vega.worker.host", "", parse_str, "address",
            "Address the master, drivers and executors reach this worker at; empty means "
            "VEGA_LOCAL_IP, else the local address that routes to the master.",
            env="VEGA_WORKER_HOST", flag="--host"),
    _worker("vega.worker.bind", "", parse_str, "address",
            "Address the worker's ports (shuffle service, metrics) listen on; empty means "
            "vega.worker.host. 0.0.0.0 listens on every interface; without a secret only "
            "loopback is allowed.", env="VEGA_WORKER_BIND", flag="--bind"),
    _worker("vega.worker.port", 0, parse_port, "port",
            "The worker's shuffle service port (0: any free port).", env="VEGA_WORKER_PORT",
            flag="--port"),
    _worker("vega.worker.ui.port", 8081, parse_port, "port",
            "The worker's HTTPS port for /metrics (0: any free port).",
            env="VEGA_WORKER_UI_PORT", flag="--webui-port"),
    _worker("vega.worker.cores", 0, at_least(0), "cores",
            "Cores the worker offers to executors; 0 means every CPU of the machine.",
            env="VEGA_WORKER_CORES", flag="--cores"),
    _worker("vega.worker.memory", 0, parse_size_at_least_0, "bytes",
            "Memory the worker offers to executors; 0 means the machine's RAM less 1g.",
            env="VEGA_WORKER_MEMORY", flag="--memory"),
    _worker("vega.worker.work_dir", "work/worker", parse_str, "path",
            "The worker's directory: executors' application dirs, shuffle files, packages.",
            env="VEGA_WORKER_DIR", flag="--work-dir"),
    _worker("vega.worker.labels", "", parse_names, "labels",
            "Labels of this worker (comma-separated or a list).", flag="--labels"),
    _worker("vega.worker.executor_memory_limit", True, parse_bool, "boolean",
            "Hold each executor to its --executor-memory (RLIMIT_DATA in the executor "
            "process): a task that allocates past it stops its executor, reported as over "
            "its memory limit. false: executors may use what the host has.",
            env="VEGA_WORKER_EXECUTOR_MEMORY_LIMIT"),
    _worker("vega.worker.death_timeout", 900.0, parse_seconds, "seconds",
            "Seconds without the master (counted from the last contact) before the worker "
            "stops, killing its executors; Spark's workers give up after about 15 minutes of "
            "registration retries too, so a master may be rebooted.", flag="--death-timeout"),
    _worker("vega.worker.cleanup.app_data_ttl", 3600.0, parse_seconds, "seconds",
            "A finished application's work dir (its executors' logs: its shuffle output and "
            "scratch files go as soon as it ends) is deleted once unchanged this long "
            "(Spark's spark.worker.cleanup.appDataTtl), and a job package no running "
            "application uses once unused this long.", flag="--work-dir-ttl"),
    _worker("vega.worker.resources_file", "", parse_str, "path",
            "A JSON file listing resources this worker has, in Spark's format (its "
            "spark.worker.resourcesFile): [{\"id\": {\"componentName\": \"spark.worker\", "
            "\"resourceName\": \"gpu\"}, \"addresses\": [\"0\", \"1\"]}]. A resource the "
            "worker is to have (vega.worker.resource.NAME.amount) that the file does not list "
            "is found by its discovery script."),
    _worker("vega.worker.heartbeat_interval", 2.0, parse_seconds, "seconds",
            "Seconds between two heartbeats to the master; keep it well below "
            "vega.worker.timeout."),
    _worker("vega.worker.reconnect.max_backoff", 5.0, parse_seconds, "seconds",
            "Longest wait between two attempts to reach a lost master (the waits start at "
            "5 ms and grow by half each time, with jitter; at most 1/8 of the death timeout)."),
    _worker("vega.worker.registration_timeout", 10.0, parse_seconds, "seconds",
            "A registration the master has not answered in this long is abandoned and "
            "tried again."),
    _rpc("vega.net.handshake_timeout", 10.0, parse_seconds, "seconds",
             "Time a new connection to an RPC port (master, shuffle service, driver) has to "
             "prove the secret before it is dropped."),
    _rpc("vega.net.max_handshakes", 64, at_least(1), "connections",
             "Connections an RPC port holds in the handshake at once, from all "
             "addresses; more are closed (or displace the busiest address's oldest)."),
    _rpc("vega.net.max_handshakes_per_address", 16, at_least(1), "connections",
             "Connections in the handshake at once from one address."),
    _rpc("vega.net.send_timeout", 20.0, parse_seconds, "seconds",
             "A send on an authenticated connection that makes no progress this long fails "
             "and the peer is dropped."),
    _daemons("vega.ui.max_connections", 64, at_least(1), "connections",
             "HTTP connections (web UI, JSON API, /metrics) served at once, from all "
             "addresses; more are closed at once."),
    _daemons("vega.ui.max_connections_per_address", 16, at_least(1), "connections",
             "HTTP connections served at once from one address."),
    _daemons("vega.ui.request_timeout", 10.0, parse_seconds, "seconds",
             "Time an HTTP client has to send its request line and headers."),
    _daemons("vega.ui.response_timeout", 20.0, parse_seconds, "seconds",
             "Time an HTTP response may take to send."),
)

SETTINGS: tuple[Setting, ...] = (
    Setting("vega.master", "local[*]", parse_str, "url",
            "Where jobs run: local, local[N], local[*], local-cluster[W,C] or vega://host:port.",
            env="VEGA_MASTER"),
    Setting("vega.app.name", "vega-app", parse_name, "name",
            "Application name shown in progress output and logs.", env="VEGA_APP_NAME"),
    Setting("vega.default.parallelism", 0, at_least(0), "partitions",
            "Partitions for parallelize() and shuffles when none is given; 0 means the "
            "number of executor cores.", env="VEGA_DEFAULT_PARALLELISM"),
    Setting("vega.task.max_attempts", 4, at_least(1), "attempts",
            "How many times a task may fail in one attempt of its stage before its job "
            "fails; local and local[N] run it once, as Spark's local mode (local[N,F]: F "
            "times).", env="VEGA_TASK_MAX_ATTEMPTS"),
    Setting("vega.task.cpus", 1.0, parse_task_cpus, "cores",
            "CPUs each task takes (Spark's spark.task.cpus; a fraction too). Each executor "
            "runs one task at a time and holds this many cores, rounded up (on local-cluster, "
            "its share of the cores its worker's memory leaves idle, if more); tasks see it as "
            "TaskContext.cpus() and OMP_NUM_THREADS. Custom resources (GPUs): "
            "vega.{driver,worker,executor,task}.resource.NAME.amount, see docs/api.md."),
    Setting("vega.task.reaper.kill_timeout", 3.0, parse_seconds_or_never, "seconds",
            "An executor that has not ended a killed task (a cancelled or failed job's, a "
            "speculative copy that lost) this long after the kill is ended and replaced, on "
            "every master but local, between jobs too (Spark's task reaper, "
            "spark.task.reaper.killTimeout; in Vega always on): the task caught the "
            "interruption and runs on, or sits in one C call. never keeps such an executor "
            "(busy: later tasks wait for the others)."),
    Setting("vega.stage.max_attempts", 4, at_least(1), "attempts",
            "How many times in a row a stage may be resubmitted after lost map outputs (its "
            "success starts the count again)."),
    Setting("vega.shuffle.memory_bound", "256m", parse_size_at_least_0, "bytes",
            "Memory a shuffle map or reduce task may hold before spilling sorted runs to disk.",
            env="VEGA_SHUFFLE_MEMORY_BOUND"),
    Setting("vega.shuffle.batch_records", 2048, at_least(1), "records",
            "Records per pickled batch in shuffle files."),
    Setting("vega.shuffle.io.connection_timeout", 120.0, parse_seconds, "seconds",
            "How long a reducer waits for each reply of another host's shuffle service (or to "
            "send it a request) before the fetch fails and that host's map outputs are "
            "recomputed: a host frozen or cut off the network after the connection was made "
            "(Spark's spark.shuffle.io.connectionTimeout, which defaults to "
            "spark.network.timeout). Also how long a task waits for another executor's "
            "answer to its request for a cached partition before it computes the partition "
            "itself (docs/storage.md, \"Caching\")."),
    Setting("vega.storage.memory", "512m", parse_size_at_least_0, "bytes",
            "Memory each executor of local[N] (and the local master) may use for cached "
            "partitions before evicting the least recently used (to disk or dropped, by "
            "storage level). A cluster's executors (vega://, local-cluster) use half their "
            "vega.executor.memory instead, at least 64m."),
    Setting("vega.locality.wait", 3.0, parse_seconds, "seconds",
            "How long a task waits for the executor holding its cached input before "
            "running elsewhere (and recomputing the input)."),
    Setting("vega.input.split_size", "32m", size_at_least(1), "bytes",
            "Target bytes per input partition for text_file and friends; with min_partitions "
            "given, the block size of Hadoop's split rule (its local file system's 32 MB)."),
    Setting("vega.local.dir", "", parse_str, "path",
            "Scratch directory for shuffle files, spills and broadcasts; empty means the "
            "system temporary directory.", env="VEGA_LOCAL_DIR"),
    Setting("vega.strict_modes", True, parse_bool, "boolean",
            "Refuse a daemon's work dir, or a driver's scratch directory, below a directory "
            "another account owns or may write to without the sticky bit (OpenSSH's "
            "StrictModes). Off only where no other account exists: a container whose volume "
            "is world-writable (a Kubernetes emptyDir).", env="VEGA_STRICT_MODES",
            used_by=(DRIVER, MASTER, WORKER)),
    Setting("vega.pyspark_compat", False, parse_bool, "boolean",
            "Run jobs with PySpark's names: 'import pyspark' resolves to Vega's compatibility "
            "package (vega submit --pyspark-compat). Read by vega submit before the job starts.",
            env="VEGA_PYSPARK_COMPAT"),
    Setting("vega.secret.file", "", parse_str, "path",
            "File holding the cluster secret that authenticates every connection; empty "
            "means ~/.vega/secret ($VEGA_CONF_DIR/secret), which vega master and vega worker "
            "create when missing (vega master/worker --no-secret: none, loopback only).",
            env="VEGA_SECRET_FILE", flag="vega master/worker --secret-file", used_by=(DRIVER, MASTER, WORKER)),
    Setting("vega.cores.max", "", parse_cores_limit, "cores",
            "Most executor cores an application takes from a cluster; empty means all it can "
            "get (vega submit --total-executor-cores)."),
    Setting("vega.executor.cores", "", parse_cores_limit, "cores",
            "Most executor cores an application takes on one worker; empty means no limit "
            "(vega submit --executor-cores). Each executor process runs one task at a time."),
    Setting("vega.executor.memory", "1g", size_at_least(1 << 20), "bytes",
            "Memory reserved on a worker for each executor (vega submit --executor-memory), "
            "and the most it may use: past it, it stops with its task (see "
            "vega.worker.executor_memory_limit)."),
    Setting("vega.executor.python", "", parse_str, "path",
            "The Python the application's executors run (Spark's spark.pyspark.python; else "
            "spark.executorEnv.PYSPARK_PYTHON, else PYSPARK_PYTHON in the driver's "
            "environment): a path relative to where archives unpack "
            "(./environment/bin/python with --archives env.tar.gz#environment), an absolute "
            "path on every worker, or a name on PATH. Empty: the workers' own. Checked as the "
            "Context starts: the same Python minor version as the driver, and Vega importable "
            "in it. No effect on master local, whose tasks run in the driver. vega submit and "
            "vega shell run the driver in it too (as spark-submit), unless vega.driver.python "
            "names another or, in client mode, it is a path in an archive."),
    Setting("vega.driver.python", "", parse_str, "path",
            "The Python vega submit and vega shell run the driver in (Spark's "
            "spark.pyspark.driver.python; else vega.executor.python unless it is a path in an "
            "archive, else PYSPARK_DRIVER_PYTHON, then PYSPARK_PYTHON in the submitter's "
            "environment): a path on the driver's host or a name on PATH; for a cluster-mode "
            "driver, also a path in its --archives (./environment/bin/python). Empty: the "
            "command's own. Checked first: it must run and import this version of Vega."),
    Setting("vega.executor.allow_context", False, parse_bool, "boolean",
            "Let a task make a Context of its own (Spark's spark.executor.allowSparkContext), "
            "read from that Context's conf only: without it, a Context made inside a task "
            "is refused. Its jobs run in the task's process (master local) unless its conf "
            "names another; see docs/api.md."),
    Setting("vega.executor.labels", "", parse_names, "labels",
            "Run the application's executors only on workers carrying every one of these "
            "labels (comma-separated or a list; vega worker --labels). Until such a worker "
            "registers, the application waits and says which labels nobody has."),
    Setting("vega.executor.heartbeat_interval", 10.0, parse_seconds, "seconds",
            "How often each executor tells its driver it is alive (Spark's "
            "spark.executor.heartbeatInterval); it does so from a thread of its own, so also "
            "while a task runs."),
    Setting("vega.executor.timeout", 120.0, parse_seconds_or_never, "seconds",
            "An executor the driver hears nothing from for this long (no heartbeat, result or "
            "output) is taken for hung (stopped, frozen, deadlocked, or in one C call that "
            "holds Python's GIL that long): the driver kills it and runs its tasks elsewhere "
            "(Spark's spark.network.timeout for executors). Longer than "
            "vega.executor.heartbeat_interval; never turns the check off."),
    Setting("vega.scheduler.executor_wait_timeout", 300.0, parse_seconds, "seconds",
            "How long a job waits for a first executor (no live workers) before failing."),
    Setting("vega.dynamic_allocation.enabled", False, parse_bool, "boolean",
            "Dynamic allocation on a cluster master: ask the master for executors while tasks "
            "wait and give back idle ones (Spark's spark.dynamicAllocation.enabled). Map "
            "outputs of released executors stay readable: their workers serve them."),
    Setting("vega.dynamic_allocation.min_executors", 0, at_least(0), "executors",
            "Executors dynamic allocation keeps however idle the application is."),
    Setting("vega.dynamic_allocation.max_executors", 0, at_least(0), "executors",
            "Most executors dynamic allocation asks for; 0 means as many as waiting tasks can "
            "use (vega.cores.max still applies)."),
    Setting("vega.dynamic_allocation.initial_executors", 0, at_least(0), "executors",
            "Executors asked for when the application starts (at least min_executors)."),
    Setting("vega.dynamic_allocation.scheduler_backlog_timeout", 1.0, parse_seconds, "seconds",
            "How long tasks wait for executors before more are asked for: 1, then 2, 4, ... "
            "more every such interval while the backlog lasts (Spark's ramp-up)."),
    Setting("vega.dynamic_allocation.sustained_scheduler_backlog_timeout", 0.0, parse_seconds,
            "seconds",
            "Interval between further requests while the backlog lasts; 0 means the same as "
            "scheduler_backlog_timeout."),
    Setting("vega.dynamic_allocation.executor_idle_timeout", 60.0, parse_seconds, "seconds",
            "An executor idle this long is released (down to min_executors)."),
    Setting("vega.dynamic_allocation.cached_executor_idle_timeout", "never",
            parse_seconds_or_never, "seconds",
            "An executor holding cached blocks is released only after idling this long; never "
            "means it is kept."),
    Setting("vega.speculation", False, parse_bool, "boolean",
            "Speculative execution: a task much slower than its stage's finished tasks gets a "
            "copy on another executor; the first to finish wins, the other is killed and its "
            "output and accumulator updates discarded."),
    Setting("vega.speculation.multiplier", 1.5, parse_float, "times",
            "How many times slower than the median of the stage's finished tasks a task must "
            "run to be speculated."),
    Setting("vega.speculation.quantile", 0.75, parse_float, "fraction",
            "Fraction of a stage's tasks that must finish before any of it is speculated."),
    Setting("vega.speculation.min_runtime", 1.0, parse_seconds, "seconds",
            "A task runs at least this long before it is speculated."),
    Setting("vega.barrier.sync_timeout", 365 * 86400.0, parse_seconds, "seconds",
            "How long a task of a barrier stage waits in BarrierTaskContext.barrier() or "
            "all_gather() for the stage's other tasks before it fails (Spark's "
            "spark.barrier.sync.timeout: 365 days)."),
    Setting("vega.barrier.slots_wait", 60.0, parse_seconds, "seconds",
            "How long a job with a barrier stage of more tasks than the executors can run at "
            "once waits for more executors to register before it fails (Spark checks every "
            "15 s, 40 times)."),
    Setting("vega.python.profile", False, parse_bool, "boolean",
            "Profile every stage's tasks with cProfile, adding up per RDD: "
            "Context.show_profiles() prints them, dump_profiles(path) writes them, and they "
            "are shown at exit (Spark's spark.python.profile)."),
    Setting("vega.python.profile.dump", "", parse_str, "path",
            "With vega.python.profile: the directory the profiles are written to at exit "
            "(rdd_<id>.pstats) instead of being shown."),
    Setting("vega.archives", "", parse_str, "paths",
            "Archives (.zip, .tar, .tar.gz, .tgz) the Context unpacks for its tasks as it "
            "starts, comma-separated, each PATH or PATH#NAME, as add_archive does (vega submit "
            "--archives; Spark's spark.archives)."),
    Setting("vega.py_files", "", parse_str, "paths",
            "Python files (.py, .zip, .egg, .jar, any case) the Context ships to every executor "
            "and puts on sys.path there and on the driver as it starts, comma-separated local "
            "paths or file: URIs, as add_py_file does (Spark's spark.submit.pyFiles). vega "
            "submit and vega shell take them as --py-files, which wins over it, as "
            "spark-submit's."),
    Setting("vega.files", "", parse_str, "paths",
            "Files the Context ships to every executor as it starts, comma-separated local "
            "paths or file: URIs, as add_file does: SparkFiles.get(NAME) finds them (Spark's "
            "spark.files). vega submit and vega shell take them as --files, which wins over "
            "it, as spark-submit's."),
    Setting("vega.submit.package", "", parse_str, "path",
            "The job package (zip) vega submit built for a cluster master; executors get its "
            "modules and files. Set by vega submit (for a cluster-mode driver, to the package "
            "its submitter uploaded, as the master holds it: it is not built again)."),
    Setting("vega.package.max_size", 0, parse_size_at_least_0, "bytes",
            "The largest job package (the job, --py-files, --files and, in cluster deploy "
            "mode, --archives, before compression): vega submit refuses a larger one before "
            "reading it, a master one uploaded to it. 0: as large as the disks it lands on "
            "hold (the master's and workers' work dirs; each says so when it does not fit)."),
    Setting("vega.submit.umask", "", parse_str, "octal",
            "The umask of vega submit's process, which a cluster-mode driver runs under (its "
            "output files get the modes the submitter's umask gives, as in client mode), "
            "instead of the master's private 077. Set by vega submit --deploy-mode cluster."),
    Setting("vega.hdfs.user", "", parse_str, "name",
            "User name for WebHDFS (simple authentication); empty means HADOOP_USER_NAME, "
            "then the login name. Kerberos is not supported (docs/storage.md).",
            env="HADOOP_USER_NAME"),
    Setting("vega.hdfs.timeout", 30.0, parse_seconds, "seconds",
            "Timeout of every WebHDFS request."),
    Setting("vega.hdfs.namenode", "", parse_str, "host:port",
            "Default WebHDFS address for HdfsIO and for URLs that name none (hdfs:///data); "
            "the cluster file's namenode sets it too."),
    Setting("vega.hdfs.datanodes", "", parse_hosts, "hosts",
            "Hosts besides the namenode's own that WebHDFS may redirect reads and writes to "
            "(the cluster's datanodes): host names, *.domain, addresses or networks "
            "(10.0.0.0/24), comma-separated or a list. A redirect anywhere else is refused: "
            "a rogue namenode could send your data and user name to any host.",
            env="VEGA_HDFS_DATANODES"),
    Setting("vega.master.reconnect_timeout", 60.0, parse_seconds, "seconds",
            "How long a driver waits for a lost master before it says so. Jobs go on meanwhile "
            "and after, on the executors the application has (as in Spark; its workers keep "
            "them for vega.worker.death_timeout), and the driver keeps reconnecting; past it, "
            "a job with no executor left fails (none can be started without the master). "
            "Also how long a reconnecting driver, vega submit --deploy-mode cluster, vega "
            "status, kill and logs wait for each answer of the master (a master that accepts "
            "and never answers: past it, exit code 3 for the commands), and vega submit --deploy-mode cluster and vega logs --follow for a "
            "master they lost while following."),
    Setting("vega.driver.metrics.port", 0, parse_port, "port",
            "When set, the driver serves its own job, stage and task metrics at "
            "https://HOST:PORT/metrics (Prometheus format, a certificate of the cluster "
            "CA), HOST being vega.driver.bind."),
    Setting("vega.driver.max_result_size", "1g", parse_size_at_least_0, "bytes",
            "Most bytes of serialized results (collect, take, reduce...) a job brings back to "
            "the driver, each task's and all tasks' together (Spark's "
            "spark.driver.maxResultSize); more fails the job at once, not retried. 0 means "
            "no limit. Whatever it is, one task's result is held to the 1g frame limit of "
            "a connection (less room for the rest of the task's report)."),
    Setting("vega.scheduler.job_mode", "fifo", parse_scheduling_mode, "mode",
            "How the jobs several threads of one application run at the same time share its "
            "executors (Spark's spark.scheduler.mode; vega.scheduler.mode is the master's, "
            "between applications): fifo, the oldest job's tasks first, later jobs taking "
            "what it leaves; fair, each pool (a thread's spark.scheduler.pool local property, "
            "else default) an even share, the jobs of one pool first come first served."),
    Setting("vega.driver.host", "", parse_str, "address",
            "Address executors reach the driver at (Spark's spark.driver.host); empty means "
            "VEGA_LOCAL_IP, else the local address that routes to the master.",
            env="VEGA_DRIVER_HOST"),
    Setting("vega.driver.bind", "", parse_str, "address",
            "Address the driver's listeners (executors' connections, metrics) bind to "
            "(Spark's spark.driver.bindAddress); empty means vega.driver.host. 0.0.0.0 "
            "listens on every interface; without a secret only loopback is allowed.",
            env="VEGA_DRIVER_BIND"),
    Setting("vega.eventlog.dir", "~/.vega/events", parse_location, "path",
            "Where each application appends its event log (JSON lines) for vega history; "
            "empty disables event logs (vega submit's end-of-run summary is then counted "
            "in memory, and says no event log). The master's web UI lists finished "
            "applications from the same directory. A named directory that cannot be written fails the "
            "Context; the default only warns and keeps no log.", env="VEGA_EVENTLOG_DIR", flag="vega master --event-log-dir",
            used_by=(DRIVER, MASTER)),
    Setting("vega.eventlog.rolling.enabled", False, parse_bool, "boolean",
            "Write each event log in parts of at most vega.eventlog.rolling.max_file_size: "
            "APP_ID.jsonl, then APP_ID.jsonl.2, APP_ID.jsonl.3... (Spark's "
            "spark.eventLog.rolling.enabled). vega history and the master read all of them."),
    Setting("vega.eventlog.rolling.max_file_size", "128m", size_at_least(1 << 20), "bytes",
            "The size past which a rolling event log goes on in a new part (Spark's "
            "spark.eventLog.rolling.maxFileSize)."),
    Setting("vega.listeners", "", parse_str, "module:Class,...",
            "Extra job listeners instantiated by the Context (vega submit installs its "
            "progress display this way)."),
    Setting("vega.log.level", "WARNING", parse_str, "level",
            "Log level of the driver's vega loggers.", env="VEGA_LOG_LEVEL"),
    *DAEMON_SETTINGS,
)

SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def settings_used_by(role: str) -> tuple[Setting, ...]:
    """The settings ``role`` (``"driver"``, ``"master"`` or ``"worker"``) reads.

    >>> "vega.worker.timeout" in {s.key for s in settings_used_by("master")}
    True
    """
    return tuple(s for s in SETTINGS if role in s.used_by)

def not_a_setting(key: str) -> str:
    """What is wrong with ``key``, which names no setting, and the setting it may have
    meant.

    >>> not_a_setting("vega.task.max_failures")
    'is not a Vega setting (did you mean vega.task.max_attempts?)'
    """
    import difflib

    close = difflib.get_close_matches(str(key), list(SETTINGS_BY_KEY), n=1)
    return NOT_A_SETTING + (f" (did you mean {close[0]}?)" if close else "")


#: how ``ConfigError`` says a key is no setting
NOT_A_SETTING = "is not a Vega setting"


def setting_of(key: str) -> Setting | None:
    """The setting ``key`` names: one of ``SETTINGS``, or of a family with names in its keys
    (``vega.executor.resource.gpu.amount``, ``vega.executor.env.VAR``: ``resources``)."""
    setting = SETTINGS_BY_KEY.get(key)
    if setting is None and key.startswith(("vega.driver.", "vega.worker.", "vega.executor.",
                                           "vega.task.")):
        from .resources import family_parser

        parse = family_parser(key)
        if parse is not None:
            setting = Setting(key, None, parse, "", "", used_by=(DRIVER, WORKER))
    return setting


def defaults_file_line(setting: Setting) -> str:
    """``setting``'s line in conf/vega-defaults.yaml: its key and built-in default, as YAML
    (``scripts/write_defaults_yaml.py`` writes the file from these lines)."""
    value = setting.default
    if value == "":
        value = '""'
    elif isinstance(value, str) and any(c in value for c in "[]*:,"):
        value = f'"{value}"'
    return f"{setting.key}: {value}"

