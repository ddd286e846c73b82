"""Errors of the files and directories a user names: inputs, outputs, job packages, archives
and work directories: a part of the one hierarchy of ``errors``, which gives them too
(``errors.FILE_ERRORS``)."""

from __future__ import annotations

from .errors import ApplicationRefused, VegaError


class InputError(VegaError):
    """An input path does not exist or cannot be read."""

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"cannot read {self.path}: {self.reason}"


class OutputExistsError(VegaError):
    """A save would overwrite an existing path."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path

    def __str__(self) -> str:
        return (f"output path {self.path} already exists; choose another path, delete it, "
                "or pass overwrite=True")


class BadPackage(VegaError):
    """A job package a worker will not unpack: not a zip, or unsafe to unpack.

    >>> str(BadPackage("it is not a zip archive"))
    'the job package cannot be used: it is not a zip archive'
    """

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem

    def __str__(self) -> str:
        return f"the job package cannot be used: {self.problem}"


class PackageTooLarge(ApplicationRefused):
    """The master refused a job package larger than its own ``vega.package.max_size``: the
    submission's mistake (a usage error, as a package past the submitter's limit is,
    ``vega_cli.staging.check_package_size``), told before a byte of it was sent.

    >>> str(PackageTooLarge("9f" * 32, 3 << 20, 1 << 20))
    "the job package (3 MiB, sha256 9f9f9f9f9f9f) is larger than the master's vega.package.max_size (1 MiB)"
    """

    def __init__(self, sha256: str, size: int, limit: int):
        super().__init__(f"its job package {sha256[:12]} is {size} bytes, more than its "
                         f"vega.package.max_size ({limit} bytes)")
        self.args = (sha256, size, limit)
        self.sha256, self.size, self.limit = sha256, size, limit

    def __str__(self) -> str:
        from .executor_loss import binary_size

        return (f"the job package ({binary_size(self.size)}, sha256 {self.sha256[:12]}) is "
                f"larger than the master's vega.package.max_size ({binary_size(self.limit)})")

    @property
    def hint(self) -> str:
        return ("Put large files on storage every host reads (HDFS) and add them in the job "
                "(sc.add_file(URL), sc.add_archive(URL#NAME)), or raise vega.package.max_size "
                "in the master's configuration.")


class BadArchive(VegaError, ValueError):
    """An archive (``add_archive``, ``vega submit --archives``) that is not unpacked: a
    member could land outside its directory, or it unpacks too big.

    >>> str(BadArchive("env.tar", "member '../x' has a '..' in its name"))
    "archive 'env.tar' is not unpacked: member '../x' has a '..' in its name; rebuild it without that"
    """

    def __init__(self, archive: str, problem: str, advice: str = "rebuild it without that"):
        super().__init__(archive, problem, advice)
        self.archive, self.problem, self.advice = archive, problem, advice

    def __str__(self) -> str:
        return f"archive {self.archive!r} is not unpacked: {self.problem}; {self.advice}"


class DirectoryOfAnotherAccount(VegaError):
    """A work dir of another account, or one above ``below`` others could change (StrictModes).

    >>> str(DirectoryOfAnotherAccount("/tmp/work", "mallory (uid 1001)", "root (uid 0)"))
    '/tmp/work belongs to mallory (uid 1001), not to this account, root (uid 0): its owner could read, replace or redirect (with symbolic links) what Vega writes there'
    """

    def __init__(self, path: str, owner: str, account: str, mode: int = -1, below: str = ""):
        super().__init__(path, owner, account, mode, below)
        self.path, self.owner, self.account, self.mode, self.below = self.args
        self.theirs = not owner.startswith(("root (", account))  # (else: writable by others)

    def __str__(self) -> str:
        if not self.below:
            return (f"{self.path} belongs to {self.owner}, not to this account, {self.account}: "
                    "its owner could read, replace or redirect (with symbolic links) what Vega "
                    "writes there")
        who = "it is neither this account's nor root's: its owner" if self.theirs else \
            "group or others may write to it (no sticky bit): they"
        return (f"{self.path} (owner {self.owner}, mode {self.mode:04o}) is above {self.below} and "
                f"{who} could rename {self.below} away and put a symbolic link in its place. Use "
                "a directory only this account (and root) can write to, as every one above it "
                "(--work-dir; a driver's: TMPDIR or vega.local.dir), or fix this one: "
                f"{'chown root' if self.theirs else 'chmod go-w'} {self.path}")

    @property
    def hint(self) -> str:  # (above: the message says what to do)
        return "" if self.below else ("Use a directory of this account's own: name another "
                                      "(--work-dir) or remove it: Vega creates it (mode 0700).")


class EventLogUnwritable(VegaError):
    """vega.eventlog.dir cannot hold this application's event log: the directory cannot be
    made or written (``reason``, as the system said it), or every name tried is taken; or
    ``in_the_way``, a file (not a directory) stands where it, or one above it, must be.

    >>> str(EventLogUnwritable("/srv/events", "Permission denied"))
    "cannot write an event log in /srv/events (Permission denied): point vega.eventlog.dir at a writable directory, or set it to '' to keep none"
    >>> str(EventLogUnwritable("/srv/events", "File exists", "/srv/events"))
    "cannot write an event log in /srv/events: a file is in the way, /srv/events, where that directory must be: move the file away (the directory is made), point vega.eventlog.dir at another directory, or set it to '' to keep none"
    """

    def __init__(self, directory: str, reason: str, in_the_way: str = ""):
        super().__init__(directory, reason, in_the_way)
        self.directory, self.reason, self.in_the_way = directory, reason, in_the_way

    def __str__(self) -> str:
        if self.in_the_way:
            where = "that directory" if self.in_the_way.rstrip("/") == \
                self.directory.rstrip("/") else "a directory above it"
            return (f"cannot write an event log in {self.directory}: a file is in the way, "
                    f"{self.in_the_way}, where {where} must be: move the file away (the "
                    "directory is made), point vega.eventlog.dir at another directory, or "
                    "set it to '' to keep none")
        return (f"cannot write an event log in {self.directory} ({self.reason}): point "
                "vega.eventlog.dir at a writable directory, or set it to '' to keep none")
