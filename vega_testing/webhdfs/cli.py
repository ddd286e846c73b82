"""``python -m vega_testing.webhdfs``: serve a directory over WebHDFS until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import List, Optional

from .server import WebHDFSServer

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vega_testing.webhdfs",
        description="Serve a directory over WebHDFS: a stand-in HDFS NameNode and DataNode.")
    parser.add_argument("--root", required=True, help="the directory HDFS path / maps to")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--namenode-port", type=int, default=9870,
                        help="NameNode (WebHDFS) port; 0 picks one (default 9870)")
    parser.add_argument("--datanode-port", type=int, default=0,
                        help="DataNode port; 0 picks one (default 0)")
    parser.add_argument("--datanode-host", default=None,
                        help="address the DataNode listens on and the NameNode redirects to "
                             "(default: --host)")
    parser.add_argument("--enforce-permissions", action="store_true",
                        help="check owners, groups and modes as HDFS does "
                             "(dfs.permissions.enabled); the superuser is 'hdfs'")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)
    server = WebHDFSServer(args.root, args.host, args.namenode_port, args.datanode_port,
                           log_requests=not args.quiet,
                           enforce_permissions=args.enforce_permissions,
                           datanode_host=args.datanode_host)
    try:
        server.start()
    except OSError as err:
        print(f"webhdfs: cannot listen on {args.host}: {err}", file=sys.stderr)
        return 1
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    print(f"NameNode (WebHDFS): {server.namenode_url}", flush=True)
    print(f"DataNode:           {server.datanode_url}", flush=True)
    print(f"Serving {server.root_dir} until Ctrl-C", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
