"""lambda_fusion's pure parts: a lambda's body read from its file, proved to be its code
before it is fused into a combine loop, and every case that must not be fused."""

from __future__ import annotations

import linecache
from operator import add

import pytest

from vega_runtime.lambda_fusion import (POSITIONS, body_text, fused_loop, lambda_source,
                                        parse_at, same_code)

KEYS = 7

#: The tests of what is fused: before Python 3.11 (no code positions) nothing is.
fuses = pytest.mark.skipif(not POSITIONS, reason="Python 3.11+ fuses lambdas (PEP 657 "
                           "code positions); before it, nothing is fused")


def run(loop, records):
    combiners: dict = {}
    missing = object()
    assert loop(combiners, iter(records), missing) is None
    return combiners


def folded(f, records, fold):
    out: dict = {}
    for record in records:
        key, value = f(record)
        if fold == "add":
            out[key] = out[key] + value if key in out else value
        else:
            out.setdefault(key, []).append(value)
    return out


def fusable_lambdas():
    k, r = 3, range(4)
    return {
        "closure": lambda i: (i % k, i),
        "global": lambda i: (i % KEYS, -i),
        "comprehension": lambda i: (i % k, sum([j * i for j in r if j != k])),
        "nested comprehensions": lambda i: (i % 2, len({(a, b) for a in r for b in range(a)})),
        "walrus": lambda i: ((y := i % k), y * 10 + i),
        "walrus in a comprehension": lambda x: (k, [x * z for z in r if (q := z)] + [q]),
        "multi-line": lambda i: (i % k
                                 if i else -1,
                                 i),
        "two on a line, second": (lambda i: (i, 1), lambda é: (é % 2, "ü" * é))[1],
        "param captured": lambda i: (i % 2, [i for _ in r]),
        "f-string": lambda i: (f"{i % k!r:>{k}}", i),
        "body at column 0": (lambda i:
(i % k, i)),  # noqa: E128
    }


@pytest.mark.parametrize("name", sorted(fusable_lambdas()))
@pytest.mark.parametrize("fold", ["add", "group"])
@fuses
def test_fused_loop_folds_as_calling_the_lambda(name, fold):
    f = fusable_lambdas()[name]
    loop = fused_loop(f, lambda_source(f), fold)
    assert loop is not None, name
    records = range(50)
    assert run(loop, records) == folded(f, records, fold)


@fuses
def test_two_lambdas_on_one_line_each_get_their_own_body():
    first, second = (lambda i: (i, 1)), (lambda i: (i % 3, i))
    assert lambda_source(first)[2] == "(i, 1)" and lambda_source(second)[2] == "(i % 3, i)"
    assert run(fused_loop(second, lambda_source(second), "add"), range(9)) == {0: 9, 1: 12, 2: 15}


@fuses
def test_walrus_target_is_unbound_before_each_record():
    """A read before the walrus assigns fails on every record, as in the lambda (no value
    left over from the previous record)."""
    f = lambda i: (y if i % 2 else (y := i), i)  # noqa: F821 - read before assignment
    loop = fused_loop(f, lambda_source(f), "add")
    assert loop is not None
    with pytest.raises(UnboundLocalError):
        f(1)
    with pytest.raises(UnboundLocalError):
        loop({}, iter([0, 1]), object())


@fuses
def test_stop_iteration_is_returned_for_the_caller():
    f = lambda i: (next(iter(())) if i == 2 else i, i)  # noqa: E731
    stopped = fused_loop(f, lambda_source(f), "group")({}, iter(range(5)), object())
    assert type(stopped) is StopIteration


def test_not_fused():
    k = 2

    def named(i):
        return i, i

    cases = {
        "named function": named,
        "default": lambda i, n=1: (i, n),
        "two parameters": lambda i, j: (i, j),
        "*args": lambda *a: a,
        "closure escaping": lambda i: (i % k, lambda: i),
        "generator expression": lambda i: (i % k, sum(x for x in (i, k))),
        "locals()": lambda i: (i % k, locals()),
        "our names": lambda _vega_fused_key: (_vega_fused_key, 1),
        "builtin": len,
    }
    for name, f in cases.items():
        assert fused_loop(f, lambda_source(f), "add") is None, name


@fuses
def test_source_that_is_not_the_lambdas_is_refused():
    """A body whose text compiles to other code (a file edited since) is never fused."""
    k = 3
    f = lambda i: (i % k, i)  # noqa: E731
    line, col, text = lambda_source(f)
    assert fused_loop(f, (line, col, "(i % k, i + 0)"), "add") is None
    assert fused_loop(f, (line, col, "(i // k, i)"), "add") is None  # same shape, other op
    assert fused_loop(f, (line, col + 1, text), "add") is None      # other positions
    assert fused_loop(f, (line, col, "(i %"), "add") is None         # not an expression
    assert fused_loop(f, (line, col, text), "add") is not None


def test_lambda_without_a_source_file_is_not_read():
    namespace: dict = {}
    exec(compile("f = lambda i: (i, i)", "<string>", "exec"), namespace)
    assert lambda_source(namespace["f"]) is None
    path = "/nonexistent/vega/fusion.py"
    exec(compile("\n\nf = lambda i: (i % 2, i)", path, "exec"), namespace)
    linecache.clearcache()
    assert lambda_source(namespace["f"]) is None


