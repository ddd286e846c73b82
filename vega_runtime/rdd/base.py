"""The RDD contract: partitions, compute, dependencies, partitioner, locations.

Every RDD class is a small class over this contract.  The user-facing
methods live in three mixins (``transformations``, ``pairs``, ``actions``)
so each file keeps one job.  An RDD sent to an executor travels without its
Context: anything that needs the driver fails there with ``DriverOnlyError``.
"""

from __future__ import annotations

import operator
import os
import re
import sys
from typing import Any, Generic, Iterator, List, Optional, Sequence, Tuple, TypeVar

from .. import aliases
from ..errors import ContextMismatch, DriverOnlyError, VegaError
from ..io.files import file_uri
from ..storage_level import StorageLevel
from .actions import Actions
from .barrier import RDDBarrier  # noqa: F401 - PySpark's pyspark.rdd has it
from .dependency import Dependency, NarrowDependency, ShuffleDependency
from .hadoop_output import HadoopOutput
from .pairs import PairFunctions
# PySpark's pyspark.rdd has these too (BoundedFloat: what sumApprox/meanApprox give)
from .partitioner import Partitioner, portable_hash  # noqa: F401
from .stats import BoundedFloat, StatCounter  # noqa: F401
from .transformations import Transformations

T = TypeVar("T")

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ALIASES_FILE = os.path.join(_PACKAGE_DIR, "aliases.py")


#: each ``Partition`` class's slot names, its bases' included
_SLOT_NAMES: dict = {}


class Partition:
    """One slice of an RDD; subclasses carry what ``compute`` needs."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __getstate__(self):
        names = _SLOT_NAMES.get(type(self))
        if names is None:  # a task's partition is pickled for each launch: worked out once
            names = _SLOT_NAMES[type(self)] = tuple(
                s for cls in type(self).__mro__ for s in getattr(cls, "__slots__", ()))
        return {s: getattr(self, s) for s in names if hasattr(self, s)}

    def __setstate__(self, state):
        for key, value in state.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.index})"


def _user_frame(frame) -> Tuple[Any, Any]:
    """``(frame, entry)``: the innermost frame outside Vega from ``frame`` outwards (None if
    every frame is Vega's) and the code of the Vega function it called (None if it called
    none; a PySpark-keywords wrapper of ``aliases`` counts as the method it wraps)."""
    entry = None
    while frame is not None:
        code = frame.f_code
        if not code.co_filename.startswith(_PACKAGE_DIR):
            return frame, entry
        if code.co_filename != _ALIASES_FILE:
            entry = code
        frame = frame.f_back
    return None, entry


def _spark_site(frame, entry) -> str:
    """Spark's short call site, ``count at job.py:12``, or "" without both parts."""
    if frame is None or entry is None:
        return ""
    return f"{entry.co_name} at {_file_label(frame.f_code.co_filename)}:{frame.f_lineno}"


def _message_site(frame) -> str:
    """``job.py:9 in main``: where ``frame`` is, for messages ("" for None)."""
    if frame is None:
        return ""
    code = frame.f_code
    return f"{_file_label(code.co_filename)}:{frame.f_lineno} in {code.co_name}"


