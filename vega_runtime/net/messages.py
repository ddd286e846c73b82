"""Every message Vega processes exchange, as plain data classes grouped by direction: here
those between a driver and its executors (local mode uses them too), records
(``vega_runtime.records``: no code generated at import, every job loads them); the
cluster's own, records too (but one), in ``cluster_messages``, loaded on first use and
reachable from here by name.

On the wire a message is a msgpack map: its fields plus ``type`` (the class
name).  Code and records travel inside as opaque byte strings.
"""

# (no ``from __future__ import annotations``: ``from_wire`` reads the fields' types with
# ``typing.get_type_hints``, which would compile every annotation string in each process)
import typing
from typing import Annotated, Dict, List, Optional, Type

from .. import ids
from ..errors import with_article
from ..lazy_imports import lazy_module
from ..records import Record, field_names
from .framing import ProtocolError

#: the messages only cluster mode sends, defined on first use (``__getattr__`` below)
cluster_messages = lazy_module("vega_runtime.net.cluster_messages")

# Id fields: from_wire refuses a message whose id does not have its form (vega_runtime/ids.py),
# so no handler ever sees a peer's "../../outside" where a file name is made of an id.
AppId = Annotated[str, ids.APP]
AppIdOrEmpty = Annotated[str, ids.APP.or_empty()]
AppOrDriverId = Annotated[str, ids.APP_OR_DRIVER]
DriverId = Annotated[str, ids.DRIVER]
DriverIdOrEmpty = Annotated[str, ids.DRIVER.or_empty()]
ExecutorId = Annotated[str, ids.EXECUTOR]
WorkerId = Annotated[str, ids.WORKER]
PackageId = Annotated[str, ids.PACKAGE]
PackageIdOrEmpty = Annotated[str, ids.PACKAGE.or_empty()]
#: becomes the executors' environment: a fixed seed, never "random" or what Python refuses
HashSeed = Annotated[str, ids.HASH_SEED]
#: ``[app_id, executor_id]``
ExecutorOfApp = Annotated[List[str], (ids.APP, ids.EXECUTOR)]


# -- driver -> executor ------------------------------------------------------

class LaunchTask(Record):
    task_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt: int
    #: cloudpickled StagePayload; sent only with an executor's first task of a stage attempt.
    payload: Optional[bytes]
    #: pickled Partition object of the stage's RDD.
    partition_data: bytes
    #: a barrier stage's task: where each of the stage's tasks runs (``host:port``, by
    #: partition); None for any other task
    barrier_addresses: Optional[List[str]]
    #: the cached partitions this task reads that other executors hold (the driver's block
    #: tracker), ``[rdd_id, partition, [executor_id, ...]]``: one not cached here is asked
    #: of them (``FetchCachedBlock``) before it is computed from lineage; None: none
    block_holders: Optional[List[list]]
    #: where those executors serve cached partitions (``host:port``), asked directly; one
    #: not named serves none (``local[N]``'s): asked through the driver
    block_addresses: Optional[Dict[str, str]]

    def __init__(self, task_id, stage_id, stage_attempt, partition, attempt, payload,
                 partition_data, barrier_addresses=None, block_holders=None,
                 block_addresses=None):
        self.task_id = task_id
        self.stage_id = stage_id
        self.stage_attempt = stage_attempt
        self.partition = partition
        self.attempt = attempt
        self.payload = payload
        self.partition_data = partition_data
        self.barrier_addresses = barrier_addresses
        self.block_holders = block_holders
        self.block_addresses = block_addresses


#: how many stage payloads an executor keeps, the latest it received (the oldest goes
#: first); the driver sends a payload again with a task of a stage attempt once as many
#: others have been sent to that executor since
EXECUTOR_PAYLOADS = 16


class KillTask(Record):
    task_id: int

    def __init__(self, task_id):
        self.task_id = task_id


