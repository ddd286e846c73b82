"""Options shared by several commands, in one place: those of the commands that run jobs
(``vega submit``, ``vega shell``) and the cluster secret's."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional, Tuple

import click

SECRET_FILE_HELP = ("File holding the cluster secret (default: VEGA_SECRET_FILE, then "
                    "~/.vega/secret).")


def secret_file_option(more_help: str = "") -> Callable:
    """``--secret-file``: read it back with ``net.connection.secret_file_for``."""
    return click.option("--secret-file", "secret_file",
                        help=SECRET_FILE_HELP + (f" {more_help}" if more_help else ""))


#: the copy of the cluster secret ``vega start-cluster`` installs in each daemon's work dir
INSTALLED_SECRET_FILE = "vega-secret"


def ensure_secret_file(path: Optional[str]) -> str:
    """The absolute path of ``path`` (default ~/.vega/secret), creating the secret there
    (mode 0600) and saying so when it does not exist yet."""
    from vega_runtime.net.connection import (create_secret_file, default_secret_file,
                                             usable_default_secret_file)

    path = os.path.abspath(os.path.expanduser(path or usable_default_secret_file()))
    if os.path.isdir(path):
        from .errors import UsageError

        raise UsageError(f"the secret file {path} is a directory: name the file that holds "
                         f"(or will hold) the cluster secret, e.g. {default_secret_file()}")
    if not os.path.exists(path):
        try:
            create_secret_file(path)
        except FileExistsError:  # another command of this account made it just now
            return path
        except OSError as exc:  # a home this account cannot write: a usage error, not a bug
            from vega_runtime.deploy.daemon_main import secret_not_created

            raise secret_not_created(path, exc) from None
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


def cluster_master_spec(master_url: Optional[str], command: str):
    """``(spec, url, unnamed)``: the master a cluster command asks (``cluster_master_url``),
    parsed. One that is no ``vega://host:port`` master is a usage error naming where it came
    from when that was ``VEGA_MASTER`` (which a user may not remember exporting) and, for a
    bad port, the ports there are."""
    from vega_runtime.errors import MasterURLError
    from vega_runtime.master_url import parse_master

    from .errors import UsageError

    url, unnamed = cluster_master_url(master_url)
    try:
        spec, hint = parse_master(url), ""
    except MasterURLError as exc:
        spec, hint = None, exc.hint
    if spec is None or spec.kind != "vega":
        source = "" if master_url else "VEGA_MASTER: "
        raise UsageError(f"{source}{command} needs a vega://host:port master, not {url!r}", hint)
    return spec, url, unnamed


def master_unreachable(url: str, exc: BaseException, unnamed: str):
    """The error of a cluster command (``status``, ``logs``, ``kill``) whose connection to the
    master at ``url`` failed with ``exc``.  The hint asks whether it runs at that address,
    except when it answered and refused this host's secret (or its lack of one): the error
    then says which and what to do, and "is it running?" would send the user looking in the
    wrong place.  ``unnamed``: ``cluster_master_url``'s, said either way."""
    from vega_runtime.net.connection import secret_refused

    from .errors import Unreachable

    return Unreachable(f"cannot reach the master at {url}: {exc}", unnamed or (
        "" if secret_refused(exc) else "Is it running (vega start-master / vega master)? Is the address "
                            "right, and does this host have the cluster secret?"))


MASTER_HELP = ("local, local[N], local[*], local-cluster[W,C] or vega://host:port "
               "(default: VEGA_MASTER, then config, then local[*]).")


#: ``--files`` of ``vega submit`` and ``vega shell`` (spark-submit's and pyspark's)
FILES_OPTION = click.option("--files", default="", help="Comma-separated files made available "
                            "to the job (vega_runtime.SparkFiles.get(name)).")
#: ``--archives`` of ``vega submit`` and ``vega shell``; read back with ``staging.archive_list``
ARCHIVES_OPTION = click.option("--archives", default="", metavar="PATH[#NAME],...",
                               help="Comma-separated archives (.zip, .tar, .tar.gz, .tgz) "
                                    "unpacked for the job's tasks and the driver, each in the "
                                    "directory SparkFiles.get(NAME) (NAME: the file's name "
                                    "unless given after #).")


