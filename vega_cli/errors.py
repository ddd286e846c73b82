"""The CLI's errors and exit codes.

A command that cannot do its job raises (one of the classes here, or any
``VegaError`` of the runtime); ``vega_cli.main`` turns the exception into one message
(``vega: error: ...`` and a hint) and an exit code, in one place (``main.EXIT_CODES``).
A command whose outcome is a code (a job's, a cluster's) returns it.
"""

from __future__ import annotations

import errno
import os
import shlex
import sys
from typing import TYPE_CHECKING

from vega_runtime.errors import VegaError

from .terminal import plain_line, surely_lines

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_CANCELLED = 130


class CommandError(VegaError):
    """A command could not do what it was asked: ``message``, and ``hint`` saying what to
    do next (printed below it).

    >>> str(CommandError("the master did not start", "see work/master/master.log"))
    'the master did not start'
    """

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message, hint)
        self.message, self.hint = message, hint

    def __str__(self) -> str:
        return self.message


class UsageError(CommandError):
    """The command line asks for something that cannot be (exit code 2)."""


class Unreachable(CommandError):
    """The master (or a host) cannot be reached (exit code 3)."""


class Cancelled(CommandError):
    """The user interrupted the command (exit code 130)."""


class RemoteError(VegaError):
    """A host could not be reached or a command failed; says which and what to do.
    ``answered``: the host did answer (its SSH host key was refused, the key named for it
    needs a passphrase, or a command there failed), so trying again once it answers is no
    advice."""

    def __init__(self, message: str, answered: bool = False):
        super().__init__(message)
        self.answered = answered


class HostKeyError(VegaError):
    """A host's SSH key is unknown or changed; says which key and what to do."""


class UnknownHostKey(HostKeyError):
    def __init__(self, name: str, key, known_hosts: str):
        super().__init__(name, key, known_hosts)
        self.name, self.key, self.known_hosts = name, key, known_hosts
        # the command recording the key must work as given: on a new account ~/.ssh
        # does not exist yet, and `>>` creates no directory
        folder = os.path.dirname(known_hosts)
        self.make_folder = f"mkdir -p -m 700 {shlex.quote(folder)} && " if (
            folder and not os.path.isdir(folder)) else ""

    def __str__(self) -> str:
        from .host_keys import _describe, _host_and_port

        host, port = _host_and_port(self.name)
        return (f"unknown SSH host key {_describe(self.key)} (not in {self.known_hosts}); "
                f"check that fingerprint with the host's administrator (on the host: "
                f"ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then record it with "
                f"'{self.make_folder}ssh-keyscan -p {port} {host} >> "
                f"{shlex.quote(self.known_hosts)}' or rerun with --accept-new-host-keys")


class HostKeyChanged(HostKeyError):
    def __init__(self, name: str, key, expected, known_hosts: str):
        super().__init__(name, key, expected, known_hosts)
        self.name, self.key, self.expected, self.known_hosts = name, key, expected, known_hosts

    def __str__(self) -> str:
        from .host_keys import _describe

        return (f"SSH HOST KEY CHANGED: the host offers {_describe(self.key)} but "
                f"{self.known_hosts} records {_describe(self.expected)}; this may be a "
                f"man-in-the-middle attack, so Vega will not connect (nor send the secret). "
                f"If the host was reinstalled, verify the new fingerprint with its "
                f"administrator, then remove the old entry with "
                f"'ssh-keygen -R \"{self.name}\" -f {self.known_hosts}'")


class HostKeyRevoked(HostKeyError):
    def __init__(self, name: str, key, known_hosts: str):
        super().__init__(name, key, known_hosts)
        self.name, self.key, self.known_hosts = name, key, known_hosts

    def __str__(self) -> str:
        from .host_keys import _describe

        return (f"SSH HOST KEY REVOKED: the host offers {_describe(self.key)}, which "
                f"{self.known_hosts} marks @revoked; it may be a stolen key, so Vega will not "
                "connect (nor send the secret). Ask the host's administrator for its new key")


def error_stream():
    """Where commands say what went wrong: the process's stderr."""
    return sys.__stderr__ if sys.__stderr__ else sys.stderr


def error_console() -> "Console":
    """A rich Console on ``error_stream`` (no emoji: ``:x:`` in a path or a message stays)."""
    from rich.console import Console  # imported here: daemons start without rich

    return Console(file=error_stream(), highlight=False, soft_wrap=True, emoji=False)


def error_hint(exc: BaseException) -> str:
    """What to do about ``exc``: its own ``hint``, if it has one."""
    return getattr(exc, "hint", "")


def pyspark_hint(exc: BaseException, command: str) -> str:
    """What to do when a job (or a shell statement) could not ``import pyspark``: a PySpark
    program runs on Vega with ``--pyspark-compat``; "" for any other error.

    >>> pyspark_hint(ModuleNotFoundError("No module named 'pyspark'", name="pyspark"), "submit")
    "PySpark programs run on Vega with vega submit --pyspark-compat: 'import pyspark' then means Vega (docs/api.md)."
    """
    name = getattr(exc, "name", None) or ""
    if not isinstance(exc, ModuleNotFoundError) or name.split(".")[0] != "pyspark":
        return ""
    return (f"PySpark programs run on Vega with vega {command} --pyspark-compat: "
            "'import pyspark' then means Vega (docs/api.md).")


def print_notice(text: str, style: str = "", head: str = "", head_style: str = "") -> None:
    """Print ``head`` then ``text`` (neither is markup) as a line on ``error_stream``, in
    ``head_style`` and ``style`` where styles show: plain, without importing rich, where
    they would not (``terminal.surely_lines``)."""
    stream = error_stream()
    if surely_lines(stream):
        stream.write(plain_line(head + text))
        stream.flush()
        return
    from rich.text import Text

    error_console().print(Text.assemble((head, head_style), (text, style)))


def print_error(message: str, hint: str = "") -> None:
    """Print ``vega: error: message`` (and a hint) on stderr."""
    print_notice(message, head="vega: error: ", head_style="bold red")
    if hint:
        print_notice(hint, style="dim")


def full_traceback(exc: BaseException) -> str:
    """Every frame of ``exc``'s traceback, Vega's included, those the API left out of it
    too (what --debug shows)."""
    import traceback

    from vega_runtime.logs import whole_stack

    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    report.stack = whole_stack(exc) or report.stack
    return "".join(report.format())


def debug_requested() -> bool:
    """Whether ``vega --debug`` was given (for commands that print tracebacks themselves)."""
    import click

    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("debug"))


def stdout_closed(exc: BaseException) -> bool:
    """Whether ``exc`` is the broken pipe of writing to a stdout nobody reads any more
    (``vega status | head -1``), not of a connection: such a command ends quietly, as
    Unix tools do (Python's note on SIGPIPE), instead of reporting an error."""
    if not (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
        return False
    import select

    try:
        poller = select.poll()
        poller.register(sys.__stdout__.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):  # no stdout at all
        return False
    return any(ready & (select.POLLERR | select.POLLHUP) for _, ready in events)
