"""``Record``: the base of the plain data classes every job creates (the task messages, the
scheduler's tasks, actions and events).

They used to be ``@dataclass``es; a dataclass compiles its ``__init__``, ``__repr__`` and
``__eq__`` from source when its module is imported, which was a quarter of a trivial
``local[2]`` job's driver time (37 classes). A record declares its fields as annotations
(``typing.get_type_hints`` reads them as before) and writes its ``__init__`` by hand: no
code is generated at import, and construction is as fast as it gets. Its fields, in
order, are in ``__match_args__`` as for a dataclass (``match`` works the same); ``repr``,
equality and, for frozen records, hashing and refusing assignment come from here.

>>> class Point(Record):
...     x: int
...     y: int
...     def __init__(self, x, y=0):
...         self.x = x
...         self.y = y
>>> Point(1), Point(1) == Point(1, 0), Point(1) == Point(2)
(Point(x=1, y=0), True, False)
>>> class Pin(FrozenRecord):
...     x: int
...     def __init__(self, x):
...         object.__setattr__(self, "x", x)
>>> pin = Pin(3); pin.x = 4
Traceback (most recent call last):
...
dataclasses.FrozenInstanceError: cannot assign to field 'x'
>>> hash(pin) == hash(Pin(3))
True
"""

from __future__ import annotations

from typing import Tuple

# (``dataclasses`` is imported where a record needs it, not here: it loads ``inspect``,
# ``ast`` and ``dis``, ~10 ms of every job's start-up)


class Record:
    """A mutable record: equal to a record of the same class with equal fields; unhashable."""

    # (no annotations here: a subclass's annotations are its fields, and nothing else)
    __match_args__ = ()
    #: the fields ``==`` compares and a frozen record hashes: all but those a class
    #: names in ``_not_compared`` (a dataclass's ``field(compare=False)``)
    _compared = ()
    _not_compared = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__match_args__ = cls.__match_args__ + tuple(cls.__dict__.get("__annotations__", ()))
        cls._compared = tuple(n for n in cls.__match_args__ if n not in cls._not_compared)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        names = self._compared
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)

    __hash__ = None  # type: ignore[assignment]  # mutable: as a dataclass with eq=True


class FrozenRecord(Record):
    """An immutable record (set its fields with ``object.__setattr__`` in ``__init__``):
    hashable by its fields, assignment and deletion raise ``FrozenInstanceError``."""

    def __setattr__(self, name, value):
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self._compared))


def field_names(cls: type) -> Tuple[str, ...]:
    """The fields of a record or dataclass ``cls``, in order.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class D:
    ...     a: int
    >>> field_names(D)
    ('a',)
    """
    if issubclass(cls, Record):
        return cls.__match_args__
    from dataclasses import fields

    return tuple(f.name for f in fields(cls))


def replace(record: Record, **changes) -> Record:
    """A copy of ``record`` with ``changes`` (``dataclasses.replace`` for records; its
    ``__init__`` takes every field by name).

    >>> class Point(Record):
    ...     x: int
    ...     y: int
    ...     def __init__(self, x, y=0):
    ...         self.x = x
    ...         self.y = y
    >>> replace(Point(1, 2), y=5)
    Point(x=1, y=5)
    """
    return type(record)(**{**{name: getattr(record, name) for name in field_names(type(record))},
                           **changes})