class RemoveRdd(Record):
    """Drop an RDD's cached partitions; ``reply`` (the removal's number, 0 for none): say so
    (``Removed``, with that number) once they are gone (``unpersist(blocking=True)`` waits
    for it; two threads may remove the same RDD at once, each waiting for its own)."""
    rdd_id: int
    reply: int

    def __init__(self, rdd_id, reply=0):
        self.rdd_id = rdd_id
        self.reply = reply


class RemoveShuffle(Record):
    """Delete this host's map output files of a shuffle, after the tasks sent before it:
    those of tasks whose id is below ``before_task`` (0: all), so that what a task launched
    since wrote again stays (another executor of the host may have run it already);
    ``reply`` (the removal's number, 0 for none): say so (``Removed``, with that number)
    once they are gone (``clean_shuffle_dependencies(blocking=True)`` waits for it)."""
    shuffle_id: int
    reply: int
    before_task: int

    def __init__(self, shuffle_id, reply=0, before_task=0):
        self.shuffle_id = shuffle_id
        self.reply = reply
        self.before_task = before_task


class RemoveBroadcast(Record):
    """Drop this executor's copy of a broadcast; ``reply`` (the removal's number, 0 for
    none): say so (``Removed``, with that number) once it is gone."""
    broadcast_id: int
    reply: int

    def __init__(self, broadcast_id, reply=0):
        self.broadcast_id = broadcast_id
        self.reply = reply


class Removed(Record):
    """An executor's reply to a ``RemoveRdd``, ``RemoveBroadcast`` or ``RemoveShuffle`` that
    asked for one: what it held of the RDD (``kind`` "rdd"), broadcast ("broadcast") or
    shuffle ("shuffle") ``object_id`` is gone, as the removal numbered ``request`` asked."""
    kind: str
    object_id: int
    request: int

    def __init__(self, kind, object_id, request=0):
        self.kind = kind
        self.object_id = object_id
        self.request = request


class PutBlock(Record):
    """Keep a copy of a cached partition (replicated storage levels, ``*_2``)."""
    rdd_id: int
    partition: int
    level: str
    data: bytes

    def __init__(self, rdd_id, partition, level, data):
        self.rdd_id = rdd_id
        self.partition = partition
        self.level = level
        self.data = data


class Shutdown(Record):
    reason: str

    def __init__(self, reason=""):
        self.reason = reason


class RegisteredExecutor(Record):
    """The driver took the executor in (Spark's ``RegisteredExecutor``): it sends an
    ``ExecutorHeartbeat`` every ``heartbeat_interval`` seconds from now on."""
    heartbeat_interval: float

    def __init__(self, heartbeat_interval):
        self.heartbeat_interval = heartbeat_interval


# -- executor -> driver ------------------------------------------------------

class ExecutorReady(Record):
    executor_id: ExecutorId
    host: str
    pid: int

    def __init__(self, executor_id, host, pid):
        self.executor_id = executor_id
        self.host = host
        self.pid = pid


class ExecutorHeartbeat(Record):
    """The executor process is alive and scheduled (sent by a thread of its own, so also
    while a task runs); a driver that hears nothing from it for ``vega.executor.timeout``
    removes it (Spark's ``Heartbeat``)."""

    def __init__(self):
        pass


class TaskOutput(Record):
    task_id: int
    stream: str  # "stdout" or "stderr"
    text: str

    def __init__(self, task_id, stream, text):
        self.task_id = task_id
        self.stream = stream
        self.text = text


