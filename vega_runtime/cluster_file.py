"""The cluster file: which machines ``vega start-cluster`` deploys to (DESIGN.md 4.3).

Two formats, by extension (``.yaml``/``.yml``; ``.conf``/``.toml``), else by content (a
``master =`` or ``[[slaves]]`` line means TOML): Vega's ``conf/cluster.yaml`` (the shipped
example documents every key) and the Rust Vega ``hosts.conf``: ``master = "ip:port"``,
``[[slaves]]`` tables with ``ip = "user@ip"`` and optional ``key`` (``java_home`` and
``hadoop_home`` are ignored) or the older ``slaves = ["user@ip"]``, optional ``namenode``.

* The **first** mistake raises ``ConfigError`` naming file, entry and key (checking file,
  master, ssh, defaults, workers, hdfs, secret_file in turn), e.g.
  ``conf/cluster.yaml: workers[2].memory "12 parsecs" is not a size (e.g. 4g, 512m)``.
* A worker's keys beat ``defaults`` (labels and resources replace, not merge), which beat
  built-ins; its
  user/key/ssh_port beat ``ssh``.  Empty values mean unset; unset cores/memory (None) let
  the worker decide (all cores, RAM - 1g).
* Values are data, never shell text.  Host and user names hold only letters, digits and
  ``. _ -`` and do not start with ``-`` (no ssh option injection), so ``a;rm -rf /`` is
  rejected; no IPv6 (vega:// URLs cannot carry it).  Paths may contain spaces: code that
  builds commands must ``shlex.quote`` every value (a leading ``~/`` outside the quotes).
* ``key`` files are local (``~`` expanded, relative to the current directory) and must
  exist; ``secret_file`` and ``ssh.known_hosts`` are local and may not exist yet;
  ``work_dir`` and ``python`` are remote paths, kept verbatim (relative ones are relative
  to the SSH login directory).
* An entry is one daemon, identified by host + ssh_port + work_dir (``daemon_id``): two
  entries with one identity are an error; the same host with another ssh port or work_dir
  is another daemon.  Hosts may share a home (NFS): keep run state under ``daemon_id``.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import yaml

from .config_values import parse_size
from .errors import ConfigError
from .net.endpoints import host_port

#: Names the cluster file; beats ``cluster.yaml`` / ``hosts.conf`` in the conf directory.
CLUSTER_CONFIG_ENV = "VEGA_CLUSTER_CONFIG"

_TOP_KEYS = ("master", "ssh", "workers", "defaults", "hdfs", "secret_file")
_MASTER_KEYS = ("host", "port", "webui_port", "work_dir", "user", "key", "ssh_port", "python")
_SSH_KEYS = ("user", "key", "port", "connect_timeout", "known_hosts")
_WORKER_KEYS = ("host", "user", "key", "ssh_port", "cores", "memory", "work_dir", "labels",
                "python", "resources", "webui_port")
_DEFAULT_KEYS = ("cores", "memory", "work_dir", "python", "labels", "resources", "webui_port")
_RESOURCE_KEYS = ("amount", "discovery_script")
_HOSTS_KEYS = ("master", "slaves", "namenode")
_SLAVE_KEYS = ("ip", "key", "java_home", "hadoop_home")

#: the longest connect_timeout: a day (an infinite one would wait forever on a dead host)
MAX_SECONDS = 86400

_HOST_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.:=/+-]+$")
_TOML_HINT = re.compile(r"^\s*(\[\[\s*slaves\s*\]\]|(master|slaves|namenode)\s*=)", re.M)


def valid_host(text: Any) -> Optional[str]:
    """``text`` as a host the cluster file may name (a host name, an IPv4 address or an IPv6
    one, bare or in brackets; returned bare, as SSH and sockets take it), else None.

    >>> valid_host("node-1.example"), valid_host("[fd00::2]"), valid_host("fd00::2")
    ('node-1.example', 'fd00::2', 'fd00::2')
    >>> valid_host("node 1"), valid_host("fd00::zz"), valid_host("10.0.0.1:7077")
    (None, None, None)
    """
    if not isinstance(text, str):
        return None
    if _HOST_RE.match(text):
        return text
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.IPv6Address(bare)
    except ValueError:
        return None
    return bare


@dataclass(frozen=True)
class SSHSettings:
    """The ``ssh`` section; ``user`` None means ssh's own default (local user, ~/.ssh/config);
    ``known_hosts`` None means ``~/.ssh/known_hosts``."""

    user: Optional[str] = None
    key: Optional[str] = None
    port: int = 22
    connect_timeout: float = 10.0
    known_hosts: Optional[str] = None


@dataclass(frozen=True)
class ClusterMaster:
    """Where the master runs; ``url`` is what workers and drivers connect to.  ``user``,
    ``key`` and ``ssh_port``: the master section's own SSH login, ``python`` its own
    interpreter on that host (None: not given there; ``ClusterFile.master_login`` and
    ``master_python`` resolve them)."""

    host: str
    port: int = 7077
    webui_port: int = 8080
    work_dir: str = "work/master"
    user: Optional[str] = None
    key: Optional[str] = None
    ssh_port: Optional[int] = None
    python: Optional[str] = None

    @property
    def url(self) -> str:
        return f"vega://{host_port(self.host, self.port)}"


@dataclass(frozen=True)
class WorkerEntry:
    """One worker daemon, with the ssh section and defaults applied; memory in bytes.

    >>> w = WorkerEntry("10.0.0.2", user="alice")
    >>> w.ssh_target, w.daemon_id
    ('alice@10.0.0.2', '10.0.0.2-22-fafab36c6e')
    """

    host: str
    user: Optional[str] = None
    key: Optional[str] = None
    ssh_port: int = 22
    cores: Optional[int] = None
    memory: Optional[int] = None
    work_dir: str = "work/worker"
    labels: Tuple[str, ...] = ()
    python: Optional[str] = None  # remote interpreter; None: the deploy code's default
    #: custom resources it offers: (name, amount, discovery script on its host)
    resources: Tuple[Tuple[str, int, str], ...] = ()
    #: its /metrics port (``vega worker --webui-port``); None: the worker's default, 8081,
    #: which a second worker on one host cannot have
    webui_port: Optional[int] = None

    @property
    def ssh_target(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def daemon_id(self) -> str:
        """Stable, file-name-safe id from host + ssh_port + work_dir (not the user)."""
        identity = _identity(self)
        digest = hashlib.sha256("\0".join(map(str, identity)).encode()).hexdigest()[:10]
        return f"{identity[0]}-{self.ssh_port}-{digest}"


@dataclass(frozen=True)
class ClusterFile:
    path: str
    master: ClusterMaster
    ssh: SSHSettings
    workers: Tuple[WorkerEntry, ...]
    namenode: Optional[str] = None
    secret_file: Optional[str] = None

    def master_login(self) -> Tuple[Optional[str], Optional[str], int]:
        """``(user, key, ssh_port)`` that start the master over SSH, each from the master
        section, else from the first worker entry on the master's host (the same machine,
        the same sshd and account: its own values, else the ``ssh`` section's), else from
        the ``ssh`` section.

        >>> cf = parse_cluster_text("master: {host: n1}\\nssh: {user: vega}\\n"
        ...                         "workers: [{host: n1, ssh_port: 2222}, n2]", "c.yaml")
        >>> cf.master_login()
        ('vega', None, 2222)
        """
        same = next((w for w in self.workers if w.host.lower() == self.master.host.lower()),
                    None)
        user, key, port = (same.user, same.key, same.ssh_port) if same else \
            (self.ssh.user, self.ssh.key, self.ssh.port)
        m = self.master
        return (m.user if m.user is not None else user, m.key if m.key is not None else key,
                m.ssh_port if m.ssh_port is not None else port)

    def master_python(self) -> Optional[str]:
        """The interpreter that runs the master on its host: the master section's
        ``python``, else that of the first worker entry on the master's host (the same
        machine: its own, else ``defaults.python``), else None (the control machine's path,
        as for a worker without one).

        >>> parse_cluster_text("master: {host: n1}\\ndefaults: {python: /opt/py}\\n"
        ...                    "workers: [n2, n1]", "c.yaml").master_python()
        '/opt/py'
        >>> parse_cluster_text("master: {host: n1, python: /usr/bin/python3.11}\\n"
        ...                    "workers: [{host: n1, python: /opt/py}]", "c.yaml").master_python()
        '/usr/bin/python3.11'
        >>> print(parse_cluster_text("master: {host: n1}\\nworkers: [n2]", "c.yaml").master_python())
        None
        """
        if self.master.python is not None:
            return self.master.python
        same = next((w for w in self.workers if w.host.lower() == self.master.host.lower()),
                    None)
        return same.python if same else None


def load_cluster_file(path: Optional[str] = None,
                      environ: Optional[Mapping[str, str]] = None) -> ClusterFile:
    """Read and validate ``path``, else ``$VEGA_CLUSTER_CONFIG``, else ``cluster.yaml``, else
    ``hosts.conf`` in the conf directory (``$VEGA_CONF_DIR``, else ``conf``, as for
    vega-defaults.yaml).  ``ClusterFile.path`` tells which one was read."""
    env = os.environ if environ is None else environ
    path = path or env.get(CLUSTER_CONFIG_ENV)
    if not path:
        yaml_path, toml_path = (os.path.join(env.get("VEGA_CONF_DIR") or "conf", name)
                                for name in ("cluster.yaml", "hosts.conf"))
        path = next((p for p in (yaml_path, toml_path) if os.path.isfile(p)), yaml_path)
        if not env.get("VEGA_CONF_DIR") and os.path.isfile(path):
            from .config import refuse_if_foreign

            refuse_if_foreign(path, "its hosts would get the cluster secret, and run "
                                    "the commands it names")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(path, "file", "does not exist; describe your cluster there, or set "
                                        f"{CLUSTER_CONFIG_ENV} to a cluster file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "file", f"cannot be read: {exc}") from None
    return parse_cluster_text(text, path)


def parse_cluster_text(text: str, source: str) -> ClusterFile:
    """Parse a cluster file's text; ``source`` names it in errors and picks the format.

    >>> cf = parse_cluster_text('''
    ... master: {host: 10.0.0.1}
    ... defaults: {cores: 4}
    ... workers: [alice@10.0.0.2, {host: 10.0.0.3, cores: 8, memory: 16g}]''', "c.yaml")
    >>> [(w.ssh_target, w.cores, w.memory) for w in cf.workers]
    [('alice@10.0.0.2', 4, None), ('10.0.0.3', 8, 17179869184)]
    >>> parse_cluster_text('master = "10.0.0.1:3000"\\nslaves = ["bob@10.0.0.2"]', "h").master
    ClusterMaster(host='10.0.0.1', port=3000, webui_port=8080, work_dir='work/master', user=None, key=None, ssh_port=None, python=None)
    """
    ext = os.path.splitext(source)[1].lower()
    toml = ext in (".conf", ".toml") or (ext not in (".yaml", ".yml") and _TOML_HINT.search(text))
    return _Reader(source).hosts_conf(text) if toml else _Reader(source).cluster_yaml(text)


def _identity(worker: WorkerEntry) -> Tuple[str, int, str]:
    return worker.host.lower(), worker.ssh_port, posixpath.normpath(worker.work_dir)


def _show(value: Any) -> str:
    """A value as the user wrote it: strings in double quotes, YAML-ish otherwise."""
    return json.dumps(value, ensure_ascii=False, default=str)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error: plain YAML
    keeps the last one silently, so a second ``master:`` section or a repeated ``host:``
    would quietly replace the first."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class says so
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{_show(key)} is given twice in one mapping (first on "
                        f"line {first.line + 1}); keep one", key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


@dataclass
class _Reader:
    """Validates one file; every error names ``source`` and the key."""

    source: str

    def fail(self, key: str, problem: str):
        raise ConfigError(self.source, key, problem)

    def cluster_yaml(self, text: str) -> ClusterFile:
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            self.fail("file", f"is not valid YAML{where}: {getattr(exc, 'problem', '') or exc}")
        if not isinstance(data, dict):
            self.fail("file", "must be a mapping with master and workers (see conf/cluster.yaml)")
        self.known(data, "", _TOP_KEYS)
        master = self.section(data, "master", _MASTER_KEYS, required=True)
        login = self.worker_values({k: master[k] for k in ("user", "key", "ssh_port", "python")
                                    if k in master}, "master")
        cluster_master = ClusterMaster(
            self.host(master.get("host") or self.fail("master.host", "is missing"), "master.host"),
            self.port(master.get("port", 7077), "master.port"),
            self.port(master.get("webui_port", 8080), "master.webui_port"),
            self.path(master.get("work_dir", "work/master"), "master.work_dir"),
            login.get("user"), login.get("key"), login.get("ssh_port"), login.get("python"))
        if cluster_master.webui_port == cluster_master.port:
            self.fail("master.webui_port", f"{cluster_master.port} is the same as master.port")
        section = self.section(data, "ssh", _SSH_KEYS)
        ssh = SSHSettings(self.user(section.get("user"), "ssh.user"),
                          self.key_file(section.get("key"), "ssh.key"),
                          self.port(section.get("port", 22), "ssh.port"),
                          self.seconds(section.get("connect_timeout", 10.0), "ssh.connect_timeout"),
                          self.known_hosts(section.get("known_hosts"), "ssh.known_hosts"))
        defaults = self.worker_values(self.section(data, "defaults", _DEFAULT_KEYS), "defaults")
        workers = data.get("workers")
        if not isinstance(workers, list) or not workers:
            self.fail("workers", f"must be a list of hosts, not {_show(workers)}" if workers
                      else "is missing or empty; list at least one worker host")
        entries = tuple(self.worker(raw, f"workers[{i}]", defaults, ssh)
                        for i, raw in enumerate(workers))
        self.unique(entries, "workers")
        namenode = (self.namenode(self.section(data, "hdfs", ("namenode",)).get("namenode"),
                                  "hdfs.namenode") if isinstance(data.get("hdfs"), dict)
                    else self.namenode(data.get("hdfs"), "hdfs"))
        secret = data.get("secret_file")
        secret = None if secret is None else os.path.expanduser(self.path(secret, "secret_file"))
        return ClusterFile(self.source, cluster_master, ssh, entries, namenode, secret)

    def hosts_conf(self, text: str) -> ClusterFile:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: pip install tomli
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            self.fail("file", f"is not valid TOML: {exc}")
        self.known(data, "", _HOSTS_KEYS)
        master = data.get("master")
        match = re.fullmatch(r"(.+):([1-9]\d{0,4})", master) if isinstance(master, str) else None
        master_host = valid_host(match[1]) if match else None
        if master_host is None or int(match[2]) > 65535:
            self.fail("master", ("is missing" if master is None else f'{_show(master)} is not '
                                 '"ip:port"') + ' (e.g. master = "10.0.0.1:7077", or '
                      '"[fd00::1]:7077" for an IPv6 address)')
        slaves = data.get("slaves")
        if not isinstance(slaves, list) or not slaves:
            self.fail("slaves", f"must be a list of workers, not {_show(slaves)}" if slaves
                      else 'is missing or empty; add [[slaves]] tables with ip = "user@ip"')
        workers = []
        for i, slave in enumerate(slaves):
            name, key = f"slaves[{i}]", None
            if isinstance(slave, dict):  # [[slaves]] ip = "user@ip", key = "..."
                self.known(slave, name, _SLAVE_KEYS)
                if "ip" not in slave:
                    self.fail(f"{name}.ip", 'is missing; write ip = "user@ip"')
                key = self.key_file(slave.get("key"), f"{name}.key")
                slave, name = slave["ip"], f"{name}.ip"
            user, ip = self.user_at_host(slave, name)
            workers.append(WorkerEntry(ip, user, key))
        self.unique(tuple(workers), "slaves")
        return ClusterFile(self.source, ClusterMaster(master_host, int(match[2])), SSHSettings(),
                           tuple(workers), self.namenode(data.get("namenode"), "namenode"))

    def known(self, mapping: dict, prefix: str, allowed: Tuple[str, ...]) -> None:
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                self.fail(f"{prefix}.{key}" if prefix else str(key),
                          "is not a cluster file key; known keys: " + ", ".join(allowed)
                          + (f"; did you mean {close[0]}?" if close else ""))

    def section(self, data: dict, name: str, allowed: Tuple[str, ...], required=False) -> dict:
        value = data.get(name)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.fail(name, f"is missing; write {name}: {{{allowed[0]}: ...}}" if value is None
                      else f"must be a mapping with {', '.join(allowed)}, not {_show(value)}")
        self.known(value, name, allowed)
        return {key: item for key, item in value.items() if item is not None}

    def worker_values(self, raw: dict, name: str) -> dict:
        """The values ``raw`` (a worker or ``defaults``) sets, validated; host excluded."""
        checks = {"cores": self.cores, "memory": self.memory, "work_dir": self.path,
                  "python": self.path, "labels": self.labels, "user": self.user,
                  "resources": self.resources,
                  "key": self.key_file, "ssh_port": self.port, "webui_port": self.port}
        return {key: checks[key](value, f"{name}.{key}") for key, value in raw.items()
                if key in checks and value is not None}

    def worker(self, raw: Any, name: str, defaults: dict, ssh: SSHSettings) -> WorkerEntry:
        if isinstance(raw, str):
            raw = {"host": raw}
        if not isinstance(raw, dict):
            self.fail(name, f'must be a host ("10.0.0.2", "alice@10.0.0.2") or a mapping with '
                            f'{", ".join(_WORKER_KEYS)}, not {_show(raw)}')
        self.known(raw, name, _WORKER_KEYS)
        if raw.get("host") is None:
            self.fail(f"{name}.host", "is missing")
        user, host = self.user_at_host(raw["host"], f"{name}.host")
        own = self.worker_values(raw, name)
        if user and own.get("user", user) != user:
            self.fail(f"{name}.user", f'{_show(own["user"])} contradicts the user {_show(user)} '
                                      f'in {name}.host')
        v = {**defaults, **own}
        return WorkerEntry(host, user or v.get("user", ssh.user), v.get("key", ssh.key),
                           v.get("ssh_port", ssh.port), v.get("cores"), v.get("memory"),
                           v.get("work_dir", "work/worker"), v.get("labels", ()), v.get("python"),
                           v.get("resources", ()), v.get("webui_port"))

    def unique(self, workers: Tuple[WorkerEntry, ...], name: str) -> None:
        seen: dict = {}
        for i, worker in enumerate(workers):
            first = seen.setdefault(_identity(worker), i)
            if first != i:
                fix = ("remove one of them (a hosts.conf has no work_dir: to run two workers "
                       "on one host, give each its own work_dir in a cluster.yaml)"
                       if name == "slaves" else "give one of them its own work_dir")
                self.fail(f"{name}[{i}]", f"{_show(worker.host)} is the same worker daemon as "
                          f"{name}[{first}] (same host, ssh port and work_dir); {fix}")

    def host(self, value: Any, key: str) -> str:
        host = valid_host(value)
        if host is None:
            where = "port as master.port" if key.startswith("master") else \
                "SSH port as ssh_port in a cluster.yaml: a hosts.conf has none" \
                if key.startswith("slaves") else "SSH port as ssh_port"
            hint = f" (give the {where})" if ":" in str(value) else \
                f" (give the SSH user as {key.rsplit('.', 1)[0]}.user)" \
                if "@" in str(value) and not key.startswith("slaves") else ""
            self.fail(key, f"{_show(value)} is not a valid host name{hint}")
        return host

    def user(self, value: Any, key: str) -> Optional[str]:
        if value is not None and (not isinstance(value, str) or not _USER_RE.match(value)):
            self.fail(key, f"{_show(value)} is not a valid user name")
        return value

    def user_at_host(self, value: Any, key: str) -> Tuple[Optional[str], str]:
        """``"host"`` or ``"user@host"`` -> (user or None, host)."""
        if not isinstance(value, str) or "@" not in value:
            return None, self.host(value, key)
        user, _, host = value.rpartition("@")
        if not _USER_RE.match(user):
            self.fail(key, f"{_show(value)} has an invalid user name {_show(user)}")
        bare = valid_host(host)
        if bare is None:
            self.fail(key, f"{_show(value)} has an invalid host name {_show(host)}")
        return user, bare

    def port(self, value: Any, key: str) -> int:
        return self.whole(value, key, "a port number (1-65535)", 65535)

    def cores(self, value: Any, key: str) -> int:
        return self.whole(value, key, "a positive whole number", 1 << 31)

    def whole(self, value: Any, key: str, what: str, high: int) -> int:
        """A whole number in 1..high, also written as a string of digits."""
        number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
        if isinstance(number, bool) or not isinstance(number, int) or not 0 < number <= high:
            self.fail(key, f"{_show(value)} is not {what}")
        return number

    def memory(self, value: Any, key: str) -> int:
        try:
            size = parse_size(value if not isinstance(value, float) else "not a size")
        except ValueError:
            self.fail(key, f"{_show(value)} is not a size (e.g. 4g, 512m)")
        if size < 1 << 20:
            self.fail(key, f"{_show(value)} is less than 1m (a plain number means bytes; "
                           "write e.g. 4g)")
        return size

    def seconds(self, value: Any, key: str) -> float:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not 0 < value < MAX_SECONDS):  # also NaN; inf would wait forever
            self.fail(key, f"{_show(value)} is not a number of seconds above 0 and below "
                           f"{MAX_SECONDS}")
        return float(value)

    def path(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip() or "\0" in value or "\n" in value:
            self.fail(key, f"{_show(value)} is not a path")
        return value

    def key_file(self, value: Any, key: str) -> Optional[str]:
        """A local private key: ``~`` expanded; must be an existing file."""
        if value is None:
            return None
        expanded = os.path.expanduser(self.path(value, key))
        if not os.path.isfile(expanded):
            self.fail(key, f"{_show(value)} " + ("is not a file" if os.path.exists(expanded)
                                                 else "does not exist"))
        return expanded

    def known_hosts(self, value: Any, key: str) -> Optional[str]:
        """A local known_hosts file: ``~`` expanded, made absolute; it may not exist yet
        (``--accept-new-host-keys`` creates it) but may not be a directory."""
        if value is None:
            return None
        expanded = os.path.abspath(os.path.expanduser(self.path(value, key)))
        if os.path.exists(expanded) and not os.path.isfile(expanded):
            self.fail(key, f"{_show(value)} is not a file (name a known_hosts file, e.g. "
                           "~/.ssh/known_hosts)")
        if not os.path.isdir(os.path.dirname(expanded)):
            self.fail(key, f"{_show(value)} is in a directory that does not exist")
        return expanded

    def labels(self, value: Any, key: str) -> Tuple[str, ...]:
        """A list, or a comma-separated string, of labels."""
        items = (value.split(",") if value.strip() else []) if isinstance(value, str) else value
        if not isinstance(items, list):
            self.fail(key, f"{_show(value)} is not a list of labels or a comma-separated string")
        labels = tuple(item.strip() if isinstance(item, str) else item for item in items)
        for label in labels:
            if not isinstance(label, str) or not _LABEL_RE.match(label):
                self.fail(key, f"{_show(label)} is not a valid label "
                               "(letters, digits, . _ - : = / +)")
        return labels

    def resources(self, value: Any, key: str) -> Tuple[Tuple[str, int, str], ...]:
        """``{gpu: {amount: 2, discovery_script: /opt/find-gpus.sh}}``: what a worker offers."""
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping of resource names to {{amount: N, "
                           f"discovery_script: PATH}}, not {_show(value)}")
        found = []
        for name, spec in value.items():
            where = f"{key}.{name}"
            if not isinstance(name, str) or not _HOST_RE.match(name):
                self.fail(key, f"{_show(name)} is not a valid resource name")
            if not isinstance(spec, dict):
                self.fail(where, f"must be {{amount: N, discovery_script: PATH}}, not "
                                 f"{_show(spec)}")
            self.known(spec, where, _RESOURCE_KEYS)
            amount = spec.get("amount")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
                self.fail(f"{where}.amount", f"{_show(amount)} is not a whole number of "
                                             "addresses (1 or more)")
            found.append((name, amount, self.path(spec.get("discovery_script"),
                                                  f"{where}.discovery_script")))
        return tuple(sorted(found))

    def namenode(self, value: Any, key: str) -> Optional[str]:
        """A namenode URL (hdfs, webhdfs, http, https); a bare ``host[:port]`` gets ``hdfs://``."""
        if value is None:
            return None
        url = value if not isinstance(value, str) or "://" in value else f"hdfs://{value}"
        try:
            parts = urlsplit(url)
            valid = (parts.scheme in ("hdfs", "webhdfs", "http", "https") and parts.port != 0
                     and bool(_HOST_RE.match(parts.hostname or "")))
        except (TypeError, ValueError, AttributeError):  # not a string; bad or out-of-range port
            valid = False
        if not valid:
            self.fail(key, f"{_show(value)} is not a namenode URL (e.g. hdfs://namenode:9870)")
        return url
