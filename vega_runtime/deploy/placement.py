"""Which workers and how many cores an application may have, as pure functions of the
master's view: where its next executor goes, with its cores and custom resources'
addresses, shared with its other executors when its tasks take a fraction of one
(``worker_for``, ``open_addresses``), placement by labels (``carries_labels``), fair shares
of the cores between applications (``fair_shares``), and why an application that got
nothing waits (``waiting_reason``).  ``MasterState`` (``master_state.py``) applies them
when it grants executors; tests call them with plain values."""

from __future__ import annotations

import collections
import enum
from typing import TYPE_CHECKING, Deque, Dict, List, Optional, Tuple

from ..net.messages import RegisterApplication
from ..records import Record

if TYPE_CHECKING:  # the master's records (master_records imports this module)
    from .master_records import Application, Worker


class SchedulingMode(str, enum.Enum):
    """How the master shares cores between applications (vega.scheduler.mode)."""
    FIFO = "fifo"  # oldest first: each takes what it may (Spark standalone)
    FAIR = "fair"  # each at most an even share of the cores (max-min fair)


#: Exits of an application's executors count against it (vega.master.max_executor_failures)
#: this long (Spark's spark.excludeOnFailure.timeout is 1 h; its master's count starts again
#: once an executor runs).
EXECUTOR_FAILURE_WINDOW = 3600.0


class ExecutorFailures:
    """The exits of an application's executors in the last ``EXECUTOR_FAILURE_WINDOW``,
    by worker.  Counted over the application's life, a months-long one with an exit now
    and then lost its workers one by one, and failed at its tenth exit with none left.

    >>> failures = ExecutorFailures()
    >>> failures.add("w1", now=0.0); failures.add("w1", now=3000.0)
    >>> failures.total, failures.on("w1"), failures.on("w2")
    (2, 2, 0)
    >>> failures.forget_old(now=3601.0), failures.total, failures.on("w1")
    (True, 1, 1)
    """

    def __init__(self) -> None:
        self._exits: Deque[Tuple[float, str]] = collections.deque()  # (when, worker), oldest first
        self._on: Dict[str, int] = {}

    @property
    def total(self) -> int:
        return len(self._exits)

    def on(self, worker_id: str) -> int:
        return self._on.get(worker_id, 0)

    def add(self, worker_id: str, now: float) -> None:
        self.forget_old(now)
        self._exits.append((now, worker_id))
        self._on[worker_id] = self._on.get(worker_id, 0) + 1

    def forget_old(self, now: float) -> bool:
        """Forget the exits past the window; whether any went."""
        before = len(self._exits)
        while self._exits and now - self._exits[0][0] > EXECUTOR_FAILURE_WINDOW:
            _, worker_id = self._exits.popleft()
            self._on[worker_id] -= 1
            if not self._on[worker_id]:
                del self._on[worker_id]
        return len(self._exits) < before

    def shift(self, step: float) -> None:
        """The clock was stepped (``MasterState.shift_times``)."""
        self._exits = collections.deque((when + step, w) for when, w in self._exits)


class ExecutorShare(Record):
    """What one executor holds of its worker: memory, cores and custom resources' addresses."""
    memory: int
    cores: int
    resources: Dict[str, List[str]]

    def __init__(self, memory, cores=1, resources=None):
        self.memory = memory
        self.cores = cores
        self.resources = {} if resources is None else resources


def free_addresses(resources: Dict[str, List[str]],
                   shares: List[ExecutorShare]) -> Dict[str, List[str]]:
    """The addresses of ``resources`` (a worker's) no executor of ``shares`` holds.

    >>> free_addresses({"gpu": ["0", "1"]}, [ExecutorShare(0, 1, {"gpu": ["0"]})])
    {'gpu': ['1']}
    """
    held = {(name, a) for share in shares for name, addresses in share.resources.items()
            for a in addresses}
    return {name: [a for a in addresses if (name, a) not in held]
            for name, addresses in resources.items()}


def open_addresses(resources: Dict[str, List[str]],
                   executors: Dict[Tuple[str, str], ExecutorShare], app_id: str,
                   sharing: Dict[str, int]) -> Dict[str, List[str]]:
    """The addresses of ``resources`` (a worker's) that a new executor of ``app_id`` may
    hold, given its worker's ``executors`` (``{(app_id, executor_id): share}``): those no
    executor holds and, of a resource the application's tasks take a fraction of, those
    fewer than ``sharing[name]`` of its own executors hold, and none of another's; the
    addresses it shares already first, so it leaves whole addresses to other applications
    (as Spark's executor fills an address with tasks before it takes the next).

    >>> held = {("a", "exec-1"): ExecutorShare(0, 1, {"gpu": ["1"]}),
    ...         ("b", "exec-1"): ExecutorShare(0, 1, {"gpu": ["2"]})}
    >>> open_addresses({"gpu": ["0", "1", "2"]}, held, "a", {"gpu": 2})
    {'gpu': ['1', '0']}
    >>> open_addresses({"gpu": ["0", "1", "2"]}, held, "a", {})
    {'gpu': ['0']}
    """
    holders: Dict[Tuple[str, str], List[str]] = {}
    for (holder, _), share in executors.items():
        for name, addresses in share.resources.items():
            for address in addresses:
                holders.setdefault((name, address), []).append(holder)
    found = {}
    for name, addresses in resources.items():
        limit = sharing.get(name, 1)
        shared = [a for a in addresses if holders.get((name, a))
                  and set(holders[(name, a)]) == {app_id} and len(holders[(name, a)]) < limit]
        found[name] = shared + [a for a in addresses if not holders.get((name, a))]
    return found


