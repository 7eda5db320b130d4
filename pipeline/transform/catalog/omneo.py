"""Omneo → every platform (seed 003, "Working with Rewards", and Omneo's API v3).

Seed 003 walks a reward through its life: issued to a profile, redeemed, and attached to a
transaction; it reads the profile balances endpoint. No integration guide names Omneo
events, so they are named in the style of the others ("<Provider> <Thing> <Past tense>").

Points are whole numbers on every platform (``Whole``: Omneo types them FLOAT); money
(reward values, totals, dollar balances) stays a number here and each platform's encoding
decides its wire form (Postscript: a decimal string, see its encoding module).
"""

from __future__ import annotations

from pipeline.transform.rules import Cond, EventRule, Field, ProfileRule, Whole

EVENTS: tuple[EventRule, ...] = (
    EventRule(provider="omneo", stream="rewards", event="Omneo Reward Issued", occurred_at="issued_at",
              properties={"Reward ID": Field("id"), "Reward Name": Field("definition.name"),
                          "Reward Value": Field("value_initial"), "Expires At": Field("expires_at")},
              source="003", doc="A reward assigned to a profile (`reward.issued`)."),
    EventRule(provider="omneo", stream="redemptions", event="Omneo Reward Redeemed", occurred_at="created_at",
              properties={"Redemption ID": Field("id"), "Amount": Field("total")},
              source="003", doc="A reward or points redemption against the profile's balance (`reward.redeemed`)."),
    EventRule(provider="omneo", stream="transactions", event="Omneo Transaction With Redemption",
              occurred_at="transacted_at", when=(Cond("redemption_id", "not_null"),),
              properties={"Transaction ID": Field("id"), "External ID": Field("external_id"),
                          "Total": Field("total"), "Redemption ID": Field("redemption_id")},
              source="003", doc="A transaction linked to a redemption; other transactions send nothing."),
    EventRule(provider="omneo", stream="points", event="Omneo Points Awarded", occurred_at="issued_at",
              when=(Cond("value_initial", "gt", 0),),
              properties={"Points": Whole("value_initial"), "Points Name": Field("definition.name"),
                          "Description": Field("description"), "Expires At": Field("expires_at")},
              source="003", doc="Points issued to a profile (`points.awarded`)."),
    EventRule(provider="omneo", stream="tiers", event="Omneo Tier Achieved", occurred_at="achieved_at",
              properties={"Tier": Field("current_tier.name"), "Previous Tier": Field("prev_tier.name"),
                          "Next Tier": Field("next_tier.name")},
              source="003", doc="A profile reached a tier (`tier.achieved`)."),
)

PROFILES: tuple[ProfileRule, ...] = (
    ProfileRule(provider="omneo", stream="balances", name="omneo.balances", source="003", properties={
        "Omneo Reward Balance": Field("reward_balance"),
        "Omneo Point Balance": Whole("point_balance"),
        "Omneo Point Balance Dollars": Field("point_balance_dollars"),
        "Omneo Combined Balance Dollars": Field("combined_balance_dollars"),
    }, doc="`GET /profiles/{id}/balances`: reward_balance, point_balance, point_balance_dollars, "
           "combined_balance_dollars."),
)
