"""The NameNode role: namespace operations, and 307 redirects to the DataNode for the data."""

from __future__ import annotations

from .errors import RemoteException
from .handler import Handler

__all__ = ["NameNodeHandler"]


class NameNodeHandler(Handler):
    """Namespace operations, and 307 redirects to the DataNode for CREATE, APPEND and OPEN."""

    role = "namenode"
    json_type = "application/json"

    _ACTIONS = {
        ("GET", "OPEN"): "_open", ("GET", "GETFILESTATUS"): "_get_file_status",
        ("GET", "LISTSTATUS"): "_list_status", ("GET", "GETCONTENTSUMMARY"): "_content_summary",
        ("GET", "GETHOMEDIRECTORY"): "_home_directory", ("GET", "GETTRASHROOT"): "_trash_root",
        ("PUT", "CREATE"): "_create", ("PUT", "MKDIRS"): "_mkdirs", ("PUT", "RENAME"): "_rename",
        ("PUT", "SETPERMISSION"): "_set_permission", ("PUT", "SETOWNER"): "_set_owner",
        ("PUT", "SETREPLICATION"): "_set_replication", ("PUT", "SETTIMES"): "_set_times",
        ("POST", "APPEND"): "_append", ("DELETE", "DELETE"): "_delete",
    }

    def handle_webhdfs(self, method, raw_path, params, query):
        op = params.op(method)
        args = params.declared(method)
        user = params.user()
        path = self.server.namesystem.normalize(raw_path)
        action = self._ACTIONS.get((method, op))
        if action is None:
            raise RemoteException("UnsupportedOperationException", f"op={op} is not supported")
        self.discard_body()   # the NameNode never takes data, even if a client sends some
        getattr(self, action)(path, args, user, query)

    def _redirect(self, path: str, query: str, noredirect: bool) -> None:
        location = self.server.owner.datanode_location(path, query, self.headers.get("Host"))
        if noredirect:
            self.send_json(200, {"Location": location})
        else:
            self.send(307, b"", "application/octet-stream", (("Location", location),))

    def _send_done(self) -> None:
        """The empty 200 of an operation that returns nothing (SETPERMISSION and the like)."""
        self.send(200, b"", "application/octet-stream")

    # data operations: checked here, done on the DataNode

    def _open(self, path, args, user, query):
        self.server.namesystem.check_open(path, args["offset"], user)
        self._redirect(path, query, args["noredirect"])

    def _create(self, path, args, user, query):
        self._redirect(path, query, args["noredirect"])   # the DataNode creates (as HDFS does)

    def _append(self, path, args, user, query):
        self.server.namesystem.check_append(path, user)
        self._redirect(path, query, args["noredirect"])

    # reads

    def _get_file_status(self, path, args, user, query):
        self.send_json(200, {"FileStatus": self.server.namesystem.file_status(path, user)})

    def _list_status(self, path, args, user, query):
        statuses = self.server.namesystem.list_status(path, user)
        self.send_json(200, {"FileStatuses": {"FileStatus": statuses}})

    def _content_summary(self, path, args, user, query):
        summary = self.server.namesystem.content_summary(path, user)
        self.send_json(200, {"ContentSummary": summary})

    def _home_directory(self, path, args, user, query):
        self.send_json(200, {"Path": f"/user/{user}"})

    def _trash_root(self, path, args, user, query):
        self.send_json(200, {"Path": f"/user/{user}/.Trash"})

    # writes

    def _mkdirs(self, path, args, user, query):
        created = self.server.namesystem.mkdirs(path, args["permission"], user)
        self.send_json(200, {"boolean": created})

    def _rename(self, path, args, user, query):
        destination = args["destination"]
        if destination is None:
            raise RemoteException("IllegalArgumentException",
                                  "Required param destination for op: RENAME is null or empty")
        namesystem = self.server.namesystem
        renamed = namesystem.rename(path, namesystem.normalize(destination), user)
        self.send_json(200, {"boolean": renamed})

    def _delete(self, path, args, user, query):
        deleted = self.server.namesystem.delete(path, args["recursive"], user)
        self.send_json(200, {"boolean": deleted})

    def _set_permission(self, path, args, user, query):
        self.server.namesystem.set_permission(path, args["permission"], user)
        self._send_done()

    def _set_owner(self, path, args, user, query):
        self.server.namesystem.set_owner(path, args["owner"], args["group"], user)
        self._send_done()

    def _set_replication(self, path, args, user, query):
        changed = self.server.namesystem.set_replication(path, args["replication"],
                                                         self.client_address[0], user)
        self.send_json(200, {"boolean": changed})

    def _set_times(self, path, args, user, query):
        self.server.namesystem.set_times(path, args["modificationtime"], args["accesstime"],
                                         user)
        self._send_done()
