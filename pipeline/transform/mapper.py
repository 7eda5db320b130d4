"""The one interpreter of the catalog: records in, events and profile updates out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipeline.errors import InvalidRecord
from pipeline.transform.catalog import EVENT_RULES, PROFILE_RULES
from pipeline.transform.rules import (
    Abs,
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
from pipeline.types import Event, Item, ProfileUpdate, Record, Value, stable_id

__all__ = ["Mapper", "evaluate_properties"]


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


class Mapper:
    """Maps records to items with a catalog, indexed once by (provider, stream)."""

    def __init__(
        self, event_rules: Sequence[EventRule] = EVENT_RULES, profile_rules: Sequence[ProfileRule] = PROFILE_RULES
    ) -> None:
        self._events: dict[tuple[str, str], list[EventRule]] = defaultdict(list)
        self._profiles: dict[tuple[str, str], list[ProfileRule]] = defaultdict(list)
        for rule in event_rules:
            self._events[rule.provider, rule.stream].append(rule)
        for prule in profile_rules:
            self._profiles[prule.provider, prule.stream].append(prule)

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
        for rule in self._events.get(key, ()):
            if all(c.holds(record.data) for c in rule.when):
                items.append(self._event(rule, record))
        for prule in self._profiles.get(key, ()):
            if all(c.holds(record.data) for c in prule.when):
                properties = {
                    k: v for k, v in evaluate_properties(prule.properties, record.data).items() if v is not None
                }
                if not properties:
                    continue
                items.append(
                    ProfileUpdate(
                        id=stable_id(record.merchant, record.provider, record.stream, record.version, prule.name),
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
            properties=evaluate_properties(rule.properties, record.data),
            platforms=rule.platforms,
        )
