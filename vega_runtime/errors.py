"""Every error a user can cause, in one hierarchy.

Each exception takes its facts as constructor arguments (so it pickles across processes
unchanged) and explains itself in ``__str__``, ending with what to do next.  Components
decide what to do from the type, never from the message."""

from __future__ import annotations

import os
import pickle
import re
from typing import Optional


class VegaError(Exception):
    """Base class of every error Vega raises on purpose.

    It is PySpark's ``PySparkException`` too (``pyspark.errors`` under
    ``--pyspark-compat``), so it answers PySpark 4's questions: ``getCondition()`` (the error
    class of the errors PySpark raises with one, else None), ``getMessageParameters()``,
    ``getMessage()``, ``getQueryContext()`` (none: no SQL) and ``getSqlState()``.

    >>> error = DriverOnlyError("SparkContext")
    >>> error.getCondition(), error.getMessageParameters(), error.getQueryContext()
    ('CONTEXT_ONLY_VALID_ON_DRIVER', {}, [])
    >>> ConfigError("", "vega.master", "is missing").getCondition() is None
    True
    """

    #: PySpark's error class (its "condition") for an error PySpark raises with one
    error_class: Optional[str] = None

    def __reduce__(self):
        return (self.__class__, self.args)

    def getCondition(self) -> Optional[str]:  # noqa: N802 - PySpark's names, to the end
        return self.error_class or None

    def getErrorClass(self) -> Optional[str]:  # noqa: N802
        """PySpark 4 deprecates it for ``getCondition`` (which it returns), and so warns."""
        import warnings

        warnings.warn("Deprecated in 4.0.0, use getCondition instead.", FutureWarning,
                      stacklevel=2)
        return self.getCondition()

    def getMessageParameters(self) -> Optional[dict]:  # noqa: N802
        return {} if self.getCondition() else None

    def getMessage(self) -> str:  # noqa: N802
        return str(self)

    def getQueryContext(self) -> list:  # noqa: N802
        return []

    def getSqlState(self) -> Optional[str]:  # noqa: N802
        return None


class ConfigError(VegaError):
    """A setting is missing, unknown or malformed.

    >>> str(ConfigError("conf/cluster.yaml", "workers[2].memory", '"12 parsecs" is not a size (e.g. 4g, 512m)'))
    'conf/cluster.yaml: workers[2].memory "12 parsecs" is not a size (e.g. 4g, 512m)'
    """

    def __init__(self, source: str, key: str, problem: str):
        super().__init__(source, key, problem)
        self.source, self.key, self.problem = source, key, problem

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.key} {self.problem}"


class DaemonStartFailed(VegaError):
    """A master or worker could not start (its port is taken, its work dir unwritable...).

    >>> str(DaemonStartFailed("the master on 127.0.0.1:7077", "[Errno 98] Address already in use"))
    'cannot start the master on 127.0.0.1:7077: [Errno 98] Address already in use'
    """

    def __init__(self, what: str, reason: str, hint: str = ""):
        super().__init__(what, reason, hint)
        self.what, self.reason, self.hint = what, reason, hint

    def __str__(self) -> str:
        return f"cannot start {self.what}: {self.reason}"


class MasterUnreachable(VegaError):
    """A driver cannot reach (or lost, for longer than it waits) its cluster's master."""

    def __init__(self, url: str, reason: str, answered: bool = False):
        super().__init__(url, reason, answered)
        #: ``answered``: it is there, and refused this process's secret (or its lack of one):
        #: the reason says which and what to do, and "check that it runs" would mislead
        self.url, self.reason, self.answered = url, reason, answered

    def __str__(self) -> str:
        if self.answered:
            return (f"the master at {self.url} answered, but this driver cannot authenticate "
                    f"to it: {self.reason}")
        return (f"cannot reach the master at {self.url}: {self.reason}. Check that it runs "
                "(vega status --master URL) and that this host can reach its port")


class MasterStopped(MasterUnreachable):
    """The master said it was stopping, and the application has no executor left."""

    def __str__(self) -> str:
        return (f"the master at {self.url} was stopped while this job ran ({self.reason}), "
                "and this application has no executor left to run its tasks; start the "
                "cluster again (vega start-cluster, or vega start-master and start-workers) "
                "and submit the job again")


