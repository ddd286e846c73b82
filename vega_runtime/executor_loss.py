"""Why an executor ended, classified once, in words a user can act on (Spark's
``ExecutorLossReason``).

The worker classifies how its executor's process ended (``classify_exit``: an exit code, a
signal, its memory limit, the kernel's OOM killer); the master, an executor lost with its
worker (no heartbeat, or the worker's connection closed); the driver, an executor whose
connection closed and nobody said why.  The cause travels with the description
(``ExecutorExited`` and ``ExecutorRemoved`` carry both), and the driver's error, its event
log and ``vega logs`` all print the same sentence (``loss_sentence``):

>>> cause, description = classify_exit(MEMORY_LIMIT_EXIT_CODE, 1 << 30, oom_kills=0)
>>> cause.value
'memory_limit'
>>> loss_sentence("exec-3", "10.0.0.7", description, "2.7")
'executor exec-3 on 10.0.0.7 exceeded its 1 GiB memory limit (vega.executor.memory) while running task 2.7'
"""

from __future__ import annotations

import enum
import signal
from typing import Tuple

from .processes import describe_returncode

#: An executor whose task ran out of its memory limit exits with this code (Spark's
#: ``SparkExitCode.OOM``), after a line on its log saying so.
MEMORY_LIMIT_EXIT_CODE = 52

#: the setting an executor's memory limit comes from, named with it (Spark's messages name
#: spark.executor.memoryOverhead): what a user raises for a partition that does not fit
MEMORY_SETTING = "vega.executor.memory"


class LossCause(str, enum.Enum):
    """How an executor ended."""
    EXIT_CODE = "exit_code"          # its process exited by itself
    SIGNAL = "signal"                # a signal killed it
    MEMORY_LIMIT = "memory_limit"    # it went over --executor-memory
    OOM_KILLER = "oom_killer"        # the kernel killed it: its host ran out of memory
    HEARTBEAT = "heartbeat"          # its worker stopped sending heartbeats
    WORKER_LOST = "worker_lost"      # its worker's connection closed, or the worker stopped
    LAUNCH_FAILED = "launch_failed"  # its worker could not start it
    CONNECTION = "connection"        # the driver's connection to it closed, nobody said why
    EXECUTOR_TIMEOUT = "executor_timeout"  # it sent its driver no heartbeat: hung, killed
    KILL_TIMEOUT = "kill_timeout"    # a task it was told to kill ran on: the driver ended it


def classify_exit(exit_code: int, memory_limit: int, oom_kills: int) -> Tuple[LossCause, str]:
    """The cause and the description of an executor process's end, from its ``subprocess``
    return code, the memory limit it ran under (0: none) and how many processes the kernel's
    OOM killer killed while it ran.

    >>> classify_exit(-9, 0, oom_kills=1)[0]
    <LossCause.OOM_KILLER: 'oom_killer'>
    >>> classify_exit(-11, 1 << 30, oom_kills=0)[1]
    'was killed by signal 11 (SIGSEGV: Segmentation fault)'
    >>> classify_exit(3, 1 << 30, oom_kills=0)
    (<LossCause.EXIT_CODE: 'exit_code'>, 'exited with code 3')
    """
    if exit_code == MEMORY_LIMIT_EXIT_CODE and memory_limit:
        return LossCause.MEMORY_LIMIT, (f"exceeded its {binary_size(memory_limit)} memory limit "
                                        f"({MEMORY_SETTING})")
    if exit_code == -signal.SIGKILL and oom_kills:
        return (LossCause.OOM_KILLER,
                "was killed by the kernel's OOM killer (SIGKILL): its host ran out of memory")
    cause = LossCause.SIGNAL if exit_code < 0 else LossCause.EXIT_CODE
    return cause, describe_returncode(exit_code)


def worker_loss(worker_id: str, reason: str, heartbeat: bool) -> Tuple[LossCause, str]:
    """The cause and description of an executor lost with its worker.

    >>> worker_loss("w1", "no heartbeat for 15s", heartbeat=True)[1]
    'was lost with its worker w1 (no heartbeat for 15s)'
    """
    return (LossCause.HEARTBEAT if heartbeat else LossCause.WORKER_LOST,
            f"was lost with its worker {worker_id} ({reason})")


def reaped_description(task_id: int, timeout: float, killed: bool = True) -> str:
    """How the loss of an executor whose killed task ran on past the task reaper's timeout
    reads (``loss_sentence`` puts the executor around it); ``killed`` False: nobody could be
    asked to kill it (its master unreachable), so the driver only stopped using it.

    >>> reaped_description(7, 3.0)
    'ran task 7 on for 3s after it was killed (its code may catch the interruption, or sit in one C call) and was killed (vega.task.reaper.kill_timeout is 3s)'
    """
    what = "was killed" if killed else \
        "is no longer used; the master, unreachable, could not be asked to kill it"
    return (f"ran task {task_id} on for {timeout:g}s after it was killed (its code may catch "
            f"the interruption, or sit in one C call) and {what} "
            f"(vega.task.reaper.kill_timeout is {timeout:g}s)")


def caused_by_app(cause: str) -> bool:
    """Whether an executor's loss counts as a failed attempt of the task it was running
    (Spark's ``exitCausedByApp``): its own end (an exit, a signal, its memory limit, the OOM
    killer) may be the task's doing and counts; a loss with its worker (no heartbeat, the
    worker gone) is not the task's and does not, nor is the task reaper's (the task it
    ended was killed already; those waiting behind it never count).  An unclassified loss (``""``, or the
    driver's connection closing with nobody saying why) counts, as in Spark.

    >>> caused_by_app(LossCause.HEARTBEAT.value), caused_by_app(LossCause.SIGNAL.value)
    (False, True)
    """
    return cause not in (LossCause.HEARTBEAT.value, LossCause.WORKER_LOST.value,
                         LossCause.KILL_TIMEOUT.value)


def loss_sentence(executor_id: str, host: str, description: str, task: str = "") -> str:
    """``executor ID on HOST DESCRIPTION[ while running task STAGE.PARTITION]``."""
    where = f" on {host}" if host else ""
    running = f" while running task {task}" if task else ""
    return f"executor {executor_id}{where} {description}{running}"


def binary_size(n: int) -> str:
    """A byte count as people write a memory size.

    >>> binary_size(1 << 30), binary_size(512 << 20), binary_size(1536 << 20), binary_size(1000)
    ('1 GiB', '512 MiB', '1.5 GiB', '1000 bytes')
    """
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"
