"""PySpark's signatures, parameter by parameter: every method Vega has of PySpark's ``RDD``,
``SparkContext``, ``SparkConf``, ``Broadcast``, ``Accumulator``, ``StorageLevel``,
``TaskContext``, ``BarrierTaskContext``, ``StatusTracker``, ``SparkFiles``, ``StatCounter``,
``RDDBarrier`` and the other classes of :data:`CLASSES` (``pyspark.resource``'s, the
samplers, ``SparkSession``'s entry points), and the functions of :data:`FUNCTIONS`, takes
PySpark's positional parameters in PySpark's order, every keyword name PySpark's has (its
camelCase ones through ``aliases.install``'s renames) and the same defaults, and requires
nothing PySpark's lacks; what differs on purpose is in :data:`EXCEPTIONS`, with why.

PySpark's source (4.3, in ``.venv-bench``) is read with ``ast``, never imported; a PySpark
program calls ``rdd.reduceByKey(add, numPartitions=4)`` or ``rdd.sortByKey(False, 2,
keyfunc=f)`` and the member-name check (scripts/pyspark_compat_table.py) cannot see those.
"""

from __future__ import annotations

import ast
import inspect
import os
from typing import Dict, List, Optional, Tuple

import pytest

import vega_runtime.pyspark_compat as compat
from vega_runtime import resources
from vega_runtime.aliases import keyword_aliases
from vega_runtime.pyspark_compat import accumulators, rddsampler, sql
from vega_runtime.pyspark_compat.sql import conf as sql_conf, session
from vega_runtime.rdd import partitioner
from vega_runtime.scheduler import status

from pyspark_install import pyspark_home, requires_pyspark

#: PySpark class -> the file under the ``pyspark`` package that defines it, and Vega's class
CLASSES = {
    "RDD": ("core/rdd.py", compat.RDD), "RDDBarrier": ("core/rdd.py", compat.RDDBarrier),
    "SparkContext": ("core/context.py", compat.SparkContext),
    "SparkConf": ("conf.py", compat.SparkConf),
    "Broadcast": ("core/broadcast.py", compat.Broadcast),
    "Accumulator": ("accumulators.py", compat.Accumulator),
    "AccumulatorParam": ("accumulators.py", compat.AccumulatorParam),
    "StorageLevel": ("storagelevel.py", compat.StorageLevel),
    "TaskContext": ("taskcontext.py", compat.TaskContext),
    "BarrierTaskContext": ("taskcontext.py", compat.BarrierTaskContext),
    "BarrierTaskInfo": ("taskcontext.py", compat.BarrierTaskInfo),
    "StatusTracker": ("core/status.py", compat.StatusTracker),
    "SparkFiles": ("core/files.py", compat.SparkFiles),
    "StatCounter": ("statcounter.py", compat.StatCounter),
    "Profiler": ("profiler.py", compat.Profiler),
    "BasicProfiler": ("profiler.py", compat.BasicProfiler),
    "InheritableThread": ("util.py", compat.InheritableThread),
    "ExecutorResourceRequests": ("resource/requests.py", resources.ExecutorResourceRequests),
    "TaskResourceRequests": ("resource/requests.py", resources.TaskResourceRequests),
    "ExecutorResourceRequest": ("resource/requests.py", resources.ExecutorResourceRequest),
    "TaskResourceRequest": ("resource/requests.py", resources.TaskResourceRequest),
    "ResourceProfileBuilder": ("resource/profile.py", resources.ResourceProfileBuilder),
    "ResourceProfile": ("resource/profile.py", resources.ResourceProfile),
    "ResourceInformation": ("resource/information.py", resources.ResourceInformation),
    "SparkSession": ("sql/session.py", sql.SparkSession),
    "SparkSession.Builder": ("sql/session.py", sql.SparkSession.Builder),
    "RuntimeConfig": ("sql/conf.py", sql_conf.RuntimeConfig),
    "DataFrameReader": ("sql/readwriter.py", session.DataFrameReader),
    "AddingAccumulatorParam": ("accumulators.py", accumulators.AddingAccumulatorParam),
    "RDDSampler": ("rddsampler.py", rddsampler.RDDSampler),
    "RDDRangeSampler": ("rddsampler.py", rddsampler.RDDRangeSampler),
    "RDDStratifiedSampler": ("rddsampler.py", rddsampler.RDDStratifiedSampler),
    "Row": ("sql/types.py", sql.Row),
}

