"""Differential fuzzing of Vega's RDD API against PySpark: random pipelines, both engines.

    python scripts/fuzz_rdd_vs_pyspark.py [--seed 1] [--count 200] [--seeds S,S,...] [--edge]
                                          [--masters local[2],...] [--pyspark-python PATH]
                                          [--keep DIR] [--show N] [--print-case SEED]

Each seed makes one random *case*: random data (empty partitions, 0 and 1 records, more
partitions than records, ``None`` keys, the equal keys ``1``, ``1.0`` and ``True``, tuples
and frozensets as keys, unicode and bytes, nested lists, big ints, NaN and infinities,
records of a few MB) run through up to five random transformations and one action, written
as the source of a PySpark program ``def run(sc): ...``.  Seeds ``seed .. seed+count-1``
(or ``--seeds``) make the cases; ``--edge`` adds the fixed cases of
scripts/fuzz_rdd_edge_cases.py (seeds -1, -2, ...: one expression each, for the corners
random pipelines seldom reach).  Each case runs on PySpark (one
``SparkContext("local[2]")`` for all of them: the JVM's start is slow) and on Vega through
``vega_runtime.pyspark_alias`` (what ``vega submit --pyspark-compat`` does) on each master
of ``--masters``: ``local[2]``, ``local-cluster[2,1]`` and ``spill`` (``local[2]`` with
``vega.shuffle.memory_bound`` of 1 KiB, so every shuffle spills; ``cluster-spill`` is
``local-cluster[2,1]`` so).

Results are compared exactly: in order where the API defines one (``collect`` of a
pipeline without a shuffle, ``sortBy``, ``top``), as multisets where it does not (a
shuffle's output), per partition as multisets where both engines place records alike
(numbers hashed into partitions), floats from sums in another order to 1e-9 relatively,
and an exception by its class (``ValueError``; the messages are printed).  Where data
holds ``1``, ``1.0`` and ``True`` as keys, which of them a shuffle keeps is the order
records arrive in, so those cases compare them as one.  Each differing case's program
prints with both answers; the exit status is 1 if any case differed.

Known differences (docs/api.md's compatibility table, "Differences from PySpark") are not
reported: partition placement of hashed keys other than numbers (Vega hashes strings with
CRC-32, PySpark with ``hash()``), and ``repartition``/``coalesce(shuffle=True)``'s and
``sortByKey``'s partition boundaries, where only partition counts and contents as
multisets are compared.  ``top``, ``countByKey`` and ``countByValue`` of an RDD of no
partitions are empty in Vega, an error in PySpark, and ``histogram(n)`` of an empty RDD
says so in Vega, "Can not reduce() empty RDD" in PySpark: not counted as differences.

Needs PySpark (``.venv-bench``: ``scripts/bench/setup_env.sh``) and Java; the runner of each
engine is this file too (``--engine pyspark|vega``, reading cases from a file).
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import random
import re
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASTERS = ["local[2]", "local-cluster[2,1]", "spill"]
#: the masters whose every shuffle spills (``--masters`` may name them): what they run on
SPILL_MASTERS = {"spill": "local[2]", "cluster-spill": "local-cluster[2,1]"}
#: Seconds one case may take on one engine before it counts as hung.
CASE_TIMEOUT = 120

# ---------------------------------------------------------------------------------------
# The prelude every program runs with (on the driver, and in tasks through its functions)

PRELUDE = '''
from operator import add
def _norm(x):
    t = type(x)
    if t is bool or (t is float and x == x and abs(x) != float("inf") and x == int(x)):
        return int(x)
    return x
def ckey(x):
    """A total order over mixed records, for sorting multisets alike in both engines."""
    t = type(x)
    if t in (list, tuple):
        return (t.__name__, tuple(ckey(i) for i in x))
    if t is frozenset or t is set:
        return (t.__name__, tuple(sorted(ckey(i) for i in x)))
    if t is dict:
        return ("dict", tuple(sorted((ckey(k), ckey(v)) for k, v in x.items())))
    if type(x).__name__ == "ResultIterable":
        return ckey(list(x))
    if t is float and x != x:
        return ("nan",)
    return ("v", repr(_norm(x)), repr(x))
def bag(xs):
    return ("__bag__", sorted(list(xs), key=ckey))
'''

# ---------------------------------------------------------------------------------------
# Data


class Lit:
    """Python source for a value that has no literal (NaN, a big string)."""

    def __init__(self, source: str):
        self.source = source


def lit(value: Any) -> str:
    """The Python source of ``value``."""
    if isinstance(value, Lit):
        return value.source
    if isinstance(value, float):
        if value != value:
            return 'float("nan")'
        if value in (math.inf, -math.inf):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, tuple):
        return "(" + "".join(lit(v) + ", " for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    if isinstance(value, frozenset):
        return "frozenset([" + ", ".join(lit(v) for v in sorted(value, key=repr)) + "])"
    return repr(value)


#: key families: name -> (make a key, its keys hash alike in both engines, keys sortable)
def _int_key(r):
    # -1 and -2 hash alike in CPython, and so do 1 and 2**61, 0 and 2**61 - 1
    return r.choice([0, 1, 2, 3, -1, -2, 7, 10, 2 ** 70, -(2 ** 65), 2 ** 61, 2 ** 61 - 1])


def _str_key(r):
    return r.choice(["a", "b", "ä", "日本", "", "zz", "\U0001f600", "a b"])


KEYS = {
    "int": (_int_key, True, True),
    "str": (_str_key, False, True),
    "float": (lambda r: r.choice([0.5, -1.25, 3.0, 1e300, -0.0, 2.75, math.inf]), True, True),
    "mixed_equal": (lambda r: r.choice([1, 1.0, True, 0, 0.0, False, 2]), True, True),
    "none": (lambda r: r.choice([None, 1, 2]), True, False),
    "tuple": (lambda r: (r.choice([1, 2]), r.choice([3, 4, None])), True, False),
    "tuple_int": (lambda r: (r.choice([1, 2]), r.choice([3, 4])), True, True),
    "frozenset": (lambda r: frozenset(r.sample([1, 2, 3], r.randint(0, 2))), True, False),
    "bytes": (lambda r: r.choice([b"", b"\x00", b"ab", b"\xff\xfe"]), False, True),
    # keys no two of which compare: a spilling shuffle must not sort them
    "mixed": (lambda r: r.choice([1, "a", None, (1,), b"x", 2.5, frozenset(), "\ud800", 2 ** 61]),
              False, False),
}


def _number(r) -> Any:
    """A number whose sums are exact in any order (ints, dyadic fractions)."""
    if r.random() < 0.02:
        return r.choice([math.inf, -math.inf])
    return r.choice([0, 1, -3, 7, 12, 2 ** 64, 0.5, -2.25, 1.5, 8.0, 100])


def _odd_value(r) -> Any:
    return r.choice([None, "x", "ü", b"\x01", [1, [2, 3]], (1, "a"), 2 ** 80, math.inf,
                     frozenset([1]), {"d": 1}, -0.0, "", math.nan, (None, (b"",))])


def make_data(r: random.Random, kind: str, n: int, key_family: str) -> List[Any]:
    """``n`` records of ``kind``: num (numbers), pair ((key, number)), any (odd values)."""
    make_key = KEYS[key_family][0]
    if kind == "num":
        if r.random() < 0.15:  # all equal
            return [_number(r)] * n
        return [_number(r) for _ in range(n)]
    if kind == "pair":
        if r.random() < 0.1:  # values of a few KB: a spilling shuffle spills every record
            return [(make_key(r), "v" * r.randint(1000, 5000)) for _ in range(n)]
        return [(make_key(r), _number(r)) for _ in range(n)]
    return [_odd_value(r) if r.random() < 0.7 else make_key(r) for _ in range(n)]


# ---------------------------------------------------------------------------------------
# Pipelines


class State:
    """What the generator knows of an RDD expression."""

    def __init__(self, expr: str, kind: str, order: str, keys: str):
        self.expr = expr
        self.kind = kind  # num | pair | any (a pair's values are numbers when kind is pair)
        # seq: every record's partition and place known; parts: each partition's records
        # known, not their order; bag: only the multiset
        self.order = order
        self.keys = keys

    def but(self, expr: str, kind: Optional[str] = None, order: Optional[str] = None):
        return State(expr, kind or self.kind, order or self.order, self.keys)


def _hash_order(state: State) -> str:
    """The order after a hash shuffle: per-partition multisets where both engines place
    keys alike (numbers, None, tuples of them), else a multiset."""
    return "parts" if KEYS[state.keys][1] else "bag"


def source(r: random.Random, kind: str, keys: str) -> Tuple[State, str]:
    n = r.choice([0, 0, 1, 2, 3, 5, 8, 13, 40, 40, 300])
    slices = r.choice((1, 2, 3, 4, 7, 8))
    data = make_data(r, kind, n, keys)
    if kind == "any" and r.random() < 0.05:
        data.append(Lit("'m' * 3000000"))
    setup = f"    data = {lit(data)}\n"
    if r.random() < 0.1:
        return State(f"sc.emptyRDD()", kind, "seq", keys), setup
    if kind == "num" and r.random() < 0.1:
        lo, hi = r.randint(-5, 5), r.randint(-5, 12)
        return State(f"sc.range({lo}, {hi}, numSlices={slices})", kind, "seq", keys), setup
    return State(f"sc.parallelize(data, {slices})", kind, "seq", keys), setup


def transform(r: random.Random, s: State, other: State) -> State:
    """One random transformation of ``s`` (``other``: a second RDD of the same kind)."""
    e = s.expr
    n = r.choice([None, None, 1, 2, 3, 5, 50])
    np_ = "" if n is None else f"numPartitions={n}"
    both_seq = s.order == "seq" and other.order == "seq"
    choices = ["map", "filter", "flatMap", "mapPartitions", "union", "distinct", "coalesce",
               "repartition", "keyBy", "groupBy", "subtract", "intersection", "cartesian"]
    if s.order in ("seq", "parts"):
        choices += ["mapPartitionsWithIndex", "glom"]
    if s.order == "seq":
        choices += ["zipWithIndex", "zipWithUniqueId", "zip"]
    if s.kind == "pair":
        choices += ["reduceByKey", "foldByKey", "aggregateByKey", "combineByKey",
                    "groupByKey", "partitionBy", "mapValues", "flatMapValues", "keys",
                    "values", "join", "leftOuterJoin", "rightOuterJoin", "fullOuterJoin",
                    "cogroup", "subtractByKey"] * 2
    op = r.choice(choices)
    hashed = _hash_order(s)
    # distinct, subtract and intersection hash whole records, which hold strings unless
    # they are numbers
    hashed_records = "parts" if s.kind == "num" else "bag"
    if op == "map":
        if s.kind == "num":
            return s.but(f"{e}.map(lambda x: x * 2)")
        if s.kind == "pair":
            return s.but(f"{e}.map(lambda kv: (kv[0], kv[1] + 1))")
        return s.but(f"{e}.map(lambda x: [x])")
    if op == "filter":
        return s.but(f"{e}.filter(lambda x: len(repr(x)) % 3 != 1)")
    if op == "flatMap":
        return s.but(f"{e}.flatMap(lambda x: [x] * (len(repr(x)) % 3))")
    if op == "mapPartitions":
        if s.order == "seq":  # which records it keeps depends on their order
            return s.but(f"{e}.mapPartitions(lambda it: (x for i, x in enumerate(it) "
                         f"if i % 2 == 0))")
        return s.but(f"{e}.mapPartitions(lambda it: (x for x in it if len(repr(x)) % 2))")
    if op == "mapPartitionsWithIndex":
        return s.but(f"{e}.mapPartitionsWithIndex(lambda i, it: ((i, x) for x in it))",
                     kind="any")
    if op == "glom":
        inner = "" if s.order == "seq" else ".map(bag)"
        return s.but(f"{e}.glom(){inner}", kind="any")
    if op == "union":
        return s.but(f"{e}.union({other.expr})",
                     order="seq" if both_seq else ("bag" if "bag" in (s.order, other.order)
                                                   else "parts"))
    if op == "distinct":
        return s.but(f"{e}.distinct({'' if n is None else n})", order=hashed_records)
    if op == "coalesce":
        shuffle = r.random() < 0.3
        return s.but(f"{e}.coalesce({n or 1}, shuffle={shuffle})",
                     order="bag" if shuffle else s.order)
    if op == "repartition":
        return s.but(f"{e}.repartition({n or 2})", order="bag")
    if op == "keyBy":
        return State(f"{e}.keyBy(lambda x: len(repr(x)) % 3).mapValues(lambda x: 1)", "pair",
                     s.order, "int") if s.kind != "pair" else \
            State(f"{e}.keyBy(lambda kv: kv[0]).mapValues(lambda kv: kv[1])", "pair",
                  s.order, s.keys)
    if op == "groupBy":
        return State(f"{e}.groupBy(lambda x: len(repr(x)) % 3, {np_}).mapValues(bag)", "any",
                     "parts", "int")
    if op == "subtract":
        return s.but(f"{e}.subtract({other.expr}{', ' + str(n) if n else ''})",
                     order=hashed_records)
    if op == "intersection":
        return s.but(f"{e}.intersection({other.expr})", order=hashed_records)
    if op == "cartesian":
        return State(f"{e}.cartesian(sc.parallelize(data2[:7], 2))", "any",
                     "parts" if s.order == "seq" else "bag", s.keys)
    if op == "zipWithIndex":
        return State(f"{e}.zipWithIndex()", "pair", "seq", s.keys) if s.kind != "pair" else \
            s.but(f"{e}.zipWithIndex().map(lambda p: (p[0][0], p[1]))")
    if op == "zipWithUniqueId":
        return s.but(f"{e}.zipWithUniqueId().map(lambda p: (p[0], p[1]))", kind="any")
    if op == "zip":
        return s.but(f"{e}.zip({e}.map(lambda x: repr(x)[:3]))", kind="any")
    # pair operations: values are numbers
    if op == "reduceByKey":
        return s.but(f"{e}.reduceByKey(add{', ' + str(n) if n else ''})", order=hashed)
    if op == "foldByKey":
        zero = r.choice([0, 1, 10])
        return s.but(f"{e}.foldByKey({zero}, add{', ' + str(n) if n else ''})", order=hashed)
    if op == "aggregateByKey":
        return State(f"{e}.aggregateByKey((0, 0), lambda a, v: (a[0] + v, a[1] + 1), "
                     f"lambda a, b: (a[0] + b[0], a[1] + b[1]){', ' + np_ if np_ else ''})"
                     ".mapValues(lambda a: a[0] + a[1])", "pair", hashed, s.keys)
    if op == "combineByKey":
        return State(f"{e}.combineByKey(lambda v: [v], lambda c, v: c + [v], "
                     f"lambda a, b: a + b{', ' + np_ if np_ else ''}).mapValues(sum)",
                     "pair", hashed, s.keys)
    if op == "groupByKey":
        return State(f"{e}.groupByKey({'' if n is None else n}).mapValues(bag)", "any",
                     hashed, s.keys)
    if op == "partitionBy":
        func = r.choice(["", ", partitionFunc=lambda k: len(repr(k))"])
        order = hashed if not func else "parts"
        return s.but(f"{e}.partitionBy({n or 2}{func})", order=order)
    if op == "mapValues":
        return s.but(f"{e}.mapValues(lambda v: v * 3)")
    if op == "flatMapValues":
        return s.but(f"{e}.flatMapValues(lambda v: [v, -v] if v != 0 else [])")
    if op == "keys":
        return s.but(f"{e}.keys()", kind="any")
    if op == "values":
        return s.but(f"{e}.values()", kind="num")
    if op in ("join", "leftOuterJoin", "rightOuterJoin", "fullOuterJoin", "cogroup"):
        other_expr = other.expr if other.kind == "pair" else f"{e}.mapValues(lambda v: -v)"
        if other.kind == "pair" and not KEYS[other.keys][1]:
            hashed = "bag"  # the other RDD's keys land in other partitions in each engine
        tail = ".mapValues(lambda vs: (bag(vs[0]), bag(vs[1])))" if op == "cogroup" else ""
        return State(f"{e}.{op}({other_expr}{', ' + str(n) if n else ''}){tail}", "any",
                     hashed, s.keys)
    if op == "subtractByKey":
        other_expr = other.expr if other.kind == "pair" else f"{e}.filter(lambda kv: kv[1] > 1)"
        return s.but(f"{e}.subtractByKey({other_expr}{', ' + str(n) if n else ''})",
                     order=hashed)
    raise AssertionError(op)


def action(r: random.Random, s: State) -> Tuple[str, str]:
    """(source of the final value, comparison mode: exact | approx)."""
    e = s.expr
    sortable = KEYS[s.keys][2]
    collect = {"seq": f"{e}.collect()", "parts": f"{e}.glom().map(bag).collect()",
               "bag": f"bag({e}.collect())"}[s.order]
    choices = [("collect", 6), ("count", 1), ("isEmpty", 1), ("countByValue", 1)]
    if s.order == "seq":
        choices += [("take", 2), ("first", 1), ("zipWithIndex", 1)]
    if s.kind == "num":
        choices += [("sum", 2), ("stats", 2), ("mean", 1), ("variance", 1), ("stdev", 1),
                    ("sampleStdev", 1), ("histogram", 3), ("reduce", 1), ("fold", 2),
                    ("aggregate", 2), ("treeReduce", 1), ("treeAggregate", 1), ("max", 1),
                    ("min", 1), ("top", 2), ("takeOrdered", 2), ("sortBy", 3)]
    if s.kind == "pair":
        choices += [("countByKey", 2), ("lookup", 2), ("collectAsMap", 1),
                    ("sortByKey", 4 if sortable else 1)]
        if sortable:  # top of keys in a partial order (frozensets) depends on record order
            choices += [("top", 1)]
        if s.order == "seq":
            choices += [("maxkey", 1)]
    name = r.choices([c for c, _ in choices], [w for _, w in choices])[0]
    n = r.choice([0, 1, 2, 5])
    parts = r.choice([None, 1, 2, 3, 50])
    if name == "collect":
        return collect, "exact"
    if name in ("count", "isEmpty", "first", "sum", "max", "min"):
        return f"{e}.{name}()", "approx" if name == "sum" else "exact"
    if name == "countByValue":
        return f"dict({e}.countByValue())", "exact"
    if name == "take":
        return f"{e}.take({n})", "exact"
    if name == "zipWithIndex":
        return f"{e}.zipWithIndex().collect()", "exact"
    if name == "stats":
        return f"{e}.stats()", "approx"
    if name in ("mean", "variance", "stdev", "sampleStdev"):
        return f"{e}.{name}()", "approx"
    if name == "histogram":
        buckets = r.choice(["1", "2", "3", "10", "[0, 5, 10]", "[-10, 0, 10, 100]",
                            "[1, 1]", "[0, 1]", "[5]", "[]", "0", "[0.0, 0.5, 8.0]"])
        return f"{e}.histogram({buckets})", "exact"
    if name == "reduce":
        return f"{e}.reduce(add)", "approx"
    if name == "fold":
        return f"{e}.fold({r.choice([0, 1, 10])}, add)", "approx"
    if name == "aggregate":
        return (f"{e}.aggregate((1, 0), lambda a, x: (a[0] + x, a[1] + 1), "
                f"lambda a, b: (a[0] + b[0], a[1] + b[1]))"), "approx"
    if name == "treeReduce":
        return f"{e}.treeReduce(add, {r.choice([1, 2, 3])})", "approx"
    if name == "treeAggregate":
        return (f"{e}.treeAggregate({r.choice([0, 1])}, add, add, {r.choice([1, 2, 3])})"), \
            "approx"
    if name == "top":
        key = r.choice(["", ", key=lambda x: -x" if s.kind == "num" else ", key=str"])
        return f"{e}.top({n}{key})", "exact"
    if name == "takeOrdered":
        key = r.choice(["", ", key=lambda x: -x"])
        return f"{e}.takeOrdered({n}{key})", "exact"
    if name == "maxkey":
        return f"{e}.max(key=lambda kv: kv[1])", "exact"
    if name == "sortBy":
        asc = r.choice([True, False])
        np_ = "" if parts is None else f", numPartitions={parts}"
        keyfunc = r.choice(["lambda x: x", "lambda x: -x", "str"])
        return (f"(lambda r: (r.getNumPartitions(), r.collect()))"
                f"({e}.sortBy({keyfunc}, ascending={asc}{np_}))"), "exact"
    if name == "sortByKey":
        asc = r.choice([True, False])
        # PySpark compares keyfunc(k) with the sampled keys themselves (not their keyfunc),
        # so only a keyfunc giving keys of the same type in the same order sorts there
        keyfunc = r.choice(["", ", keyfunc=lambda k: k * 2" if s.keys in ("int", "float")
                            else ""])
        np_ = "" if parts is None else f", numPartitions={parts}"
        # equal keys' records may come in any order: keys in order, records as a multiset
        return (f"(lambda r: (r.getNumPartitions(), [k for k, v in r.collect()], "
                f"bag(r.collect())))({e}.sortByKey(ascending={asc}{np_}{keyfunc}))"), "exact"
    if name == "countByKey":
        return f"dict({e}.countByKey())", "exact"
    if name == "lookup":
        key = KEYS[s.keys][0](r)
        return f"bag({e}.lookup({lit(key)}))", "exact"
    if name == "collectAsMap":
        return f"{e}.reduceByKey(add).collectAsMap()", "approx"
    raise AssertionError(name)


def edge_case(index: int) -> Dict[str, Any]:
    """Fixed case ``index`` of scripts/fuzz_rdd_edge_cases.py, as seed ``-1 - index``."""
    from fuzz_rdd_edge_cases import EDGE_CASES
    expression = EDGE_CASES[index]
    approx = any(name in expression for name in ("mean", "stats", "stdev", "ariance"))
    return {"seed": -1 - index, "source": f"def run(sc):\n    return {expression}\n",
            "mode": "approx" if approx else "exact", "loose": False}


def make_case(seed: int) -> Dict[str, Any]:
    """The case of ``seed``: {"seed", "source", "mode", "loose"}; a negative seed is a fixed
    case (:func:`edge_case`)."""
    if seed < 0:
        return edge_case(-1 - seed)
    r = random.Random(seed)
    kind = r.choice(["num", "num", "pair", "pair", "pair", "any"])
    keys = r.choice(list(KEYS))
    state, setup = source(r, kind, keys)
    other, other_setup = source(r, kind, keys)
    setup += other_setup.replace("data =", "data2 =")
    other.expr = other.expr.replace("(data,", "(data2,")
    for _ in range(r.choice([0, 1, 1, 2, 2, 3, 4, 5])):
        state = transform(r, state, other)
        if len(state.expr) > 900:
            break
    value, mode = action(r, state)
    program = f"def run(sc):\n{setup}    return {value}\n"
    return {"seed": seed, "source": program, "mode": mode,
            "loose": keys == "mixed_equal"}


# ---------------------------------------------------------------------------------------
# Running (in each engine's process)


def canon(value: Any) -> Any:
    """A plain-Python copy of a result, without either engine's classes."""
    name = type(value).__name__
    if name == "ResultIterable":
        return [canon(v) for v in value]
    if name == "StatCounter":
        return {"count": value.count(), "mean": float(value.mean()),
                "sum": float(value.sum()), "min": float(value.min()),
                "max": float(value.max()), "variance": float(value.variance()),
                "sampleVariance": float(value.sampleVariance())}
    if type(value).__module__ == "numpy":
        return value.item()
    if isinstance(value, tuple):
        return tuple(canon(v) for v in value)
    if isinstance(value, list):
        return [canon(v) for v in value]
    if isinstance(value, dict):
        return {canon(k): canon(v) for k, v in value.items()}
    return value


