"""The documentation against the code, read as a user reads it: every ``vega`` command and
flag, configuration key, default in a settings table, Spark setting said to be mapped,
``VEGA_*`` environment variable, source file and module layer that README.md, docs/ and
the conf/ examples name exists as written (docs/benchmarks.md aside: it records measurements, not interfaces).  The metrics
docs/monitoring.md lists are checked against a live scrape in tests/test_master_metrics.py."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from typing import Dict, Iterator, List, Set, Tuple

from vega_cli.main import COMMANDS
from vega_runtime.config_schema import DRIVER, MASTER, SETTINGS, WORKER, Setting, setting_of
from vega_runtime.lazy_imports import load_entry_point
from vega_runtime.pyspark_compat.conf import SPARK_TO_VEGA

from pyspark_install import pyspark_home, requires_pyspark
import test_layers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md"))
    if not p.endswith("benchmarks.md"))
CONF = sorted(os.path.relpath(p, REPO) for pattern in ("*.yaml", "*.example")
              for p in glob.glob(os.path.join(REPO, "conf", pattern)))
#: the options of ``vega`` itself, valid before or after any command
GLOBAL_OPTIONS = {"--debug", "--version", "--help", "-h"}
#: the command that takes the flags of the settings each role reads
COMMAND_OF_ROLE = {MASTER: "master", WORKER: "worker", DRIVER: "submit"}


def read(path: str) -> str:
    with open(os.path.join(REPO, path), encoding="utf-8") as fh:
        return fh.read()


def code_fragments(path: str) -> Iterator[str]:
    """What ``path`` shows as code: its `spans` and the lines of its code blocks (every line
    of a conf/ example, whose comments are its documentation)."""
    text = read(path)
    if not path.endswith(".md"):
        yield from text.split("\n")
        return
    yield from re.findall(r"`([^`\n]+)`", text)
    in_block = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_block = not in_block
        elif in_block:
            yield line


def options_of(command: str) -> Set[str]:
    cmd = load_entry_point(COMMANDS[command])
    return {opt for param in cmd.params for opt in (*param.opts, *param.secondary_opts)}


def vega_command_lines(path: str) -> Iterator[Tuple[str, List[str], str]]:
    """``(command, flags, fragment)`` of every ``vega COMMAND ...`` written as code in
    ``path``: the flags up to the end of the fragment or a shell operator or comment."""
    for fragment in code_fragments(path):
        for match in re.finditer(r"(?<![\w.-])vega (?:--debug )?([a-z][a-z-]*)([^|;&#<>]*)",
                                 fragment):
            flags = [f.split("=")[0] for f in
                     re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", match.group(2))]
            yield match.group(1), flags, fragment


#: words after "vega" in code that are no command: kubectl's namespace, the comments of conf/
NOT_COMMANDS = {("docs/cluster.md", "scale"), ("conf/vega-defaults.yaml", "loggers"),
                ("conf/cluster.yaml", "installed"), ("conf/cluster.yaml", "work"),
                ("docs/security.md", "tls"), ("docs/security.md", "cluster")}


def test_every_vega_command_and_flag_the_docs_write_exists():
    """``vega X --flag`` written as code anywhere in the docs is a command with that flag."""
    options = {name: options_of(name) for name in COMMANDS}
    problems = []
    for path in DOCS + CONF:
        for command, flags, fragment in vega_command_lines(path):
            if command not in COMMANDS:
                if (path, command) not in NOT_COMMANDS:
                    problems.append(f"{path}: no command 'vega {command}': {fragment!r}")
                continue
            problems += [f"{path}: 'vega {command}' has no {flag}: {fragment!r}"
                         for flag in flags if flag not in options[command] | GLOBAL_OPTIONS]
    assert problems == []


def test_every_command_and_flag_is_documented():
    """Each command ``vega --help`` lists, and each of its flags, is named in README.md or
    docs/ (hidden ones, which only Vega itself passes, aside)."""
    text = "\n".join(read(path) for path in DOCS)
    missing = []
    for name, target in COMMANDS.items():
        cmd = load_entry_point(target)
        if cmd.hidden:
            continue
        if f"vega {name}" not in text and f"/ {name}" not in text:
            missing.append(f"vega {name}")
        missing += [f"vega {name} {opt}" for param in cmd.params if not getattr(param, "hidden", 0)
                    for opt in param.opts if opt.startswith("--") and opt not in text]
    assert missing == []


def documented_keys(path: str) -> Iterator[str]:
    """Every ``vega.*`` setting name in ``path``, placeholders filled in
    (``vega.worker.resource.NAME.amount``, ``vega.executor.env.VAR``)."""
    for match in re.finditer(r"(?<![\w./-])vega\.[A-Za-z_{][\w{},]*(?:\.[\w{},*]+)*", read(path)):
        key = match.group(0).rstrip(".,")
        if key.endswith("*") or key in ("vega.internal",):  # a family; a host name
            continue
        key = key.replace("{driver,worker,executor,task}", "task")
        yield key.replace(".NAME.", ".gpu.").replace(".VAR", ".DB_PASSWORD")


def test_every_setting_the_docs_name_exists():
    """Each ``vega.*`` key the docs and examples name is a setting (or of a family)."""
    unknown = [f"{path}: {key}" for path in DOCS + CONF for key in documented_keys(path)
               if setting_of(key) is None]
    assert unknown == []


def test_every_conf_example_is_accepted():
    """``--conf KEY=VALUE`` written in the docs with a real key and value is accepted as
    written (placeholders such as ``KEY=VALUE`` and ``=PORT`` aside)."""
    from vega_runtime.config_args import parse_conf_pair
    from vega_runtime.errors import ConfigError

    refused = []
    for path in DOCS + CONF:
        for fragment in code_fragments(path):
            for pair in re.findall(r"--conf[ =]([a-z][\w.]*=[^\s`;]+)", fragment):
                if not re.fullmatch(r"[A-Z_]+", pair.split("=", 1)[1]):
                    try:
                        parse_conf_pair(pair)
                    except ConfigError as exc:
                        refused.append(f"{path}: {exc}")
    assert refused == []


def test_every_setting_is_documented_in_the_defaults_file():
    """conf/vega-defaults.yaml, the file the README sends users to, names every setting."""
    keys = set(documented_keys("conf/vega-defaults.yaml"))
    assert [s.key for s in SETTINGS if s.key not in keys] == []


def test_flags_the_defaults_file_names_exist():
    """conf/vega-defaults.yaml says which flag sets a setting (``vega master --port``,
    ``vega master/worker --secret-file``): each is a flag of that command."""
    missing = []
    for setting in SETTINGS:
        if setting.flag:
            _, commands, flag = setting.flag.split()
            missing += [f"{setting.key}: vega {command} {flag}" for command in commands.split("/")
                        if flag not in options_of(command)]
    assert missing == []


def markdown_tables(path: str) -> Iterator[Tuple[List[str], List[List[str]]]]:
    """``(header, rows)`` of each table in ``path``, cells stripped (``\\|`` kept in cells)."""
    header: List[str] = []
    rows: List[List[str]] = []
    for line in read(path).split("\n") + [""]:
        if line.startswith("|"):
            cells = [c.strip().replace("\0", "|") for c in
                     line.replace("\\|", "\0").strip().strip("|").split("|")]
            if not header:
                header = [c.lower() for c in cells]
            elif not set(line) <= set("|-: "):
                rows.append(cells)
        elif header:
            yield header, rows
            header, rows = [], []


def table_keys(cell: str) -> List[str]:
    """The settings a table cell names: ``vega.a.b``, and ``.c`` as a sibling of the first
    (`vega.history.fs.cleaner.enabled`, `.interval`)."""
    keys: List[str] = []
    for span in re.findall(r"`([^`]+)`", cell):
        if span.startswith("vega.") and not span.endswith("*"):
            keys.append(span)
        elif span.startswith(".") and keys:
            keys.append(keys[0].rsplit(".", 1)[0] + span)
    return keys


#: how the tables say a default whose value only means something (0, "", none)
MEANING_OF_EMPTY = {"none", "any", "all cpus", "ram - 1g", "this machine's address",
                    "the host", "route to the master", "~/.vega/secret"}
UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "days": 86400}


def same_default(setting: Setting, text: str) -> bool:
    """Whether ``text``, a table's default, says ``setting``'s built-in default."""
    text = re.sub(r"\s*\(.*\)$", "", text.replace("`", "")).strip()
    if setting.default is None:  # of a family (vega.worker.resource.NAME.amount): unset
        return text.lower() == "none"
    default = setting.parse(setting.default)
    if text.lower() in MEANING_OF_EMPTY:
        return not default
    if text.lower() in ("on", "off", "true", "false"):
        return default is (text.lower() in ("on", "true"))
    time = re.fullmatch(r"([\d.]+) (s|min|h|d|days)", text)
    if time:
        return default == float(time.group(1)) * UNITS[time.group(2)]
    try:
        return setting.parse(text) == default
    except ValueError:
        return False


def settings_tables() -> Iterator[Tuple[str, List[str], List[str]]]:
    """``(path, header, row)`` of each row of a table with a "setting" column."""
    for path in DOCS:
        for header, rows in markdown_tables(path):
            if any(h.startswith("setting") for h in header):
                for row in rows:
                    yield path, header, row


def test_defaults_in_the_settings_tables_are_the_registrys():
    """A table's default column says each setting's built-in default (``15 s``, ``1g``,
    ``on``, ``64 / 16`` for two settings)."""
    problems, checked = [], 0
    for path, header, row in settings_tables():
        if "default" not in header:
            continue
        key_column = next(i for i, h in enumerate(header) if h.startswith("setting"))
        keys = table_keys(row[key_column])
        if not keys:
            continue
        # "64 / 16" or "10 s; 20 s" for two settings; "none" for all; what follows the
        # first value of one setting's default is a remark ("120 s (never: off); longer...")
        values = re.split(r", | / |; ", re.sub(r"\([^)]*\)", "", row[header.index("default")]))
        if len(values) == 1 or len(keys) == 1:
            values = values[:1] * len(keys)
        if len(values) != len(keys):
            problems.append(f"{path}: {len(keys)} settings, {len(values)} defaults: {row}")
            continue
        for key, value in zip(keys, values):
            checked += 1
            setting = setting_of(key)
            if setting is None or not same_default(setting, value):
                problems.append(f"{path}: {key}: the table says {value!r}, the default is "
                                f"{setting and setting.default!r}")
    assert problems == []
    assert checked > 60


def test_flags_and_variables_in_the_settings_tables_set_those_settings():
    """A table's flag column names a flag of the command that reads the setting (or
    ``--conf``), or the setting's own environment variable."""
    options = {role: options_of(command) for role, command in COMMAND_OF_ROLE.items()}
    problems = []
    for path, header, row in settings_tables():
        if "flag" not in header:
            continue
        settings = [setting_of(key) for key in table_keys(row[0])]
        flags = set().union(*(options[role] for s in settings for role in s.used_by))
        variables = {s.env for s in settings}
        for span in re.findall(r"`([^`]+)`", row[header.index("flag")]):
            flag = next((w.split("=")[0] for w in span.split() if w.startswith("--")), None)
            if span not in variables and flag not in flags:
                problems.append(f"{path}: {span!r} sets none of {[s.key for s in settings]}")
    assert problems == []


