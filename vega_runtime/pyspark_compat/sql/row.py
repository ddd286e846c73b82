"""``pyspark.sql.Row``: a tuple of named fields, as RDD programs build their records.

``Row(name="Alice", age=11)`` is a record read by name (``row.name``, ``row["age"]``) or
position; ``Row("name", "age")`` is a row class, called with values to make records
(``Person = Row("name", "age"); Person("Alice", 11)``); ``spark.read.text`` gives rows of
one field, ``value``.  PySpark's behaviour, errors (with their error classes) included.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

from vega_runtime.errors import PySparkRuntimeError

from ..errors import PySparkAttributeError, PySparkKeyError, PySparkTypeError, PySparkValueError


class Row(tuple):
    """A row of named fields, read by name or position: ``row.value == row[0]``.

    >>> row = Row(value="a line")
    >>> row.value, row[0], row
    ('a line', 'a line', Row(value='a line'))
    >>> Person = Row("name", "age")
    >>> Person("Alice", 11).asDict()
    {'name': 'Alice', 'age': 11}
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "Row":
        if args and kwargs:
            raise PySparkValueError("Row() takes field names (a row class) or fields by "
                                    "name (a row), not both", "CANNOT_SET_TOGETHER",
                                    {"arg_list": "args and kwargs"})
        if kwargs:
            row = tuple.__new__(cls, list(kwargs.values()))
            row.__fields__ = list(kwargs)
            return row
        return tuple.__new__(cls, args)  # a row class: its fields' names

    def asDict(self, recursive: bool = False) -> Dict[str, Any]:  # noqa: N802 - PySpark's
        """The fields as a dict; ``recursive`` turns nested rows (in lists and dicts too)
        into dicts."""
        if not hasattr(self, "__fields__"):
            raise PySparkTypeError("a row class (Row of field names) has no values to make "
                                   "a dict of: call it with values first",
                                   "CANNOT_CONVERT_TYPE", {"from_type": "Row", "to_type": "dict"})
        values = (_as_dict(v) for v in self) if recursive else iter(self)
        return dict(zip(self.__fields__, values))

    def __contains__(self, item: Any) -> bool:
        if hasattr(self, "__fields__"):
            return item in self.__fields__
        return super().__contains__(item)

    def __call__(self, *args: Any) -> "Row":
        """A row of this row class's fields, holding ``args``."""
        if len(args) > len(self):
            raise PySparkValueError(f"{len(args)} values for a row class of {len(self)} "
                                    "fields", "TOO_MANY_VALUES",
                                    {"expected": str(len(self)), "item": "fields",
                                     "actual": str(len(args))})
        return _create_row(self, args)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, (int, slice)):
            return super().__getitem__(item)
        try:
            return super().__getitem__(self.__fields__.index(item))
        except IndexError:
            raise PySparkKeyError(f"the row has no value for field {item!r}", "KEY_NOT_EXISTS",
                                  {"key": str(item)}) from None
        except ValueError:  # (a row class's: no fields, an AttributeError, as PySpark's)
            raise PySparkValueError(str(item)) from None

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)  # (pickle's and copy's probes: no such attribute)
        try:
            return self[self.__fields__.index(item)]
        except (IndexError, ValueError, AttributeError):
            raise PySparkAttributeError(f"the row has no field {item!r}",
                                        "ATTRIBUTE_NOT_SUPPORTED",
                                        {"attr_name": item}) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key != "__fields__":
            raise PySparkRuntimeError("Row is read-only: make a new one", "READ_ONLY")
        self.__dict__[key] = value

    def __reduce__(self):
        if hasattr(self, "__fields__"):
            return (_create_row, (self.__fields__, tuple(self)))
        return tuple.__reduce__(self)

    def __repr__(self) -> str:
        if hasattr(self, "__fields__"):
            fields = ", ".join(f"{k}={v!r}" for k, v in zip(self.__fields__, tuple(self)))
            return f"Row({fields})"
        return "<Row(%s)>" % ", ".join(repr(field) for field in self)


def _create_row(fields: Sequence[str], values: Sequence[Any]) -> Row:
    row = Row(*values)
    row.__fields__ = list(fields)
    return row


def _as_dict(value: Any) -> Any:
    if isinstance(value, Row):
        return value.asDict(True)
    if isinstance(value, list):
        return [_as_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_dict(v) for k, v in value.items()}
    return value

