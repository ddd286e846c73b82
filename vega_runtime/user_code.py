"""User functions fail their task; they never end an iterator early.

A function given to ``map`` runs inside builtin iterators (``map``, ``filter``,
``chain``) and reducers: a ``StopIteration`` it raises would look like the end
of the partition, and ``rdd.map(f).collect()`` would return fewer records with
no error.  ``fail_on_stopiteration`` turns it into ``StopIterationInUserCode``,
as PySpark does.  ``aliases.install`` applies it once, when a public method is
called from user code, to each argument named in ``USER_FUNCTION_PARAMETERS``;
the wrapped function then travels to the executors with the stage.

The element-wise hot path (``map``, ``filter``, ``flat_map``, ``map_values``,
``flat_map_values``) needs no wrapper: its records flow through the generators
below, which catch the ``StopIteration`` around the whole loop (free in Python
3.11) and run as fast as the builtin ``map`` and ``filter``.
"""

from __future__ import annotations

import operator
import types
from itertools import repeat
from typing import Any, Callable, Iterator

from .errors import StopIterationInUserCode

#: ``inspect.CO_VARARGS | inspect.CO_VARKEYWORDS`` (a ``*args`` or ``**kwargs`` parameter),
#: without loading ``inspect`` (and ``ast``) into every driver
_VARIADIC = 0x04 | 0x08

#: Parameters of the public API that take a user function.
USER_FUNCTION_PARAMETERS = frozenset({
    "f", "func", "op", "seq_op", "comb_op", "seq_func", "comb_func", "create_combiner",
    "merge_value", "merge_combiners", "keyfunc", "key", "partition_func",
})

#: (method, parameter) pairs that share a name above but take a value, not a function.
VALUE_PARAMETERS = frozenset({("lookup", "key")})

#: (method, parameter) pairs whose function runs inside the generators below: not wrapped.
GUARDED_IN_PIPELINE = frozenset({("map", "f"), ("filter", "f"), ("flat_map", "f"),
                                 ("map_values", "f"), ("flat_map_values", "f")})

#: Builtins cannot raise StopIteration themselves: left unwrapped, they stay C-speed.
_BUILTIN_TYPES = (types.BuiltinFunctionType, types.MethodDescriptorType,
                  types.WrapperDescriptorType, types.MethodWrapperType,
                  types.ClassMethodDescriptorType)


def fail_on_stopiteration(f: Callable) -> Callable:
    """``f``, raising ``StopIterationInUserCode`` where it would raise ``StopIteration``.

    >>> def first(xs):
    ...     return next(iter(xs))
    >>> list(map(first, [[1], []]))          # the StopIteration ends the map silently
    [1]
    >>> list(map(fail_on_stopiteration(first), [[1], []]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vega_runtime.errors.StopIterationInUserCode: Caught StopIteration thrown from user's code; ...
    """
    if not callable(f) or getattr(f, "_fails_on_stopiteration", False) or _is_builtin(f):
        return f

    def guarded(*args):  # Vega calls user functions with positional arguments only
        try:
            return f(*args)
        except StopIteration as exc:
            raise StopIterationInUserCode(describe(f), repr(exc)) from exc

    guarded.__name__ = getattr(f, "__name__", "function")
    guarded.__qualname__ = getattr(f, "__qualname__", guarded.__name__)
    guarded.__doc__ = getattr(f, "__doc__", None)
    guarded.__wrapped__ = f
    guarded._fails_on_stopiteration = True
    return guarded


def unwrapped(f: Any) -> Any:
    """The user's own function behind ``fail_on_stopiteration`` (for equality checks)."""
    return f.__wrapped__ if getattr(f, "_fails_on_stopiteration", False) else f


def describe(f: Callable) -> str:
    """``name (file:line)`` of a function, for error messages."""
    name = getattr(f, "__qualname__", None) or type(f).__name__
    code = getattr(f, "__code__", None)
    if code is None:
        return name
    return f"{name} ({code.co_filename}:{code.co_firstlineno})"


def _is_builtin(f: Any) -> bool:
    if isinstance(f, _BUILTIN_TYPES):
        return True
    return isinstance(f, type) and f.__module__ == "builtins"


