"""Hadoop's path patterns: comma lists, ``{a,b}`` alternatives, hidden names.

Used for local paths and HDFS URLs alike, so both read the same files for the same
pattern.
"""

from __future__ import annotations

import fnmatch
import os
import re
import pathlib  # noqa: F401 - the doctest's
from typing import Iterator, List, Tuple

from ..errors import InputError, UnsupportedFileSystem


def is_hidden(name: str) -> bool:
    """Hadoop's hidden files (``_SUCCESS``, ``_temporary``, ``.crc`` files): never input."""
    return name.startswith((".", "_"))


def _characters(path: str) -> Iterator[Tuple[str, bool]]:
    r"""``(character, escaped)`` for each character of a Hadoop glob: a backslash makes the
    character after it itself (``\?`` is a question mark), as Hadoop's ``GlobPattern``."""
    i = 0
    while i < len(path):
        if path[i] == "\\" and i + 1 < len(path):
            yield path[i + 1], True
            i += 2
        else:
            yield path[i], False
            i += 1


def has_pattern(path: str) -> bool:
    r"""Whether ``path`` is a glob: an unescaped ``*``, ``?``, ``[...]`` or ``{...}``.

    >>> has_pattern("/d/*.txt"), has_pattern("/d/q\\?.txt")
    (True, False)
    """
    return any(char in "*?[{" and not escaped for char, escaped in _characters(path))


def unescape(path: str) -> str:
    r"""The path a glob without patterns names: each ``\X`` read as ``X``, as Hadoop does.

    >>> unescape("/d/br\\[1\\].txt"), unescape("/d/back\\\\slash")
    ('/d/br[1].txt', '/d/back\\slash')
    """
    return "".join(char for char, _ in _characters(path))


def path_text(path) -> str:
    """``path`` as the ``str`` a file operation takes: a ``str``, or an ``os.PathLike``
    (``pathlib.Path``); anything else is a TypeError that says what a path is.

    >>> path_text(pathlib.Path("/a/b")), path_text("x,y")
    ('/a/b', 'x,y')
    >>> path_text(["/a"])
    Traceback (most recent call last):
      ...
    TypeError: a path must be a str or a pathlib.Path (several inputs: one str, separated by commas), not list
    >>> path_text("s3a://bucket/x")  # not ./s3a:/bucket/x
    Traceback (most recent call last):
      ...
    vega_runtime.errors.UnsupportedFileSystem: s3a://bucket/x: Vega reads and writes local paths, file: URLs and HDFS (hdfs://, webhdfs://), not s3a:// URLs: copy the data to HDFS or to a file system every host mounts
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError("a path must be a str or a pathlib.Path (several inputs: one str, "
                        f"separated by commas), not {type(path).__name__}")
    for scheme, slashes in _URL_SCHEME.findall(path):  # else a relative local path: ./s3a:/...
        if scheme not in _KNOWN_SCHEMES:
            raise UnsupportedFileSystem(path, scheme)
        if slashes == "/" and scheme != "file":  # Hadoop's hdfs:/a is hdfs:///a
            raise UnsupportedFileSystem(path, scheme, _two_slashes(path, scheme))
    return path


def _two_slashes(path: str, scheme: str) -> str:
    rest = path.split(f"{scheme}:", 1)[1].split(",")[0]
    return (f"an HDFS URL has two slashes: {scheme}://{rest} (the namenode of "
            f"vega.hdfs.namenode) or {scheme}://HOST:PORT{rest}")


#: the scheme of a URL at the start of a path (or of one of a comma-separated list's) ...
_URL_SCHEME = re.compile(r"(?:^|,)\s*([A-Za-z][A-Za-z0-9+.-]*):(/+)")
#: ... that Vega reads: local files and HDFS (``io.hdfs.SCHEMES``)
_KNOWN_SCHEMES = ("file", "hdfs", "webhdfs")


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
    r"""The globs a pattern's ``{a,b}`` alternatives stand for (nested too; ``\{`` is no
    brace), still in Hadoop's syntax: ``fnmatch_pattern`` makes each one Python's.

    >>> expand_braces("/d/{a,b{1,2}}.txt")
    ['/d/a.txt', '/d/b1.txt', '/d/b2.txt']
    """
    open_at, depth, alternatives, start = -1, 0, [], 0
    for i, char, escaped in _indexed(pattern):
        if escaped:
            continue
        if char == "{":
            depth += 1
            if depth == 1:
                open_at, start = i, i + 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                alternatives.append(pattern[start:i])
                rest = pattern[i + 1:]
                return [expanded for alternative in alternatives
                        for expanded in expand_braces(pattern[:open_at] + alternative + rest)]
        elif char == "," and depth == 1:
            alternatives.append(pattern[start:i])
            start = i + 1
    if depth:
        raise InputError(pattern, "the pattern has a '{' without its '}'")
    fnmatch_pattern(pattern)  # an unclosed '[' is refused here, naming the whole pattern
    return [pattern]


def _indexed(path: str) -> Iterator[Tuple[int, str, bool]]:
    """``(index, character, escaped)`` of each character of a Hadoop glob."""
    i = 0
    for char, escaped in _characters(path):
        i += 2 if escaped else 1
        yield i - 1, char, escaped


def fnmatch_pattern(pattern: str) -> str:
    r"""A Hadoop glob without braces in Python's ``fnmatch``/``glob`` syntax: ``[^ab]`` as
    ``[!ab]``, an escaped ``*``, ``?`` or ``[`` as ``[*]``, ``[?]``, ``[[]``.

    >>> fnmatch_pattern("/d/[^ab]\\?\\[x*")
    '/d/[!ab][?][[]x*'
    """
    out, in_class = [], False
    for char, escaped in _characters(pattern):
        if escaped:
            out.append(f"[{char}]" if char in "*?[" and not in_class else char)
        elif char == "[" and not in_class:
            in_class = True
            out.append("[")
        elif char == "^" and in_class and out[-1] == "[":
            out.append("!")
        else:
            in_class = in_class and char != "]"
            out.append(char)
    if in_class:  # Hadoop: "Illegal file pattern: Unclosed character class"
        raise InputError(pattern, "the pattern has a '[' without its ']'")
    return "".join(out)


def name_matches(name: str, pattern: str, last: bool = True) -> bool:
    """Whether a name matches one path component of a Hadoop glob: the ``last`` one
    skips hidden names (``_x``, ``.x``), one before it only dot names (as a local glob).

    >>> name_matches("_tmp", "*"), name_matches("_tmp", "*", last=False)
    (False, True)
    """
    if name.startswith(".") or (last and is_hidden(name)):
        return False
    return any(fnmatch.fnmatchcase(name, fnmatch_pattern(p)) for p in expand_braces(pattern))