class ApplicationRefused(VegaError):
    """The master refused to register the application (its reason says why)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"the master refused the application: {self.reason}"


class NoExecutors(VegaError):
    """No executor came within ``vega.scheduler.executor_wait_timeout``."""

    def __init__(self, seconds: float, reason: str):
        super().__init__(seconds, reason)
        self.seconds, self.reason = seconds, reason

    def __str__(self) -> str:
        return (f"no executor became available within {self.seconds:.0f}s ({self.reason}); "
                "start workers (vega worker vega://MASTER:PORT) or raise "
                "vega.scheduler.executor_wait_timeout")


class ExecutorsCannotStart(VegaError):
    """Workers could not start this application's executors, and the master gave up on it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return (f"the application's executors cannot start: {self.reason}. The master ended "
                "the application after repeated failed launches")


class SecretFileMissing(ConfigError):
    """The cluster secret file named (by --secret-file, VEGA_SECRET_FILE or a setting) is
    not there, is a directory, or holds no secret (``problem``); ``hint`` says how to make
    one."""

    def __init__(self, path: str, default: str, problem: str = ""):
        problem = problem or ("is a directory, not a file" if os.path.isdir(path)
                              else "does not exist")
        super().__init__("", "secret file", f"{path!r} {problem}")
        self.path, self.default = path, default
        self.args = (path, default, problem)

    @property
    def hint(self) -> str:
        return (f"Create one with: vega start-master (it writes {self.default}), or point "
                "--secret-file at the cluster's secret")


class DriverSecretMissing(VegaError):
    """A driver of a vega:// master on another host has no cluster secret: without one it
    may listen on loopback only, where executors on other hosts cannot reach it.

    >>> str(DriverSecretMissing("vega://10.0.0.1:7077", "/home/me/.vega/secret")).split(":")[0]
    'this host has no cluster secret (/home/me/.vega/secret does not exist), which a driver of vega'
    """

    def __init__(self, url: str, path: str):
        super().__init__(url, path)
        self.url, self.path = url, path

    def __str__(self) -> str:
        return (f"this host has no cluster secret ({self.path} does not exist), which a driver "
                f"of {self.url} needs: copy the cluster's secret there (the master's "
                f"~/.vega/secret, mode 0600), or point VEGA_SECRET_FILE or --conf "
                f"vega.secret.file at it")


def with_article(noun: str) -> str:
    """``noun`` after "a" or "an", by its first letter (the names of ids and settings).

    >>> with_article("application id"), with_article("package id")
    ('an application id', 'a package id')
    """
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def error_line(error_type: str, message: str) -> str:
    """``Type: message``, or the type alone when there is no message, as the last line of
    Python's traceback reads (``sys.exit()`` in a task: ``SystemExit``, not ``SystemExit: ``).

    >>> error_line("ValueError", "bad"), error_line("SystemExit", ""), error_line("KeyError", "")
    ('ValueError: bad', 'SystemExit', 'KeyError')
    """
    return f"{error_type}: {message}" if message else error_type


def _unbracketed_ipv6(url: str):
    """``(address, port)`` of a ``vega://`` URL whose IPv6 address lacks a bracket (port
    7077 when none can be told apart), else None."""
    import ipaddress

    text = url[len("vega://"):].rstrip("/") if url.startswith("vega://") else ""
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        port = rest[1:] if rest[:1] == ":" and rest[1:].isdigit() else "7077"
    else:
        address, _, port = text.rpartition(":")
        if not port.isdigit() or address.count(":") < 2:
            address, port = text, "7077"
    try:
        return (address, port) if ipaddress.ip_address(address).version == 6 else None
    except ValueError:
        return None


