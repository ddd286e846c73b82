"""PySpark's camelCase names work, so PySpark jobs port by changing the import."""

import os
from operator import add

import pytest

from vega_runtime import RDD, Context, SparkContext, StatCounter, StorageLevel, TaskContext

RDD_CAMEL = [
    "mapPartitions", "mapPartitionsWithIndex", "flatMap", "keyBy", "randomSplit", "zipWithIndex",
    "zipWithUniqueId", "sortBy", "groupBy", "mapValues", "flatMapValues", "reduceByKey",
    "foldByKey", "aggregateByKey", "combineByKey", "groupByKey", "groupWith", "leftOuterJoin",
    "rightOuterJoin", "fullOuterJoin", "subtractByKey", "partitionBy", "sortByKey",
    "repartitionAndSortWithinPartitions", "sampleByKey", "collectAsMap", "countByKey",
    "countByValue", "reduceByKeyLocally", "takeOrdered", "takeSample", "treeReduce",
    "treeAggregate", "foreachPartition", "isEmpty", "toLocalIterator", "countApprox",
    "countApproxDistinct", "sampleStdev", "sampleVariance", "saveAsTextFile", "saveAsPickleFile",
    "getStorageLevel", "localCheckpoint", "isCheckpointed", "isLocallyCheckpointed",
    "getCheckpointFile", "setName", "getNumPartitions", "toDebugString",
]

SAME_IN_BOTH = [
    "map", "filter", "glom", "pipe", "sample", "distinct", "union", "intersection", "subtract",
    "cartesian", "zip", "coalesce", "repartition", "keys", "values", "cogroup", "join", "lookup",
    "collect", "count", "first", "take", "top", "reduce", "fold", "aggregate", "foreach", "sum",
    "mean", "max", "min", "stdev", "variance", "stats", "histogram", "cache", "persist",
    "unpersist", "checkpoint", "name",
]

CONTEXT_CAMEL = ["textFile", "wholeTextFiles", "binaryFiles", "pickleFile", "emptyRDD",
                 "setCheckpointDir", "runJob", "setLogLevel"]


@pytest.mark.parametrize("name", RDD_CAMEL)
def test_rdd_has_pyspark_camel_case_method(name):
    """Every camelCase RDD method of PySpark exists and is callable."""
    assert callable(getattr(RDD, name))


@pytest.mark.parametrize("name", SAME_IN_BOTH)
def test_rdd_has_pyspark_single_word_method(name):
    """Methods whose PySpark name is one word exist under that name."""
    assert callable(getattr(RDD, name))


@pytest.mark.parametrize("name", CONTEXT_CAMEL)
def test_context_has_pyspark_camel_case_method(name):
    """Every camelCase Context method of PySpark exists."""
    assert callable(getattr(Context, name))


def test_spark_context_is_context():
    """SparkContext is an alias of Context."""
    assert SparkContext is Context


def test_context_camel_case_properties(ctx):
    """defaultParallelism, defaultMinPartitions and applicationId are properties, as in PySpark."""
    assert ctx.defaultParallelism == ctx.default_parallelism
    assert isinstance(ctx.defaultParallelism, int)
    assert ctx.defaultMinPartitions == ctx.default_min_partitions
    assert ctx.applicationId == ctx.application_id


def test_stat_counter_and_task_context_camel_case(ctx):
    """StatCounter and TaskContext answer to PySpark's spellings."""
    s = ctx.parallelize([1.0, 2.0, 3.0]).stats()
    assert s.sampleVariance() == 1.0 and s.sampleStdev() == 1.0
    assert isinstance(s, StatCounter)
    rows = ctx.parallelize([1, 2], 2).mapPartitions(
        lambda it: [(TaskContext.get().partitionId(), TaskContext.get().attemptNumber())]).collect()
    assert rows == [(0, 0), (1, 0)]


def test_pyspark_word_count_pipeline(ctx, tmp_path):
    """A word count written with PySpark's names runs unchanged."""
    sc = ctx
    source = tmp_path / "words.txt"
    source.write_text("the quick brown fox\njumps over the lazy dog\nthe end\n")
    out = str(tmp_path / "counts")
    counts = (sc.textFile(str(source))
              .flatMap(lambda line: line.split())
              .map(lambda word: (word, 1))
              .reduceByKey(add)
              .sortByKey())
    counts.saveAsTextFile(out)
    assert os.path.exists(os.path.join(out, "_SUCCESS"))
    assert sc.textFile(out).collect() == [
        "('brown', 1)", "('dog', 1)", "('end', 1)", "('fox', 1)", "('jumps', 1)",
        "('lazy', 1)", "('over', 1)", "('quick', 1)", "('the', 3)"]
    assert counts.collectAsMap()["the"] == 3
    assert counts.getNumPartitions() >= 1


