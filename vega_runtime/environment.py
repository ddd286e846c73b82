"""Vega's ``VEGA_*`` environment variables, all in one place, and the warning for one that is
none of them (``VEGA_MASTR``: a misspelling would otherwise be ignored silently, where
spark-submit warns of a property that is not Spark's).

Each setting names its own variable (``config_schema.SETTINGS``, ``Setting.env``); the others
are listed here, with who reads or sets them.  ``tests/test_environment.py`` checks that
every ``VEGA_*`` name in the repository is one of these (or a Python name that only looks
like one), so that neither Vega nor its tests set a variable the ``vega`` command warns of.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Set, Tuple

#: Variables no setting names: read by Vega, or set by it for a process it starts
OTHER_VARIABLES: Dict[str, str] = {
    "VEGA_CONF_DIR": "the directory of vega-defaults.yaml and the secret (config)",
    "VEGA_CONFIG": "the --config file, passed to a job's Context by vega submit",
    "VEGA_SUBMIT_CONF": "vega submit's --conf settings, passed to the job's Context",
    "VEGA_DRIVER_CONF": "a cluster-mode driver's settings, passed by the master",
    "VEGA_DRIVER_ID": "a cluster-mode driver's id, passed by the master",
    "VEGA_DRIVER_PACKAGE": "the job package a cluster-mode driver's executors run (its "
                           "submitter's, as the master holds it), passed by the master",
    "VEGA_DRIVER_OUTPUT": "where a cluster-mode driver keeps its output in order, passed by "
                          "the master",
    "VEGA_DIE_WITH_PID": "a cluster-mode driver dies with this process (the master)",
    "VEGA_WORKER_PID": "an executor dies with this process (its worker)",
    "VEGA_EXECUTOR_RESOURCES": "an executor's custom resource addresses, from its worker",
    "VEGA_FILES_DIR": "where a job's --files are (SparkFiles.getRootDirectory)",
    "VEGA_PY_FILES_DIR": "where a cluster executor's --py-files are (SparkFiles links them)",
    "VEGA_SPARK_PROPERTIES": "spark.* properties a PySpark job's SparkConf reads",
    "VEGA_SHIPPED_PYTHON": "the Python an executor becomes, and its archive (executor_python)",
    "VEGA_UNPACKED_ARCHIVES": "archives an executor unpacked before it started (executor_python)",
    "VEGA_BECAME_DRIVER_PYTHON": "the driver's Python vega submit or shell became, in the "
                                 "command it runs again there (vega_cli.driver_python)",
    "VEGA_DRIVER_UNPACKED_ARCHIVE": "the archive a cluster-mode driver's Python was unpacked "
                                    "from before it started (vega_cli.driver_python)",
    "VEGA_FORK_ONLY": "executors fork without a fork server (forkserver)",
    "VEGA_LOCAL_IP": "the address this machine's daemons and drivers use",
    "VEGA_NET_PEER_TIMEOUT": "how long a peer may stall its handshake (net)",
    "VEGA_INSECURE_PLAINTEXT_FOR_BENCHMARKS": "plain TCP between processes, for benchmarks",
    "VEGA_CLUSTER_CONFIG": "the cluster file of vega start-cluster and friends",
    "VEGA_SLURM_SECRET": "the secret of a cluster vega submit --slurm starts",
    "VEGA_CORES": "a worker container's cores (k8s/workers.yaml)",
    "VEGA_MEMORY_MIB": "a worker container's memory (k8s/workers.yaml)",
}

#: Variables only the test suite reads or sets
TEST_VARIABLES: Dict[str, str] = {
    "VEGA_SCREENSHOT_DIR": "where the web UI test saves its screenshots",
    "VEGA_PYSPARK_HOME": "the pyspark package the PySpark tests run against",
    "VEGA_TEST_VAR": "an executor variable the resource tests set",
    "VEGA_PIPE_TEST": "a variable RDD.pipe's test passes its command",
}


def known_variables() -> Set[str]:
    """Every ``VEGA_*`` variable Vega or its tests read or set."""
    from .config_schema import SETTINGS

    return ({s.env for s in SETTINGS if s.env and s.env.startswith("VEGA_")}
            | set(OTHER_VARIABLES) | set(TEST_VARIABLES))


def unknown_variables(environ: Mapping[str, str]) -> List[Tuple[str, Optional[str]]]:
    """The ``VEGA_*`` names in ``environ`` that are no known variable, sorted, each with the
    closest known one (None when none is close)."""
    names = sorted(name for name in environ if name.startswith("VEGA_"))
    if not names:
        return []  # (without loading the settings)
    import difflib

    known = known_variables()
    return [(name, next(iter(difflib.get_close_matches(name, sorted(known), n=1)), None))
            for name in names if name not in known]


def unknown_variable_warnings(environ: Mapping[str, str]) -> List[str]:
    """One line for each unknown ``VEGA_*`` variable in ``environ``:

    >>> unknown_variable_warnings({"VEGA_MASTR": "local[2]", "HOME": "/root"})
    ['ignoring VEGA_MASTR: Vega reads no such variable (did you mean VEGA_MASTER?)']
    """
    return [f"ignoring {name}: Vega reads no such variable"
            + (f" (did you mean {close}?)" if close else "")
            for name, close in unknown_variables(environ)]