def job_options(command: Callable) -> Callable:
    """``--master``, ``--py-files``, ``--conf``, ``--config``, the executor resources and
    ``--pyspark-compat``: read them back with :func:`settings_from_flags`."""
    options = [
        click.option("--master", help=MASTER_HELP),
        click.option("--py-files", default="", help="Comma-separated .py, .zip (.egg, .whl, .jar) "
                     "files or directories to put on sys.path, the driver's and the "
                     "executors'."),
        click.option("--conf", "-c", "confs", multiple=True, metavar="KEY=VALUE",
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


_NO_JVM = ("Vega runs no JVM: Python modules go in --py-files (a .py, a .zip of them) or are "
           "installed on every host")
_NOT_YARN = "Vega runs on its own master (vega://HOST:PORT), not on YARN or with Kerberos"

#: spark-submit's options (also pyspark's) that ``vega submit`` and ``vega shell`` lack, and
#: what a Spark user does instead (docs/cli.md lists them); click alone said "No such option"
#: and, for some, guessed wrong: "--kill ... Did you mean '--files'?"
SPARK_ONLY_OPTIONS = {
    "--properties-file": "Vega's settings file is YAML, --config FILE, with vega.* keys "
                         "(conf/vega-defaults.yaml lists them)",
    "--load-spark-defaults": "Vega reads its defaults file whenever there is one "
                             "($VEGA_CONF_DIR/vega-defaults.yaml, else conf/vega-defaults.yaml"
                             " here), and --config FILE over it",
    "--remote": "Spark Connect serves DataFrames, which Vega does not implement: run the job "
                "with vega submit --master vega://HOST:PORT",
    "--driver-memory": "the driver is a Python process, with no memory setting of its own (in "
                       "Spark it sizes the driver's JVM); executors take --executor-memory",
    "--driver-cores": "the driver is a Python process: no cores are set aside for it",
    "--kill": "kill a cluster-mode driver (or any application) with: vega kill --master URL ID",
    "--status": "see a cluster-mode driver's state with: vega status --master URL ID "
                "(--json for scripts)",
    "--num-executors": "Vega starts one executor per core it grants an application: "
                       "--total-executor-cores N caps them at N",
    "--version": "vega --version prints Vega's",
    "--jars": _NO_JVM, "--packages": _NO_JVM, "--repositories": _NO_JVM,
    "--exclude-packages": _NO_JVM, "--class": _NO_JVM, "--driver-class-path": _NO_JVM,
    "--driver-java-options": _NO_JVM, "--driver-library-path": _NO_JVM,
    "--queue": _NOT_YARN, "--principal": _NOT_YARN, "--keytab": _NOT_YARN,
    "--proxy-user": _NOT_YARN,
}


#: ``vega submit``'s options about running a script that ``vega shell`` lacks, and why
SUBMIT_ONLY_OPTIONS = {
    "--deploy-mode": "the shell's driver is this session (client mode, as pyspark's: cluster "
                     "deploy mode is not applicable to shells)",
    "--supervise": "it restarts a cluster-mode driver; the shell's driver is this session",
    "--detach": "it leaves a cluster-mode driver running; the shell's driver is this session",
    "--slurm": "a script runs on a Slurm cluster of its own with vega submit --slurm",
}


class JobCommand(click.Command):
    """A command taking :func:`job_options` (``vega submit``, ``vega shell``): an option of
    spark-submit's it lacks is refused saying what to do instead (``SPARK_ONLY_OPTIONS``),
    and so is one of ``vega submit``'s that ``vega shell`` lacks (``SUBMIT_ONLY_OPTIONS``)."""

    def parse_args(self, ctx: click.Context, args):
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            instead = SPARK_ONLY_OPTIONS.get(exc.option_name)
            if instead is not None:
                raise click.NoSuchOption(exc.option_name, f"No such option {exc.option_name!r}:"
                                         f" it is spark-submit's; {instead}.", ctx=ctx) from None
            why = SUBMIT_ONLY_OPTIONS.get(exc.option_name)
            if why is None or self.name != "shell":
                raise
            raise click.NoSuchOption(exc.option_name, f"No such option {exc.option_name!r}: it "
                                     f"is vega submit's; {why}.", ctx=ctx) from None


def cli_settings(master: Optional[str], confs: Tuple[str, ...]) -> dict:
    """The settings given on the command line: ``--conf`` pairs, then ``--master`` (checked);
    raises ``ConfigError`` or ``MasterURLError`` for a bad one."""
    from vega_runtime.config_args import parse_conf_pairs
    from vega_runtime.master_url import parse_master

    settings = parse_conf_pairs(confs)
    if master is not None:
        parse_master(master)
        settings["vega.master"] = master
    return settings


def resolved_master(conf):
    """The master ``conf`` (a resolved ``Config``) names, parsed; ``MasterURLError`` for a
    bad one names where it came from when that was not ``--master``: ``VEGA_MASTER`` or a
    settings file, which a user may not remember setting."""
    from vega_runtime.config import COMMAND_LINE
    from vega_runtime.errors import MasterURLError, TooManyLocalExecutors
    from vega_runtime.master_url import parse_master

    try:
        return parse_master(conf["vega.master"])
    except MasterURLError as exc:
        origin = conf.origin("vega.master")
        if origin == COMMAND_LINE:
            raise
        source = "VEGA_MASTER" if origin == "environment" else origin
        if isinstance(exc, TooManyLocalExecutors):
            raise TooManyLocalExecutors(exc.url, exc.asked, exc.limit, exc.cores, source) \
                from None
        raise MasterURLError(exc.url, source) from None


#: the flags that stand for settings, and the settings they stand for (each flag's value is
#: checked by its setting's parser, so a flag and ``--conf`` refuse the same values alike)
FLAG_SETTINGS = (("--executor-memory", "vega.executor.memory"),
                 ("--executor-cores", "vega.executor.cores"),
                 ("--total-executor-cores", "vega.cores.max"))


def settings_from_flags(confs: Tuple[str, ...], executor_memory: Optional[str],
                        executor_cores: Optional[int], total_executor_cores: Optional[int],
                        pyspark_compat: bool) -> Tuple[str, ...]:
    """``--conf`` pairs, with the flags that stand for settings added as pairs too; a bad
    flag value raises ``ConfigError`` naming the flag the user gave (not ``--conf``)."""
    from vega_runtime.config_schema import SETTINGS_BY_KEY
    from vega_runtime.errors import ConfigError

    pairs = []
    for (flag, key), value in zip(FLAG_SETTINGS, (executor_memory, executor_cores,
                                                  total_executor_cores)):
        if value is None:
            continue
        try:
            SETTINGS_BY_KEY[key].parse(value)
        except ValueError as exc:
            raise ConfigError(flag, key, str(exc)) from None
        pairs.append(f"{key}={value}")
    if pyspark_compat:
        pairs.append("vega.pyspark_compat=True")
    return confs + tuple(pairs)


def settings_file_settings(config_file: Optional[str]) -> Dict[str, str]:
    """The settings of the --config file (else VEGA_CONFIG's), as text: for a cluster-mode
    driver, which reads no file of the submitter's on the master's host (they went unused,
    where spark-submit sends its properties file's with the driver), Vega's names, Spark's
    translated, and Spark's as written too, which a job's SparkConf() has (as it has those
    of spark-submit's properties file)."""
    path = config_file or os.environ.get("VEGA_CONFIG")
    if not path:
        return {}
    from vega_runtime.config import read_settings_file, translate_spark_names
    from vega_runtime.spark_settings import is_spark_name

    written = read_settings_file(path)
    settings = {**translate_spark_names(written, path, warn=False),
                **{key: value for key, value in written.items() if is_spark_name(key)}}
    return {key: _as_text(value) for key, value in settings.items() if value is not None}


def _as_text(value: Any) -> str:
    """A setting's value from a YAML file as ``--conf KEY=VALUE`` gives it: a list
    comma-separated, a boolean as true or false.

    >>> _as_text(["a", "b"]), _as_text(True), _as_text(2.5)
    ('a,b', 'true', '2.5')
    """
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
