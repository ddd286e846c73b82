"""DESIGN.md section 3: a module imports only from its own layer or below.

Every module of ``vega_runtime`` and ``vega_cli`` is parsed with ``ast``; every
import in it (top-level, function-local, relative, ``importlib.import_module``
with a literal name) and every module a string names (``"module:function"`` entry
points, ``-m module`` command lines, lists of module names) that reaches one of the
two packages is checked against the layer map below.  Standard-library and third-party imports are not
restricted.  A new module must be placed in ``LAYERS`` deliberately.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("vega_runtime", "vega_cli")

LAYER_NAMES = {0: "L0 leaves", 1: "L1 rdd", 2: "L2 shuffle/storage", 3: "L3 scheduler",
               4: "L4 deploy", 5: "L5 context", 6: "L6 cli"}

#: Module (or package: it covers its submodules) -> layer.
LAYERS: Dict[str, int] = {
    **{f"vega_runtime.{name}": 0 for name in (
        "errors", "config", "config_values", "config_schema", "config_limits", "config_args",
        "serde", "io", "net", "storage_level", "logs", "_version",
        "master_url", "files", "aliases", "user_code", "versions", "packaging", "cluster_file",
        "processes", "forkserver", "pyspark_alias", "ids", "private_files", "lazy_imports", "retry", "records",
        "lambda_fusion",
        "executor_loss", "resources", "spark_settings", "archives", "file_errors", "environment",
        "executor_python")},
    **{f"vega_runtime.{name}": 1 for name in ("rdd", "task_context", "shared", "profiler")},
    **{f"vega_runtime.{name}": 2 for name in ("shuffle", "storage")},
    "vega_runtime.scheduler": 3,
    "vega_runtime.deploy": 4,
    # The Context sits above deploy (as SparkContext does in Spark): it starts local clusters.
    **{f"vega_runtime.{name}": 5 for name in ("context", "context_jobs", "context_files",
                                              "context_backend", "context_checkpoints",
                                              "context_persistence", "context_profiles",
                                              "context_event_logs", "context_inputs", "context_in_task",
                                              "vega_io",
                                              "pyspark_compat")},
    "vega_cli": 6,
}
#: The package ``__init__`` of vega_runtime re-exports the Context: layer 5, but
#: only the module itself, never as a prefix covering unplaced submodules.
EXACT_LAYERS: Dict[str, int] = {"vega_runtime": 5}


def layer_of(module: str) -> Optional[int]:
    """The layer of ``module``: exact entries first, then the longest mapped prefix."""
    if module in EXACT_LAYERS:
        return EXACT_LAYERS[module]
    best: Optional[Tuple[int, int]] = None
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), layer)
    return None if best is None else best[1]


def discover_modules() -> Dict[str, str]:
    """Dotted module name -> file path, for every .py file of the two packages."""
    modules: Dict[str, str] = {}
    for package in PACKAGES:
        root = os.path.join(REPO, package)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for filename in sorted(filenames):
                if not filename.endswith(".py"):
                    continue
                path = os.path.join(dirpath, filename)
                parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = path
    return modules


@dataclass(frozen=True)
class Import:
    line: int
    target: str


def _is_internal(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _resolve_base(module: str, is_package: bool, level: int, name: Optional[str]) -> str:
    """The absolute module named by ``from <level dots><name> import ...`` inside ``module``."""
    if level == 0:
        return name or ""
    package = module if is_package else module.rpartition(".")[0]
    parts = package.split(".")
    if level - 1 >= len(parts):
        raise ValueError(f"{module}: relative import beyond the top-level package")
    base = ".".join(parts[:len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


#: ``"module:function"``: an entry point, imported by whoever runs it (a fork server, say)
ENTRY_POINT = re.compile(r"((?:vega_runtime|vega_cli)(?:\.\w+)*):\w+(?:\.\w+)*")

#: Programs a module starts as processes of their own, by ``-m module``, although the
#: module is in a higher layer: (starting module, started module) -> why.  Starting a
#: program is not importing it, but each such start is listed here deliberately.
PROGRAMS_STARTED: Dict[Tuple[str, str], str] = {
    ("vega_runtime.deploy.drivers", "vega_cli.main"):
        "a cluster-mode driver is `vega submit` run by the master, exactly as by hand",
}


def _not_data(tree: ast.AST) -> set:
    """ids of the nodes that name no module to run: docstrings, f-string parts and operands
    of a comparison (``arg in ("vega_cli.main", ...)`` recognizes a command line)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant):
            skipped.add(id(node.body[0].value))
        elif isinstance(node, ast.Compare):
            skipped.update(id(operand) for operand in [node.left, *node.comparators])
        elif isinstance(node, ast.JoinedStr):
            skipped.update(id(value) for value in node.values)
    return skipped