@fuses
def test_fused_code_keeps_the_lambdas_file_and_line():
    k = 5
    f = lambda i: (100 // (i - k), i)  # noqa: E731
    loop = fused_loop(f, lambda_source(f), "add")
    assert loop.__code__.co_filename == f.__code__.co_filename
    assert loop.__name__ == "<lambda>" and loop.__qualname__ == f.__qualname__
    with pytest.raises(ZeroDivisionError) as info:
        loop({}, iter(range(10)), object())
    frame = info.traceback[-1]
    assert (str(frame.path), frame.lineno + 1) == (__file__, f.__code__.co_firstlineno)


def test_pure_helpers():
    assert body_text(["x = lambda i: (i,\n", "  2)\n"], (1, 14, 2, 4)) == "(i,\n  2)"
    assert body_text(["é = lambda i: i\n"], (1, 1, 1, 3)) is None  # inside a character
    node = parse_at("i", 2, 0)
    assert (node.lineno, node.col_offset, node.end_col_offset) == (2, 0, 1)


@fuses
def test_same_code():
    code = (lambda i: i).__code__
    assert same_code(code, code) and not same_code(None, code)
    assert not same_code((lambda i: -i).__code__, code)


def test_nothing_is_read_or_fused_without_code_positions():
    """Python 3.10 (setup.cfg allows it) has no code positions: no lambda's source is
    read, and a source shipped anyway is not fused, so map() calls the lambda. Every
    lambda job failed there with "get_instructions() got an unexpected keyword argument
    'show_caches'"."""
    f = lambda i: (i % 3, i)  # noqa: E731
    source = (f.__code__.co_firstlineno, 18, "(i % 3, i)")
    if POSITIONS:
        assert lambda_source(f)[0] == source[0]
    else:
        assert lambda_source(f) is None
        assert fused_loop(f, source, "add") is None


@fuses
def test_errors_of_the_loops_own_steps_are_the_same():
    """An unhashable key, or values that do not add, fail as in the called loop."""
    unhashable = lambda i: ([i], i)  # noqa: E731
    mixed = lambda i: (0, i if i else "a")  # noqa: E731
    for f, fold, error in ((unhashable, "add", "unhashable type: 'list'"),
                           (unhashable, "group", "unhashable type: 'list'"),
                           (mixed, "add", "can only concatenate str")):
        loop = fused_loop(f, lambda_source(f), fold)
        with pytest.raises(TypeError, match=error):
            loop({}, iter(range(3)), object())
        with pytest.raises(TypeError, match=error):
            folded(f, range(3), fold)


@fuses
def test_reduce_records_sums_a_fused_map_as_functools_reduce():
    """reduce(add) of map(lambda)'s records: one loop, the same sum (and the same empty
    partition); other reducers and unfusable maps go through functools.reduce."""
    import functools
    import random

    from vega_runtime.user_code import MappedRecords, map_records
    from vega_runtime.lambda_fusion import reduce_records

    hits = lambda _: 1 if random.random() ** 2 + random.random() ** 2 <= 1 else 0  # noqa
    assert fused_loop(hits, lambda_source(hits), "sum") is not None
    random.seed(7)
    expected = functools.reduce(add, map(hits, range(5000)))
    random.seed(7)
    records = map_records(hits, iter(range(5000)), lambda_source(hits))
    assert type(records) is MappedRecords and reduce_records(add, records) == [expected]
    floats = lambda i: (i * 0.1) ** 2  # noqa: E731 - order of float additions kept
    for reducer in (add, lambda a, b: a + b, max, lambda a, b: b - a):
        want = [functools.reduce(reducer, map(floats, range(100)))]
        assert reduce_records(reducer, map_records(floats, iter(range(100)),
                                                   lambda_source(floats))) == want
    assert reduce_records(add, map_records(floats, iter(()), lambda_source(floats))) == []
    assert reduce_records(add, iter([[1], [2]])) == [[1, 2]]
    stops = lambda i: next(iter(())) if i == 3 else i  # noqa: E731
    from vega_runtime.errors import StopIterationInUserCode
    with pytest.raises(StopIterationInUserCode):
        reduce_records(add, map_records(stops, iter(range(5)), lambda_source(stops)))


@fuses
def test_method_calls_on_imported_modules_are_fused():
    """``random.random()`` of an imported module compiles to an attribute load and call
    (3.11), a method call on anything else: both are recompiled alike and fused."""
    class Box:
        def twice(self, x):
            return 2 * x

    box = Box()
    on_module = lambda i: (i % 2, linecache.getline("", 0) + str(i))  # noqa: E731
    on_object = lambda i: (i % 2, box.twice(i))  # noqa: E731
    mixed = lambda i: (i % 2 + len(linecache.getline("", 0)), box.twice(i))  # noqa: E731
    for f in (on_module, on_object, mixed):
        loop = fused_loop(f, lambda_source(f), "add")
        assert loop is not None
        assert run(loop, range(10)) == folded(f, range(10), "add")
