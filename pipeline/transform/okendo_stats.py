"""Okendo's per-customer aggregates (seed 001's review, NPS, survey and referral properties).

Okendo computes these for its own integrations but publishes no webhook or endpoint that
carries them (rest-api.md §7). They are computed here from what is published: every review
(``review.*`` webhooks and the ``GET /reviews`` backfill), survey response and referral is
kept per customer by id (``pipeline.state.contributions``), and the aggregate is recomputed
from the whole set after each change, so redelivered or reordered webhooks never count twice.

``OkendoMapper`` is the catalog's mapper with that step in front: a review, survey response
or referral record gets its customer's aggregate under ``_stats`` (for the Review Created
event's "Okendo ... " properties), and one more record of stream ``review_stats``,
``survey_stats`` or ``referral_stats`` is mapped for the customer whose aggregate changed;
the catalog's profile rules turn it into a profile update (diff-synced like any other),
dated by the change (``Contributions.apply``), since it reflects every contribution applied so
far: of two concurrent changes, the later one wins. A loyalty customer
gets ``_nextBirthday`` from its ``birthday{day, month}``, and ``_tierUpgrade`` when both
versions carry a tier rank (Okendo publishes none, so it is usually unknown, never guessed).

Choices where Okendo publishes no definition: the average sentiment is the mean of
positive = 1, neutral/mixed = 0, negative = -1, rounded back to a label; an NPS category
missing from a response follows the standard NPS bands (9-10 promoter, 7-8 passive, 0-6
detractor); a referral is successful when its coupon was redeemed (``coupon_redeemed``).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pipeline import keys
from pipeline.clock import Clock
from pipeline.state.contributions import Contributions
from pipeline.transform.mapper import Mapper
from pipeline.transform.rules import lookup
from pipeline.types import Customer, Item, Record

__all__ = ["OkendoMapper", "STATS_STREAMS", "next_birthday", "summarise"]

#: contribution kind → the stream of the derived stats record
STATS_STREAMS = {"reviews": "review_stats", "surveys": "survey_stats", "referrals": "referral_stats"}
_SOURCE_KIND = {"review": "reviews", "survey_response": "surveys", "referral": "referrals"}
_SENTIMENT = {"positive": 1, "neutral": 0, "mixed": 0, "negative": -1}


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def next_birthday(day: Any, month: Any, today: datetime) -> datetime | None:
    """The next 00:00 UTC on ``day``/``month`` from ``today`` (today included); 29 Feb is 28 Feb
    in common years."""
    if not isinstance(day, int) or not isinstance(month, int) or not 1 <= month <= 12:
        return None
    start = today.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for year in (start.year, start.year + 1):
        candidate = start.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))
        if candidate >= start:
            return candidate
    return None


def _entry(kind: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
    if kind == "reviews":
        media = lookup(data, "media") or []
        return {
            "rating": data.get("rating"),
            "sentiment": data.get("sentiment"),
            "date": _iso(data.get("dateCreated")),
            "media": any(not m.get("isHidden") for m in media if isinstance(m, Mapping)),
        }
    if kind == "surveys":
        score, category = lookup(data, "nps.score"), lookup(data, "nps.category")
        return {"date": _iso(data.get("dateCreated")), "nps": score, "npsCategory": category}
    successful = data.get("activityType") == "coupon_redeemed"
    return {
        "date": _iso(data.get("dateCreated")),
        "successful": successful,
        "revenue": lookup(data, "order.totalPrice") if successful else None,
        "link": data.get("shareableLink"),
    }


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _nps_category(score: Any) -> str | None:
    if not isinstance(score, int | float) or isinstance(score, bool):
        return None
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def _latest(entries: list[dict[str, Any]], *, having: str | None = None) -> dict[str, Any] | None:
    rows = [e for e in entries if e.get("date") and (having is None or e.get(having) is not None)]
    return max(rows, key=lambda e: (datetime.fromisoformat(e["date"]), e["_id"])) if rows else None


def summarise(kind: str, members: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The aggregate of one customer's contributions of ``kind``."""
    entries = [{**v, "_id": k} for k, v in members.items()]
    if kind == "reviews":
        ratings = [e["rating"] for e in entries if isinstance(e.get("rating"), int)]
        scores = [_SENTIMENT[e["sentiment"]] for e in entries if e.get("sentiment") in _SENTIMENT]
        mean = sum(scores) / len(scores) if scores else None
        latest = _latest(entries) or {}
        return {
            "count": len(entries),
            "averageRating": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "latestRating": latest.get("rating"),
            "latestSentiment": latest.get("sentiment"),
            "averageSentiment": None
            if mean is None
            else ("positive" if mean >= 0.5 else "negative" if mean <= -0.5 else "neutral"),
            "hasSubmittedMedia": any(e.get("media") for e in entries),
        }
    if kind == "surveys":
        latest = _latest(entries, having="nps") or {}
        return {
            "count": len(entries),
            "latestNps": latest.get("nps"),
            "latestNpsDate": _when(latest.get("date")),
            "latestNpsCategory": latest.get("npsCategory") or _nps_category(latest.get("nps")),
        }
    won = [e for e in entries if e.get("successful")]
    revenue = [e["revenue"] for e in won if isinstance(e.get("revenue"), int | float)]
    return {
        "successfulCount": len(won),
        "latestSuccessfulDate": _when((_latest(won) or {}).get("date")),
        "totalRevenue": round(sum(revenue), 2) if won else None,
        "shareableLink": (_latest(entries, having="link") or {}).get("link"),
    }


