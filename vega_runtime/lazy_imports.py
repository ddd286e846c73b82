"""Importing later, in one place: ``"module:attribute"`` strings (a fork server's entry
points, ``vega.listeners``, the CLI's commands, the package's public names) and modules
executed on first use (``lazy_module``).  ``tests/test_layers.py`` checks the names given
to both like imports."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any


def lazy_module(name: str) -> ModuleType:
    """Module ``name``, executed on its first attribute access (as importlib's LazyLoader,
    made safe to interrupt: ``_LazyModule``).

    A local cluster's fork server needs ~0.1 s to import Vega: a Context starts it before
    anything else, and the engine modules it uses load while it does, not before.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    importlib.util.LazyLoader(spec.loader)  # refuses what cannot load lazily (extensions)
    module = importlib.util.module_from_spec(spec)
    _EXECUTING[name] = threading.RLock()
    module.__class__ = _LazyModule
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


class _LazyModule(ModuleType):
    """A module whose code has not run yet: the first access to one of its attributes runs
    it, other than what the import system asks of a module it finds in ``sys.modules``
    (``__spec__``, ``__name__``...: so that ``from module import name`` runs it where an
    exception goes on to the caller; CPython clears one raised by ``__spec__``, and ``from``
    then fails with "cannot import name").  If the code does not finish (Ctrl-C or a kill's
    ``DriverExit`` landing in it, an error), the module is left unexecuted, as a failed
    import leaves no module behind, and the exception goes on; the next access runs it again.
    (importlib's LazyLoader left it half-executed for good.)  A thread that asks while
    another runs it waits for it to finish, as for a module being imported."""

    def __getattribute__(self, attr: str) -> Any:
        if attr in _IMPORT_METADATA:
            return object.__getattribute__(self, attr)
        namespace = object.__getattribute__(self, "__dict__")
        name = namespace["__name__"]
        with _EXECUTING[name]:  # another thread running it: wait until it has run
            if object.__getattribute__(self, "__class__") is _LazyModule and name not in _RUNNING:
                before = dict(namespace)
                _RUNNING.add(name)  # its own code (this thread) sees what it has made so far
                try:
                    namespace["__spec__"].loader.exec_module(self)
                except BaseException:
                    namespace.clear()
                    namespace.update(before)
                    raise
                finally:
                    _RUNNING.discard(name)
                object.__setattr__(self, "__class__", ModuleType)
        return object.__getattribute__(self, attr)


#: module name -> what is held while the lazy module's code runs (re-entrant: the code may
#: use the module itself)
_EXECUTING: "dict[str, threading.RLock]" = {}
#: the lazy modules whose code is running
_RUNNING: "set[str]" = set()


#: what a module has before its code runs, asked by the import system of a module it finds
_IMPORT_METADATA = frozenset(("__spec__", "__name__", "__loader__", "__package__", "__path__",
                              "__file__", "__cached__", "__class__"))


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
