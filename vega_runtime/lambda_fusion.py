"""Fuse a user's one-line ``lambda x: <expr>`` into the loop that consumes its results.

``rdd.map(lambda i: (i % keys, i)).reduce_by_key(add)`` calls the lambda once per record
(a Python call, a tuple made and unpacked); Spark's whole-stage code generation would
fuse the two operators into one loop. Fused here: the map side's combine of
``reduce_by_key(add)`` and ``group_by_key`` (``shuffle.combine.combine_mapped``) and the
``reduce(add)`` action's sum of a partition (``reduce_records``). Here the lambda's own source is put in the loop:
``for i in batch: key, value = (i % keys, i)`` (CPython unpacks a tuple display without
building it), compiled once per code object, bound to the lambda's globals and closure
cells, under the lambda's file name and line numbers, so a traceback points at the
user's line as it would have.

The source must provably be the lambda's: the driver (which imported the user's file)
reads the text of the lambda's body from its file (``lambda_source``: the span of its
instructions' positions) and ships it with the task; the executor recompiles
``lambda x: <text>`` at the same place with the same free variables and fuses only if
the code is identical to the lambda's (instructions, constants, names, variables,
positions). Anything else (source unavailable, a file edited after import, a lambda
made elsewhere by cloudpickle, defaults, ``*args``, an expression that makes a closure
or a generator, reads ``locals()`` and the like, or uses a name of the loop's) is not
fused, and the caller calls the lambda as before. Nor is anything fused before Python
3.11, whose code objects have no positions to prove the source with (PEP 657).
"""

from __future__ import annotations

import sys
import types
from functools import lru_cache
from typing import Any, Callable, Optional, Tuple

#: ``(line, column, text)``: where a lambda's body starts in its file (column in UTF-8
#: bytes, as code positions count) and its text.
Source = Tuple[int, int, str]

#: Whether code objects carry the positions of their instructions (``co_positions``, and
#: ``dis``'s ``show_caches``): Python 3.11 and later. Without them nothing is fused.
POSITIONS = sys.version_info >= (3, 11)

#: Bodies longer than this are not shipped (nor fused).
MAX_SOURCE = 2000

#: The loop's own names: an expression using any of them is not fused.
_PREFIX = "_vega_fused_"

#: Builtins that see or run code in the calling frame: in the loop, that frame is the
#: loop's, not the lambda's, so expressions naming them are not fused.
_FRAME_NAMES = frozenset({"locals", "vars", "dir", "eval", "exec", "super", "breakpoint",
                          "globals", "__import__"})

#: Builtins the loop itself names: a module defining its own is not fused.
_SHADOWED = frozenset({"StopIteration", "NameError"})

#: Code flags that make a lambda something other than a plain function of its argument:
#: ``*args``, ``**kwargs``, generator, coroutine, async generator.
_SPECIAL = 0x04 | 0x08 | 0x20 | 0x80 | 0x100 | 0x200
_NESTED = 0x10  # CO_NESTED: differs with where the lambda was written; no effect on its code

#: Instructions whose positions are not the body's (frame set-up, the lambda's return).
_FRAME_OPS = frozenset({"RESUME", "RETURN_VALUE", "RETURN_CONST", "COPY_FREE_VARS",
                        "MAKE_CELL", "CACHE"})

#: The head of the loops over ``(key, value)`` pairs (folds "add" and "group").
_PAIR_LOOP = """
def {p}loop({p}combiners, {p}batch, {p}missing):
    {p}get = {p}combiners.get
    for {param} in {p}batch:
        try:
            {p}key, {p}value = {p}expr
        except StopIteration as {p}stop:
            return {p}stop
{unbind}
"""

