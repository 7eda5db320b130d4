"""Rediem contract: an ASSUMED shape, written down once.

Rediem publishes no data API and no webhooks (``/work/shared/research/providers.md`` §3). What
is *documented* is only what it sends to Postscript (seed 000: 8 event names, 18 ``rediem_*``
properties). The activity feed below is the shape this project assumes so that those events and
properties can be produced (``pipeline/providers/schemas/rediem.py``, ``SHAPES = assumed``). This
module is that assumption as a field table and one example per activity type; the schema, the
simulator and these tests are all held to it, so the day Rediem publishes a real shape there is
one place to change."""

from __future__ import annotations

from typing import Any

from tests.contracts.support import FieldTable, check_table

_S, _SN = (str,), (str, type(None))
_IN = (int, type(None))
MEMBER = FieldTable("member", {
    "id": _S, "email": _SN, "phone": _SN, "first_name": _SN, "birth_date": _SN, "current_tier": _SN,
    "point_balance": (int,), "points_to_next_tier": _IN, "spend_to_next_tier": (int, float, type(None)),
    "points_expiring": _IN, "points_expiry_date": _SN, "last_action_points": _IN, "last_action_type": _SN,
    "last_reward_type": _SN, "advocate_first_name": _SN, "redemption_reward_code": _SN, "has_account": (bool,),
    "opt_in_date": _SN, "date_last_action": _SN, "date_last_reward": _SN, "impacts": (dict,), "impacts_yoy": (dict,),
}, required=("id", "point_balance"))
ACTIVITY = FieldTable("activity", {
    "id": _S, "type": _S, "created_at": _S, "updated_at": _S, "points": _IN, "action_type": _SN, "reward_type": _SN,
    "reward_code": _SN, "tier": _SN, "previous_tier": _SN, "advocate_first_name": _SN, "referred_email": _SN,
    "rejection_reason": _SN, "customer": (dict,),
}, required=("id", "type", "created_at", "updated_at", "customer"), nested={"customer": MEMBER})

#: seed 000's events, by the activity type that becomes each (the assumption's core)
SEED_000_EVENTS = {
    "signup": "Rediem Loyalty Sign up", "points_earned": "Rediem Points Earned",
    "points_redeemed": "Rediem Points Redeemed", "tier_achieved": "Rediem VIP Tier Achieved",
    "tier_downgrade": "Rediem Tier Downgrade", "referral_received": "Rediem Referral Received",
    "referral_completed": "Rediem Referral Completed", "action_rejected": "Rediem Customer Action Rejection",
}

MEMBER_EXAMPLE: dict[str, Any] = {
    "id": "mem_00000001", "email": "harper.nguyen@example.test", "phone": "+15005550142", "first_name": "Harper",
    "birth_date": "1992-07-14", "current_tier": "Gold", "point_balance": 1840, "points_to_next_tier": 660,
    "spend_to_next_tier": 132.0, "points_expiring": 300, "points_expiry_date": "2026-03-18T19:04:51.000Z",
    "last_action_points": 240, "last_action_type": "Place an order", "last_reward_type": "Fixed amount discount",
    "advocate_first_name": "Jordan", "redemption_reward_code": "RDM-10OFF-4KQ8Z", "has_account": True,
    "opt_in_date": "2024-11-03T15:22:08.000Z", "date_last_action": "2025-03-18T19:04:51.000Z",
    "date_last_reward": "2025-02-27T12:40:02.000Z", "impacts": {"Trees Planted": 12, "Plastic Bottles Recycled": 48},
    "impacts_yoy": {"Trees Planted": 9, "Plastic Bottles Recycled": 31},
}
_TYPE_FIELDS: dict[str, dict[str, Any]] = {
    "signup": {},
    "points_earned": {"points": 240, "action_type": "Place an order"},
    "points_redeemed": {"points": 500, "reward_type": "$5 off", "reward_code": "RDM-5OFF-2B"},
    "tier_achieved": {"tier": "Gold", "previous_tier": "Silver"},
    "tier_downgrade": {"tier": "Silver", "previous_tier": "Gold"},
    "referral_received": {"advocate_first_name": "Jordan"},
    "referral_completed": {"points": 500, "referred_email": "friend@example.test"},
    "action_rejected": {"action_type": "Follow on Instagram", "rejection_reason": "Action already completed"},
}


def example(kind: str) -> dict[str, Any]:
    """One activity of ``kind`` in the assumed shape."""
    return {"id": f"act_{list(_TYPE_FIELDS).index(kind):010d}", "type": kind,
            "created_at": "2025-03-18T19:04:51.000Z", "updated_at": "2025-03-18T19:04:51.000Z",
            **_TYPE_FIELDS[kind], "customer": dict(MEMBER_EXAMPLE)}


def check(obj: Any) -> None:
    """``obj`` is an activity in the assumed shape, nothing more."""
    check_table(ACTIVITY, obj)
    if obj["type"] not in SEED_000_EVENTS:
        raise AssertionError(f"activity.type: {obj['type']!r} is not an assumed activity type")
