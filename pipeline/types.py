"""The values that flow through the pipeline: provider records in, events and profile
updates out, deliveries to platforms. All frozen; all serialisable with ``to_dict``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

__all__ = [
    "Attempt",
    "Customer",
    "Delivery",
    "Event",
    "Item",
    "ProfileUpdate",
    "Record",
    "Value",
    "goes_to",
    "item_from_dict",
]

#: A property value as the catalog produces it; platforms encode it further.
Value = str | int | float | bool | datetime | None

#: Namespace of every deterministic id this project derives (uuid5).
ID_NAMESPACE = uuid.UUID("7f0c6a7e-2b3d-4c55-9f43-6b1f3f6d2a10")


def stable_id(*parts: str) -> str:
    """A deterministic UUID from its parts: the same input always yields the same id."""
    return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts)))


@dataclass(frozen=True, kw_only=True)
class Customer:
    """Who an event is about, as the provider knows them. ``email``/``phone`` are personal data."""

    provider_id: str
    email: str | None = None
    phone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"provider_id": self.provider_id, "email": self.email, "phone": self.phone}


@dataclass(frozen=True, kw_only=True)
class Record:
    """One validated provider record, before transform.

    Args:
        stream: the provider stream it came from, e.g. ``"points_transactions"``.
        data: the record's fields after schema validation (provider field names).
        updated_at: the provider's modification time: the incremental-sync watermark field.
    """

    merchant: str
    provider: str
    stream: str
    record_id: str
    updated_at: datetime
    customer: Customer
    data: Mapping[str, Any]

    @property
    def version(self) -> str:
        """Identifies this exact version of the record (id + modification time)."""
        return f"{self.record_id}@{self.updated_at.isoformat()}"


@dataclass(frozen=True, kw_only=True)
class Event:
    """A named loyalty event ("Smile Points Earned") for one customer.

    ``platforms`` limits which connected platforms receive it (None: all of them)."""

    id: str
    merchant: str
    provider: str
    name: str
    occurred_at: datetime
    customer: Customer
    properties: Mapping[str, Value]
    platforms: tuple[str, ...] | None = None
    kind: Literal["event"] = "event"


@dataclass(frozen=True, kw_only=True)
class ProfileUpdate:
    """Profile properties of one customer as of ``as_of`` (the source timestamp)."""

    id: str
    merchant: str
    provider: str
    as_of: datetime
    customer: Customer
    properties: Mapping[str, Value]
    platforms: tuple[str, ...] | None = None
    kind: Literal["profile"] = "profile"


Item = Event | ProfileUpdate


def goes_to(item: Item, platform: str) -> bool:
    """Whether ``item`` is meant for ``platform``."""
    return item.platforms is None or platform in item.platforms


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One delivery attempt, kept for retries and the dead-letter queue."""

    at: datetime
    outcome: str
    status: int | None = None
    latency_ms: float | None = None
    worker: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "outcome": self.outcome,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "worker": self.worker,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Attempt:
        return cls(
            at=datetime.fromisoformat(data["at"]),
            outcome=data["outcome"],
            status=data.get("status"),
            latency_ms=data.get("latency_ms"),
            worker=data.get("worker", ""),
        )


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """An item addressed to one platform of its merchant. ``id`` is the idempotency key."""

    platform: str
    item: Item
    attempts: tuple[Attempt, ...] = field(default=())
    full: bool = False  # profile updates: resend every property, even unchanged ones
    replay_of: str | None = None  # the dead-letter entry this delivery replays

    @cached_property
    def id(self) -> str:  # computed once per object (uuid5 is not free; it is read several times per send)
        return stable_id(self.item.id, self.platform)

    @property
    def merchant(self) -> str:
        return self.item.merchant

    def with_attempt(self, attempt: Attempt) -> Delivery:
        return replace(self, attempts=(*self.attempts, attempt))

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "item": _item_to_dict(self.item),
            "attempts": [a.to_dict() for a in self.attempts],
            **({"full": True} if self.full else {}),
            **({"replay_of": self.replay_of} if self.replay_of else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delivery:
        return cls(
            platform=data["platform"],
            item=item_from_dict(data["item"]),
            attempts=tuple(Attempt.from_dict(a) for a in data.get("attempts", ())),
            full=bool(data.get("full")),
            replay_of=data.get("replay_of"),
        )


def _encode_value(value: Value) -> Any:
    return {"$dt": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Value:
    if isinstance(value, dict) and "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    return value  # type: ignore[no-any-return]


def _item_to_dict(item: Item) -> dict[str, Any]:
    base = {
        "kind": item.kind,
        "id": item.id,
        "merchant": item.merchant,
        "provider": item.provider,
        "customer": item.customer.to_dict(),
        "properties": {k: _encode_value(v) for k, v in item.properties.items()},
        "platforms": list(item.platforms) if item.platforms is not None else None,
    }
    if isinstance(item, Event):
        return {**base, "name": item.name, "occurred_at": item.occurred_at.isoformat()}
    return {**base, "as_of": item.as_of.isoformat()}


def item_from_dict(data: Mapping[str, Any]) -> Item:
    """Inverse of the item part of ``Delivery.to_dict``."""
    common = {
        "id": data["id"],
        "merchant": data["merchant"],
        "provider": data["provider"],
        "customer": Customer(**data["customer"]),
        "properties": {k: _decode_value(v) for k, v in data["properties"].items()},
        "platforms": tuple(data["platforms"]) if data.get("platforms") is not None else None,
    }
    if data["kind"] == "event":
        return Event(name=data["name"], occurred_at=datetime.fromisoformat(data["occurred_at"]), **common)
    if data["kind"] == "profile":
        return ProfileUpdate(as_of=datetime.fromisoformat(data["as_of"]), **common)
    raise ValueError(f"unknown item kind {data['kind']!r}")