class TaskFinished(Record):
    task_id: int
    state: str  # TaskState value
    #: pickled result value (result tasks) or msgpack-ready map output offsets (map tasks).
    value: Optional[bytes]
    offsets: Optional[List[int]]
    data_path: str
    #: pickled {accumulator_id: update}.
    accumulators: Optional[bytes]
    error_type: str
    error_message: str
    traceback: str
    #: for fetch failures (``error_message`` then says why, ``fetch_from`` where it read)
    shuffle_id: int
    map_id: int
    metrics: Dict[str, float]
    #: cached partitions stored / dropped on this executor since its last report
    blocks_added: List[list]  # [rdd, partition, where, bytes]
    blocks_dropped: List[list]  # [rdd, partition]
    #: blocks whose storage level wants a second copy: [rdd, partition, level name, pickled records]
    replicas: List[list]
    fetch_from: str

    def __init__(self, task_id, state, value=None, offsets=None, data_path="",
                 accumulators=None, error_type="", error_message="", traceback="",
                 shuffle_id=-1, map_id=-1, metrics=None, blocks_added=None,
                 blocks_dropped=None, replicas=None, fetch_from=""):
        self.task_id = task_id
        self.state = state
        self.value = value
        self.offsets = offsets
        self.data_path = data_path
        self.accumulators = accumulators
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        self.shuffle_id = shuffle_id
        self.map_id = map_id
        self.metrics = {} if metrics is None else metrics
        self.blocks_added = [] if blocks_added is None else blocks_added
        self.blocks_dropped = [] if blocks_dropped is None else blocks_dropped
        self.replicas = [] if replicas is None else replicas
        self.fetch_from = fetch_from


class FetchBroadcast(Record):
    """An executor on another host asks its driver for a broadcast value."""
    broadcast_id: int
    path: str

    def __init__(self, broadcast_id, path):
        self.broadcast_id = broadcast_id
        self.path = path


class BarrierSync(Record):
    """A task of a barrier stage reached ``barrier()`` or ``all_gather()`` (``method``:
    Spark's names, "barrier" or "allGather"), its ``epoch``-th sync; it waits for the
    driver's ``BarrierSyncReply`` (Spark's ``RequestToSync``)."""
    task_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    num_tasks: int
    epoch: int
    method: str
    message: str

    def __init__(self, task_id, stage_id, stage_attempt, partition, num_tasks, epoch, method,
                 message=""):
        self.task_id = task_id
        self.stage_id = stage_id
        self.stage_attempt = stage_attempt
        self.partition = partition
        self.num_tasks = num_tasks
        self.epoch = epoch
        self.method = method
        self.message = message


# -- driver -> executor, replies ---------------------------------------------------

class BarrierSyncReply(Record):
    """The end of a task's ``BarrierSync``: every task's message by partition, or ``error``
    saying why the sync failed."""
    task_id: int
    epoch: int
    messages: List[str]
    error: str

    def __init__(self, task_id, epoch, messages, error=""):
        self.task_id = task_id
        self.epoch = epoch
        self.messages = messages
        self.error = error


class BroadcastData(Record):
    """The reply to FetchBroadcast: the pickled value, or ``error`` saying why there is none."""
    broadcast_id: int
    data: bytes
    error: str

    def __init__(self, broadcast_id, data, error=""):
        self.broadcast_id = broadcast_id
        self.data = data
        self.error = error


# -- executor -> driver -> executor (cached partitions) --------------------------

class FetchCachedBlock(Record):
    """A task asks for a cached partition another executor holds (Spark's BlockManager
    remote get): straight from the holder's block server (a cluster's executors), else
    through the driver: its executor sends it to the driver naming the holder
    (``executor_id``), and the driver passes it on to the holder under a ``request_id`` of
    its own and relays the ``CachedBlock`` reply back (``local[N]``'s executors)."""
    request_id: int
    rdd_id: int
    partition: int
    executor_id: str

    def __init__(self, request_id, rdd_id, partition, executor_id=""):
        self.request_id = request_id
        self.rdd_id = rdd_id
        self.partition = partition
        self.executor_id = executor_id


