"""The vocabulary the catalog is written in: conditions, value expressions, rules.

Rules are plain data. ``pipeline.transform.mapper`` is the one interpreter.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

__all__ = ["Abs", "Cond", "EventRule", "Field", "ProfileRule", "Test", "Expr"]

Op = Literal["gt", "ge", "lt", "le", "eq", "ne", "is_null", "not_null"]

#: Condition operators: the one table a ``Cond`` is evaluated against.
OPS: Mapping[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a is not None and operator.gt(a, b),
    "ge": lambda a, b: a is not None and operator.ge(a, b),
    "lt": lambda a, b: a is not None and operator.lt(a, b),
    "le": lambda a, b: a is not None and operator.le(a, b),
    "eq": operator.eq,
    "ne": operator.ne,
    "is_null": lambda a, _: a is None or a == "",
    "not_null": lambda a, _: not (a is None or a == ""),
}


@dataclass(frozen=True)
class Cond:
    """``record[path] <op> value``; ``path`` is dotted (``vip_status.vip_tier_id``)."""

    path: str
    op: Op
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown operator {self.op!r}")


@dataclass(frozen=True)
class Field:
    """The value at a dotted path of the record."""

    path: str


@dataclass(frozen=True)
class Abs:
    """The absolute value of a numeric field (redeemed points are negative in a ledger)."""

    path: str


@dataclass(frozen=True)
class Test:
    """A boolean: whether the condition holds."""

    cond: Cond


Expr = Union[Field, Abs, Test]


@dataclass(frozen=True, kw_only=True)
class EventRule:
    """A provider record that satisfies every ``when`` becomes the named event."""

    provider: str
    stream: str
    event: str
    occurred_at: str
    when: tuple[Cond, ...] = ()
    properties: Mapping[str, Expr] = field(default_factory=dict)
    doc: str = ""


@dataclass(frozen=True, kw_only=True)
class ProfileRule:
    """A provider record of this stream sets these profile properties."""

    provider: str
    stream: str
    properties: Mapping[str, Expr]
    when: tuple[Cond, ...] = ()
    doc: str = ""
