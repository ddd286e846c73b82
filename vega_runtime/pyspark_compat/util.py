"""``pyspark.util``: what a PySpark program may import from it."""

from __future__ import annotations

import threading


class InheritableThread(threading.Thread):
    """PySpark's thread that carries the driver's job settings into jobs it starts.

    Vega's job settings (job groups, local properties) are read per thread from the
    ``SparkContext`` that started the thread, so a plain thread already behaves like
    this one; the class exists so that programs written for PySpark run unchanged.
    """

    def __init__(self, target=None, *args, **kwargs):
        super().__init__(target=target, *args, **kwargs)