def stopped_in(f: Callable, exc: StopIteration) -> StopIterationInUserCode:
    """The error of a task whose user function ``f`` raised ``exc``."""
    return StopIterationInUserCode(describe(f), repr(exc))


#: Opcodes that only move or pack values: a function made of nothing else calls no code.
_INERT_OPCODES = frozenset({
    "RESUME", "NOP", "CACHE", "COPY_FREE_VARS", "MAKE_CELL", "LOAD_FAST", "LOAD_FAST_CHECK",
    "LOAD_FAST_LOAD_FAST", "LOAD_CONST", "LOAD_DEREF", "BUILD_TUPLE", "BUILD_LIST",
    "RETURN_VALUE", "RETURN_CONST",
})


def cannot_stop_iteration(f: Any) -> bool:
    """Whether calling ``f`` can never raise StopIteration, so the builtin ``map`` and
    ``filter`` may call it: functions already guarded, methods of ``str`` and ``bytes``
    (``str.split``: C code that calls no other code) and Python functions that only pack
    their arguments and constants (``lambda w: (w, 1)``), which call nothing.  Anything
    else (a call, an operator, an attribute, ``next``, ``len``) may raise it or run user
    code that does.

    >>> cannot_stop_iteration(lambda w: (w, 1)), cannot_stop_iteration(str.split)
    (True, True)
    >>> cannot_stop_iteration(lambda i: (i % 3, i)), cannot_stop_iteration(next)
    (False, False)
    """
    if getattr(f, "_fails_on_stopiteration", False):
        return True
    if type(f) is types.MethodDescriptorType:
        return f.__objclass__ in (str, bytes)
    if type(f) is not types.FunctionType:
        return False
    import dis  # only when a pipeline is built; keeps start-up light

    return all(i.opname in _INERT_OPCODES for i in dis.get_instructions(f.__code__))


def map_records(f: Callable, records: Iterator, source=None) -> Iterator:
    """``map(f, records)``, failing where ``f`` raises StopIteration.

    The builtin ``map`` when ``f`` cannot raise it (no generator frame per record).
    ``source`` is ``f``'s body as its file has it (``lambda_fusion.lambda_source``), which
    a consumer may fuse into its own loop.

    >>> list(map_records(str, [1, 2]))
    ['1', '2']
    """
    pairing = _pairs_with_constant(f)
    if pairing is not None:  # lambda w: (w, 1): the same tuples, made by zip at C speed
        constant, first = pairing
        return ConstantPairs(records, constant) if first else zip(repeat(constant), records)
    if cannot_stop_iteration(f):
        return map(f, records)
    return MappedRecords(f, records, source)


class ConstantPairs(zip):
    """``(record, constant)`` for each record: ``zip(records, repeat(constant))``, which a
    consumer may skip, reading ``keys`` (the records) and ``constant`` instead (a
    shuffle's map side counts the keys of ``(word, 1)`` pairs reduced with ``add``).

    >>> pairs = ConstantPairs(iter("ab"), 1)
    >>> list(pairs), pairs.constant
    ([('a', 1), ('b', 1)], 1)
    """

    __slots__ = ("keys", "constant")

    def __new__(cls, records: Iterator, constant: Any):
        records = iter(records)
        self = super().__new__(cls, records, repeat(constant))
        self.keys, self.constant = records, constant
        return self