def test_spark_settings_the_api_doc_lists_as_mapped_are_the_mapped_ones():
    """docs/api.md's list of the Spark settings a PySpark program may pass names exactly
    those ``pyspark_compat.conf`` translates (and ``spark.eventLog.enabled=false``)."""
    text = read("docs/api.md")
    start = text.index("Spark settings a program passes map to Vega's")
    paragraph = text[start:text.index("`vega.*` settings pass through", start)]
    listed = set(re.findall(r"`(spark\.[\w.]+)", paragraph)) - {"spark.eventLog.enabled"}
    assert sorted(listed ^ set(SPARK_TO_VEGA)) == []


def test_spark_settings_the_registry_names_as_counterparts_are_translated():
    """A driver setting documented as Spark's ``spark.X`` (conf/vega-defaults.yaml) is what
    a PySpark program's ``spark.X`` sets under ``--pyspark-compat``, not ignored."""
    untranslated = []
    for setting in SETTINGS:
        for spark in re.findall(r"Spark's (spark\.[\w.]*\w)", setting.doc):
            if DRIVER in setting.used_by and SPARK_TO_VEGA.get(spark, ("",))[0] != setting.key:
                untranslated.append(f"{spark} -> {setting.key}")
    assert untranslated == []


def test_architecture_layer_table_is_the_one_the_layer_test_enforces():
    """docs/architecture.md's layer table lists the modules tests/test_layers.py places,
    each in its layer."""
    documented: Dict[str, int] = {}
    for header, rows in markdown_tables("docs/architecture.md"):
        if header[:2] != ["layer", "modules"]:
            continue
        for layer, modules in rows:
            for name in re.findall(r"`([\w.]+)`", modules):
                name = name if name.startswith(test_layers.PACKAGES) else f"vega_runtime.{name}"
                documented.setdefault(name, int(layer[1:]))
    documented.pop("vega_runtime", None)  # "the package itself": EXACT_LAYERS
    enforced = {name: layer for name, layer in test_layers.LAYERS.items()}
    assert {k: v for k, v in documented.items() if enforced.get(k) != v} == {}
    assert sorted(set(enforced) - set(documented)) == []