#: PySpark's functions a program calls: (file, name) -> Vega's
FUNCTIONS = {("core/rdd.py", "portable_hash"): partitioner.portable_hash,
             ("util.py", "inheritable_thread_target"): compat.inheritable_thread_target}

#: constructors a program calls (the others are PySpark's internals: ``sc.broadcast``,
#: ``sc.accumulator``, ``TaskContext.get()`` make those objects)
CONSTRUCTED = {"SparkContext", "SparkConf", "StorageLevel", "StatCounter", "Profiler",
               "BasicProfiler", "InheritableThread", "ExecutorResourceRequests",
               "TaskResourceRequests", "ExecutorResourceRequest", "TaskResourceRequest",
               "ResourceProfileBuilder", "ResourceInformation", "BarrierTaskInfo",
               "SparkSession", "AddingAccumulatorParam", "RDDSampler", "RDDRangeSampler",
               "RDDStratifiedSampler", "Row"}

#: ``Class.member`` (or ``Class.member.parameter``) -> why Vega's differs on purpose
EXCEPTIONS: Dict[str, str] = {
    "RDD.cogroup.other": "Vega's cogroup takes any number of other RDDs (*others); "
                                 "an int or None after them is PySpark's numPartitions",
    "RDD.cogroup.numPartitions": "as RDD.cogroup.other",
    "pyspark.portable_hash": "its one parameter is PySpark's x, Vega's key: a partitionFunc "
                             "is called with the key by position",
    "SparkSession.__init__.jsparkSession": "the JVM's session: PySpark's internals (its "
                                           "builder passes it); SparkSession(sc) is taken",
    "SparkSession.__init__.options": "as SparkSession.__init__.jsparkSession",
    "RuntimeConfig.get.default": "PySpark's sentinel _NoValue is Vega's _NO_DEFAULT: no "
                                 "default given, a missing key raises",
    "SparkContext.__init__.serializer": "PySpark's CPickleSerializer(); Vega pickles with its "
                                        "own serde, so None (the argument is accepted, unused)",
    "SparkContext.__init__.profiler_cls": "None stands for BasicProfiler (Context's "
                                          "`profiler_cls or BasicProfiler`)",
    "SparkContext.__init__.udf_profiler_cls": "UDFs are Spark SQL: None, accepted, unused",
    "SparkContext.__init__.memory_profiler_cls": "no memory profiles: None, accepted, unused",
}

#: what a PySpark default written as a name means (``portable_hash``, ``StorageLevel.X``)
NAMES = {**vars(compat), "portable_hash": partitioner.portable_hash}


class Param:
    """One parameter of PySpark's: its name, kind and default (an ``ast`` node or None)."""

    def __init__(self, name: str, kind: str, default: Optional[ast.expr]):
        self.name, self.kind, self.default = name, kind, default


def pyspark_members(cls_name: str) -> Dict[str, List[Param]]:
    """PySpark's ``cls_name``'s methods (public ones and ``__init__``) -> their parameters
    after ``self``/``cls``; an ``@overload``'s stub is passed over for the implementation."""
    path = os.path.join(pyspark_home(), CLASSES[cls_name][0])
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    cls = tree
    for part in cls_name.split("."):  # SparkSession.Builder: a class in a class
        cls = next(node for node in cls.body
                   if isinstance(node, ast.ClassDef) and node.name == part)
    out: Dict[str, List[Param]] = {}
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        if node.name.startswith("_") and node.name not in ("__init__", "__new__"):
            continue
        decorators = {ast.unparse(d) for d in node.decorator_list}
        if decorators & {"overload", "typing.overload", "property"} or any(
                d.endswith(".setter") for d in decorators):
            continue
        out[node.name] = _params(node.args, "staticmethod" not in decorators)
    return out


