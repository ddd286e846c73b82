"""Every message Vega processes exchange, as plain dataclasses grouped by direction.

On the wire a message is a msgpack map: its fields plus ``type`` (the class
name).  Code and records travel inside as opaque byte strings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Dict, List, Optional, Type

from .framing import ProtocolError


# -- driver -> executor ------------------------------------------------------

@dataclass
class LaunchTask:
    task_id: int
    stage_id: int
    stage_attempt: int
    partition: int
    attempt: int
    #: cloudpickled StagePayload; sent only with an executor's first task of a stage attempt.
    payload: Optional[bytes]
    #: pickled Partition object of the stage's RDD.
    partition_data: bytes


@dataclass
class KillTask:
    task_id: int


@dataclass
class RemoveRdd:
    rdd_id: int


@dataclass
class RemoveBroadcast:
    broadcast_id: int


@dataclass
class Shutdown:
    reason: str = ""


# -- executor -> driver ------------------------------------------------------

@dataclass
class ExecutorReady:
    executor_id: str
    host: str
    pid: int


@dataclass
class TaskOutput:
    task_id: int
    stream: str  # "stdout" or "stderr"
    text: str


@dataclass
class TaskFinished:
    task_id: int
    state: str  # TaskState value
    #: pickled result value (result tasks) or msgpack-ready map output offsets (map tasks).
    value: Optional[bytes] = None
    offsets: Optional[List[int]] = None
    data_path: str = ""
    #: pickled {accumulator_id: update}.
    accumulators: Optional[bytes] = None
    error_type: str = ""
    error_message: str = ""
    traceback: str = ""
    #: for fetch failures
    shuffle_id: int = -1
    map_id: int = -1
    metrics: Dict[str, float] = field(default_factory=dict)
    #: cached partitions stored / dropped on this executor since its last report
    blocks_added: List[List[int]] = field(default_factory=list)
    blocks_dropped: List[List[int]] = field(default_factory=list)


MESSAGE_TYPES: Dict[str, Type] = {cls.__name__: cls for cls in (
    LaunchTask, KillTask, RemoveRdd, RemoveBroadcast, Shutdown,
    ExecutorReady, TaskOutput, TaskFinished,
)}


def to_wire(message) -> dict:
    data = asdict(message)
    data["type"] = type(message).__name__
    return data


def from_wire(data: dict, peer: str = "peer"):
    cls = MESSAGE_TYPES.get(data.get("type"))
    if cls is None:
        raise ProtocolError(peer, f"unknown message type {data.get('type')!r}")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:
        raise ProtocolError(peer, f"bad {cls.__name__}: {exc}") from None
