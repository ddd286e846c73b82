"""Caching, checkpointing and RDD metadata: ids, names, partitions, lineage, TaskContext."""

import os
import re
from operator import add

import pytest

from vega_runtime import StorageLevel, TaskContext, VegaError

LEVELS = [StorageLevel.MEMORY_ONLY, StorageLevel.MEMORY_ONLY_2, StorageLevel.MEMORY_AND_DISK,
          StorageLevel.MEMORY_AND_DISK_2, StorageLevel.DISK_ONLY, StorageLevel.DISK_ONLY_2]


def counted(ctx, n=40, slices=4):
    """An RDD whose map counts its computations in an accumulator."""
    acc = ctx.accumulator(0)

    def touch(x):
        acc.add(1)
        return x * 2

    return ctx.parallelize(range(n), slices).map(touch), acc


# -- storage levels and caching ---------------------------------------------------------

def test_default_storage_level_is_none(ctx):
    """An RDD that was never persisted has StorageLevel.NONE."""
    rdd = ctx.parallelize([1, 2])
    assert rdd.get_storage_level() == StorageLevel.NONE
    assert rdd.is_cached is False


def test_cache_sets_memory_only_and_returns_self(ctx):
    """cache() is persist(MEMORY_ONLY) and returns the RDD itself."""
    rdd = ctx.parallelize([1, 2])
    assert rdd.cache() is rdd
    assert rdd.get_storage_level() == StorageLevel.MEMORY_ONLY
    assert rdd.is_cached is True
    rdd.unpersist()


def test_persist_defaults_to_memory_only(ctx):
    """persist() without a level is MEMORY_ONLY, as in PySpark."""
    rdd = ctx.parallelize([1, 2]).persist()
    assert rdd.get_storage_level() == StorageLevel.MEMORY_ONLY
    rdd.unpersist()


@pytest.mark.parametrize("level", LEVELS, ids=lambda level: level.name)
def test_persist_at_each_level_keeps_results(ctx, level):
    """Every storage level is reported back and gives the same results twice."""
    rdd = ctx.parallelize([("é", None), ("k", 1)] * 50, 3).map(lambda kv: kv)
    assert rdd.persist(level) is rdd
    assert rdd.get_storage_level() == level
    first = rdd.collect()
    assert first == [("é", None), ("k", 1)] * 50
    assert rdd.collect() == first
    assert rdd.count() == 100
    rdd.unpersist()


def test_cached_rdd_is_computed_once_across_actions(ctx):
    """Each partition of a cached RDD is computed once, however many actions follow."""
    rdd, acc = counted(ctx, 64, 16)
    rdd.cache()
    assert rdd.count() == 64
    assert acc.value == 64
    assert rdd.collect() == [x * 2 for x in range(64)]
    assert rdd.sum() == 2 * sum(range(64))
    assert acc.value == 64
    rdd.unpersist()


def test_disk_persisted_rdd_is_computed_once(ctx):
    """DISK_ONLY also spares the recomputation."""
    rdd, acc = counted(ctx, 48, 12)
    rdd.persist(StorageLevel.DISK_ONLY)
    assert rdd.collect() == [x * 2 for x in range(48)]
    assert rdd.collect() == [x * 2 for x in range(48)]
    assert acc.value == 48
    rdd.unpersist()


def test_uncached_rdd_is_recomputed_per_action(ctx):
    """Without cache, every action recomputes the map."""
    rdd, acc = counted(ctx, 20, 2)
    rdd.count()
    rdd.count()
    assert acc.value == 40


def test_unpersist_forgets_the_cache(ctx):
    """After unpersist the level is NONE and the next action recomputes."""
    rdd, acc = counted(ctx, 20, 2)
    rdd.cache()
    rdd.count()
    assert rdd.unpersist() is rdd
    assert rdd.get_storage_level() == StorageLevel.NONE
    assert rdd.collect() == [x * 2 for x in range(20)]
    assert acc.value == 40


def test_cached_rdd_feeds_a_shuffle(ctx):
    """A cached RDD used by two different shuffles gives exact results."""
    pairs = ctx.parallelize([(i % 3, i) for i in range(30)], 3).cache()
    assert sorted(pairs.reduce_by_key(add).collect()) == [(0, 135), (1, 145), (2, 155)]
    assert sorted(pairs.group_by_key().map_values(len).collect()) == [(0, 10), (1, 10), (2, 10)]
    pairs.unpersist()


# -- checkpointing ------------------------------------------------------------------------

