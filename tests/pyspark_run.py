"""Run PySpark's own unit tests for the RDD API against Vega, on one master.

    python tests/pyspark_run.py PYSPARK_ZIP MASTER RESULTS.json [SUBSTRING]

(with SUBSTRING, only the tests whose id contains it run: for looking into one)

The test modules are read at run time from the installed PySpark's ``pyspark.zip``
(never copied into this repository) and run with ``unittest`` while ``import pyspark``
means Vega (``vega_runtime.pyspark_alias``, the ``--pyspark-compat`` switch) and
``pyspark_shims`` stands in for PySpark's test base classes and JVM-side names.  Every
test of :data:`MODULES` runs except those in :data:`EXCLUDED`, each excluded for a reason
given there.  ``RESULTS.json`` maps each test id to its outcome (``passed``, ``failed``,
``error``, ``skipped``, ``excluded``) and a short detail.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import signal
import sys
import tempfile
import traceback
import unittest
import zipfile

from pyspark_outcomes import write_outcomes

MODULES = ["test_rdd", "test_context", "test_join", "test_broadcast", "test_taskcontext",
           "test_statcounter", "test_worker", "test_conf", "test_rddsampler", "test_rddbarrier",
           "test_resources", "test_appsubmit", "test_profiler", "test_readwrite",
           "test_pin_thread", "test_stage_sched"]
#: where a module of :data:`MODULES` is in ``pyspark.zip`` when not under pyspark/tests/
MODULE_PATHS = {"test_resources": "pyspark/resource/tests/test_resources.py"}

#: Seconds one test may take before it counts as an error (PySpark's tests take a few).
TEST_TIMEOUT = 120

_JVM = "needs the JVM (py4j gateway, JavaRDD or Java-side classes)"
_SQL = "uses Spark SQL (DataFrames), which Vega does not implement"
_SLOTS = ("runs a barrier stage of 4 tasks, which needs 4 executor slots (PySpark's suite runs "
          "it on local[4]); Spark refuses it, as Vega does, on this suite's 1- and 2-slot masters")
_INTERNAL = "tests a PySpark-internal module (serializers, shuffle, worker daemon, profiler)"
_PACKAGES = ("--packages resolves Maven coordinates with Ivy, for the JVM: vega submit refuses "
             "it, saying to ship Python modules with --py-files (the test's package is a .py "
             "in a jar)")
_PYSPARK_MEMORY = ("spark.executor.pyspark.memory sets RLIMIT_AS on PySpark's Python workers; "
                   "Vega's executors are the Python processes, held to vega.executor.memory "
                   "with RLIMIT_DATA (RLIMIT_AS also counts the address space threads and "
                   "allocators reserve, and fails far below real use: docs/cluster.md)")

_ONE_TASK = ("it wants 2 tasks of 2 CPUs at once in local-cluster[1,4,1024]'s one executor "
             "of 1 GiB (all the worker's memory), as Spark's executor runs as many tasks as "
             "its cores hold; Vega's executor holds the 4 cores and runs the 2-CPU tasks, one "
             "at a time (each executor process runs one task: with spark.executor.memory "
             "512m, two executors of 2 cores run 2 at once)")

#: test id (module.Class.method, or module.Class for the whole class) -> why it is excluded
EXCLUDED = {
    # test_rdd
    "test_rdd.RDDTests.test_multiple_python_java_RDD_conversions": _JVM,
    "test_rdd.RDDTests.test_take_on_jrdd": _JVM,
    "test_rdd.RDDTests.test_take_on_jrdd_with_large_rows_should_not_cause_deadlock": _JVM,
    "test_rdd.RDDTests.test_zip_with_different_serializers": _INTERNAL,
    "test_rdd.RDDTests.test_external_group_by_key": _INTERNAL,
    "test_rdd.RDDTests.test_null_in_rdd": _JVM,
    "test_rdd.RDDTests.test_multithread_broadcast_pickle": _INTERNAL,  # sc.serializer, _pickled_broadcast_vars
    # test_context
    "test_context.ContextTests.test_set_conf": _JVM,  # sc._jsc
    "test_context.ContextTests.test_forbid_insecure_gateway": _JVM,  # a py4j gateway
    "test_context.CheckpointTests.test_checkpoint_and_restore": _INTERNAL,  # sc._checkpointFile
    # test_broadcast: PySpark's broadcast wire format and internal constructor, SQL UDFs
    "test_broadcast.BroadcastFrameProtocolTest": _INTERNAL,
    "test_broadcast.BroadcastTest.test_broadcast_when_sc_none": _INTERNAL,
    "test_broadcast.BroadcastTest.test_broadcast_value_against_gc": _JVM,  # sc._jvm
    "test_broadcast.BroadcastTest.test_broadcast_in_udfs_with_encryption": _SQL,
    # test_taskcontext
    "test_resources.ResourceProfileTests.test_profile_before_sc_for_sql": _SQL,
    # test_stage_sched (its other two pass: 1 task of 3 CPUs, of 2 CPUs and 3 GPUs, at once)
    "test_stage_sched.StageSchedulingTest.test_stage_scheduling_2_cpu_per_task": _ONE_TASK,
    "test_stage_sched.StageSchedulingTest.test_stage_scheduling_2_cpus_2_gpus_per_task":
        _ONE_TASK,
    # test_rddbarrier
    "test_rddbarrier.RDDBarrierTests.test_map_partitions_with_index": _SLOTS,
    # test_worker
    "test_worker.WorkerMemoryTest": _PYSPARK_MEMORY,
    "test_worker.WorkerMemoryFractionalTaskCpusTest": _PYSPARK_MEMORY,
    # test_profiler: its other two tests profile SQL UDFs
    "test_profiler.ProfilerTests2.test_profiler_all_enabled": _SQL,
    "test_profiler.ProfilerTests2.test_no_memory_profile_installed": _SQL,
    # test_readwrite (its input files: pyspark_shims._InputFormatData)
    "test_readwrite.InputFormatTests.test_converters": _JVM,  # Java converter classes
    "test_readwrite.OutputFormatTests.test_converters": _JVM,  # Java converter classes
    # test_pin_thread
    "test_pin_thread.PinThreadTests.test_pinned_thread": _JVM,  # JVM thread ids
    # test_appsubmit (spark-submit is vega submit --pyspark-compat: ``write_spark_submit``)
    "test_appsubmit.SparkSubmitTests.test_package_dependency": _PACKAGES,
    "test_appsubmit.SparkSubmitTests.test_package_dependency_on_cluster": _PACKAGES,
}

_INLINE = ("Vega's 'local' master runs tasks inside the driver process (PySpark's local mode "
           "runs Python workers): a task that crashes or kills its worker ends the driver")

_REUSED = ("an executor process (local[N]'s, a cluster's) interrupts a cancelled task and stays "
           "up for the next one, ended only if the task does not stop within a grace period; "
           "PySpark kills the Python worker process that ran it, which the test looks for")

_OWN_MASTER = ("its SparkContext has a master of its own (local[4], local-cluster[1,C,1024]): "
               "it runs once, in the 'local' master's run")

#: test ids excluded on masters whose tasks run in executor processes (local[N], a local
#: cluster, a cluster's vega:// URL), with the reason
EXCLUDED_IN_EXECUTORS = {
    "test_worker.WorkerTests.test_cancel_task": _REUSED,
    "test_worker.SimpleWorkerTests.test_cancel_task": _REUSED,
    "test_appsubmit.SparkSubmitTests": "each test runs spark-submit with a --master of its own "
                                       "(or none): they run once, in the 'local' master's run",
    "test_pin_thread.PinThreadTests": _OWN_MASTER,
    "test_stage_sched.StageSchedulingTest": _OWN_MASTER,
    "test_context.ContextTests.test_allow_to_create_spark_context_in_executors": _OWN_MASTER,
}

#: test ids excluded on the ``local`` master only, with the reason
EXCLUDED_ON = {
    "local": {
        "test_worker.WorkerSegfaultTest": _INLINE,
        "test_worker.WorkerSegfaultNonDaemonTest": _INLINE,
        "test_worker.WorkerPoolCrashTest": _INLINE,
        "test_worker.WorkerTests.test_cancel_task": _INLINE,
        "test_worker.SimpleWorkerTests.test_cancel_task": _INLINE,
        "test_context.AddFileTests.test_add_py_file_locally":
            "it expects userlibrary not importable in the driver, but the test before it "
            "(test_add_py_file) ran a task importing it, which on Vega's 'local' master runs "
            "inside the driver process, where the module stays imported",
        "test_rddsampler.RDDSamplerTests.test_rdd_stratified_sampler_func":
            "its bounds are statistical, for its seed on PySpark's local[4]: Vega draws the "
            "same counts as PySpark there and on local[2] (16 and 4 partitions), but on one "
            "partition PySpark pairs cartesian()'s records batch by batch, Vega row by row "
            "(as Spark's CartesianRDD), and the same seed draws b=15 where the test wants > 15",
    },
}


#: What the tests read from Spark's source tree (``$SPARK_HOME/python/test_support``, which
#: the wheel does not ship), written here to what they expect of it: a text file and a
#: directory of them, a module, a zipped package, and a module named as a standard one
#: whose ``__name__`` says it is the one shipped (``addPyFile`` wins over the system's).
TEST_SUPPORT = {
    "hello/hello.txt": "Hello World!\n",
    "hello/sub_hello/sub_hello.txt": "Sub Hello World!\n",
    "userlibrary.py": 'class UserClass:\n    def hello(self):\n        return "Hello World!"\n',
    "SimpleHTTPServer.py": '__name__ = "My Server"\n',
}
#: ``userlib-0.1.zip``: a package inside a zip file
TEST_SUPPORT_ZIP = ("userlib-0.1.zip", "userlib/__init__.py",
                    'class UserClass:\n    def hello(self):\n'
                    '        return "Hello World from inside a package!"\n')


def write_spark_submit(spark_home: str) -> None:
    """``$SPARK_HOME/bin/spark-submit``, which test_appsubmit runs: ``vega submit
    --pyspark-compat`` with this interpreter, so that the scripts it submits, which import
    pyspark, run on Vega."""
    path = os.path.join(spark_home, "bin", "spark-submit")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as out:
        out.write(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m vega_cli.main submit '
                  f'--pyspark-compat "$@"\n')
    os.chmod(path, 0o755)


def write_test_support(spark_home: str) -> None:
    """``$SPARK_HOME/python/test_support`` as the tests expect it (:data:`TEST_SUPPORT`)."""
    root = os.path.join(spark_home, "python", "test_support")
    for name, text in TEST_SUPPORT.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as out:
            out.write(text)
    archive, member, text = TEST_SUPPORT_ZIP
    with zipfile.ZipFile(os.path.join(root, archive), "w") as out:
        out.writestr(member, text)


class Recorder(unittest.TestResult):
    """Each test's outcome, with a deadline per test (SIGALRM in the main thread)."""

    def __init__(self):
        super().__init__()
        self.outcomes: dict = {}

    def startTest(self, test):
        super().startTest(test)
        signal.alarm(TEST_TIMEOUT)

    def stopTest(self, test):
        signal.alarm(0)
        self.outcomes.setdefault(_test_id(test), ("passed", ""))
        super().stopTest(test)

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[_test_id(test)] = ("error", _brief(err))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[_test_id(test)] = ("failed", _brief(err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[_test_id(test)] = ("skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.outcomes[_test_id(test)] = ("skipped", "expected failure")


class TestTimedOut(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimedOut(f"the test took longer than {TEST_TIMEOUT}s")


def _test_id(test) -> str:
    parts = test.id().split(".")
    return ".".join(parts[-3:]) if len(parts) >= 3 else test.id()


def _brief(err) -> str:
    kind, value, tb = err
    lines = traceback.format_exception(kind, value, tb)
    return "".join(lines[-6:])[-1500:]


def _excluded(test_id: str, master: str):
    module, cls, _ = test_id.split(".")
    table = {**EXCLUDED, **EXCLUDED_ON.get(master, EXCLUDED_IN_EXECUTORS)}
    return table.get(test_id) or table.get(f"{module}.{cls}")


def _tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _tests(item)
        else:
            yield item


def load_modules(zip_path: str, directory: str) -> list:
    """PySpark's test modules from ``zip_path``, imported from a copy in ``directory``."""
    import cloudpickle

    modules = []
    with zipfile.ZipFile(zip_path) as archive:
        for name in MODULES:
            path = os.path.join(directory, f"{name}.py")
            with open(path, "wb") as out:
                out.write(archive.read(MODULE_PATHS.get(name, f"pyspark/tests/{name}.py")))
            spec = importlib.util.spec_from_file_location(f"pyspark_unit.{name}", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            # Executors of a local cluster cannot import these modules: ship their code.
            cloudpickle.register_pickle_by_value(module)
            modules.append((name, module))
    return modules


def main(zip_path: str, master: str, results_path: str, only: str = "") -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from vega_runtime.pyspark_alias import install

    import pyspark_shims

    install()
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.modules.setdefault("pyspark_unit", type(sys)("pyspark_unit"))
    sys.modules["pyspark_unit"].__path__ = []
    outcomes = {}
    with tempfile.TemporaryDirectory(prefix="pyspark-tests-") as directory:
        spark_home = os.path.join(directory, "spark-home")
        write_test_support(spark_home)
        write_spark_submit(spark_home)
        pyspark_shims.register(master, spark_home)
        loader = unittest.TestLoader()
        for name, module in load_modules(zip_path, directory):
            suite, wanted = unittest.TestSuite(), []
            for test in _tests(loader.loadTestsFromModule(module)):
                test_id = _test_id(test)
                reason = _excluded(test_id, master)
                if only not in test_id:
                    continue
                if reason:
                    outcomes[test_id] = ("excluded", reason)
                else:
                    suite.addTest(test)
                    wanted.append(test_id)
            recorder = Recorder()
            suite.run(recorder)
            outcomes.update(recorder.outcomes)
            # A failed setUpClass runs none of its class's tests: each counts as an error.
            setup_errors = [(t.description, e) for t, e in recorder.errors
                            if not isinstance(t, unittest.TestCase)]
            for test_id in wanted:
                if test_id not in outcomes:
                    why = "; ".join(f"{d}: {e[-300:]}" for d, e in setup_errors) or "did not run"
                    outcomes[test_id] = ("error", why)
    write_outcomes(results_path, outcomes)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
