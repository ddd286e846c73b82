"""A WebHDFS server over a local directory: a stand-in NameNode and DataNode for tests and demos.

No HDFS cluster runs on the machines Vega is tested on, so this server speaks the
Apache Hadoop WebHDFS REST API (``/webhdfs/v1``, as specified in Hadoop's
``WebHDFS.md``) over a plain directory: HDFS path ``/a/b`` is ``ROOT/a/b``.
Where the specification is silent it does what Hadoop 3's NameNode
(``NamenodeWebHdfsMethods``) and DataNode (``WebHdfsHandler``) do, down to the
exception classes and messages, so clients see what a real cluster shows them.

* Two HTTP servers: the NameNode answers namespace operations and redirects data
  operations (``CREATE``, ``APPEND``, ``OPEN``) with ``307 Temporary Redirect``
  to the DataNode port, carrying every query parameter plus
  ``namenoderpcaddress``; the DataNode moves the bytes (``201 Created`` with a
  ``webhdfs://`` Location for CREATE, ``200`` for APPEND and OPEN).
* Bodies are streamed both ways in 64 KiB pieces (``Content-Length`` or
  ``Transfer-Encoding: chunked``); a DataNode that refuses a write answers
  ``Expect: 100-continue`` clients before they send any data.
* Owners, groups, permissions, replication and block sizes live in memory (files
  found on disk belong to the superuser); modification times and lengths are the
  local file system's.  A file has one writer at a time (HDFS's lease).
* Authentication is simple (``hadoop.security.authentication=simple``):
  ``user.name`` (or ``doas``) names the caller, ``dr.who`` when absent.
  Permissions are recorded but not enforced (``dfs.permissions.enabled=false``)
  unless the server is made with ``enforce_permissions=True``; then each
  operation is checked as the HDFS Permissions Guide says (see ``namesystem``),
  a user's only groups being its own name (and the supergroup for the superuser).

The modules, one job each: ``errors`` (RemoteException), ``params`` (query
parameters), ``permissions`` (the checks), ``namespace`` (paths and inodes),
``namesystem`` (the operations), ``body`` (request bodies), ``handler``,
``namenode`` and ``datanode`` (HTTP), ``server`` (WebHDFSServer), ``cli``.

Use it as a context manager::

    with WebHDFSServer(tmp_dir) as server:
        client = hdfs.InsecureClient(server.namenode_url, user="alice")

or from a shell: ``python -m vega_testing.webhdfs --root DIR``.
"""

from .cli import main
from .errors import RemoteException
from .server import WebHDFSServer

__all__ = ["WebHDFSServer", "RemoteException", "main"]