class MasterURLError(VegaError):
    """The master URL does not name a master kind Vega knows."""

    def __init__(self, url: str, source: str = ""):
        super().__init__(url, source)
        self.url = url
        #: where the URL came from when the user did not type it just now (VEGA_MASTER, a
        #: settings file), "" otherwise
        self.source = source

    def __str__(self) -> str:
        return ((f"{self.source}: " if self.source else "") +
                f"invalid master URL {self.url!r}: use local, local[N], local[N,F], local[*], "
                f"local-cluster[W,C] or vega://host:port")

    @property
    def hint(self) -> str:
        """What to do instead of a cluster manager Vega does not run on (Spark's own
        master URLs, which a PySpark user brings along).

        >>> MasterURLError("spark://10.0.0.1:7077").hint.split(";")[0]
        "Vega's cluster masters are vega://HOST:PORT, as vega start-master prints it"
        >>> MasterURLError("locl[2]").hint
        ''
        >>> MasterURLError("10.0.0.1:7077").hint
        "A cluster master's URL starts with vega://: vega://10.0.0.1:7077"
        >>> MasterURLError("vega://10.0.0.1:77077").hint
        'A port is 1 to 65535 (a master listens at 7077 unless started with --port)'
        >>> MasterURLError("vega://[::1").hint
        'An IPv6 address is written in brackets, then its port: vega://[::1]:7077'
        >>> MasterURLError("vega://fe80::1:7077").hint
        'An IPv6 address is written in brackets, then its port: vega://[fe80::1]:7077'
        >>> MasterURLError("vega://[::1]:0").hint
        'A port is 1 to 65535 (a master listens at 7077 unless started with --port)'
        >>> MasterURLError("https://10.0.0.1:8080/").hint.split(":")[0]
        "That is a web UI's address"
        """
        if re.fullmatch(r"[\w.-]+:\d+", self.url.strip()):  # a cluster master without its scheme
            return f"A cluster master's URL starts with vega://: vega://{self.url.strip()}"
        if re.fullmatch(r"vega://([^:/\s]+|\[[0-9A-Fa-f:.]+\]):\d+/?", self.url.strip()):
            # parse_master: a bad port
            return "A port is 1 to 65535 (a master listens at 7077 unless started with --port)"
        no_port = re.fullmatch(r"vega://([\w.-]+)/?", self.url.strip())
        if no_port:
            return (f"A cluster master's URL names its port: vega://{no_port.group(1)}:7077 (a "
                    "master listens at 7077 unless started with --port)")
        ipv6 = _unbracketed_ipv6(self.url.strip())
        if ipv6:
            return f"An IPv6 address is written in brackets, then its port: vega://[{ipv6[0]}]:{ipv6[1]}"
        kind = self.url.split("://", 1)[0].strip().lower()
        if kind == "spark":
            return ("Vega's cluster masters are vega://HOST:PORT, as vega start-master prints "
                    "it; Vega runs on its own master and workers, not on a Spark cluster")
        if kind in ("yarn", "mesos", "k8s"):
            return ("Vega runs on its own master and workers (vega://HOST:PORT); for Slurm "
                    "and Kubernetes see docs/cluster.md")
        if kind in ("http", "https"):  # the web UI's link, which start-master prints too
            return ("That is a web UI's address: the master's URL is vega://HOST:PORT with its "
                    "cluster port (7077 unless started with --port), as vega start-master "
                    "prints it")
        return ""


class TooManyLocalExecutors(MasterURLError):
    """A local master URL asking for more executor processes than one machine runs (each
    task slot of ``local[N]`` is a process here, a thread in Spark).

    >>> str(TooManyLocalExecutors("local[100000]", 100000, 256, 2))
    "master 'local[100000]' asks for 100000 executor processes, and a local master runs at most 256 (a process per task slot, not a thread as in Spark): use local[*] (this machine's 2 cores) or a number up to 256"
    """

    def __init__(self, url: str, asked: int, limit: int, cores: int, source: str = ""):
        VegaError.__init__(self, url, asked, limit, cores, source)
        self.url, self.asked, self.limit, self.cores, self.source = self.args

    def __str__(self) -> str:
        return ((f"{self.source}: " if self.source else "") +
                f"master {self.url!r} asks for {self.asked} executor processes, and a local "
                f"master runs at most {self.limit} (a process per task slot, not a thread as "
                f"in Spark): " + (f"give local-cluster[W,C] W×C up to {self.limit}" if
                                  self.url.strip().startswith("local-cluster") else
                                  f"use local[*] (this machine's {self.cores} cores) or a "
                                  f"number up to {self.limit}"))


