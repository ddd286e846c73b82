"""``vega submit``: run a job script with a master, its files and settings.

In client deploy mode (the only one for local masters) the driver runs in
this process: the job script is executed as ``__main__`` with ``sys.argv =
[JOB.py, ARGS...]``, and the Context it creates picks up ``--master``,
``--name`` and ``--conf`` from the environment this command prepares.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
from typing import Dict, List, Optional, Tuple

import click

from vega_runtime.config import DRIVER_PACKAGE_ENV, SUBMIT_CONF_ENV, Config
from vega_runtime.errors import (ConfigError, DriverExit, JobCancelled, MasterUnreachable,
                                 MasterURLError, PackageTooLarge, VegaError)
from vega_runtime.logs import setup_driver_logging, user_stack, user_traceback
from vega_runtime.master_url import parse_master
from vega_runtime.private_files import current_umask
from vega_runtime.processes import (DIE_WITH_ENV, ENDING_SIGNALS, HeldSignals, own_descendants,
                                    tie_from_env)
from vega_runtime.spark_settings import (SPARK_PROPERTIES_ENV, flag_properties, is_spark_name,
                                         spark_pairs, submitted_properties)

from . import driver_python
from .config_table import VERBOSE_OPTION, print_driver_config
from .errors import (EXIT_CANCELLED, EXIT_JOB_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE,
                     Cancelled, CommandError, Unreachable, UsageError, debug_requested,
                     error_hint, full_traceback, print_error, print_notice, pyspark_hint,
                     stdout_closed)
from .options import (ARCHIVES_OPTION, FILES_OPTION, JobCommand, cli_settings, job_options,
                      resolved_master, settings_file_settings, settings_from_flags)
from .staging import (archive_list, build_job_package, check_archives, check_distinct_names,
                      check_files, check_package_size, check_py_files, check_urls,
                      file_problem, file_properties, files_to_ship, local_and_urls, split_list,
                      stage_files, stage_py_files, staging_directory, with_urls)

PROGRESS_LISTENER = "vega_cli.progress:ProgressDisplay"


@click.command(cls=JobCommand, context_settings={"allow_interspersed_args": False})
@job_options
@click.option("--deploy-mode", type=click.Choice(["client", "cluster"]), default=None,
              show_default="client", help="Where the driver runs (or --conf "
              "spark.submit.deployMode, as spark-submit's).")
@click.option("--name", help="Application name.")
@FILES_OPTION
@ARCHIVES_OPTION
@click.option("--supervise", is_flag=True,
              help="Cluster deploy mode: restart the driver if it fails (up to 3 times).")
@click.option("--detach", is_flag=True,
              help="Cluster deploy mode: return once the driver is submitted.")
@VERBOSE_OPTION
@click.option("--debug", is_flag=True, help="Show Vega's internal tracebacks (as vega --debug).")
@click.option("--slurm", "slurm_spec", metavar="nodes=N,cores=C,memory=M,time=T",
              help="Run the job on a Vega cluster of its own in a Slurm batch job (sbatch) "
                   "and follow its output; also partition=, account=, qos=, constraint=.")
@click.argument("job", type=click.Path())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def submit(master: Optional[str], deploy_mode: Optional[str], name: Optional[str], py_files: str,
           files: str, archives: str, confs: Tuple[str, ...], config_file: Optional[str],
           executor_memory: Optional[str], executor_cores: Optional[int],
           total_executor_cores: Optional[int], supervise: bool, detach: bool,
           pyspark_compat: bool, verbose: bool, debug: bool, slurm_spec: Optional[str],
           job: str, args: Tuple[str, ...]) -> int:
    """Run JOB, a Python script, with ARGS (everything after JOB, options too), and exit
    with its outcome: 0 done, 1 failed, 2 a usage error, 3 the master unreachable, 130
    cancelled (Ctrl-C); the job's own sys.exit(N) gives N.

    \b
    vega submit jobs/wordcount.py data/sample.txt
    vega submit --master local[2] --py-files lib.zip --files lookup.csv job.py ARG...
    """
    debug = debug or debug_requested()
    environ, repeated = dict(os.environ), driver_python.quiet_repeated_warnings()
    by_master = _tie_to_starter()
    given, given_properties = _master_given_confs()
    deploy_mode, confs = _deploy_mode(deploy_mode, confs)  # (its SparkConf() says which ran)
    if slurm_spec is not None and (deploy_mode == "cluster" or supervise or detach):
        raise UsageError("--deploy-mode cluster, --supervise and --detach are not taken with "
                         "--slurm: its driver runs in the batch job, which this command "
                         "follows until it ends",
                         "Leave them out: Ctrl-C cancels the batch job (scancel).")
    spark_confs = spark_pairs(confs)  # as given (and the flags): the job's SparkConf() has them
    confs = settings_from_flags(given + confs, executor_memory, executor_cores,
                                total_executor_cores, pyspark_compat)
    cli_conf = _resolve_options(master, name, confs, config_file, job, deploy_mode)
    resolved = Config.load(config_file=config_file, cli=cli_conf)
    given_py_files, given_files = py_files, files  # (URLs among them: the Context's)
    py_files, files, for_context = files_to_ship(py_files, files, resolved)
    spark_confs += flag_properties(resolved["vega.master"], executor_memory, executor_cores,
                                   total_executor_cores)  # (they win)
    _check_syntax(job)
    check_py_files(py_files)
    check_files(files)
    check_distinct_names(py_files, files)
    # an --archives URL (hdfs://nn/env.tgz#env) is the driver's Context's to add, as the
    # setting's are (spark-submit takes URLs)
    archives, archive_urls = (",".join(part) for part in local_and_urls(archives))
    if deploy_mode == "cluster":
        if archives or archive_urls:  # the flag's replace the settings' (as in client mode)
            cli_conf["vega.archives"] = archive_urls
        else:
            archives = _packed_from_settings(resolved["vega.archives"], cli_conf)
    archive_items = archive_list(archives, files)
    if (archive_items or archive_urls) and deploy_mode != "cluster":
        # the driver's Context adds them; a driver the master runs, its package's (its
        # --archives) and the URLs its submitter left to it (_packed_from_settings)
        from vega_runtime.io.files import is_url

        left = split_list(cli_conf.get("vega.archives", "")) if by_master else []
        cli_conf["vega.archives"] = ",".join(archive_items + split_list(archive_urls)
                                             + [a for a in left if is_url(a)])
    if slurm_spec is not None:  # (before they are fetched)
        flag_urls = local_and_urls(f"{given_py_files},{given_files}")[1] + \
            split_list(archive_urls)
        if flag_urls:
            raise UsageError(f"URLs in --py-files, --files and --archives are not taken with "
                             f"--slurm ({', '.join(flag_urls)})",
                             "Add them in the job with sc.add_py_file(URL), sc.add_file(URL) "
                             "or sc.add_archive(URL).")
    check_urls({"--py-files": local_and_urls(given_py_files)[1],
                "--files": local_and_urls(given_files)[1],
                "--archives": split_list(archive_urls)}, resolved, deploy_mode != "cluster")
    if slurm_spec is not None:
        check_archives(archives)  # (here: the batch job could fail on it much later)
        from .slurm_submit import submit_to_slurm

        return submit_to_slurm(slurm_spec, master, job, args, confs, name, config_file,
                               py_files, files, verbose, archives)
    if deploy_mode == "cluster":
        driver_python.check_for_cluster(resolved, environ, archive_items)
    else:  # (a driver the master runs: by its settings alone)
        python, source = driver_python.configured(resolved, environ, by_master)
        driver_python.become(python, source, os.getcwd(), archive_items, environ, by_master)
    driver_python.settled(repeated)
    if verbose:
        print_driver_config(config_file, cli_conf)
    cli_conf.update(for_context)  # (the table shows the files as given)
    if (supervise or detach) and deploy_mode != "cluster":
        raise UsageError("--supervise and --detach need --deploy-mode cluster")
    if deploy_mode == "cluster" or _is_cluster(cli_conf, config_file):
        check_package_size(job, py_files, files,
                           archive_items if deploy_mode == "cluster" else [],
                           resolved["vega.package.max_size"])
    check_archives(archives)
    # from here on, files are made: a kill or the terminal closed stops the command as
    # Ctrl-C does, and they go (the default action would leave them in $TMPDIR)
    for signum in ENDING_SIGNALS:
        signal.signal(signum, DriverExit.raise_for)
    if deploy_mode == "cluster":
        with staging_directory("vega-submit-") as staging:
            return _run_in_cluster(job, list(args), cli_conf, config_file, py_files, files,
                                   staging, supervise, detach, archive_items, spark_confs)
    try:
        with staging_directory("vega-submit-") as staging:
            extra_paths = stage_py_files(py_files, staging)
            files_dir = stage_files(files, staging, py_files)
            if _is_cluster(cli_conf, config_file):
                # a cluster-mode driver's executors run the package its submitter uploaded
                # (and said how big it is), as the master holds it: not built again
                held = os.environ.get(DRIVER_PACKAGE_ENV, "") if by_master else ""
                cli_conf["vega.submit.package"] = held or build_job_package(
                    job, py_files, files, staging, not by_master)
            properties = submitted_properties(
                Config.load(config_file=config_file, cli=cli_conf)["vega.master"],
                cli_conf["vega.app.name"], "client",
                [*given_properties, *_spark_pairs_of_file(config_file), *spark_confs,
                 *file_properties(with_urls(py_files, for_context, "vega.py_files"),
                                  with_urls(files, for_context, "vega.files"),
                                  ",".join(filter(None, [archives, archive_urls])))])
            return _run_driver(job, list(args), cli_conf, config_file, extra_paths, files_dir,
                               debug, properties)
    except DriverExit as exc:  # while the job's files were staged
        return _stopped(exc)


def _packed_from_settings(archives: str, cli_conf: dict) -> str:
    """Cluster deploy mode: the local archives of ``vega.archives`` (Spark's
    ``spark.archives``, from ``--conf`` or ``--config``), which travel in the job package as
    ``--archives``' do, as spark-submit takes the property where the flag is not given (the
    driver, on the master's host, could not read them: it failed after the upload); the
    URLs (``hdfs://``) are left to the driver's Context to add."""
    from vega_runtime.io.files import is_url

    items = split_list(archives)
    if any(not is_url(item) for item in items):
        cli_conf["vega.archives"] = ",".join(item for item in items if is_url(item))
    return ",".join(item for item in items if not is_url(item))


def _spark_pairs_of_file(config_file: Optional[str]) -> List[Tuple[str, str]]:
    """The Spark settings of the --config file as written, which the job's SparkConf() has
    under the --conf ones (spark-submit's properties file's)."""
    return [(key, value) for key, value in settings_file_settings(config_file).items()
            if is_spark_name(key)]


def _tie_to_starter() -> bool:
    """A cluster-mode driver (started by the master with ``VEGA_DIE_WITH_PID``) dies with
    the master and takes everything its job started with it; whether this is one."""
    if DIE_WITH_ENV not in os.environ:
        return False
    if not tie_from_env():
        raise Unreachable("the master that started this driver is gone")
    own_descendants()
    return True


def _deploy_mode(flag: Optional[str], confs: Tuple[str, ...]) -> Tuple[str, Tuple[str, ...]]:
    """``--deploy-mode``, else spark-submit's ``--conf spark.submit.deployMode``, else client;
    and the ``--conf`` pairs but that one, which names no setting of Vega's. (A driver the
    master runs has it among the settings it is given, not on its command line.)"""
    named, rest = None, []
    for pair in confs:
        key, _, value = pair.partition("=")
        if key.strip() == "spark.submit.deployMode":
            named = value.strip()
        else:
            rest.append(pair)
    if named is not None and named not in ("client", "cluster"):
        raise UsageError(f"--conf: spark.submit.deployMode must be client or cluster, not "
                         f"{named!r}")
    return flag or named or "client", tuple(rest)


def _resolve_options(master, name, confs, config_file, job, deploy_mode) -> dict:
    try:
        cli_conf = cli_settings(master, confs)
        if name is not None:
            from vega_runtime.config_values import parse_name

            try:
                cli_conf["vega.app.name"] = parse_name(name)
            except ValueError as exc:  # named as the flag given, as --executor-memory's
                raise ConfigError("--name", "vega.app.name", str(exc)) from None
        resolved = Config.load(config_file=config_file, cli=cli_conf)
        spec = resolved_master(resolved)
    except (ConfigError, MasterURLError) as exc:
        raise UsageError(str(exc), error_hint(exc))
    if deploy_mode == "cluster" and spec.kind != "vega":
        raise UsageError(f"--deploy-mode cluster needs a vega://host:port master, not {spec.url!r}",
                         "Run local masters in client mode (the default).")
    problem = file_problem(job)
    if problem:
        raise _no_job(job, problem)
    if "vega.app.name" not in cli_conf:
        cli_conf["vega.app.name"] = os.path.splitext(os.path.basename(job))[0]
    return cli_conf


def _no_job(job: str, problem: str) -> UsageError:
    """The error of a JOB that is no Python script file (``file_problem``'s ``problem``)."""
    main = os.path.join(job, "__main__.py")
    if os.path.isdir(job):
        return UsageError(f"job {job!r} is a directory, not a Python script",
                          f"Give the path of its script: vega submit {main}" if
                          os.path.isfile(main) else _JOB_EXAMPLE)
    if problem.startswith("cannot be read"):
        hint = "Make it readable to this account (chmod), or submit a copy of it."
    elif problem.endswith("not a regular file"):  # vega submit <(...), /dev/stdin
        hint = "Save the script to a file and submit that file (it is read more than once)."
    else:
        hint = _JOB_EXAMPLE
    return UsageError(f"job file {job!r} {problem}", hint)


_JOB_EXAMPLE = "Give the path of a Python script, e.g. vega submit jobs/wordcount.py data/sample.txt"


def _run_in_cluster(job: str, args: List[str], cli_conf: dict, config_file: Optional[str],
                    py_files: str, files: str, staging: str, supervise: bool, detach: bool,
                    archives: List[str], spark_confs: List[Tuple[str, str]]) -> int:
    """Cluster deploy mode: the master runs the driver; stay attached to its output.  The
    archives travel in the package, and the master gives them to the driver's --archives;
    the ``--conf spark.*`` pairs as given travel with its settings, for its SparkConf()."""
    from vega_runtime.net.messages import DriverSubmitted, KillApplication, SubmitDriver
    from vega_runtime.packaging import Package, sha256_of, upload

    from .apps import follow_run, master_connection

    conf = Config.load(config_file=config_file, cli=cli_conf)
    # the secret named as a driver's is (--conf vega.secret.file), else VEGA_SECRET_FILE's...
    url, secret_file = conf["vega.master"], conf["vega.secret.file"] or None
    _warn_of_relative_paths(args)
    path = build_job_package(job, py_files, files, staging, archives=archives)
    package = Package(path, sha256_of(path), os.path.getsize(path))
    patience = conf["vega.master.reconnect_timeout"]  # for each of the master's replies
    conn = master_connection(url, secret_file)
    try:
        upload(conn, package, patience)
    except TimeoutError:
        raise _silent_master(url, "the job package's upload", patience) from None
    finally:
        conn.close()
    # a Ctrl-C (or kill) from the submission on waits for the master's reply, and then kills
    # the driver it names: landing before the reply, it left the driver running, unnamed
    held = HeldSignals()
    conn = master_connection(url, secret_file)
    try:
        settings = {**settings_file_settings(config_file), **cli_conf, **dict(spark_confs),
                    "spark.submit.deployMode": "cluster",
                    "vega.submit.umask": f"{current_umask():03o}"}
        held.hold()
        conn.send(SubmitDriver(cli_conf["vega.app.name"], "job/" + os.path.basename(job), args,
                               json.dumps(settings), package.sha256, supervise))
        reply = conn.recv_within(patience)
    except TimeoutError:
        held.release()
        raise _silent_master(url, "the driver's submission", patience, driver=True) from None
    except KeyboardInterrupt:  # a second Ctrl-C, which forces
        raise Cancelled("interrupted as the master took the driver, which may be running",
                        f"See it with: vega status --master {url}; kill it with: vega kill "
                        f"--master {url} DRIVER_ID") from None
    except BaseException:
        held.release()
        raise
    finally:
        conn.close()
    if not isinstance(reply, DriverSubmitted):
        held.release()
        raise CommandError(f"the master did not accept the driver: {reply}")
    print_notice(f"vega: driver {reply.driver_id} submitted to {url}")
    try:
        held.release()  # a Ctrl-C held since the submission lands here: the driver is killed
        if detach:
            print_notice(f"follow it with: vega logs --follow --master {url} {reply.driver_id}",
                         style="dim")
            return EXIT_OK
        end = follow_run(lambda: master_connection(url, secret_file), url, reply.driver_id,
                         conf["vega.master.reconnect_timeout"])
        if end.reason:  # it never ran, or the master stopped: nothing above says why
            print_notice(f"vega: driver {reply.driver_id} "
                         f"{'was killed' if end.state == 'killed' else 'failed'}: {end.reason}")
        if end.state == "killed":
            return EXIT_CANCELLED
        if end.exit_code < 0:  # a signal ended it (the OOM killer's SIGKILL, say): 128+N
            print_notice(f"vega: driver {reply.driver_id} was ended by "
                         f"{_signal_name(-end.exit_code)}")
            return 128 - end.exit_code
        return end.exit_code
    except (KeyboardInterrupt, DriverExit) as exc:  # Ctrl-C, or SIGTERM/SIGHUP as Ctrl-C
        try:
            kill = master_connection(url, secret_file)
            try:
                kill.send(KillApplication(reply.driver_id))
                kill.recv_within(patience)
            finally:
                kill.close()
        except (OSError, VegaError) as away:  # while following it again after a restart
            print_notice(f"vega: driver {reply.driver_id} was not killed: the master is "
                         f"away ({away}); kill it once it is back: vega kill --master {url} "
                         f"{reply.driver_id}", style="yellow")
            return exc.code if isinstance(exc, DriverExit) else EXIT_CANCELLED
        if isinstance(exc, DriverExit):
            print_notice(f" ({signal.Signals(exc.signum).name})",
                         head=f"vega: driver {reply.driver_id} killed", head_style="bold yellow")
            return exc.code
        print_notice(" (Ctrl-C)", head=f"vega: driver {reply.driver_id} killed",
                     head_style="bold yellow")
        return EXIT_CANCELLED


def _silent_master(url: str, what: str, waited: float, driver: bool = False) -> Unreachable:
    """The error of a master that took ``what`` and did not answer within ``waited``
    seconds (exit code 3, as for one that cannot be reached); ``driver``: it may start the
    driver later."""
    return Unreachable(f"the master at {url} accepted {what} but did not answer it within "
                       f"{waited:g}s (vega.master.reconnect_timeout): it is stopped, frozen or "
                       f"overloaded{', and may start the driver later' if driver else ''}",
                       f"See whether it answers{' and runs the driver' if driver else ''}: "
                       f"vega status --master {url}; a master slow to answer needs a longer "
                       f"vega.master.reconnect_timeout (--conf)")


def _warn_of_relative_paths(args: List[str]) -> None:
    """Cluster deploy mode: name the job's arguments that are relative paths to files here,
    which the driver, run on the master in a directory of its own, will not find ('cannot
    read .../apps/driver-.../data/sample.txt' was all it said, after the upload)."""
    here = [arg for arg in args if not os.path.isabs(arg) and os.path.exists(arg)]
    if here:
        are = "is a path" if len(here) == 1 else "are paths"
        print_notice(
            f"vega: warning: {', '.join(map(repr, here))} {are} relative to this directory, "
            "but a cluster-mode driver runs on the master in a directory of its own: give "
            "paths every worker can read (absolute, on a shared file system, or HDFS), or "
            "ship files with --files and open SparkFiles.get(name)", style="yellow")


def _is_cluster(cli_conf: dict, config_file: Optional[str]) -> bool:
    master = Config.load(config_file=config_file, cli=cli_conf)["vega.master"]
    return parse_master(master).kind in ("vega", "local-cluster")


def _check_syntax(job: str) -> None:
    """A job that is no Python source is refused before anything starts: a syntax error
    names its line, a zip archive (``python app.zip`` runs its ``__main__.py``; Spark's
    primary resource is a .py file, and so is Vega's) says where it goes instead."""
    with open(job, "rb") as fh:
        source = fh.read()
    try:
        compile(source, job, "exec")
        return
    except SyntaxError as exc:
        where = f"{job}:{exc.lineno}" if exc.lineno else job
        problem = CommandError(f"{where}: syntax error: {exc.msg}", (exc.text or "").rstrip())
    except ValueError as exc:  # Python 3.10's "source code string cannot contain null bytes"
        problem = CommandError(f"{job}: not Python source: {exc}")
    import zipfile  # (only for a job that does not compile: most do)

    if zipfile.is_zipfile(job):
        raise UsageError(f"job {job!r} is a zip archive, not a Python script",
                         f"Ship it with --py-files {job} and submit a script that imports "
                         "from it.")
    raise problem


def _master_given_confs() -> Tuple[Tuple[str, ...], List[Tuple[str, str]]]:
    """The ``--conf`` pairs a master gave this cluster-mode driver in ``DRIVER_CONF_ENV`` (not
    on its command line, where ``ps`` would show them to every user), taken out of the
    environment so that no process the job starts inherits them; and apart, the Spark
    properties among them, for the job's SparkConf() only (its submitter named those Vega
    has no use for already)."""
    from vega_runtime.config import DRIVER_CONF_ENV

    given = json.loads(os.environ.pop(DRIVER_CONF_ENV, None) or "{}")
    return (tuple(f"{key}={value}" for key, value in given.items() if not is_spark_name(key)),
            [(key, str(value)) for key, value in given.items() if is_spark_name(key)])


def _run_driver(job: str, args: List[str], cli_conf: dict, config_file: Optional[str],
                extra_paths: List[str], files_dir: str, debug: bool,
                properties: Dict[str, str]) -> int:
    """Run the job script in this process and map its outcome to an exit code;
    ``properties``: the Spark properties its SparkConf() has (``submitted_properties``)."""
    os.environ[SPARK_PROPERTIES_ENV] = json.dumps(properties)
    settings = dict(cli_conf)
    settings["vega.listeners"] = ",".join(filter(None, [settings.get("vega.listeners", ""),
                                                        PROGRESS_LISTENER]))
    os.environ[SUBMIT_CONF_ENV] = json.dumps(settings)
    os.environ["VEGA_FILES_DIR"] = files_dir
    if config_file:
        os.environ["VEGA_CONFIG"] = os.path.abspath(config_file)
    setup_driver_logging()  # Vega's own records; the root logger is the job's
    sys.argv = [job, *args]
    # the script's own directory, symbolic links resolved, as Python puts it first
    sys.path[:0] = [os.path.dirname(os.path.realpath(job))] + extra_paths
    if Config.load(config_file=config_file, cli=cli_conf)["vega.pyspark_compat"]:
        from vega_runtime.pyspark_alias import install

        install()
    try:  # a SIGTERM or SIGHUP (ENDING_SIGNALS) cancels the job as Ctrl-C does
        runpy.run_path(os.path.abspath(job), run_name="__main__")
        sys.stdout.flush()  # the job's last prints: a closed pipe shows here, not at exit
        return EXIT_OK
    except DriverExit as exc:
        return _stopped(exc)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, lambda *_: os._exit(EXIT_CANCELLED))  # second Ctrl-C forces
        print_notice(" (Ctrl-C); running tasks were stopped", head="vega: job cancelled",
                     head_style="bold yellow")
        return EXIT_CANCELLED
    except JobCancelled as exc:
        print_notice("", head=f"vega: {exc}", head_style="bold yellow")
        return EXIT_CANCELLED
    except PackageTooLarge as exc:  # the submission's mistake, as in cluster deploy mode
        print_error(str(exc), exc.hint)
        return EXIT_USAGE
    except VegaError as exc:
        _report(job, exc, debug)
        return EXIT_UNREACHABLE if isinstance(exc, MasterUnreachable) else EXIT_JOB_FAILED
    except Exception as exc:  # the user's driver code raised
        if stdout_closed(exc):  # vega submit job.py | head -1: ends quietly, as head's input
            raise
        print_notice(f"the job {job} raised {type(exc).__name__}: {exc}", head="vega: error: ",
                     head_style="bold red")
        print_notice(user_traceback(exc) if not debug else full_traceback(exc))
        hint = pyspark_hint(exc, "submit")
        if hint:
            print_notice(hint, style="dim")
        return EXIT_JOB_FAILED


def _stopped(exc: DriverExit) -> int:
    print_notice(": the job was stopped", head=f"vega: {signal.Signals(exc.signum).name}",
                 head_style="bold yellow")
    return exc.code


def _report(job: str, exc: VegaError, debug: bool) -> None:
    print_notice(str(exc), head="vega: job failed: ", head_style="bold red")
    frames = user_stack(exc)
    if frames:
        where = frames[-1]
        print_notice(f'(raised by the driver at "{where.filename}", line {where.lineno}, '
                     f"in {where.name})", style="dim")
    if debug:
        print_notice(full_traceback(exc))


def _signal_name(number: int) -> str:
    """``SIGKILL`` for 9, ``signal 99`` for a number no signal has."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _exit_code(code) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_JOB_FAILED
