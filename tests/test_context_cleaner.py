"""A long-lived Context keeps what its RDDs can still use, no more: the stages of finished
jobs go, and a shuffle no RDD can read any more loses its map outputs and its files (as
Spark's ContextCleaner does), on every master kind."""

import gc
import os
import re
from collections import defaultdict
from operator import add

import pytest

from conftest import LOCAL_CLUSTER_CONF

#: the masters whose executors keep their files under the application's directory (a local
#: cluster's workers too), where these tests look for them
MASTERS = ["local", "local[2]", "local-cluster[2,1]"]


def shuffle_files(app_dir: str) -> dict:
    """``{shuffle id: sorted file names}`` of every map output under the application's
    directory (a local cluster's workers keep theirs under it too)."""
    found = defaultdict(list)
    for _, _, names in os.walk(app_dir):
        for name in names:
            match = re.fullmatch(r"shuffle_(\d+)_\d+_\d+\.(data|index)", name)
            if match:
                found[int(match.group(1))].append(name)
    return {shuffle: sorted(names) for shuffle, names in found.items()}


@pytest.mark.parametrize("master", MASTERS)
def test_a_shuffle_no_rdd_can_read_loses_its_files_and_the_rest_stay(fresh_ctx, master):
    ctx = fresh_ctx(master, conf=LOCAL_CLUSTER_CONF if "cluster" in master else {})
    kept = ctx.parallelize(range(100), 2).map(lambda x: (x % 5, x)).reduce_by_key(add)
    assert sorted(kept.collect()) == [(k, sum(range(k, 100, 5))) for k in range(5)]
    dropped = ctx.parallelize(range(100), 2).map(lambda x: (x % 7, 1)).reduce_by_key(add)
    assert dropped.count() == 7
    both = shuffle_files(ctx.app_dir)
    assert len(both) == 2 and all(len(names) == 4 for names in both.values())  # 2 maps each
    kept_shuffle = min(both)

    del dropped
    gc.collect()
    assert ctx.parallelize([1, 2], 2).count() == 2  # the next job starts: cleaned up

    assert shuffle_files(ctx.app_dir) == {kept_shuffle: both[kept_shuffle]}
    # what is kept is still read, not computed again (the same files, no new attempt)
    assert sorted(kept.collect()) == [(k, sum(range(k, 100, 5))) for k in range(5)]
    assert shuffle_files(ctx.app_dir) == {kept_shuffle: both[kept_shuffle]}


def test_a_thousand_jobs_leave_no_stage_and_no_shuffle_behind(fresh_ctx):
    """The driver's scheduler state stays flat over jobs that each make a shuffle."""
    ctx = fresh_ctx("local[2]")
    for _ in range(1000):
        assert len(ctx.parallelize(range(20), 2).map(lambda x: (x % 3, x)).reduce_by_key(add)
                   .collect()) == 3
    gc.collect()
    ctx.parallelize([1], 1).count()
    assert len(shuffle_files(ctx.app_dir)) == 0
    dag = ctx._runner.dag
    assert dag.stage_by_id == {}
    assert not any(dag.map_outputs.is_available(shuffle) for shuffle in range(1000))


def broadcast_files(app_dir: str) -> list:
    directory = os.path.join(app_dir, "broadcast")
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


@pytest.mark.parametrize("master", MASTERS)
def test_a_broadcast_no_one_can_read_loses_its_file_and_the_rest_stay(fresh_ctx, master):
    """A long-lived Context that broadcasts in a loop keeps only the broadcasts still
    referenced (Spark's ContextCleaner cleans garbage broadcasts); an unpersisted one stays
    usable until it is garbage too."""
    ctx = fresh_ctx(master, conf=LOCAL_CLUSTER_CONF if "cluster" in master else {})
    kept = ctx.broadcast({i: i * i for i in range(10)})
    for round_ in range(20):
        dropped = ctx.broadcast([round_] * 3)
        assert ctx.parallelize(range(4), 2).map(lambda x: dropped.value[0] + x).sum() \
            == 4 * round_ + 6
        if round_ % 2:
            dropped.unpersist()
    unpersisted = dropped
    del dropped
    gc.collect()
    assert ctx.parallelize([1, 2], 2).count() == 2  # the next job starts: cleaned up

    assert broadcast_files(ctx.app_dir) == sorted([f"broadcast_{kept.id}",
                                                   f"broadcast_{unpersisted.id}"])
    assert ctx.parallelize(range(10), 2).map(lambda x: kept.value[x]).sum() == 285
    assert ctx.parallelize(range(2), 2).map(lambda x: unpersisted.value[x]).collect() == [19, 19]