def _owner(kind: str, record: Record) -> str | None:
    """Whose aggregate a contribution belongs to (a delete names it only in its snapshot)."""
    data, previous = record.data, record.data.get("previous") or {}
    owner: str | None  # the email as the payload has it (``lookup`` reads untyped JSON)
    if kind == "reviews":
        owner = lookup(data, "reviewer.email") or lookup(previous, "reviewer.email")
        return owner
    if kind == "referrals":
        source = data if data.get("activityType") else previous
        if source.get("activityType") == "coupon_redeemed" and lookup(source, "referrer.email"):
            owner = lookup(source, "referrer.email")  # a redeemed coupon is the referrer's success
            return owner
    owner = lookup(data, "customer.email") or lookup(previous, "customer.email")
    return owner


class OkendoMapper(Mapper):
    """The catalog mapper, with Okendo's aggregates computed (and stored) before mapping."""

    def __init__(self, contributions: Contributions, clock: Clock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._contributions = contributions
        self._clock = clock

    def map(self, record: Record) -> list[Item]:
        if record.provider != "okendo":
            return super().map(record)
        if record.stream == "loyalty_customer":
            born = record.data.get("birthday") or {}
            upcoming = next_birthday(born.get("day"), born.get("month"), record.updated_at)
            rank, before = record.data.get("vipTierRank"), lookup(record.data, "previous.vipTierRank")
            upgrade = rank > before if isinstance(rank, int) and isinstance(before, int) else None
            return super().map(
                replace(record, data={**record.data, "_nextBirthday": upcoming, "_tierUpgrade": upgrade})
            )
        kind = _SOURCE_KIND.get(record.stream)
        owner = _owner(kind, record) if kind else None
        if kind is None or not owner:
            return super().map(record)
        value = None if record.data.get("_topic") == "delete" else _entry(kind, record.data)
        members, at = self._contributions.apply(
            record.merchant, "okendo", kind, keys.identity_hash(owner), record.record_id, value
        )
        stats = summarise(kind, members)
        items = super().map(replace(record, data={**record.data, "_stats": stats}))
        derived = Record(
            merchant=record.merchant,
            provider="okendo",
            stream=STATS_STREAMS[kind],
            record_id=keys.identity_hash(owner),
            updated_at=at,
            customer=Customer(provider_id="", email=owner),
            data={**stats, "previous": None},
        )
        return items + super().map(derived)
