"""``pyspark.util``: what a PySpark program may import from it."""

from __future__ import annotations

import functools
import threading
from typing import Callable, Dict, Optional, Tuple

from vega_runtime.context import Context

#: the running Context and a copy of one thread's local properties on it
Inherited = Optional[Tuple[Context, Dict[str, str]]]


def _this_threads_properties() -> Inherited:
    """This thread's local properties (job group, job tags, description, other
    ``setLocalProperty`` values) on the running Context, or None without one."""
    context = Context.get_active()
    return None if context is None else (context, dict(context._local_properties()))


def _with_properties(target: Callable, inherited: Callable[[], Inherited]) -> Callable:
    """``target``, run with the local properties ``inherited()`` gives when it starts."""

    @functools.wraps(target)
    def run_with_properties(*args, **kwargs):
        properties = inherited()
        if properties is not None:
            context, values = properties
            context._adopt_local_properties(values)
        return target(*args, **kwargs)

    return run_with_properties


class InheritableThread(threading.Thread):
    """PySpark's thread whose jobs carry the local properties (job group, job tags, other
    ``setLocalProperty`` values) the thread calling ``start()`` had then; a plain thread
    starts with none, as in PySpark."""

    def __init__(self, target: Optional[Callable] = None, *args, **kwargs):
        self._inherited: Inherited = None
        if target is not None:
            target = _with_properties(target, lambda: self._inherited)
        super().__init__(target=target, *args, **kwargs)

    def start(self) -> None:
        self._inherited = _this_threads_properties()
        super().start()


def inheritable_thread_target(f: Callable) -> Callable:
    """``f``, to run in another thread with the local properties this thread has now, when
    it is decorated (PySpark's ``inheritable_thread_target``; ``InheritableThread`` takes
    them at ``start()``)."""
    inherited = _this_threads_properties()
    return _with_properties(f, lambda: inherited)