#: The loop of each fold, ``{expr}`` standing for the lambda's body and ``{p}`` for the
#: loop's names. It returns the StopIteration the body raised (the caller fails the task
#: with it, as it does when the lambda raises it), None when the batch is done.
_LOOPS = {
    "add": _PAIR_LOOP + """\
        {p}current = {p}get({p}key, {p}missing)
        {p}combiners[{p}key] = {p}value if {p}current is {p}missing else {p}current + {p}value
""",
    "group": _PAIR_LOOP + """\
        {p}group = {p}get({p}key)
        if {p}group is None:
            {p}combiners[{p}key] = [{p}value]
        else:
            {p}group.append({p}value)
""",
    "sum": """
def {p}loop({p}combiners, {p}batch, {p}missing):
    {p}total = {p}missing
    for {param} in {p}batch:
        try:
            {p}value = {p}expr
        except StopIteration as {p}stop:
            return {p}stop
{unbind}
        {p}total = {p}value if {p}total is {p}missing else {p}total + {p}value
    {p}combiners.append({p}total)
""",
}

#: A walrus target is unbound again after each record, as each call of the lambda starts
#: with it unbound (a read before the assignment fails the same way).
_UNBIND = """\
        try:
            del {name}
        except NameError:
            pass
"""


def _plain_lambda(f: Any) -> bool:
    """Whether ``f`` is a lambda of one plain positional parameter, with no defaults."""
    code = getattr(f, "__code__", None)
    return (type(f) is types.FunctionType and code.co_name == "<lambda>"
            and code.co_argcount == 1 and not code.co_posonlyargcount
            and not code.co_kwonlyargcount and not code.co_flags & _SPECIAL
            and not f.__defaults__ and not f.__kwdefaults__)


def body_span(code: types.CodeType) -> Optional[Tuple[int, int, int, int]]:
    """``(line, column, end line, end column)`` that the positions of a lambda's body
    instructions cover (None without positions), columns in UTF-8 bytes.

    >>> body_span((lambda i: (i % 3, i)).__code__)[1:4:2]
    (21, 31)
    """
    if not POSITIONS:
        return None
    span = None
    import dis

    for instruction, (line, end_line, col, end_col) in zip(
            dis.get_instructions(code, show_caches=True), code.co_positions()):
        if instruction.opname in _FRAME_OPS:
            continue
        if line is None or end_line is None or col is None or end_col is None:
            return None
        start, end = (line, col), (end_line, end_col)
        if span is None:
            span = [start, end]
        else:
            span = [min(span[0], start), max(span[1], end)]
    if span is None:
        return None
    return span[0][0], span[0][1], span[1][0], span[1][1]


def body_text(lines: list, span: Tuple[int, int, int, int]) -> Optional[str]:
    """The text of ``lines`` (a file's, 1-based lines) from ``span``'s start to its end.

    >>> body_text(["x = lambda i: (i, 1)\\n"], (1, 14, 1, 20))
    '(i, 1)'
    """
    line, col, end_line, end_col = span
    if not 1 <= line <= end_line <= len(lines):
        return None
    chosen = [part.encode("utf-8") for part in lines[line - 1:end_line]]
    chosen[-1] = chosen[-1][:end_col]
    chosen[0] = chosen[0][col:]
    try:
        return b"".join(chosen).decode("utf-8")
    except UnicodeDecodeError:  # a column inside a character: not a body's
        return None


def lambda_source(f: Any) -> Optional[Source]:
    """The body of ``f`` as its file has it, for ``fused_loop`` (driver side, where the
    file is); None when ``f`` is not a plain one-parameter lambda or its file is unknown.
    Unverified: ``fused_loop`` checks it against the code."""
    if not _plain_lambda(f):
        return None
    code = f.__code__
    span = body_span(code)
    if span is None:
        return None
    import linecache

    text = body_text(linecache.getlines(code.co_filename, f.__globals__), span)
    if not text or len(text) > MAX_SOURCE:
        return None
    return span[0], span[1], text


def fused_loop(f: Callable, source: Optional[Source], fold: str) -> Optional[Callable]:
    """``loop(combiners, batch, missing)``: ``combine_mapped``'s ``fold`` ("add" or
    "group") of ``map(f, batch)`` with ``f``'s body inline, or ("sum") the sum of
    ``map(f, batch)`` appended to the list ``combiners`` (``missing`` when the batch is
    empty); it returns a StopIteration the body raised (None when done). None when
    ``source`` is not provably ``f``'s body."""
    if (source is None or not POSITIONS or not _plain_lambda(f)
            or _SHADOWED & f.__globals__.keys()):
        return None
    code = f.__code__
    modules = frozenset(name for name in code.co_names
                        if type(f.__globals__.get(name)) is types.ModuleType)
    code = _fused_code(code, code.co_filename, source, fold, modules)
    if code is None:
        return None
    return types.FunctionType(code, f.__globals__, code.co_name, None, f.__closure__)