def _root_error(error: BaseException) -> Tuple[str, str]:
    """(class name, message) of the user's exception under either engine's wrapping."""
    text = str(error)
    name = type(error).__name__
    if name in ("Py4JJavaError", "PythonException", "TaskFailed", "SparkException"):
        found = re.findall(r"(?:^|[\s(])(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit)): ", text)
        found = [f for f in found if f not in ("PythonException", "SparkException",
                                               "Py4JJavaError", "TaskFailed")]
        return (found[-1] if found else name), "(in a task)"
    return name, text.splitlines()[0] if text else ""


def run_cases(sc: Any, cases: List[Dict[str, Any]]) -> Dict[int, Any]:
    import signal

    def timeout(*_):
        raise TimeoutError(f"the case took over {CASE_TIMEOUT} s")

    signal.signal(signal.SIGALRM, timeout)
    results = {}
    for case in cases:
        namespace: Dict[str, Any] = {"__name__": "fuzzcase"}
        signal.alarm(CASE_TIMEOUT)
        started = time.monotonic()
        try:
            exec(compile(PRELUDE + case["source"], f"<case {case['seed']}>", "exec"), namespace)
            results[case["seed"]] = ("ok", canon(namespace["run"](sc)))
        except Exception as error:  # the engines' answers, errors too, are what is compared
            results[case["seed"]] = ("error",) + _root_error(error)
        finally:
            signal.alarm(0)
            print(f"case {case['seed']}: {time.monotonic() - started:.2f} s", flush=True)
    return results


