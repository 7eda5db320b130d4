"""Seed 000 (Rediem → Postscript): 8 events, 18 ``rediem_*`` custom properties.

The lists below are copied from the seed text, not from the catalog. The seed names no
event properties, so for events only the exact name is checked (and that the fixture
fills every property the catalog sends with it). Two property names are templated per
impact metric: ``rediem_[Impactname]`` and ``rediem_YoY_[Impactname]``.
"""

from __future__ import annotations

import re

import pytest

from pipeline.types import goes_to
from tests.transform.seed_support import event_names, mapped, profile_properties, profiles, raw, the_event

# --- copied from seed 000 -------------------------------------------------------------------
SEED_EVENTS = [
    "Rediem Loyalty Sign up",
    "Rediem Points Earned",
    "Rediem Points Redeemed",
    "Rediem VIP Tier Achieved",
    "Rediem Tier Downgrade",
    "Rediem Referral Received",
    "Rediem Referral Completed",
    "Rediem Customer Action Rejection",
]
SEED_PROFILE_PROPERTIES = [
    "rediem_point_balance",
    "rediem_last_action_points",
    "rediem_last_action_type",
    "rediem_last_reward_type",
    "rediem_birth_date",
    "rediem_[Impactname]",
    "rediem_YoY_[Impactname]",
    "rediem_date_last_action",
    "rediem_date_last_reward",
    "rediem_current_tier",
    "rediem_points_to_next_tier",
    "rediem_spend_to_next_tier",
    "rediem_advocate_first_name",
    "rediem_redemption_reward_code",
    "rediem_has_account",
    "rediem_opt_in_date",
    "rediem_points_expiry_date",
    "rediem_points_expiring",
]
# ---------------------------------------------------------------------------------------------

TEMPLATED = ["rediem_[Impactname]", "rediem_YoY_[Impactname]"]
FIXED = [p for p in SEED_PROFILE_PROPERTIES if p not in TEMPLATED]

#: fixture (one activity of each type) → the seed event it must become
FIXTURE_EVENT = {
    "signup": "Rediem Loyalty Sign up",
    "points_earned": "Rediem Points Earned",
    "points_redeemed": "Rediem Points Redeemed",
    "tier_achieved": "Rediem VIP Tier Achieved",
    "tier_downgrade": "Rediem Tier Downgrade",
    "referral_received": "Rediem Referral Received",
    "referral_completed": "Rediem Referral Completed",
    "action_rejected": "Rediem Customer Action Rejection",
}

#: A brand-new member has no reward history yet: the signup snapshot leaves these null.
NO_REWARD_YET = {"rediem_last_reward_type", "rediem_date_last_reward", "rediem_redemption_reward_code"}


def test_seed_lists_are_complete() -> None:
    assert len(SEED_EVENTS) == len(set(SEED_EVENTS)) == 8
    assert len(SEED_PROFILE_PROPERTIES) == len(set(SEED_PROFILE_PROPERTIES)) == 18
    assert len(FIXED) == 16
    assert sorted(FIXTURE_EVENT.values()) == sorted(SEED_EVENTS)


@pytest.mark.parametrize(("fixture", "name"), FIXTURE_EVENT.items(), ids=list(FIXTURE_EVENT))
def test_activity_becomes_the_seed_event(fixture: str, name: str) -> None:
    items = mapped("rediem", fixture)
    assert event_names(items) == [name]
    event = the_event(items, name)
    assert all(v is not None for v in event.properties.values()), event.properties
    # Seed 000 is a Postscript guide; the catalog sends Rediem items everywhere.
    assert event.platforms is None and goes_to(event, "postscript")
    assert event.customer.email == raw("rediem", fixture)["customer"]["email"]


def _identifier(impact: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "", impact)


@pytest.mark.parametrize("fixture", list(FIXTURE_EVENT))
def test_every_activity_refreshes_the_seed_properties(fixture: str) -> None:
    items = mapped("rediem", fixture)
    assert len(profiles(items)) == 1
    assert all(goes_to(p, "postscript") for p in profiles(items))
    props = profile_properties(items, "postscript")
    member = raw("rediem", fixture)["customer"]

    expected_fixed = set(FIXED) - (NO_REWARD_YET if fixture == "signup" else set())
    impacts = {f"rediem_{_identifier(k)}" for k in member["impacts"]}
    yoy = {f"rediem_YoY_{_identifier(k)}" for k in member["impacts_yoy"]}
    assert set(props) == expected_fixed | impacts | yoy
    assert None not in props.values()

    # one templated property per impact in the fixture, each carrying that impact's value
    assert len(impacts) == len(member["impacts"]) and len(yoy) == len(member["impacts_yoy"])
    for impact, value in member["impacts"].items():
        assert props[f"rediem_{_identifier(impact)}"] == value
    for impact, value in member["impacts_yoy"].items():
        assert props[f"rediem_YoY_{_identifier(impact)}"] == value


def test_established_member_sends_all_16_fixed_properties_and_both_templates() -> None:
    props = profile_properties(mapped("rediem", "points_earned"), "postscript")
    assert set(FIXED) <= set(props)
    assert {"rediem_TreesPlanted", "rediem_PlasticBottlesRecovered",
            "rediem_YoY_TreesPlanted", "rediem_YoY_PlasticBottlesRecovered"} <= set(props)
    assert props["rediem_point_balance"] == 1840
    assert props["rediem_has_account"] is True
    assert props["rediem_birth_date"] == "1992-07-14"
    assert not any("[" in name for name in props)
