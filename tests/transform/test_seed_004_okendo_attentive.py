"""Seed 004 (Okendo Loyalty → Attentive): 7 profile properties and 5 loyalty events.

Lists copied from the seed text. The seed spells "Okendo Loyalty Enrollment Date" where
seed 001 (Postscript) spells "Enrolment": each platform gets its own seed's spelling. The
seed describes each event's properties in prose ("Properties include points earned,
action and description"); those are checked, case-insensitively, to be among the event's
properties (the full tables are seed 001's, checked in test_seed_001).
"""

from __future__ import annotations

import pytest

from pipeline.types import goes_to
from tests.transform.seed_support import event_names, mapped, profile_properties, profiles, sent, snapshot, the_event

# --- copied from seed 004 ---------------------------------------------------------------------
SEED_PROFILE_PROPERTIES = [
    "Okendo Loyalty VIP Tier",
    "Okendo Loyalty Program Status",
    "Okendo Loyalty Enrollment Date",
    "Okendo Loyalty Points Balance",
    "Okendo Loyalty Next Birthday Date",
    "Okendo Loyalty Points Expiry Date",
    "Okendo Loyalty VIP Tier Expiry Date",
]
SEED_EVENTS = [
    "Enrolled in Okendo Loyalty",
    "Okendo Loyalty Points Awarded",
    "Okendo Loyalty Points Redeemed",
    "Okendo Loyalty Tier Changed",
    "Okendo Loyalty Points Adjusted",
]
#: "Properties include ..." per event, as the seed words them (none listed for enrolment).
SEED_EVENT_PROPERTIES: dict[str, list[str]] = {
    "Enrolled in Okendo Loyalty": [],
    "Okendo Loyalty Points Awarded": ["points earned", "action", "description"],
    "Okendo Loyalty Points Redeemed": ["points spent", "description", "coupon description", "coupon code"],
    "Okendo Loyalty Tier Changed": ["old tier", "new tier", "earning period end", "Is Tier Upgrade"],
    "Okendo Loyalty Points Adjusted": ["adjusted amount", "adjusted description"],
}
SEED_PROGRAM_STATUSES = ["enrolled", "pending", "blocked"]
# -----------------------------------------------------------------------------------------------

SEED_001_SPELLING = "Okendo Loyalty Enrolment Date"
SEED_004_SPELLING = "Okendo Loyalty Enrollment Date"

#: event → (fixture, fixture whose snapshot is its previous version)
EVENT_FIXTURES = {
    "Enrolled in Okendo Loyalty": ("loyalty_customer_enrolled", "loyalty_customer_pending"),
    "Okendo Loyalty Points Awarded": ("loyalty_earning_transaction", None),
    "Okendo Loyalty Points Redeemed": ("loyalty_redemption_transaction", None),
    "Okendo Loyalty Tier Changed": ("loyalty_customer_tier_changed", "loyalty_customer_enrolled"),
    "Okendo Loyalty Points Adjusted": ("loyalty_adjustment_transaction", None),
}


def _mapped(fixture: str, previous: str | None = None) -> list:
    return mapped("okendo", fixture, previous=snapshot("okendo", previous) if previous else None)


def test_seed_lists_are_complete() -> None:
    assert len(SEED_PROFILE_PROPERTIES) == len(set(SEED_PROFILE_PROPERTIES)) == 7
    assert len(SEED_EVENTS) == 5 and list(SEED_EVENT_PROPERTIES) == SEED_EVENTS == list(EVENT_FIXTURES)


@pytest.mark.parametrize("name", SEED_EVENTS)
def test_loyalty_event_goes_to_attentive_with_the_described_properties(name: str) -> None:
    fixture, previous = EVENT_FIXTURES[name]
    items = _mapped(fixture, previous)
    assert event_names(items) == [name]
    event = the_event(items, name)
    assert goes_to(event, "attentive")
    assert goes_to(event, "postscript")  # seed 001 describes the same events for Postscript
    names = {p.lower() for p in sent(event.properties)}
    assert {p.lower() for p in SEED_EVENT_PROPERTIES[name]} <= names
    assert None not in event.properties.values()


def test_enrolled_member_gives_attentive_exactly_the_seed_properties() -> None:
    items = _mapped("loyalty_customer_enrolled", "loyalty_customer_pending")
    attentive = profile_properties(items, "attentive")
    assert set(attentive) == set(SEED_PROFILE_PROPERTIES)
    assert None not in attentive.values()
    assert SEED_001_SPELLING not in attentive
    assert attentive["Okendo Loyalty Program Status"] in SEED_PROGRAM_STATUSES
    assert attentive["Okendo Loyalty Points Balance"] == 200
    assert attentive["Okendo Loyalty VIP Tier"] == "Bronze"


def test_each_platform_gets_its_own_seeds_spelling() -> None:
    items = _mapped("loyalty_customer_enrolled", "loyalty_customer_pending")
    attentive = profile_properties(items, "attentive")
    postscript = profile_properties(items, "postscript")
    assert SEED_004_SPELLING in attentive and SEED_001_SPELLING not in attentive
    assert SEED_001_SPELLING in postscript and SEED_004_SPELLING not in postscript
    assert attentive[SEED_004_SPELLING] == postscript[SEED_001_SPELLING]
    # apart from the spelling, both platforms get the same seven properties
    assert set(attentive) - {SEED_004_SPELLING} == set(postscript) - {SEED_001_SPELLING}
    for update in profiles(items):
        if SEED_004_SPELLING in update.properties:
            assert update.platforms == ("attentive",)


def test_vip_tier_syncs_to_attentive_only_while_enrolled() -> None:
    items = _mapped("loyalty_customer_pending")
    attentive = profile_properties(items, "attentive")
    assert "Okendo Loyalty VIP Tier" not in attentive
    assert attentive["Okendo Loyalty Program Status"] == "pending"
    # the points balance shows for pending members too
    assert attentive["Okendo Loyalty Points Balance"] == 0
    # not yet enrolled: no enrollment date to send
    assert SEED_004_SPELLING not in attentive
    assert set(attentive) <= set(SEED_PROFILE_PROPERTIES)
    # seed 001 has no such restriction for Postscript
    assert profile_properties(items, "postscript")["Okendo Loyalty VIP Tier"] == "Bronze"


def test_is_tier_upgrade_for_a_higher_rank() -> None:
    event = the_event(_mapped("loyalty_customer_tier_changed", "loyalty_customer_enrolled"),
                      "Okendo Loyalty Tier Changed")
    assert event.properties["Is Tier Upgrade"] is True
    assert goes_to(event, "attentive")
