"""Seed 004 (Okendo Loyalty → Attentive): 7 profile properties and 5 loyalty events.

Lists copied from the seed text. The seed spells "Okendo Loyalty Enrollment Date" where
seed 001 (Postscript) spells "Enrolment": each platform gets its own seed's spelling. The
seed describes each event's properties in prose ("Properties include points earned,
action and description"); those are checked, case-insensitively, to be among the event's
properties where Okendo publishes their source (the full tables are seed 001's, checked in
test_seed_001). Deliveries are in Okendo's documented shapes (``tests/contracts/okendo.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.transform.catalog.okendo import UNPUBLISHED
from pipeline.types import ProfileUpdate, goes_to
from tests.contracts import okendo as contract
from tests.contracts.okendo_support import Pipe, events, props

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

DATES = {"enrolledDate": "2025-01-02T00:00:00.000Z", "pointsExpiryDate": "2026-01-02T00:00:00.000Z",
         "vipTierExpiryDate": "2026-01-31T00:00:00.000Z"}


def _seq(body: dict[str, Any], n: int) -> dict[str, Any]:
    return {**body, "sequenceNumber": str(n)}


def _member_then(**later: Any) -> list:
    """A pending member, then the same member with ``later`` applied."""
    pipe = Pipe()
    pipe.send(_seq(contract.loyalty_customer(status="pending", vipTierName="Bronze"), 1))
    return pipe.send(_seq(contract.loyalty_customer(**{"vipTierName": "Bronze", **DATES, **later}), 2))


#: event → the items of a delivery (sequence) that must yield it
EVENT_ITEMS = {
    "Enrolled in Okendo Loyalty": lambda: _member_then(status="enrolled"),
    "Okendo Loyalty Points Awarded": lambda: Pipe().send(contract.earning()),
    "Okendo Loyalty Points Redeemed": lambda: Pipe().send(contract.redemption()),
    "Okendo Loyalty Tier Changed": lambda: _member_then(status="pending", vipTierName="Silver"),
    "Okendo Loyalty Points Adjusted": lambda: Pipe().send(contract.adjustment()),
}


def test_seed_lists_are_complete() -> None:
    assert len(SEED_PROFILE_PROPERTIES) == len(set(SEED_PROFILE_PROPERTIES)) == 7
    assert len(SEED_EVENTS) == 5 and list(SEED_EVENT_PROPERTIES) == SEED_EVENTS == list(EVENT_ITEMS)


@pytest.mark.parametrize("name", SEED_EVENTS)
def test_loyalty_event_goes_to_attentive_with_the_described_properties(name: str) -> None:
    found = events(EVENT_ITEMS[name]())
    assert list(found) == [name]
    event = found[name]
    assert goes_to(event, "attentive")
    assert goes_to(event, "postscript")  # seed 001 describes the same events for Postscript
    names = {p.lower() for p, v in event.properties.items() if v is not None}
    unpublished = {p.lower() for p in UNPUBLISHED.get(name, ())}
    assert {p.lower() for p in SEED_EVENT_PROPERTIES[name]} - unpublished <= names


def test_enrolled_member_gives_attentive_exactly_the_seed_properties() -> None:
    attentive = props(_member_then(status="enrolled"), "attentive")
    assert set(attentive) == set(SEED_PROFILE_PROPERTIES)
    assert None not in attentive.values()
    assert SEED_001_SPELLING not in attentive
    assert attentive["Okendo Loyalty Program Status"] in SEED_PROGRAM_STATUSES
    assert (attentive["Okendo Loyalty Points Balance"], attentive["Okendo Loyalty VIP Tier"]) == (1, "Bronze")


def test_each_platform_gets_its_own_seeds_spelling() -> None:
    items = _member_then(status="enrolled")
    attentive, postscript = props(items, "attentive"), props(items, "postscript")
    assert SEED_004_SPELLING in attentive and SEED_001_SPELLING not in attentive
    assert SEED_001_SPELLING in postscript and SEED_004_SPELLING not in postscript
    assert attentive[SEED_004_SPELLING] == postscript[SEED_001_SPELLING]
    # apart from the spelling, both platforms get the same seven properties
    assert set(attentive) - {SEED_004_SPELLING} == set(postscript) - {SEED_001_SPELLING}
    for update in items:
        if isinstance(update, ProfileUpdate) and SEED_004_SPELLING in update.properties:
            assert update.platforms == ("attentive",)


def test_vip_tier_syncs_to_attentive_only_while_enrolled() -> None:
    items = Pipe().send(contract.loyalty_customer(status="pending", points={"balance": 0}, vipTierName="Bronze"))
    attentive = props(items, "attentive")
    assert "Okendo Loyalty VIP Tier" not in attentive
    assert attentive["Okendo Loyalty Program Status"] == "pending"
    assert attentive["Okendo Loyalty Points Balance"] == 0  # the balance shows for pending members too
    assert SEED_004_SPELLING not in attentive  # not yet enrolled: no enrollment date to send
    assert set(attentive) <= set(SEED_PROFILE_PROPERTIES)
    # seed 001 has no such restriction for Postscript
    assert props(items, "postscript")["Okendo Loyalty VIP Tier"] == "Bronze"


def test_is_tier_upgrade_when_the_delivery_carries_ranks() -> None:
    pipe = Pipe()
    pipe.send(_seq(contract.loyalty_customer(vipTierName="Bronze", vipTierRank=1), 1))
    event = events(pipe.send(_seq(contract.loyalty_customer(vipTierName="Silver", vipTierRank=2), 2)))[
        "Okendo Loyalty Tier Changed"]
    assert event.properties["Is Tier Upgrade"] is True
    assert goes_to(event, "attentive")
