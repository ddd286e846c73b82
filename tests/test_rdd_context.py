"""The Context's RDD-creating and job-running API: parallelize, range, union, run_job..."""

import logging
import os
import re

import pytest

import vega_runtime
from vega_runtime import Context, VegaError
from vega_runtime.errors import ConfigError, MasterURLError


def expected_parallelism(ctx):
    return 1 if ctx.master == "local" else 2


# -- parallelize / make_rdd ------------------------------------------------------------

def test_a_tasks_sys_argv_is_its_executors_command(ctx):
    """A task's ``sys.argv`` is its executor's command, the module it runs and its
    arguments, on local[N] as on a cluster (a PySpark worker's is its daemon's), not the
    driver's ``job.py ARGS`` (local[N]'s were, forked from it); ``local`` runs tasks in
    the driver itself."""
    import sys

    seen = ctx.parallelize(range(2), 2).map(lambda i: list(sys.argv)).collect()
    if ctx.master == "local":
        assert seen == [sys.argv, sys.argv]
        return
    module = "vega_runtime.scheduler.local_backend" if ctx.master.startswith("local[") \
        else "vega_runtime.deploy.executor_main"
    assert [(argv[0], argv[argv.index("--app-id") + 1]) for argv in seen] == \
        [(module, ctx.application_id)] * 2


def test_parallelize_one_element_per_slice(ctx):
    """PySpark's doctest: five elements in five slices land one per slice."""
    assert ctx.parallelize([0, 2, 3, 4, 6], 5).glom().collect() == [[0], [2], [3], [4], [6]]


def test_parallelize_range_with_more_slices_than_elements(ctx):
    """PySpark's doctest: range(0, 6, 2) in five slices leaves empty slices where PySpark does."""
    assert ctx.parallelize(range(0, 6, 2), 5).glom().collect() == [[], [0], [], [2], [4]]


