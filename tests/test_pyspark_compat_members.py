"""PySpark members found missing or different by testing Vega against PySpark 4.3 case by
case (``SparkConf``, ``SparkContext``'s attributes, ``TaskContext``): each test says what
PySpark gives."""

import sys
import zipfile
from decimal import Decimal

import pytest

from vega_runtime import AccumulatorParam, BarrierTaskContext, TaskContext
from vega_runtime.errors import PySparkRuntimeError
from vega_runtime.pyspark_compat import SparkConf


def test_python_exec_names_the_python_executors_run(ctx):
    """``sc.pythonExec`` (PySpark's attribute, beside ``pythonVer``) is there: the driver's
    interpreter, which the executors of the local masters run; before: AttributeError."""
    assert ctx.pythonExec == sys.executable
    assert ctx.pythonVer == "%d.%d" % sys.version_info[:2]


@pytest.mark.parametrize("call", [lambda conf: conf.setExecutorEnv(),
                                  lambda conf: conf.setExecutorEnv("A", "1", pairs=[("B", "2")])],
                         ids=["neither", "both"])
def test_set_executor_env_without_one_pair_or_pairs_is_pysparks_runtime_error(call):
    """``setExecutorEnv()`` with neither a pair nor ``pairs`` (or both) raises PySpark's
    ``PySparkRuntimeError`` ``KEY_VALUE_PAIR_REQUIRED`` (a ``RuntimeError``), as PySpark's;
    before: ``ValueError``, which ``except PySparkRuntimeError`` missed."""
    conf = SparkConf(False)
    with pytest.raises(PySparkRuntimeError) as raised:
        call(conf)
    assert isinstance(raised.value, RuntimeError)
    assert str(raised.value).startswith("[KEY_VALUE_PAIR_REQUIRED] Key-value pair or a list "
                                        "of pairs is required: pass setExecutorEnv(key, value)")
    assert conf.getAll() == []