def test_pyspark_style_pair_pipeline(ctx):
    """groupByKey, mapValues, leftOuterJoin, zipWithIndex, takeOrdered by PySpark names."""
    sc = ctx
    sales = sc.parallelize([("fr", 10), ("de", 5), ("fr", 7), ("it", 1)], 2)
    names = sc.parallelize([("fr", "France"), ("de", "Germany")])
    grouped = sorted(sales.groupByKey().mapValues(list).collect())
    assert grouped == [("de", [5]), ("fr", [10, 7]), ("it", [1])]
    joined = sorted(sales.reduceByKey(add).leftOuterJoin(names).collect())
    assert joined == [("de", (5, "Germany")), ("fr", (17, "France")), ("it", (1, None))]
    assert sales.keys().zipWithIndex().collect() == [("fr", 0), ("de", 1), ("fr", 2), ("it", 3)]
    assert sales.values().takeOrdered(2) == [1, 5]
    assert sales.countByKey() == {"fr": 2, "de": 1, "it": 1}
    assert sales.map(lambda kv: kv[0]).countByValue() == {"fr": 2, "de": 1, "it": 1}
    assert sales.values().sampleStdev() > 0
    assert sc.emptyRDD().getNumPartitions() == 0
    assert sc.emptyRDD().isEmpty()


def test_pyspark_style_context_methods(ctx, tmp_path):
    """runJob, wholeTextFiles, saveAsPickleFile/pickleFile, setCheckpointDir by PySpark names."""
    sc = ctx
    my_rdd = sc.parallelize(range(6), 3)
    assert sc.runJob(my_rdd, lambda part: [x * x for x in part]) == [0, 1, 4, 9, 16, 25]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("alpha")
    assert [v for _, v in sc.wholeTextFiles(str(tmp_path / "docs")).collect()] == ["alpha"]
    assert [v for _, v in sc.binaryFiles(str(tmp_path / "docs")).collect()] == [b"alpha"]
    my_rdd.saveAsPickleFile(str(tmp_path / "pickled"), 2)
    assert sorted(sc.pickleFile(str(tmp_path / "pickled")).collect()) == list(range(6))
    sc.setCheckpointDir(str(tmp_path / "ckpt"))
    checkpointed = my_rdd.map(lambda x: x + 1)
    checkpointed.checkpoint()
    assert checkpointed.collect() == [1, 2, 3, 4, 5, 6]
    assert checkpointed.isCheckpointed()
    named = my_rdd.setName("camel")
    assert named.name() == "camel" and b"camel" in named.toDebugString()


def test_camel_case_keywords_of_context_methods(ctx, tmp_path):
    """numSlices, minPartitions, useUnicode, partitionFunc, dirName: PySpark's keywords work."""
    sc = ctx
    assert sc.parallelize([1, 2, 3, 4], numSlices=4).getNumPartitions() == 4
    assert sc.make_rdd(c=[1, 2], numSlices=2).glom().collect() == [[1], [2]]
    assert sc.range(5, numSlices=1).glom().collect() == [[0, 1, 2, 3, 4]]
    source = tmp_path / "lines.txt"
    source.write_text("a\nb\nc\n")
    assert sc.textFile(name=str(source), minPartitions=3, use_unicode=True).collect() == \
        ["a", "b", "c"]
    assert sc.text_file(str(source), useUnicode=True).count() == 3
    assert sc.wholeTextFiles(str(tmp_path), minPartitions=1, use_unicode=True).count() == 1
    rdd = sc.parallelize(range(4), 2)
    assert sc.runJob(rdd, partitionFunc=lambda it: [sum(it)], partitions=[1],
                     allowLocal=False) == [5]
    sc.setCheckpointDir(dirName=str(tmp_path / "ckpt"))
    assert os.path.isdir(tmp_path / "ckpt")