def engine_main(engine: str, master: str, cases_file: str, out_file: str) -> None:
    with open(cases_file, "rb") as f:
        cases = pickle.load(f)
    if engine == "pyspark":
        from pyspark import SparkConf, SparkContext
        conf = SparkConf().set("spark.ui.enabled", "false").set("spark.log.level", "ERROR")
        sc = SparkContext(master, "fuzz", conf=conf)
    else:
        from vega_runtime import pyspark_alias
        pyspark_alias.install()
        from vega_runtime import Context
        spill = master in SPILL_MASTERS
        sc = Context(master=SPILL_MASTERS.get(master, master), app_name="fuzz",
                     conf={"vega.shuffle.memory_bound": "1k"} if spill else {})
    try:
        results = run_cases(sc, cases)
    finally:
        sc.stop()
    with open(out_file, "wb") as f:
        pickle.dump(results, f)


# ---------------------------------------------------------------------------------------
# Comparing


def _loosen(x: Any) -> Any:
    t = type(x)
    if t is bool or (t is float and x == x and abs(x) != math.inf and x == int(x)):
        return int(x)
    if t is tuple and len(x) == 2 and x[0] == "__bag__":
        items = [_loosen(i) for i in x[1]]
        return ("__bag__", sorted(items, key=_ckey))
    if t in (list, tuple):
        return t(_loosen(i) for i in x)
    if t is dict:
        return {_loosen(k): _loosen(v) for k, v in x.items()}
    if t is frozenset:
        return frozenset(_loosen(i) for i in x)
    return x