def _file_label(filename: str) -> str:
    """A call site's file as the user knows it: its name, or a notebook cell's ``In[7]``, as
    IPython's tracebacks name it (its code's own name is a hash: ``2785136391.py``)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    label = getattr(getattr(shell, "compile", None), "format_code_name", None)
    named = label(filename) if label is not None else None
    return named[1] if named else os.path.basename(filename)


def job_name(rdd: "RDD") -> str:
    """Spark's name of a job on ``rdd``: ``count at job.py:12``, the Vega function the
    user's code called and where (the innermost frame outside Vega); the RDD itself when
    every frame is Vega's.

    >>> job_name([1, 2])  # a doctest's frame is outside Vega, and so is nothing called
    '[1, 2]'
    """
    return _spark_site(*_user_frame(sys._getframe(1))) or repr(rdd)


def check_context(rdd: "RDD", ctx) -> None:
    """Refuse ``rdd`` in a job or lineage of ``ctx`` when another Context made it: each
    Context numbers its RDDs and shuffles from 0, so the job would read one's as the other's."""
    if rdd.ctx is not ctx:
        raise ContextMismatch(repr(rdd), rdd.ctx.application_id, ctx.application_id)


class RDD(Transformations, PairFunctions, Actions, HadoopOutput, Generic[T]):
    """A resilient distributed dataset: an immutable, partitioned collection.

    ``RDD[Tuple[int, int]]`` works in annotations, as in PySpark.

    >>> ctx.parallelize(range(10), 2).map(lambda x: x * x).sum()
    285
    """

    def __init__(self, ctx, deps: List[Dependency] = ()):
        if ctx is None:
            raise DriverOnlyError("creating an RDD")
        for dep in deps:
            check_context(dep.rdd, ctx)
        self.ctx = ctx
        self._rdd_id: Optional[int] = None if self.lazy_id else ctx.new_rdd_id()
        self.deps: List[Dependency] = list(deps)
        self.partitioner = None
        self.storage_level: StorageLevel = StorageLevel.NONE
        frame, entry = _user_frame(sys._getframe(1))
        #: where the user's code made this RDD, for messages (``job.py:9 in main``), and as
        #: Spark's ``creationSite`` (``map at job.py:9``), which names a shuffle's map stage
        self.call_site = _message_site(frame)
        self.creation_site = _spark_site(frame, entry)
        self._name: Optional[str] = None
        self._partitions: Optional[list] = None
        self._checkpoint_rdd: Optional["RDD"] = None
        self._checkpoint_requested: Optional[str] = None  # "reliable" or "local"

    #: made by ``rdd.barrier().map_partitions(...)`` (``rdd/barrier.py``); see ``is_barrier``
    barrier_rdd = False

    #: the id is taken when first asked for (PySpark's pipelined RDDs: map, filter, ...,
    #: whose JVM RDD is made late, so rdd.map(f).filter(g).id() is rdd.id() + 1)
    lazy_id = False

    @property
    def rdd_id(self) -> int:
        if self._rdd_id is None:
            self._rdd_id = self.ctx.new_rdd_id()
        return self._rdd_id

    # -- the contract ---------------------------------------------------
    def compute_partitions(self) -> list:
        """The partitions of this RDD (computed once, on the driver)."""
        raise NotImplementedError

    def compute(self, partition: Partition, tc) -> Iterator:
        """Records of ``partition``; ``tc`` is the running task's TaskContext."""
        raise NotImplementedError

    def preferred_locations(self, partition: Partition) -> List[str]:
        return []

    # -- derived --------------------------------------------------------
    def partitions(self) -> list:
        if self._checkpoint_rdd is not None:
            return self._checkpoint_rdd.partitions()
        if self._partitions is None:
            self._partitions = self.compute_partitions()
        return self._partitions

    def dependencies(self) -> List[Dependency]:
        if self._checkpoint_rdd is not None:
            return self._checkpoint_rdd.dependencies()
        return self.deps

    def iterator(self, partition: Partition, tc) -> Iterator:
        """Records of ``partition``, from the checkpoint or cache when there is one."""
        if self._checkpoint_rdd is not None:
            return self._checkpoint_rdd.iterator(partition, tc)
        if self.storage_level.use_memory or self.storage_level.use_disk:
            if tc.blocks is not None:
                return tc.blocks.get_or_compute(
                    self.rdd_id, partition.index, self.storage_level,
                    lambda: self._computed(partition, tc))
        return self.compute(partition, tc)

    def _computed(self, partition: Partition, tc) -> Iterator:
        tc.computed.append((self.rdd_id, partition.index))
        return self.compute(partition, tc)

    def id(self) -> int:
        """This RDD's id, unique within its Context."""
        return self.rdd_id

    def get_num_partitions(self) -> int:
        """Number of partitions.

        >>> ctx.parallelize(range(10), 3).get_num_partitions()
        3
        """
        return len(self.partitions())

    @property
    def context(self):
        """The Context this RDD was created on, as PySpark's ``rdd.context``.

        >>> ctx.parallelize([1]).context is ctx
        True
        """
        return self._driver("RDD.context")

    def _driver(self, what: str):
        """The Context, or a clear error when called inside a task."""
        if self.ctx is None:
            raise DriverOnlyError(f"{what} (RDD actions and transformations)")
        return self.ctx

    # -- barrier execution mode -------------------------------------------
    def barrier(self):
        """This RDD, for a ``map_partitions`` whose tasks run as a barrier stage: all at the
        same time, able to wait for each other (``BarrierTaskContext``), and rerun together
        when one fails (Spark's barrier execution mode).

        >>> ctx.parallelize([1, 2], 1).barrier().map_partitions(lambda it: [sum(it)]).collect()
        [3]
        """
        self._driver("barrier()")
        return RDDBarrier(self)

    def is_barrier(self) -> bool:
        """Whether this RDD's stage is a barrier stage: it, or an RDD it depends on without a
        shuffle in between, was made by ``barrier().map_partitions`` (Spark's rule).

        >>> rdd = ctx.parallelize([1, 2], 2)
        >>> rdd.is_barrier(), rdd.barrier().map_partitions(iter).map(str).is_barrier()
        (False, True)
        """
        return any(r.barrier_rdd for r in narrow_ancestors(self))

    # -- stage-level resources ------------------------------------------
    #: what the tasks of the stages computing this RDD take (``with_resources``), or None
    resource_profile = None

    def with_resources(self, profile) -> "RDD":
        """This RDD, its stage's tasks taking what ``profile`` (a ``ResourceProfile``) asks
        for: CPUs and custom resources each, within what the executors have (Spark's
        stage-level scheduling; ``vega_runtime.resources``).

        >>> from vega_runtime.resources import ResourceProfileBuilder, TaskResourceRequests
        >>> rp = ResourceProfileBuilder().require(TaskResourceRequests().cpus(1)).build
        >>> ctx.parallelize([1, 2]).with_resources(rp).get_resource_profile() == rp
        True
        """
        self._driver("with_resources()")
        self.resource_profile = profile
        return self

    @property
    def has_resource_profile(self) -> bool:
        """Whether ``with_resources`` gave this RDD a resource profile (PySpark's
        attribute)."""
        return self.resource_profile is not None

    def get_resource_profile(self):
        """The profile ``with_resources`` gave this RDD, or None."""
        return self.resource_profile

    # -- naming and lineage ---------------------------------------------
    def name(self) -> Optional[str]:
        return self._name

    def set_name(self, name: str) -> "RDD":
        self._name = name
        return self

    def __repr__(self) -> str:
        """``[NAME ]ClassName[id] at CALL_SITE``, as Spark's."""
        name = f"{self._name} " if self._name else ""
        site = f" at {self.call_site}" if self.call_site else ""
        return f"{name}{type(self).__name__}[{self.rdd_id}]{site}"

    def to_debug_string(self) -> str:
        """The lineage laid out as Spark's: ``(N) RDD [level]`` first, each narrow parent
        under it on a `` |  `` line, each shuffle's parent on a ``+-(N)`` line indented a
        step further; a persisted RDD with cached partitions has a ``CachedPartitions:``
        line after its own.

        >>> pairs = ctx.parallelize([(1, 2)], 2).reduce_by_key(lambda a, b: a + b)
        >>> print(pairs.map_values(str).to_debug_string())  # doctest: +ELLIPSIS
        (2) MapPartitionsRDD[...] at ... []
         |  ShuffledRDD[...] at ... []
         +-(2) ParallelCollectionRDD[...] at ... []
        """
        lines: List[str] = []

        def own_lines(rdd: "RDD") -> List[str]:
            level = str(rdd.storage_level) if rdd.storage_level != StorageLevel.NONE else ""
            return [f"{rdd!r} [{level}]"] + _cached_partitions_lines(rdd)

        def parents(rdd: "RDD", prefix: str) -> None:
            deps = rdd.dependencies()
            for i, dep in enumerate(deps):
                if isinstance(dep, ShuffleDependency):
                    shuffled(dep.rdd, prefix, last=i == len(deps) - 1)
                else:
                    lines.extend(prefix + line for line in own_lines(dep.rdd))
                    parents(dep.rdd, prefix)

        def shuffled(rdd: "RDD", prefix: str, last: bool) -> None:
            count = f"({rdd.get_num_partitions()})"
            this_prefix = re.sub(r"\|\s+$", "", prefix)  # the bar ends where the +- starts
            under = this_prefix + ("  " if last else "| ") + _bar_under(count)
            first, *more = own_lines(rdd)
            lines.append(f"{this_prefix}+-{count} {first}")
            lines.extend(under + line for line in more)
            parents(rdd, under)

        count = f"({self.get_num_partitions()})"
        first, *more = own_lines(self)
        lines.append(f"{count} {first}")
        lines.extend(f"{_bar_under(count)} {line}" for line in more)
        parents(self, _bar_under(count))
        return "\n".join(lines)

    def toDebugString(self) -> bytes:  # noqa: N802 - PySpark's name
        """``to_debug_string()`` UTF-8 encoded: PySpark's ``toDebugString`` returns bytes
        (the JVM's string, encoded), so code written for it (``.decode()``) runs unchanged."""
        return self.to_debug_string().encode("utf-8")

    # -- persistence ------------------------------------------------------
    def persist(self, storage_level: StorageLevel = StorageLevel.MEMORY_ONLY) -> "RDD":
        """Keep computed partitions on the executors at ``storage_level``.

        Another level than the one already assigned raises ``VegaError``, as Spark refuses
        it (``unpersist()`` first); the same level again is fine.  A level that is not a
        ``StorageLevel`` (a name, None) raises ``TypeError``, as PySpark's.
        """
        if not isinstance(storage_level, StorageLevel):
            raise TypeError("storageLevel must be of type pyspark.StorageLevel, not "
                            f"{type(storage_level).__name__}: pass one of StorageLevel's "
                            "constants (StorageLevel.MEMORY_ONLY, StorageLevel.DISK_ONLY, ...)")
        if self.storage_level not in (StorageLevel.NONE, storage_level):
            raise VegaError("Cannot change storage level of an RDD after it was already "
                            f"assigned a level: {self!r} is persisted at "
                            f"{self.storage_level.name}, not {storage_level.name}; "
                            "unpersist() it first")
        self.storage_level = storage_level
        self._driver("RDD.persist").register_persisted(self)
        return self

    def cache(self) -> "RDD":
        """``persist(StorageLevel.MEMORY_ONLY)``."""
        return self.persist(StorageLevel.MEMORY_ONLY)

    def unpersist(self, blocking: bool = False) -> "RDD":
        """Drop this RDD's cached partitions everywhere; ``blocking``: return once every
        executor has dropped them (as PySpark's)."""
        self.storage_level = StorageLevel.NONE
        self._driver("RDD.unpersist").unpersist_rdd(self.rdd_id, blocking)
        return self

    def get_storage_level(self) -> StorageLevel:
        return self.storage_level

    def clean_shuffle_dependencies(self, blocking: bool = False) -> None:
        """Delete the map output files of this RDD's shuffles, and of its ancestors' up to
        those persisted or checkpointed (Spark's developer API ``cleanShuffleDependencies``,
        :func:`shuffles_to_clean`): a long-lived context gets its disk back before the RDD
        is garbage (which frees them as the next job starts).  A later job that needs one
        computes it again from lineage (checkpoint, or persist and materialize, the RDD
        first where that costs too much).  ``blocking``: return once every executor has
        deleted them (after the tasks it was given before), else at once; the files of
        tasks launched after the call stay either way.

        >>> pairs = ctx.parallelize(range(6), 2).map(lambda x: (x % 2, x)).reduce_by_key(max)
        >>> sorted(pairs.collect())
        [(0, 4), (1, 5)]
        >>> pairs.clean_shuffle_dependencies(blocking=True)
        >>> sorted(pairs.collect())  # computed again
        [(0, 4), (1, 5)]
        """
        self._driver("RDD.clean_shuffle_dependencies").clean_shuffles(shuffles_to_clean(self),
                                                                      bool(blocking))

    @property
    def is_cached(self) -> bool:
        """True while the RDD is persisted at some storage level (a property, as in PySpark)."""
        return self.storage_level != StorageLevel.NONE

    def checkpoint(self) -> None:
        """Save this RDD to the checkpoint dir after its next job, truncating its lineage
        (nothing for an RDD marked with ``local_checkpoint()``, as Spark's)."""
        ctx = self._driver("RDD.checkpoint")
        if ctx.checkpoint_dir is None:
            from ..errors import VegaError

            raise VegaError("checkpoint() needs a checkpoint directory: call "
                            "ctx.set_checkpoint_dir(path) first")
        if self._checkpoint_requested != "local":  # Spark's: a local mark stays
            self._checkpoint_requested = "reliable"

    def local_checkpoint(self) -> None:
        """Cut this RDD's lineage after its next job, its partitions kept by the executors
        that computed them (Spark's ``localCheckpoint``: persisted at MEMORY_AND_DISK, or at
        its own level with disk added): fast, and on any cluster, but not fault-tolerant: a
        job that needs a partition an executor took with it fails, saying so, where
        ``checkpoint()`` would read it back (docs/storage.md)."""
        ctx = self._driver("RDD.local_checkpoint")
        level = self.storage_level
        self.storage_level = StorageLevel.MEMORY_AND_DISK if level == StorageLevel.NONE else \
            StorageLevel(True, level.use_memory, level.use_off_heap, level.deserialized,
                         level.replication)
        ctx.register_persisted(self)
        self._checkpoint_requested = "local"

    @property
    def is_checkpointed(self) -> bool:
        """True from the ``checkpoint()`` call on (PySpark's attribute of the name), and once
        a checkpoint (reliable or local) was written; ``isCheckpointed()`` says the latter."""
        return self._checkpoint_requested == "reliable" or self._checkpoint_rdd is not None

    def isCheckpointed(self) -> bool:  # noqa: N802 - PySpark's name
        """True once this RDD's checkpoint was written, by the first job after
        ``checkpoint()`` or ``local_checkpoint()`` (PySpark's ``isCheckpointed()``)."""
        return self._checkpoint_rdd is not None

    def is_locally_checkpointed(self) -> bool:
        """True once ``local_checkpoint()`` was called (before its job runs, as in PySpark)."""
        return self._checkpoint_requested == "local"

    def get_checkpoint_file(self) -> Optional[str]:
        """Where this RDD was checkpointed, as a URI (``file:/...``, ``hdfs://...``), or None:
        before its job, and for a local checkpoint (the application's scratch), as PySpark's."""
        directory = getattr(self._checkpoint_rdd, "directory", None)
        if directory is None or self._checkpoint_requested == "local":
            return None
        return file_uri(directory)

    # -- shipping ---------------------------------------------------------
    def __getstate__(self):
        self.rdd_id  # taken on the driver: executors have no Context to take it from
        state = self.__dict__.copy()
        state["ctx"] = None
        state["_partitions"] = None
        if self._checkpoint_rdd is not None:  # read from its checkpoint: no lineage to send
            state.update((key, None) for key, value in state.items() if key != "_checkpoint_rdd"
                         and _is_lineage(value))
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)


