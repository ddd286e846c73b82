"""Custom resources (GPUs, FPGAs), CPUs per task, and stage-level resource profiles, as
Spark has them ("Custom Resource Scheduling" and "Stage Level Scheduling" in Spark's
configuration and scheduling guides).

Settings, by family (Spark's names map to these, ``pyspark_compat.conf``):

- ``vega.{driver,worker,executor}.resource.NAME.amount``: whole addresses of resource NAME
  the driver, a worker or each executor has; ``...discovery_script``: the program that
  prints them as JSON, ``{"name": "gpu", "addresses": ["0", "1"]}`` (driver and worker);
  ``vega.worker.resources_file``: a file listing a worker's (Spark's format), instead;
- ``vega.task.resource.NAME.amount``: what each task takes of its executor's (a share of
  one address up to 1, ``tasks_per_address`` tasks on it, or a whole number: Spark's rule);
- ``vega.executor.env.VAR``: an environment variable of every executor
  (``spark.executorEnv.VAR``).

A worker discovers its resources when it starts and offers them to the master, which
gives each executor its own addresses, or, when tasks take a share of an address, lets up to
``tasks_per_address`` executors of one application hold one (``address_sharing``); an
executor runs one task at a time, which gets the first addresses it asks for
(``TaskContext.resources()``).  In ``local`` modes the tasks
use the driver's resources, as Spark's local executor does.  ``vega.task.cpus`` is what
each task takes of the cores: each executor holds that many (rounded up) of its worker's.

``ResourceProfile`` (``rdd.with_resources``) changes what a stage's tasks take, within what
the application's executors have (Spark's ``TaskResourceProfile`` without dynamic
allocation); a profile that asks for other executors is refused when its job starts.
"""

from __future__ import annotations

import errno
import json
import math
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .errors import VegaError
from .records import Record

#: ``vega.ROLE.resource.NAME.FIELD``
FAMILY = r"^vega\.(driver|worker|executor|task)\.resource\.([A-Za-z0-9][\w.-]*?)\." \
         r"(amount|discovery_script|vendor)$"
#: ``vega.executor.env.VAR``
ENV_FAMILY = r"^vega\.executor\.env\.([A-Za-z_][A-Za-z0-9_]*)$"
#: seconds a discovery script may take
DISCOVERY_TIMEOUT = 60.0
#: the executor's environment variable that holds its addresses (JSON, set by its worker)
EXECUTOR_RESOURCES_ENV = "VEGA_EXECUTOR_RESOURCES"


class ResourceError(VegaError):
    """A resource cannot be discovered, or what is asked for cannot be had."""


# -- settings ----------------------------------------------------------------------------

def _whole_amount(text: Any) -> int:
    value = _number(text)
    if value != int(value) or value < 0:
        raise ValueError(f"{text!r} is not a whole number of addresses (0 or more)")
    return int(value)


def task_amount(text: Any) -> float:
    """What a task takes of a resource: a fraction up to 1 (tasks sharing one address,
    ``tasks_per_address`` of them) or a whole number of addresses, Spark's rule.

    >>> task_amount("0.5"), task_amount(2)
    (0.5, 2.0)
    >>> task_amount("1.5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: '1.5' is neither a fraction up to 1 nor a whole number: ...
    """
    value = _number(text)
    if value <= 0 or (value > 1 and value != int(value)):
        raise ValueError(f"{text!r} is neither a fraction up to 1 nor a whole number: a task "
                         "takes a share of one address (0.25: 4 tasks on each) or whole "
                         "addresses, Spark's rule (the amount must be either <= 1.0, or a "
                         "whole number)")
    return value


def tasks_per_address(amount: float) -> int:
    """How many tasks taking ``amount`` of a resource share one of its addresses: 1/amount
    rounded down for a fraction (Spark floors it: 0.3 runs 3 tasks on an address, 0.6 one),
    1 for whole addresses.

    >>> [tasks_per_address(a) for a in (0.25, 0.5, 1 / 3, 0.3, 0.6, 1.0, 2.0)]
    [4, 2, 3, 3, 1, 1, 1]
    """
    if amount >= 1:
        return 1
    return max(1, math.floor(1 / amount + 1e-9))  # (1 / (1/93) falls just short of 93)


def _number(text: Any) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a number") from None
    if isinstance(text, bool) or not math.isfinite(value):
        raise ValueError(f"{text!r} is not a number")
    return value


