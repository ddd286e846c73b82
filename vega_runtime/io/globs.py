"""Hadoop's path patterns: comma lists, ``{a,b}`` alternatives, hidden names.

Used for local paths and HDFS URLs alike, so both read the same files for the same
pattern.
"""

from __future__ import annotations

import fnmatch
import os
import pathlib  # noqa: F401 - the doctest's
from typing import List

from ..errors import InputError


def is_hidden(name: str) -> bool:
    """Hadoop's hidden files (``_SUCCESS``, ``_temporary``, ``.crc`` files): never input."""
    return name.startswith((".", "_"))


def has_pattern(path: str) -> bool:
    """Whether ``path`` is a glob: ``*``, ``?``, ``[...]`` or ``{...}``."""
    return any(char in path for char in "*?[{")


def path_text(path) -> str:
    """``path`` as the ``str`` a file operation takes: a ``str``, or an ``os.PathLike``
    (``pathlib.Path``); anything else is a TypeError that says what a path is.

    >>> path_text(pathlib.Path("/a/b")), path_text("x,y")
    ('/a/b', 'x,y')
    >>> path_text(["/a"])
    Traceback (most recent call last):
      ...
    TypeError: a path must be a str or a pathlib.Path (several inputs: one str, separated by commas), not list
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError("a path must be a str or a pathlib.Path (several inputs: one str, "
                        f"separated by commas), not {type(path).__name__}")
    return path


def split_paths(spec: str) -> List[str]:
    """``spec`` cut at the commas outside ``{...}``, as Hadoop's ``FileInputFormat`` does.

    >>> split_paths("a,b/{c,d}.txt,e")
    ['a', 'b/{c,d}.txt', 'e']
    """
    spec = path_text(spec)
    parts, depth, start = [], 0, 0
    for i, char in enumerate(spec):
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == "," and not depth:
            parts.append(spec[start:i])
            start = i + 1
    parts.append(spec[start:])
    return parts


def expand_braces(pattern: str) -> List[str]:
    """The globs a pattern's ``{a,b}`` alternatives stand for (nested too), each with
    Hadoop's ``[^ab]`` written as Python's ``[!ab]``.

    >>> expand_braces("/d/{a,b{1,2}}.txt")
    ['/d/a.txt', '/d/b1.txt', '/d/b2.txt']
    """
    open_at = pattern.find("{")
    if open_at < 0:
        return [pattern.replace("[^", "[!")]
    depth, alternatives, start = 0, [], open_at + 1
    for i in range(open_at, len(pattern)):
        if pattern[i] == "{":
            depth += 1
        elif pattern[i] == "}":
            depth -= 1
            if depth == 0:
                alternatives.append(pattern[start:i])
                rest = pattern[i + 1:]
                return [expanded for alternative in alternatives
                        for expanded in expand_braces(pattern[:open_at] + alternative + rest)]
        elif pattern[i] == "," and depth == 1:
            alternatives.append(pattern[start:i])
            start = i + 1
    raise InputError(pattern, "the pattern has a '{' without its '}'")


def name_matches(name: str, pattern: str, last: bool = True) -> bool:
    """Whether a name matches one path component of a Hadoop glob: the ``last`` one
    skips hidden names (``_x``, ``.x``), one before it only dot names (as a local glob).

    >>> name_matches("_tmp", "*"), name_matches("_tmp", "*", last=False)
    (False, True)
    """
    if name.startswith(".") or (last and is_hidden(name)):
        return False
    return any(fnmatch.fnmatchcase(name, p) for p in expand_braces(pattern))