def test_camel_case_keywords_of_rdd_methods(ctx):
    """reduceByKey(numPartitions=), sortBy(keyfunc=, ascending=), sample(withReplacement=)..."""
    pairs = ctx.parallelize([("a", 1), ("b", 2), ("a", 3)], 2)
    assert pairs.reduceByKey(add, numPartitions=2).getNumPartitions() == 2
    assert pairs.reduce_by_key(func=add, numPartitions=3).getNumPartitions() == 3
    assert pairs.groupByKey(numPartitions=1, partitionFunc=len).mapValues(list).collect() == \
        [("a", [1, 3]), ("b", [2])]
    assert pairs.sortByKey(ascending=False, numPartitions=1, keyfunc=str.upper).keys().collect() \
        == ["b", "a", "a"]
    assert pairs.combineByKey(createCombiner=lambda v: [v], mergeValue=lambda c, v: c + [v],
                              mergeCombiners=lambda a, b: a + b,
                              numPartitions=1).collectAsMap() == {"a": [1, 3], "b": [2]}
    assert pairs.aggregateByKey(zeroValue=0, seqFunc=add, combFunc=add).collectAsMap() == \
        {"a": 4, "b": 2}
    assert pairs.foldByKey(zeroValue=0, func=add).collectAsMap() == {"a": 4, "b": 2}
    numbers = ctx.parallelize(range(10), 2)
    assert numbers.sortBy(keyfunc=lambda x: -x, ascending=True, numPartitions=1).take(2) == [9, 8]
    assert numbers.map(lambda x: x, preservesPartitioning=True).count() == 10
    assert numbers.mapPartitionsWithIndex(lambda i, it: [i], preservesPartitioning=False) \
        .collect() == [0, 1]
    assert numbers.sample(withReplacement=False, fraction=1.0, seed=1).count() == 10
    assert len(numbers.takeSample(withReplacement=False, num=3, seed=2)) == 3
    assert numbers.fold(zeroValue=0, op=add) == 45
    assert numbers.aggregate(zeroValue=0, seqOp=add, combOp=add) == 45
    assert numbers.treeAggregate(zeroValue=0, seqOp=add, combOp=add, depth=2) == 45
    assert numbers.coalesce(numPartitions=1, shuffle=False).getNumPartitions() == 1
    assert numbers.repartition(numPartitions=3).getNumPartitions() == 3
    assert numbers.distinct(numPartitions=1).getNumPartitions() == 1
    assert numbers.countApproxDistinct(relativeSD=0.05) == 10
    assert numbers.pipe("cat", checkCode=True).count() == 10
    assert list(numbers.toLocalIterator(prefetchPartitions=True)) == list(range(10))
    assert numbers.persist(storageLevel=StorageLevel.MEMORY_ONLY).getStorageLevel() == \
        StorageLevel.MEMORY_ONLY
    numbers.unpersist(blocking=True)


def test_both_spellings_of_one_keyword_are_refused(ctx):
    """numSlices= together with num_slices= is a TypeError naming both."""
    with pytest.raises(TypeError) as info:
        ctx.parallelize([1], numSlices=1, num_slices=1)
    assert str(info.value) == ("parallelize() got numSlices= and num_slices=, two names of "
                               "its argument 'num_slices': pass one")


def test_context_accepts_app_name_keyword(fresh_ctx):
    """SparkContext(master=..., appName=...) as in PySpark."""
    sc = SparkContext(master="local", appName="camel-app")
    try:
        assert sc.app_name == "camel-app"
    finally:
        sc.stop()


def test_keyword_aliases_are_generated_from_the_parameters():
    """Each snake_case parameter gets its camelCase keyword; irregular ones come from the table."""
    from vega_runtime.aliases import keyword_aliases

    assert keyword_aliases("count_approx_distinct", RDD.count_approx_distinct) == \
        {"relativeSD": "relative_sd"}
    assert keyword_aliases("text_file", Context.text_file) == \
        {"minPartitions": "min_partitions", "useUnicode": "use_unicode", "name": "path"}


def test_a_pyspark_member_vega_lacks_says_why(ctx):
    """rdd.toDF(), sc.serializer: PySpark members Vega does
    not implement raise an AttributeError saying so and why (docs/api.md's table), where
    they gave Python's bare "'ParallelCollectionRDD' object has no attribute 'toDF'"; other
    missing names keep Python's message, and hasattr() stays False."""
    rdd = ctx.parallelize([(1, 2)], 1)
    with pytest.raises(AttributeError) as raised:
        rdd.toDF()
    assert str(raised.value) == (
        "'ParallelCollectionRDD' object has no attribute 'toDF': PySpark's RDD.toDF is not "
        "in Vega (DataFrames are Spark SQL, which Vega does not implement)")
    with pytest.raises(AttributeError) as raised:
        ctx.serializer
    assert str(raised.value).startswith(
        f"'{type(ctx).__name__}' object has no attribute 'serializer': PySpark's "
        "SparkContext.serializer is not in Vega (the serializer PySpark's RDDs pass records ")
    with pytest.raises(AttributeError, match=r"^'ParallelCollectionRDD' object has no "
                                             r"attribute 'no_such_thing'$"):
        rdd.no_such_thing
    assert not hasattr(rdd, "toDF") and not hasattr(ctx, "serializer")
    assert getattr(rdd, "toDF", None) is None
