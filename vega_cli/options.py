"""Options shared by several commands, in one place: those of the commands that run jobs
(``vega submit``, ``vega shell``) and the cluster secret's."""

from __future__ import annotations

import os
from typing import Callable, Optional, Tuple

import click

SECRET_FILE_HELP = ("File holding the cluster secret (default: VEGA_SECRET_FILE, then "
                    "~/.vega/secret).")


def secret_file_option(more_help: str = "") -> Callable:
    """``--secret-file``: read it back with ``deploy.daemon_main.secret_file_for``."""
    return click.option("--secret-file", "secret_file",
                        help=SECRET_FILE_HELP + (f" {more_help}" if more_help else ""))


#: the copy of the cluster secret ``vega start-cluster`` installs in each daemon's work dir
INSTALLED_SECRET_FILE = "vega-secret"


def ensure_secret_file(path: Optional[str]) -> str:
    """The absolute path of ``path`` (default ~/.vega/secret), creating the secret there
    (mode 0600) and saying so when it does not exist yet."""
    from vega_runtime.net.connection import create_secret_file, default_secret_file

    path = os.path.abspath(os.path.expanduser(path or default_secret_file()))
    if os.path.isdir(path):
        from .errors import UsageError

        raise UsageError(f"the secret file {path} is a directory: name the file that holds "
                         f"(or will hold) the cluster secret, e.g. {default_secret_file()}")
    if not os.path.exists(path):
        create_secret_file(path)
        click.echo(f"created cluster secret {path} (mode 0600): give it to workers and drivers")
    return path


#: the master ``vega status``, ``logs`` and ``kill`` ask when neither --master nor
#: VEGA_MASTER names one
DEFAULT_CLUSTER_MASTER = "vega://127.0.0.1:7077"


def cluster_master_option() -> Callable:
    """``--master`` of the commands that ask a running master; read it back with
    ``cluster_master_url``."""
    return click.option("--master", "master_url",
                        help=f"vega://host:port (default: VEGA_MASTER, else "
                             f"{DEFAULT_CLUSTER_MASTER}).")


def cluster_master_url(master_url: Optional[str]) -> Tuple[str, str]:
    """The master to ask, and what to add to the hint when it cannot be reached: a master
    nobody named is a guess, which the user should hear about.

    >>> cluster_master_url("vega://10.0.0.1:7077")
    ('vega://10.0.0.1:7077', '')
    """
    named = master_url or os.environ.get("VEGA_MASTER")
    if named:
        return named, ""
    return DEFAULT_CLUSTER_MASTER, (
        f"No --master was given and VEGA_MASTER is not set, so {DEFAULT_CLUSTER_MASTER} was "
        f"tried. Start a master (vega start-master), or name the one that runs: --master "
        f"vega://HOST:PORT, as vega start-master printed it (or VEGA_MASTER).")


MASTER_HELP = ("local, local[N], local[*], local-cluster[W,C] or vega://host:port "
               "(default: VEGA_MASTER, then config, then local[*]).")


def job_options(command: Callable) -> Callable:
    """``--master``, ``--py-files``, ``--conf``, ``--config``, the executor resources and
    ``--pyspark-compat``: read them back with :func:`settings_from_flags`."""
    options = [
        click.option("--master", help=MASTER_HELP),
        click.option("--py-files", default="", help="Comma-separated .py, .zip files or "
                     "directories to put on sys.path, the driver's and the executors'."),
        click.option("--conf", "confs", multiple=True, metavar="KEY=VALUE",
                     help="A setting, e.g. --conf vega.task.max_attempts=2 (repeatable)."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="A YAML file of settings."),
        click.option("--executor-memory", help="Memory per executor, e.g. 2g (cluster masters)."),
        click.option("--executor-cores", type=int,
                     help="Most executor cores per worker (cluster masters)."),
        click.option("--total-executor-cores", type=int,
                     help="Most executor cores in all (cluster masters)."),
        click.option("--pyspark-compat", is_flag=True,
                     help="Run PySpark RDD code unchanged: 'import pyspark' means Vega "
                          "(also vega.pyspark_compat: true)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def cli_settings(master: Optional[str], confs: Tuple[str, ...]) -> dict:
    """The settings given on the command line: ``--conf`` pairs, then ``--master`` (checked);
    raises ``ConfigError`` or ``MasterURLError`` for a bad one."""
    from vega_runtime.config import parse_conf_pairs
    from vega_runtime.master_url import parse_master

    settings = parse_conf_pairs(confs)
    if master is not None:
        parse_master(master)
        settings["vega.master"] = master
    return settings


#: the flags that stand for settings: flag, setting, and the least value the flag takes
#: when that is more than the setting's (the setting's 0 means "no limit"; the flag asks
#: for a number of cores, so 0 cores makes no sense)
FLAG_SETTINGS = (("--executor-memory", "vega.executor.memory", None),
                 ("--executor-cores", "vega.executor.cores", 1),
                 ("--total-executor-cores", "vega.cores.max", 1))


def settings_from_flags(confs: Tuple[str, ...], executor_memory: Optional[str],
                        executor_cores: Optional[int], total_executor_cores: Optional[int],
                        pyspark_compat: bool) -> Tuple[str, ...]:
    """``--conf`` pairs, with the flags that stand for settings added as pairs too; a bad
    flag value raises ``ConfigError`` naming the flag the user gave (not ``--conf``)."""
    from vega_runtime.config import SETTINGS_BY_KEY, at_least
    from vega_runtime.errors import ConfigError

    pairs = []
    for (flag, key, least), value in zip(FLAG_SETTINGS, (executor_memory, executor_cores,
                                                         total_executor_cores)):
        if value is None:
            continue
        try:
            (at_least(least) if least is not None else SETTINGS_BY_KEY[key].parse)(value)
        except ValueError as exc:
            raise ConfigError(flag, key, str(exc)) from None
        pairs.append(f"{key}={value}")
    if pyspark_compat:
        pairs.append("vega.pyspark_compat=True")
    return confs + tuple(pairs)
