"""``vega shell``: an interactive Python session with a running Context, as ``pyspark`` and
``spark-shell`` give their users.

``sc`` and ``ctx`` name the same Context; stages show the progress ``vega submit`` shows
(its listener, :class:`vega_cli.progress.ProgressDisplay`).  Ctrl-C while a job runs
cancels that job (``Context.cancel_all_jobs``: the job stops at a safe point within a
fraction of a second and its running tasks are killed; a second Ctrl-C interrupts the
driver at once) and the prompt comes back; at the prompt Ctrl-C clears the line, as in
Python's REPL.  Leaving (Ctrl-D, ``exit()``) stops the Context and its executors.

IPython is used when it is installed and stdin is a terminal (``--plain`` says no);
otherwise Python's ``code.InteractiveConsole``.  On a terminal either runs the file
``PYTHONSTARTUP`` names first, in the session's namespace, as pyspark's shell does.  With
stdin not a terminal (a pipe, a file) no prompts are printed, so ``echo
'print(sc.parallelize(range(10)).sum())' | vega shell`` prints just ``45``; the banner and
errors go to stderr.

The session runs in the Python the application names, as ``vega submit``'s driver does
(``driver_python``: ``PYSPARK_DRIVER_PYTHON=/opt/env/bin/python``, say);
``PYSPARK_DRIVER_PYTHON=ipython`` asks for IPython (refused where it is not installed), and
Jupyter and ``PYSPARK_DRIVER_PYTHON_OPTS`` are refused (``driver_python.shell_front_end``).
"""

from __future__ import annotations

import code
import json
import os
import platform
import signal
import sys
import threading
from typing import Dict, Optional, Tuple

import click

from vega_runtime.config import Config
from vega_runtime.errors import (ConfigError, DriverExit, JobCancelled, MasterUnreachable,
                                 MasterURLError, VegaError)
from vega_runtime.logs import setup_driver_logging
from vega_runtime.master_url import parse_master
from vega_runtime.processes import ENDING_SIGNALS
from vega_runtime.scheduler.listener import JobListener
from vega_runtime.spark_settings import (SPARK_PROPERTIES_ENV, flag_properties, is_spark_name,
                                         spark_pairs, submitted_properties)

from . import driver_python
from .config_table import VERBOSE_OPTION, print_driver_config
from .errors import (EXIT_JOB_FAILED, EXIT_OK, Cancelled, CommandError, Unreachable, UsageError,
                     debug_requested, error_hint, full_traceback, pyspark_hint, stdout_closed)
from .options import (ARCHIVES_OPTION, FILES_OPTION, JobCommand, cli_settings, job_options,
                      resolved_master, settings_file_settings, settings_from_flags)
from .staging import (archive_list, check_archives, check_distinct_names, check_py_files,
                      check_urls, file_properties, files_to_ship, local_and_urls, split_list,
                      staging_directory, with_urls)

#: the application name when --name is not given (PySpark's is "PySparkShell")
SHELL_APP_NAME = "vega-shell"


@click.command("shell", cls=JobCommand, context_settings={"allow_extra_args": True})
@job_options
@click.option("--name", help=f"Application name (default: {SHELL_APP_NAME}).")
@FILES_OPTION
@ARCHIVES_OPTION
@VERBOSE_OPTION
@click.option("--plain", is_flag=True, help="Python's standard console even if IPython is installed.")
@click.option("--debug", is_flag=True,
              help="Show Vega's internal frames in tracebacks (as vega --debug).")
