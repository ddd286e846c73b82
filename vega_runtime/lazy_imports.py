"""Importing later, in one place: ``"module:attribute"`` strings (a fork server's entry
points, ``vega.listeners``, the CLI's commands, the package's public names) and modules
executed on first use (``lazy_module``).  ``tests/test_layers.py`` checks the names given
to both like imports."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any


def lazy_module(name: str) -> ModuleType:
    """Module ``name``, executed on its first attribute access (importlib's LazyLoader).

    A local cluster's fork server needs ~0.1 s to import Vega: a Context starts it before
    anything else, and the engine modules it uses load while it does, not before.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def load_entry_point(spec: str) -> Any:
    """The object ``module:attribute`` names, importing the module (``attribute`` may be
    dotted: ``module:Class.method``).

    >>> load_entry_point("os.path:join")("a", "b")
    'a/b'
    >>> load_entry_point("json")
    Traceback (most recent call last):
    ...
    ValueError: 'json' is not module:attribute
    """
    module, colon, attribute = spec.partition(":")
    if not colon or not module or not attribute:
        raise ValueError(f"{spec!r} is not module:attribute")
    value = importlib.import_module(module)
    for name in attribute.split("."):
        value = getattr(value, name)
    return value