class CachedBlock(Record):
    """The reply to ``FetchCachedBlock``: the partition's records pickled, or None with
    ``reason`` saying why (not held there, unreadable, its holder lost): the task then
    computes the partition from lineage."""
    request_id: int
    data: Optional[bytes]
    reason: str

    def __init__(self, request_id, data=None, reason=""):
        self.request_id = request_id
        self.data = data
        self.reason = reason


#: the messages between a driver and its executors, which local mode uses too
_TASK_MESSAGE_TYPES: Dict[str, Type] = {cls.__name__: cls for cls in (
    LaunchTask, KillTask, RemoveRdd, RemoveShuffle, RemoveBroadcast, PutBlock, Shutdown,
    RegisteredExecutor, ExecutorReady, ExecutorHeartbeat, TaskOutput, TaskFinished,
    FetchBroadcast, BroadcastData, BarrierSync, BarrierSyncReply, FetchCachedBlock, CachedBlock,
    Removed,
)}


def __getattr__(name: str):
    """``MESSAGE_TYPES`` (every message by its class name) and the cluster-mode messages,
    loaded on first use."""
    if name == "MESSAGE_TYPES":
        value = {**_TASK_MESSAGE_TYPES, **cluster_messages.CLUSTER_MESSAGE_TYPES}
    elif not name.startswith("__") and name in cluster_messages.CLUSTER_MESSAGE_TYPES:
        value = cluster_messages.CLUSTER_MESSAGE_TYPES[name]
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def to_wire(message) -> dict:
    """The message's fields plus its ``type`` (values are shared, not copied: msgpack only
    reads them).  A message between a driver and its executors leaves out the fields that
    hold their default (``from_wire`` puts the default back): a task's result is a few of
    its sixteen fields, and it travels once per task."""
    cls = type(message)
    spec = _WIRE_FIELDS.get(cls)
    if spec is None:
        spec = _WIRE_FIELDS[cls] = _wire_fields(cls)
    always, optional = spec
    data = {name: getattr(message, name) for name in always}
    for name, default in optional:
        value = getattr(message, name)
        if value is not default and (value != default or type(value) is not type(default)):
            data[name] = value
    data["type"] = cls.__name__
    return data


#: message class -> (fields always sent, (field, default) of those sent unless at the default)
_WIRE_FIELDS: Dict[type, tuple] = {}


def _wire_fields(cls: type) -> tuple:
    names = field_names(cls)
    if _TASK_MESSAGE_TYPES.get(cls.__name__) is not cls:
        return names, ()
    # a task message's defaults: what its __init__ (plain assignments) sets when given only
    # the fields without a default
    init = cls.__init__
    required = init.__code__.co_argcount - 1 - len(init.__defaults__ or ())
    blank = cls(*[None] * required)
    optional = init.__code__.co_varnames[1 + required:init.__code__.co_argcount]
    return (tuple(n for n in names if n not in optional),
            tuple((n, getattr(blank, n)) for n in names if n in optional))


def from_wire(data: dict, peer: str = "peer"):
    """The message a decoded frame holds; ProtocolError unless every field has its type."""
    cls = _TASK_MESSAGE_TYPES.get(data.get("type")) or \
        cluster_messages.CLUSTER_MESSAGE_TYPES.get(data.get("type"))
    if cls is None:
        raise ProtocolError(peer, f"unknown message type {data.get('type')!r}")
    checks = _CHECKS.get(cls)
    if checks is None:
        checks = _CHECKS[cls] = _field_checks(cls)
    values = {}
    for name, value in data.items():
        check = checks.get(name)
        if check is None:
            continue  # "type", or a field this version does not know
        has_type, kind, has_ids = check
        if not has_type(value):
            hint = _field_types(cls)[name]
            raise ProtocolError(peer, f"bad {cls.__name__}: field {name!r} is "
                                      f"{type(value).__name__}, not {_describe(_id_kind(hint)[0])}")
        if kind is not None and not kind.matches(value):
            raise ProtocolError(peer, f"bad {cls.__name__}: field {name!r} is not "
                                      f"{with_article(kind.name)}: "
                                      f"{value[:80]!r}")
        if has_ids is not None and not has_ids(value):
            raise ProtocolError(peer, f"bad {cls.__name__}: field {name!r} holds malformed ids: "
                                      f"{repr(value)[:80]}")
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise ProtocolError(peer, f"bad {cls.__name__}: {exc}") from None


