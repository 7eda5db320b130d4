"""Omneo API v3 contract: documented objects built field by field, and the field tables the
simulator is held to.

Source: ``/work/shared/specs/omneo/README.md`` (§4 record shapes from Omneo's own SDK types and
v3 reference; §5 webhooks) and seed 003 (``/work/shared/seeds/003_93096ad247c6d4a2.txt``,
"Working with Rewards"), whose request bodies and balances response are the only published
example values. Where a field has no published example, the value below is marked "ours".

Types to accept (README §4): money and points as numbers *or* numeric strings; ``is_*`` as
booleans or strings; naive ``YYYY-MM-DD HH:MM:SS`` times with a separate ``timezone``."""

from __future__ import annotations

from typing import Any

from tests.contracts.support import FieldTable, check_table

PROFILE_ID = "9a3b1c7e-5d2f-4e80-b6a1-2f4c8d0e7b93"  # ours: a uuid string, as README §4 types it

# --- seed 003, verbatim --------------------------------------------------------------------------
SEED_BALANCES = {"reward_balance": 10, "point_balance": 0, "point_balance_dollars": 0, "combined_balance_dollars": 10}
SEED_REWARD_DEFINITION = {"name": "Birthday Reward", "handle": "birthday-reward", "value": "10", "type": "birthday",
                          "period": "30"}
SEED_REWARD_BODY = {"reward_definition_id": "6", "profile_id": "{YOUR_PROFILE_ID}", "value_initial": "10",
                    "value_remaining": "10", "expires_at": "2022-02-10 12:59:59", "issued_at": "2021-02-10 10:00:00",
                    "timezone": "Australia/Melbourne"}
SEED_REDEEM_BODY = {"strategies": ["rewards"], "amount": "10"}
SEED_TRANSACTION_BODY = {"total": "10", "profile_id": "{YOUR_PROFILE_ID}", "transacted_at": "2021-02-10 00:00:00",
                         "timezone": "Australia/Melbourne", "redemption_id": 158, "external_id": "91040123233311",
                         "total_original": 9.99, "is_void": False, "margin": 1}
# -------------------------------------------------------------------------------------------------

#: The reward of seed 003 as ``GET /rewards/{id}`` (or a ``reward.issued`` push) returns it:
#: the seed's values, in the read shape of README §4 "Reward".
REWARD: dict[str, Any] = {
    "id": 1203,                                                   # ours (README: integer id)
    "profile_id": PROFILE_ID,
    "timezone": SEED_REWARD_BODY["timezone"],
    "value_initial": SEED_REWARD_BODY["value_initial"],           # "10": a numeric string
    "value_remaining": SEED_REWARD_BODY["value_remaining"],
    "issued_at": SEED_REWARD_BODY["issued_at"],                   # naive, in Australia/Melbourne
    "expires_at": SEED_REWARD_BODY["expires_at"],
    "is_expired": "false",                                        # README: rendered "<string>" in the v3 reference
    "is_active": "true",
    "definition": {"id": int(SEED_REWARD_BODY["reward_definition_id"]), **SEED_REWARD_DEFINITION},
    "meta": None,
    "created_at": "2021-02-09 23:00:02",                          # ours; server time, UTC
    "updated_at": "2021-02-09 23:00:02",
}
#: The redemption of seed 003 (``amount: "10"`` from ``strategies: ["rewards"]``) in the read
#: shape of README §4 "Redemption": ``total``, ``items[]``; its ``id`` is the 158 that the
#: seed's transaction links.
REDEMPTION: dict[str, Any] = {
    "id": SEED_TRANSACTION_BODY["redemption_id"],
    "profile_id": PROFILE_ID,
    "profile": {"first_name": "Charlotte", "last_name": "Evans", "full_name": "Charlotte Evans",  # ours
                "email": "charlotte.evans@example.test", "statuses": []},
    "type": "reward",
    "total": SEED_REDEEM_BODY["amount"],
    "total_localised": SEED_REDEEM_BODY["amount"],
    "meta": None,
    "transaction_id": None,
    "items": [{"id": 9001, "type": "reward", "value": SEED_REDEEM_BODY["amount"], "count": 1,
               "type_attributes": {"id": REWARD["id"]}, "created_at": "2021-02-09 23:05:41",
               "updated_at": "2021-02-09 23:05:41"}],
    "created_at": "2021-02-09 23:05:41",                          # ours
    "updated_at": "2021-02-09 23:05:41",
}
#: The transaction of seed 003 in the read shape of README §4 "Transaction" (it embeds its
#: ``redemption``; the seed's write body names ``redemption_id``, which is accepted too).
TRANSACTION: dict[str, Any] = {
    "id": 48213,                                                  # ours
    "external_id": SEED_TRANSACTION_BODY["external_id"],
    "profile_id": PROFILE_ID,
    "total": SEED_TRANSACTION_BODY["total"],
    "total_original": SEED_TRANSACTION_BODY["total_original"],
    "is_void": SEED_TRANSACTION_BODY["is_void"],
    "transacted_at": SEED_TRANSACTION_BODY["transacted_at"],
    "timezone": SEED_TRANSACTION_BODY["timezone"],
    "tags": [], "items": [], "payments": [],
    "redemption": {"id": REDEMPTION["id"], "total": REDEMPTION["total"], "type": "reward"},
    "receipt_ref": None,
    "currency": "AUD",                                            # ours
    "created_at": "2021-02-09 23:07:12",                          # ours
    "updated_at": "2021-02-09 23:07:12",
}
#: A transaction as seed 003 writes it (``redemption_id``, no embedded redemption).
TRANSACTION_AS_WRITTEN: dict[str, Any] = {k: v for k, v in TRANSACTION.items() if k != "redemption"} | {
    "redemption_id": SEED_TRANSACTION_BODY["redemption_id"]}