def least_used_first(taken: Dict[str, List[str]],
                     executors: Dict[Tuple[str, str], ExecutorShare],
                     app_id: str) -> Dict[str, List[str]]:
    """``taken`` (a new executor's addresses) with the address fewest of ``app_id``'s
    executors run their task on (their first: ``resources.task_addresses``) first, so that
    executors holding two shared GPUs run their tasks on both, not all on the first.

    >>> held = {("a", "exec-1"): ExecutorShare(0, 1, {"gpu": ["0", "1"]})}
    >>> least_used_first({"gpu": ["0", "1"]}, held, "a")
    {'gpu': ['1', '0']}
    """
    using: Dict[Tuple[str, str], int] = {}
    for (holder, _), share in executors.items():
        for name, addresses in share.resources.items():
            if holder == app_id and addresses:
                using[(name, addresses[0])] = using.get((name, addresses[0]), 0) + 1
    return {name: sorted(addresses, key=lambda a, n=name: using.get((n, a), 0))
            for name, addresses in taken.items()}


def take_addresses(free: Dict[str, List[str]],
                   wanted: Dict[str, int]) -> Optional[Dict[str, List[str]]]:
    """The addresses an executor wanting ``wanted`` gets of ``free``, or None if too few.

    >>> take_addresses({"gpu": ["1", "2"]}, {"gpu": 1}), take_addresses({}, {"gpu": 1})
    ({'gpu': ['1']}, None)
    """
    if any(len(free.get(name, ())) < amount for name, amount in wanted.items()):
        return None
    return {name: free[name][:amount] for name, amount in wanted.items()}


def worker_for(app: "Application", alive: List["Worker"], max_executor_failures: int
               ) -> Optional[Tuple["Worker", Dict[str, List[str]]]]:
    """Where ``app``'s next executor goes: of the ``alive`` workers with room (cores, memory,
    custom resources) carrying its labels, the one running fewest of its executors (then
    most free cores), so they spread over the cluster; with the addresses it gets there."""
    request = app.request
    cores = request.cores_per_executor
    best, best_key = None, None
    for worker in alive:
        if (worker.cores - worker.cores_used < cores
                or worker.memory - worker.memory_used < request.executor_memory
                or not carries_labels(worker.labels, request.labels)):
            continue
        if app.failures.on(worker.worker_id) >= max_executor_failures:
            continue  # its executors keep failing there
        mine = sum(1 for (a, _) in worker.executors if a == app.app_id)
        if request.executor_cores and (mine + 1) * cores > request.executor_cores:
            continue
        addresses = take_addresses(open_addresses(worker.resources, worker.executors,
                                                  app.app_id, request.executors_per_address),
                                   request.executor_resources)
        key = (mine, worker.cores_used - worker.cores, worker.worker_id)
        if addresses is not None and (best_key is None or key < best_key):
            best, best_key = (worker, least_used_first(addresses, worker.executors,
                                                       app.app_id)), key
    return best


def carries_labels(worker_labels: List[str], required: List[str]) -> bool:
    """Whether a worker with ``worker_labels`` may run executors of an application that
    asks for ``required`` (vega.executor.labels): it carries every one of them.

    >>> carries_labels(["gpu", "ssd", "rack-1"], ["gpu", "ssd"])
    True
    >>> carries_labels(["gpu"], ["gpu", "ssd"])
    False
    """
    return set(required) <= set(worker_labels)