_TYPES_CACHE: Dict[type, dict] = {}
#: message class -> {field: (type predicate, id kind or None, ids predicate or None)}, made
#: once per class from its hints (``typing`` introspection per message cost more than the
#: rest of decoding it)
_CHECKS: Dict[type, dict] = {}


def _field_types(cls: type) -> dict:
    if cls not in _TYPES_CACHE:
        _TYPES_CACHE[cls] = typing.get_type_hints(cls, include_extras=True)
    return _TYPES_CACHE[cls]


def _field_checks(cls: type) -> dict:
    checks = {}
    for name, hint in _field_types(cls).items():
        base, kind = _id_kind(hint)
        checks[name] = (_type_check(base), kind, None if kind is not None else _ids_check(hint))
    return checks


def _type_check(hint):
    """A predicate for values of a field hinted ``hint``, with the hint taken apart once."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _type_check(typing.get_args(hint)[0])
    if origin is typing.Union:
        args = typing.get_args(hint)
        if all(isinstance(arg, type) and arg not in (int, float, bool) for arg in args):
            return lambda value: isinstance(value, args)  # Optional[bytes], say
        options = [_type_check(arg) for arg in args]
        return lambda value: any(check(value) for check in options)
    if origin is list:
        (item,) = typing.get_args(hint) or (typing.Any,)
        check_item = _type_check(item)
        if item is typing.Any:
            return lambda value: isinstance(value, list)
        return lambda value: isinstance(value, list) and all(map(check_item, value))
    if origin is dict:
        key, item = typing.get_args(hint) or (typing.Any, typing.Any)
        check_key, check_item = _type_check(key), _type_check(item)
        return lambda value: isinstance(value, dict) and all(
            check_key(k) and check_item(v) for k, v in value.items())
    if hint is typing.Any:
        return lambda value: True
    if hint is type(None):
        return lambda value: value is None
    if hint is int:
        return lambda value: isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return lambda value: isinstance(value, hint)
    return lambda value: True


def _id_kind(hint):
    """(the type, the ``ids.IdKind`` its values must match or None) of a field's hint."""
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        kinds = [e for e in extras if isinstance(e, ids.IdKind)]
        return base, (kinds[0] if kinds else None)
    return hint, None


def _describe(hint) -> str:
    """A field's type as a message shows it (``Annotated`` ids shown as their base type)."""
    if typing.get_origin(hint) is Annotated:
        return _describe(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (list, dict, typing.Union):
        return str(hint).replace(str(typing.get_args(hint)[0]),
                                 _describe(typing.get_args(hint)[0]), 1)
    return str(hint)


def _ids_check(hint):
    """A predicate for the ids inside a (type-checked) list field, or None when it holds
    none: an item hinted ``Annotated[List[str], (kind, kind...)]`` must be exactly one id
    of each kind, and an item hinted ``Annotated[str, kind]`` one id of that kind."""
    if typing.get_origin(hint) is not list:
        return None
    (item,) = typing.get_args(hint) or (typing.Any,)
    if typing.get_origin(item) is not Annotated:
        return None
    single = [e for e in typing.get_args(item)[1:] if isinstance(e, ids.IdKind)]
    if single:
        return lambda value: all(single[0].matches(v) for v in value)
    kinds = [e for e in typing.get_args(item)[1:] if isinstance(e, tuple)]
    if not kinds:
        return None
    return lambda value: all(len(v) == len(kinds[0]) and all(k.matches(x) for k, x in
                                                             zip(kinds[0], v)) for v in value)