def family_parser(key: str) -> Optional[Callable[[Any], Any]]:
    """The parser of a setting of the families above, or None if ``key`` is not one.

    >>> family_parser("vega.task.resource.gpu.amount")("0.25")
    0.25
    >>> family_parser("vega.executor.resource.gpu.amount")("2"), family_parser("vega.x") is None
    (2, True)
    """
    match = re.match(FAMILY, key)
    if match:
        role, _, field = match.groups()
        if field == "amount":
            return task_amount if role == "task" else _whole_amount
        if field == "discovery_script" and role in ("driver", "worker"):
            return _text
        return _text if field == "vendor" and role != "task" else None
    return _text if re.match(ENV_FAMILY, key) else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def resource_amounts(conf: Mapping[str, Any], role: str) -> Dict[str, float]:
    """``{name: amount}`` of ``vega.ROLE.resource.NAME.amount`` settings (0 amounts left out)."""
    found = {}
    for key, value in conf.items():
        match = re.match(FAMILY, key)
        if match and match.group(1) == role and match.group(3) == "amount" and value:
            found[match.group(2)] = value
    return dict(sorted(found.items()))


def worker_resource_settings(flag: str) -> Dict[str, Any]:
    """The settings of ``vega worker --resource NAME=AMOUNT:SCRIPT``.

    >>> worker_resource_settings("gpu=2:/opt/find-gpus.sh")["vega.worker.resource.gpu.amount"]
    2
    >>> worker_resource_settings("gpu:2")
    Traceback (most recent call last):
    ...
    ValueError: 'gpu:2' is not NAME=AMOUNT:SCRIPT (e.g. gpu=2:/opt/find-gpus.sh)
    """
    name, _, rest = flag.partition("=")
    amount, _, script = rest.partition(":")
    key = f"vega.worker.resource.{name.strip()}."
    if not script.strip() or family_parser(key + "amount") is None:
        raise ValueError(f"{flag!r} is not NAME=AMOUNT:SCRIPT (e.g. gpu=2:/opt/find-gpus.sh)")
    return {key + "amount": _whole_amount(amount), key + "discovery_script": script.strip()}


def executor_env(conf: Mapping[str, Any]) -> Dict[str, str]:
    """The environment variables every executor gets (``vega.executor.env.VAR``)."""
    return {re.match(ENV_FAMILY, k).group(1): str(v) for k, v in conf.items()
            if re.match(ENV_FAMILY, k)}


def executor_cores(task_cpus: float) -> int:
    """The cores an executor holds: its one task at a time takes ``task_cpus`` of them.

    >>> executor_cores(1.0), executor_cores(2.0), executor_cores(0.25)
    (1, 2, 1)
    """
    return max(1, math.ceil(task_cpus))


# -- discovery ---------------------------------------------------------------------------

class ResourceInformation(Record):
    """The addresses of one resource (PySpark's ``pyspark.resource.ResourceInformation``)."""
    name: str
    addresses: List[str]

    def __init__(self, name, addresses):
        self.name = name
        self.addresses = addresses


def discover(conf: Mapping[str, Any], role: str) -> Dict[str, ResourceInformation]:
    """The resources ``role`` (driver or worker) has, ``{name: ResourceInformation}``, as
    Spark's ``getOrDiscoverAllResources`` finds them: those a worker's resources file lists
    (``vega.worker.resources_file``), then, for each other resource it is to have, what its
    discovery script prints; each resource it is to have must have at least its amount."""
    path = conf.get(f"vega.{role}.resources_file") or ""
    found = read_resources_file(path, role) if path else {}
    for name, amount in resource_amounts(conf, role).items():
        if name in found:
            if len(found[name].addresses) < amount:
                raise ResourceError(f"the {role} is to have {amount:g} {name} but its "
                                    f"resources file {path} lists {len(found[name].addresses)}: "
                                    f"{found[name].addresses}")
            continue
        script = conf.get(f"vega.{role}.resource.{name}.discovery_script")
        if not script:
            listed = " or list them in vega.worker.resources_file" if role == "worker" else ""
            raise ResourceError(f"the {role} is to have {amount:g} {name} "
                                f"(vega.{role}.resource.{name}.amount) but has no discovery "
                                f"script to find them: set vega.{role}.resource.{name}."
                                f"discovery_script (Spark's spark.{role}.resource.{name}."
                                f"discoveryScript){listed}")
        info = run_discovery_script(name, script)
        if len(info.addresses) < amount:
            raise ResourceError(f"the {role} is to have {amount:g} {name} but its discovery "
                                f"script {script} found {len(info.addresses)}: "
                                f"{info.addresses}")
        found[name] = info
    return found


