"""The one interpreter of the catalog: records in, events and profile updates out."""

from __future__ import annotations

import hashlib
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipeline.errors import InvalidRecord
from pipeline.transform.catalog import EVENT_RULES, PROFILE_RULES
from pipeline.transform.rules import (
    Abs,
    Cond,
    Count,
    Each,
    EventRule,
    Expr,
    Field,
    ProfileRule,
    Test,
    Whole,
    YesNo,
    lookup,
    scalar,
)
from pipeline.types import ID_NAMESPACE, Event, Item, ProfileUpdate, Record, Value

__all__ = ["Mapper", "evaluate_properties", "stable_id"]


def _evaluate(expr: Expr, data: Mapping[str, Any]) -> Value:
    if isinstance(expr, Field):
        return scalar(lookup(data, expr.path))  # type: ignore[no-any-return]
    if isinstance(expr, Abs):
        value = lookup(data, expr.path)
        return abs(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if isinstance(expr, Whole):
        value = lookup(data, expr.path)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return int(Decimal(repr(value)).to_integral_value(rounding=ROUND_HALF_UP))
    if isinstance(expr, Test):
        return expr.cond.holds(data)
    if isinstance(expr, YesNo):
        value = lookup(data, expr.path)
        return None if value is None else ("Yes" if value else "No")
    if isinstance(expr, Count):
        items = lookup(data, expr.path)
        if not isinstance(items, list):
            return 0
        return sum(1 for i in items if expr.key is None or lookup(i, expr.key) == expr.equals)
    raise TypeError(f"unknown expression {expr!r}")


def evaluate_properties(properties: Mapping[str, Expr], data: Mapping[str, Any]) -> dict[str, Value]:
    """Every property a rule sets; templated names (``Each``) expand to one per entry. A named
    property wins over an expanded entry of the same name."""
    out: dict[str, Value] = {}
    for name, expr in properties.items():
        if isinstance(expr, Each):
            out.update(expr.expand(name, data))
    for name, expr in properties.items():
        if not isinstance(expr, Each):
            out[name] = _evaluate(expr, data)
    return out


Getter = Callable[[Mapping[str, Any]], Any]


_ID_PREFIX = hashlib.sha1(ID_NAMESPACE.bytes, usedforsecurity=False)


def stable_id(*parts: str) -> str:
    """``pipeline.types.stable_id`` (uuid5 in the project's namespace), without building a UUID
    object: the namespace is hashed once, and the text is formatted from the digest directly."""
    digest = _ID_PREFIX.copy()
    digest.update("\x1f".join(parts).encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _getter(path: str) -> Getter:
    """``lookup(·, path)``; a top-level field of a plain dict (what schemas load) is read directly."""
    if "." in path:
        return lambda data: lookup(data, path)
    return lambda data: data.get(path) if type(data) is dict else lookup(data, path)


_ORDER = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}


def _compile_cond(cond: Cond) -> Callable[[Mapping[str, Any]], bool]:
    """``cond.holds`` (rules.OPS, the reference) with its path and operator resolved once."""
    get, value = _getter(cond.path), cond.value
    if cond.op in _ORDER:
        order = _ORDER[cond.op]

        def ordered(data: Mapping[str, Any]) -> bool:
            a = get(data)
            return a is not None and value is not None and bool(order(a, value))

        return ordered
    if cond.op == "eq":
        return lambda data: bool(get(data) == value)
    if cond.op == "ne":
        return lambda data: bool(get(data) != value)
    if cond.op == "is_null":
        return lambda data: (v := get(data)) is None or v == ""
    if cond.op == "not_null":
        return lambda data: not ((v := get(data)) is None or v == "")
    return cond.holds


def _compile_expr(expr: Expr) -> Getter:
    """``_evaluate(expr, ·)`` as a function, decided once per rule rather than once per record."""
    if isinstance(expr, Field):
        get = _getter(expr.path)
        return lambda data: scalar(get(data))
    if isinstance(expr, Test):
        return _compile_cond(expr.cond)
    return lambda data: _evaluate(expr, data)


def _compile_properties(properties: Mapping[str, Expr]) -> Getter:
    """``evaluate_properties(properties, ·)`` as a function."""
    expanded = [(name, expr) for name, expr in properties.items() if isinstance(expr, Each)]
    named = [(name, _compile_expr(expr)) for name, expr in properties.items() if not isinstance(expr, Each)]

    def evaluate(data: Mapping[str, Any]) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for name, each in expanded:
            out.update(each.expand(name, data))
        for name, get in named:
            out[name] = get(data)
        return out

    return evaluate


def _compile_when(when: Sequence[Cond]) -> Callable[[Mapping[str, Any]], bool]:
    checks = tuple(_compile_cond(c) for c in when)
    if len(checks) == 1:
        return checks[0]

    def holds(data: Mapping[str, Any]) -> bool:
        for check in checks:  # noqa: SIM110 (a loop: no generator per record)
            if not check(data):
                return False
        return True

    return holds


class Mapper:
    """Maps records to items with a catalog, indexed once by (provider, stream); each rule's
    conditions and properties are compiled to functions once, here."""

    def __init__(
        self, event_rules: Sequence[EventRule] = EVENT_RULES, profile_rules: Sequence[ProfileRule] = PROFILE_RULES
    ) -> None:
        self._events: dict[tuple[str, str], list[EventRule]] = defaultdict(list)
        self._profiles: dict[tuple[str, str], list[ProfileRule]] = defaultdict(list)
        self._compiled: dict[int, tuple[Callable[[Mapping[str, Any]], bool], Getter]] = {}
        for rule in event_rules:
            self._events[rule.provider, rule.stream].append(rule)
            self._compiled[id(rule)] = (_compile_when(rule.when), _compile_properties(rule.properties))
        for prule in profile_rules:
            self._profiles[prule.provider, prule.stream].append(prule)
            self._compiled[id(prule)] = (_compile_when(prule.when), _compile_properties(prule.properties))

    def handles(self, provider: str, stream: str) -> bool:
        """Whether any rule reads this stream."""
        return (provider, stream) in self._events or (provider, stream) in self._profiles

    def map(self, record: Record) -> list[Item]:
        """Every event and profile update the catalog derives from ``record``.

        Raises:
            InvalidRecord: a rule needs a field the record lacks (e.g. its timestamp).
        """
        key = (record.provider, record.stream)
        items: list[Item] = []
        data = record.data
        version: str | None = None
        for rule in self._events.get(key, ()):
            when, _ = self._compiled[id(rule)]
            if when(data):
                items.append(self._event(rule, record))
        for prule in self._profiles.get(key, ()):
            when, evaluate = self._compiled[id(prule)]
            if when(data):
                properties = {k: v for k, v in evaluate(data).items() if v is not None}
                if not properties:
                    continue
                version = version or record.version
                items.append(
                    ProfileUpdate(
                        id=stable_id(record.merchant, record.provider, record.stream, version, prule.name),
                        merchant=record.merchant,
                        provider=record.provider,
                        as_of=record.updated_at,
                        customer=record.customer,
                        properties=properties,
                        platforms=prule.platforms,
                    )
                )
        return items

    def map_all(self, records: Iterable[Record]) -> list[Item]:
        return [item for record in records for item in self.map(record)]

    def _event(self, rule: EventRule, record: Record) -> Event:
        occurred = lookup(record.data, rule.occurred_at)
        if not isinstance(occurred, datetime):
            raise InvalidRecord(
                f"needed by event {rule.event!r} but missing or not a datetime",
                provider=record.provider,
                field=f"{record.stream}.{rule.occurred_at}",
            )
        identity = record.version if rule.per_version else record.record_id
        return Event(
            id=stable_id(record.merchant, record.provider, record.stream, identity, rule.event),
            merchant=record.merchant,
            provider=record.provider,
            name=rule.event,
            occurred_at=occurred,
            customer=record.customer,
            properties=self._compiled[id(rule)][1](record.data),
            platforms=rule.platforms,
        )
