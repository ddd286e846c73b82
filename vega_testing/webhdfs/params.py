"""Query parameters as Hadoop's WebHDFS resources parse them (``*Param``, ``ParamFilter``)."""

from __future__ import annotations

import re
import urllib.parse
from typing import Dict, Optional, Tuple

from .errors import bad_param

__all__ = ["Params", "DEFAULT_WEB_USER"]

#: ``hadoop.http.staticuser.user``: who a request without ``user.name`` is.
DEFAULT_WEB_USER = "dr.who"
#: The default ``dfs.webhdfs.user.provider.user.pattern``.
USER_PATTERN = r"^[A-Za-z_][A-Za-z0-9._-]*[$]?$"

#: Every operation name of Hadoop's ``*OpParam.Op`` enums, by HTTP method: an ``op`` outside its
#: method's enum is a bad parameter (400 IllegalArgumentException); one inside it that this
#: server does not implement is a 400 UnsupportedOperationException, as Hadoop says for NULL.
OP_ENUMS: Dict[str, Tuple[str, frozenset]] = {
    "GET": ("GetOpParam", frozenset(
        "OPEN GETFILESTATUS LISTSTATUS GETCONTENTSUMMARY GETQUOTAUSAGE GETFILECHECKSUM "
        "GETHOMEDIRECTORY GETDELEGATIONTOKEN GET_BLOCK_LOCATIONS GETFILEBLOCKLOCATIONS "
        "GETACLSTATUS GETXATTRS GETTRASHROOT LISTXATTRS GETALLSTORAGEPOLICY GETSTORAGEPOLICY "
        "GETECPOLICY GETSERVERDEFAULTS GETSNAPSHOTDIFF GETSNAPSHOTDIFFLISTING "
        "GETSNAPSHOTTABLEDIRECTORYLIST GETSNAPSHOTLIST GETLINKTARGET GETFILELINKSTATUS "
        "GETSTATUS GETECPOLICIES GETECCODECS GETTRASHROOTS NULL CHECKACCESS "
        "LISTSTATUS_BATCH".split())),
    "PUT": ("PutOpParam", frozenset(
        "CREATE MKDIRS CREATESYMLINK RENAME SETREPLICATION SETOWNER SETPERMISSION SETTIMES "
        "RENEWDELEGATIONTOKEN CANCELDELEGATIONTOKEN MODIFYACLENTRIES REMOVEACLENTRIES "
        "REMOVEDEFAULTACL REMOVEACL SETACL SETXATTR REMOVEXATTR ENABLEECPOLICY DISABLEECPOLICY "
        "SETECPOLICY CREATESNAPSHOT RENAMESNAPSHOT SETSTORAGEPOLICY SATISFYSTORAGEPOLICY "
        "ALLOWSNAPSHOT DISALLOWSNAPSHOT SETQUOTA SETQUOTABYSTORAGETYPE NULL".split())),
    "POST": ("PostOpParam", frozenset(
        "APPEND CONCAT TRUNCATE UNSETECPOLICY UNSETSTORAGEPOLICY NULL".split())),
    "DELETE": ("DeleteOpParam", frozenset("DELETE DELETESNAPSHOT NULL".split())),
}


class Params:
    """Query parameters as WebHDFS reads them: names are case-insensitive and the first value
    of a repeated name wins; a missing value, or the literal ``null``, is the default.

    >>> params = Params("OP=mkdirs&permission=750&op=ignored")
    >>> params.op("PUT"), params.number("permission", None, "short", radix=8)
    ('MKDIRS', 488)
    """

    _NUMBER_KINDS = {"long": (64, "long integer"), "integer": (32, "integer"),
                     "short": (16, "short integer")}

    def __init__(self, query: str):
        self._values: Dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            self._values.setdefault(name.lower(), value)

    def raw(self, name: str) -> Optional[str]:
        return self._values.get(name)

    def _given(self, name: str) -> Optional[str]:
        value = self._values.get(name)
        return None if value is None or value == "null" else value

    def op(self, method: str) -> str:
        enum, names = OP_ENUMS[method]
        value = self._values.get("op", "null").upper()
        if value not in names:
            raise bad_param("op", f"No enum constant org.apache.hadoop.hdfs.web.resources."
                                  f"{enum}.Op.{value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._given(name)
        if value is None:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad_param(name, f'Failed to parse "{value}" to Boolean.')

    def number(self, name: str, default: Optional[int], kind: str = "long", radix: int = 10,
               minimum: Optional[int] = None, maximum: Optional[int] = None) -> Optional[int]:
        value = self._given(name)
        if value is None:
            return default
        bits, label = self._NUMBER_KINDS[kind]
        digits = "0-7" if radix == 8 else "0-9"
        number = int(value, radix) if re.fullmatch(f"[+-]?[{digits}]+", value) else None
        if number is None or not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
            raise bad_param(name, f'Failed to parse "{value}" as a radix-{radix} {label}.')
        shown = (lambda n: format(n, "o")) if radix == 8 else str
        if minimum is not None and number < minimum:
            raise bad_param(name, f"Invalid parameter range: {name} = {shown(number)} < "
                                  f"{shown(minimum)}")
        if maximum is not None and number > maximum:
            raise bad_param(name, f"Invalid parameter range: {name} = {shown(number)} > "
                                  f"{shown(maximum)}")
        return number

    def string(self, name: str) -> Optional[str]:
        return self._values.get(name) or None

    def user(self) -> str:
        """The caller: ``doas`` (a proxied user) over ``user.name``, else ``dr.who``."""
        names = {}
        for name in ("user.name", "doas"):
            value = self.string(name)
            if value is not None and not re.fullmatch(USER_PATTERN, value):
                raise bad_param(name, f'Invalid value: "{value}" does not belong to the '
                                      f'domain {USER_PATTERN}')
            names[name] = value
        return names["doas"] or names["user.name"] or DEFAULT_WEB_USER

    def destination(self) -> Optional[str]:
        value = self.string("destination")
        if value is not None and not value.startswith("/"):
            raise bad_param("destination", f'Invalid parameter value: destination = "{value}" '
                                           f'is not an absolute path.')
        return value

    def declared(self, method: str) -> dict:
        """Every parameter Hadoop declares for ``method``, parsed (so a malformed one is a 400
        whatever the op), with its default when absent."""
        args: dict = {"buffersize": self.number("buffersize", None, "integer", minimum=1),
                      "noredirect": self.boolean("noredirect", False)}
        if method == "GET":
            args["offset"] = self.number("offset", 0, minimum=0)
            args["length"] = self.number("length", None, minimum=0)
        elif method == "PUT":
            args["permission"] = self.number("permission", None, "short", radix=8, minimum=0,
                                             maximum=0o1777)
            args["overwrite"] = self.boolean("overwrite", False)
            args["replication"] = self.number("replication", None, "short", minimum=1)
            args["blocksize"] = self.number("blocksize", None, minimum=1)
            args["modificationtime"] = self.number("modificationtime", -1)
            args["accesstime"] = self.number("accesstime", -1)
            args["createparent"] = self.boolean("createparent", True)
            args["destination"] = self.destination()
            args["owner"] = self.string("owner")
            args["group"] = self.string("group")
        elif method == "DELETE":
            args["recursive"] = self.boolean("recursive", False)
        return args