def test_parallelize_slices_follow_the_integer_division_formula(ctx):
    """A range's slice i holds data[i*n//k:(i+1)*n//k] for every n and k tried."""
    for n in (0, 1, 7, 10):
        data = range(n)
        for k in (1, 3, 4, 12):
            expected = [list(data[i * n // k:(i + 1) * n // k]) for i in range(k)]
            assert ctx.parallelize(data, k).glom().collect() == expected, (n, k)


def test_parallelize_slices_a_list_as_pyspark_does(ctx):
    """A list is cut as PySpark cuts it: into batches of max(1, min(n//k, 1024)) records,
    the batches into k slices by the integer-division formula; the sizes are PySpark
    4.3's (SparkContext("local[2]"), glom())."""
    pyspark = {(8, 3): [2, 2, 4], (5, 3): [1, 2, 2], (10, 4): [2, 2, 2, 4],
               (100, 7): [14, 14, 14, 14, 14, 14, 16], (2500, 3): [833, 833, 834],
               (5000, 3): [1024, 2048, 1928], (10000, 3): [3072, 3072, 3856],
               (0, 3): [0, 0, 0], (1, 4): [0, 0, 0, 1]}
    for (n, k), sizes in pyspark.items():
        slices = ctx.parallelize(list(range(n)), k).glom().collect()
        assert [len(s) for s in slices] == sizes, (n, k)
        assert [x for s in slices for x in s] == list(range(n))
    assert ctx.parallelize(tuple("vega"), 3).glom().collect() == [["v"], ["e"], ["g", "a"]]


def test_parallelize_more_slices_than_elements(ctx):
    """Two elements in three slices: the first slice is empty."""
    rdd = ctx.parallelize([1, 2], 3)
    assert rdd.get_num_partitions() == 3
    assert rdd.glom().collect() == [[], [1], [2]]
    assert rdd.collect() == [1, 2]


def test_parallelize_single_partition_keeps_order(ctx):
    """One slice holds everything in input order."""
    assert ctx.parallelize(list("vega"), 1).glom().collect() == [["v", "e", "g", "a"]]


def test_parallelize_defaults_to_default_parallelism(ctx):
    """Without num_slices, parallelize uses default_parallelism slices."""
    assert ctx.parallelize(range(10)).get_num_partitions() == ctx.default_parallelism


def test_parallelize_huge_range_stays_lazy(ctx):
    """A range of 10**18 numbers is sliced as ranges, never materialised."""
    rdd = ctx.parallelize(range(10 ** 18), 2)
    assert rdd.take(3) == [0, 1, 2]
    assert rdd.map_partitions(lambda it: [next(iter(it))]).collect() == [0, 5 * 10 ** 17]


def test_parallelize_accepts_generators_and_strings(ctx):
    """Any iterable works: a generator, a string of characters, a tuple."""
    assert ctx.parallelize((x * x for x in range(5)), 2).collect() == [0, 1, 4, 9, 16]
    assert ctx.parallelize("abc", 2).collect() == ["a", "b", "c"]
    assert ctx.parallelize((3, 2, 1), 3).glom().collect() == [[3], [2], [1]]


def test_parallelize_keeps_none_unicode_and_nested_values(ctx):
    """Records of any picklable type round-trip unchanged and in order."""
    data = [None, "ключ", "🔑", (1, None), {"k": [1, 2]}, 3.5, b"\x00\xff", frozenset({1})]
    assert ctx.parallelize(data, 3).collect() == data


def test_parallelize_empty_list(ctx):
    """An empty collection gives an empty RDD with the requested partitions."""
    rdd = ctx.parallelize([], 3)
    assert rdd.get_num_partitions() == 3
    assert rdd.collect() == []
    assert rdd.glom().collect() == [[], [], []]


def test_make_rdd_is_parallelize(ctx):
    """make_rdd slices exactly like parallelize."""
    assert ctx.make_rdd(range(7), 3).glom().collect() == [[0, 1], [2, 3], [4, 5, 6]]


def test_parallelize_large_record(ctx):
    """A 5 MB string travels to a task and back intact."""
    big = "x" * (5 * 1024 * 1024)
    result = ctx.parallelize([big, "small"], 2).map(lambda s: s + "!").collect()
    assert result == [big + "!", "small!"]


# -- range -------------------------------------------------------------------------------

def test_range_with_end_only(ctx):
    """range(5) is 0..4, like PySpark's sc.range(5)."""
    assert ctx.range(5).collect() == [0, 1, 2, 3, 4]


def test_range_start_end_excludes_end(ctx):
    """range(2, 4) is [2, 3]."""
    assert ctx.range(2, 4).collect() == [2, 3]


def test_range_with_step(ctx):
    """range(1, 7, 2) is [1, 3, 5]."""
    assert ctx.range(1, 7, 2).collect() == [1, 3, 5]


def test_range_with_negative_step(ctx):
    """A negative step counts down, end excluded."""
    assert ctx.range(10, 0, -3).collect() == [10, 7, 4, 1]


def test_range_num_slices(ctx):
    """num_slices sets the partition count and slices like parallelize."""
    rdd = ctx.range(0, 10, 1, 3)
    assert rdd.get_num_partitions() == 3
    assert rdd.glom().collect() == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert ctx.range(0, 10, num_slices=4).glom().collect() == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]


def test_range_empty(ctx):
    """An empty range gives no elements."""
    assert ctx.range(0).collect() == []
    assert ctx.range(5, 5).count() == 0


# -- empty_rdd / union -------------------------------------------------------------------

def test_empty_rdd_has_no_partitions_and_no_elements(ctx):
    """empty_rdd: zero partitions, nothing to collect, count 0, is_empty."""
    rdd = ctx.empty_rdd()
    assert rdd.get_num_partitions() == 0
    assert rdd.collect() == []
    assert rdd.count() == 0
    assert rdd.is_empty()
    assert rdd.take(5) == []
    assert rdd.glom().collect() == []


def test_empty_rdd_transformations_stay_empty(ctx):
    """Transformations of an empty RDD are empty, even across a shuffle."""
    rdd = ctx.empty_rdd()
    assert rdd.map(lambda x: x).collect() == []
    assert rdd.map(lambda x: (x, 1)).reduce_by_key(lambda a, b: a + b).collect() == []
    assert rdd.distinct().collect() == []


def test_context_union_concatenates_partitions_in_order(ctx):
    """ctx.union keeps every RDD's partitions, one after the other."""
    a = ctx.parallelize([1, 2], 2)
    b = ctx.parallelize([3], 1)
    union = ctx.union([a, b, ctx.empty_rdd(), a])
    assert union.get_num_partitions() == 5
    assert union.glom().collect() == [[1], [2], [3], [1], [2]]
    assert union.collect() == [1, 2, 3, 1, 2]


def test_context_union_of_text_file_and_collection(ctx, tmp_path):
    """PySpark's doctest: a text file's lines followed by a parallelized list."""
    path = tmp_path / "union-text.txt"
    path.write_text("Hello")
    text = ctx.text_file(str(path))
    parallelized = ctx.parallelize(["World!"])
    assert sorted(ctx.union([text, parallelized]).collect()) == ["Hello", "World!"]
    assert ctx.union([text, parallelized]).collect() == ["Hello", "World!"]


# -- context properties ------------------------------------------------------------------

def test_default_parallelism_is_the_number_of_cores(ctx):
    """local has one core, local[2] has two."""
    assert ctx.default_parallelism == expected_parallelism(ctx)
    assert isinstance(ctx.default_parallelism, int)


def test_default_parallelism_can_be_configured(fresh_ctx):
    """vega.default.parallelism overrides the core count."""
    ctx = fresh_ctx(master="local", conf={"vega.default.parallelism": 5})
    assert ctx.default_parallelism == 5
    assert ctx.parallelize(range(10)).get_num_partitions() == 5


def test_application_id_is_stable_and_well_formed(ctx):
    """application_id looks like app-YYYYMMDDhhmmss-xxxx and never changes."""
    app_id = ctx.application_id
    assert re.fullmatch(r"app-\d{14}-[0-9a-f]{4}", app_id)
    assert ctx.application_id == app_id


def test_application_ids_differ_between_contexts(fresh_ctx):
    """Two contexts get different application ids."""
    a = fresh_ctx(master="local")
    b = fresh_ctx(master="local")
    assert a.application_id != b.application_id


def test_version_is_the_package_version(ctx):
    """ctx.version is vega_runtime.__version__."""
    assert ctx.version == vega_runtime.__version__
    assert isinstance(ctx.version, str) and ctx.version


def test_set_checkpoint_dir_creates_the_directory(ctx, tmp_path):
    """set_checkpoint_dir creates a missing directory."""
    target = tmp_path / "checkpoints" / "nested"
    ctx.set_checkpoint_dir(str(target))
    assert target.is_dir()


def test_set_checkpoint_dir_of_none_unsets_it_and_of_a_number_is_a_type_error(fresh_ctx,
                                                                               tmp_path):
    """Spark's setCheckpointDir(null) unsets the directory (checkpoint() then says none is
    set); Vega's raised AttributeError: 'NoneType' object has no attribute 'strip', and of
    5, "'int' object has no attribute 'strip'"."""
    ctx = fresh_ctx("local")
    ctx.set_checkpoint_dir(str(tmp_path))
    ctx.setCheckpointDir(None)
    assert ctx.get_checkpoint_dir() is None
    with pytest.raises(VegaError, match="^checkpoint\\(\\) needs a checkpoint directory"):
        ctx.parallelize([1]).checkpoint()
    with pytest.raises(TypeError, match="^a path must be a str or a pathlib.Path .*, not int$"):
        ctx.set_checkpoint_dir(5)


def test_settings_named_by_what_is_not_a_string_are_a_config_error(tmp_path):
    """SparkConf().set(None, 1) (Spark's: a NullPointerException) made Context() raise
    AttributeError: 'NoneType' object has no attribute 'startswith'."""
    from vega_runtime.pyspark_compat.conf import SparkConf

    for conf in (SparkConf().setMaster("local").set(None, 1), {"vega.master": "local", 7: 1}):
        with pytest.raises(ConfigError, match=r"^job: (None|7) is not a setting name: names "
                                              r"are strings such as vega.executor.memory$"):
            Context(conf=conf)
    assert Context.get_active() is None


# -- run_job --------------------------------------------------------------------------------

def test_run_job_over_all_partitions(ctx):
    """PySpark's doctest: run_job concatenates each partition's results."""
    rdd = ctx.parallelize(range(6), 3)
    assert ctx.run_job(rdd, lambda part: [x * x for x in part]) == [0, 1, 4, 9, 16, 25]


def test_run_job_on_chosen_partitions(ctx):
    """PySpark's doctest: only partitions 0 and 2 run."""
    rdd = ctx.parallelize(range(6), 3)
    assert ctx.run_job(rdd, lambda part: [x * x for x in part], [0, 2], True) == [0, 1, 16, 25]
    assert ctx.run_job(rdd, lambda part: [sum(part)], [2, 0]) == [9, 1]


def test_run_job_with_no_partitions(ctx):
    """An empty partition list runs nothing and returns []."""
    assert ctx.run_job(ctx.parallelize(range(6), 3), lambda part: list(part), []) == []


def test_run_job_refuses_a_partition_the_rdd_does_not_have(ctx):
    """A partition index past the end, or negative, is a ValueError naming it and the count,
    before any task runs, as Spark's "Attempting to access a non-existent partition" (it was
    a bare IndexError from the scheduler, and -1 silently ran the last partition)."""
    rdd = ctx.parallelize(range(6), 3)
    for bad in (3, -1):
        with pytest.raises(ValueError) as raised:
            ctx.run_job(rdd, lambda part: list(part), [0, bad])
        assert str(raised.value) == (f"Attempting to access a non-existent partition: {bad}. "
                                     "Total number of partitions: 3 (give indexes 0 to 2)")
    with pytest.raises(ValueError, match="non-existent partition: '1'"):
        ctx.runJob(rdd, lambda part: list(part), partitions=["1"])
    assert ctx.run_job(rdd, lambda part: [sum(part)], iter([2])) == [9]
    numpy = pytest.importorskip("numpy")
    assert ctx.run_job(rdd, lambda part: [sum(part)], [numpy.int64(1)]) == [5]



def test_set_log_level_takes_every_level_spark_takes(ctx):
    """setLogLevel takes Spark's (log4j's) level names, OFF, ALL and TRACE included, in any
    case, and refuses others naming them, as Spark's (OFF was a ValueError from Python's
    logging, 'Unknown level', which a PySpark program quieting its logs met at once)."""
    logger = logging.getLogger("vega_runtime")
    before = logger.level
    try:
        ctx.setLogLevel("OFF")
        assert not logger.isEnabledFor(logging.CRITICAL)
        for name in ("ALL", "trace", "DEBUG"):
            ctx.setLogLevel(name)
            assert logger.isEnabledFor(logging.DEBUG), name
        for name, level in (("INFO", logging.INFO), ("WARN", logging.WARNING),
                            ("ERROR", logging.ERROR), ("FATAL", logging.CRITICAL),
                            ("warning", logging.WARNING)):
            ctx.set_log_level(name)
            assert logger.getEffectiveLevel() == level, name
        with pytest.raises(ValueError) as raised:
            ctx.setLogLevel("LOUD")
        assert str(raised.value) == ("Supplied level LOUD did not match one of: ALL, DEBUG, "
                                     "ERROR, FATAL, INFO, OFF, TRACE, WARN")
    finally:
        logger.setLevel(before)


# -- lifecycle --------------------------------------------------------------------------------

def test_context_manager_stops_the_context():
    """After stop() (or leaving a with block) the Context refuses new work."""
    with Context(master="local", app_name="tests") as ctx:
        assert ctx.parallelize([1, 2]).collect() == [1, 2]
    with pytest.raises(VegaError):
        ctx.parallelize([1]).collect()


def test_application_scratch_dir_removed_on_stop(fresh_ctx):
    """stop() deletes the application's scratch directory."""
    ctx = fresh_ctx(master="local[2]")
    ctx.parallelize([(1, 1)], 2).group_by_key().collect()
    scratch = ctx.app_dir
    assert os.path.isdir(scratch)
    ctx.stop()
    assert not os.path.exists(scratch)


def test_platform_name_is_what_platform_module_says():
    """The environment record's platform string, read without ``uname -p``, is
    ``platform.platform()``'s."""
    import platform

    from vega_runtime.versions import platform_name

    assert platform_name() == platform.platform()


def test_local_mode_has_no_ui_link_and_loads_no_tls():
    """Local mode has no web UI: no link, and neither the TLS machinery nor the cluster
    messages are imported (start-up time), nor what only handshakes (hashlib's OpenSSL),
    executors (ctypes), speculation, dynamic allocation, archives and job packages need
    (tarfile and zipfile, imported by every Context's start once, were ~10 ms of it), nor
    cramjam (Hadoop's Snappy and LZ4 files only)."""
    import subprocess
    import sys

    code = ("import sys\nfrom vega_runtime import Context\n"
            "with Context(master='local[2]') as c:\n"
            "    assert c.parallelize([1, 2, 3]).count() == 3 and c.application_ui_link is None\n"
            "print(sorted(m for m in ('ssl', 'vega_runtime.net.tls', 'vega_runtime.net.ui_links',\n"
            "             'vega_runtime.net.cluster_messages', 'hashlib', 'hmac', '_hashlib',\n"
            "             'ctypes', 'multiprocessing', 'subprocess', 'tarfile', 'zipfile',\n"
            "             'vega_runtime.archives', 'vega_runtime.packaging', 'dataclasses',\n"
            "             'vega_runtime.scheduler.speculation', 'vega_runtime.scheduler.allocation',\n"
            "             'cramjam')\n"
            "       if m in sys.modules\n"
            "             and not type(sys.modules[m]).__name__.startswith('_Lazy')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


MAIN_FUNCTION_JOB = """
import sys
from vega_runtime import Context
with Context(master=MASTER) as ctx:
    def triple(x):  # defined in __main__ after the executors started
        return 3 * x
    class Box:
        def __init__(self, v):
            self.v = v
    print(ctx.parallelize(range(4), 2).map(triple).collect(),
          ctx.parallelize(range(3), 3).map(Box).map(lambda b: b.v + 1).collect(),
          ctx.parallelize([1, 2]).map(abs).count())
"""


@pytest.mark.parametrize("master", ["local[2]", "local-cluster[1,1]"])
def test_functions_and_classes_of_main_reach_the_executors_by_value(master, tmp_path):
    """Code of the job's own script (``__main__``), even defined after the executors
    started, reaches them (by value)."""
    import subprocess
    import sys

    job = tmp_path / "job.py"
    job.write_text(MAIN_FUNCTION_JOB.replace("MASTER", repr(master)))
    done = subprocess.run([sys.executable, str(job)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 3, 6, 9] [1, 2, 3] 2"



def test_a_local_dir_that_cannot_hold_the_application_directory_is_named(tmp_path):
    """vega.local.dir under a file (or read-only, or full): the Context fails naming the
    setting, not only with 'NotADirectoryError: [Errno 20] Not a directory: PATH/vega-app-...'."""
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError) as failed:
        Context(master="local", conf={"vega.local.dir": str(tmp_path / "file")})
    assert str(failed.value) == (
        f"[Errno 20] cannot make the application's directory in {tmp_path}/file (Not a "
        "directory): point vega.local.dir (VEGA_LOCAL_DIR) at a writable directory")
    assert os.listdir(tmp_path) == ["file"]


def test_stopped_contexts_leave_no_exit_hooks_behind():
    """A process that makes and stops many Contexts (a notebook, a test suite, a service)
    keeps nothing of theirs for its exit: before, every Context left its (spent) finalizer
    registered with atexit, one more object per Context for as long as the process lived."""
    import subprocess
    import sys

    code = ("import gc, weakref\nfrom vega_runtime import Context\n"
            "def run():\n"
            "    with Context(master='local[2]') as c:\n"
            "        assert c.parallelize(range(6), 2).map(lambda x: (x % 2, x))"
            ".reduce_by_key(lambda a, b: a + b).count() == 2\n"
            "def counts():\n"
            "    gc.collect()\n"
            "    return sum(isinstance(o, weakref.finalize) for o in gc.get_objects())\n"
            "run()\nfirst = counts()\n"
            "for _ in range(20):\n    run()\n"
            "print(first, counts())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0"]  # finalizers alive after one Context, after 21


@pytest.mark.parametrize("kwargs, error, message", [
    # PySpark str()s the master (SparkConf.setMaster): an int is then an invalid URL
    ({"master": 5}, MasterURLError, "^invalid master URL '5': use local, "),
    ({"master": "local", "config_file": "{tmp}"}, ConfigError,
     "^{tmp}: file is a directory, not a YAML file of settings$"),
    ({"master": "local", "config_file": "{tmp}/latin1.yaml"}, ConfigError,
     "^{tmp}/latin1.yaml: file cannot be read: 'utf-8' codec can't decode byte 0xe9 "),
    ({"master": "local", "listeners": [5]}, TypeError,
     "^listeners must be JobListeners \\(vega_runtime.scheduler.listener.JobListener\\), "
     "not int 5$"),
    ({"master": "local", "listeners": 5}, TypeError,
     "^listeners must be JobListeners \\(vega_runtime.scheduler.listener.JobListener\\), "
     "not int 5$"),
])
def test_context_arguments_of_the_wrong_kind_say_what_to_give(tmp_path, kwargs, error,
                                                              message):
    """Each raised an AttributeError or an OSError of Vega's insides ('int' object has no
    attribute 'replace'; IsADirectoryError; UnicodeDecodeError; 'int' object has no
    attribute 'on_application_start'); no Context is left running."""
    (tmp_path / "latin1.yaml").write_bytes(b"vega.app.name: caf\xe9\n")
    kwargs = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v
              for k, v in kwargs.items()}
    with pytest.raises(error, match=message.replace("{tmp}", re.escape(str(tmp_path)))):
        Context(**kwargs)
    assert Context.get_active() is None


def test_spark_local_dir_of_several_directories_uses_the_first(tmp_path):
    """Spark's spark.local.dir is a comma-separated list of directories (one per disk);
    Vega took the whole list for one path: the Context failed with 'cannot make the
    application's directory in /a,/b (No such file or directory)'. Vega keeps its scratch
    in one directory: the first."""
    first, second = tmp_path / "disk1", tmp_path / "disk2"
    first.mkdir()
    second.mkdir()
    with Context(master="local", conf={"spark.local.dir": f"{first}, {second}"}) as ctx:
        assert ctx.conf["vega.local.dir"] == str(first)
        assert [n for n in os.listdir(first) if n.startswith("vega-app-")] != []
        assert ctx.parallelize([1, 2]).sum() == 3
    assert os.listdir(second) == []
