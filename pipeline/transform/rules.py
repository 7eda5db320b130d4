"""The vocabulary the catalog is written in: conditions, value expressions, rules.

Rules are plain data; ``pipeline.transform.mapper`` is their one interpreter. A record's
fields are addressed by dotted paths (``reviewer.email``, ``recommendedProductIds.0``);
``previous.<path>`` is the same field in the previous snapshot of the record, for rules
that fire on a change (tier changed, enrolled).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "Abs",
    "Cond",
    "Count",
    "Each",
    "EventRule",
    "Expr",
    "Field",
    "ProfileRule",
    "Test",
    "Whole",
    "YesNo",
    "lookup",
    "scalar",
]

_MISSING = object()


_PARTS: dict[str, tuple[str, ...]] = {}  # path → its steps, split once (the catalog's paths are few)


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (list indexes allowed); None where any step is missing."""
    parts = _PARTS.get(path)
    if parts is None:
        parts = tuple(path.split("."))
        if len(_PARTS) < 10_000:
            _PARTS[path] = parts
    value = data
    for part in parts:
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(part, _MISSING)
        elif isinstance(value, list | tuple) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else _MISSING
        else:
            return None
        if value is _MISSING:
            return None
    return value


def scalar(value: Any) -> Any:
    """A property value every platform takes: lists of scalars become "a, b", other
    structures their JSON text; scalars and datetimes are kept."""
    if value is None or isinstance(value, str | int | float | bool | datetime):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float | bool) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, sort_keys=True, default=str)


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _changed(data: Any, path: str, _value: Any) -> bool:
    previous = lookup(data, "previous")
    return previous is None or lookup(previous, path) != lookup(data, path)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, str, Any], bool]:
    def check(data: Any, path: str, value: Any) -> bool:
        a = lookup(data, path)
        return a is not None and value is not None and op(a, value)

    return check


def _compare_field(op: Callable[[Any, Any], bool]) -> Callable[[Any, str, Any], bool]:
    """Compare two fields; a missing right-hand side counts as lower than any value
    (a first tier is an upgrade from none)."""

    def check(data: Any, path: str, other: Any) -> bool:
        a, b = lookup(data, path), lookup(data, other)
        if a is None:
            return False
        return True if b is None else op(a, b)

    return check


#: Condition operators, the one table a ``Cond`` is evaluated against: (record, path, value) → bool.
OPS: Mapping[str, Callable[[Any, str, Any], bool]] = {
    "gt": _compare(operator.gt),
    "ge": _compare(operator.ge),
    "lt": _compare(operator.lt),
    "le": _compare(operator.le),
    "eq": lambda d, p, v: lookup(d, p) == v,
    "ne": lambda d, p, v: lookup(d, p) != v,
    "in": lambda d, p, v: lookup(d, p) in v,
    "is_null": lambda d, p, _: _empty(lookup(d, p)),
    "not_null": lambda d, p, _: not _empty(lookup(d, p)),
    "changed": _changed,
    "gt_field": _compare_field(operator.gt),
}
Op = Literal["gt", "ge", "lt", "le", "eq", "ne", "in", "is_null", "not_null", "changed", "gt_field"]


@dataclass(frozen=True)
class Cond:
    """``record[path] <op> value``. ``changed``: differs from the previous snapshot (or there
    is none); ``gt_field``: greater than the field at path ``value`` (or that field is missing)."""

    path: str
    op: Op
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown operator {self.op!r}")

    def holds(self, data: Any) -> bool:
        return OPS[self.op](data, self.path, self.value)

    def describe(self) -> str:
        if self.op in ("is_null", "not_null", "changed"):
            return f"{self.path} {self.op.replace('_', ' ')}"
        return f"{self.path} {self.op} {self.value!r}"


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


@dataclass(frozen=True)
class YesNo:
    """A boolean field rendered "Yes"/"No", as the source documents describe it."""

    path: str


@dataclass(frozen=True)
class Count:
    """How many items of the list at ``path`` (whose ``key`` equals ``equals``, if given)."""

    path: str
    key: str | None = None
    equals: Any = None


_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]+")


@dataclass(frozen=True)
class Each:
    """One property per entry of a mapping (or of a list of objects, with ``key``/``value``).

    The property's name is the rule's name with its ``[...]`` placeholder replaced by the
    entry's key: ``rediem_[Impactname]`` + ``{"Trees Planted": 3}`` → ``rediem_TreesPlanted``
    (``identifier=True`` keeps only letters, digits and underscores) or, verbatim, a survey
    question as the property name.
    """

    path: str
    key: str | None = None
    value: str | None = None
    identifier: bool = False

    def expand(self, template: str, data: Any) -> dict[str, Any]:
        source = lookup(data, self.path)
        pairs: list[tuple[Any, Any]] = []
        if isinstance(source, Mapping):
            pairs = list(source.items())
        elif isinstance(source, list) and self.key and self.value:
            pairs = [(lookup(e, self.key), lookup(e, self.value)) for e in source if isinstance(e, Mapping)]
        out: dict[str, Any] = {}
        for k, v in pairs:
            if _empty(k):
                continue
            name = _NOT_IDENT.sub("", str(k)) if self.identifier else str(k).strip()
            if name:
                out[re.sub(r"\[[^\]]+\]", name, template, count=1)] = scalar(v)
        return out


@dataclass(frozen=True)
class Whole:
    """A points or count field as an integer (250.0 → 250, 12.5 → 13: half away from zero).

    Providers such as Omneo type points as FLOAT; platforms get whole points, never ``250.0``."""

    path: str


Expr = Field | Abs | Test | YesNo | Count | Each | Whole
Platforms = tuple[str, ...] | None


@dataclass(frozen=True, kw_only=True)
class EventRule:
    """A provider record that satisfies every ``when`` becomes the named event.

    Args:
        platforms: the platforms this event goes to (None: every connected platform).
        per_version: the event can recur for the same record (a snapshot stream), so its id
            includes the record's version.
        source: the seed document the name and properties come from.
    """

    provider: str
    stream: str
    event: str
    occurred_at: str
    when: tuple[Cond, ...] = ()
    properties: Mapping[str, Expr] = field(default_factory=dict)
    platforms: Platforms = None
    per_version: bool = False
    source: str = ""
    doc: str = ""


@dataclass(frozen=True, kw_only=True)
class ProfileRule:
    """A provider record of this stream sets these profile properties on these platforms."""

    provider: str
    stream: str
    name: str
    properties: Mapping[str, Expr]
    when: tuple[Cond, ...] = ()
    platforms: Platforms = None
    source: str = ""
    doc: str = ""