def string_references(tree: ast.AST, known: Dict[str, str]) -> Iterator[Import]:
    """Vega modules named by strings: ``"module:function"`` entry points, ``-m module`` in
    a command line (a list or tuple), and dotted module names listed in a list or tuple
    (modules to preload, say)."""
    skipped = _not_data(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in skipped:
            match = ENTRY_POINT.fullmatch(node.value)
            if match:
                yield Import(node.lineno, match.group(1))
    constants = {target.id: node.value for node in getattr(tree, "body", [])
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                 for target in node.targets if isinstance(target, ast.Name)}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.List, ast.Tuple)) or id(node) in skipped:
            continue
        items = node.elts
        for index, item in enumerate(items):
            if isinstance(item, ast.Name) and item.id in constants:  # -m MODULE_NAME
                item = ast.copy_location(constants[item.id], item)
            if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                continue
            after_m = index > 0 and isinstance(items[index - 1], ast.Constant) \
                and items[index - 1].value == "-m"
            if (after_m and _is_internal(item.value)) or \
                    ("." in item.value and item.value in known and _is_internal(item.value)):
                yield Import(item.lineno, item.value)


def imports_of(source: str, module: str, is_package: bool, known: Dict[str, str]) -> Iterator[Import]:
    """Every import of ``source`` (anywhere in the file) that names a vega module, by an
    import statement, ``import_module`` or a string (:func:`string_references`)."""
    tree = ast.parse(source)
    yield from string_references(tree, known)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_base(module, is_package, node.level, node.module)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                # ``from pkg import submodule`` imports the submodule; otherwise a name of pkg.
                yield Import(node.lineno, candidate if candidate in known else base)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if called in ("import_module", "__import__", "lazy_module") \
                    and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                name = first.value
                if name.startswith("."):  # import_module(".x", package=__package__)
                    dots = len(name) - len(name.lstrip("."))
                    name = _resolve_base(module, is_package, dots, name.lstrip(".") or None)
                yield Import(node.lineno, name)


def violations_in(module: str, path: str, source: str, known: Dict[str, str]) -> List[str]:
    is_package = os.path.basename(path) == "__init__.py"
    own = layer_of(module)
    found = []
    for imp in imports_of(source, module, is_package, known):
        if not _is_internal(imp.target):
            continue
        target_layer = layer_of(imp.target)
        if (module, imp.target) in PROGRAMS_STARTED:
            continue
        where = f"{module} ({os.path.relpath(path, REPO)}:{imp.line})"
        if target_layer is None:
            found.append(f"{where} imports {imp.target}, which is in no layer")
        elif own is not None and target_layer > own:
            found.append(f"{where} [{LAYER_NAMES[own]}] imports {imp.target} "
                         f"[{LAYER_NAMES[target_layer]}]: a higher layer")
    return found


def all_violations() -> List[str]:
    known = discover_modules()
    found: List[str] = []
    for module, path in sorted(known.items()):
        with open(path, encoding="utf-8") as fh:
            found += violations_in(module, path, fh.read(), known)
    return found


# -- the rules ------------------------------------------------------------------------------

