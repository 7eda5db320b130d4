"""Rediem → every platform (seed 000: "Postscript and rediem").

Seed 000 names 8 events and 18 ``rediem_*`` custom properties, two of them templated per
impact metric (``rediem_[Impactname]``, ``rediem_YoY_[Impactname]``: the impact's name
with everything but letters, digits and underscores removed). It lists no event
properties; the ones below are ours, named in the style of the other integrations.
Records are activities of Rediem's feed (``pipeline/providers/schemas/rediem.py``); every
activity also refreshes the member's properties from the snapshot it carries.
"""

from __future__ import annotations

from pipeline.transform.rules import Cond, Each, EventRule, Field, ProfileRule

_COMMON = {"Activity ID": Field("id"), "Point Balance": Field("customer.point_balance")}

#: activity type → (event name, extra properties)
_EVENTS = {
    "signup": ("Rediem Loyalty Sign up", {}),
    "points_earned": ("Rediem Points Earned", {"Points": Field("points"), "Action Type": Field("action_type")}),
    "points_redeemed": ("Rediem Points Redeemed", {"Points": Field("points"), "Reward Type": Field("reward_type"),
                                                   "Reward Code": Field("reward_code")}),
    "tier_achieved": ("Rediem VIP Tier Achieved", {"Tier": Field("tier"), "Previous Tier": Field("previous_tier")}),
    "tier_downgrade": ("Rediem Tier Downgrade", {"Tier": Field("tier"), "Previous Tier": Field("previous_tier")}),
    "referral_received": ("Rediem Referral Received", {"Advocate First Name": Field("advocate_first_name")}),
    "referral_completed": ("Rediem Referral Completed", {"Points": Field("points"),
                                                         "Referred Email": Field("referred_email")}),
    "action_rejected": ("Rediem Customer Action Rejection", {"Action Type": Field("action_type"),
                                                             "Rejection Reason": Field("rejection_reason")}),
}

EVENTS: tuple[EventRule, ...] = tuple(
    EventRule(provider="rediem", stream="activities", event=name, occurred_at="created_at",
              when=(Cond("type", "eq", kind),), properties={**_COMMON, **extra}, source="000",
              doc=f"An activity of type `{kind}`.")
    for kind, (name, extra) in _EVENTS.items()
)

_C = "customer."
PROFILES: tuple[ProfileRule, ...] = (
    ProfileRule(provider="rediem", stream="activities", name="rediem.member", source="000", properties={
        "rediem_point_balance": Field(_C + "point_balance"),
        "rediem_last_action_points": Field(_C + "last_action_points"),
        "rediem_last_action_type": Field(_C + "last_action_type"),
        "rediem_last_reward_type": Field(_C + "last_reward_type"),
        "rediem_birth_date": Field(_C + "birth_date"),
        "rediem_[Impactname]": Each(_C + "impacts", identifier=True),
        "rediem_YoY_[Impactname]": Each(_C + "impacts_yoy", identifier=True),
        "rediem_date_last_action": Field(_C + "date_last_action"),
        "rediem_date_last_reward": Field(_C + "date_last_reward"),
        "rediem_current_tier": Field(_C + "current_tier"),
        "rediem_points_to_next_tier": Field(_C + "points_to_next_tier"),
        "rediem_spend_to_next_tier": Field(_C + "spend_to_next_tier"),
        "rediem_advocate_first_name": Field(_C + "advocate_first_name"),
        "rediem_redemption_reward_code": Field(_C + "redemption_reward_code"),
        "rediem_has_account": Field(_C + "has_account"),
        "rediem_opt_in_date": Field(_C + "opt_in_date"),
        "rediem_points_expiry_date": Field(_C + "points_expiry_date"),
        "rediem_points_expiring": Field(_C + "points_expiring"),
    }, doc="The member snapshot every activity carries."),
)