def shell(master: Optional[str], name: Optional[str], files: str, archives: str, py_files: str,
          confs: Tuple[str, ...],
          config_file: Optional[str], executor_memory: Optional[str],
          executor_cores: Optional[int], total_executor_cores: Optional[int],
          pyspark_compat: bool, verbose: bool, plain: bool, debug: bool) -> int:
    """An interactive Python session with a Context as `sc` (and `ctx`)."""
    script = click.get_current_context().args
    if script:  # pyspark job.py: as pyspark since Spark 2.0, said with what to run instead
        raise UsageError(f"vega shell runs no script ({' '.join(script)})",
                         f"Run it with: vega submit {' '.join(script)}; or pipe statements "
                         f"into vega shell.")
    debug = debug or debug_requested()
    environ, repeated = dict(os.environ), driver_python.quiet_repeated_warnings()
    front_end = driver_python.shell_front_end(environ)
    spark_confs = spark_pairs(confs)  # as given: SparkConf() in the session has them
    confs = settings_from_flags(confs, executor_memory, executor_cores, total_executor_cores,
                                pyspark_compat)
    cli_conf = _resolve_options(master, name, confs, config_file)
    resolved = Config.load(config_file=config_file, cli=cli_conf)
    check_urls({"--py-files": local_and_urls(py_files)[1], "--files": local_and_urls(files)[1],
                "--archives": local_and_urls(archives)[1]}, resolved, fetch=True)
    py_files, files, for_context = files_to_ship(py_files, files, resolved)
    archives, archive_urls = (",".join(part) for part in local_and_urls(archives))
    master_url = resolved["vega.master"]
    os.environ[SPARK_PROPERTIES_ENV] = json.dumps(submitted_properties(
        master_url, cli_conf["vega.app.name"], "client",
        [pair for pair in settings_file_settings(config_file).items() if is_spark_name(pair[0])]
        + spark_confs + flag_properties(
            master_url, executor_memory, executor_cores, total_executor_cores)
        + file_properties(with_urls(py_files, for_context, "vega.py_files"),
                          with_urls(files, for_context, "vega.files"),
                          ",".join(filter(None, [archives, archive_urls])))))
    check_py_files(py_files)
    check_distinct_names(py_files, files)
    archive_items = archive_list(archives, files)
    check_archives(archives)
    if archive_items or archive_urls:  # the session's Context adds them (URLs: hdfs://)
        cli_conf["vega.archives"] = ",".join(archive_items + split_list(archive_urls))
    python, source = driver_python.configured(resolved, {  # (ipython names no Python)
        k: v for k, v in environ.items() if front_end is None or k != "PYSPARK_DRIVER_PYTHON"},
        by_master=False)
    driver_python.become(python, source, os.getcwd(), archive_items, environ, False)
    if front_end is not None and not plain and not _have_ipython():
        # (with it, a terminal's session is IPython's)
        raise UsageError(f"PYSPARK_DRIVER_PYTHON={front_end} asks for IPython, which this "
                         f"Python ({sys.executable}) lacks",
                         "Install it there (pip install ipython), or unset "
                         "PYSPARK_DRIVER_PYTHON for Python's own console.")
    driver_python.settled(repeated)
    if verbose:
        print_driver_config(config_file, cli_conf)
    cli_conf.update(for_context)  # (the table shows the files as given)
    # from here on, files are made: a kill or the terminal closed ends the session as exit()
    # does, and they go (the default action would leave them, and a starting Context's, in
    # $TMPDIR)
    previous = {signum: signal.signal(signum, DriverExit.raise_for)
                for signum in ENDING_SIGNALS}
    try:
        with staging_directory("vega-shell-") as staging:
            return _run_shell(cli_conf, config_file, py_files, files, staging, plain, debug)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _resolve_options(master: Optional[str], name: Optional[str], confs: Tuple[str, ...],
                     config_file: Optional[str]) -> dict:
    """The command line's settings (checked: a bad one is a usage error before anything starts)."""
    try:
        cli_conf = {"vega.app.name": name or SHELL_APP_NAME, **cli_settings(master, confs)}
        resolved_master(Config.load(config_file=config_file, cli=cli_conf))
    except (ConfigError, MasterURLError) as exc:
        raise UsageError(str(exc), error_hint(exc))
    return cli_conf


