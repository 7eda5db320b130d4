"""Helpers for the seed tests: load a raw fixture, decode it as the pipeline would, map it.

Fixtures live in ``tests/fixtures/<provider>/<name>.json`` (Okendo's documented shapes are built
by ``tests/contracts/okendo.py`` instead): Omneo ones are push bodies (the event context; the
trigger, sent in the ``x-omneo-event`` header, is ``OMNEO_TRIGGERS[name]``), Rediem ones are
single activities, Smile ones are single API list elements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.providers.resources import decode, snapshot_of, unwrap
from pipeline.transform.mapper import Mapper
from pipeline.types import Event, Item, ProfileUpdate, Record, goes_to

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MERCHANT = "m"
MAPPER = Mapper()
#: Omneo fixture → the trigger its push names in ``x-omneo-event``
OMNEO_TRIGGERS = {"balances": "balance.updated", "points_awarded": "points.awarded", "redemption": "reward.redeemed",
                  "reward_issued": "reward.issued", "tier_achieved": "tier.achieved",
                  "transaction_with_redemption": "transaction.created",
                  "transaction_without_redemption": "transaction.created"}


@cache
def _text(provider: str, name: str) -> str:
    return (FIXTURES / provider / f"{name}.json").read_text(encoding="utf-8")


def raw(provider: str, name: str) -> Any:
    """A fresh copy of the fixture's JSON."""
    return json.loads(_text(provider, name))


def record(provider: str, name: str, *, resource: str | None = None,
           previous: Mapping[str, Any] | None = None) -> Record:
    """Decode a fixture. Webhook bodies (Omneo, Rediem) are opened with ``unwrap``;
    Smile list elements need ``resource``."""
    event = OMNEO_TRIGGERS.get(name) if provider == "omneo" else None
    return record_of(provider, raw(provider, name), resource=resource, previous=previous, event=event)


def record_of(provider: str, body: Any, *, resource: str | None = None,
              previous: Mapping[str, Any] | None = None, event: str | None = None) -> Record:
    """Decode a raw body (a fixture, possibly edited by the test); ``event`` is the Omneo trigger."""
    if resource is None:
        resource, body, extra = unwrap(provider, body, event=event)
    else:
        extra = {}
    return decode(provider, resource, body, merchant=MERCHANT, previous=previous, extra=extra)


def snapshot(provider: str, name: str, *, resource: str | None = None) -> dict[str, Any]:
    """The snapshot a later version of the fixture's record is compared with."""
    return snapshot_of(record(provider, name, resource=resource))


def mapped(provider: str, name: str, *, resource: str | None = None,
           previous: Mapping[str, Any] | None = None) -> list[Item]:
    return MAPPER.map(record(provider, name, resource=resource, previous=previous))


def mapped_body(provider: str, body: Any, *, resource: str | None = None,
                previous: Mapping[str, Any] | None = None) -> list[Item]:
    return MAPPER.map(record_of(provider, body, resource=resource, previous=previous))


def events(items: Iterable[Item]) -> list[Event]:
    return [i for i in items if isinstance(i, Event)]


def event_names(items: Iterable[Item]) -> list[str]:
    return [e.name for e in events(items)]


def profiles(items: Iterable[Item], platform: str | None = None) -> list[ProfileUpdate]:
    return [i for i in items if isinstance(i, ProfileUpdate) and (platform is None or goes_to(i, platform))]


def profile_properties(items: Iterable[Item], platform: str | None = None) -> dict[str, Any]:
    """Every profile property set by ``items`` (for ``platform``, if given)."""
    out: dict[str, Any] = {}
    for update in profiles(items, platform):
        out.update(update.properties)
    return out


def the_event(items: Iterable[Item], name: str) -> Event:
    """The one event called ``name`` (exact spelling) among ``items``."""
    found = [e for e in events(items) if e.name == name]
    assert len(found) == 1, f"expected exactly one {name!r} event, got {event_names(items)}"
    return found[0]


def sent(properties: Mapping[str, Any]) -> set[str]:
    """The property names a platform receives: every encoder drops ``None`` values."""
    return {k for k, v in properties.items() if v is not None}
