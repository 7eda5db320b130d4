"""Postscript wire encoding: pure functions from catalog items to request bodies.

* Event ``type`` allows only ``[A-Za-z0-9_]``: every run of other characters in the display
  name becomes one underscore, trimmed ("Smile Points Earned" → ``Smile_Points_Earned``).
  Changing it would break merchants' Flows, so the rule is fixed and tested.
* ``occurred_at`` is UTC ``%Y-%m-%d %H:%M:%S.%f``.
* Property values are the types Postscript documents for subscriber properties (strings,
  integers, string arrays, ISO 8601 dates: ``shared/specs/README.md``, known defects), plus
  booleans (seed 002's "Enrolled in Smile" is segmented as TRUE/FALSE):

  - points and counts are integers: the schemas and the catalog (``Whole``) make them ``int``
    before they get here, so ``250`` never leaves as ``250.0``;
  - **money** (and any other non-integer number, such as an average rating) goes as a decimal
    string with two places: ``10`` dollars → ``"10.00"``. Postscript documents no decimal
    type, so a float is not an option; a string is exact (no binary rounding), keeps one
    type per property whatever the amount (``"10.00"`` and ``"10.50"`` alike), and reads
    right in a message template ("You have ${{Omneo Reward Balance}}"). Integer cents would
    segment numerically but read wrong in a text (``1000``);
  - datetimes as ISO 8601 UTC (``2026-03-01T12:00:00Z``); missing values are omitted.

  At most 50 subscriber properties.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipeline.types import Customer, Event, Value

__all__ = ["MAX_PROPERTIES", "decimal_text", "encode_event", "encode_properties", "event_type", "identifiers"]

_NOT_TYPE_CHARS = re.compile(r"[^A-Za-z0-9]+")
#: Postscript accepts at most this many custom properties per subscriber.
MAX_PROPERTIES = 50


def event_type(name: str) -> str:
    """Stable Postscript ``type`` for a display name: runs of other characters become one
    underscore, trimmed ("Okendo Loyalty Tier Changed" → ``Okendo_Loyalty_Tier_Changed``)."""
    encoded = _NOT_TYPE_CHARS.sub("_", name).strip("_")
    if not encoded:
        raise ValueError(f"event name {name!r} has no letter or digit")
    return encoded


def decimal_text(value: float) -> str:
    """A non-integer number as Postscript gets it: two decimal places (``10.5`` → ``"10.50"``)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("a property value is not a finite number")
    return str(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _encode_value(value: Value) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        return decimal_text(value)
    return value


def encode_properties(properties: Mapping[str, Value]) -> dict[str, Any]:
    """Properties as Postscript takes them: datetimes as ISO 8601, missing values omitted."""
    return {k: _encode_value(v) for k, v in properties.items() if v is not None}


def _occurred_at(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def identifiers(customer: Customer) -> dict[str, str]:
    return {k: v for k, v in (("email", customer.email), ("phone", customer.phone)) if v}


def encode_event(event: Event, *, delivery_id: str) -> dict[str, Any]:
    """The ``POST /api/v2/events`` body for one event."""
    return {
        "type": event_type(event.name),
        **identifiers(event.customer),
        "occurred_at": _occurred_at(event.occurred_at),
        "properties": encode_properties(event.properties),
        "external_id": delivery_id,
    }
