"""Builders of realistic provider payloads and pipeline values for tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pipeline.config import PlatformAccount, ProviderAccount, Secret
from pipeline.types import Customer, Event, ProfileUpdate, Record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def smile_txn(id: int, customer_id: int = 1, points_change: int = 100, internal_note: str | None = None,
              updated_at: str = "2026-03-01T12:00:00.000Z", **extra: Any) -> dict[str, Any]:
    return {"id": id, "customer_id": customer_id, "points_change": points_change,
            "description": "Placed an order", "internal_note": internal_note,
            "created_at": updated_at, "updated_at": updated_at, **extra}


def smile_customer(id: int, email: str = "jane@example.test", state: str = "member", points_balance: int = 300,
                   updated_at: str = "2026-03-01T12:00:00.000Z") -> dict[str, Any]:
    return {"id": id, "first_name": "Jane", "last_name": "Doe", "email": email, "state": state,
            "date_of_birth": None, "points_balance": points_balance, "referral_url": "http://i.refs.cc/x",
            "vip_tier_id": None, "vip_status": {"vip_tier_id": None}, "created_at": updated_at,
            "updated_at": updated_at}


def provider_account(base_url: str = "http://smile.test/v1", **kw: Any) -> ProviderAccount:
    return ProviderAccount(kind="smile", base_url=base_url, credential_env="K", credential=Secret("smile_key"),
                           rate_per_s=kw.pop("rate_per_s", 10.0), **kw)


def platform_account(base_url: str = "http://ps.test", unknown_subscriber: str = "skip") -> PlatformAccount:
    return PlatformAccount(kind="postscript", base_url=base_url, credential_env="P", credential=Secret("sk_test"),
                           rate_per_s=15.0, unknown_subscriber=unknown_subscriber)


def record(stream: str, data: dict[str, Any], *, record_id: str = "1", email: str | None = "jane@example.test",
           updated_at: datetime = T0) -> Record:
    return Record(merchant="acme", provider="smile", stream=stream, record_id=record_id, updated_at=updated_at,
                  customer=Customer(provider_id="c1", email=email), data=data)


def event(name: str = "Smile Points Earned", *, email: str | None = "jane@example.test",
          id: str = "e1") -> Event:
    return Event(id=id, merchant="acme", provider="smile", name=name, occurred_at=T0,
                 customer=Customer(provider_id="c1", email=email),
                 properties={"Points": 100, "Description": "Placed an order", "Transaction ID": 7})


def profile(*, email: str | None = "jane@example.test", phone: str | None = None, id: str = "p1") -> ProfileUpdate:
    return ProfileUpdate(id=id, merchant="acme", provider="smile", as_of=T0,
                         customer=Customer(provider_id="c1", email=email, phone=phone),
                         properties={"Enrolled in Smile": True, "Smile Points Balance": 300})