@pytest.mark.parametrize("master", MASTERS)
def test_a_cached_rdd_no_one_can_use_is_unpersisted(fresh_ctx, master):
    """A long-lived Context that caches an RDD for a while and drops it without
    ``unpersist()`` (a service caching each request's data, a notebook cell run again)
    kept every one cached for good: its executors' memory, the driver's record of where
    the blocks are, and the master's pages (its replay of the application's blocks) grew
    with each.  As Spark's ContextCleaner, one that is garbage is unpersisted as the next
    job starts; the one still referenced stays."""
    ctx = fresh_ctx(master, conf=LOCAL_CLUSTER_CONF if "cluster" in master else {})
    kept = ctx.parallelize(range(10), 2).map(lambda x: x + 1).cache()
    assert kept.count() == 10
    for _ in range(20):
        dropped = ctx.parallelize(range(10), 2).map(lambda x: x * 2).cache()
        assert dropped.count() == 10
    del dropped
    gc.collect()
    assert ctx.parallelize([1, 2], 2).count() == 2  # the next job starts: cleaned up

    [cached] = ctx.cached_rdds()
    assert cached["id"] == kept.id() and cached["memory_bytes"] > 0
    assert sum(e.cacheSize for e in ctx.statusTracker().getExecutorInfos()) == \
        cached["memory_bytes"]
    assert kept.sum() == 55  # still read from the cache
    if "cluster" in master:  # the master's pages of the application
        from http_helpers import api_get
        from proc_helpers import wait_for

        cluster = ctx.backend.owned_cluster
        site, path = (cluster.webui_port, cluster.ca_file), \
            f"/api/v1/applications/{ctx.backend.app_id}/storage/rdd"
        wait_for(lambda: [r["id"] for r in api_get(site, path, cluster.token)[1]] ==
                 [kept.id()], 30, "the master's storage page to list the kept RDD only")


@pytest.mark.parametrize("master", MASTERS)
def test_clean_shuffle_dependencies_deletes_its_lineages_files_and_a_later_job_recomputes(
        fresh_ctx, master):
    """``rdd.cleanShuffleDependencies()`` (Spark's developer API) deletes, at once, the files
    of the RDD's shuffles and of its ancestors' up to a persisted one (whose own shuffle
    stays, as Spark's walk leaves it), on every master; ``blocking=True`` returns with them
    gone, ``blocking=False`` sends the removal; a later job computes them again from lineage
    and gets the same answer.  Before: AttributeError (files went only once the RDD was
    garbage)."""
    from proc_helpers import wait_for

    ctx = fresh_ctx(master, conf=LOCAL_CLUSTER_CONF if "cluster" in master else {})
    # shuffle ids follow creation: summed's (0), cached's (1), final's (2), other's (3)
    summed = ctx.parallelize(range(100), 2).map(lambda x: (x % 5, x)).reduce_by_key(add)
    cached = ctx.parallelize(range(10), 2).map(lambda x: (x % 5, 1)).reduce_by_key(add).cache()
    final = summed.union(cached).reduce_by_key(lambda a, b: a * 1000 + b, 3)
    other = ctx.parallelize(range(10), 2).map(lambda x: (x % 3, x)).reduce_by_key(add)
    expected = sorted((k, sum(range(k, 100, 5)) * 1000 + 2) for k in range(5))
    assert sorted(final.collect()) == expected and other.count() == 3
    written = shuffle_files(ctx.app_dir)
    assert sorted(written) == [0, 1, 2, 3] and all(len(n) == 4 for n in written.values())  # 2 maps each

    final.cleanShuffleDependencies(blocking=True)
    assert shuffle_files(ctx.app_dir) == {1: written[1], 3: written[3]}

    assert sorted(final.collect()) == expected  # computed again: new map task attempts
    again = shuffle_files(ctx.app_dir)
    assert sorted(again) == [0, 1, 2, 3] and again[0] != written[0] and again[2] != written[2]
    assert (again[1], again[3]) == (written[1], written[3])

    final.cleanShuffleDependencies()
    wait_for(lambda: sorted(shuffle_files(ctx.app_dir)) == [1, 3], 30,
             "the executors to delete shuffles 0 and 2")
    assert sorted(final.collect()) == expected


def test_a_removal_on_its_way_spares_what_tasks_launched_since_wrote(fresh_ctx, tmp_path):
    """``cleanShuffleDependencies()`` without blocking, then a job that writes the shuffle
    again at once: an executor busy meanwhile (another thread's task) deletes the files only
    after that task, by which time the other executor of the host (local[N]'s share one
    directory) has written the new ones; those stay (the removal names the tasks launched
    before it), so the next job reads them.  Before: it deleted them too, and the next job
    met fetch failures and computed them a third time."""
    import threading
    import time

    from proc_helpers import wait_for

    ctx = fresh_ctx("local[2]")
    pairs = ctx.parallelize(range(100), 2).map(lambda x: (x % 5, x)).reduce_by_key(add)
    expected = sorted((k, sum(range(k, 100, 5))) for k in range(5))
    assert sorted(pairs.collect()) == expected
    started, release = tmp_path / "started", tmp_path / "release"

    def hold(_):
        started.touch()
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)

    holder = threading.Thread(target=lambda: ctx.parallelize([0], 1).foreach(hold))
    holder.start()
    try:
        wait_for(started.exists, 30, "a task to hold one executor")
        pairs.cleanShuffleDependencies()  # the held executor's removal waits for its task
        assert sorted(pairs.collect()) == expected  # on the other executor, written again
        written = shuffle_files(ctx.app_dir)
        assert list(written) == [0] and len(written[0]) == 4
    finally:
        release.touch()
        holder.join(60)
    # a blocking removal reaches each executor after the one before it: both are done
    ctx.parallelize([(1, 1)], 1).reduce_by_key(add).cleanShuffleDependencies(blocking=True)
    assert shuffle_files(ctx.app_dir) == written
    assert sorted(pairs.collect()) == expected and shuffle_files(ctx.app_dir) == written
