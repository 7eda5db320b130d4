"""Deterministic demo data for every simulator.

``seed_demo`` fills Smile and Postscript; ``seed_omneo``, ``seed_rediem`` and ``seed_okendo``
fill one provider each and return what they created, in order, ready to push as webhooks.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.sim.okendo import OkendoStore
from sandbox.sim.okendo_resources import REFERRAL_ROLES as REFERRAL_KINDS
from sandbox.sim.omneo import OmneoTenant
from sandbox.sim.postscript import PostscriptShop
from sandbox.sim.rediem import RediemProgram
from sandbox.sim.smile import SmileAccount
from sandbox.sim.webhooks import OkendoDelivery

__all__ = ["SeedSummary", "seed_demo", "seed_okendo", "seed_omneo", "seed_rediem"]

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
        if description.startswith("Redeemed for"):  # a redemption issues the reward's coupon
            smile_account.fulfill_reward(cid, description.removeprefix("Redeemed for "),
                                         f"SMILE-{rng.randint(10**7, 10**8 - 1)}", at=at)
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


def _window(now: datetime, start: datetime | None) -> tuple[datetime, datetime]:
    end = (start or now).astimezone(timezone.utc)
    return end - timedelta(days=1), end


def seed_omneo(
    tenant: OmneoTenant, *, profiles: int, events: int, seed: int = 0, start: datetime | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Profiles (the day before ``start - 1 day``) then ``events`` points/rewards/redemptions/
    transactions/tier changes over ``[start - 1 day, start)``; ``start`` defaults to now.

    Returns ``(resource, record snapshot)`` pairs in creation order (profiles first).
    """
    if events and not profiles:
        raise ValueError("events need at least one profile")
    rng = random.Random(seed)
    ev_from, end = _window(tenant.sim.now(), start)
    out: list[tuple[str, dict[str, Any]]] = []
    pids: list[str] = []
    for n, at in enumerate(_spread(ev_from - timedelta(days=1), ev_from, profiles), start=1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        phone = f"+614{rng.randint(0, 10**8 - 1):08d}" if rng.random() < 0.7 else None
        profile = tenant.add_profile(f"profile{n}.{seed}@example.test", first, last, phone, at=at)
        pids.append(profile["id"])
        out.append(("profiles", copy.deepcopy(profile)))
    for at in _spread(ev_from, end, events):
        pid, roll = rng.choice(pids), rng.random()
        available = tenant.balances(pid)["reward_balance"]  # rewards expire 90 days after issue: none in the window
        open_redemptions = [r["id"] for r in tenant.redemptions.values()
                            if r["profile_id"] == pid and r["transaction_id"] is None]
        if 0.55 <= roll < 0.7 and available >= 5:
            out.append(("redemptions", tenant.redeem(pid, rng.choice((5.0, min(10.0, available))), at=at)))
        elif 0.7 <= roll < 0.9:
            link = open_redemptions[0] if open_redemptions and rng.random() < 0.7 else None
            out.append(("transactions", tenant.add_transaction(pid, round(rng.uniform(15, 250), 2),
                                                               redemption_id=link, at=at)))
        elif roll >= 0.9 and (tenant.profiles[pid]["tier"] or {}).get("name") != tenant.tier_ladder[-1]:
            current = (tenant.profiles[pid]["tier"] or {}).get("name")
            nxt = tenant.tier_ladder[tenant.tier_ladder.index(current) + 1 if current else 0]
            out.append(("tiers", tenant.achieve_tier(pid, nxt, at=at)))
        elif 0.35 <= roll < 0.55:
            name = rng.choice(("Birthday Reward", "Spend Reward", "Referral Reward"))
            out.append(("rewards", tenant.issue_reward(pid, rng.choice((5.0, 10.0, 20.0)), name=name, at=at)))
        else:
            name = rng.choice(("Purchase points", "Review points", "Sign-up bonus"))
            out.append(("points", tenant.award_points(pid, rng.randint(5, 50) * 10, name=name, at=at)))
        out[-1] = (out[-1][0], copy.deepcopy(out[-1][1]))
    return out


def seed_rediem(
    program: RediemProgram, *, members: int, activities: int, seed: int = 0, start: datetime | None = None,
) -> list[dict[str, Any]]:
    """Members, each with a ``signup`` (the day before ``start - 1 day``), then ``activities`` more
    activities of every type over ``[start - 1 day, start)``. Returns all activities in order."""
    if activities and not members:
        raise ValueError("activities need at least one member")
    rng = random.Random(seed)
    act_from, end = _window(program.sim.now(), start)
    out: list[dict[str, Any]] = []
    ids: list[str] = []
    for n, at in enumerate(_spread(act_from - timedelta(days=1), act_from, members), start=1):
        phone = f"+1555{n * 7919 % 10**7:07d}" if rng.random() < 0.8 else None
        member = program.add_member(f"member{n}.{seed}@example.test", phone, rng.choice(_FIRST))
        ids.append(member["id"])
        out.append(program.record(member["id"], "signup", points=rng.choice((0, 100, 200)), at=at))
    tiers = list(program.tiers)
    for at in _spread(act_from, end, activities):
        mid, roll = rng.choice(ids), rng.random()
        m = program.members[mid]
        rank = tiers.index(m["current_tier"])
        if roll < 0.15 and m["point_balance"] >= 100:
            spend = rng.choice((100, 200, 500)) if m["point_balance"] >= 500 else 100
            act = program.record(mid, "points_redeemed", points=spend, at=at)
        elif roll < 0.23 and rank + 1 < len(tiers):
            act = program.record(mid, "tier_achieved", tier=tiers[rank + 1], at=at)
        elif roll < 0.27 and rank > 0:
            act = program.record(mid, "tier_downgrade", tier=tiers[rank - 1], at=at)
        elif 0.27 <= roll < 0.35:
            act = program.record(mid, "referral_received", advocate_first_name=rng.choice(_FIRST), at=at)
        elif 0.35 <= roll < 0.43:
            act = program.record(mid, "referral_completed", points=250, at=at,
                                 referred_email=f"friend{rng.randint(1, 9999)}@example.test")
        elif 0.43 <= roll < 0.55:
            act = program.record(mid, "action_rejected", action_type=rng.choice(("Follow on Instagram", "Review")),
                                 rejection_reason="Already completed", at=at)
        else:
            act = program.record(mid, "points_earned", points=rng.randint(2, 40) * 10,
                                 action_type=rng.choice(("Placed an order", "Left a review", "Birthday")), at=at)
        out.append(act)
    return out


def seed_okendo(
    store: OkendoStore, *, members: int, seed: int = 0, start: datetime | None = None,
) -> list[OkendoDelivery]:
    """Loyalty members and their shopping life over ``[start - 1 day, start)``, in Okendo's
    documented shapes: enrolment, points earned/redeemed/adjusted, tier changes, reviews (some
    deleted again), quizzes, surveys and referrals. The first member does everything, so any
    ``members >= 1`` yields every resource type and a delete. Returns the deliveries made, in order.
    """
    rng = random.Random(seed)
    t, end = _window(store.sim.now(), start)
    step = timedelta(seconds=86400 / max(1, members * 16))
    first = len(store.deliveries)

    def tick() -> datetime:
        nonlocal t
        t = min(t + step * rng.uniform(0.5, 1.0), end)
        return t

    for i in range(members):
        email, every = f"shopper{i + 1}.{seed}@example.test", i == 0
        status = "pending" if rng.random() < 0.1 and not every else "enrolled"
        lid = store.enroll(email, first_name=rng.choice(_FIRST), last_name=rng.choice(_LAST), status=status,
                           birthday=f"19{rng.randint(60, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                           at=tick())["loyaltyCustomerId"]
        for _ in range(rng.randint(1, 3)) if not every else range(3):
            store.earn(lid, rng.randint(10, 40) * 10 if not every else 300, at=tick())
        if store.members[lid]["balance"] >= 500 and (every or rng.random() < 0.5):
            store.redeem(lid, 500, at=tick())
        if every or rng.random() < 0.2:
            adjustment = store.adjust(lid, rng.choice((25, 50, 100)), at=tick())
            if every:
                store.delete_transaction("loyalty_adjustment_transaction", adjustment)
        if every or rng.random() < 0.25:
            store.set_tier(lid, store.vip_tiers[1], at=tick())
        for _ in range(2 if every else (1 if rng.random() < 0.5 else 0)):
            review = store.add_review(email, rng.choice((3, 4, 5, 5)),
                                      media_types=("image",) if rng.random() < 0.4 else (), at=tick())
        if every:
            store.delete_review(review["reviewId"])
        if every or rng.random() < 0.2:
            store.add_quiz_response(email, at=tick())
        if every or rng.random() < 0.3:
            store.add_survey_response(email, reward_type=rng.choice((None, "coupon", "loyalty")),
                                      nps=rng.randint(0, 10), at=tick())
        if every or rng.random() < 0.3:
            kind = "coupon_redeemed" if every else rng.choice(sorted(REFERRAL_KINDS))
            store.add_referral(kind, email, f"friend{i + 1}.{seed}@example.test", at=tick())
    return store.deliveries[first:]