class UnsupportedFileSystem(VegaError, ValueError):
    """A path that is a URL of a file system Vega lacks (``s3a://``, ``gs://``, ``http://``),
    or of HDFS with one slash (``problem``: Hadoop's ``hdfs:/a``): a ``ValueError`` too, as
    the API raises it for a bad argument.

    >>> str(UnsupportedFileSystem("s3a://b/x", "s3a")).split(":")[0:2]
    ['s3a', '//b/x']
    """

    def __init__(self, path: str, scheme: str, problem: str = ""):
        super().__init__(path, scheme, problem)
        self.path, self.scheme, self.problem = path, scheme, problem

    def __str__(self) -> str:
        return f"{self.path}: " + (self.problem or (
            f"Vega reads and writes local paths, file: URLs and HDFS (hdfs://, webhdfs://), "
            f"not {self.scheme}:// URLs: copy the data to HDFS or to a file system every host "
            "mounts"))


class ContextStoppedError(VegaError):
    """The Context (or an RDD of it) was used after ``stop()``.

    >>> str(ContextStoppedError("app-1"))[:59]
    'the Context app-1 has been stopped; create a new Context to'
    """

    def __init__(self, application_id: str = ""):
        super().__init__(application_id)
        self.application_id = application_id

    def __str__(self) -> str:
        return (f"the Context {self.application_id or ''}".rstrip() + " has been stopped; "
                "create a new Context to run more jobs, and make the RDDs again from it (an RDD "
                "belongs to the Context that made it)")


class ContextMismatch(VegaError):
    """An RDD is combined (union, join, zip...) with an RDD of another Context, or given to
    another Context's ``run_job``: both number their RDDs and shuffles from 0, so the job
    would read the other's as its own.

    >>> str(ContextMismatch("RDD[0]", "app-b", "app-a"))[:71]
    'cannot use RDDs of two Contexts together: RDD[0] belongs to Context app'
    """

    def __init__(self, rdd: str, its_application_id: str, application_id: str):
        super().__init__(rdd, its_application_id, application_id)
        self.rdd, self.its_application_id = rdd, its_application_id
        self.application_id = application_id

    def __str__(self) -> str:
        return (f"cannot use RDDs of two Contexts together: {self.rdd} belongs to Context "
                f"{self.its_application_id}, not to {self.application_id}: make "
                "a job's RDDs from one Context (a notebook cell run again makes a new Context: "
                "run the cells that made the older RDDs again, or make the Context with "
                "Context.get_or_create())")


class DriverOnlyError(VegaError):
    """The driver's API (actions, the Context) was used inside a task.

    The message starts with PySpark's error class for this mistake, which PySpark programs
    may look for (``getCondition()`` returns it, as PySpark's exceptions do).
    """

    error_class = "CONTEXT_ONLY_VALID_ON_DRIVER"

    def __init__(self, what: str, allowed_by: str = ""):
        super().__init__(what, allowed_by)
        #: ``allowed_by``: the setting that lets a task do it anyway (a Context of its own)
        self.what, self.allowed_by = what, allowed_by

    def __str__(self) -> str:
        text = (f"[{self.error_class}] {self.what} can only be used on the driver, not inside a task. "
                "A transformation's function runs on an executor, which has no Context: "
                "compute what you need before the transformation (for example collect() "
                "a small RDD and broadcast() it), or express it as a join.")
        if self.allowed_by:
            text += (f" To make a Context of the task's own anyway, set {self.allowed_by} "
                     "(Spark's spark.executor.allowSparkContext) to true in its conf.")
        return text


class PySparkRuntimeError(VegaError, RuntimeError):
    """PySpark's ``pyspark.errors.PySparkRuntimeError`` (``pyspark_compat.errors`` names it),
    raised where PySpark raises it; its message starts with PySpark's error class.

    >>> str(PySparkRuntimeError("Broadcast can only be destroyed in driver.",
    ...                         "INVALID_BROADCAST_OPERATION"))
    '[INVALID_BROADCAST_OPERATION] Broadcast can only be destroyed in driver.'
    """

    def __init__(self, message: str = "", error_class: str = ""):
        super().__init__(message, error_class)
        self.message, self.error_class = message, error_class

    def __str__(self) -> str:
        return f"[{self.error_class}] {self.message}" if self.error_class else self.message


