"""Run the examples of PySpark's own API documentation (its doctests) against Vega.

    python tests/pyspark_doctest_run.py PYSPARK_HOME MASTER RESULTS.json [SUBSTRING]

(with SUBSTRING, only the docstrings whose name contains it run: for looking into one)

The docstrings are read at run time from the installed PySpark's sources (never copied
into this repository; never imported: PySpark needs its JVM) for the modules of
:data:`MODULES`, and their ``>>>`` examples run with :mod:`doctest` while ``import pyspark``
means Vega (``vega_runtime.pyspark_alias``, the ``--pyspark-compat`` switch).  Each
module's examples see the globals its own ``_test()`` gives them: the module's top-level
names (its imports resolved through the alias, its own names taken from the Vega module
that answers for it) and ``sc`` (or ``spark``) made on the master under test.  Every
docstring runs except those in :data:`EXCLUDED`, each excluded for a reason given there.

``RESULTS.json`` maps each example (``module:Docstring.name:line``) to its outcome
(``passed``, ``failed``, ``error``, ``skipped`` for PySpark's own ``+SKIP``, ``excluded``)
and a short detail.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import os
import re
import signal
import sys
import tempfile

from pyspark_outcomes import write_outcomes

#: PySpark source file (under the pyspark package) -> (the module name PySpark's examples
#: live in, what its ``_test()`` binds: "sc", "spark" or nothing)
MODULES = {
    "core/rdd.py": ("pyspark.rdd", "sc"),
    "core/context.py": ("pyspark.context", "sc"),
    "statcounter.py": ("pyspark.statcounter", "sc"),
    "accumulators.py": ("pyspark.accumulators", "sc"),
    "core/broadcast.py": ("pyspark.broadcast", "spark"),
    "core/files.py": ("pyspark.files", "sc"),
    "storagelevel.py": ("pyspark.storagelevel", "sc"),
    "taskcontext.py": ("pyspark.taskcontext", "spark"),
    "conf.py": ("pyspark.conf", None),  # its examples make their own SparkContext
    "util.py": ("pyspark.util", "sc"),
}

#: Seconds one docstring's examples may take: the example running then fails (an error).
DOCSTRING_TIMEOUT = 60

_SQL = "uses Spark SQL (DataFrames), which Vega does not implement"
_JVM = "needs the JVM (py4j gateway, JavaRDD or Java-side classes)"
_RESOURCES = "resource profiles and GPU resources: a Spark scheduler feature Vega lacks"
_INTERNAL = "a PySpark-internal helper (versions, memory strings, tracebacks), not its API"
_IN_PYSPARK_TOO = ("fails on PySpark 4.3 itself, run this way (the example's expectation is "
                   "out of date, or it clashes with the `sc` its module's _test() makes)")

#: "module:qualified docstring name" -> why its examples are excluded
EXCLUDED = {
    "pyspark.rdd:RDD.toDF": _SQL,
    "pyspark.rdd:RDD.withResources": _RESOURCES,
    "pyspark.rdd:RDD.getResourceProfile": _RESOURCES,
    "pyspark.context:SparkContext.resources": _RESOURCES,
    "pyspark.context:SparkContext": _IN_PYSPARK_TOO,  # a second SparkContext next to `sc`
    # from line 5248 on: a barrier stage of 4 tasks, which PySpark's local[4] runs and Spark
    # refuses (as Vega does) on the runner's 2-slot masters
    # from these lines on: three records in PySpark's local[4] are a part file each (three
    # at offset 0); the runner's masters have 2 slots, so two share one (pass on local[4])
    "pyspark.rdd:RDD.saveAsHadoopDataset:2983": "the expected byte offsets are of a 4-slot "
    "master's part files (each record alone); the runner's masters have 2",
    "pyspark.rdd:RDD.saveAsHadoopFile:3078": "the expected byte offsets are of a 4-slot "
    "master's part files (each record alone); the runner's masters have 2",
    "pyspark.context:SparkContext.hadoopFile:1606": "the expected byte offsets are of a "
    "4-slot master's part files (each record alone); the runner's masters have 2",
    "pyspark.context:SparkContext.hadoopRDD:1707": "the expected byte offsets are of a "
    "4-slot master's part files (each record alone); the runner's masters have 2",
    "pyspark.rdd:RDDBarrier.mapPartitionsWithIndex:5248": "a barrier stage of 4 tasks needs "
    "4 executor slots; the runner's masters have 2",
    "pyspark.statcounter:StatCounter.asDict": _IN_PYSPARK_TOO,  # Python 2's `4L`, key order
    "pyspark.taskcontext:TaskContext:59": _SQL,  # from line 59 on: SQL and pandas UDFs
    "pyspark.conf:SparkConf:103": _JVM,  # from line 103 on: conf._jconf, the JVM's SparkConf
    "pyspark.util:VersionUtils.majorMinorVersion": _INTERNAL,
    "pyspark.util:_parse_memory": _INTERNAL,
    "pyspark.util:try_simplify_traceback": _INTERNAL,
    "pyspark.util:is_remote_only": "Spark Connect, which Vega does not implement",
}

#: Examples that fail on Vega and why (reported with them, not excluded: they count).
DIFFERENCES = {
    "pyspark.context:SparkContext.applicationId": "Vega's application ids read app-<time>-<n> "
    "on every master (Spark's local mode names them local-<ms>)",
    "pyspark.context:SparkContext.uiWebUrl": "Vega has no driver UI: None for local/local[N] "
    "(docs/api.md), the master's https:// UI for a cluster; Spark serves http://",
    "pyspark.rdd:RDD.toDebugString": "Vega's lineage has no PythonRDD (a JVM-side wrapper of "
    "Python code in Spark)",
    "pyspark.conf:SparkConf": "a SparkConf's repr names its class's real module: "
    "<vega_runtime.pyspark_compat.conf.SparkConf object at ...>",
    "pyspark.rdd:RDDBarrier.mapPartitions": "an RDDBarrier's repr names its class's real "
    "module: <vega_runtime.rdd.barrier.RDDBarrier object at ...>",
    "pyspark.rdd:RDDBarrier.mapPartitionsWithIndex": "an RDDBarrier's repr names its class's "
    "real module: <vega_runtime.rdd.barrier.RDDBarrier object at ...>",
    "pyspark.context:SparkContext.removeJobTag": "a set's order: prints the same two tags in "
    "the order of this process's string hashes (PYTHONHASHSEED)",
}

#: PySpark's examples that expect ``Py4JJavaError`` (a failed job, or Spark's JVM refusing
#: something) accept Vega's error for it: a ``VegaError`` (``pyspark_shims`` maps the name
#: the same way for PySpark's unit tests).
_PY4J_ERROR = re.compile(r"^(?:py4j\.protocol\.)?Py4JJavaError\b", re.MULTILINE)


class ExampleTimedOut(Exception):
    pass


def _on_alarm(signum, frame):
    raise ExampleTimedOut(f"the docstring's examples took longer than {DOCSTRING_TIMEOUT}s")


def docstrings(source: str):
    """(qualified name, docstring, line of the docstring) of a module, its classes and their
    methods and functions, as ``doctest.DocTestFinder`` names them."""
    tree = ast.parse(source)

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                doc = ast.get_docstring(child, clean=False)
                if doc is not None:
                    yield name, doc, child.body[0].lineno
                if isinstance(child, ast.ClassDef):
                    yield from walk(child, name + ".")

    doc = ast.get_docstring(tree, clean=False)
    if doc is not None:
        yield "", doc, 1
    yield from walk(tree, "")


def module_globals(source: str, module: str) -> dict:
    """The names the real module has at its top level, as Vega has them: its imports run
    through the alias (those Vega lacks are left out), the names it defines taken from the
    Vega module that answers for ``module``."""
    namespace = dict(vars(importlib.import_module(module)))
    for node in ast.parse(source).body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        code = compile(ast.Module(body=[node], type_ignores=[]), "<imports>", "exec")
        try:
            exec(code, namespace)
        except ImportError:
            # One name at a time: keep those Vega has.
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    try:
                        imported = importlib.import_module(node.module)
                        namespace[alias.asname or alias.name] = getattr(imported, alias.name)
                    except (ImportError, AttributeError):
                        pass
    namespace["__name__"] = module
    return namespace


def _excluded_from_line(name: str, line: int):
    """The reason of an entry "name:LINE" of EXCLUDED with LINE <= ``line``, or None."""
    for key, reason in EXCLUDED.items():
        excluded_name, _, first = key.rpartition(":")
        if excluded_name == name and first.isdigit() and int(first) <= line:
            return reason
    return None


def _vega_error_names() -> set:
    """The names of VegaError and its subclasses."""
    from vega_runtime.errors import VegaError

    names, pending = set(), [VegaError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


class VegaErrorChecker(doctest.OutputChecker):
    """Reads an expected ``Py4JJavaError`` as "a VegaError" (see :data:`_PY4J_ERROR`)."""

    def __init__(self):
        self.vega_errors = _vega_error_names()

    def check_output(self, want, got, optionflags):
        raised = re.match(r"[\w.]+", got)
        if raised and raised.group().rpartition(".")[2] in self.vega_errors:
            want = _PY4J_ERROR.sub(raised.group(), want)
        return super().check_output(want, got, optionflags)


class Recorder(doctest.DocTestRunner):
    """Each example's outcome."""

    def __init__(self, optionflags):
        super().__init__(checker=VegaErrorChecker(), verbose=False, optionflags=optionflags)
        self.outcomes: dict = {}

    def _id(self, test, example) -> str:
        return f"{test.name}:{test.lineno + example.lineno + 1}"

    def report_start(self, out, test, example):
        pass

    def report_success(self, out, test, example, got):
        self.outcomes[self._id(test, example)] = ("passed", "")

    def report_failure(self, out, test, example, got):
        self.outcomes[self._id(test, example)] = (
            "failed", f">>> {example.source.strip()}\nexpected: {example.want.strip()}\n"
                      f"got: {got.strip()}"[:1500])

    def report_unexpected_exception(self, out, test, example, exc_info):
        kind, value, _ = exc_info
        self.outcomes[self._id(test, example)] = (
            "error", f">>> {example.source.strip()}\n{kind.__name__}: {value}"[:1500])


