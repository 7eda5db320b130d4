"""Smile.io → every platform (seed 002, and what Smile's REST API allows).

* ``points_transactions`` is a signed ledger. Positive changes are earnings, negative ones
  redemptions; a merchant correction carries an ``internal_note`` (Smile's admin and API
  take one for corrections), so a note marks "Adjusted" whatever the sign. The note itself
  is merchant-only text and is never forwarded.
* ``customers`` snapshots set "Enrolled in Smile" (state is ``member``) and "Smile Points
  Balance", the two properties seed 002 names. Seed 002's integration sends profile data
  only: the events here are ours (source "API"), named in the style of the other programs.
  Smile has no list of enrolments or tier changes, so they are found by diffing a customer
  with its previous snapshot; the first snapshot of a customer is the baseline and fires nothing.
"""

from __future__ import annotations

from pipeline.transform.rules import Abs, Cond, EventRule, Expr, Field, ProfileRule, Test

_TXN: dict[str, Expr] = {"Points": Abs("points_change"), "Description": Field("description"), "Transaction ID": Field("id")}
_SEEN_BEFORE = Cond("previous", "not_null")

EVENTS: tuple[EventRule, ...] = (
    EventRule(provider="smile", stream="points_transactions", event="Smile Points Earned", occurred_at="created_at",
              when=(Cond("points_change", "gt", 0), Cond("internal_note", "is_null")), properties=_TXN,
              source="API", doc="A positive points transaction without a merchant note."),
    EventRule(provider="smile", stream="points_transactions", event="Smile Points Redeemed",
              occurred_at="created_at", when=(Cond("points_change", "lt", 0), Cond("internal_note", "is_null")),
              properties=_TXN, source="API", doc="A negative points transaction without a merchant note."),
    EventRule(provider="smile", stream="points_transactions", event="Smile Points Adjusted",
              occurred_at="created_at", when=(Cond("internal_note", "not_null"),),
              properties={"Points Change": Field("points_change"), "Description": Field("description"),
                          "Transaction ID": Field("id")},
              source="API", doc="A merchant correction (it carries an internal note, which is not forwarded)."),
    EventRule(provider="smile", stream="reward_fulfillments", event="Smile Reward Fulfilled",
              occurred_at="created_at", when=(Cond("fulfillment_status", "eq", "issued"),),
              properties={"Reward Name": Field("name"), "Reward Code": Field("code"),
                          "Expires At": Field("expires_at"), "Fulfillment ID": Field("id")},
              source="API", doc="A reward issued to a customer (`reward_fulfillments`), with its code."),
    EventRule(provider="smile", stream="customers", event="Enrolled in Smile", occurred_at="updated_at",
              when=(_SEEN_BEFORE, Cond("state", "changed"), Cond("state", "eq", "member")), per_version=True,
              properties={"Points Balance": Field("points_balance")},
              source="API", doc="A known customer whose state became `member`."),
    EventRule(provider="smile", stream="customers", event="Smile VIP Tier Changed", occurred_at="updated_at",
              when=(_SEEN_BEFORE, Cond("vip_status.vip_tier_id", "changed")), per_version=True,
              properties={"Old VIP Tier ID": Field("previous.vip_status.vip_tier_id"),
                          "New VIP Tier ID": Field("vip_status.vip_tier_id"),
                          "VIP Tier Expires At": Field("vip_status.vip_tier_expires_at")},
              source="API", doc="A known customer whose `vip_status.vip_tier_id` changed."),
)

PROFILES: tuple[ProfileRule, ...] = (
    ProfileRule(provider="smile", stream="customers", name="smile.customer",
                properties={"Enrolled in Smile": Test(Cond("state", "eq", "member")),
                            "Smile Points Balance": Field("points_balance")},
                source="002", doc="The two Smile profile properties Postscript segments on."),
)
