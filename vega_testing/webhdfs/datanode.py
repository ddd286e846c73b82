"""The DataNode role: the bytes of CREATE, APPEND and OPEN, streamed both ways."""

from __future__ import annotations

import urllib.parse

from .body import MAX_IO_CHUNK, MIN_IO_CHUNK
from .errors import RemoteException
from .handler import PATH_SAFE, Handler

__all__ = ["DataNodeHandler"]


class DataNodeHandler(Handler):
    """CREATE (PUT), APPEND (POST) and OPEN (GET), reached through a NameNode redirect."""

    role = "datanode"
    json_type = "application/json; charset=utf-8"

    _ACTIONS = {("PUT", "CREATE"): "_create", ("POST", "APPEND"): "_append",
                ("GET", "OPEN"): "_open"}

    def handle_webhdfs(self, method, raw_path, params, query):
        op = params.raw("op")
        action = self._ACTIONS.get((method, (op or "").upper()))
        if action is None:
            raise RemoteException("IllegalArgumentException", f"Invalid operation {op}")
        if not params.raw("namenoderpcaddress"):
            raise RemoteException("IllegalArgumentException",
                                  "namenoderpcaddress is not specified: DataNode URLs come from "
                                  "a NameNode redirect")
        args = params.declared(method)
        if args["buffersize"] is not None:
            self._chunk = min(max(args["buffersize"], MIN_IO_CHUNK), MAX_IO_CHUNK)
        user = params.user()
        getattr(self, action)(self.server.namesystem.normalize(raw_path), args, user)

    def _receive(self, handle, lease) -> None:
        """The request body into ``handle``; the lease ends however that goes."""
        try:
            with handle:
                for piece in self.read_body():
                    handle.write(piece)
        finally:
            self.server.namesystem.release(lease)

    def _create(self, path, args, user):
        handle, lease = self.server.namesystem.open_for_create(
            path, user, self.client_address[0], permission=args["permission"],
            overwrite=args["overwrite"], replication=args["replication"],
            block_size=args["blocksize"], create_parent=args["createparent"])
        self._receive(handle, lease)
        location = (f"webhdfs://{self.server.owner.namenode_netloc(self.headers.get('Host'))}"
                    f"{urllib.parse.quote(path, safe=PATH_SAFE)}")
        self.send(201, b"", None, (("Location", location), ("Access-Control-Allow-Origin", "*")))

    def _append(self, path, args, user):
        handle, lease = self.server.namesystem.open_for_append(path, user,
                                                               self.client_address[0])
        self._receive(handle, lease)
        self.send(200)

    def _open(self, path, args, user):
        handle, size = self.server.namesystem.open_for_read(path, user)
        with handle:
            offset = args["offset"]
            if offset > size:
                raise RemoteException("EOFException", "Cannot seek after EOF")
            count = size - offset if args["length"] is None else min(size - offset, args["length"])
            handle.seek(offset)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(count))
            self.send_header("Access-Control-Allow-Methods", "GET")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            while count > 0:
                data = handle.read(min(self._chunk, count))
                if not data:   # the file shrank under us: the promised length cannot be kept
                    self.close_connection = True
                    return
                self.wfile.write(data)
                count -= len(data)
