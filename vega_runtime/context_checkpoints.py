"""Checkpoint writing for a ``Context``: ``set_checkpoint_dir``'s per-application
directory, and writing out the RDDs marked with ``checkpoint()`` or
``local_checkpoint()`` after a job that computed them.

A reliable checkpoint goes under the checkpoint directory (a local path or an HDFS
URL): each partition is written as pickled record batches to ``rdd-<id>/part-NNNNN``
(through a ``.tmp`` file renamed into place, so a retried task replaces its
predecessor's part), by a job of its own, and the RDD then reads from its
``CheckpointRDD`` with its lineage cut.  A local one is the executors' cached blocks of
the RDD (Spark's: no file of its own), read by its ``LocalCheckpointRDD``.
"""

from __future__ import annotations

import collections
import errno
import os
import posixpath
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List

from . import serde, task_context
from .io import files as io_files
from .io import hdfs
from .io import output as outputs
from .private_files import DIR_MODE, make_private_dirs, open_private
from .rdd import sources

if TYPE_CHECKING:
    from .rdd.base import RDD


def new_checkpoint_dir(directory: str, hdfs_settings: "hdfs.HdfsSettings") -> str:
    """A new directory per application under ``directory`` (a local path or an HDFS URL),
    created with its parents (a local one 0700, its parents by the umask); its absolute
    path or URL. An empty ``directory`` is a
    ValueError, as PySpark's (Hadoop's "Can not create a Path from an empty string"), not
    the working directory.

    >>> new_checkpoint_dir(" ", None)
    Traceback (most recent call last):
    ValueError: the checkpoint directory is empty: give a directory (a path or an HDFS URL)
    """
    import uuid  # here: every job imports this module, few make a checkpoint directory

    if not directory.strip():
        raise ValueError("the checkpoint directory is empty: give a directory (a path or an "
                         "HDFS URL)")

    unique = str(uuid.uuid4())
    if hdfs.is_hdfs(directory):
        checkpoint_dir = posixpath.join(directory.rstrip("/"), unique)
        target = outputs.output_dir(checkpoint_dir, hdfs_settings)
        target.makedirs(target.root)
        return checkpoint_dir
    parent = os.path.abspath(io_files.local_path(directory))
    os.makedirs(parent, exist_ok=True)
    checkpoint_dir = os.path.join(parent, unique)
    # 0700 whatever the umask: what is written there is unpickled when read back, so an
    # account that could replace a part (under umask 000, say) could run code as this one
    os.mkdir(checkpoint_dir, DIR_MODE)
    return checkpoint_dir


def write_checkpoints(ctx, rdd: "RDD", run_job: Callable[[RDD, Callable, List[int], str], list]) \
        -> None:
    """Write out the RDDs of ``rdd``'s lineage marked for checkpointing and not written yet,
    each by ``run_job(rdd, func, partitions, description)``, and point them at what was
    written.  ``ctx`` is the ``Context`` (its ``checkpoint_dir``, ``app_dir`` and
    ``hdfs_settings``)."""
    for marked in lineage(rdd):
        if marked._checkpoint_requested == "local" and marked._checkpoint_rdd is None:
            keep_local_checkpoint(ctx, marked, run_job)
        elif marked._checkpoint_requested and marked._checkpoint_rdd is None:
            base = ctx.checkpoint_dir
            directory = posixpath.join(base, f"rdd-{marked.rdd_id}")
            target = outputs.output_dir(directory, ctx.hdfs_settings)
            local = isinstance(target, outputs.LocalDir)
            if local:  # private whatever the umask, as the checkpoint directory it is in
                make_private_dirs(directory)
            else:
                target.makedirs(target.root)

            def write(records: Iterable, target=target, local=local, rdd_id=marked.rdd_id,
                      base=base) -> None:
                part = target.join(f"part-{task_context.TaskContext.get().partition:05d}")
                try:
                    opened = open_private(part + ".tmp", "wb") if local \
                        else target.open_write(part + ".tmp")
                except PermissionError as exc:
                    if not local:
                        raise
                    raise not_permitted(rdd_id, base, exc) from None
                with opened as out:  # (an HDFS upload's writer is what entering it gives)
                    serde.dump_batches(records, out, 1024)
                target.rename(part + ".tmp", part)

            n = marked.get_num_partitions()
            run_job(marked, write, list(range(n)), f"checkpoint {marked!r}")
            marked._checkpoint_rdd = sources.CheckpointRDD(ctx, directory, n, marked.partitioner)


def keep_local_checkpoint(ctx, marked: "RDD", run_job: Callable) -> None:
    """Cut ``marked``'s lineage once its partitions are in the executors' block stores (it
    is persisted since ``local_checkpoint()``): those no executor holds yet (a job that read
    some of them only, a level that could not keep one) are computed by a job of their own
    first, as Spark's ``LocalRDDCheckpointData``."""
    n = marked.get_num_partitions()
    missing = [i for i in range(n) if not ctx._blocks.holders(marked.rdd_id, i)]
    if missing:
        run_job(marked, _drain, missing, f"local checkpoint {marked!r}")
    marked._checkpoint_rdd = sources.LocalCheckpointRDD(ctx, marked.rdd_id, marked.storage_level,
                                                        n, marked.partitioner)


def _drain(records: Iterable) -> None:
    """Read every record (each partition is then in its executor's block store)."""
    collections.deque(records, maxlen=0)


def not_permitted(rdd_id: int, directory: str, exc: PermissionError) -> PermissionError:
    """What a task that may not write its checkpoint part in ``directory`` raises: which
    account may not, and what to do (the driver makes the directory its own, 0700, and a
    task writes as its executor's account, which may be another: a cluster's workers run
    as an account of their own), as a save says (``io.output.LocalDir.not_permitted``)."""
    from .private_files import account_name

    whose = "the checkpoint directory is the driver's (0700)"
    instead = "set_checkpoint_dir an HDFS URL"
    return PermissionError(errno.EACCES, f"cannot write the checkpoint of RDD {rdd_id} to "
                           f"{directory} as {account_name(os.geteuid())} ({exc.strerror}: "
                           f"{exc.filename}): tasks write checkpoints as the account of "
                           f"their executors, and {whose}; checkpoint where the executors' "
                           f"account can write ({instead}, say), or run the executors as the "
                           "driver's account")


def lineage(rdd: "RDD") -> List["RDD"]:
    """``rdd`` and every RDD it depends on, each once."""
    seen: Dict[int, RDD] = {}
    stack = [rdd]
    while stack:
        current = stack.pop()
        if current.rdd_id not in seen:
            seen[current.rdd_id] = current
            stack.extend(d.rdd for d in current.dependencies())
    return list(seen.values())
