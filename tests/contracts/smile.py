"""Smile.io REST API v1 contract: the documented objects, built field by field.

Sources (copies in ``/work/shared/specs/smile/``; the OpenAPI file is vendored in
``specs/smile-io-openapi.yml``):

* ``Customer``, ``PointsTransaction``, ``RewardFulfillment``: the ``example`` values of each
  property of ``components/schemas`` in smile-io-openapi.yml, one by one;
* scopes.md §2 (endpoint → scope), §3 (what a ``customer:read`` key can do), §5 (shape facts:
  ``reward_fulfillment.customer_id`` is a string on the object page, an integer elsewhere).

The tests decode these with the pipeline's schemas and map them to seed 002's names, and hold
the Smile simulator's responses to ``check`` (the same OpenAPI components)."""

from __future__ import annotations

from typing import Any

from tests.contracts.support import check_component

SPEC = "smile-io-openapi.yml"

# components/schemas/Customer, property by property (example values).
VIP_STATUS: dict[str, Any] = {
    "vip_tier_id": 426715794,                                  # vip_status.vip_tier_id.example
    "vip_tier_expires_at": "2026-12-31T23:59:59.999Z",         # vip_status.vip_tier_expires_at.example
    "progress_value": 300,                                     # vip_status.progress_value.example
    "current_vip_period_end": "2025-12-31T23:59:59.999Z",      # vip_status.current_vip_period_end.example
    "delta_to_retain_vip_tier": None,                          # no example; documented nullable
    "next_vip_tier_id": 426715799,                             # vip_status.next_vip_tier_id.example
    "delta_to_next_vip_tier": 200,                             # vip_status.delta_to_next_vip_tier.example
}
CUSTOMER: dict[str, Any] = {
    "id": 304169228,                                           # Customer.id.example
    "first_name": "Jane",                                      # Customer.first_name.example
    "last_name": "Doe",                                        # Customer.last_name.example
    "email": "jane@doe.com",                                   # Customer.email.example
    "state": "member",                                         # Customer.state.example (enum candidate|member|disabled)
    "date_of_birth": "1004-05-27",                             # Customer.date_of_birth.example (year 1004: day and month only)
    "points_balance": 300,                                     # Customer.points_balance.example
    "referral_url": "http://i.refs.cc/9qr5Pw",                 # Customer.referral_url.example
    "vip_tier_id": 426715794,                                  # Customer.vip_tier_id.example (deprecated)
    "vip_status": VIP_STATUS,                                  # with include=vip_status
    "created_at": "2024-04-04T15:10:42.030Z",                  # Customer.created_at.example
    "updated_at": "2025-04-04T15:10:42.030Z",                  # Customer.updated_at.example
}
# components/schemas/PointsTransaction (its example is a merchant correction: it has an internal note).
POINTS_TRANSACTION: dict[str, Any] = {
    "id": 825673452,                                           # PointsTransaction.id.example
    "customer_id": 304169228,                                  # PointsTransaction.customer_id.example
    "points_change": 100,                                      # PointsTransaction.points_change.example
    "description": "Points correction",                        # PointsTransaction.description.example
    "internal_note": "Due to issue with order #6834",          # PointsTransaction.internal_note.example
    "created_at": "2024-12-07T20:15:27.893Z",                  # PointsTransaction.created_at.example
    "updated_at": "2024-12-07T20:15:27.893Z",                  # PointsTransaction.updated_at.example
}
# components/schemas/RewardFulfillment.
REWARD_FULFILLMENT: dict[str, Any] = {
    "id": 625478984,                                           # RewardFulfillment.id.example
    "name": "$5 off coupon",                                   # RewardFulfillment.name.example
    "code": "5off-e26d02e39149",                               # RewardFulfillment.code.example
    "customer_id": 304169228,                                  # RewardFulfillment.customer_id.example (integer here)
    "fulfillment_status": "issued",                            # RewardFulfillment.fulfillment_status.example
    "image_url": "https://platform-images.smilecdn.co/9283449.png",  # RewardFulfillment.image_url.example
    "action_text": None,                                       # no example; documented nullable
    "action_url": None,                                        # no example; documented nullable
    "usage_instructions": "Use this discount code on your next order!",  # .usage_instructions.example
    "terms_and_conditions": "Reward expires on June 7, 2025. Reward can only be used on purchase of $50 or more. "
                            "Reward can only be used on select product collections.",  # .terms_and_conditions.example
    "expires_at": "2025-06-07T23:59:59.999Z",                  # RewardFulfillment.expires_at.example
    "usage_status": "unused",                                  # RewardFulfillment.usage_status.example
    "used_at": None,                                           # no example; documented nullable
    "created_at": "2024-12-07T20:15:27.893Z",                  # RewardFulfillment.created_at.example
    "updated_at": "2024-12-07T20:15:27.893Z",                  # RewardFulfillment.updated_at.example
}
#: scopes.md §5.1: the object page documents customer_id as a string ("304169228").
REWARD_FULFILLMENT_STRING_CUSTOMER = {**REWARD_FULFILLMENT, "customer_id": "304169228"}

#: scopes.md §2: the scope each list endpoint needs.
ENDPOINT_SCOPES = {
    "/customers": "customer:read",
    "/points_transactions": "points_transaction:read",
    "/reward_fulfillments": "reward_fulfillment:read",
}
#: seed 002: the Postscript integration asks only for this scope ...
SEED_002_SCOPES = ("customer:read",)
#: ... and syncs these two profile properties from it (scopes.md §3).
SEED_002_PROPERTIES = ("Enrolled in Smile", "Smile Points Balance")

_COMPONENTS = {"customers": "Customer", "points_transactions": "PointsTransaction",
               "reward_fulfillments": "RewardFulfillment"}


def check(resource: str, obj: Any) -> None:
    """``obj`` is a documented Smile ``resource`` object (list element), nothing more.

    Integer-or-string ``reward_fulfillment.customer_id`` (scopes.md §5.1) is checked as the
    integer the schema declares only when it is an integer."""
    if resource == "reward_fulfillments" and isinstance(obj, dict) and isinstance(obj.get("customer_id"), str):
        assert obj["customer_id"].isdigit(), "reward_fulfillments.customer_id: a string that is not digits"
        obj = {**obj, "customer_id": int(obj["customer_id"])}
    check_component(SPEC, _COMPONENTS[resource], obj)