def _run_shell(cli_conf: dict, config_file: Optional[str], py_files: str, files: str,
               staging: str, plain: bool, debug: bool) -> int:
    from vega_runtime.files import FILES_DIR_ENV

    from .staging import build_job_package, split_list, stage_files, stage_py_files

    setup_driver_logging()  # Vega's own records; the root logger is the job's
    sys.path[:0] = [""] + stage_py_files(py_files, staging)  # "": the cwd, as Python's REPL
    os.environ[FILES_DIR_ENV] = stage_files(files, staging, py_files)
    conf = Config.load(config_file=config_file, cli=cli_conf)
    if parse_master(conf["vega.master"]).kind in ("vega", "local-cluster") and \
            (split_list(py_files) or split_list(files)):
        stub = os.path.join(staging, "vega-shell.py")  # a package names one job script
        with open(stub, "w") as fh:
            fh.write("# the interactive session of `vega shell`\n")
        cli_conf["vega.submit.package"] = build_job_package(stub, py_files, files, staging)
    if conf["vega.pyspark_compat"]:
        from vega_runtime.pyspark_alias import install

        install()
    ctx, watch = _start_context(cli_conf, config_file)
    interactive = sys.stdin is not None and sys.stdin.isatty()  # None: stdin was closed
    from vega_runtime import Context

    namespace = {"__name__": "__main__", "__doc__": None, "sc": ctx, "ctx": ctx,
                 "Context": Context, "SparkContext": type(ctx)}
    if conf["vega.pyspark_compat"]:  # as in PySpark's shell, `spark` is a session on `sc`
        from vega_runtime.pyspark_compat.sql import SparkSession

        namespace["spark"] = SparkSession.builder.getOrCreate()
    ctrl_c = CtrlC(ctx, watch)
    previous = {signum: signal.getsignal(signum)
                for signum in ENDING_SIGNALS + (signal.SIGINT,)}
    try:
        print(banner(ctx, conf, sorted(set(namespace) - {"__name__", "__doc__"})),
              file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, ctrl_c)
        if interactive and not plain and _have_ipython():
            return _run_ipython(namespace, watch, ctrl_c, debug)
        return _run_console(namespace, watch, interactive, debug)
    except SystemExit as exc:  # DriverExit (ENDING_SIGNALS), from a job or IPython's prompt
        return _exit_code(exc.code)
    finally:
        for signum in previous:  # stopping must not be cut short
            signal.signal(signum, signal.SIG_IGN)
        try:
            ctx.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _start_context(cli_conf: dict, config_file: Optional[str]):
    from vega_runtime import Context

    from .progress import ProgressDisplay

    watch = JobWatch()
    master = Config.load(config_file=config_file, cli=cli_conf)["vega.master"]
    listeners = [ProgressDisplay(), watch]
    try:
        if Config.load(config_file=config_file, cli=cli_conf)["vega.pyspark_compat"]:
            from vega_runtime.pyspark_compat import SparkContext  # pyspark's shell's sc

            ctx = SparkContext._of_settings(cli_conf, config_file, listeners)
        else:
            ctx = Context(conf=cli_conf, config_file=config_file, listeners=listeners)
    except KeyboardInterrupt:
        raise Cancelled(f"interrupted while starting a Context on {master}")
    except MasterUnreachable as exc:
        raise Unreachable(f"could not start a Context on {master}: {exc}")
    except VegaError as exc:
        raise CommandError(f"could not start a Context on {master}: {exc}")
    except OSError as exc:
        raise Unreachable(f"could not start a Context on {master}: {exc}",
                          "Is the master running and the address right?")
    return ctx, watch


def banner(ctx, conf: Config, names) -> str:
    """What the shell says first: versions, master, application id, web UI, the names it
    defines, how to leave."""
    ui = _web_ui(ctx, conf)
    return "\n".join([
        f"Vega {ctx.version} shell (Python {platform.python_version()})",
        f"master {ctx.master}, application {ctx.application_id} ({ctx.app_name})",
        f"web UI: {ui}" if ui else "web UI: none (a local master has none)",
        f"defined: {', '.join(names)} (sc and ctx are the Context)",
        "Ctrl-C cancels a running job; Ctrl-D or exit() leaves.",
    ])


def _web_ui(ctx, conf: Config) -> Optional[str]:
    """The link that opens the web UI (signed in where the token can be had), or None."""
    cluster = getattr(ctx.backend, "owned_cluster", None)
    if cluster is not None:
        return cluster.ui_link
    if ctx.master_spec.kind == "vega":
        from vega_runtime.net.connection import resolve_secret_file

        from .status import web_ui_link

        return web_ui_link(ctx.master, resolve_secret_file(conf["vega.secret.file"])) \
            or ctx.ui_web_url
    return ctx.ui_web_url


# -- Ctrl-C ---------------------------------------------------------------------------------
class JobWatch(JobListener):
    """The jobs running, the main thread's among them, and whether the main thread's last
    one ended because of Ctrl-C. Jobs of several threads run at once: each starts in its
    caller's thread (``on_job_start``), and may end in another."""

    def __init__(self) -> None:
        #: reentrant: the SIGINT handler reads under it in the main thread, maybe while
        #: that thread holds it (a job starting)
        self.lock = threading.RLock()
        #: job id -> whether the main thread runs it
        self.running: Dict[int, bool] = {}
        #: Ctrl-C pressed while the main thread's job ran, until that job ends
        self.cancel_requested = False
        self.cancelled: Optional[int] = None  # the main thread's job Ctrl-C stopped, until reported

    @property
    def main_job(self) -> Optional[int]:
        """The job the main thread runs (the statement's), or None."""
        with self.lock:
            return next((job_id for job_id, main in self.running.items() if main), None)

    def on_job_start(self, job_id: int, description: str) -> None:
        main = threading.current_thread() is threading.main_thread()
        with self.lock:
            self.running[job_id] = main
            if main:
                self.cancel_requested, self.cancelled = False, None

    def on_job_end(self, job_id: int, error: Optional[BaseException]) -> None:
        with self.lock:
            if not self.running.pop(job_id, False):
                return  # another thread's: its own thread hears how it ended
            if self.cancel_requested and error is not None:
                self.cancelled = job_id
            self.cancel_requested = False