def read_resources_file(path: str, role: str) -> Dict[str, ResourceInformation]:
    """The resources a resources file gives ``role``: Spark's format, a JSON array of
    ``{"id": {"componentName": "spark.ROLE", "resourceName": NAME}, "addresses": [...]}``
    (entries of other components are for them, and left out).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
    ...     _ = fh.write('[{"id": {"componentName": "spark.worker", "resourceName": "gpu"},'
    ...                  ' "addresses": ["0", 1]}, {"id": {"componentName": "spark.driver",'
    ...                  ' "resourceName": "fpga"}, "addresses": ["f"]}]')
    ...     fh.flush()
    ...     read_resources_file(fh.name, "worker")
    {'gpu': ResourceInformation(name='gpu', addresses=['0', '1'])}
    """
    shape = (f'a JSON array of {{"id": {{"componentName": "spark.{role}", "resourceName": '
             f'NAME}}, "addresses": [...]}}')
    try:
        with open(path, encoding="utf-8") as fh:
            entries = json.load(fh)
    except OSError as exc:
        raise ResourceError(f"cannot read the {role}'s resources file {path}: "
                            f"{exc.strerror or exc}") from None
    except ValueError as exc:
        raise ResourceError(f"the {role}'s resources file {path} is not JSON ({exc}): "
                            f"write {shape}") from None
    if not isinstance(entries, list):
        raise ResourceError(f"the {role}'s resources file {path} holds a JSON "
                            f"{type(entries).__name__}, not {shape}")
    found = {}
    for entry in entries:
        ident = entry.get("id") if isinstance(entry, dict) else None
        addresses = entry.get("addresses") if isinstance(entry, dict) else None
        if not (isinstance(ident, dict) and isinstance(ident.get("componentName"), str)
                and isinstance(ident.get("resourceName"), str)
                and isinstance(addresses, list)
                and all(isinstance(a, (str, int)) for a in addresses)):
            raise ResourceError(f"the {role}'s resources file {path} holds {entry!r}, which is "
                                f"not an entry of {shape}")
        if ident["componentName"] == f"spark.{role}":
            name = ident["resourceName"]
            found[name] = ResourceInformation(name, [str(a) for a in addresses])
    return found


def run_discovery_script(name: str, script: str) -> ResourceInformation:
    """What ``script`` prints: ``{"name": NAME, "addresses": [...]}`` (Spark's format)."""
    import subprocess

    def run(argv):
        return subprocess.run(argv, capture_output=True, text=True, timeout=DISCOVERY_TIMEOUT,
                              check=False)

    try:
        try:
            done = run([script])
        except OSError as exc:  # a script without "#!": the shell's, as execvp runs it
            if exc.errno != errno.ENOEXEC:
                raise
            done = run(["/bin/sh", script])
    except (OSError, subprocess.SubprocessError) as exc:
        raise ResourceError(f"could not run the discovery script of {name}, {script}: "
                            f"{exc}") from None
    if done.returncode != 0:
        raise ResourceError(f"the discovery script of {name}, {script}, exited with code "
                            f"{done.returncode}: {done.stderr.strip()[-500:]}")
    try:
        found = json.loads(done.stdout)
        addresses = [str(a) for a in found["addresses"]]
        if found["name"] != name:
            raise ValueError(f"it names {found['name']!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise ResourceError(f"the discovery script of {name}, {script}, printed "
                            f"{done.stdout.strip()[:200]!r}, not "
                            f'{{"name": "{name}", "addresses": [...]}} ({exc})') from None
    return ResourceInformation(name, addresses)


# -- tasks ---------------------------------------------------------------------------------

def task_addresses(executor: Mapping[str, List[str]],
                   wanted: Mapping[str, float]) -> Dict[str, ResourceInformation]:
    """What one task of an executor gets: of each resource it asks for, the first addresses
    (one for a fraction, which other executors of the application may share with it; the
    executor runs one task at a time).

    >>> task_addresses({"gpu": ["0", "1"]}, {"gpu": 0.5})
    {'gpu': ResourceInformation(name='gpu', addresses=['0'])}
    """
    return {name: ResourceInformation(name, executor.get(name, [])[:math.ceil(amount)])
            for name, amount in wanted.items()}