@requires_pyspark
def test_the_pyspark_compatibility_table_is_what_its_script_writes():
    """docs/api.md's compatibility table is scripts/pyspark_compat_table.py's output for the
    installed PySpark: a row edited by hand (its reason made longer) was lost at the
    script's next run; each reason lives in the script."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "pyspark_compat_table", os.path.join(REPO, "scripts", "pyspark_compat_table.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with open(os.path.join(REPO, "docs", "api.md")) as fh:
        text = fh.read()
    written = text.split(script.BEGIN)[1].split(script.END)[0]
    assert written == f"\n{script.table(pyspark_home())}\n"


def test_the_compatibility_table_script_without_pyspark_says_what_to_do(tmp_path):
    """Run where .venv-bench has no PySpark (a copy of the script in a tree without one),
    scripts/pyspark_compat_table.py exits 2 with one line saying how to get one, and so for
    a directory that is no PySpark package; it failed with an IndexError's traceback."""
    import shutil
    import subprocess
    import sys

    (tmp_path / "scripts").mkdir()
    script = shutil.copy(os.path.join(REPO, "scripts", "pyspark_compat_table.py"),
                         tmp_path / "scripts")
    hint = ("run `bash scripts/bench/setup_env.sh` (it installs PySpark in .venv-bench), or "
            "give the directory of a PySpark package: .venv/bin/python "
            "scripts/pyspark_compat_table.py .../site-packages/pyspark\n")
    env = {**os.environ, "PYTHONPATH": REPO}
    none = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
    assert (none.returncode, none.stdout, none.stderr) == (
        2, "", f"pyspark_compat_table.py: no PySpark in {tmp_path}/.venv-bench: {hint}")
    other = subprocess.run([sys.executable, script, str(tmp_path)], env=env,
                           capture_output=True, text=True)
    assert (other.returncode, other.stdout, other.stderr) == (
        2, "", f"pyspark_compat_table.py: {tmp_path} is not a PySpark package (it has no "
        f"core/rdd.py): {hint}")