def test_checkpoint_after_action(ctx, tmp_path):
    """After an action the RDD is checkpointed, its data unchanged."""
    ctx.set_checkpoint_dir(str(tmp_path / "ckpt"))
    rdd = ctx.parallelize(range(10), 2).map(lambda x: x * 3)
    rdd.checkpoint()
    assert rdd.isCheckpointed() is False
    assert rdd.collect() == [x * 3 for x in range(10)]
    assert rdd.isCheckpointed() is True and rdd.is_checkpointed is True
    assert rdd.collect() == [x * 3 for x in range(10)]
    assert rdd.get_num_partitions() == 2
    checkpoint_file = rdd.get_checkpoint_file()
    assert checkpoint_file is not None
    assert checkpoint_file.startswith("file:" + os.path.abspath(str(tmp_path / "ckpt")) + "/")


def test_checkpoint_truncates_lineage(ctx, tmp_path):
    """Once checkpointed, to_debug_string no longer shows the parents or the shuffle."""
    ctx.set_checkpoint_dir(str(tmp_path / "ckpt-lineage"))
    source = ctx.parallelize([("a", 1), ("b", 2), ("a", 3)], 2).set_name("lineage-source")
    summed = source.reduce_by_key(add).set_name("lineage-summed")
    before = summed.to_debug_string()
    assert "lineage-source" in before and "+-" in before
    summed.checkpoint()
    assert sorted(summed.collect()) == [("a", 4), ("b", 2)]
    after = summed.to_debug_string()
    assert "lineage-source" not in after
    assert "+-" not in after
    assert sorted(summed.collect()) == [("a", 4), ("b", 2)]
    assert sorted(summed.map_values(lambda v: v * 10).collect()) == [("a", 40), ("b", 20)]


def test_checkpoints_and_shuffles_cut_the_lineage_tasks_carry(ctx, tmp_path):
    """A task carries its RDD's lineage only back to the last checkpoint or shuffle, as
    Spark's: 600 maps checkpointed every 100, and 300 shuffles in a row, run (before, both
    were too deep to pickle: a checkpointed RDD and a shuffle sent all their parents)."""
    ctx.set_checkpoint_dir(str(tmp_path / "ckpt-loop"))
    for cut in ("checkpoint", "local_checkpoint"):
        rdd = ctx.parallelize(range(4), 2)
        for step in range(1, 601):
            rdd = rdd.map(lambda x: x + 1)
            if step % 100 == 0:
                getattr(rdd, cut)()
                rdd.count()
        assert rdd.collect() == [600, 601, 602, 603]
    pairs = ctx.parallelize([(k, k) for k in range(4)], 2)
    for step in range(300):
        pairs = pairs.partition_by(2, lambda k, step=step: (k + step) % 2)
    assert sorted(pairs.collect()) == [(0, 0), (1, 1), (2, 2), (3, 3)]


def test_checkpoint_without_directory_is_an_error(fresh_ctx):
    """checkpoint() needs set_checkpoint_dir first."""
    ctx = fresh_ctx(master="local")
    with pytest.raises(VegaError):
        ctx.parallelize([1]).checkpoint()


def test_local_checkpoint(ctx):
    """local_checkpoint marks the RDD checkpointed after an action, results unchanged."""
    rdd = ctx.parallelize(range(6), 3).map(lambda x: -x)
    rdd.local_checkpoint()
    assert rdd.collect() == [0, -1, -2, -3, -4, -5]
    assert rdd.is_checkpointed is True
    assert rdd.is_locally_checkpointed() is True
    assert rdd.collect() == [0, -1, -2, -3, -4, -5]
    assert rdd.count() == 6


def test_checkpoint_after_local_checkpoint_keeps_the_local_one(ctx, tmp_path):
    """checkpoint() of an RDD marked with local_checkpoint() leaves it local, as Spark's
    (its checkpoint data is already set); local_checkpoint() after checkpoint() overrides,
    as there (checkpoint() replaced the local mark and wrote to the checkpoint dir)."""
    ctx.set_checkpoint_dir(str(tmp_path))
    local_first = ctx.parallelize(range(4), 2).map(lambda x: x + 1)
    local_first.localCheckpoint()
    local_first.checkpoint()
    assert local_first.collect() == [1, 2, 3, 4]
    assert (local_first.isCheckpointed(), local_first.isLocallyCheckpointed(),
            local_first.getCheckpointFile()) == (True, True, None)
    reliable_first = ctx.parallelize(range(4), 2).map(lambda x: x + 1)
    reliable_first.checkpoint()
    reliable_first.localCheckpoint()
    assert reliable_first.collect() == [1, 2, 3, 4]
    assert (reliable_first.isCheckpointed(), reliable_first.isLocallyCheckpointed(),
            reliable_first.getCheckpointFile()) == (True, True, None)


