"""``vega``: one click group; each command lives in its own module, imported
only when that command runs (so ``vega master`` does not load ``submit``)."""

from __future__ import annotations

import sys
from typing import List, Optional, Tuple, Type

try:  # a Ctrl-C while the command loads (its first ~40 ms) ends it as a later one does
    from vega_runtime.processes import take_lost_signals_again

    # first: a Ctrl-C or kill whose handler runs in a weakref callback (importlib's module
    # locks' end every import, and the command imports a lot) is not lost
    take_lost_signals_again()

    import os

    if os.environ.get("VEGA_DRIVER_OUTPUT"):  # a cluster-mode driver: its output in order
        from vega_runtime.deploy.driver_output import install_from_env

        install_from_env()

    import click

    from vega_runtime._version import __version__
    from vega_runtime.lazy_imports import load_entry_point
    from vega_runtime.errors import (ConfigError, JobCancelled, MasterUnreachable,
                                     MasterURLError, PackageTooLarge, VegaError)

    from .errors import (EXIT_CANCELLED, EXIT_JOB_FAILED, EXIT_UNREACHABLE, EXIT_USAGE,
                         Cancelled, Unreachable, UsageError, error_hint, full_traceback,
                         print_error, stdout_closed)
except KeyboardInterrupt:
    sys.stderr.write("vega: error: interrupted\n")  # as print_error says it, not yet loaded
    raise SystemExit(130) from None


#: command name -> "module:attribute" defining it
COMMANDS = {
    "submit": "vega_cli.submit:submit",
    "shell": "vega_cli.shell:shell",
    "master": "vega_cli.daemons:master",
    "worker": "vega_cli.daemons:worker",
    "status": "vega_cli.status:status",
    "logs": "vega_cli.apps:logs",
    "kill": "vega_cli.apps:kill",
    "start-master": "vega_cli.background:start_master",
    "stop-master": "vega_cli.background:stop_master",
    "start-cluster": "vega_cli.cluster:start_cluster",
    "stop-cluster": "vega_cli.cluster:stop_cluster",
    "start-workers": "vega_cli.cluster:start_workers",
    "stop-workers": "vega_cli.cluster:stop_workers",
    "history": "vega_cli.history:history",
    "slurm-cluster": "vega_cli.slurm_cluster:slurm_cluster",
    "slurm-worker": "vega_cli.slurm_cluster:slurm_worker",
}


#: exception class -> exit code, the first match wins: the one place a failure becomes a code
EXIT_CODES: List[Tuple[Type[BaseException], int]] = [
    (UsageError, EXIT_USAGE),
    (ConfigError, EXIT_USAGE),
    (MasterURLError, EXIT_USAGE),
    (PackageTooLarge, EXIT_USAGE),
    (Unreachable, EXIT_UNREACHABLE),
    (MasterUnreachable, EXIT_UNREACHABLE),
    (Cancelled, EXIT_CANCELLED),
    (JobCancelled, EXIT_CANCELLED),
    (KeyboardInterrupt, EXIT_CANCELLED),
    (VegaError, EXIT_JOB_FAILED),
    (Exception, EXIT_JOB_FAILED),
]


def exit_code_for(exc: BaseException) -> Optional[int]:
    """The exit code of a command that raised ``exc`` (None: not an error to translate,
    such as click's own exits, or the broken pipe of a stdout its reader closed, which click
    ends quietly with code 1, as Python's note on SIGPIPE advises).

    >>> exit_code_for(UsageError("--supervise needs --deploy-mode cluster"))
    2
    >>> exit_code_for(ConfigError("", "vega.task.max_attempts", "must be at least 1"))
    2
    >>> exit_code_for(KeyboardInterrupt())
    130
    >>> exit_code_for(SystemExit(0)) is None
    True
    """
    if isinstance(exc, (click.exceptions.Exit, click.ClickException, click.Abort)) or \
            stdout_closed(exc):
        return None
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return None


def report(exc: BaseException, debug: bool) -> None:
    """Say what went wrong on stderr: one message and a hint; with --debug, the traceback
    first.  An exception that is no VegaError is a bug in Vega: it says so."""
    if debug:
        print(full_traceback(exc), end="", file=sys.stderr)
    if isinstance(exc, KeyboardInterrupt):
        print_error("interrupted")
    elif isinstance(exc, VegaError):
        print_error(str(exc), error_hint(exc))
    else:
        print_error(f"internal error: {type(exc).__name__}: {exc}",
                    "" if debug else "Run again with vega --debug for the traceback, and "
                    "please report it.")


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern),
    and whose commands end in one place: an exception becomes a message and an exit code
    (``EXIT_CODES``), a returned int the exit code."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        target = COMMANDS.get(name)
        if target is None:
            return None
        return load_entry_point(target)

    def resolve_command(self, ctx: click.Context, args: List[str]):
        """A misspelt command is refused naming the nearest one, as click names the nearest
        option (``vega sumbit``: "Did you mean 'submit'?")."""
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name.lower(), list(COMMANDS), n=1)  # (SUBMIT)
            if close:
                ctx.fail(f"No such command {name!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: click.Context, args: List[str]):
        """An option of a command given before it (``vega --master local submit job.py``) is
        refused saying to give it after the command (click said "No such option" alone)."""
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            name = next((arg for arg in args if arg in COMMANDS), None)
            command = self.get_command(ctx, name) if name else None
            if command is None or not any(exc.option_name in param.opts + param.secondary_opts
                                          for param in command.params):
                raise
            raise click.NoSuchOption(exc.option_name, f"No such option {exc.option_name!r} "
                                     f"before the command: it is vega {name}'s, given after it "
                                     f"(vega {name} {exc.option_name} ...).", ctx=ctx) from None

    def invoke(self, ctx: click.Context):
        try:
            result = super().invoke(ctx)
        except BaseException as exc:
            code = exit_code_for(exc)
            if code is None:
                raise
            report(exc, bool(ctx.params.get("debug")))
            ctx.exit(code)
        if isinstance(result, int) and result:
            ctx.exit(result)
        return result


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vega")
@click.option("--debug", is_flag=True, help="Print the full traceback of an error.")
def cli(debug: bool) -> None:
    """Vega: a Spark-style distributed data engine in Python."""
    warn_of_unknown_variables()


#: whether this process warned of its unknown VEGA_* variables already
_variables_checked = False


def warn_of_unknown_variables() -> None:
    """Say once per process, on stderr, which ``VEGA_*`` variables of its environment Vega
    reads none of (``VEGA_MASTR``: a misspelling, ignored), naming the closest it reads."""
    global _variables_checked
    if _variables_checked:
        return
    _variables_checked = True
    import os

    from vega_runtime.environment import unknown_variable_warnings

    from .errors import print_notice

    for line in unknown_variable_warnings(os.environ):
        print_notice(f"vega: {line}", style="yellow")


def main(argv: Optional[List[str]] = None) -> None:
    """Run ``vega ARGV`` (default: this process's arguments); exits with its code."""
    cli(args=argv, prog_name="vega")


if __name__ == "__main__":
    main()