def partition_indexes(rdd: RDD, partitions) -> Sequence[int]:
    """The partitions a job on ``rdd`` runs: all for None, else each index as an int
    (numpy's integers too); one ``rdd`` has no partition at is a ValueError, as Spark's
    "Attempting to access a non-existent partition", before any task runs."""
    count = rdd.get_num_partitions()
    if partitions is None:
        return range(count)
    indexes = []
    for index in partitions:
        try:
            number = operator.index(index)
        except TypeError:
            number = -1
        if not 0 <= number < count:
            valid = f"give indexes 0 to {count - 1}" if count else "it has none"
            raise ValueError(f"Attempting to access a non-existent partition: {index!r}. "
                             f"Total number of partitions: {count} ({valid})")
        indexes.append(number)
    return indexes


def _bar_under(count: str) -> str:
    """The prefix of the lines under ``(N) RDD``: a ``|`` under the count's middle."""
    left = (len(count) - 1) // 2
    return " " * left + "|" + " " * (len(count) - left)


def _cached_partitions_lines(rdd: RDD) -> List[str]:
    """Spark's ``CachedPartitions: N; MemorySize: ...; DiskSize: ...`` line of a persisted
    RDD with partitions cached, as its driver knows them; none otherwise."""
    if rdd.storage_level == StorageLevel.NONE or rdd.ctx is None:
        return []
    for info in rdd.ctx.cached_rdds():
        if info["id"] == rdd.rdd_id and info["cached_partitions"]:
            return [f"    CachedPartitions: {info['cached_partitions']}; "
                    f"MemorySize: {_spark_bytes(info['memory_bytes'])}; "
                    f"DiskSize: {_spark_bytes(info['disk_bytes'])}"]
    return []


