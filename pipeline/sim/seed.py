"""Deterministic demo data: Smile customers with a points ledger, and matching Postscript subscribers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline.sim.postscript import PostscriptShop
from pipeline.sim.smile import SmileAccount

__all__ = ["SeedSummary", "seed_demo"]

_FIRST = ("Ava", "Ben", "Chloe", "Diego", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kai", "Lena",
          "Milo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Viktor", "Wen", "Yara", "Zoe")
_LAST = ("Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jones", "Kowalski",
         "Lopez", "Moreau", "Nguyen", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber")
_EARN = (("Placed an order", None), ("Signed up", 200), ("Celebrated a birthday", 250),
         ("Followed on Instagram", 50), ("Left a product review", 100), ("Referred a friend", 500))
_REWARDS = ((500, "Redeemed for $5 off"), (1000, "Redeemed for $10 off"), (1500, "Redeemed for free shipping"))


@dataclass(frozen=True)
class SeedSummary:
    """What ``seed_demo`` created."""

    customers: int
    transactions: int
    subscribers: int
    emails_subscribed: frozenset[str]


def _spread(start: datetime, end: datetime, n: int) -> list[datetime]:
    """``n`` strictly increasing millisecond timestamps spread over [start, end)."""
    span_ms = max(1, int((end - start).total_seconds() * 1000))
    out: list[datetime] = []
    last = -1
    for i in range(n):
        ms = max(last + 1, i * span_ms // max(n, 1))
        out.append(start + timedelta(milliseconds=ms))
        last = ms
    return out


def seed_demo(
    smile_account: SmileAccount,
    postscript_shop: PostscriptShop,
    *,
    customers: int,
    transactions: int,
    seed: int = 0,
    subscriber_share: float = 0.8,
    start: datetime | None = None,
) -> SeedSummary:
    """Fill a Smile account and a Postscript shop with reproducible demo data.

    Customers are created during the day before ``start - 1 day``; transactions (earned,
    redeemed, adjusted; balances never negative) spread over ``[start - 1 day, start)`` with
    ``created_at`` strictly increasing with id. ``start`` defaults to now (UTC). About
    ``subscriber_share`` of the customers' emails become Postscript subscribers.
    """
    if transactions and not customers:
        raise ValueError("transactions need at least one customer")
    rng = random.Random(seed)
    end = (start or smile_account.sim.now()).astimezone(timezone.utc)
    txn_from = end - timedelta(days=1)
    made: list[dict[str, Any]] = []
    for n, at in enumerate(_spread(txn_from - timedelta(days=1), txn_from, customers), start=1):
        dob = None
        if rng.random() < 0.4:
            year = 1004 if rng.random() < 0.3 else rng.randint(1960, 2004)
            dob = f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        made.append(smile_account.add_customer(
            first_name=rng.choice(_FIRST), last_name=rng.choice(_LAST),
            email=f"customer{n}.{seed}@example.test",
            state="candidate" if rng.random() < 0.1 else "member",
            date_of_birth=dob, created_at=at,
        ))
    members = [c["id"] for c in made if c["state"] == "member"] or [c["id"] for c in made]
    balance = {cid: smile_account.customers[cid]["points_balance"] for cid in members}
    for at in _spread(txn_from, end, transactions):
        cid = rng.choice(members)
        roll = rng.random()
        affordable = [r for r in _REWARDS if r[0] <= balance[cid]]
        note: str | None = None
        if roll < 0.25 and affordable:
            cost, description = rng.choice(affordable)
            change = -cost
        elif roll < 0.4:
            change = rng.choice((-1, 1)) * rng.randint(10, 200)
            if balance[cid] + change < 0:
                change = -change
            description, note = "Points correction", f"Due to issue with order #{rng.randint(1000, 9999)}"
        else:
            description, fixed = rng.choice(_EARN)
            change = fixed if fixed is not None else rng.randint(20, 400)
        balance[cid] += change
        smile_account.add_transaction(cid, change, description, internal_note=note, at=at)
    chosen = sorted(rng.sample(range(len(made)), round(len(made) * max(0.0, min(1.0, subscriber_share)))))
    emails: set[str] = set()
    for i in chosen:
        customer = made[i]
        postscript_shop.add_subscriber(
            email=customer["email"], phone_number=f"+1555{(i + 1) * 7919 % 10**7:07d}",
            properties={"first_name": customer["first_name"]},
        )
        emails.add(customer["email"])
    return SeedSummary(customers, transactions, len(chosen), frozenset(emails))
