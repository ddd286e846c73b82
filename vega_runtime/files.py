"""Files shipped with ``vega submit --files``, found by name (PySpark's SparkFiles)."""

from __future__ import annotations

import os

from .errors import VegaError

FILES_DIR_ENV = "VEGA_FILES_DIR"


class SparkFiles:
    """``SparkFiles.get("lookup.csv")`` -> the local path of a file given with ``--files``."""

    @staticmethod
    def get_root_directory() -> str:
        root = os.environ.get(FILES_DIR_ENV)
        if not root:
            raise VegaError("no files were shipped with this job: pass them with "
                            "vega submit --files a.csv,b.txt")
        return root

    @classmethod
    def get(cls, filename: str) -> str:
        path = os.path.join(cls.get_root_directory(), os.path.basename(filename))
        if not os.path.exists(path):
            raise VegaError(f"{filename!r} was not shipped with this job; add it to --files")
        return path

    getRootDirectory = get_root_directory
