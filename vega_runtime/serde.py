"""Serialization: cloudpickle for code, pickle protocol 5 for data.

``dumps_closure`` turns a pickling failure into a ``ClosureNotSerializable``
that names the captured variable and its type, so users learn which object
to move inside their function; a captured Context, which no function can make for
itself, into PySpark's ``CONTEXT_ONLY_VALID_ON_DRIVER`` error (``DriverOnlyError``).

cloudpickle (and ``inspect``, ``ast``, ``dis``, ``platform``, ``uuid`` it loads) is
imported on first use: a job whose code plain ``pickle`` ships as it is (functions and
classes of importable modules, no lambda, nothing of ``__main__``) never loads it.
"""

from __future__ import annotations

import io
import itertools
import linecache
import marshal
import pickle
import random
import sys
import types
from typing import Any, Iterable, Iterator

from .errors import (ClosureNotSerializable, DriverOnlyError, LineageTooDeep,
                     PartitionNotSerializable, ResultNotSerializable)

PROTOCOL = 5


def dumps(obj: Any) -> bytes:
    """Pickle data, falling back to cloudpickle for lambdas and local classes, and for
    classes and functions of ``__main__`` (the job's script): an executor started as an
    interpreter of its own has another ``__main__``, where those cannot be found by name,
    so they go by value.  (The name ``__main__`` in a pickle's bytes is that of a module,
    or a string that happens to say it: pickled by value then too, still correct.)"""
    try:
        data = pickle.dumps(obj, PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        return _cloudpickle(obj)
    return _cloudpickle(obj) if b"__main__" in data else data


loads = pickle.loads


def _closure_pickler() -> type:
    """``_ClosurePickler``, defined (and cloudpickle imported) on first use."""
    global _ClosurePickler
    if _ClosurePickler is None:
        import cloudpickle

        class _ClosurePickler(cloudpickle.CloudPickler):
            """cloudpickle, with two things it leaves to chance pinned down.

            Code objects travel whole, with ``marshal`` (as in a ``.pyc``): a failing
            task's traceback then names the job's file and line whatever cloudpickle
            release is installed (3.1.3 replaced every ``co_filename`` with
            ``"<dynamic-code>"``).  Driver and executors run the same Python, which
            cloudpickle needs anyway.

            The code of a notebook cell (IPython's ``<ipython-input-...>``, a kernel's
            ``/tmp/ipykernel_.../....py``: no file an executor can read) takes the cell's
            lines along, so a failing task's traceback shows the line.

            Process-global random generators go by reference (``_process_generator``).
            """

            def reducer_override(self, obj):
                if type(obj) is types.CodeType:
                    lines = _unsaved_lines(obj.co_filename)
                    if lines is not None:
                        return _code_with_lines, (marshal.dumps(obj), obj.co_filename, lines)
                    return marshal.loads, (marshal.dumps(obj),)
                return _process_generator(obj) or super().reducer_override(obj)

    return _ClosurePickler


_ClosurePickler = None


def _unsaved_lines(filename: str):
    """The lines ``linecache`` holds for ``filename`` without a file behind them (IPython
    puts each cell there so, with no modification time), else None."""
    entry = linecache.cache.get(filename)
    return entry[2] if entry is not None and len(entry) == 4 and entry[1] is None else None


def _code_with_lines(code: bytes, filename: str, lines: list) -> types.CodeType:
    """A code object, its source lines made known to ``linecache`` (for tracebacks)."""
    linecache.cache.setdefault(filename, (sum(map(len, lines)), None, lines, filename))
    return marshal.loads(code)


def _process_generator(obj):
    """The reduction of a process-global random generator, by reference, else None.

    A job's ``from random import random`` captures the driver's generator; pickled by
    value, every task would replay the driver's state (PySpark's behaviour).  By
    reference, each executor uses its own generator, which every task reseeds."""
    if obj is random._inst:
        return _process_random, ()
    numpy = sys.modules.get("numpy")
    if numpy is not None and obj is numpy.random.mtrand._rand:
        return _process_numpy_random, ()
    return None


class _NeedsCloudpickle(Exception):
    """Raised by ``_PlainClosurePickler`` for what only cloudpickle ships right."""


class _PlainClosurePickler(pickle.Pickler):
    """Plain ``pickle`` for a job's code while cloudpickle is not loaded: functions and
    classes go by reference, as cloudpickle sends those of importable modules; anything
    cloudpickle would send by value (a lambda or local function fails plain pickling; a
    function or class of ``__main__`` is refused here) falls back to cloudpickle."""

    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, type)) and obj.__module__ == "__main__":
            raise _NeedsCloudpickle()
        return _process_generator(obj) or NotImplemented