def _spark_bytes(size: int) -> str:
    """A byte count as Spark's ``Utils.bytesToString`` writes it.

    >>> _spark_bytes(83), _spark_bytes(2047), _spark_bytes(2048), _spark_bytes(5 << 30)
    ('83.0 B', '2047.0 B', '2.0 KiB', '5.0 GiB')
    """
    for shift, unit in ((60, "EiB"), (50, "PiB"), (40, "TiB"), (30, "GiB"), (20, "MiB"),
                        (10, "KiB")):
        if size >= 2 << shift:
            return f"{size / (1 << shift):.1f} {unit}"
    return f"{size:.1f} B"


aliases.install(RDD, aliases.RDD_METHODS, pyspark_class="RDD")
for _alias, _name in aliases.EXTRA_RDD_ALIASES.items():
    setattr(RDD, _alias, getattr(RDD, _name))


def _is_lineage(value) -> bool:
    """An RDD, a dependency, or a list of them (what a checkpointed RDD need not send)."""
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, (RDD, Dependency)) for v in value)
    return isinstance(value, (RDD, Dependency))


def shuffles_to_clean(rdd: RDD) -> List[int]:
    """The shuffle ids ``rdd.clean_shuffle_dependencies()`` deletes, as Spark's walk finds
    them: each of ``rdd``'s shuffle dependencies', and, through every ancestor not
    persisted, that ancestor's (a persisted ancestor's own dependencies stay; a
    checkpointed RDD has none left).

    >>> once = ctx.parallelize(range(4), 2).map(lambda x: (x, x)).reduce_by_key(max)
    >>> twice = once.map(lambda kv: kv).reduce_by_key(max)
    >>> first, second = once.dependencies()[0].shuffle_id, twice.dependencies()[0].shuffle_id
    >>> shuffles_to_clean(twice) == [first, second], shuffles_to_clean(once) == [first]
    (True, True)
    >>> shuffles_to_clean(twice.map(len).cache()) == [first, second]
    True
    >>> shuffles_to_clean(twice) == [second] if once.cache() else None
    True
    """
    found, seen = set(), set()
    stack = list(rdd.dependencies())
    while stack:
        dep = stack.pop()
        if isinstance(dep, ShuffleDependency):
            found.add(dep.shuffle_id)
        parent = dep.rdd
        if parent.storage_level == StorageLevel.NONE and parent.rdd_id not in seen:
            seen.add(parent.rdd_id)
            stack.extend(parent.dependencies())
    return sorted(found)


def narrow_ancestors(rdd: RDD) -> Iterator[RDD]:
    """``rdd`` and every RDD reachable from it through narrow dependencies."""
    seen, stack = set(), [rdd]
    while stack:
        current = stack.pop()
        if current.rdd_id in seen:
            continue
        seen.add(current.rdd_id)
        yield current
        stack.extend(d.rdd for d in current.dependencies() if isinstance(d, NarrowDependency))

