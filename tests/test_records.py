"""Records (vega_runtime.records): every record class of the package takes its fields, in
order, as its ``__init__``'s parameters and sets each of them, as a dataclass would."""

import importlib
import inspect
import pkgutil

import pytest

import vega_runtime
from vega_runtime.records import FrozenRecord, Record


def _all_records():
    for module in pkgutil.walk_packages(vega_runtime.__path__, "vega_runtime."):
        importlib.import_module(module.name)
    found, todo = [], [Record]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("vega_runtime.") and sub.__module__ != "vega_runtime.records":
                found.append(sub)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


RECORDS = _all_records()


def test_the_package_has_records():
    assert len(RECORDS) > 100


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_a_record_takes_and_sets_exactly_its_fields(cls):
    """``__init__``'s parameters are the fields in declaration order, and an instance built
    from distinct values has each field set to its own value."""
    if cls.__init__ is object.__init__:  # a record without fields
        params = []
    else:
        params = list(inspect.signature(cls.__init__).parameters)[1:]
    assert params == list(cls.__match_args__)
    values = {name: object() for name in params}
    record = cls(**values)
    assert {name: getattr(record, name) for name in params} == values
    assert record == record
    if issubclass(cls, FrozenRecord):
        assert hash(record) == hash(cls(**values))
