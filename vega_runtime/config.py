"""Settings: one schema, one loader, the precedence written out once.

Precedence, lowest first::

    built-in defaults (SETTINGS below)
    < conf/vega-defaults.yaml   (in $VEGA_CONF_DIR, else ./conf)
    < the --config file
    < VEGA_* environment variables (each setting names its own)
    < CLI flags (vega submit --conf KEY=VALUE, --master, ...)
    < values set in the job (Context(conf={...}))

``conf/vega-defaults.yaml`` documents every key with its default and unit; a
test keeps it in step with ``SETTINGS``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import ConfigError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: Any) -> int:
    """Parse a size such as ``512m`` or ``4g`` into bytes.

    >>> parse_size("512m"), parse_size("4g"), parse_size(1024)
    (536870912, 4294967296, 1024)
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size (e.g. 4g, 512m)")
    if isinstance(text, int):
        return text
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(f"{str(text)!r} is not a size (e.g. 4g, 512m)")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[unit.lower()])


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true or false)")


def parse_int(text: Any) -> int:
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a whole number")
    try:
        return int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a whole number") from None


def parse_float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a number") from None


def parse_str(text: Any) -> str:
    return "" if text is None else str(text)


_HOST_PATTERN_RE = re.compile(r"^(\*\.)?[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?$")


def parse_hosts(text: Any) -> tuple[str, ...]:
    """A list of hosts: a YAML list or a comma-separated string of host names or addresses,
    ``*.domain`` (any host in that domain) or networks (``10.0.0.0/24``); lower-cased.

    >>> parse_hosts("dn1.example.com, *.dn.example.com,10.0.0.0/24")
    ('dn1.example.com', '*.dn.example.com', '10.0.0.0/24')
    >>> parse_hosts(""), parse_hosts(["DN1"])
    ((), ('dn1',))
    """
    import ipaddress

    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else text
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"{text!r} is not a list of hosts (e.g. dn1,dn2 or *.example.com)")
    hosts = []
    for item in items:
        host = str(item).strip().lower()
        if not host:
            continue
        try:
            ipaddress.ip_network(host, strict=False)
        except ValueError:
            if not _HOST_PATTERN_RE.match(host):
                raise ValueError(f"{str(item).strip()!r} is not a host name, *.domain, "
                                 "address or network (e.g. 10.0.0.0/24)") from None
        hosts.append(host)
    return tuple(hosts)


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    parse: Callable[[Any], Any]
    unit: str
    doc: str
    env: str | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("vega.master", "local[*]", parse_str, "url",
            "Where jobs run: local, local[N], local[*], local-cluster[W,C] or vega://host:port.",
            env="VEGA_MASTER"),
    Setting("vega.app.name", "vega-app", parse_str, "name",
            "Application name shown in progress output and logs.", env="VEGA_APP_NAME"),
    Setting("vega.default.parallelism", 0, parse_int, "partitions",
            "Partitions for parallelize() and shuffles when none is given; 0 means the "
            "number of executor cores.", env="VEGA_DEFAULT_PARALLELISM"),
    Setting("vega.task.max_attempts", 4, parse_int, "attempts",
            "How many times a task may run before its job fails.", env="VEGA_TASK_MAX_ATTEMPTS"),
    Setting("vega.stage.max_attempts", 4, parse_int, "attempts",
            "How many times a stage may be resubmitted after lost map outputs."),
    Setting("vega.shuffle.memory_bound", "256m", parse_size, "bytes",
            "Memory a shuffle map or reduce task may hold before spilling sorted runs to disk.",
            env="VEGA_SHUFFLE_MEMORY_BOUND"),
    Setting("vega.shuffle.batch_records", 2048, parse_int, "records",
            "Records per pickled batch in shuffle files."),
    Setting("vega.storage.memory", "512m", parse_size, "bytes",
            "Memory each executor may use for cached partitions before evicting the least "
            "recently used (to disk or dropped, by storage level)."),
    Setting("vega.locality.wait", 3.0, parse_float, "seconds",
            "How long a task waits for the executor holding its cached input before "
            "running elsewhere (and recomputing the input)."),
    Setting("vega.input.split_size", "32m", parse_size, "bytes",
            "Target bytes per input partition for text_file and friends."),
    Setting("vega.local.dir", "", parse_str, "path",
            "Scratch directory for shuffle files, spills and broadcasts; empty means the "
            "system temporary directory.", env="VEGA_LOCAL_DIR"),
    Setting("vega.pyspark_compat", False, parse_bool, "boolean",
            "Run jobs with PySpark's names: 'import pyspark' resolves to Vega's compatibility "
            "package (vega submit --pyspark-compat). Read by vega submit before the job starts.",
            env="VEGA_PYSPARK_COMPAT"),
    Setting("vega.secret.file", "", parse_str, "path",
            "File holding the cluster secret that authenticates every connection; empty "
            "means ~/.vega/secret ($VEGA_CONF_DIR/secret) when it exists. Without one, daemons "
            "listen on loopback only.",
            env="VEGA_SECRET_FILE"),
    Setting("vega.cores.max", 0, parse_int, "cores",
            "Most executor cores an application takes from a cluster; 0 means all it can get "
            "(vega submit --total-executor-cores)."),
    Setting("vega.executor.cores", 0, parse_int, "cores",
            "Most executor cores an application takes on one worker; 0 means no limit "
            "(vega submit --executor-cores). Each executor process runs one task at a time."),
    Setting("vega.executor.memory", "1g", parse_size, "bytes",
            "Memory reserved on a worker for each executor (vega submit --executor-memory)."),
    Setting("vega.scheduler.executor_wait_timeout", 300.0, parse_float, "seconds",
            "How long a job waits for a first executor (no live workers) before failing."),
    Setting("vega.submit.package", "", parse_str, "path",
            "The job package (zip) vega submit built for a cluster master; executors get its "
            "modules and files. Set by vega submit."),
    Setting("vega.hdfs.user", "", parse_str, "name",
            "User name for WebHDFS (simple authentication); empty means HADOOP_USER_NAME, "
            "then the login name. Kerberos is not supported (docs/storage.md).",
            env="HADOOP_USER_NAME"),
    Setting("vega.hdfs.timeout", 30.0, parse_float, "seconds",
            "Timeout of every WebHDFS request."),
    Setting("vega.hdfs.namenode", "", parse_str, "host:port",
            "Default WebHDFS address for HdfsIO (the cluster file's namenode sets it too)."),
    Setting("vega.hdfs.datanodes", "", parse_hosts, "hosts",
            "Hosts besides the namenode's own that WebHDFS may redirect reads and writes to "
            "(the cluster's datanodes): host names, *.domain, addresses or networks "
            "(10.0.0.0/24), comma-separated or a list. A redirect anywhere else is refused: "
            "a rogue namenode could send your data and user name to any host.",
            env="VEGA_HDFS_DATANODES"),
    Setting("vega.master.reconnect_timeout", 60.0, parse_float, "seconds",
            "How long a driver keeps reconnecting to a lost master (running jobs go on "
            "meanwhile) before its job fails."),
    Setting("vega.driver.metrics.port", 0, parse_int, "port",
            "When set, the driver serves its own job, stage and task metrics at "
            "http://0.0.0.0:PORT/metrics (Prometheus format)."),
    Setting("vega.eventlog.dir", "~/.vega/events", parse_str, "path",
            "Where each application appends its event log (JSON lines) for vega history; "
            "empty disables event logs.", env="VEGA_EVENTLOG_DIR"),
    Setting("vega.listeners", "", parse_str, "module:Class,...",
            "Extra job listeners instantiated by the Context (vega submit installs its "
            "progress display this way)."),
    Setting("vega.log.level", "WARNING", parse_str, "level",
            "Log level of the driver's vega loggers.", env="VEGA_LOG_LEVEL"),
)

SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}

#: Set by ``vega submit`` for the job's process: JSON of the CLI-level overrides.
SUBMIT_CONF_ENV = "VEGA_SUBMIT_CONF"


class Config(Mapping[str, Any]):
    """Resolved settings, with where each value came from.

    >>> conf = Config.load(overrides={"vega.task.max_attempts": "2"})
    >>> conf["vega.task.max_attempts"], conf.origin("vega.task.max_attempts")
    (2, 'job')
    """

    def __init__(self, values: dict[str, Any], origins: dict[str, str]):
        self._values = values
        self._origins = origins

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def origin(self, key: str) -> str:
        return self._origins[key]

    def with_values(self, values: Mapping[str, Any], origin: str) -> "Config":
        resolved, origins = dict(self._values), dict(self._origins)
        _apply(resolved, origins, values, origin)
        return Config(resolved, origins)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._values)

    @classmethod
    def load(cls, config_file: str | None = None, environ: Mapping[str, str] | None = None,
             cli: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None,
             conf_dir: str | None = None) -> "Config":
        """Resolve every setting from all sources, in the documented precedence."""
        env = os.environ if environ is None else environ
        values = {s.key: s.parse(s.default) for s in SETTINGS}
        origins = {s.key: "default" for s in SETTINGS}
        defaults_file = os.path.join(conf_dir or env.get("VEGA_CONF_DIR") or "conf",
                                     "vega-defaults.yaml")
        if os.path.isfile(defaults_file):
            _apply(values, origins, _read_yaml(defaults_file), defaults_file)
        config_file = config_file or env.get("VEGA_CONFIG")
        if config_file:
            _apply(values, origins, _read_yaml(config_file), config_file)
        _apply(values, origins, {s.key: env[s.env] for s in SETTINGS if s.env and s.env in env},
               "environment")
        if env.get(SUBMIT_CONF_ENV):
            _apply(values, origins, json.loads(env[SUBMIT_CONF_ENV]), "vega submit")
        _apply(values, origins, cli or {}, "command line")
        _apply(values, origins, overrides or {}, "job")
        return cls(values, origins)


def _apply(values: dict, origins: dict, new: Mapping[str, Any], origin: str) -> None:
    for key, raw in new.items():
        setting = SETTINGS_BY_KEY.get(key)
        if setting is None:
            raise ConfigError(origin, key, "is not a Vega setting; see conf/vega-defaults.yaml "
                                           "for the list of settings")
        try:
            values[key] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(origin, key, str(exc)) from None
        origins[key] = origin


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            # libyaml's loader where PyYAML has it: the same documents, parsed faster
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except FileNotFoundError:
        raise ConfigError(path, "file", "does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, "file", f"is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "file", "must be a mapping of setting names to values")
    return _flatten(data)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Accept both ``vega.task.max_attempts: 4`` and nested ``vega: {task: ...}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and full not in SETTINGS_BY_KEY:
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def parse_conf_pair(text: str) -> tuple[str, str]:
    """Split a ``--conf KEY=VALUE`` argument, checking the key exists."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("--conf", repr(text), "is not KEY=VALUE (e.g. --conf vega.task.max_attempts=2)")
    setting = SETTINGS_BY_KEY.get(key)
    if setting is None:
        raise ConfigError("--conf", key, "is not a Vega setting; see conf/vega-defaults.yaml")
    try:
        setting.parse(value)
    except ValueError as exc:
        raise ConfigError("--conf", key, str(exc)) from None
    return key, value
