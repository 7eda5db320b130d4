"""Postscript: the subscriber lookup tries the phone first, then the email; property values
are the documented types (integers for points and counts, decimal strings for money); seed
000's Rediem → Postscript adds every customer, and says why one without a phone is not."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pipeline.clock import FrozenClock
from pipeline.config import parse_connections
from pipeline.destinations.postscript import PostscriptDestination
from pipeline.http.client import build_client
from pipeline.state.subscribers import MemorySubscriberCache
from pipeline.types import Customer, ProfileUpdate
from tests.destinations.test_postscript import destination, subscribers
from tests.factories import platform_account


def _update(properties: dict[str, Any], *, email: str | None = "jane@example.test",
            phone: str | None = "+15555550100") -> ProfileUpdate:
    return ProfileUpdate(id="u1", merchant="acme", provider="rediem", as_of=datetime(2026, 3, 1, tzinfo=timezone.utc),
                         customer=Customer(provider_id="c1", email=email, phone=phone), properties=properties)


def _router(by_phone: list[str], by_email: list[str]) -> tuple[list[dict[str, str]], Any]:
    lookups: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            params = dict(request.url.params)
            lookups.append(params)
            return subscribers(*(by_phone if "phone_number__eq" in params else by_email))
        return httpx.Response(200, json={})
    return lookups, handler


def test_phone_is_tried_first_and_wins() -> None:
    lookups, handler = _router(["s_phone"], ["s_email"])
    dest, seen = destination(handler)
    assert dest.send(_update({"rediem_point_balance": 5}), delivery_id="d").outcome == "delivered"
    assert lookups == [{"phone_number__eq": "15555550100"}]
    assert seen[-1].method == "PATCH" and seen[-1].url.path == "/api/v2/subscribers/s_phone"


def test_email_is_tried_when_the_phone_finds_nobody() -> None:
    lookups, handler = _router([], ["s_email"])
    dest, seen = destination(handler)
    assert dest.send(_update({"rediem_point_balance": 5}), delivery_id="d").outcome == "delivered"
    assert lookups == [{"phone_number__eq": "15555550100"}, {"email__eq": "jane@example.test"}]
    assert seen[-1].url.path == "/api/v2/subscribers/s_email"
    # both answers are cached: the next update of this customer looks nothing up
    dest.send(_update({"rediem_point_balance": 6}), delivery_id="d2")
    assert len(lookups) == 2


def test_without_a_phone_the_email_is_looked_up() -> None:
    lookups, handler = _router(["s_phone"], ["s_email"])
    dest, _ = destination(handler)
    dest.send(_update({"x": 1}, phone=None), delivery_id="d")
    assert lookups == [{"email__eq": "jane@example.test"}]


def test_property_values_are_integers_decimal_strings_and_iso_dates() -> None:
    lookups, handler = _router(["s_1"], [])
    dest, seen = destination(handler)
    props = {"Points": 250, "Reward Balance": 10.0, "Spend To Next Tier": 12.5, "Enrolled": True,
             "Since": datetime(2026, 3, 1, 12, tzinfo=timezone.utc), "Tier": "Gold", "Missing": None}
    dest.send(_update(props), delivery_id="d")
    body = json.loads(seen[-1].content, parse_float=Decimal)
    assert body["properties"] == {"Points": 250, "Reward Balance": "10.00", "Spend To Next Tier": "12.50",
                                  "Enrolled": True, "Since": "2026-03-01T12:00:00Z", "Tier": "Gold"}
    assert b"250.0" not in seen[-1].content
    assert not any(isinstance(v, Decimal) for v in body["properties"].values())  # no JSON float at all


def _connections(provider: str, platform_extra: str = "") -> dict[str, Any]:
    import tomllib
    doc = tomllib.loads(f'''
[merchants.m.provider]
kind = "{provider}"
credential_env = "P"
{'webhook_secret_env = "W"' if provider == "okendo" else ""}
{'base_url = "https://api.t.getomneo.com/api/v3"' if provider == "omneo" else ""}
[[merchants.m.platforms]]
kind = "postscript"
credential_env = "K"
{platform_extra}
''')
    return parse_connections(doc, source="t.toml", env={"P": "p:k", "K": "k", "W": "whsec_dGVzdA=="})


def test_rediem_to_postscript_adds_every_customer_by_default() -> None:
    assert _connections("rediem")["m"].platforms[0].unknown_subscriber == "create"  # seed 000
    assert _connections("smile")["m"].platforms[0].unknown_subscriber == "skip"
    assert _connections("rediem", 'unknown_subscriber = "skip"')["m"].platforms[0].unknown_subscriber == "skip"


def test_a_rediem_customer_without_a_phone_is_skipped_with_the_reason() -> None:
    created: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return subscribers()
        created.append(json.loads(request.content))
        return httpx.Response(201, json={"id": "s_new"})

    # POST /api/v2/subscribers is documented (developers.postscript.io/reference/create-subscriber)
    # but absent from the harvested spec, so this client skips the spec check.
    account = platform_account(unknown_subscriber="create")
    client = build_client(base_url=account.base_url, headers=PostscriptDestination.auth_headers(account),
                          timeout_s=5, transport=httpx.MockTransport(handler))
    dest = PostscriptDestination(merchant="acme", account=account, client=client,
                                 subscribers=MemorySubscriberCache(FrozenClock()))
    with_phone = dest.send(_update({"rediem_point_balance": 10}), delivery_id="d1")
    assert with_phone.outcome == "delivered" and created[0]["phone_number"] == "+15555550100"
    assert created[0]["properties"] == {"rediem_point_balance": 10}
    without = dest.send(_update({"rediem_point_balance": 10}, phone=None), delivery_id="d2")
    assert without.outcome == "skipped" and "no phone number" in without.reason
    assert "phone numbers" in without.reason and len(created) == 1


def test_the_spec_check_refuses_a_decimal_property() -> None:
    from tests.destinations.test_postscript import SPEC
    from tests.support.openapi import SpecViolation
    bad = httpx.Request("PATCH", "https://api.postscript.io/api/v2/subscribers/s_1",
                        json={"properties": {"Points": 250.0}}, headers={"Authorization": "Bearer sk"})
    with pytest.raises(SpecViolation, match="properties/Points is a decimal"):
        SPEC.validate(bad)
