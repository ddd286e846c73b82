"""How a setting's text becomes its value: sizes, durations, numbers in a range, lists of
hosts and names (``config_schema.Setting.parse``), each refusing bad text with a ``ValueError``
that says what was expected."""

from __future__ import annotations

import math
import re
from typing import Any, Callable

# patterns as strings: ``re`` compiles (and caches) them on first use, not at import
_SIZE_PATTERN = r"(?i)^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$"
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: Any) -> int:
    """Parse a size such as ``512m`` or ``4g`` into bytes.

    >>> parse_size("512m"), parse_size("4g"), parse_size(1024)
    (536870912, 4294967296, 1024)
    >>> parse_size("99999999999999999999g")
    Traceback (most recent call last):
    ...
    ValueError: '99999999999999999999g' is too large a size (at most 8388607t)
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a size (e.g. 4g, 512m)")
    if isinstance(text, int):
        value = text
    else:
        match = re.match(_SIZE_PATTERN, str(text))
        if not match:
            raise ValueError(f"{str(text)!r} is not a size (e.g. 4g, 512m)")
        number, unit = match.groups()
        value = int(float(number) * _SIZE_UNITS[unit.lower()])
    if value >= 1 << 63:  # no machine has it, and msgpack carries no more (OverflowError)
        raise ValueError(f"{str(text)!r} is too large a size (at most 8388607t)")
    return value


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true or false)")


def parse_choice(text: Any, choices: tuple) -> str:
    """One of ``choices``, case-insensitive.

    >>> parse_choice("FAIR", ("fifo", "fair"))
    'fair'
    """
    lowered = str(text).strip().lower()
    if lowered not in choices:
        raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
    return lowered


def parse_scheduling_mode(text: Any) -> str:
    return parse_choice(text, ("fifo", "fair"))


#: the largest whole number a setting takes (a count: cores, attempts, partitions), as
#: Spark's settings of counts are Java ints; past 2**63 one travelling to the master failed
#: the Context with msgpack's "OverflowError: Integer value out of range"
MAX_INT = 2**31 - 1


def parse_int(text: Any) -> int:
    """A whole number, at most ``MAX_INT`` either way.

    >>> parse_int(" 12 "), parse_int(7)
    (12, 7)
    >>> parse_int("99999999999999999999")
    Traceback (most recent call last):
    ...
    ValueError: '99999999999999999999' is too large: at most 2147483647
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a whole number")
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a whole number") from None
    if abs(value) > MAX_INT:
        raise ValueError(f"{text!r} is too large: at most {MAX_INT}")
    return value


def parse_float(text: Any) -> float:
    """A number; NaN is not one (it would pass every range check: its comparisons are False).

    >>> parse_float("nan")
    Traceback (most recent call last):
    ...
    ValueError: 'nan' is not a number
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a number") from None
    if math.isnan(value):
        raise ValueError(f"{text!r} is not a number")
    if math.isinf(value):  # (a wait of inf seconds is no wait a clock or poll() can do)
        raise ValueError(f"{text!r} is not a finite number")
    return value


def parse_task_cpus(text: Any) -> float:
    """CPUs per task: a positive number, fractions allowed.

    >>> parse_task_cpus("2"), parse_task_cpus("0.5")
    (2.0, 0.5)
    """
    value = parse_float(text)
    if not 0 < value < 2**31:
        raise ValueError(f"{text!r} is not a positive number of CPUs")
    return value


def parse_seconds_or_never(text: Any) -> float:
    """Seconds, or ``never`` (infinity).

    >>> parse_seconds_or_never("30"), parse_seconds_or_never("never")
    (30.0, inf)
    """
    if (isinstance(text, str) and text.strip().lower() in ("never", "inf", "infinity")) or \
            (isinstance(text, float) and text == math.inf):
        return math.inf
    value = parse_float(text)
    if value < 0:
        raise ValueError(f"{text!r} is negative: give seconds, or never")
    return _not_too_long(text, value, ", or never")


#: the longest time a setting takes, about 31 years: a socket's or a thread's timeout is a
#: C time_t (past it "timestamp out of range for platform time_t" killed the thread waiting)
MAX_SECONDS = 1e9


def _not_too_long(text: Any, value: float, other: str = "") -> float:
    if value > MAX_SECONDS:
        raise ValueError(f"{text!r} is too long: at most {MAX_SECONDS:.0f} seconds (about 31 "
                         f"years){other}")
    return value


def _seconds(text: Any) -> float:
    """Seconds, a finite number of at most ``MAX_SECONDS`` (``parse_seconds`` checks the
    least).

    >>> _seconds("1e300")
    Traceback (most recent call last):
    ...
    ValueError: '1e300' is too long: at most 1000000000 seconds (about 31 years)
    """
    return _not_too_long(text, parse_float(text))


def size_text(n: int) -> str:
    """A byte count as the shortest exact size: ``1g``, ``512m``, ``1000``.

    >>> size_text(1 << 30), size_text(3 << 19), size_text(1000)
    ('1g', '1536k', '1000')
    """
    for unit in "tgmk":
        if n and n % _SIZE_UNITS[unit] == 0:
            return f"{n // _SIZE_UNITS[unit]}{unit}"
    return str(n)


def _signed_size(text: Any) -> int:
    """``parse_size`` that also reads ``-5g`` (so a range check can say it is too small)."""
    if isinstance(text, str) and text.strip().startswith("-"):
        return -parse_size(text.strip()[1:])
    return parse_size(text)


def bounded(parse: Callable[[Any], Any], low: Any = None, high: Any = None,
            show: Callable[[Any], str] = str) -> Callable[[Any], Any]:
    """``parse``, then a check that the value lies in ``[low, high]`` (either may be None);
    out of range, ``ValueError`` says the range and the value. The parser's ``range`` is
    its range in words (conf/vega-defaults.yaml shows it).

    >>> bounded(parse_int, 1)("0")
    Traceback (most recent call last):
    ...
    ValueError: must be at least 1, not 0
    >>> bounded(parse_int, 0, 65535)(" 70000 ")
    Traceback (most recent call last):
    ...
    ValueError: must be between 0 and 65535, not 70000
    >>> size_at_least(1 << 20)("512")
    Traceback (most recent call last):
    ...
    ValueError: must be at least 1m, not 512 bytes (a size without a unit is in bytes: 512m is 512 MiB)
    """
    if low is not None and high is not None:
        allowed = f"between {show(low)} and {show(high)}"
    elif low is not None:
        allowed = f"at least {show(low)}"
    else:
        allowed = f"at most {show(high)}"

    def parse_bounded(text: Any) -> Any:
        value = parse(text)
        if (low is not None and value < low) or (high is not None and value > high):
            given = str(text).strip() if isinstance(text, str) else show(value)
            if show is size_text and given.isdigit() and int(given):  # Spark's bare sizes are
                # MiB: say so (of 0, too small in any unit, there is nothing to say)
                given += f" bytes (a size without a unit is in bytes: {given}m is {given} MiB)"
            raise ValueError(f"must be {allowed}, not {given}")
        return value

    parse_bounded.range = allowed
    parse_bounded.__name__ = f"{getattr(parse, '__name__', 'parse')}_{allowed.replace(' ', '_')}"
    return parse_bounded


def at_least(low: int) -> Callable[[Any], int]:
    """A whole number of at least ``low``."""
    return bounded(parse_int, low)


def parse_cores_limit(text: Any) -> int:
    """The most cores an application takes (``vega.cores.max``, ``vega.executor.cores``): a
    whole number of at least 1, or empty for no limit, which is 0 inside (as the master takes
    it).  0 given is refused, as spark-submit refuses its ``spark.cores.max=0``: the flags
    (``--total-executor-cores 0``) always were, so ``--conf`` says the same.

    >>> parse_cores_limit("4"), parse_cores_limit(""), parse_cores_limit(None)
    (4, 0, 0)
    >>> parse_cores_limit("0")
    Traceback (most recent call last):
    ...
    ValueError: must be at least 1, not 0 (leave it unset for no limit)
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return 0
    value = parse_int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, not {str(text).strip()} (leave it unset for no "
                         "limit)")
    return value


