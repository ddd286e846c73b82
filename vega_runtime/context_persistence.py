"""Persisted RDDs and checkpoints of a ``Context``: which RDDs are persisted (weakly held),
where their partitions are cached (for ``vega status`` and the UI), dropping one everywhere,
and the application's checkpoint directory."""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, List, Optional

from .lazy_imports import lazy_module

if TYPE_CHECKING:
    from .rdd.base import RDD

# loaded at first use, as the Context's other parts are: a job that never checkpoints does
# not import them
checkpoints = lazy_module("vega_runtime.context_checkpoints")
io_files = lazy_module("vega_runtime.io.files")
globs = lazy_module("vega_runtime.io.globs")

log = logging.getLogger(__name__)


class Persistence:
    """The persistence part of ``Context`` (its ``_persisted``, ``_blocks``, ``backend``,
    ``_runner``, ``hdfs_settings`` and ``checkpoint_dir``)."""

    def register_persisted(self, rdd: "RDD") -> None:
        """Track a persisted RDD; once it is garbage (nothing can read its blocks again) it
        is unpersisted as the next job starts (Spark's ContextCleaner), so a long-lived
        Context's executors, its block records and its master's pages do not keep every
        RDD it ever cached."""
        self._persisted[rdd.rdd_id] = weakref.ref(rdd)
        self._blocks.persisted(rdd.rdd_id)
        cleanup = weakref.finalize(rdd, self._runner.unreachable_rdds.append, rdd.rdd_id)
        cleanup.atexit = False  # at exit the executors go whole

    def unpersist_unreachable(self, rdd_id: int) -> None:
        """Unpersist a persisted RDD that has become garbage (not one unpersisted already)."""
        ref = self._persisted.get(rdd_id)
        if ref is not None and ref() is None:
            self.unpersist_rdd(rdd_id)

    def unpersist_rdd(self, rdd_id: int, blocking: bool = False) -> None:
        """Forget the RDD's blocks and have every executor drop them; ``blocking``: return
        once each executor has (PySpark's "block until all blocks are deleted")."""
        for writer in self._event_writers():
            writer.rdd_unpersisted(rdd_id)
        self._persisted.pop(rdd_id, None)
        self._blocks.rdd_removed(rdd_id)
        number = self.backend.remove_rdd(rdd_id, reply=blocking)
        if blocking:
            self._await_removal("rdd", rdd_id, number)

    def remove_broadcast(self, broadcast_id: int, blocking: bool = False) -> None:
        """Have every executor drop its copy of a broadcast (``Broadcast.unpersist`` and
        ``destroy``); ``blocking``: return once each has."""
        number = self.backend.remove_broadcast(broadcast_id, reply=blocking)
        if blocking:
            self._await_removal("broadcast", broadcast_id, number)

    def clean_shuffles(self, shuffle_ids: List[int], blocking: bool = False) -> None:
        """Forget the map outputs of ``shuffle_ids`` and have every executor delete their
        files (``RDD.clean_shuffle_dependencies``); ``blocking``: return once each has."""
        if not shuffle_ids or self._stopped:  # (a stopped one's directory went whole)
            return
        # the files of the tasks launched until then: one launched since (by a job of
        # another thread, or the next one, while the removal is on its way) keeps its own
        before_task = self._runner.forget_shuffles(shuffle_ids)
        numbers = [self.backend.remove_shuffle(shuffle_id, blocking, before_task)
                   for shuffle_id in shuffle_ids]
        if blocking:
            for shuffle_id, number in zip(shuffle_ids, numbers):
                self._await_removal("shuffle", shuffle_id, number)

    def _await_removal(self, kind: str, object_id: int, number: int) -> None:
        """Wait for the executors' replies, at most ``vega.executor.timeout`` (Spark's
        blocking removals wait for its RPC timeout): each answers at once, a task running
        or not, except that an RDD's removal waits for a task reading its blocks to end
        that read (as Spark's removal waits for the block's read lock), and a shuffle's
        for the tasks sent to the executor before it; one lost meanwhile is not waited
        for."""
        timeout = self.conf["vega.executor.timeout"]
        if not self._runner.await_removal(number, timeout):
            log.warning("not every executor confirmed the removal of %s %d within %gs "
                        "(vega.executor.timeout): %s; an executor that does not answer is "
                        "lost at its heartbeat timeout", kind, object_id, timeout,
                        _REMOVAL_WAITS[kind])

    def persisted_rdds(self) -> List["RDD"]:
        # (a copy: other threads persist and unpersist meanwhile)
        return [r for r in (ref() for ref in list(self._persisted.values())) if r is not None]

    def cached_rdds(self) -> List[dict]:
        """Persisted RDDs and where their partitions are cached (for ``vega status``/the UI).

        >>> squares = ctx.parallelize(range(100), 4).map(lambda x: x * x).cache()
        >>> squares.count()
        100
        >>> [(r["partitions"], r["storage_level"]) for r in ctx.cached_rdds()
        ...  if r["id"] == squares.id()]
        [(4, 'MEMORY_ONLY')]
        >>> squares.unpersist().is_cached
        False
        """
        return [{"id": rdd.rdd_id, "name": rdd.name(), "storage_level": rdd.storage_level.name,
                 "partitions": rdd.get_num_partitions(), **self._blocks.usage(rdd.rdd_id)}
                for rdd in self.persisted_rdds() if rdd.is_cached]

    def set_checkpoint_dir(self, directory: str) -> None:
        """Checkpoints go to a new directory per application under ``directory`` (a local
        path or an HDFS URL), created if missing, as in PySpark; ``None`` unsets it, as
        Spark's ``setCheckpointDir(null)``; another value than a path is a ``TypeError``.

        >>> import shutil, tempfile
        >>> parent = tempfile.mkdtemp()
        >>> ctx.set_checkpoint_dir(parent)
        >>> ctx.get_checkpoint_dir().startswith("file:" + parent + "/")
        True
        >>> shutil.rmtree(parent)
        """
        if directory is None:
            self.checkpoint_dir = None
            return
        self.checkpoint_dir = checkpoints.new_checkpoint_dir(globs.path_text(directory),
                                                             self.hdfs_settings)

    def get_checkpoint_dir(self) -> Optional[str]:
        """This application's checkpoint directory as a URI (``file:/...``, ``hdfs://...``),
        or None before ``set_checkpoint_dir``."""
        return None if self.checkpoint_dir is None else io_files.file_uri(self.checkpoint_dir)


#: what a removal of each kind waits for on an executor that answers
_REMOVAL_WAITS = {"rdd": "a task still reading its blocks holds them until it ends",
                  "broadcast": "a task still reading the blocks holds them until it ends",
                  "shuffle": "an executor deletes the files once the tasks it was given "
                             "before have ended"}


def unpersist_unreachable(context_ref: "weakref.ref", rdd_id: int) -> None:
    """``Persistence.unpersist_unreachable`` of the Context ``context_ref`` refers to, if it
    is still there (the job runner holds this, not the Context)."""
    context = context_ref()
    if context is not None:
        context.unpersist_unreachable(rdd_id)