@lru_cache(maxsize=256)
def _fused_code(code: types.CodeType, filename: str, source: Source, fold: str,
                modules: frozenset) -> Optional[types.CodeType]:
    """The fused loop's code for the lambda ``code`` (cached: once per code object, file
    and fold), None when ``source`` does not compile to ``code``. ``modules``: the
    global names whose values are modules."""
    import ast

    line, col, text = source
    try:
        body = parse_at(text, line, col)
    except (SyntaxError, ValueError):
        return None
    param = code.co_varnames[0]
    names = _names(body)
    if (any(name.startswith(_PREFIX) for name in names | {param}) or names & _FRAME_NAMES
            or any(isinstance(node, (ast.Lambda, ast.GeneratorExp, ast.Yield, ast.YieldFrom,
                                     ast.Await)) for node in ast.walk(body))):
        return None  # a name of the loop's, the frame seen, or a closure outliving a record
    others = frozenset(names - {param} - set(code.co_freevars))
    # CPython 3.11 compiles ``name.f()`` as an attribute load and a call, not a method
    # call, when the module binds ``name`` by an import statement: the body is recompiled
    # with its module-valued globals imported, then none, then every global it names.
    for imported in (modules, frozenset(), others):
        if same_code(_compiled_lambda(code, filename, param, body, imported), code):
            break
    else:
        return None
    walrus = sorted({node.target.id for node in ast.walk(body)
                     if isinstance(node, ast.NamedExpr)})
    template = _LOOPS.get(fold)
    if template is None:
        raise ValueError(f"a fused loop folds by 'add', 'group' or 'sum', not {fold!r}")
    loop = ast.parse(template.format(
        p=_PREFIX, param=param,
        unbind="".join(_UNBIND.format(name=name) for name in walrus)))
    _place(loop, body)
    _replace_placeholder(loop, body)
    fused = _nested_code(_in_scope(loop.body, code.co_freevars, imported), filename,
                         _future_flags(code))
    if fused is None or fused.co_freevars != code.co_freevars:
        return None
    return fused.replace(co_name=code.co_name, co_qualname=code.co_qualname)


def parse_at(text: str, line: int, col: int):
    """``text`` parsed as an expression whose first character is at ``line``, ``col``
    (UTF-8 bytes) of its file: its nodes carry the file's positions.

    >>> node = parse_at("(i, 1)", 3, 14)
    >>> node.lineno, node.col_offset, node.end_col_offset
    (3, 14, 20)
    """
    import ast

    if col > 0:  # "(" then spaces up to the column: inside brackets, indentation is free
        padded = "\n" * (line - 1) + "(" + " " * (col - 1) + text + "\n)"
    elif line > 1:
        padded = "\n" * (line - 2) + "(\n" + text + "\n)"
    else:
        raise ValueError("a lambda's body cannot start its file")
    return ast.parse(padded, mode="eval").body


def _names(node) -> set:
    """Every identifier ``node`` names (variables, parameters, walrus and loop targets)."""
    import ast

    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.arg):
            names.add(child.arg)
    return names


def _compiled_lambda(code: types.CodeType, filename: str, param: str, body,
                     imported: frozenset):
    """``lambda param: body`` compiled where ``code`` was: nested in a function that binds
    ``code``'s free variables, at ``code``'s first line, in a module that imports the
    names ``imported``."""
    import ast
    import copy

    node = ast.Lambda(args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=param)],
                                         vararg=None, kwonlyargs=[], kw_defaults=[],
                                         kwarg=None, defaults=[]),
                      body=copy.deepcopy(body))
    for part in (node, node.args, node.args.args[0]):
        part.lineno, part.col_offset = code.co_firstlineno, 0
        part.end_lineno, part.end_col_offset = body.end_lineno, body.end_col_offset
    returned = ast.Return(value=node)
    ast.copy_location(returned, node)
    return _nested_code(_in_scope([returned], code.co_freevars, imported), filename,
                        _future_flags(code), kind="<lambda>")