parse_cores_limit.range = "at least 1, or empty for no limit"  # type: ignore[attr-defined]


#: a TCP port; 0 asks for any free one
parse_port = bounded(parse_int, 0, 65535)
#: seconds, not negative
parse_seconds = bounded(_seconds, 0.0, show=lambda v: f"{v:g}")
#: a size in bytes, not negative
parse_size_at_least_0 = bounded(_signed_size, 0, show=size_text)


def size_at_least(low: int, high: Any = None) -> Callable[[Any], int]:
    """A size in bytes of at least ``low`` (and at most ``high``)."""
    return bounded(_signed_size, low, high, show=size_text)


def parse_str(text: Any) -> str:
    return "" if text is None else str(text)


def parse_location(text: Any) -> str:
    """A directory Vega writes (a local path, a ``file:`` or HDFS URL) or "": a URL of
    another file system (``s3a://``) is refused, not taken for a relative local path.

    >>> parse_location("s3a://b/events")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vega_runtime.errors.UnsupportedFileSystem: s3a://b/events: Vega reads and writes ...
    """
    from .io.globs import path_text

    return path_text(parse_str(text))


def parse_name(text: Any) -> str:
    """A name that may not be empty (an application's: Spark refuses a SparkContext
    without one).

    >>> parse_name(" ")
    Traceback (most recent call last):
    ValueError: must not be empty: give the application a name
    """
    name = parse_str(text)
    if not name.strip():
        raise ValueError("must not be empty: give the application a name")
    return name


_HOST_PATTERN = r"^(\*\.)?[a-z0-9_](?:[a-z0-9_.-]{0,251}[a-z0-9_])?$"


def parse_hosts(text: Any) -> tuple[str, ...]:
    """A list of hosts: a YAML list or a comma-separated string of host names or addresses,
    ``*.domain`` (any host in that domain) or networks (``10.0.0.0/24``); lower-cased.

    >>> parse_hosts("dn1.example.com, *.dn.example.com,10.0.0.0/24")
    ('dn1.example.com', '*.dn.example.com', '10.0.0.0/24')
    >>> parse_hosts(""), parse_hosts(["DN1"])
    ((), ('dn1',))
    """
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else text
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"{text!r} is not a list of hosts (e.g. dn1,dn2 or *.example.com)")
    hosts = []
    for item in items:
        host = str(item).strip().lower()
        if not host:
            continue
        import ipaddress  # (here: no Context with no hosts listed loads it)

        try:
            ipaddress.ip_network(host, strict=False)
        except ValueError:
            if not re.match(_HOST_PATTERN, host):
                raise ValueError(f"{str(item).strip()!r} is not a host name, *.domain, "
                                 "address or network (e.g. 10.0.0.0/24)") from None
        hosts.append(host)
    return tuple(hosts)


def parse_names(text: Any) -> tuple[str, ...]:
    """A list of names: a YAML list or a comma-separated string.

    >>> parse_names("a, b,,c"), parse_names(["x"]), parse_names("")
    (('a', 'b', 'c'), ('x',), ())
    """
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else text
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"{text!r} is not a list (e.g. a,b or a YAML list)")
    return tuple(str(item).strip() for item in items if str(item).strip())