def _params(args: ast.arguments, bound: bool) -> List[Param]:
    positional = list(args.posonlyargs) + list(args.args)
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [Param(a.arg, "positional", d) for a, d in zip(positional, defaults)]
    if bound:
        params = params[1:]
    # PySpark's own plumbing (``_jvm``, ``_requests``): not a program's to pass
    params = [p for p in params if not p.name.startswith("_")]
    if args.vararg:
        params.append(Param(args.vararg.arg, "*", None))
    params += [Param(a.arg, "keyword", d) for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        params.append(Param(args.kwarg.arg, "**", None))
    return params


def pyspark_function(path: str, name: str) -> List[Param]:
    """The parameters of PySpark's module-level function ``name`` in ``path``."""
    with open(os.path.join(pyspark_home(), path), encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    node = next(node for node in tree.body
                if isinstance(node, ast.FunctionDef) and node.name == name)
    return _params(node.args, False)


class _Functions:
    """Vega's counterparts of :data:`FUNCTIONS`, as a class's members for the check."""


for (_, _name), _function in FUNCTIONS.items():
    setattr(_Functions, _name, staticmethod(_function))


def vega_callable(cls: type, name: str):
    """``cls``'s member ``name`` (the function under a classmethod) and whether it is bound,
    or None (no such member, or a property)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            member = klass.__dict__[name]
            if isinstance(member, (classmethod, staticmethod)):  # (__new__: a staticmethod)
                return member.__func__, isinstance(member, classmethod) or name == "__new__"
            if isinstance(member, property) or not callable(member):
                return None  # (a descriptor such as SparkSession.builder)
            return member, True
    return None


def mismatches(cls_name: str, name: str, params: List[Param],
               cls: Optional[type] = None, excepted: bool = True) -> List[str]:
    """How Vega's ``cls_name.name`` (``cls``'s, else the one in :data:`CLASSES`) differs
    from PySpark's ``params``, but for :data:`EXCEPTIONS` (all, with ``excepted=False``);
    [] when it takes every call PySpark's takes."""
    found = vega_callable(cls or CLASSES[cls_name][1], name)
    if found is None:
        return []
    func, bound = found
    signature = inspect.signature(func)
    vega = list(signature.parameters.values())[1 if bound else 0:]
    renames = keyword_aliases(getattr(func, "__name__", name), func)
    by_name = {p.name: p for p in vega}
    var_keyword = any(p.kind is p.VAR_KEYWORD for p in vega)
    var_positional = [i for i, p in enumerate(vega) if p.kind is p.VAR_POSITIONAL]
    positional = [p for p in vega if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    where = f"{cls_name}.{name}"
    out: List[str] = []
    matched = set()
    for i, param in enumerate(p for p in params if p.kind == "positional"):
        if i >= len(positional):
            if var_positional:
                out.append(f"{where}: PySpark's positional parameter {i + 1} "
                           f"({param.name!r}) lands in Vega's *{vega[var_positional[0]].name}")
            else:
                out.append(f"{where}: PySpark's positional parameter {i + 1} "
                           f"({param.name!r}) is not taken")
            continue
        target = renames.get(param.name, param.name)
        if positional[i].name != target:
            out.append(f"{where}: PySpark's positional parameter {i + 1} is {param.name!r}, "
                       f"Vega's is {positional[i].name!r}")
    for param in params:
        if param.kind in ("*", "**"):
            if param.kind == "*" and not var_positional:
                out.append(f"{where}: PySpark takes *{param.name}, Vega does not")
            if param.kind == "**" and not var_keyword:
                out.append(f"{where}: PySpark takes **{param.name}, Vega does not")
            continue
        target = by_name.get(renames.get(param.name, param.name))
        if target is None or target.kind is target.POSITIONAL_ONLY:
            if not var_keyword:
                out.append(f"{where}: PySpark's keyword {param.name!r} is not taken")
            continue
        matched.add(target.name)
        out += _default_mismatch(where, param, target)
    for p in vega:
        if (p.name not in matched and p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)):
            out.append(f"{where}: Vega requires {p.name!r}, which PySpark's lacks")
    return [m for m in out if not (excepted and _excepted(m, where))]


def _default_mismatch(where: str, param: Param, target: inspect.Parameter) -> List[str]:
    if param.default is None:
        return []
    if target.default is target.empty:
        return [f"{where}: {param.name!r} has PySpark's default "
                f"{ast.unparse(param.default)}, Vega's has none"]
    if ast.unparse(param.default) == "lambda x: x":
        marker = object()
        same = callable(target.default) and target.default(marker) is marker
        return [] if same else [f"{where}: {param.name!r} defaults to {target.default!r} "
                                "(PySpark's: the identity)"]
    try:
        expected = ast.literal_eval(param.default)
    except ValueError:
        try:
            expected = eval(ast.unparse(param.default), dict(NAMES))  # noqa: S307
        except Exception as exc:  # noqa: BLE001 - reported as a mismatch to decide
            return [f"{where}: {param.name!r}'s PySpark default {ast.unparse(param.default)} "
                    f"has no Vega meaning ({exc})"]
    same = (expected is target.default if callable(expected) or expected is None
            else type(expected) is type(target.default) and expected == target.default)
    if not same:
        return [f"{where}: {param.name!r} defaults to {target.default!r} "
                f"(PySpark's: {ast.unparse(param.default)})"]
    return []


def _excepted(message: str, where: str) -> bool:
    """Whether :data:`EXCEPTIONS` lists the member, or the parameter the message names."""
    return any(_covers(key, message, where) for key in EXCEPTIONS)


def _covers(key: str, message: str, where: str) -> bool:
    return key == where or (key.startswith(where + ".")
                            and f"'{key[len(where) + 1:]}'" in message)


def all_members() -> List[Tuple[str, str, List[Param]]]:
    if pyspark_home() is None:
        return []
    return [(cls_name, name, params) for cls_name in CLASSES
            for name, params in pyspark_members(cls_name).items()
            if name not in ("__init__", "__new__") or cls_name in CONSTRUCTED]


@requires_pyspark
def test_every_pyspark_signature_vega_has_takes_pysparks_calls():
    """Each member Vega has of the classes above takes PySpark's positional parameters in
    order, its keyword names and its defaults (exceptions listed with why)."""
    checked = [(c, n, p) for c, n, p in all_members()
               if vega_callable(CLASSES[c][1], n) is not None]
    found = [m for c, n, p in checked for m in mismatches(c, n, p)]
    found += [m for (path, name) in FUNCTIONS for m in
              mismatches("pyspark", name, pyspark_function(path, name), _Functions)]
    assert len(checked) > 200, len(checked)
    assert found == []


@requires_pyspark
def test_every_exception_is_still_needed():
    """Each entry of :data:`EXCEPTIONS` excuses a mismatch the check still finds (one fixed
    since leaves the list)."""
    raw = [(f"{c}.{n}", m) for c, n, p in all_members()
           if vega_callable(CLASSES[c][1], n) is not None
           for m in mismatches(c, n, p, excepted=False)]
    raw += [(f"pyspark.{name}", m) for (path, name) in FUNCTIONS for m in mismatches(
        "pyspark", name, pyspark_function(path, name), _Functions, excepted=False)]
    assert [key for key in EXCEPTIONS
            if not any(_covers(key, m, where) for where, m in raw)] == []


def test_the_check_names_each_kind_of_mismatch():
    """The check itself (no PySpark needed): a parameter out of PySpark's order, a keyword
    missing, another default and a required parameter PySpark lacks are each reported."""
    class Fake:
        def reduce_by_key(self, func, partition_func=None, partitions=None, *, extra):
            """A reduceByKey that differs from PySpark's in every way the check knows."""

    pyspark = ast.parse("def reduceByKey(self, func, numPartitions=None, "
                        "partitionFunc=portable_hash): ...").body[0]
    assert mismatches("Fake", "reduce_by_key", _params(pyspark.args, True), Fake) == [
        "Fake.reduce_by_key: PySpark's positional parameter 2 is 'numPartitions', Vega's is "
        "'partition_func'",
        "Fake.reduce_by_key: PySpark's positional parameter 3 is 'partitionFunc', Vega's is "
        "'partitions'",
        "Fake.reduce_by_key: PySpark's keyword 'numPartitions' is not taken",
        "Fake.reduce_by_key: 'partitionFunc' defaults to None (PySpark's: portable_hash)",
        "Fake.reduce_by_key: Vega requires 'extra', which PySpark's lacks"]


def test_resource_profile_builder_require_takes_pysparks_keyword():
    """``ResourceProfileBuilder().require(resourceRequest=...)``, PySpark's keyword, builds the
    profile; before: TypeError (Vega's parameter was called ``requests``)."""
    tasks = resources.TaskResourceRequests().cpus(2)
    executors = resources.ExecutorResourceRequests().cores(4)
    profile = (resources.ResourceProfileBuilder().require(resourceRequest=tasks)
               .require(resourceRequest=executors).build)
    assert (profile.taskResources["cpus"].amount, profile.executorResources["cores"].amount) \
        == (2, 4)


#: PySpark's NamedTuples (a program unpacks them: ``job_id, stage_ids, status = info``)
NAMED_TUPLES = {"SparkJobInfo": ("core/status.py", status.SparkJobInfo),
                "SparkStageInfo": ("core/status.py", status.SparkStageInfo),
                "SparkExecutorInfo": ("core/status.py", status.SparkExecutorInfo)}


def pyspark_fields(path: str, cls_name: str) -> List[str]:
    with open(os.path.join(pyspark_home(), path), encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    cls = next(node for node in tree.body
               if isinstance(node, ast.ClassDef) and node.name == cls_name)
    return [node.target.id for node in cls.body if isinstance(node, ast.AnnAssign)]


@requires_pyspark
@pytest.mark.parametrize("cls_name", sorted(NAMED_TUPLES))
def test_status_infos_have_pysparks_fields_in_order(cls_name):
    """The status tracker's NamedTuples have PySpark's fields, in PySpark's order."""
    path, cls = NAMED_TUPLES[cls_name]
    assert list(cls._fields) == pyspark_fields(path, cls_name)


def test_spark_read_text_takes_pysparks_parameters_in_order(fresh_ctx, tmp_path):
    """``spark.read.text`` takes PySpark's seven parameters in its order (before: only
    ``paths, wholetext, lineSep`` by position, a TypeError for ``pathGlobFilter`` given
    fourth), its lines come back as rows, and an option Vega cannot honour is refused naming
    it (before: every one was called ``wholetext``'s, "use sc.wholeTextFiles")."""
    (tmp_path / "a.txt").write_text("x\ny\n")
    spark = sql.SparkSession(fresh_ctx("local"))
    lines = spark.read.text(str(tmp_path / "a.txt"), False, None, None, None, None, None)
    assert lines.rdd.map(lambda row: row.value).collect() == ["x", "y"]
    with pytest.raises(NotImplementedError) as refused:
        spark.read.text(str(tmp_path), recursiveFileLookup=True)
    assert str(refused.value) == (
        "Vega's spark.read.text reads lines only, without recursiveFileLookup: use "
        "sc.textFile(path) (a directory is read recursively) or sc.wholeTextFiles(path) for "
        "whole files")


def test_row_takes_pysparks_fields_by_name_and_row_classes(fresh_ctx):
    """``Row(name=..., age=...)`` (PySpark's records of named fields) and ``Row("name",
    "age")`` (a row class, called with values) work as PySpark's, through a job's pickling
    too; before: TypeError "Vega's Row holds the one field spark.read.text gives: value"."""
    from vega_runtime.pyspark_compat.errors import PySparkAttributeError, PySparkValueError

    people = fresh_ctx("local[2]").parallelize([("Alice", 11), ("Bob", 7)], 2).map(
        lambda p: sql.Row(name=p[0], age=p[1]))
    rows = people.filter(lambda r: r.age > 8).collect()
    assert rows == [("Alice", 11)]
    assert (rows[0].name, rows[0]["age"], "name" in rows[0], repr(rows[0]),
            rows[0].asDict()) == ("Alice", 11, True, "Row(name='Alice', age=11)",
                                  {"name": "Alice", "age": 11})
    person = sql.Row("name", "age")
    bob = person("Bob", 7)
    assert (repr(person), bob.name, bob.asDict(), sql.Row(inner=bob, n=[bob]).asDict(True)) == (
        "<Row('name', 'age')>", "Bob", {"name": "Bob", "age": 7},
        {"inner": {"name": "Bob", "age": 7}, "n": [{"name": "Bob", "age": 7}]})
    with pytest.raises(PySparkValueError, match=r"^\[CANNOT_SET_TOGETHER\] "):
        sql.Row("name", age=3)
    with pytest.raises(PySparkAttributeError, match=r"^\[ATTRIBUTE_NOT_SUPPORTED\] "):
        bob.height
    with pytest.raises(RuntimeError, match=r"^\[READ_ONLY\] "):
        bob.name = "Rob"