def fair_shares(cores: int, demands: List[Tuple[str, int]]) -> Dict[str, int]:
    """Max-min fair shares of ``cores`` between applications ``[(app_id, cores_max)]``
    (oldest first; a cores_max of 0 wants everything): an even share each, what an
    application does not want going to the others, a remainder to the oldest.

    >>> fair_shares(8, [("a", 0), ("b", 0), ("c", 0)])
    {'a': 3, 'b': 3, 'c': 2}
    >>> fair_shares(8, [("a", 0), ("b", 1), ("c", 0)])
    {'a': 4, 'b': 1, 'c': 3}
    """
    shares = {app_id: 0 for app_id, _ in demands}
    wanting = [(app_id, want or cores) for app_id, want in demands]
    left = cores
    while left > 0 and wanting:
        even = max(1, left // len(wanting))
        for app_id, want in list(wanting):
            give = min(even, want - shares[app_id], left)
            shares[app_id] += give
            left -= give
            if shares[app_id] >= want:
                wanting.remove((app_id, want))
            if left == 0:
                break
    return shares


def waiting_reason(request: RegisterApplication, alive: List[Worker],
                   holders: List[str],
                   mode: SchedulingMode = SchedulingMode.FIFO, lost: int = 0,
                   stopped: int = 0) -> str:
    """Why an application got no executor, for its driver and ``vega status``: no workers
    (none yet, the ``lost`` ones gone silent or disconnected, or the ``stopped`` ones
    stopped on purpose, which the master shows dead); none carrying its labels
    (naming the labels nobody has); none with enough memory; or the cores of those it may
    use taken by ``holders`` (the other applications there)."""
    if not alive and stopped and not lost:
        return (f"no worker is alive: the {stopped} registered with the master "
                f"{'has' if stopped == 1 else 'have'} stopped (vega status shows "
                f"{'it' if stopped == 1 else 'them'} dead): the job will start when a worker "
                "registers (vega start-workers, or vega worker vega://MASTER:PORT)")
    if not alive and stopped:
        return (f"no worker is alive: of those registered with the master, {lost} "
                f"{'is' if lost == 1 else 'are'} lost (connection closed or no heartbeat) and "
                f"{stopped} stopped (vega status shows them): the job will start when one "
                "comes back or another registers (vega worker vega://MASTER:PORT)")
    if not alive and lost:
        return (f"no worker is alive: the {lost} registered with the master "
                f"{'is' if lost == 1 else 'are'} lost (connection closed or no heartbeat; "
                "vega status shows them): the job will start when one comes back or another "
                "registers (vega worker vega://MASTER:PORT)")
    if not alive:
        return ("no workers are registered with the master yet: the job will start when one "
                "registers (vega worker vega://MASTER:PORT)")
    required = list(request.labels)
    usable = [w for w in alive if carries_labels(w.labels, required)]
    if not usable:
        wanted = ",".join(required)
        missing = [label for label in required if not any(label in w.labels for w in alive)]
        if missing:
            return (f"no worker has the label{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)} (vega.executor.labels={wanted}): the job will start "
                    f"when a worker with all of them registers (vega worker --labels {wanted})")
        return (f"no single worker has all the labels {', '.join(required)} "
                f"(vega.executor.labels={wanted}), though each is on some worker: the job "
                f"will start when a worker with all of them registers (vega worker --labels "
                f"{wanted})")
    where = "worker carrying its labels" if required else "worker"
    cores = request.cores_per_executor
    if max(w.cores for w in usable) < cores:
        return (f"no {where} has {cores} cores for one executor, which runs one task of "
                f"{cores} CPUs at a time (vega.task.cpus, spark.task.cpus): ask for fewer CPUs "
                "per task or add a worker with more cores")
    for name, amount in sorted(request.executor_resources.items()):
        if not any(len(w.resources.get(name, ())) >= amount for w in usable):
            return (f"no {where} has {amount} {name} for one executor "
                    f"(vega.executor.resource.{name}.amount): the job will start when one "
                    f"registers (a worker offers them with vega.worker.resource.{name}.amount "
                    f"and .discovery_script)")
    largest = max(w.memory for w in usable)
    if largest < request.executor_memory:
        return (f"no {where} can give an executor {request.executor_memory >> 20} MiB (the "
                f"largest has {largest >> 20} MiB): lower --executor-memory or add a larger "
                "worker")
    taken = f" by {', '.join(holders)}" if holders else ""
    whose = "of the workers carrying its labels " if required else ""
    if request.executor_resources and all(
            take_addresses(free_addresses(w.resources, list(w.executors.values())),
                           request.executor_resources) is None for w in usable):
        what = f"{', '.join(sorted(request.executor_resources))} {whose}are taken{taken}"
    elif any(w.cores - w.cores_used >= cores for w in usable):
        what = f"memory {whose}is taken{taken}: none has {request.executor_memory >> 20} MiB free"
        if mode != SchedulingMode.FAIR:  # cores are free: memory is what it waits for
            return (f"all {what}; waiting for memory to free up (give applications a smaller "
                    "--executor-memory, or vega.cores.max (--total-executor-cores), so that "
                    "several share the cluster)")
    else:
        what = f"cores {whose}are taken{taken}"
    if mode == SchedulingMode.FAIR:
        return (f"all {what}; waiting for them to give back executors beyond their fair share "
                "(vega.scheduler.mode=fair: idle executors go back with dynamic allocation, "
                "all of them when an application ends)")
    return (f"all {what}; waiting for free cores (give applications vega.cores.max "
            "(--total-executor-cores) so that several share the cluster)")


def beyond_cap(request, executors: int) -> bool:
    """Whether ``executors`` executors of an application asking ``request``
    (``RegisterApplication``) hold more cores than its ``cores_max`` (0: no cap)."""
    return bool(request.cores_max) and executors * request.cores_per_executor > request.cores_max