def test_a_local_checkpoint_is_kept_by_the_executors(ctx):
    """local_checkpoint() persists the RDD at MEMORY_AND_DISK and its partitions stay in the
    executors' block stores, as Spark's: no file under the driver's scratch directory (which
    another host's executors could not read), each partition computed once even where the
    first job read one of them only (the others by a job of the checkpoint's own), and read
    from the executors from then on."""
    rdd, acc = counted(ctx, 40, 4)
    rdd.localCheckpoint()
    assert rdd.getStorageLevel() == StorageLevel.MEMORY_AND_DISK
    assert rdd.take(3) == [0, 2, 4]
    assert rdd.isCheckpointed() and acc.value == 40
    assert rdd.sum() == 1560 and rdd.map(lambda x: x + 1).count() == 40
    assert acc.value == 40
    cached, = [r for r in ctx.cached_rdds() if r["id"] == rdd.id()]
    assert (cached["partitions"], cached["storage_level"]) == (4, "MEMORY_AND_DISK")
    assert not os.path.exists(os.path.join(ctx.app_dir, "checkpoints"))
    rdd.unpersist()


def test_a_local_checkpoint_with_a_level_adds_disk_to_it(ctx):
    """An RDD persisted before local_checkpoint() keeps its level with disk added (Spark's
    LocalRDDCheckpointData.transformStorageLevel)."""
    rdd = ctx.parallelize(range(4), 2).persist(StorageLevel.MEMORY_ONLY_2)
    rdd.localCheckpoint()
    assert rdd.getStorageLevel() == StorageLevel.MEMORY_AND_DISK_2
    assert rdd.collect() == [0, 1, 2, 3]
    rdd.unpersist()


def test_a_local_checkpoint_whose_blocks_are_gone_fails_saying_so(ctx):
    """Its lineage cut, a locally checkpointed RDD whose blocks were unpersisted (or lost
    with their executor) cannot be computed again: the job fails with Spark's message
    naming the block and checkpoint() as the fault-tolerant way."""
    rdd = ctx.parallelize(range(4), 2).map(lambda x: x * 3)
    rdd.localCheckpoint()
    assert rdd.collect() == [0, 3, 6, 9]
    rdd.unpersist(blocking=True)
    with pytest.raises(VegaError) as failed:
        rdd.collect()
    assert re.search(rf"Checkpoint block rdd_{rdd.id()}_[01] not found! Either the executor "
                     "that originally checkpointed this partition is no longer alive, or the "
                     "original RDD is unpersisted", str(failed.value))
    assert "use checkpoint() (with set_checkpoint_dir)" in str(failed.value)


def test_a_local_checkpoint_has_no_checkpoint_file(ctx):
    """get_checkpoint_file() is None for a locally checkpointed RDD, after its job too, as
    PySpark's ("Not defined if RDD is checkpointed locally"): the files are the executors'
    scratch, no place a program can read it back from (it gave one under the app's dir)."""
    rdd = ctx.parallelize(range(4), 2).map(lambda x: x * 2)
    rdd.localCheckpoint()
    assert rdd.collect() == [0, 2, 4, 6]
    assert (rdd.isCheckpointed(), rdd.getCheckpointFile(), rdd.get_checkpoint_file()) == (
        True, None, None)


# -- metadata -------------------------------------------------------------------------------

def test_id_is_a_unique_integer_method(ctx):
    """rdd.id() is an int, unique per RDD, as in PySpark."""
    a = ctx.parallelize([1])
    b = a.map(lambda x: x)
    assert isinstance(a.id(), int) and isinstance(b.id(), int)
    assert a.id() != b.id()
    assert a.id() == a.id()


def test_name_and_set_name_pyspark_doctest(ctx):
    """PySpark's doctest: set_name returns the RDD, name() reads it back."""
    rdd1 = ctx.parallelize([1, 2])
    assert rdd1.name() is None
    assert rdd1.set_name("RDD1").name() == "RDD1"
    assert rdd1.set_name("ünïcode").name() == "ünïcode"


def test_get_num_partitions_pyspark_doctest(ctx):
    """PySpark's doctest: two partitions."""
    assert ctx.parallelize([1, 2, 3, 4], 2).get_num_partitions() == 2
    assert ctx.parallelize([1, 2, 3, 4], 2).map(lambda x: (x, x)).reduce_by_key(add, 5) \
        .get_num_partitions() == 5