def check_task_fits(task_cpus: float, task_resources: Mapping[str, float], cores: int,
                    executor: Mapping[str, float], where: str,
                    sharing: Optional[Mapping[str, int]] = None) -> None:
    """Refuse tasks that ask for more than one executor has (Spark's check at start-up), or
    for a larger share of an address than the executors' ``sharing`` of it leaves them (a
    stage's profile asking 1 gpu of executors that share each address among 4)."""
    if task_cpus > cores:
        raise ResourceError(f"each task asks for {task_cpus:g} CPUs but {where} has "
                            f"{cores}: ask for fewer (vega.task.cpus, spark.task.cpus)")
    for name, amount in task_resources.items():
        have = executor.get(name, 0)
        if math.ceil(amount) > have:
            raise ResourceError(
                f"each task asks for {amount:g} {name} but {where} has {have:g}: "
                f"give executors {name} (vega.executor.resource.{name}.amount; in local modes, "
                f"the driver: vega.driver.resource.{name}.amount) or ask for less")
        shared = (sharing or {}).get(name, 1)
        if tasks_per_address(amount) < shared:
            raise ResourceError(
                f"each task asks for {amount:g} {name} but {where} shares each {name} address "
                f"with {shared - 1} other executor{'s' if shared > 2 else ''} of the "
                f"application (vega.task.resource.{name}.amount gives {shared} tasks an "
                f"address), each running a task at once: ask for 1/{shared} or less")


# -- an application's plan ---------------------------------------------------------------

class ResourcePlan(Record):
    """What an application's executors and tasks have and take, decided when its Context
    starts (``plan``)."""
    #: the driver's resources (``SparkContext.resources``)
    driver: Dict[str, ResourceInformation]
    task_cpus: float
    task_resources: Dict[str, float]
    #: cores and amounts of resources each executor has (its one task at a time may take)
    executor_cores: int
    executor_resources: Dict[str, float]
    #: ``local[N]``: the addresses of each executor process (their number: how many tasks
    #: run at once); other masters: []
    local_executors: List[Dict[str, List[str]]]
    executor_env: Dict[str, str]
    #: of each resource tasks take a fraction of, how many executors (each running one
    #: task at a time) may hold one address (``tasks_per_address``; the master's rule)
    address_sharing: Dict[str, int]

    def __init__(self, driver, task_cpus, task_resources, executor_cores, executor_resources,
                 local_executors, executor_env, address_sharing=None):
        self.driver = driver
        self.task_cpus = task_cpus
        self.task_resources = task_resources
        self.executor_cores = executor_cores
        self.executor_resources = executor_resources
        self.local_executors = local_executors
        self.executor_env = executor_env
        self.address_sharing = {} if address_sharing is None else address_sharing

    def settings(self) -> Dict[str, Any]:
        """What the job runner and every task are told (``JobRunner.settings``)."""
        return {"task_cpus": self.task_cpus, "task_resources": self.task_resources,
                "executor_cores": self.executor_cores,
                "executor_resources": self.executor_resources,
                "executor_env": self.executor_env, "address_sharing": self.address_sharing}


def plan(conf: Mapping[str, Any], kind: str, cores: int) -> ResourcePlan:
    """The resource plan of an application on a master of ``kind`` (``inline``, ``local``:
    ``cores`` of them; else a cluster), the driver's resources discovered; refuses tasks
    that ask for more than an executor has (Spark's checks when a SparkContext starts)."""
    driver = discover(conf, "driver")
    cpus, wanted = conf["vega.task.cpus"], resource_amounts(conf, "task")
    env = executor_env(conf)
    if kind in ("inline", "local"):  # the tasks use the driver's resources
        have = {name: float(len(info.addresses)) for name, info in driver.items()}
        check_task_fits(cpus, wanted, cores, have,
                        f"this {'local' if kind == 'inline' else f'local[{cores}]'} master "
                        "(its driver)")
        executors = local_executors(cores, cpus, wanted, driver)
        return ResourcePlan(driver, cpus, wanted, executor_cores(cpus), have, executors, env,
                            {} if kind == "inline" else most_sharing(executors))
    have = resource_amounts(conf, "executor")
    cores_each = executor_cores(cpus)
    check_task_fits(cpus, wanted, cores_each, have, "each executor")
    sharing = {name: tasks_per_address(amount) for name, amount in wanted.items()
               if tasks_per_address(amount) > 1}
    for key in ("vega.cores.max", "vega.executor.cores"):  # caps no executor would fit in
        if 0 < conf.get(key, 0) < cores_each:
            raise ResourceError(f"{key} ({conf[key]}) is less than the {cores_each} cores each "
                                f"executor holds (vega.task.cpus, {cpus:g}): no executor could "
                                "start; raise it or ask for fewer CPUs per task")
    return ResourcePlan(driver, cpus, wanted, cores_each, have, [], env, sharing)