def adds(f: Any) -> bool:
    """Whether ``f(a, b)`` is ``a + b``: ``operator.add``, or a function whose code is
    only that (``lambda a, b: a + b``), guarded or not.

    >>> adds(operator.add), adds(lambda a, b: a + b), adds(lambda a, b: b + a)
    (True, True, False)
    """
    f = unwrapped(f)
    if f is operator.add:
        return True
    code = getattr(f, "__code__", None)
    if (type(f) is not types.FunctionType or code.co_argcount != 2 or code.co_kwonlyargcount
            or code.co_flags & (_VARIADIC)):
        return False
    import dis

    steps = [(i.opname, i.argrepr if i.opname == "BINARY_OP" else i.argval)
             for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP", "CACHE")]
    first, second = code.co_varnames[:2]
    loads = [("LOAD_FAST", first), ("LOAD_FAST", second)]
    if steps[:1] == [("LOAD_FAST_LOAD_FAST", (first, second))]:  # Python 3.13
        steps[:1] = loads
    if steps[2:3] == [("BINARY_ADD", None)]:  # Python 3.10
        steps[2:3] = [("BINARY_OP", "+")]
    return steps == [*loads, ("BINARY_OP", "+"), ("RETURN_VALUE", None)]


def _pairs_with_constant(f: Any):
    """``(c, True)`` when ``f`` is ``lambda x: (x, c)``, ``(c, False)`` when it is
    ``lambda x: (c, x)`` (one positional parameter, a constant ``c``), else None.

    >>> _pairs_with_constant(lambda w: (w, 1)), _pairs_with_constant(lambda w: ("k", w))
    ((1, True), ('k', False))
    >>> _pairs_with_constant(lambda w: (w, w)), _pairs_with_constant(lambda w, n=1: (w, n))
    (None, None)
    """
    code = getattr(f, "__code__", None)
    if (type(f) is not types.FunctionType or code.co_argcount != 1 or code.co_kwonlyargcount
            or code.co_flags & (_VARIADIC)
            or not cannot_stop_iteration(f)):
        return None
    import dis

    steps = [(i.opname, i.argval) for i in dis.get_instructions(code)
             if i.opname not in ("RESUME", "NOP", "CACHE")]
    if len(steps) != 4 or steps[2:] != [("BUILD_TUPLE", 2), ("RETURN_VALUE", None)]:
        return None
    parameter = ("LOAD_FAST", code.co_varnames[0])
    if steps[0] == parameter and steps[1][0] == "LOAD_CONST":
        return steps[1][1], True
    if steps[1] == parameter and steps[0][0] == "LOAD_CONST":
        return steps[0][1], False
    return None


class MappedRecords:
    """``f(record)`` for each record, failing where ``f`` raises StopIteration: iterating
    it runs a generator. A consumer that loops over the records anyway may read ``f`` and
    ``records`` instead and call ``f`` in its own loop (``stopped_in`` makes the error),
    saving a generator step per record (a shuffle's map-side combine), or put ``f``'s
    body in its loop (``source``: ``lambda_fusion``), saving the call too.

    >>> mapped = MappedRecords(lambda i: (i % 2, i), range(3))
    >>> list(mapped), mapped.f(5)
    ([(0, 0), (1, 1), (0, 2)], (1, 5))
    """

    __slots__ = ("f", "records", "source", "_generator")

    def __init__(self, f: Callable, records: Iterator, source=None):
        self.f, self.records, self.source = f, iter(records), source
        self._generator = _guarded_map(f, self.records)

    def __iter__(self) -> Iterator:
        return self._generator

    def __next__(self):
        return next(self._generator)


def _guarded_map(f: Callable, records: Iterator) -> Iterator:
    try:
        for record in records:
            yield f(record)
    except StopIteration as exc:
        raise stopped_in(f, exc) from exc


def filter_records(f: Callable, records: Iterator) -> Iterator:
    """``filter(f, records)``, failing where ``f`` raises StopIteration."""
    if cannot_stop_iteration(f):
        return filter(f, records)
    return _guarded_filter(f, records)


def _guarded_filter(f: Callable, records: Iterator) -> Iterator:
    try:
        for record in records:
            if f(record):
                yield record
    except StopIteration as exc:
        raise stopped_in(f, exc) from exc


def map_record_values(f: Callable, pairs: Iterator) -> Iterator:
    """``(k, f(v))`` for each pair, failing where ``f`` raises StopIteration."""
    try:
        for key, value in pairs:
            yield key, f(value)
    except StopIteration as exc:
        raise stopped_in(f, exc) from exc


def flat_map_record_values(f: Callable, pairs: Iterator) -> Iterator:
    """``(k, w)`` for each ``w`` in ``f(v)``, failing where ``f`` raises StopIteration."""
    try:
        for key, value in pairs:
            for item in f(value):
                yield key, item
    except StopIteration as exc:
        raise stopped_in(f, exc) from exc