def test_every_module_is_placed_in_a_layer():
    """Each module of vega_runtime and vega_cli belongs to a layer of the map."""
    unplaced = sorted(m for m in discover_modules() if layer_of(m) is None)
    assert unplaced == [], "modules missing from the layer map in tests/test_layers.py: " \
        + ", ".join(unplaced)


def test_imports_only_reach_the_same_layer_or_below():
    """No module imports a vega module of a higher layer (DESIGN.md section 3)."""
    found = all_violations()
    assert found == [], "layer violations:\n" + "\n".join(found)


# -- the checker itself ------------------------------------------------------------------------

def _check(module: str, source: str, is_package: bool = False, extra=()) -> List[str]:
    known = {m: "" for m in discover_modules()}
    known.update({m: "" for m in extra})
    path = os.path.join(REPO, *module.split("."), "__init__.py") if is_package \
        else os.path.join(REPO, *module.split(".")) + ".py"
    return violations_in(module, path, source, known)


def test_checker_reports_relative_upward_import_with_module_line_and_layers():
    """A relative import from rdd into the scheduler is named with line and both layers."""
    found = _check("vega_runtime.rdd.base", "import os\n\nfrom ..scheduler.dag import DAGScheduler\n")
    assert found == ["vega_runtime.rdd.base (vega_runtime/rdd/base.py:3) [L1 rdd] imports "
                     "vega_runtime.scheduler.dag [L3 scheduler]: a higher layer"]


def test_checker_reports_function_local_import():
    """An import inside a function body is checked like a top-level one."""
    source = "def f():\n    if True:\n        from vega_runtime.context import Context\n"
    assert _check("vega_runtime.shuffle.reader", source) == [
        "vega_runtime.shuffle.reader (vega_runtime/shuffle/reader.py:3) [L2 shuffle/storage] "
        "imports vega_runtime.context [L5 context]: a higher layer"]


def test_checker_treats_import_from_package_init_as_the_context_layer():
    """``from .. import X`` in an L0 module reaches vega_runtime/__init__ (L5)."""
    found = _check("vega_runtime.io.files", "from .. import Context\n")
    assert found == ["vega_runtime.io.files (vega_runtime/io/files.py:1) [L0 leaves] imports "
                     "vega_runtime [L5 context]: a higher layer"]


def test_checker_resolves_from_package_import_submodule():
    """``from . import errors`` in vega_runtime/__init__ targets vega_runtime.errors (L0)."""
    assert _check("vega_runtime", "from . import errors\n", is_package=True) == []
    assert _check("vega_runtime.rdd.base", "from .. import errors\n") == []


def test_checker_sees_import_module_with_literal_name():
    """``importlib.import_module('vega_cli.progress')`` from the runtime is an upward import."""
    source = "import importlib\nimportlib.import_module('vega_cli.progress')\n"
    assert _check("vega_runtime.context", source) == [
        "vega_runtime.context (vega_runtime/context.py:2) [L5 context] imports "
        "vega_cli.progress [L6 cli]: a higher layer"]


def test_checker_allows_same_layer_lower_layers_and_third_party():
    """Imports within a layer, downwards, and outside vega are all fine."""
    source = ("import os, json\nimport click\nfrom rich.console import Console\n"
              "from vega_runtime.scheduler.listener import JobListener\n"
              "from vega_runtime.errors import VegaError\nfrom .errors import fail\n")
    assert _check("vega_cli.progress", source) == []


def test_checker_reports_import_of_an_unplaced_vega_module():
    """Importing a vega module that is in no layer is itself reported."""
    found = _check("vega_cli.main", "import vega_runtime.mystery\n",
                   extra=["vega_runtime.mystery"])
    assert found == ["vega_cli.main (vega_cli/main.py:1) imports vega_runtime.mystery, "
                     "which is in no layer"]


