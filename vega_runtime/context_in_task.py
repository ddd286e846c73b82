"""A Context made inside a task (``vega.executor.allow_context``, Spark's
``spark.executor.allowSparkContext``): whether it may start, and on which master.

As Spark's (SPARK-32160), a task refuses to make a Context unless the new Context's own
settings allow it: the settings of the executor's process (its environment, its files) are
the outer application's.  Allowed, it runs its jobs in the task's process (master ``local``)
unless it names a master of its own, and it is the task's running Context (``getOrCreate``
gives it), as in PySpark's Python worker; the process's own is not the task's, even where
it is the driver's (master ``local`` runs tasks in the driver's process).
"""

from __future__ import annotations

import weakref
from typing import Mapping, Optional

from .config_values import parse_bool
from .errors import ConfigError
from .task_context import TaskContext

#: Vega's name of the setting, and Spark's (``spark_settings`` translates it)
ALLOW_IN_TASK = "vega.executor.allow_context"
SPARK_ALLOW_IN_TASK = "spark.executor.allowSparkContext"


def in_task() -> bool:
    """Whether a task runs in this thread (not PySpark's stand-in ``TaskContext(...)`` of a
    driver's unit test)."""
    running = TaskContext.get()
    return running is not None and not running.stand_in


def made_in_task(context) -> None:
    """``context`` was made by the task running in this thread: its running Context
    (``own_context``) until it stops, and stopped as the task ends at the latest."""
    task = TaskContext.get()
    task._own_context = weakref.ref(context)
    task._call_at_end(context.stop)


def own_context() -> Optional[object]:
    """The Context the task running in this thread made (``made_in_task``), or None."""
    made = getattr(TaskContext.get(), "_own_context", None)
    return made() if made is not None else None


def allowed_in_task(settings: Mapping[str, object]) -> bool:
    """Whether ``settings`` (a Context's ``conf``, under Vega's or Spark's name) allow it
    to start inside a task.

    >>> allowed_in_task({"spark.executor.allowSparkContext": "true"}), allowed_in_task({})
    (True, False)
    """
    for key in (ALLOW_IN_TASK, SPARK_ALLOW_IN_TASK):
        if key in settings:
            try:
                return parse_bool(settings[key])
            except ValueError as exc:
                raise ConfigError("Context(conf=...)", key, str(exc)) from None
    return False


def master_in_task(settings: Mapping[str, object]) -> object:
    """The master of a Context made in a task whose settings give none: ``local``, the
    task's own process (the executor's environment and files name the outer
    application's master, not this one's).

    >>> master_in_task({}), master_in_task({"spark.master": "local[2]"})
    ('local', 'local[2]')
    """
    return settings.get("vega.master", settings.get("spark.master", "local"))