class ClosureNotSerializable(VegaError):
    """A function shipped to executors captures something that cannot be pickled."""

    def __init__(self, function: str, variable: str, type_name: str, reason: str):
        super().__init__(function, variable, type_name, reason)
        self.function, self.variable = function, variable
        self.type_name, self.reason = type_name, reason

    def __str__(self) -> str:
        return (f"cannot send {self.function} to the executors: it captures "
                f"{self.variable!r} of type {self.type_name}, which cannot be pickled "
                f"({self.reason}). Create that object inside the function (or once per "
                f"partition in map_partitions) instead of capturing it.")


class LineageTooDeep(ClosureNotSerializable):
    """A job's RDDs are chained too deep for Python to walk or pickle them (a long loop of
    transformations): the fix is to cut the chain, not to change a variable."""

    def __init__(self, function: str, reason: str):
        VegaError.__init__(self, function, reason)
        self.function, self.variable, self.type_name, self.reason = function, "", "", reason

    def __str__(self) -> str:
        return (f"cannot run {self.function}: the chain of RDDs it is computed from is too "
                f"deep for Python ({self.reason}). Cut the chain: "
                f"checkpoint() or local_checkpoint() an RDD every few hundred steps of a loop "
                f"(and run an action on it), or combine many RDDs with one union([...]) call.")


class TaskFailed(VegaError):
    """A task failed on every attempt; carries the user's remote traceback, on the lines
    after the message when there is one (a lost executor leaves none: no empty line then).

    >>> str(TaskFailed(0, 1, 2, "h", "exec-2", "ExecutorLost", "executor exec-2 was lost", ""))
    'task 1 of stage 0 failed 2 times; last error on h (exec-2): ExecutorLost: executor exec-2 was lost'
    >>> str(TaskFailed(0, 1, 1, "h", "exec-2", "ValueError", "bad", "Traceback ...")).splitlines()[1]
    'Traceback ...'
    """

    def __init__(self, stage_id: int, partition: int, attempts: int, host: str,
                 executor_id: str, error_type: str, message: str, remote_traceback: str,
                 call_site: str = ""):
        super().__init__(stage_id, partition, attempts, host, executor_id, error_type,
                         message, remote_traceback, call_site)
        self.stage_id, self.partition, self.attempts = stage_id, partition, attempts
        self.host, self.executor_id = host, executor_id
        self.error_type, self.message = error_type, message
        self.remote_traceback, self.call_site = remote_traceback, call_site

    def __str__(self) -> str:
        site = f" (RDD created at {self.call_site})" if self.call_site else ""
        times = "once" if self.attempts == 1 else f"{self.attempts} times"
        traceback = self.remote_traceback.rstrip()
        return (f"task {self.partition} of stage {self.stage_id}{site} failed {times}; "
                f"last error on {self.host} ({self.executor_id}): "
                + error_line(self.error_type, self.message)
                + (f"\n{traceback}" if traceback else ""))


class ResultTooLarge(VegaError):
    """The serialized results a job brings back to the driver are bigger than
    ``vega.driver.max_result_size`` (Spark's spark.driver.maxResultSize): the job fails at
    once, since running its tasks again would give the same results.  ``tasks`` results
    of ``size`` bytes in all, against ``limit`` bytes.

    >>> str(ResultTooLarge(3, 3 << 19, 1 << 20)).split(":")[0]
    'total size of serialized results of 3 tasks (1.5 MiB) is bigger than vega.driver.max_result_size (1 MiB)'
    >>> str(ResultTooLarge(1, (1 << 30) + 10, 1 << 30)).split(":")[0]
    'the serialized result of 1 task (1.0 GiB, 1073741834 bytes) is bigger than vega.driver.max_result_size (1 GiB)'
    """

    def __init__(self, tasks: int, size: int, limit: int):
        super().__init__(tasks, size, limit)
        self.tasks, self.size, self.limit = tasks, size, limit

    def __str__(self) -> str:
        from .executor_loss import binary_size

        what = "the serialized result of 1 task" if self.tasks == 1 else \
            f"total size of serialized results of {self.tasks} tasks"
        size = binary_size(self.size)
        if self.size < self.limit * 1.05:  # "1.0 GiB is bigger than 1 GiB" needs the bytes
            size += f", {self.size} bytes"
        return (f"{what} ({size}) is bigger than "
                f"vega.driver.max_result_size ({binary_size(self.limit)}): {RESULT_TOO_LARGE_HINT}")