class CtrlC:
    """The shell's SIGINT handler.  The main thread's running job is cancelled through the
    Context (with every other thread's, as PySpark's handler calls ``cancelAllJobs``), so
    it stops at a safe point (never inside a half-written message to an executor); a
    second Ctrl-C, or one with the ``local`` master (whose tasks run in this thread),
    interrupts at once.  Without a job of the main thread, KeyboardInterrupt as always
    (other threads' jobs cancelled first)."""

    def __init__(self, ctx, watch: JobWatch):
        self.ctx = ctx
        self.watch = watch
        self.inline = ctx.master_spec.kind == "inline"

    def __call__(self, signum, frame) -> None:
        watch = self.watch
        if watch.main_job is None:
            # every thread's job, as PySpark's handler (cancelAllJobs, then KeyboardInterrupt):
            # one may have started without this watch hearing of it yet, as the status tracker
            # has (its listener runs first)
            self.ctx.cancel_all_jobs()
            raise KeyboardInterrupt
        first = not watch.cancel_requested
        watch.cancel_requested = True
        self.ctx.cancel_all_jobs()
        if not first or self.inline:
            raise KeyboardInterrupt


def describe_error(exc: BaseException, watch: JobWatch, debug: bool) -> str:
    """What the console prints for an exception of the user's statement: one line for a
    job that Ctrl-C cancelled, the user's frames (Vega's hidden) for anything else."""
    from vega_runtime.logs import user_traceback

    if isinstance(exc, (KeyboardInterrupt, JobCancelled)) and watch.cancelled is not None:
        job_id, watch.cancelled = watch.cancelled, None
        return f"KeyboardInterrupt: job {job_id} cancelled; its running tasks were stopped\n"
    if isinstance(exc, JobCancelled):
        return f"JobCancelled: {exc}\n"
    hint = pyspark_hint(exc, "shell")
    return (full_traceback(exc) if debug else user_traceback(exc)) + (hint and hint + "\n")


# -- the consoles ---------------------------------------------------------------------------
def not_utf8(source: str) -> str:
    """What is wrong with ``source`` if a line of it was not UTF-8 (its bytes read as lone
    surrogates, Python's ``surrogateescape``), else "".

    >>> not_utf8("x = 1\\nprint('caf\\udce9')")
    "line 2 of the statement is not UTF-8: byte 0xe9 at column 11 (the shell reads UTF-8: set the terminal's encoding to UTF-8, or write the character as an escape, \\\\xe9 in a string)"
    """
    for number, line in enumerate(source.split("\n"), 1):
        for column, char in enumerate(line, 1):
            if "\udc80" <= char <= "\udcff":
                byte = ord(char) - 0xDC00
                return (f"line {number} of the statement is not UTF-8: byte {byte:#04x} at "
                        f"column {column} (the shell reads UTF-8: set the terminal's encoding "
                        f"to UTF-8, or write the character as an escape, \\x{byte:02x} in a "
                        "string)")
    return ""