def _process_random():
    return random._inst


def _process_numpy_random():
    import numpy

    return numpy.random.mtrand._rand


def _cloudpickle(obj: Any) -> bytes:
    buffer = io.BytesIO()
    _closure_pickler()(buffer, protocol=PROTOCOL).dump(obj)
    return buffer.getvalue()


def _plain_closure(obj: Any):
    """``obj`` pickled plainly when that ships it as cloudpickle would, else None (and
    None at once when cloudpickle is loaded already: it is then the one way)."""
    if "cloudpickle" in sys.modules:
        return None
    buffer = io.BytesIO()
    try:
        _PlainClosurePickler(buffer, protocol=PROTOCOL).dump(obj)
    except Exception:  # a lambda, a local class, __main__: cloudpickle's work
        return None
    return buffer.getvalue()


def dumps_closure(obj: Any, what: str) -> bytes:
    """Pickle a job's code ``obj`` (plainly when it can, else with cloudpickle); on
    failure explain which captured variable is to blame."""
    try:
        return _plain_closure(obj) or _cloudpickle(obj)
    except Exception as exc:  # pickling can raise nearly anything
        if isinstance(exc, RecursionError) or "excessively deep recursion" in str(exc):
            raise LineageTooDeep(what, _reason(exc)) from None
        culprit = find_unpicklable(obj)
        if culprit is None:
            raise ClosureNotSerializable(what, "?", type(obj).__name__, _reason(exc)) from None
        function, variable, value, reason = culprit
        driver_only = _driver_only(value)
        if driver_only is not None:  # creating it inside the function is no way out
            raise DriverOnlyError(f"{driver_only.what} (captured as {variable!r} by "
                                  f"{function})") from None
        raise ClosureNotSerializable(function, variable, type(value).__qualname__, reason) from None


def dumps_result(value: Any) -> bytes:
    """Pickle a task's result; on failure, say what in it cannot be pickled."""
    try:
        return dumps(value)
    except Exception as exc:  # pickling can raise nearly anything
        culprit = find_unpicklable(value)
        value, reason = (value, _reason(exc)) if culprit is None else culprit[2:]
        raise ResultNotSerializable(type(value).__qualname__, reason) from None


def partition_not_serializable(partition: Any, what: str,
                                exc: Exception) -> PartitionNotSerializable:
    """The error of a task's partition (``parallelize``'s elements travel in it) that
    pickling failed on with ``exc``: what in it cannot be pickled."""
    culprit = find_unpicklable(partition)
    value, reason = (partition, _reason(exc)) if culprit is None else culprit[2:]
    return PartitionNotSerializable(what, type(value).__qualname__, reason)


def _driver_only(value: Any) -> DriverOnlyError | None:
    """The error pickling ``value`` raises when it exists only on the driver (the Context,
    or what holds it)."""
    try:
        _cloudpickle(value)
    except DriverOnlyError as exc:
        return exc
    except Exception:  # unpicklable for another reason
        pass
    return None


def _reason(exc: BaseException, limit: int = 200) -> str:
    """The exception's first line, cut at a word (marked ...) past ``limit`` characters.

    >>> _reason(ValueError("a " * 150), limit=15)
    'ValueError: a ...'
    """
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def _pickles(value: Any) -> str | None:
    try:
        _cloudpickle(value)
        return None
    except Exception as exc:
        return _reason(exc)


def find_unpicklable(obj: Any, _seen: set[int] | None = None, _owner: str = "the job",
                     _path: str = ""):
    """Depth-first search for the innermost unpicklable thing reachable from ``obj``.

    Returns ``(function_name, variable_name, value, reason)``, or None when no
    part of ``obj`` (as pickling sees it) is to blame but ``obj`` itself; the variable's
    name is the path to the value from what the function captures (``counter.lock``,
    ``table['a'][1]``).

    >>> import threading
    >>> table = {"a": [1, threading.Lock()]}
    >>> find_unpicklable(lambda: table)[1:2] + find_unpicklable(lambda: table)[3:]
    ("table['a'][1]", "TypeError: cannot pickle '_thread.lock' object")
    """
    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, types.FunctionType):
        owner = f"function {obj.__qualname__!r} ({obj.__code__.co_filename}:{obj.__code__.co_firstlineno})"
        names = list(obj.__code__.co_freevars)
        cells = [c.cell_contents for c in (obj.__closure__ or ()) if _cell_filled(c)]
        captured = list(zip(names, cells))
        captured += [(n, obj.__globals__[n]) for n in _global_names(obj.__code__)
                     if n in obj.__globals__ and not isinstance(obj.__globals__[n], types.ModuleType)]
        for name, value in captured:
            reason = _pickles(value)
            if reason is not None:
                return find_unpicklable(value, seen, owner, name) or (owner, name, value, reason)
        return None
    for name, value in _pickled_children(obj):
        reason = _pickles(value)
        if reason is not None:
            path = _child_path(_path, name)
            return find_unpicklable(value, seen, _owner, path) or (_owner, path, value, reason)
    return None