def test_errors_answer_pyspark_4s_exception_api(ctx):
    """PySpark 4's ``PySparkException`` API (getCondition, getMessageParameters, getMessage,
    getQueryContext, getSqlState) on Vega's errors, which are ``PySparkException`` under
    ``--pyspark-compat``: an error PySpark raises with an error class answers with it (here
    show_profiles() without spark.python.profile, PySpark's INCORRECT_CONF_FOR_PROFILE), a
    failed job answers None; getErrorClass() warns it is deprecated, as PySpark 4's does.
    Before: AttributeError for all but getErrorClass."""
    from vega_runtime.pyspark_compat.errors import PySparkException, PythonException

    with pytest.raises(PySparkRuntimeError) as raised:
        ctx.show_profiles()
    error = raised.value
    assert isinstance(error, PySparkException)
    assert (error.getCondition(), error.getMessageParameters(), error.getQueryContext(),
            error.getSqlState()) == ("INCORRECT_CONF_FOR_PROFILE", {}, [], None)
    assert error.getMessage() == str(error)
    assert error.getMessage().startswith("[INCORRECT_CONF_FOR_PROFILE] ")
    with pytest.warns(FutureWarning, match="Deprecated in 4.0.0, use getCondition instead."):
        assert error.getErrorClass() == "INCORRECT_CONF_FOR_PROFILE"

    with pytest.raises(PySparkException) as failed:
        ctx.parallelize([0]).map(lambda x: 1 // x).collect()
    assert (failed.value.getCondition(), failed.value.getMessageParameters(),
            failed.value.getQueryContext()) == (None, None, [])
    assert issubclass(PythonException, PySparkException)


def test_spark_session_conf_answers_as_pysparks_runtime_config(fresh_ctx):
    """spark.conf (PySpark's RuntimeConfig), what a notebook's boilerplate uses
    (spark.conf.set("spark.sql.shuffle.partitions", 8)): as PySpark 4.3 answered the same
    calls, run against it: the application's properties, keys set at run time (as strings:
    True is 'true'), PySpark's SQL_CONF_NOT_FOUND, CANNOT_MODIFY_CONFIG for a setting the
    application uses and NOT_EXPECTED_TYPE; before, AttributeError: no attribute 'conf'."""
    from vega_runtime.pyspark_compat.errors import (AnalysisException, PySparkTypeError,
                                                    SparkNoSuchElementException)
    from vega_runtime.pyspark_compat.sql import SparkSession

    # A Context of the test's own is the running one, so the session is on it (and its
    # stop() stops no other test's), and the builder's settings Vega does not use go to its
    # conf, as in PySpark.
    running = fresh_ctx("local")
    spark = (SparkSession.builder.master("local").appName("rc")
             .config("spark.myapp.flag", "on").getOrCreate())
    try:
        conf = spark.conf
        assert spark.sparkContext is running
        assert (conf.get("spark.myapp.flag"), conf.get("spark.app.name"),
                conf.get("spark.executor.memory", "dflt")) == ("on", "tests", "dflt")
        with pytest.raises(SparkNoSuchElementException) as missing:
            conf.get("my_key")
        assert (missing.value.getCondition(), missing.value.getMessageParameters(),
                str(missing.value)) == ("SQL_CONF_NOT_FOUND", {"sqlConf": '"my_key"'},
                                        '[SQL_CONF_NOT_FOUND] The SQL config "my_key" cannot be '
                                        "found. Please verify that the config exists.")
        conf.set("key1", "value1")
        conf.set("key2", 5)
        conf.set("key3", True)
        assert (conf.get("key1"), conf.get("key2"), conf.get("key3"),
                conf.isModifiable("key1")) == ("value1", "5", "true", False)
        for change in (lambda: conf.set("spark.executor.memory", "2g"),
                       lambda: conf.unset("spark.executor.memory")):
            with pytest.raises(AnalysisException) as refused:
                change()
            assert (refused.value.getCondition(), refused.value.getMessageParameters()[
                "key"]) == ("CANNOT_MODIFY_CONFIG", '"spark.executor.memory"')
        conf.unset("key1")
        assert conf.get("key1", None) is None
        assert spark.conf.getAll["key2"] == "5" and spark.conf.getAll["spark.myapp.flag"] == "on"
        with pytest.raises(PySparkTypeError) as wrong:
            conf.get(5)
        assert (wrong.value.getCondition(), wrong.value.getMessageParameters()) == (
            "NOT_EXPECTED_TYPE", {"arg_name": "key", "expected_type": "str", "arg_type": "int"})
    finally:
        spark.stop()


PYSPARK_JSON = {"stageId": 3, "partitionId": 1, "attemptNumber": 2, "taskAttemptId": 17,
                "cpus": 1, "cpuAmount": "0.5",
                "resources": {"gpu": {"name": "gpu", "addresses": ["0", "1"]}},
                "localProperties": {"k": "v", "addresses": "h1:10, h2:20"}}


def test_task_context_from_json_takes_pysparks_json_form():
    """``TaskContext.from_json`` (PySpark 4.3's) builds a context of PySpark's JSON form of
    one, with its ids, CPUs, resources and local properties; before: AttributeError."""
    context = TaskContext.from_json(PYSPARK_JSON)
    assert type(context) is TaskContext
    assert (context.stageId(), context.partitionId(), context.attemptNumber(),
            context.taskAttemptId()) == (3, 1, 2, 17)
    assert (context.cpus(), context.cpuAmount()) == (1, Decimal("0.5"))
    assert {name: (info.name, info.addresses) for name, info in context.resources().items()} \
        == {"gpu": ("gpu", ["0", "1"])}
    assert (context.getLocalProperty("k"), context.getLocalProperty("nope")) == ("v", None)
    assert TaskContext.get() is None
    whole = TaskContext.from_json({**PYSPARK_JSON, "cpus": 2, "cpuAmount": None})
    assert (whole.cpus(), whole.cpuAmount()) == (2, Decimal(2))


def test_barrier_task_context_from_json_gives_its_task_infos():
    """``BarrierTaskContext.from_json`` gives a ``BarrierTaskContext`` whose task infos are
    the ``addresses`` local property's, as PySpark's ``getTaskInfos()`` reads them."""
    context = BarrierTaskContext.from_json({**PYSPARK_JSON, "connInfo": 1, "secret": "s"})
    assert type(context) is BarrierTaskContext
    assert [info.address for info in context.getTaskInfos()] == ["h1:10", "h2:20"]
    assert context.partitionId() == 1


def test_accumulator_has_pysparks_aid_and_accum_param(ctx):
    """An accumulator's ``aid`` and ``accum_param`` (PySpark's attributes) are its id and
    param; before: AttributeError."""
    class Concat(AccumulatorParam):
        def zero(self, value):
            return ""

        def addInPlace(self, value1, value2):
            return value1 + value2

    param = Concat()
    acc = ctx.accumulator("", param)
    ctx.parallelize(["a"], 1).foreach(lambda s: acc.add(s))
    assert (acc.aid, acc.accum_param, acc.value) == (acc.id, param, "a")


def _added_in_threads(ctx):
    """What 10 records add to an accumulator from threads their tasks start, and the
    partition ids and local property those threads see, as ``(value, seen)``."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    acc = ctx.accumulator(0)
    ctx.set_local_property("seen.by", "threads")

    def partition(records):
        seen = []

        def look():
            context = TaskContext.get()
            seen.append(context and (context.partitionId(), context.getLocalProperty("seen.by")))

        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(acc.add, records))
        return seen

    try:
        seen = ctx.parallelize(range(10), 2).map_partitions(partition).collect()
    finally:
        ctx.set_local_property("seen.by", None)
    return acc.value, seen


def test_threads_a_task_starts_see_its_context_and_add_to_its_accumulators(ctx):
    """In an executor process, threads a task starts (a thread pool in ``mapPartitions``)
    see its ``TaskContext`` and add to its accumulator updates, as PySpark's process-wide
    context; before: ``TaskContext.get()`` was None there and every add was lost (0)."""
    if ctx.master == "local":
        pytest.skip("local runs tasks in the driver's process: the next test")
    assert _added_in_threads(ctx) == (45, [(0, "threads"), (1, "threads")])


def test_on_local_an_add_from_a_tasks_thread_fails_instead_of_being_lost(fresh_ctx):
    """On ``local`` (tasks in the driver's own process, beside its threads) a thread a task
    starts has no task context: its ``add`` fails the task, saying so, where it was lost."""
    from vega_runtime.errors import TaskFailed

    ctx = fresh_ctx("local", conf={"vega.task.max_attempts": 1})
    with pytest.raises(TaskFailed, match=r"PySparkRuntimeError: \[ACCUMULATOR_OUTSIDE_TASK\] "
                                         r"Accumulator.add\(\) of accumulator \d+ was called "
                                         r"outside its task: .*or use local\[N\]"):
        _added_in_threads(ctx)


def test_an_accumulator_can_be_made_after_stop_as_pysparks():
    """``sc.accumulator(5)`` after ``sc.stop()`` gives an accumulator that adds on the
    driver, as PySpark 4.3's (its accumulators are the driver's Python objects); before:
    ContextStoppedError."""
    from vega_runtime import Context

    ctx = Context(master="local")
    ctx.stop()
    acc = ctx.accumulator(5)
    acc.add(2)
    acc += 1
    assert acc.value == 8


def test_task_context_takes_pysparks_keyword_names():
    """``TaskContext(stageId=3, partitionId=1, ...)`` (PySpark 4.3's constructor, which
    unit tests of code that calls ``TaskContext.get()`` use) gives a context with those
    values that ``TaskContext.get()`` then returns, a later call setting more of them; an
    unknown keyword is a TypeError, as PySpark's.  Before: TypeError for ``stageId``."""
    import threading

    seen = []

    def in_a_thread():  # its running context is this thread's: no other test sees it
        context = TaskContext(stageId=3, partitionId=1, attemptNumber=0, taskAttemptId=9,
                              localProperties={"k": "v"}, cpus=2)
        seen.append((context.stageId(), context.partitionId(), context.attemptNumber(),
                     context.taskAttemptId(), context.getLocalProperty("k"), context.cpus(),
                     TaskContext.get() is context))
        again = TaskContext(partitionId=4, cpuAmount=Decimal("0.5"))
        seen.append((again is context, again.stageId(), again.partitionId(),
                     again.cpuAmount()))
        with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
            TaskContext(bogus=1)
        from vega_runtime import Context  # the thread is still the driver's

        with Context(master="local") as ctx:
            acc = ctx.accumulator(0)
            acc.add(5)
            seen.append((acc.value, ctx.parallelize([1, 2]).sum(), TaskContext.get() is context))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join(10)
    assert seen == [(3, 1, 0, 9, "v", 2, True), (True, 3, 4, Decimal("0.5")), (5, 3, True)]
    assert TaskContext.get() is None


def submit_with_spark_conf(vega_cli, job, master: str):
    """``vega submit --pyspark-compat`` of ``job`` with a name and two ``--conf spark.*``
    pairs (one Vega has no use for), which must succeed."""
    result = vega_cli("submit", "--pyspark-compat", "--master", master, "--name", "n",
                      "--conf", "spark.myapp.input=/data/in", "--conf",
                      "spark.task.maxFailures=2", str(job))
    assert result.returncode == 0, result.stderr
    return result


def test_spark_conf_in_a_submitted_job_has_what_vega_submit_was_given(vega_cli, tmp_path):
    """Under ``vega submit --conf spark.myapp.input=... --name n``, once a context has
    started, ``SparkConf()`` (and ``sc.getConf()``) has ``spark.master``, ``spark.app.name``,
    ``spark.submit.deployMode`` and every ``--conf spark.*`` pair as given, as PySpark's
    SparkConf() reads the JVM system properties spark-submit set (before the first context
    it is empty, as PySpark's: no JVM yet); the lines are spark-submit's for this job.  The
    setting Vega has no use for is named once.  Before: all None, so a job's own --conf
    parameter was lost."""
    job = tmp_path / "conf_job.py"
    job.write_text(
        "from pyspark import SparkConf, SparkContext\n"
        "keys = ('spark.master', 'spark.app.name', 'spark.myapp.input',"
        " 'spark.task.maxFailures', 'spark.submit.deployMode')\n"
        "print([SparkConf().get(k) for k in keys])\n"
        "sc = SparkContext(conf=SparkConf().setAppName('renamed'))\n"
        "print([sc.getConf().get(k) for k in keys], sc.appName)\n"
        "print([SparkConf().get(k) for k in keys], SparkConf(False).getAll())\n"
        "sc.stop()\n")
    result = submit_with_spark_conf(vega_cli, job, "local")
    assert result.stdout.splitlines() == [
        "[None, None, None, None, None]",
        "['local', 'renamed', '/data/in', '2', 'client'] renamed",
        "['local', 'n', '/data/in', '2', 'client'] []"]
    assert result.stderr.count("spark.myapp.input") == 1, result.stderr


def test_system_properties_set_before_a_context_are_its_settings(vega_cli, tmp_path):
    """``SparkContext.setSystemProperty`` before the context is made (an old PySpark idiom)
    makes each ``spark.*`` property a setting of the contexts after it, as PySpark's JVM
    system properties are: ``SparkConf()`` starts with them (over vega submit's), the
    context's own conf wins over them, an executor sees one only through the settings
    (``spark.executorEnv.*`` here), and a task may not read them (the driver's, as
    PySpark's SparkContext); ``getSystemProperty`` reads one back, vega submit's, and
    ``SPARK_SUBMIT`` as PySpark's JVM has it, None for the JVM's own; they outlive the
    context.  Before: AttributeError ("not in Vega")."""
    job = tmp_path / "property_job.py"
    job.write_text(
        "import os\n"
        "from pyspark import SparkConf, SparkContext\n"
        "keys = ('spark.myapp.input', 'SPARK_SUBMIT', 'java.home', 'myapp.mode')\n"
        "print([SparkContext.getSystemProperty(k) for k in keys], SparkConf().getAll())\n"
        "SparkContext.setSystemProperty('spark.executorEnv.VEGA_TEST_VAR', 'from-a-property')\n"
        "SparkContext.setSystemProperty('spark.task.maxFailures', '3')\n"
        "SparkContext.setSystemProperty('spark.app.name', 'from-a-property')\n"
        "SparkContext.setSystemProperty('myapp.mode', 'fast')\n"
        "try:\n"
        "    SparkContext.setSystemProperty('spark.executor.cores', 2)\n"
        "except TypeError as exc:\n"
        "    print(exc)\n"
        "print(sorted(SparkConf().getAll()))\n"
        "sc = SparkContext(conf=SparkConf(False).setAppName('own'))\n"
        "print(sc.appName, sc.getConf().get('spark.task.maxFailures'),"
        " sc.getConf().get('myapp.mode'), sc.getConf().get('spark.executor.cores'))\n"
        "print(sc.parallelize([0, 1], 2).map(lambda _: os.environ['VEGA_TEST_VAR']).collect())\n"
        "try:\n"
        "    sc.parallelize([0], 1).foreach(lambda _: SparkContext.getSystemProperty('x'))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, str(exc).split('DriverOnlyError: ')[1][:30])\n"
        "sc.stop()\n"
        "print([SparkContext.getSystemProperty(k) for k in keys])\n")
    assert submit_with_spark_conf(vega_cli, job, "local[2,3]").stdout.splitlines() == [
        "['/data/in', 'true', None, None] []",
        "a system property's value is a str, not int: "
        "setSystemProperty('spark.executor.cores', '2')",
        str([("spark.app.name", "from-a-property"),
             ("spark.executorEnv.VEGA_TEST_VAR", "from-a-property"),
             ("spark.master", "local[2,3]"), ("spark.myapp.input", "/data/in"),
             ("spark.submit.deployMode", "client"), ("spark.submit.pyFiles", ""),
             ("spark.task.maxFailures", "3")]),
        "own 3 None None",
        "['from-a-property', 'from-a-property']",
        "TaskFailed [CONTEXT_ONLY_VALID_ON_DRIVER]",
        "['/data/in', 'true', None, 'fast']"]


def test_spark_conf_in_a_submitted_job_names_its_files_as_spark_submit_does(vega_cli, tmp_path):
    """``--py-files``, ``--files`` and ``--archives`` are ``spark.submit.pyFiles`` (absolute
    paths), ``spark.files`` (file: URIs of the files, then of the Python files) and
    ``spark.archives`` (URIs, with a ``#NAME`` given) in ``sc.getConf()``, as spark-submit
    sets them for a client-mode driver (PySpark 4.3's printed these lines); without them
    ``spark.submit.pyFiles`` is "" and the others are unset.  Before: all None."""
    (tmp_path / "helpers.py").write_text("X = 1\n")
    (tmp_path / "lookup.csv").write_text("a,b\n")
    with zipfile.ZipFile(tmp_path / "arc.zip", "w") as archive:
        archive.writestr("x.txt", "x")
    job = tmp_path / "files_job.py"
    job.write_text(
        "from pyspark import SparkContext\n"
        "sc = SparkContext()\n"
        "print([sc.getConf().get(k) for k in ('spark.submit.pyFiles', 'spark.files',"
        " 'spark.archives')])\n"
        "sc.stop()\n")
    shipped = vega_cli("submit", "--pyspark-compat", "--master", "local", "--py-files",
                       f"{tmp_path}/helpers.py", "--files", f"{tmp_path}/lookup.csv",
                       "--archives", f"{tmp_path}/arc.zip#data", str(job))
    plain = vega_cli("submit", "--pyspark-compat", "--master", "local", str(job))
    assert (shipped.returncode, plain.returncode) == (0, 0), shipped.stderr + plain.stderr
    assert shipped.stdout == str([f"{tmp_path}/helpers.py",
                                  f"file://{tmp_path}/lookup.csv,file://{tmp_path}/helpers.py",
                                  f"file://{tmp_path}/arc.zip#data"]) + "\n"
    assert plain.stdout == "['', None, None]\n"


@pytest.mark.parametrize("size, error", [(-5, ValueError), (2.5, TypeError),
                                         ("100", TypeError)])
def test_a_batch_size_every_pyspark_job_fails_with_is_refused_at_once(size, error):
    """``SparkContext(batchSize=...)`` was accepted whatever it was and ignored. PySpark 4.3
    takes any value too, then fails every job: -5 and 2.5 in the first task (``islice``'s
    ValueError), "100" in ``parallelize`` (TypeError); Vega refuses them as the context is
    made, and nothing starts."""
    from vega_runtime.pyspark_compat import SparkContext

    with pytest.raises(error) as refused:
        SparkContext("local", "batches", batchSize=size)
    assert str(refused.value) == ("batchSize is 0 (automatic), -1 (unlimited) or a number of "
                                  f"records per batch, not {size!r}")
    assert SparkContext._active_spark_context is None


@pytest.mark.parametrize("size", [0, 1, -1, 2, None])
def test_the_batch_sizes_pyspark_runs_with_are_taken(size):
    """0 (automatic), 1, -1 (unlimited), a count and None run in PySpark 4.3 (glom gives
    the same partitions whatever the size): they are taken, kept as ``sc._batchSize``."""
    from vega_runtime.pyspark_compat import SparkContext

    sc = SparkContext("local", "batches", batchSize=size)
    try:
        assert sc._batchSize == size
        assert sc.parallelize(range(16), 4).glom().collect() == [
            [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    finally:
        sc.stop()