#: what to do about results too large for the driver (each one small enough to send)
RESULT_TOO_LARGE_HINT = ("bring less back to the driver (take, a sample, an aggregate, or "
                         "save_as_text_file) or raise vega.driver.max_result_size (0: no "
                         "limit but the 1 GiB any one task's result can be)")
#: what to do about one task's result too large to send, which no vega.driver.max_result_size
#: lets through
TASK_RESULT_TOO_LARGE_HINT = ("no task's result can be bigger, whatever "
                              "vega.driver.max_result_size says: spread the data over more "
                              "partitions (repartition()), bring less back (take, a sample, "
                              "an aggregate) or write it out (save_as_text_file)")


class TaskTooLarge(VegaError):
    """A task pickles to more than a message to an executor may hold (``limit`` bytes):
    its stage's functions with what they capture (``payload`` bytes) and its partition
    (``partition`` bytes: a ``parallelize`` slice holds its data). Spark: "Serialized task
    was N bytes, which exceeds max allowed: spark.rpc.message.maxSize".

    >>> str(TaskTooLarge(2, 0, 1 << 30, 12, 1023 << 20)).split(" (")[0]
    'task 0 of stage 2 pickles to 1.0 GiB'
    >>> str(TaskTooLarge(2, 0, 1 << 30, 12, 1023 << 20)).split("), ")[1]
    'more than the 1023 MiB a message to an executor can hold: broadcast() a large value the functions capture and read its .value in them'
    """

    def __init__(self, stage_id: int, partition: int, payload: int, partition_size: int,
                 limit: int):
        super().__init__(stage_id, partition, payload, partition_size, limit)
        self.stage_id, self.partition, self.limit = stage_id, partition, limit
        self.payload, self.partition_size = payload, partition_size

    def __str__(self) -> str:
        from .executor_loss import binary_size

        hint = ("broadcast() a large value the functions capture and read its .value in them"
                if self.payload >= self.partition_size else
                "give parallelize() more slices, or write the data to files and read them "
                "(text_file, pickle_file)")
        return (f"task {self.partition} of stage {self.stage_id} pickles to "
                f"{binary_size(self.payload + self.partition_size)} (its stage's functions "
                f"and what they capture: {binary_size(self.payload)}; its partition: "
                f"{binary_size(self.partition_size)}), more than the {binary_size(self.limit)} "
                f"a message to an executor can hold: {hint}")


