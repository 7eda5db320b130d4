"""The event catalog: which provider records become which named events and profile
properties. Names are exactly those of the source documents (``shared/seeds``).

Smile.io (seed 002, and what Smile's REST API allows):

* ``points_transactions`` is a signed ledger. Positive changes are earnings, negative
  ones redemptions; a merchant adjustment carries an ``internal_note`` (Smile's admin and
  API require one for corrections), so a note marks "Adjusted" whatever the sign.
  ``internal_note`` itself is never forwarded: it is merchant-only text.
* ``customers`` snapshots set "Enrolled in Smile" (state is ``member``) and
  "Smile Points Balance", the two properties seed 002 names.
"""

from __future__ import annotations

from pipeline.transform.rules import Abs, Cond, EventRule, Field, ProfileRule, Test

__all__ = ["EVENT_RULES", "PROFILE_RULES"]

_SMILE_TXN_PROPS = {"Points": Abs("points_change"), "Description": Field("description"),
                    "Transaction ID": Field("id")}

EVENT_RULES: tuple[EventRule, ...] = (
    EventRule(
        provider="smile", stream="points_transactions", event="Smile Points Earned", occurred_at="created_at",
        when=(Cond("points_change", "gt", 0), Cond("internal_note", "is_null")),
        properties=_SMILE_TXN_PROPS, doc="A positive points transaction without a merchant note.",
    ),
    EventRule(
        provider="smile", stream="points_transactions", event="Smile Points Redeemed", occurred_at="created_at",
        when=(Cond("points_change", "lt", 0), Cond("internal_note", "is_null")),
        properties=_SMILE_TXN_PROPS, doc="A negative points transaction without a merchant note.",
    ),
    EventRule(
        provider="smile", stream="points_transactions", event="Smile Points Adjusted", occurred_at="created_at",
        when=(Cond("internal_note", "not_null"),),
        properties={"Points Change": Field("points_change"), "Description": Field("description"),
                    "Transaction ID": Field("id")},
        doc="A merchant correction (carries an internal note); the note is not forwarded.",
    ),
)

PROFILE_RULES: tuple[ProfileRule, ...] = (
    ProfileRule(
        provider="smile", stream="customers",
        properties={"Enrolled in Smile": Test(Cond("state", "eq", "member")),
                    "Smile Points Balance": Field("points_balance")},
        doc="Seed 002: the two Smile profile properties Postscript segments on.",
    ),
)
