"""Settings: one loader, the precedence written out once (the schema is ``config_schema``).

Precedence, lowest first::

    built-in defaults (config_schema.SETTINGS)
    < conf/vega-defaults.yaml   (in $VEGA_CONF_DIR, else ./conf)
    < the --config file
    < VEGA_* environment variables (each setting names its own)
    < CLI flags (vega submit --conf KEY=VALUE, --master, ...; vega master --port, ...)
    < values set in the job (Context(conf={...}))

``conf/vega-defaults.yaml`` documents every key with its default and unit; a
test keeps it in step with ``SETTINGS``.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping

from .config_schema import SETTINGS, Setting, defaults_file_line, not_a_setting, setting_of
from .errors import ConfigError


#: Set by ``vega submit`` for the job's process: JSON of the CLI-level overrides, whose origin
#: is the command line there too (``--verbose`` tables, the event log's environment).
SUBMIT_CONF_ENV = "VEGA_SUBMIT_CONF"
COMMAND_LINE = "command line"  #: the origin of settings given on a command line
#: Set by the master for a cluster-mode driver (``vega submit`` run on its host): JSON of
#: the ``--conf`` settings its submitter gave, taken as if given with ``--conf``.  Not on the
#: driver's command line, which every user of the host can read (``ps``): a setting may be
#: a password (``vega.executor.env.DB_PASSWORD``).
DRIVER_CONF_ENV = "VEGA_DRIVER_CONF"
#: Set by the master for a cluster-mode driver: its driver id, which its Context gives the
#: master when it registers its application, so that the master knows the application of
#: a driver (``vega kill DRIVER_ID`` kills both; ``vega status DRIVER_ID`` shows it).
DRIVER_ID_ENV = "VEGA_DRIVER_ID"
#: Set by the master for a cluster-mode driver whose executors run the package its submitter
#: uploaded (one without --archives, which a driver adds itself): that package's path in the
#: master's work dir, ``packages/<sha256>.zip``.  The driver's Context names it to the
#: master as it is, as spark-submit's cluster mode ships the application once (it was
#: zipped and uploaded again: 8.2 s against 5.4 s in client mode for a 300 MB --files).
DRIVER_PACKAGE_ENV = "VEGA_DRIVER_PACKAGE"


def cluster_mode_driver_id() -> str:
    """The driver id the master gave this process (``DRIVER_ID_ENV``), "" if none: run as a
    cluster-mode driver, or not (an id of another form is not passed on)."""
    from . import ids

    driver_id = os.environ.get(DRIVER_ID_ENV, "")
    return driver_id if ids.DRIVER.matches(driver_id) else ""


def cluster_mode_package(path: str) -> str:
    """The SHA-256 of the job package at ``path`` when it is the one the master that started
    this cluster-mode driver holds (``DRIVER_PACKAGE_ENV``; the master names it by its
    content), "" otherwise: the package is not built, hashed, uploaded nor asked for again
    (the master keeps it while the driver runs)."""
    from . import ids

    held = os.environ.get(DRIVER_PACKAGE_ENV, "")
    name = os.path.basename(held)
    sha256 = name[:-len(".zip")] if name.endswith(".zip") else ""
    return sha256 if held and path == held and ids.PACKAGE.matches(sha256) else ""


class Config(Mapping[str, Any]):
    """Resolved settings, with where each value came from.

    >>> conf = Config.load(overrides={"vega.task.max_attempts": "2"})
    >>> conf["vega.task.max_attempts"], conf.origin("vega.task.max_attempts")
    (2, 'job')
    """

    def __init__(self, values: dict[str, Any], origins: dict[str, str]):
        self._values = values
        self._origins = origins

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def origin(self, key: str) -> str:
        return self._origins[key]

    def with_values(self, values: Mapping[str, Any], origin: str) -> "Config":
        resolved, origins = dict(self._values), dict(self._origins)
        _apply(resolved, origins, values, origin)
        return Config(resolved, origins)

    @classmethod
    def load(cls, config_file: str | None = None, environ: Mapping[str, str] | None = None,
             cli: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None,
             conf_dir: str | None = None) -> "Config":
        """Resolve every setting from all sources, in the documented precedence."""
        env = os.environ if environ is None else environ
        values = {s.key: s.parse(s.default) for s in SETTINGS}
        origins = {s.key: "default" for s in SETTINGS}
        named_dir = conf_dir or env.get("VEGA_CONF_DIR")
        defaults_file = os.path.join(named_dir or "conf", "vega-defaults.yaml")
        if os.path.isfile(defaults_file):
            if not named_dir:  # found in the working directory, not named: whose is it?
                refuse_if_foreign(defaults_file, "its vega.py_files or vega.master could run "
                                                 "their code as this account")
            _apply(values, origins, _read_defaults_file(defaults_file), defaults_file)
        config_file = config_file or env.get("VEGA_CONFIG")
        if config_file:
            _apply(values, origins, _read_yaml(config_file), config_file)
        _apply(values, origins, {s.key: env[s.env] for s in SETTINGS if s.env and s.env in env},
               "environment")
        if env.get(SUBMIT_CONF_ENV):
            _apply(values, origins, json.loads(env[SUBMIT_CONF_ENV]), COMMAND_LINE)
        _apply(values, origins, cli or {}, COMMAND_LINE)
        _apply(values, origins, overrides or {}, "job")
        return cls(values, origins)


def _apply(values: dict, origins: dict, new: Mapping[str, Any], origin: str) -> None:
    spark_names: Dict[str, str] = {}
    if any(str(key).startswith("spark.") for key in new):
        from .spark_settings import given_as

        spark_names = given_as(new)
        new = translate_spark_names(new, origin)
    for key, raw in new.items():
        if not isinstance(key, str):  # SparkConf().set(None, 1): Spark's is a NullPointerException
            raise ConfigError(origin, repr(key), "is not a setting name: names are strings "
                                                 "such as vega.executor.memory")
        setting = setting_of(key)
        if setting is None:
            raise ConfigError(origin, key, not_a_setting(key) + "; see conf/vega-defaults.yaml "
                                                                "for the list of settings")
        try:
            values[key] = setting.parse(raw)
        except ValueError as exc:  # named as given: spark.task.maxFailures (vega.task....)
            named = f"{spark_names[key]} ({key})" if key in spark_names else key
            raise ConfigError(_source(setting, origin), named, str(exc)) from None
        origins[key] = origin


def translate_spark_names(new: Mapping[str, Any], origin: str,
                            warn: bool = True) -> Mapping[str, Any]:
    """``new`` with Spark's names of settings (``spark.executor.memory``) as Vega's; the
    ones Vega has no use for are left out, with one warning naming them (unless not
    ``warn``)."""
    from .spark_settings import translate, warn_ignored

    try:
        translated, ignored = translate(new.items())
    except ValueError:
        for key, value in new.items():  # which one: each alone
            try:
                translate([(key, value)])
            except ValueError as exc:
                raise ConfigError(origin, key, str(exc)) from None
        raise
    if ignored and warn:
        warn_ignored(ignored, origin)
    return translated


def _source(setting: Setting, origin: str) -> str:
    """Where a bad value came from, as the user gave it: the environment variable, the
    daemon's flag (``vega master --port``), else ``origin`` (a file, "job", ...)."""
    if origin == "environment" and setting.env:
        return setting.env
    if origin == COMMAND_LINE and setting.flag and setting.flag.startswith("vega "):
        return setting.flag
    return origin


