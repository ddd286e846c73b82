"""``RemoteException``: a failed WebHDFS operation as Hadoop reports it, with its HTTP status."""

from __future__ import annotations

from typing import Dict, Tuple

__all__ = ["RemoteException", "bad_param"]

#: Exception simple name -> (Java class, HTTP status), per the spec's "HTTP Response Codes".
EXCEPTIONS: Dict[str, Tuple[str, int]] = {
    "IllegalArgumentException": ("java.lang.IllegalArgumentException", 400),
    "UnsupportedOperationException": ("java.lang.UnsupportedOperationException", 400),
    "InvalidPathException": ("org.apache.hadoop.fs.InvalidPathException", 400),
    "AccessControlException": ("org.apache.hadoop.security.AccessControlException", 403),
    "FileAlreadyExistsException": ("org.apache.hadoop.fs.FileAlreadyExistsException", 403),
    "PathIsNotEmptyDirectoryException":
        ("org.apache.hadoop.fs.PathIsNotEmptyDirectoryException", 403),
    "ParentNotDirectoryException": ("org.apache.hadoop.fs.ParentNotDirectoryException", 403),
    "AlreadyBeingCreatedException":
        ("org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException", 403),
    "IOException": ("java.io.IOException", 403),
    "EOFException": ("java.io.EOFException", 403),
    "FileNotFoundException": ("java.io.FileNotFoundException", 404),
    "RuntimeException": ("java.lang.RuntimeException", 500),
}


class RemoteException(Exception):
    """A failed operation, sent as the spec's ``RemoteException`` JSON with its HTTP status.

    >>> err = RemoteException("FileNotFoundException", "File does not exist: /x")
    >>> err.status, err.java_class_name
    (404, 'java.io.FileNotFoundException')
    """

    def __init__(self, exception: str, message: str):
        super().__init__(message)
        self.exception = exception
        self.java_class_name, self.status = EXCEPTIONS[exception]
        self.message = message

    def to_json(self) -> dict:
        return {"RemoteException": {"exception": self.exception,
                                    "javaClassName": self.java_class_name,
                                    "message": self.message}}


def bad_param(name: str, reason: str) -> RemoteException:
    """What Hadoop's ExceptionHandler makes of a parameter Jersey could not build."""
    return RemoteException("IllegalArgumentException",
                           f'Invalid value for webhdfs parameter "{name}": {reason}')