def test_to_debug_string_is_laid_out_as_sparks(ctx):
    """Spark's layout, which PySpark 4.3 prints with its own RDD classes: the count and
    ``[level]`` on every RDD's line, narrow parents under a `` |  `` bar without a count,
    a shuffle's parent on ``+-(N)`` a step further in, and the cached partitions of a
    persisted RDD (Vega had a count on every line and no bar before the first ``|``)."""
    source = ctx.parallelize(range(10), 2).set_name("dbg-source")
    pairs = source.map(lambda x: (x % 3, x)).set_name("dbg-pairs")
    sums = pairs.reduce_by_key(add, 3).set_name("dbg-sums")
    final = sums.map_values(str).set_name("dbg-final").cache()
    assert final.count() == 3
    lines = final.to_debug_string().splitlines()
    assert re.fullmatch(r" \|       CachedPartitions: 3; MemorySize: \d+\.\d B; DiskSize: 0\.0 B",
                        lines.pop(1)), lines
    assert lines == [f"(3) {final!r} [Memory Serialized 1x Replicated]",
                     f" |  {sums!r} []",
                     f" +-(2) {pairs!r} []",
                     f"    |  {source!r} []"]
    assert repr(sums).startswith("dbg-sums ShuffledRDD[")
    final.unpersist()


def test_to_debug_string_mentions_cached_level(ctx):
    """A persisted RDD's storage level shows in its lineage."""
    rdd = ctx.parallelize([1]).set_name("dbg-cached").persist(StorageLevel.MEMORY_AND_DISK)
    assert rdd.to_debug_string().endswith(" [Disk Memory Serialized 1x Replicated]")
    rdd.unpersist()


# -- TaskContext -----------------------------------------------------------------------------

def test_task_context_is_none_on_the_driver(ctx):
    """TaskContext.get() outside a task is None."""
    assert TaskContext.get() is None


def test_task_context_inside_tasks(ctx):
    """Tasks see their partition id, attempt 0, and one stage id per stage."""
    def describe(index, iterator):
        tc = TaskContext.get()
        return [(index, tc.partition_id(), tc.attempt_number(), tc.stageId(), len(list(iterator)))]

    rows = ctx.parallelize(range(10), 4).map_partitions_with_index(describe).collect()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        (0, 0, 0, 2), (1, 1, 0, 3), (2, 2, 0, 2), (3, 3, 0, 3)]
    stage_ids = {r[3] for r in rows}
    assert len(stage_ids) == 1 and isinstance(stage_ids.pop(), int)


def test_task_context_stage_ids_differ_across_a_shuffle(ctx):
    """Map-side and reduce-side tasks run in different stages."""
    def tag(x):
        return (x % 2, TaskContext.get().stageId())

    def stage_of(kv):
        return (kv[0], sorted(set(kv[1])), TaskContext.get().stageId())

    rows = ctx.parallelize(range(8), 2).map(tag).group_by_key(2).map(stage_of).collect()
    map_stages = {s for _, stages, _ in rows for s in stages}
    reduce_stages = {r[2] for r in rows}
    assert len(map_stages) == 1 and len(reduce_stages) == 1
    assert map_stages != reduce_stages


def test_task_context_pep8_names(ctx):
    """The PEP 8 spellings of PySpark's partitionId/stageId/attemptNumber are methods."""
    def describe(iterator):
        tc = TaskContext.get()
        return [(tc.partition_id(), tc.stage_id(), tc.attempt_number())]

    rows = ctx.parallelize([1, 2], 2).map_partitions(describe).collect()
    assert [(r[0], r[2]) for r in rows] == [(0, 0), (1, 0)]
    assert rows[0][1] == rows[1][1]


@pytest.mark.parametrize("level", ["MEMORY_ONLY", None, 3])
def test_persist_refuses_what_is_not_a_storage_level(ctx, level):
    """persist() with a level name, None or a number raises TypeError at once, as PySpark's,
    and leaves the RDD unpersisted (it used to be accepted, and the next job failed with
    AttributeError: 'str' object has no attribute 'name')."""
    rdd = ctx.parallelize([1, 2], 2)
    with pytest.raises(TypeError, match=r"^storageLevel must be of type pyspark.StorageLevel, "
                                        rf"not {type(level).__name__}: pass one of"):
        rdd.persist(level)
    assert rdd.get_storage_level() == StorageLevel.NONE
    assert rdd.count() == 2