def _child_path(path: str, child: str) -> str:
    """How the user reaches ``child`` (a name of :func:`_pickled_children`) of ``path``.

    >>> _child_path("counter", "lock"), _child_path("rows", "[2]"), _child_path("", "[2]")
    ('counter.lock', 'rows[2]', '[2]')
    >>> _child_path("holder", "argument 0")
    'holder (argument 0)'
    """
    if not path:
        return child
    if child.startswith("["):
        return path + child
    if child == "state" or child.startswith("argument "):
        return f"{path} ({child})"
    return f"{path}.{child}"


def _pickled_children(obj: Any) -> Iterator[tuple[str, Any]]:
    """What pickling ``obj`` actually pickles: items, or its reduce args and state."""
    if isinstance(obj, dict):
        yield from ((f"[{k!r}]", v) for k, v in obj.items())
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        yield from ((f"[{i}]", v) for i, v in enumerate(obj))
        return
    if isinstance(obj, type):
        return
    try:
        reduced = obj.__reduce_ex__(PROTOCOL)
    except Exception:
        return  # the object itself refuses to be pickled
    if not isinstance(reduced, tuple):
        return
    args = reduced[1] if len(reduced) > 1 else ()
    state = reduced[2] if len(reduced) > 2 else None
    for i, arg in enumerate(args or ()):
        if not isinstance(arg, type):
            yield (f"argument {i}", arg)
    if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
        state = {**(state[0] or {}), **(state[1] or {})}  # (dict, slots) form
    if isinstance(state, dict):
        yield from ((str(k), v) for k, v in state.items())
    elif state is not None:
        yield ("state", state)


def _cell_filled(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def _global_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def dump_batches(records: Iterable[Any], out, batch_size: int) -> int:
    """Write records to a binary stream as pickled lists; return bytes written.

    One pickler serves every batch (its memo cleared between them, so each batch
    unpickles on its own) and hands over its output frame by frame: no ``bytes`` of a
    whole batch is built and copied, and the memo table is not rebuilt per batch
    (TeraSort records: 36-49 ms to pickle 200 k with ``pickle.dumps`` per batch,
    23-32 ms so).
    """
    sink = _Frames()
    pickler = pickle.Pickler(sink, PROTOCOL)
    written = 0
    batch: list = []
    append = batch.append
    for record in records:
        append(record)
        if len(batch) >= batch_size:
            written += _dump_batch(pickler, sink, batch, out)
            batch.clear()
    if batch:
        written += _dump_batch(pickler, sink, batch, out)
    return written


class _Frames:
    """Where a pickler writes: its frames are kept until the whole batch pickled (a
    batch that needs cloudpickle leaves nothing half-written on the stream)."""

    __slots__ = ("parts",)

    def __init__(self):
        self.parts: list = []

    def write(self, data) -> int:
        self.parts.append(data)
        return len(data)


def _dump_batch(pickler: pickle.Pickler, sink: _Frames, batch: list, out) -> int:
    """Pickle one list of records onto ``out``; cloudpickle handles local classes."""
    try:
        pickler.dump(batch)
    except (pickle.PicklingError, AttributeError, TypeError):
        pickler.clear_memo()
        sink.parts.clear()
        data = _cloudpickle(batch)
        out.write(data)
        return len(data)
    pickler.clear_memo()
    written = 0
    for part in sink.parts:
        out.write(part)
        written += len(part)
    sink.parts.clear()
    return written


def read_batch_file(path: str, opener=open) -> Iterator[Any]:
    """The records of a file written with ``dump_batches``, streamed batch by batch."""
    with opener(path, "rb") as fh:
        while True:
            try:
                batch = pickle.load(fh)
            except EOFError:
                return
            yield from batch


#: Types ``marshal`` writes and reads back as themselves (a subclass, or another object with
#: the buffer protocol such as ``bytearray``, is written as its base type or as ``bytes``).
_MARSHAL_EXACT = frozenset({bytes, str, int, float, bool, type(None)})
#: A pickle that calls ``marshal.loads`` on the bytes that follow (``BINBYTES8``), then
#: ``_MARSHALLED_END``: ``pickle.load`` reads such a batch like any other.
_MARSHALLED_START = b"\x80\x05cmarshal\nloads\n\x8e"
_MARSHALLED_END = b"\x85R."
#: The same for a batch of pairs marshalled as two columns, ``(keys, values)``: the pickle
#: calls ``pairs_from_columns`` instead (no tuple per record is made to be written).
_COLUMNS_START = b"\x80\x05cvega_runtime.serde\npairs_from_columns\n\x8e"
#: marshal's format 2: no back-references (formats 3 and 4 look up every value held
#: elsewhere too, a dict's key say, in a table so as to write it once): plain values read
#: back equal either way. Writing 50k (int, int) records: 3.2 ms against 8.9 ms, reading
#: 9.8 against 10.9 ms, 25% more bytes; TeraSort's (10-byte, 90-byte) records: 9.1 against
#: 11.4 ms, 3% more bytes.
_MARSHAL_VERSION = 2


class PairColumns:
    """``(key, value)`` records of plain keys and values as two lists, which
    ``dump_record_list`` marshals a batch of each at a time: no tuple per record is made
    (a shuffle's map side buckets a dict's keys and values this way)."""

    __slots__ = ("keys", "values")

    def __init__(self, keys: list, values: list):
        self.keys, self.values = keys, values

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[Any]:
        return zip(self.keys, self.values)


def pairs_from_columns(data: bytes) -> list:
    """A batch written from ``PairColumns``: its records, as tuples."""
    keys, values = marshal.loads(data)
    return list(zip(keys, values))


class RecordSlice:
    """``records[start:stop]`` without a copy (no reference count of its records touched),
    for ``dump_record_list``; ``plain`` when every record is known to be a tuple of plain
    values (``plain_records``), so its batches are not checked again."""

    __slots__ = ("records", "start", "stop", "plain")

    def __init__(self, records: list, start: int, stop: int, plain: bool = False):
        self.records, self.start, self.stop, self.plain = records, start, stop, plain

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self) -> Iterator[Any]:
        return itertools.islice(self.records, self.start, self.stop)