class DriverExit(SystemExit):
    """Raised in the driver by a handler of a signal that ends it (``vega submit`` and
    ``vega shell`` on SIGTERM or SIGHUP), with ``128 + N`` as its code. Unlike a
    ``SystemExit`` of the user's code, which fails the task that raised it, it goes
    through a task that runs in the driver (``local``), so a running job is cancelled and
    the Context stopped on the way out."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum

    @classmethod
    def raise_for(cls, signum: int, frame=None) -> None:
        """A signal handler: ``signal.signal(signal.SIGTERM, DriverExit.raise_for)``."""
        raise cls(signum)


class JobCancelled(VegaError):
    """The job was cancelled before it finished.  With the job's id, the reason completes
    Spark's sentence (``SPARK_JOB_CANCELLED``):

    >>> str(JobCancelled("part of cancelled job group nightly", 3))
    'job 3 cancelled part of cancelled job group nightly'
    >>> str(JobCancelled("interrupted (Ctrl-C)"))
    'job cancelled: interrupted (Ctrl-C)'
    """

    def __init__(self, reason: str = "cancelled by the user", job_id: Optional[int] = None):
        super().__init__(reason, job_id)
        self.reason, self.job_id = reason, job_id

    def __str__(self) -> str:
        if self.job_id is not None:
            return f"job {self.job_id} cancelled {self.reason}"
        return f"job cancelled: {self.reason}"


class ExecutorLost(VegaError):
    """An executor process died or disconnected."""

    def __init__(self, executor_id: str, host: str, reason: str):
        super().__init__(executor_id, host, reason)
        self.executor_id, self.host, self.reason = executor_id, host, reason

    def __str__(self) -> str:
        return f"executor {self.executor_id} on {self.host} was lost: {self.reason}"


class FetchFailed(VegaError):
    """A reduce task could not read a map output block; the map task must rerun."""

    def __init__(self, shuffle_id: int, map_id: int, reduce_id: int, location: str, reason: str):
        super().__init__(shuffle_id, map_id, reduce_id, location, reason)
        self.shuffle_id, self.map_id, self.reduce_id = shuffle_id, map_id, reduce_id
        self.location, self.reason = location, reason

    def __str__(self) -> str:
        return (f"could not fetch shuffle {self.shuffle_id} map {self.map_id} reduce "
                f"{self.reduce_id} from {self.location}: {self.reason}")


class StageFailed(VegaError):
    """A stage was retried too many times after lost map outputs."""

    def __init__(self, stage_id: int, attempts: int, reason: str):
        super().__init__(stage_id, attempts, reason)
        self.stage_id, self.attempts, self.reason = stage_id, attempts, reason

    def __str__(self) -> str:
        return (f"stage {self.stage_id} failed after {self.attempts} attempts: {self.reason}. "
                "Check that workers stay alive (vega status) and that their hosts reach "
                "each other (the shuffle service ports), then rerun the job.")


class BarrierStageFailed(VegaError):
    """A barrier stage (``rdd.barrier()``) could not complete: a task of its result stage
    failed (Spark does not retry a barrier result stage: its tasks ran together and may
    have written output), or its map stage failed on every one of ``attempts`` attempts
    (each failed task reruns the whole stage)."""

    def __init__(self, stage_id: int, attempts: int, reason: str, result_stage: bool):
        super().__init__(stage_id, attempts, reason, result_stage)
        self.stage_id, self.attempts, self.reason = stage_id, attempts, reason
        self.result_stage = result_stage

    def __str__(self) -> str:
        if self.result_stage:
            return (f"barrier stage {self.stage_id} failed and is not retried: its tasks ran "
                    f"together and may have written output (rerun the job); {self.reason}")
        return (f"barrier stage {self.stage_id} failed {self.attempts} times (a failed task "
                f"reruns every task of its stage); the last time: {self.reason}")


class BarrierJobRefused(VegaError):
    """A job whose barrier stage cannot run as one (Spark's checks, with its reasons): more
    tasks than the executors can run at once, dynamic allocation, or a stage whose RDDs
    differ in partitions or join two barrier RDDs."""


class StopIterationInUserCode(VegaError, RuntimeError):
    """A user function raised ``StopIteration``; it fails the task instead of ending a partition.

    >>> str(StopIterationInUserCode("parse", "StopIteration()")).split(";")[0]
    "Caught StopIteration thrown from user's code"
    """

    def __init__(self, function: str, raised: str):
        super().__init__(function, raised)
        self.function, self.raised = function, raised

    def __str__(self) -> str:
        return (f"Caught StopIteration thrown from user's code; failing the task: {self.function} "
                f"raised {self.raised}. Inside a function given to Vega a StopIteration would "
                "silently end its partition early; raise another exception or return a value "
                "(call next(it, default) instead of next(it)).")


class BroadcastNotSerializable(VegaError, pickle.PicklingError):
    """``ctx.broadcast(value)`` got a value that cannot be pickled (a pickle.PicklingError too).

    >>> str(BroadcastNotSerializable("Context", "the Context lives on the driver"))[:46]
    'Could not serialize broadcast: a Context value'
    """

    def __init__(self, type_name: str, reason: str):
        super().__init__(type_name, reason)
        self.type_name, self.reason = type_name, reason

    def __str__(self) -> str:
        return (f"Could not serialize broadcast: a {self.type_name} value cannot be pickled "
                f"({self.reason}). Broadcast plain data (dicts, lists, arrays), not "
                "connections, locks or the Context.")


class PartitionNotSerializable(VegaError, pickle.PicklingError):
    """A task's partition cannot be pickled to send it to an executor: ``parallelize``'s
    elements travel in it (a pickle.PicklingError too).

    >>> str(PartitionNotSerializable("partition 1 of stage 0", "lock", "TypeError: ..."))[:78]
    'cannot send partition 1 of stage 0 to the executors: its data holds a lock, wh'
    """

    def __init__(self, what: str, type_name: str, reason: str):
        super().__init__(what, type_name, reason)
        self.what, self.type_name, self.reason = what, type_name, reason

    def __str__(self) -> str:
        return (f"cannot send {self.what} to the executors: its data holds a {self.type_name}, "
                f"which cannot be pickled ({self.reason}). parallelize() sends its elements with "
                "the tasks: give it plain data (numbers, strings, tuples, dicts, arrays), and "
                "make connections, locks and open files inside the function (or once per "
                "partition in map_partitions).")


class ResultNotSerializable(VegaError, pickle.PicklingError):
    """A task's result (what an action brings back) cannot be pickled to send it to the
    driver; it fails the task (a pickle.PicklingError too).

    >>> str(ResultNotSerializable("lock", "TypeError: ..."))[:60]
    "the task's result holds a lock, which cannot be pickled to s"
    """

    def __init__(self, type_name: str, reason: str):
        super().__init__(type_name, reason)
        self.type_name, self.reason = type_name, reason

    def __str__(self) -> str:
        return (f"the task's result holds a {self.type_name}, which cannot be pickled to send "
                f"it to the driver ({self.reason}): bring back plain data (numbers, strings, "
                "tuples, dicts, arrays): map the records to it before the action")


class InvalidIdentifier(VegaError):
    """An application, executor, worker, driver or package id that does not have its form.

    >>> str(InvalidIdentifier("package id", "../x", "64 lowercase hex digits (a sha256)"))
    "'../x' is not a package id (expected 64 lowercase hex digits (a sha256))"
    """

    def __init__(self, kind: str, value, example: str):
        super().__init__(kind, value, example)
        self.kind, self.value, self.example = kind, value, example

    def __str__(self) -> str:
        shown = repr(self.value) if len(repr(self.value)) <= 80 else repr(self.value)[:77] + "..."
        return f"{shown} is not {with_article(self.kind)} (expected {self.example})"


class MultipleContextsWarning(UserWarning):
    """A Context is made while another runs in the process (a notebook cell run again):
    both run, each with its executors, which PySpark refuses.

    >>> str(MultipleContextsWarning("app-1", "local[2]", "nb"))  # doctest: +ELLIPSIS
    "another Context is running in this process (app-1, master local[2], app 'nb'): this one ..."
    """

    def __init__(self, application_id: str, master: str, app_name: str):
        super().__init__(application_id, master, app_name)
        self.application_id, self.master, self.app_name = application_id, master, app_name

    def __str__(self) -> str:
        return (f"another Context is running in this process ({self.application_id}, master "
                f"{self.master}, app {self.app_name!r}): this one starts executors of its own, "
                "and that one keeps its until its stop(). Context.get_or_create() gives the "
                "running one; stop() it before making another (PySpark refuses a second "
                "SparkContext)")


class LargeStageWarning(UserWarning):
    """A stage's functions pickle to more than ``LARGE_STAGE_BYTES``: what they capture is
    sent again with every stage that runs them (Spark: "Stage N contains a task of very
    large size"). The message names no stage, so that Python shows it once per line of
    the user's, not once per job of a loop.

    >>> str(LargeStageWarning(3 << 20))[:60]
    'the functions of a stage of this job and the values they cap'
    """

    def __init__(self, size: int):
        super().__init__(size)
        self.size = size

    def __str__(self) -> str:
        from .executor_loss import binary_size

        return (f"the functions of a stage of this job and the values they capture pickle to "
                f"{binary_size(self.size)}, sent to its executors (Spark warns past 1000 KiB): "
                "a large value a function captures (a list, a dict, a model) is pickled and "
                "sent again by every job that uses it; broadcast() it once and read its .value "
                "in the function")


#: Past this many bytes a stage's pickled functions are warned of (Spark's 1000 KiB)
LARGE_STAGE_BYTES = 1000 << 10


#: the errors of files and directories, in a module of their own (this one was full): found
#: there when first asked for, so that either module may be imported first
FILE_ERRORS = ("BadArchive", "BadPackage", "DirectoryOfAnotherAccount", "EventLogUnwritable",
               "InputError", "OutputExistsError", "PackageTooLarge")


def __getattr__(name: str):
    if name in FILE_ERRORS:
        from . import file_errors

        return getattr(file_errors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