class VegaConsole(code.InteractiveConsole):
    """Python's console, quiet when not on a terminal, reporting errors as the shell does."""

    def __init__(self, namespace: dict, watch: JobWatch, interactive: bool, debug: bool):
        super().__init__(namespace, filename="<console>")
        self.watch = watch
        self.interactive = interactive
        self.debug = debug

    def raw_input(self, prompt: str = "") -> str:
        try:
            if sys.stdin is None:  # started with stdin closed (<&-): no input, as Python's
                raise EOFError
            return input(prompt if self.interactive else "")
        except EOFError:
            if self.buffer:  # input ended inside a block: run it, as a blank line would
                return ""
            raise

    def write(self, data: str) -> None:
        if data == "\n" and not self.interactive:  # the newline that ends a prompt line at EOF
            return
        sys.stderr.write(data)

    def runsource(self, source: str, filename: str = "<input>", symbol: str = "single") -> bool:
        undecodable = not_utf8(source)
        if undecodable:  # read with surrogateescape: compile() would say "surrogates not allowed"
            self.write(f"SyntaxError: {undecodable}\n")
            return False
        return super().runsource(source, filename, symbol)

    def runcode(self, code_) -> None:
        self.watch.cancelled = None
        super().runcode(code_)

    def showtraceback(self) -> None:
        kind, exc, tb = sys.exc_info()
        if stdout_closed(exc):  # vega shell | head -1: the session ends quietly, as submit
            raise exc
        sys.last_type, sys.last_value, sys.last_traceback = kind, exc, tb
        exc = exc.with_traceback(tb.tb_next if tb is not None else None)  # not runcode's frame
        self.write(describe_error(exc, self.watch, self.debug))


def _run_console(namespace: dict, watch: JobWatch, interactive: bool, debug: bool) -> int:
    if interactive:
        _enable_line_editing(namespace)
    console = VegaConsole(namespace, watch, interactive, debug)
    try:
        if interactive:
            _run_startup_file(console)
        console.interact(banner="", exitmsg="")
    except SystemExit as exc:  # exit(), quit(), sys.exit(code)
        return _exit_code(exc.code)
    return EXIT_OK


def _run_startup_file(console: "VegaConsole") -> None:
    """The file ``PYTHONSTARTUP`` names, run in the session's namespace before the first
    prompt, as Python's REPL and pyspark's shell run it (IPython runs it itself); its
    error is reported as a statement's."""
    path = os.environ.get("PYTHONSTARTUP")
    if not path or not os.path.isfile(path):
        return
    try:
        with open(path, "rb") as fh:
            startup = compile(fh.read(), path, "exec")
    except (OSError, SyntaxError, ValueError) as exc:
        console.write(f"vega: PYTHONSTARTUP {path}: {exc}\n")
        return
    console.runcode(startup)


def _enable_line_editing(namespace: dict) -> None:
    """Line editing, the session's history and tab completion of the namespace (Python's REPL
    also keeps ~/.python_history; this shell does not)."""
    try:
        import readline
        import rlcompleter
    except ImportError:
        return
    readline.set_completer(rlcompleter.Completer(namespace).complete)
    readline.parse_and_bind("tab: complete")


def _have_ipython() -> bool:
    import importlib.util

    return importlib.util.find_spec("IPython") is not None


def _run_ipython(namespace: dict, watch: JobWatch, ctrl_c: CtrlC, debug: bool) -> int:
    """IPython with the same namespace, Ctrl-C handling and error reports."""
    from IPython.core.autocall import ExitAutocall
    from IPython.terminal.ipapp import TerminalIPythonApp
    from traitlets.config import Config as IPythonConfig

    class ExitWithStatus(ExitAutocall):
        """IPython's ``exit`` and ``quit`` (also without parentheses), taking the exit status
        as Python's own do: ``exit(3)``; IPython's take no argument."""
        code = None

        def __call__(self, code=None):
            self.code = code
            self._ip.ask_exit()

    config = IPythonConfig()
    config.TerminalIPythonApp.display_banner = False
    config.TerminalInteractiveShell.confirm_exit = False
    app = TerminalIPythonApp.instance(config=config, user_ns=namespace)
    app.initialize(argv=[])
    ipython = app.shell
    ipython.exiter = ExitWithStatus(ipython)
    for name in ("exit", "quit"):
        ipython.user_ns[name] = ipython.user_ns_hidden[name] = ipython.exiter

    def report(shell, kind, value, tb, tb_offset=None):
        value = value.with_traceback(tb.tb_next if tb is not None else None)  # not run_code's
        print(describe_error(value, watch, debug), end="", file=sys.stderr)

    def before_cell(*_) -> None:
        watch.cancelled = None
        # prompt_toolkit takes SIGINT while it reads a line and gives back Python's default
        signal.signal(signal.SIGINT, ctrl_c)

    ipython.set_custom_exc((KeyboardInterrupt, VegaError), report)
    ipython.events.register("pre_run_cell", before_cell)
    app.start()
    return _exit_code(ipython.exiter.code)


def _exit_code(code_) -> int:
    if code_ is None:
        return EXIT_OK
    if isinstance(code_, int):
        return code_
    print(code_, file=sys.stderr)
    return EXIT_JOB_FAILED