def test_layer_map_places_deploy_between_scheduler_and_cli():
    """deploy (L4) may use the scheduler (L3) and the scheduler may not use deploy."""
    assert layer_of("vega_runtime.deploy.master") == 4
    assert _check("vega_runtime.deploy.worker", "from ..scheduler.executor import Executor\n",
                  extra=["vega_runtime.deploy", "vega_runtime.deploy.worker"]) == []
    assert _check("vega_runtime.scheduler.runner", "from ..deploy import master\n",
                  extra=["vega_runtime.deploy", "vega_runtime.deploy.master"]) == [
        "vega_runtime.scheduler.runner (vega_runtime/scheduler/runner.py:1) "
        "[L3 scheduler] imports vega_runtime.deploy.master [L4 deploy]: a higher layer"]


def test_checker_sees_entry_point_strings():
    """A ``"module:function"`` string (what a fork server imports and calls) is an import."""
    source = 'DAEMON_ENTRY = "vega_cli.daemon_run:fork_entry"\n'
    assert _check("vega_runtime.scheduler.local_cluster", source,
                  extra=["vega_cli.daemon_run"]) == [
        "vega_runtime.scheduler.local_cluster (vega_runtime/scheduler/local_cluster.py:1) "
        "[L3 scheduler] imports vega_cli.daemon_run [L6 cli]: a higher layer"]


def test_checker_sees_dash_m_command_lines_and_module_lists():
    """``-m module`` in a command line, directly or through a module-level constant, and a
    tuple of module names to preload are imports; a comparison and a docstring are not."""
    source = ('"""Runs python -m vega_cli.main master."""\n'
              'CLI = "vega_cli.main"\n'
              'cmd = [sys.executable, "-m", "vega_cli.main", "submit"]\n'
              'fallback = [sys.executable, "-m", CLI, "master"]\n'
              'PRELOAD = ("vega_cli.daemons", "json")\n'
              'ours = argv[0] == "vega_cli.main" or argv[0] in ("vega_cli.main", "vega")\n')
    found = _check("vega_runtime.deploy.worker", source)
    assert [line.split(" imports ")[1].split(" [")[0] for line in found] == [
        "vega_cli.main", "vega_cli.main", "vega_cli.daemons"]
    assert [line.split(".py:")[1].split(")")[0] for line in found] == ["3", "4", "5"]


def test_checker_lets_listed_programs_be_started():
    """A program started across layers on purpose (PROGRAMS_STARTED) is not reported."""
    source = 'command = [sys.executable, "-m", "vega_cli.main", "submit"]\n'
    assert _check("vega_runtime.deploy.drivers", source) == []
    assert _check("vega_runtime.deploy.master", source) != []


def test_the_context_may_start_deploy_but_deploy_may_not_reach_the_context():
    """Context (L5) sits above deploy (L4): a local cluster is deploy's, the Context uses it."""
    assert _check("vega_runtime.context", "from .deploy.local_cluster import LocalCluster\n") == []
    assert _check("vega_runtime.deploy.master", "from ..context import Context\n") == [
        "vega_runtime.deploy.master (vega_runtime/deploy/master.py:1) [L4 deploy] imports "
        "vega_runtime.context [L5 context]: a higher layer"]


def test_checker_sees_lazy_modules():
    """``lazy_module("...")`` (vega_runtime.lazy_imports) imports, later: it is checked too."""
    source = 'from .lazy_imports import lazy_module\nrunner = lazy_module("vega_runtime.deploy.master")\n'
    assert _check("vega_runtime.scheduler.runner", source) == [
        "vega_runtime.scheduler.runner (vega_runtime/scheduler/runner.py:2) [L3 scheduler] "
        "imports vega_runtime.deploy.master [L4 deploy]: a higher layer"]


def test_the_test_layers_name_existing_files(request):
    """Every file conftest.py marks unit or system exists (a renamed one would silently
    become integration)."""
    here = os.path.join(REPO, "tests", "conftest.py")
    (conftest,) = [plugin for plugin in request.config.pluginmanager.get_plugins()
                   if getattr(plugin, "__file__", None) == here]
    tests = set(os.listdir(os.path.join(REPO, "tests")))
    assert sorted((conftest.UNIT_FILES | conftest.SYSTEM_FILES) - tests) == []
    assert conftest.UNIT_FILES.isdisjoint(conftest.SYSTEM_FILES)