#: ``VEGA_*`` names the docs give that are no variable: a JSON value's placeholder
NOT_VEGA_VARIABLES = {"VEGA_VERSION"}


def test_every_environment_variable_the_docs_name_is_read():
    """Each ``VEGA_*`` variable the docs and conf/ examples name is one Vega reads or sets
    (``vega_runtime.environment``: the settings' and the others, ``VEGA_CONF_DIR``,
    ``VEGA_LOCAL_IP`` ...): a misspelt or removed one is set by its reader to no effect."""
    from vega_runtime.environment import known_variables

    known = known_variables()
    unread = sorted({f"{path}: {name}" for path in DOCS + CONF
                     for name in re.findall(r"\bVEGA_[A-Z0-9_]*[A-Z0-9]", read(path))
                     if name not in known | NOT_VEGA_VARIABLES})
    assert unread == []


def test_every_source_file_the_docs_name_exists():
    """``tests/test_x.py``, ``vega_runtime/...py``, ``scripts/...`` named in the docs are
    files of the checkout (a test or module renamed leaves none of its citations behind)."""
    missing = sorted({f"{path}: {name}" for path in DOCS + CONF for name in re.findall(
        r"\b(?:tests|vega_runtime|vega_cli|vega_testing|scripts)/[\w/.-]*\.(?:py|sh)\b",
        read(path)) if not os.path.exists(os.path.join(REPO, name))})
    assert missing == []