def most_sharing(executors: List[Dict[str, List[str]]]) -> Dict[str, int]:
    """Of each resource, the most of ``executors`` holding one of its addresses (when more
    than one).

    >>> most_sharing([{"gpu": ["0"]}, {"gpu": ["0"]}, {"gpu": ["1"]}])
    {'gpu': 2}
    """
    counts: Dict[Tuple[str, str], int] = {}
    for held in executors:
        for name, addresses in held.items():
            for address in addresses:
                counts[(name, address)] = counts.get((name, address), 0) + 1
    found: Dict[str, int] = {}
    for (name, _), count in counts.items():
        found[name] = max(found.get(name, 1), count)
    return {name: count for name, count in sorted(found.items()) if count > 1}


def local_executors(cores: int, task_cpus: float, wanted: Mapping[str, float],
                    driver: Mapping[str, ResourceInformation]) -> List[Dict[str, List[str]]]:
    """The addresses of each of ``local[cores]``'s executor processes, one task at a time
    each: as many as tasks fit at once in the cores and in the driver's resources (a task
    taking 0.5 of an address shares it with one other).

    >>> gpus = {"gpu": ResourceInformation("gpu", ["0", "1"])}
    >>> local_executors(4, 1.0, {"gpu": 1.0}, gpus)
    [{'gpu': ['0']}, {'gpu': ['1']}]
    >>> local_executors(4, 2.0, {"gpu": 0.5}, gpus)
    [{'gpu': ['0']}, {'gpu': ['0']}]
    """
    count = cores // executor_cores(task_cpus)
    for name, amount in wanted.items():
        per_task = math.ceil(amount)
        count = min(count, len(driver[name].addresses) // per_task * tasks_per_address(amount))
    executors = []
    for index in range(count):
        addresses = {}
        for name, amount in wanted.items():
            per_task = math.ceil(amount)
            first = (index // tasks_per_address(amount)) * per_task
            addresses[name] = driver[name].addresses[first:first + per_task]
        executors.append(addresses)
    return executors


# -- profiles (PySpark's pyspark.resource) --------------------------------------------------

class ExecutorResourceRequest(Record):
    resourceName: str
    amount: int
    discoveryScript: str
    vendor: str

    def __init__(self, resourceName, amount, discoveryScript="", vendor=""):
        self.resourceName = resourceName
        self.amount = amount
        self.discoveryScript = discoveryScript
        self.vendor = vendor


class TaskResourceRequest(Record):
    resourceName: str
    amount: float

    def __init__(self, resourceName, amount):
        self.resourceName = resourceName
        self.amount = amount


_MIB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def _mebibytes(amount: Any) -> int:
    """Spark's memory amounts in executor requests: a number of MiB, or with a unit.

    >>> _mebibytes("6g"), _mebibytes("512m"), _mebibytes(100)
    (6144, 512, 100)
    """
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)b?\s*", str(amount).lower())
    if not match:
        raise ValueError(f"{amount!r} is not an amount of memory (e.g. 6g, 512m)")
    return int(int(match.group(1)) * _MIB[match.group(2) or "m"])


class ExecutorResourceRequests:
    """What executors of a profile are to have (PySpark's builder of the name)."""

    def __init__(self):
        self._requests: Dict[str, ExecutorResourceRequest] = {}

    def _add(self, name: str, amount: Any) -> "ExecutorResourceRequests":
        self._requests[name] = ExecutorResourceRequest(name, amount)
        return self

    def memory(self, amount: Any) -> "ExecutorResourceRequests":
        return self._add("memory", _mebibytes(amount))

    def memoryOverhead(self, amount: Any) -> "ExecutorResourceRequests":  # noqa: N802
        return self._add("memoryOverhead", _mebibytes(amount))

    def pysparkMemory(self, amount: Any) -> "ExecutorResourceRequests":  # noqa: N802
        return self._add("pyspark.memory", _mebibytes(amount))

    def offheapMemory(self, amount: Any) -> "ExecutorResourceRequests":  # noqa: N802
        return self._add("offHeap", _mebibytes(amount))

    def cores(self, amount: int) -> "ExecutorResourceRequests":
        return self._add("cores", int(amount))

    def resource(self, resourceName: str, amount: int, discoveryScript: str = "",  # noqa: N803
                 vendor: str = "") -> "ExecutorResourceRequests":
        self._requests[resourceName] = ExecutorResourceRequest(resourceName, int(amount),
                                                               discoveryScript, vendor)
        return self

    @property
    def requests(self) -> Dict[str, ExecutorResourceRequest]:
        return dict(self._requests)


class TaskResourceRequests:
    """What each task of a profile takes (PySpark's builder of the name)."""

    def __init__(self):
        self._requests: Dict[str, TaskResourceRequest] = {}

    def cpus(self, amount: float) -> "TaskResourceRequests":
        self._requests["cpus"] = TaskResourceRequest("cpus", float(amount))
        return self

    def resource(self, resourceName: str, amount: float) -> "TaskResourceRequests":  # noqa: N803
        self._requests[resourceName] = TaskResourceRequest(resourceName, task_amount(amount))
        return self

    @property
    def requests(self) -> Dict[str, TaskResourceRequest]:
        return dict(self._requests)


class ResourceProfile(Record):
    """Executor and task requests for the stages computing an RDD (``rdd.with_resources``)."""
    executorResources: Dict[str, ExecutorResourceRequest]
    taskResources: Dict[str, TaskResourceRequest]

    def __init__(self, executorResources=None, taskResources=None):  # noqa: N803
        self.executorResources = {} if executorResources is None else executorResources
        self.taskResources = {} if taskResources is None else taskResources

    @property
    def id(self) -> int:  # noqa: A003 - PySpark's name
        return hash((tuple(sorted((k, r.amount) for k, r in self.executorResources.items())),
                     tuple(sorted((k, r.amount) for k, r in self.taskResources.items())))) \
            & 0x7FFFFFFF

    def task_needs(self, default_cpus: float,
                   default_resources: Mapping[str, float]) -> Tuple[float, Dict[str, float]]:
        """(CPUs, {resource: amount}) each task of this profile takes: its own requests
        over the application's (``vega.task.*``)."""
        cpus = self.taskResources["cpus"].amount if "cpus" in self.taskResources \
            else default_cpus
        resources = dict(default_resources)
        resources.update({k: r.amount for k, r in self.taskResources.items() if k != "cpus"})
        return cpus, resources


class ResourceProfileBuilder:
    """PySpark's ``ResourceProfileBuilder``: ``require`` requests, then ``build``."""

    def __init__(self):
        self._executor: Dict[str, ExecutorResourceRequest] = {}
        self._task: Dict[str, TaskResourceRequest] = {}

    def require(self, resourceRequest) -> "ResourceProfileBuilder":  # noqa: N803 - PySpark's
        if isinstance(resourceRequest, ExecutorResourceRequests):
            self._executor.update(resourceRequest.requests)
        elif isinstance(resourceRequest, TaskResourceRequests):
            self._task.update(resourceRequest.requests)
        else:
            raise TypeError("require() takes ExecutorResourceRequests or TaskResourceRequests, "
                            f"not {type(resourceRequest).__name__}")
        return self

    def clearExecutorResourceRequests(self) -> None:  # noqa: N802
        self._executor.clear()

    def clearTaskResourceRequests(self) -> None:  # noqa: N802
        self._task.clear()

    @property
    def executorResources(self) -> Dict[str, ExecutorResourceRequest]:  # noqa: N802
        return dict(self._executor)

    @property
    def taskResources(self) -> Dict[str, TaskResourceRequest]:  # noqa: N802
        return dict(self._task)

    @property
    def build(self) -> ResourceProfile:
        return ResourceProfile(dict(self._executor), dict(self._task))


def task_cpu_amount(cpus: float):
    """``TaskContext.cpuAmount()``: the CPUs as given, exactly, a ``decimal.Decimal``
    (``0.1`` is ``Decimal("0.1")``)."""
    from decimal import Decimal

    return Decimal(int(cpus)) if cpus == int(cpus) else Decimal(repr(float(cpus)))
