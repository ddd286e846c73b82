"""``import pyspark`` resolved to Vega: the switch behind ``vega submit --pyspark-compat``.

:func:`install` puts a finder first on ``sys.meta_path`` that answers for ``pyspark`` and
its modules with Vega's (``pyspark`` is :mod:`vega_runtime.pyspark_compat`,
``pyspark.rdd`` is :mod:`vega_runtime.rdd.base`, ...), so a real ``pyspark``, installed
or not, is never imported.  The modules keep their real names: whatever a job pickles
refers to them as ``vega_runtime...``, which executors import without the switch.  Any
other ``pyspark`` module raises :class:`NotInVega`, naming it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from typing import Optional

#: PySpark module -> the Vega module that answers for it
ALIASES = {
    "pyspark": "vega_runtime.pyspark_compat",
    "pyspark.conf": "vega_runtime.pyspark_compat.conf",
    "pyspark.context": "vega_runtime.pyspark_compat.context",
    "pyspark.errors": "vega_runtime.pyspark_compat.errors",
    "pyspark.util": "vega_runtime.pyspark_compat.util",
    "pyspark.sql": "vega_runtime.pyspark_compat.sql",
    "pyspark.sql.session": "vega_runtime.pyspark_compat.sql.session",
    "pyspark.sql.conf": "vega_runtime.pyspark_compat.sql.conf",
    "pyspark.sql.types": "vega_runtime.pyspark_compat.sql.types",
    "pyspark.rdd": "vega_runtime.rdd.base",
    "pyspark.statcounter": "vega_runtime.rdd.stats",
    "pyspark.storagelevel": "vega_runtime.storage_level",
    "pyspark.broadcast": "vega_runtime.shared",
    "pyspark.accumulators": "vega_runtime.pyspark_compat.accumulators",
    "pyspark.resultiterable": "vega_runtime.pyspark_compat.resultiterable",
    "pyspark.rddsampler": "vega_runtime.pyspark_compat.rddsampler",
    "pyspark.profiler": "vega_runtime.profiler",
    "pyspark.taskcontext": "vega_runtime.task_context",
    "pyspark.files": "vega_runtime.files",
    "pyspark.status": "vega_runtime.scheduler.status",
    "pyspark.resource": "vega_runtime.resources",
    "pyspark.resource.profile": "vega_runtime.resources",
    "pyspark.resource.requests": "vega_runtime.resources",
    "pyspark.resource.information": "vega_runtime.resources",
    # PySpark 4 keeps these under pyspark.core (pyspark.rdd & co. are its aliases of them)
    "pyspark.core": "vega_runtime.pyspark_compat.core",
    "pyspark.core.rdd": "vega_runtime.rdd.base",
    "pyspark.core.context": "vega_runtime.pyspark_compat.context",
    "pyspark.core.broadcast": "vega_runtime.shared",
    "pyspark.core.files": "vega_runtime.files",
}


class NotInVega(ImportError):
    """A PySpark module (or name) outside the RDD API that Vega implements."""

    def __init__(self, module: str):
        super().__init__(module, name=module)
        self.module = module

    def __str__(self) -> str:
        return (f"{self.module} is not available: Vega implements PySpark's RDD API "
                "(SparkContext, RDD, broadcast variables, accumulators, SparkFiles, StorageLevel, "
                "and SparkSession as an entry point), not DataFrames, SQL, MLlib or streaming. "
                "See 'Moving a PySpark job to Vega' in docs/api.md")


#: Vega's packages that stand for PySpark's, by PySpark's name: ``from pyspark.sql import
#: functions`` looks for ``vega_runtime.pyspark_compat.sql.functions`` (the real name of
#: the package ``pyspark.sql`` resolved to)
PACKAGES = {ALIASES[name]: name for name in ("pyspark", "pyspark.sql")}


class PySparkAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``pyspark`` and its modules as Vega's modules of :data:`ALIASES`."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != "pyspark" and not fullname.startswith("pyspark."):
            parent, _, leaf = fullname.rpartition(".")
            if parent in PACKAGES and importlib.machinery.PathFinder.find_spec(
                    fullname, path) is None:  # from pyspark.sql import functions
                raise NotInVega(f"{PACKAGES[parent]}.{leaf}")
            return None
        if fullname not in ALIASES:
            raise NotInVega(fullname)
        return importlib.util.spec_from_loader(fullname, self,
                                               is_package=fullname in ("pyspark", "pyspark.sql",
                                                                      "pyspark.core",
                                                                      "pyspark.resource"))

    def create_module(self, spec):
        module = importlib.import_module(ALIASES[spec.name])
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module) -> None:
        # The import system gave the module the alias's spec: give it back its own.
        module.__spec__ = module.__spec__.loader_state


def installed() -> bool:
    """Whether ``import pyspark`` means Vega in this process."""
    return any(isinstance(finder, PySparkAlias) for finder in sys.meta_path)


def install() -> Optional[PySparkAlias]:
    """Make ``import pyspark`` mean Vega in this process (once; later calls do nothing)."""
    if installed():
        return None
    if any(name == "pyspark" or name.startswith("pyspark.") for name in sys.modules):
        raise ImportError("the real pyspark is already imported in this process; "
                          "switch the PySpark compatibility on before any import of pyspark")
    finder = PySparkAlias()
    sys.meta_path.insert(0, finder)
    return finder


class InTasks:
    """The switch, shipped with a job's tasks while it is on in the driver: unpickled in an
    executor, it turns it on there too, so that an ``import pyspark`` a task's function runs
    (``from pyspark import TaskContext`` inside ``map_partitions``, say) means Vega, as on the
    driver.  Executors of a cluster are not forked from the driver, and a ``local[N]`` one
    may have been forked before the driver turned the switch on."""

    def __init__(self):
        install()

    def __reduce__(self):
        return (InTasks, ())