#: Points in README §4 "Point" (no published example values: ours, typed as documented).
POINT: dict[str, Any] = {
    "id": 3310, "profile_id": PROFILE_ID, "linked_profile_id": None, "value_initial": "250",
    "value_remaining": "250", "issued_at": "2021-02-14 13:26:35", "expires_at": None,
    "definition": {"id": 2, "name": "Purchase Points", "handle": "purchase-points", "is_reassignable": False,
                   "tags": []},
    "source_type": "transaction", "source": None, "rate": 1, "description": "Points earned on transaction 91040123233312",
    "meta": None, "created_at": "2021-02-14 13:26:35", "updated_at": "2021-02-14 13:26:35",
}
#: The balances of seed 003, as the connector makes them a record (``profile_id`` and the
#: profile's ``updated_at`` added: the endpoint answers for one profile).
BALANCES: dict[str, Any] = {**SEED_BALANCES, "profile_id": PROFILE_ID, "updated_at": "2021-02-09 23:07:12"}

# --- field tables (README §4), for the simulator ----------------------------------------------
_NUM = (int, float, str)          # money and points: number or numeric string
_FLAG = (bool, str)               # is_*: boolean or string
_S, _SN, _I = (str,), (str, type(None)), (int,)
_TIMES = ("created_at", "updated_at")
_TIER = FieldTable("Tier", {"id": _I, "profile_id": _S, "name": _S, "handle": _S, "anniversary_at": _SN,
                            "maintained_at": _SN, "assigned_at": _SN, "achieved_at": _S})
_DEF = FieldTable("definition", {"id": _I, "name": _S, "handle": _S, "type": _S, "value": _NUM, "period": _NUM,
                                 "period_type": _S, "is_reassignable": (bool,), "tags": (list,)})