def _in_scope(statements: list, freevars: tuple, imported: frozenset = frozenset()):
    """A module ``import <imported>`` defining ``def _vega_fused_scope(): <freevars> =
    None; <statements>``."""
    import ast

    scope = ast.parse("".join(f"import {name}\n" for name in sorted(imported))
                      + f"def {_PREFIX}scope():\n"
                      + "".join(f"    {name} = None\n" for name in freevars) + "    pass\n")
    scope.body[-1].body[len(freevars):] = statements
    return ast.fix_missing_locations(scope)


def _future_flags(code: types.CodeType) -> int:
    """The ``from __future__`` features ``code`` was compiled with (its file's)."""
    import __future__

    features = 0
    for name in __future__.all_feature_names:
        features |= getattr(__future__, name).compiler_flag
    return code.co_flags & features


def _nested_code(module, filename: str, flags: int,
                 kind: str = "") -> Optional[types.CodeType]:
    """The code of the one function (or lambda: ``kind="<lambda>"``) defined in the scope
    function of ``module``, compiled with the ``__future__`` features ``flags``."""
    try:
        compiled = compile(module, filename, "exec", flags=flags, dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    scope = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    inner = [c for c in scope.co_consts if isinstance(c, types.CodeType)
             and (not kind or c.co_name == kind)]
    return inner[0] if len(inner) == 1 else None


def same_code(candidate: Optional[types.CodeType], code: types.CodeType) -> bool:
    """Whether ``candidate`` is ``code``: the same instructions, constants (nested code
    included, with its positions), names, variables, flags (bar CO_NESTED) and positions.
    """
    if candidate is None:
        return False
    return (candidate.co_code == code.co_code and candidate.co_consts == code.co_consts
            and candidate.co_names == code.co_names
            and candidate.co_varnames == code.co_varnames
            and candidate.co_freevars == code.co_freevars
            and candidate.co_cellvars == code.co_cellvars
            and candidate.co_argcount == code.co_argcount
            and candidate.co_firstlineno == code.co_firstlineno
            and list(_body_positions(candidate)) == list(_body_positions(code))
            and candidate.co_exceptiontable == code.co_exceptiontable
            and candidate.co_flags & ~_NESTED == code.co_flags & ~_NESTED)


def _body_positions(code: types.CodeType):
    import dis

    return (position for instruction, position in zip(
        dis.get_instructions(code, show_caches=True), code.co_positions())
        if instruction.opname not in _FRAME_OPS)


def _place(tree, body) -> None:
    """Every node of ``tree`` at ``body``'s position: an error in the loop's own code
    (an unhashable key, values that do not add) points at the user's expression."""
    import ast

    for node in ast.walk(tree):
        if "lineno" in node._attributes:
            node.lineno, node.col_offset = body.lineno, body.col_offset
            node.end_lineno, node.end_col_offset = body.end_lineno, body.end_col_offset


def _replace_placeholder(tree, body) -> None:
    """The ``_vega_fused_expr`` name in ``tree`` replaced by ``body``."""
    import ast

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) \
                and node.value.id == f"{_PREFIX}expr":
            node.value = body
            return
    raise AssertionError("the loop template has no placeholder")


def reduce_records(f: Callable, records) -> list:
    """``[functools.reduce(f, records)]``, ``[]`` for no records: ``reduce()``'s work on
    one partition. Records of ``map(g)`` (``MappedRecords``) summed by ``f`` (``add``,
    ``lambda a, b: a + b``) are summed in one loop with ``g``'s body inline when it can
    be fused; a StopIteration from it fails the task as ``map``'s does."""
    from .user_code import MappedRecords, adds, stopped_in

    if type(records) is MappedRecords and records.source is not None and adds(f):
        loop = fused_loop(records.f, records.source, "sum")
        if loop is not None:
            missing, total = object(), []
            stopped = loop(total, records.records, missing)
            if stopped is not None:
                raise stopped_in(records.f, stopped) from stopped
            return [] if total[0] is missing else total
    from functools import reduce

    records = iter(records)
    for first in records:
        return [reduce(f, records, first)]
    return []