def run_module(pyspark_home: str, path: str, module: str, binding: str, master: str,
               only: str, outcomes: dict) -> None:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    with open(os.path.join(pyspark_home, path), encoding="utf-8") as source_file:
        source = source_file.read()
    globs = module_globals(source, module)
    tests = []
    parser = doctest.DocTestParser()
    for name, doc, lineno in docstrings(source):
        full = f"{module}:{name}" if name else module
        test = parser.get_doctest(doc, {}, full, path, lineno - 1)
        if not test.examples or only not in full:
            continue
        for example in test.examples:
            line = test.lineno + example.lineno + 1
            reason = EXCLUDED.get(full) or _excluded_from_line(full, line)
            if reason:
                outcomes[f"{full}:{line}"] = ("excluded", reason)
                example.options[doctest.SKIP] = True
        if all(example.options.get(doctest.SKIP) for example in test.examples):
            continue
        tests.append(test)
    if not tests:
        return
    with tempfile.TemporaryDirectory(prefix="pyspark-doctest-") as checkpoints:
        if binding:
            sc = SparkContext(master, f"doctests of {module}")
            sc.setCheckpointDir(checkpoints)
            globs["sc"] = sc
            if binding == "spark":
                globs["spark"] = SparkSession(sc)
        try:
            recorder = Recorder(doctest.ELLIPSIS)
            for test in tests:
                test.globs = dict(globs)
                for example in test.examples:
                    line_id = f"{test.name}:{test.lineno + example.lineno + 1}"
                    if example.options.get(doctest.SKIP) and line_id not in outcomes:
                        outcomes[line_id] = ("skipped", "PySpark's own +SKIP")
                signal.alarm(DOCSTRING_TIMEOUT)
                try:
                    recorder.run(test, out=lambda text: None, clear_globs=True)
                except ExampleTimedOut as exc:
                    for example in test.examples:
                        outcomes.setdefault(f"{test.name}:{test.lineno + example.lineno + 1}",
                                            ("error", str(exc)))
                finally:
                    signal.alarm(0)
            for example_id, (outcome, detail) in recorder.outcomes.items():
                why = DIFFERENCES.get(example_id.rpartition(":")[0])
                if why and outcome != "passed":
                    detail = f"known difference: {why}\n{detail}"
                outcomes[example_id] = (outcome, detail)
        finally:
            # ours, or one the examples made (conf's does, and leaves it running)
            running = SparkContext._active_spark_context
            if running is not None:
                running.stop()


def main(pyspark_home: str, master: str, results_path: str, only: str = "") -> int:
    from vega_runtime.pyspark_alias import install

    install()
    signal.signal(signal.SIGALRM, _on_alarm)
    # PySpark's portable_hash (and so its documented partitioning) needs a fixed seed.
    os.environ.setdefault("PYTHONHASHSEED", "0")
    outcomes: dict = {}
    for path, (module, binding) in MODULES.items():
        run_module(pyspark_home, path, module, binding, master, only, outcomes)
    write_outcomes(results_path, outcomes)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