PROFILE = FieldTable("Profile", {
    "id": _S, "first_name": _S, "last_name": _S, "email": _S, "mobile_phone": _SN, "mobile_phone_e164": _SN,
    "birth_day": (int, type(None)), "birth_month": (int, type(None)), "birth_year": (int, type(None)),
    "birth_date": _SN, "next_birthday": _SN, "joined_at": _SN, "tier_handle": _SN,
    "tier": (dict, type(None)), "reward_balance": _NUM, "point_balance": _NUM, "point_balance_dollars": _NUM,
    "combined_balance_dollars": _NUM, "profile_type": _S, "identities": (list,), "tags": (list,),
    "statuses": (list,), "custom_fields": (dict,), "attributes": (dict,), "created_at": _S, "updated_at": _S,
}, required=("id", *_TIMES), nested={"tier": _TIER})
POINT_TABLE = FieldTable("Point", {
    "id": _I, "profile_id": _S, "linked_profile_id": _SN, "value_initial": _NUM, "value_remaining": _NUM,
    "issued_at": _SN, "expires_at": _SN, "definition": (dict,), "source_type": _SN, "source": (str, dict, type(None)),
    "rate": (int, float, type(None)), "description": _SN, "meta": (dict, type(None)), "accrued_at": _SN,
    "status": _SN, "value_initial_currency": _NUM, "value_remaining_currency": _NUM, "created_at": _S,
    "updated_at": _S,
}, required=("id", "profile_id", "value_initial", *_TIMES), nested={"definition": _DEF})
REWARD_TABLE = FieldTable("Reward", {
    "id": _I, "profile_id": _S, "timezone": _SN, "value_initial": _NUM, "value_remaining": _NUM, "issued_at": _SN,
    "expires_at": _SN, "issued_local_at": _SN, "expires_local_at": _SN, "is_expired": _FLAG, "is_active": _FLAG,
    "extended_at": _SN, "has_notified_issue": _FLAG, "has_notified_expiry": _FLAG, "has_notified_extend": _FLAG,
    "notify_issue_at": _SN, "notify_expiry_at": _SN, "definition": (dict,), "meta": (dict, type(None)),
    "created_at": _S, "updated_at": _S,
}, required=("id", "profile_id", "value_initial", *_TIMES), nested={"definition": _DEF})
_ITEM = FieldTable("Redemption item", {"id": _I, "type": _SN, "value": _NUM, "count": (int, type(None)),
                                       "type_attributes": (dict,), "created_at": _S, "updated_at": _S})
REDEMPTION_TABLE = FieldTable("Redemption", {
    "id": _I, "profile_id": _S, "profile": (dict,), "type": _SN, "total": _NUM, "total_localised": _NUM,
    "meta": (dict, type(None)), "location_id": (int, type(None)), "location": (dict, type(None)),
    "transaction_id": (int, type(None)), "transaction": (dict, type(None)), "items": (list,), "created_at": _S,
    "updated_at": _S, "redeem_at": _SN,
}, required=("id", "profile_id", "total", *_TIMES), nested={"items": _ITEM})
TRANSACTION_TABLE = FieldTable("Transaction", {
    "id": _I, "external_id": _S, "profile_id": _S, "total": _NUM, "total_original": (*_NUM, type(None)),
    "is_void": _FLAG, "transacted_at": _S, "timezone": _SN, "tags": (list,), "items": (list,), "payments": (list,),
    "redemption": (dict, type(None)), "receipt_ref": _SN, "currency": _SN, "type": _SN, "status": _SN,
    "order_number": _SN, "custom_fields": (dict,), "created_at": _S, "updated_at": _S,
}, required=("id", "profile_id", "total", *_TIMES))
TIER_PROGRESS = FieldTable("TierProgress", {
    "id": _I, "profile_id": _S, "current_tier": (dict, type(None)), "next_tier": (dict, type(None)),
    "prev_tier": (dict, type(None)), "is_floor": (bool,), "current_credit": _NUM, "current_progress": _NUM,
    "current_remain": _NUM, "next_progress": _NUM, "next_remain": _NUM, "total_points_12m": _NUM,
    "total_points_achievement": _NUM, "next_progress_change_at": _SN, "anniversary_at": _SN, "maintained_at": _SN,
    "assigned_at": _SN, "achieved_at": _S, "created_at": _S, "updated_at": _S,
}, required=("profile_id", "achieved_at", *_TIMES),
    nested={"current_tier": _TIER, "next_tier": _TIER, "prev_tier": _TIER})
BALANCES_TABLE = FieldTable("Balances", {"reward_balance": _NUM, "point_balance": _NUM, "point_balance_dollars": _NUM,
                                         "combined_balance_dollars": _NUM, "benefit_balance": _NUM},
                            required=tuple(SEED_BALANCES))
TABLES = {"profiles": PROFILE, "points": POINT_TABLE, "rewards": REWARD_TABLE, "redemptions": REDEMPTION_TABLE,
          "transactions": TRANSACTION_TABLE, "tiers": TIER_PROGRESS, "balances": BALANCES_TABLE}
#: README §5.3: a push is the event context, the object plus related objects; ours embeds ``profile``.
CONTEXT_EXTRAS = {"profile"}


def check(resource: str, obj: Any, *, pushed: bool = False) -> None:
    """``obj`` is a documented Omneo ``resource`` object (``pushed``: an event context, which may
    also embed its ``profile``)."""
    if pushed and isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k not in CONTEXT_EXTRAS or k in TABLES[resource].fields}
    check_table(TABLES[resource], obj)
