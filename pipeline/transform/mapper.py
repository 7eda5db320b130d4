"""The one interpreter of the catalog: records in, events and profile updates out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pipeline.errors import InvalidRecord
from pipeline.transform.catalog import EVENT_RULES, PROFILE_RULES
from pipeline.transform.rules import OPS, Abs, Cond, EventRule, Expr, Field, ProfileRule, Test
from pipeline.types import Event, Item, ProfileUpdate, Record, Value, stable_id

__all__ = ["Mapper"]

_MISSING = object()


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _holds(cond: Cond, data: Mapping[str, Any]) -> bool:
    return OPS[cond.op](_lookup(data, cond.path), cond.value)


def _evaluate(expr: Expr, data: Mapping[str, Any]) -> Value:
    if isinstance(expr, Field):
        return _lookup(data, expr.path)  # type: ignore[no-any-return]
    if isinstance(expr, Abs):
        value = _lookup(data, expr.path)
        return abs(value) if isinstance(value, int | float) else None
    if isinstance(expr, Test):
        return _holds(expr.cond, data)
    raise TypeError(f"unknown expression {expr!r}")


class Mapper:
    """Maps records to items with a catalog, indexed once by (provider, stream)."""

    def __init__(self, event_rules: Sequence[EventRule] = EVENT_RULES,
                 profile_rules: Sequence[ProfileRule] = PROFILE_RULES) -> None:
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
            if all(_holds(c, record.data) for c in rule.when):
                items.append(self._event(rule, record))
        for prule in self._profiles.get(key, ()):
            if all(_holds(c, record.data) for c in prule.when):
                items.append(ProfileUpdate(
                    id=stable_id(record.merchant, record.provider, record.stream, record.version, "profile"),
                    merchant=record.merchant, provider=record.provider, as_of=record.updated_at,
                    customer=record.customer,
                    properties={name: _evaluate(expr, record.data) for name, expr in prule.properties.items()},
                ))
        return items

    def map_all(self, records: Iterable[Record]) -> list[Item]:
        return [item for record in records for item in self.map(record)]

    def _event(self, rule: EventRule, record: Record) -> Event:
        occurred = _lookup(record.data, rule.occurred_at)
        if not isinstance(occurred, datetime):
            raise InvalidRecord(f"needed by event {rule.event!r} but missing or not a datetime",
                                provider=record.provider, field=f"{record.stream}.{rule.occurred_at}")
        return Event(
            id=stable_id(record.merchant, record.provider, record.stream, record.record_id, rule.event),
            merchant=record.merchant, provider=record.provider, name=rule.event, occurred_at=occurred,
            customer=record.customer,
            properties={name: _evaluate(expr, record.data) for name, expr in rule.properties.items()},
        )
