"""The Rust Vega IO API, for users coming from it: ``HdfsIO``, ``LocalFsIO``, ``Decoders``.

With a namenode at ``namenode:9870``::

    io = HdfsIO("namenode:9870", user="alice")
    io.write_to_hdfs(b"hello", "/data/hello.txt")
    io.read_to_vec("/data/hello.txt")  # b'hello'
    lines = io.read_to_rdd_and_decode("/data", ctx, 4, Decoders.to_utf8_lines())
"""

from __future__ import annotations

import posixpath
from typing import Any, Callable, List, Optional, Sequence

from .errors import OutputExistsError, VegaError
from .io.files import open_input
from .io.hdfs import HdfsOutput, HdfsSettings, namenode_url
from .rdd.sources import WholeFilesRDD


class Decoders:
    """Functions turning a file's bytes into records."""

    @staticmethod
    def to_utf8() -> Callable[[bytes], str]:
        return lambda data: data.decode("utf-8")

    @staticmethod
    def to_utf8_lines() -> Callable[[bytes], List[str]]:
        return lambda data: data.decode("utf-8").splitlines()


class LocalFsIO:
    """Reading local files: whole files as bytes, one RDD element per file."""

    def _url(self, path: str) -> str:
        return path

    def _settings(self) -> Optional[HdfsSettings]:
        return None

    def read_to_vec(self, path: str) -> bytes:
        """The whole content of one file, as stored (a ``.gz`` file is not decompressed)."""
        with open_input(self._url(path), self._settings(), decompress=False) as fh:
            return fh.read()

    def read_to_rdd(self, path: str, ctx, num_slices: int):
        """One element (the file's bytes) per file under ``path``; files balanced by size
        over at most ``num_slices`` partitions, none empty."""
        rdd = WholeFilesRDD(ctx, self._url(path), max(1, num_slices), 0, binary=True)
        return rdd.values()

    def read_to_rdd_and_decode(self, path: str, ctx, num_slices: int,
                               decoder: Callable[[bytes], Any]):
        """``read_to_rdd`` with ``decoder`` applied to each file's bytes."""
        return self.read_to_rdd(path, ctx, num_slices).map(decoder)


def _default_namenode() -> str:
    """``vega.hdfs.namenode``, else the cluster file's ``hdfs`` namenode."""
    from .cluster_file import load_cluster_file
    from .config import Config

    namenode = Config.load()["vega.hdfs.namenode"]
    if not namenode:
        try:
            namenode = load_cluster_file().namenode or ""
        except VegaError:
            namenode = ""
    if not namenode:
        raise VegaError("HdfsIO needs a namenode: pass HdfsIO('host:9870'), set "
                        "vega.hdfs.namenode, or give the cluster file an hdfs namenode")
    return namenode


class HdfsIO(LocalFsIO):
    """Reading and writing HDFS through WebHDFS.

    ``namenode`` is the WebHDFS address as ``http://host:port``, ``hdfs://host:port`` or
    ``host:port``; by default the ``vega.hdfs.namenode`` setting (the cluster file's
    namenode).  ``datanodes``: hosts besides the namenode's that its redirects may lead to;
    by default the ``vega.hdfs.datanodes`` setting.
    """

    def __init__(self, namenode: Optional[str] = None, user: Optional[str] = None,
                 timeout: float = 30.0, datanodes: Optional[Sequence[str]] = None):
        if namenode is None:
            namenode = _default_namenode()
        self.base = namenode_url(namenode)
        if datanodes is None:
            from .config import Config

            hosts = Config.load()["vega.hdfs.datanodes"]
        else:
            from .config_values import parse_hosts

            hosts = parse_hosts(list(datanodes))
        self.settings = HdfsSettings(user or "", timeout, hosts)

    def _url(self, path: str) -> str:
        return "hdfs://" + self.base.split("://", 1)[1] + posixpath.join("/", path)

    def _settings(self) -> Optional[HdfsSettings]:
        return self.settings

    def write_to_hdfs(self, data: bytes, path: str, overwrite: bool = False) -> None:
        """Write ``data`` to ``path``, creating parent directories; refuses to overwrite
        an existing file unless asked."""
        ops = HdfsOutput(self._url(path), self.settings)
        target = posixpath.join("/", path)
        if not overwrite and ops.exists(target):
            raise OutputExistsError(self._url(path))
        ops.makedirs(posixpath.dirname(target) or "/")
        ops.write(target, data, overwrite=overwrite)