def plain_records(records: list) -> bool:
    """Whether every record is a tuple of plain values, which ``marshal`` gives back exactly."""
    return ({tuple}.issuperset(map(type, records))
            and plain_values(itertools.chain.from_iterable(records)))


def plain_values(values: Iterable[Any]) -> bool:
    """Whether every value is plain (``bytes``, ``str``, ``int``, ``float``, ``bool`` or
    ``None``: what ``marshal`` gives back exactly); the items of a dict whose keys and values
    are plain are plain records, checked without a tuple made per item."""
    return _MARSHAL_EXACT.issuperset(map(type, values))


def dump_record_list(records, out, batch_size: int) -> int:
    """``dump_batches`` for a list of records (or a ``RecordSlice`` of one): the same stream
    of batches, ``pickle.load`` reads it back the same way; return bytes written.

    A batch whose records are tuples of plain values (``bytes``, ``str``, ``int``, ``float``,
    ``bool``, ``None``: the types ``marshal`` reads back exactly) is written with ``marshal``,
    wrapped in a pickle that calls ``marshal.loads``, other batches with pickle. marshal
    writes such records faster (TeraSort records, batches of 2048 in sorted order: 600 ns
    a record against 790 ns with pickle, reading 225 against 260 ns, on a loaded machine),
    and the batches are slices of the list, with no Python loop per record.
    """
    if isinstance(records, PairColumns):
        return _dump_columns(records, out, batch_size)
    if isinstance(records, RecordSlice):
        source, begin, end, known_plain = records.records, records.start, records.stop, records.plain
    else:
        source, begin, end, known_plain = records, 0, len(records), False
    sink = _Frames()
    pickler = pickle.Pickler(sink, PROTOCOL)
    written = 0
    for start in range(begin, end, batch_size):
        batch = source[start:min(start + batch_size, end)]
        if known_plain or plain_records(batch):
            data = marshal.dumps(batch, _MARSHAL_VERSION)
            out.write(_MARSHALLED_START)
            out.write(len(data).to_bytes(8, "little"))
            out.write(data)
            out.write(_MARSHALLED_END)
            written += len(_MARSHALLED_START) + 8 + len(data) + len(_MARSHALLED_END)
        else:
            written += _dump_batch(pickler, sink, batch, out)
    return written


def _dump_columns(columns: PairColumns, out, batch_size: int) -> int:
    keys, values = columns.keys, columns.values
    written = 0
    for start in range(0, len(keys), batch_size):
        stop = start + batch_size
        data = marshal.dumps((keys[start:stop], values[start:stop]), _MARSHAL_VERSION)
        for part in (_COLUMNS_START, len(data).to_bytes(8, "little"), data, _MARSHALLED_END):
            out.write(part)
            written += len(part)
    return written