def refuse_if_foreign(path: str, settings: str) -> None:
    """``ConfigError`` when ``path``, a file of the working directory's ``conf`` read unnamed
    (``vega-defaults.yaml``, ``cluster.yaml``), is another account's, or another account
    could have put it there (a directory on its way neither this account's nor root's, or
    writable by others without the sticky bit, as OpenSSH's StrictModes and git's
    safe.directory judge): its settings would run their code as this account
    (``vega.py_files`` shadowing a module the job imports, ``vega.master`` and
    ``vega.secret.file`` sending the job to their cluster, whose results the driver
    unpickles; a cluster file's hosts get the secret): ``settings`` says what its owner
    could do.  A file named (VEGA_CONF_DIR, --config) is the user's choice."""
    import stat

    from .errors import DirectoryOfAnotherAccount
    from .private_files import account_name, check_parents, others_may_write

    uid = os.getuid()
    where = os.path.abspath(path)
    try:
        check_parents(where)
        info = os.stat(where)
        if info.st_uid not in (0, uid) or others_may_write(info, uid):
            raise DirectoryOfAnotherAccount(where, account_name(info.st_uid), account_name(uid),
                                            stat.S_IMODE(info.st_mode))
    except DirectoryOfAnotherAccount as exc:
        whose = (f"{exc.path} belongs to {exc.owner}, not to this account, {exc.account}"
                 if exc.theirs else f"{exc.path} (mode {exc.mode:04o}) may be written by "
                 f"accounts other than this one, {exc.account}")
        raise ConfigError("", where, f"is not read: {whose} ({settings}). Run vega from a "
                          "directory of yours, or name the directory with VEGA_CONF_DIR if you "
                          "trust the file") from None


def _read_defaults_file(path: str) -> dict[str, Any]:
    """The settings of a ``vega-defaults.yaml``.  One that is, comments and blank lines
    aside, exactly the generated lines holds every built-in default (tests/test_config.py
    checks they read back as such), and needs no YAML parser: importing PyYAML was a tenth
    of a trivial job's start-up."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line for line in fh.read().split("\n") if line and not line.startswith("#")]
    except (OSError, UnicodeDecodeError):
        return _read_yaml(path)  # which says what is wrong with the file
    if lines == [defaults_file_line(s) for s in SETTINGS]:
        return {s.key: s.default for s in SETTINGS}
    return _read_yaml(path)


def read_settings_file(path: str) -> dict[str, Any]:
    """The settings of a YAML settings file (``--config``), flattened, as written (Spark's
    names untranslated); ``ConfigError`` says what is wrong with the file."""
    return _read_yaml(path)


def _read_yaml(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            # libyaml's loader where PyYAML has it: the same documents, parsed faster
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except FileNotFoundError:
        raise ConfigError(path, "file", "does not exist") from None
    except IsADirectoryError:
        raise ConfigError(path, "file", "is a directory, not a YAML file of settings") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "file", f"cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, "file", f"is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "file", "must be a mapping of setting names to values")
    return _flatten(data)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Accept both ``vega.task.max_attempts: 4`` and nested ``vega: {task: ...}`` (no
    setting takes a mapping, so ``vega: {master: {port: 7077}}`` is vega.master.port)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def settings_of(conf: Any) -> dict:
    """``Context(conf=...)``'s settings: a mapping's, or PySpark's ``SparkConf``'s pairs.

    >>> settings_of({"vega.task.max_attempts": 2}), settings_of(None)
    ({'vega.task.max_attempts': 2}, {})
    """
    if conf is None:
        return {}
    if callable(getattr(conf, "getAll", None)):  # a SparkConf (pyspark_compat's)
        return dict(conf.getAll())
    if not isinstance(conf, Mapping):
        raise TypeError("conf must be a dict of settings ({'vega.task.max_attempts': 2}) or a "
                        f"SparkConf, not {type(conf).__name__}")
    return dict(conf)