_PRELUDE: Dict[str, Any] = {}


def _ckey(x: Any) -> Any:
    if not _PRELUDE:
        exec(PRELUDE, _PRELUDE)
    return _PRELUDE["ckey"](x)


def same(a: Any, b: Any, approx: bool) -> bool:
    """a == b, with NaN equal to NaN, types exact, floats to 1e-9 where ``approx``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if a != a or b != b:
            return a != a and b != b
        if approx:
            return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, approx) for x, y in zip(a, b))
    if isinstance(a, dict):  # as lists of items in one order (a NaN in a key is no key)
        return same(sorted(a.items(), key=_ckey), sorted(b.items(), key=_ckey), approx)
    return a == b


def known(case: Dict[str, Any], expected: Any, got: Any) -> bool:
    """A difference docs/api.md gives (``top``, ``countByValue``, ``countByKey`` of an RDD
    of no partitions are empty: PySpark says "Can not reduce() empty RDD"), or a fixed case
    of ``fuzz_rdd_edge_cases.KNOWN``."""
    if case["seed"] < 0:
        from fuzz_rdd_edge_cases import KNOWN
        if case["source"].split("return ", 1)[1].strip() in KNOWN:
            return True
    if expected != ("error", "ValueError", "Can not reduce() empty RDD"):
        return False
    if got == ("error", "ValueError", "can not generate buckets from empty RDD"):
        return ".histogram(" in case["source"]
    return (got[0] == "ok" and got[1] in ({}, [])
            and any(f".{name}(" in case["source"] for name in ("top", "countByValue",
                                                               "countByKey")))


def compare(case: Dict[str, Any], expected: Any, got: Any) -> bool:
    if known(case, expected, got):
        return True
    if expected[0] != got[0]:
        return False
    if expected[0] == "error":
        # the exception's class: messages say the same in other words
        return expected[1] == got[1]
    a, b = expected[1], got[1]
    if case["loose"]:
        a, b = _loosen(a), _loosen(b)
    return same(a, b, case["mode"] == "approx")


def run_engine(engine: str, master: str, python: str, cases_file: str, workdir: str) -> Dict:
    out = os.path.join(workdir, f"{engine}-{master}.pickle".replace("[", "_").replace("]", ""))
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if engine == "pyspark":
        env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
        env["PYSPARK_PYTHON"] = python
    log = os.path.join(workdir, out + ".log")
    with open(log, "wb") as f:
        proc = subprocess.run([python, os.path.abspath(__file__), "--engine", engine,
                               "--master", master, "--cases", cases_file, "--out", out],
                              stdout=f, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    if proc.returncode != 0:
        with open(log, errors="replace") as f:
            raise RuntimeError(f"{engine} on {master} exited {proc.returncode}:\n"
                               + f.read()[-3000:])
    with open(out, "rb") as f:
        return pickle.load(f)


def default_pyspark_python() -> str:
    for root in (REPO, os.path.join(REPO, "..", "main")):
        candidate = os.path.join(root, ".venv-bench", "bin", "python")
        if os.path.exists(candidate):
            return candidate
    return os.path.join(REPO, ".venv-bench", "bin", "python")


def fuzz(seeds: List[int], masters: List[str], pyspark_python: str,
         workdir: Optional[str] = None, show: int = 10) -> List[Tuple[int, str, Any, Any]]:
    """Run the cases of ``seeds``; return the differences (seed, master, PySpark's, Vega's)."""
    cases = [make_case(seed) for seed in seeds]
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="vega-fuzz-")
    cases_file = os.path.join(workdir, "cases.pickle")
    with open(cases_file, "wb") as f:
        pickle.dump(cases, f)
    expected = run_engine("pyspark", "local[2]", pyspark_python, cases_file, workdir)
    differences = []
    for master in masters:
        got = run_engine("vega", master, sys.executable, cases_file, workdir)
        for case in cases:
            if not compare(case, expected[case["seed"]], got[case["seed"]]):
                differences.append((case["seed"], master, expected[case["seed"]],
                                    got[case["seed"]]))
    if own:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    return differences


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--masters", default=",".join(MASTERS))
    parser.add_argument("--pyspark-python", default=default_pyspark_python())
    parser.add_argument("--keep", help="a directory to keep the cases and results in")
    parser.add_argument("--show", type=int, default=20, help="differences to print")
    parser.add_argument("--print-case", type=int, help="print one seed's program and exit")
    parser.add_argument("--seeds", help="these seeds (comma-separated; -1 - i is fixed "
                        "case i of scripts/fuzz_rdd_edge_cases.py) instead of --seed/--count")
    parser.add_argument("--edge", action="store_true",
                        help="run the fixed cases of scripts/fuzz_rdd_edge_cases.py too")
    parser.add_argument("--engine", choices=["pyspark", "vega"], help=argparse.SUPPRESS)
    parser.add_argument("--master", help=argparse.SUPPRESS)
    parser.add_argument("--cases", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine:
        engine_main(args.engine, args.master, args.cases, args.out)
        return 0
    if args.print_case is not None:
        case = make_case(args.print_case)
        print(case["source"], f"# mode={case['mode']} loose={case['loose']}")
        return 0
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    started = time.monotonic()
    seeds = list(range(args.seed, args.seed + args.count))
    if args.seeds:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    if args.edge:
        from fuzz_rdd_edge_cases import EDGE_CASES
        seeds = [-1 - i for i in range(len(EDGE_CASES))] + seeds
    masters = re.findall(r"[^,\[]+(?:\[[^\]]*\])?", args.masters)
    differences = fuzz(seeds, masters, args.pyspark_python, args.keep)
    for seed, master, expected, got in differences[:args.show]:
        print(f"--- seed {seed} on {master}\n{make_case(seed)['source']}"
              f"  PySpark: {str(expected)[:400]}\n  Vega:    {str(got)[:400]}")
    print(f"{len(seeds)} cases on {args.masters}: {len(differences)} differences "
          f"({time.monotonic() - started:.0f} s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
