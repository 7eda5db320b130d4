"""Seed 002 (Smile → Postscript): profile data only, "Enrolled in Smile" and "Smile Points Balance".

The seed names two profile properties and no events. The catalog's Smile events are
additions of this project (listed in ``DOCUMENTED_ADDITIONS``), tested here against
realistic Smile API objects (``tests/fixtures/smile``, shapes of specs/smile-io-openapi.yml):
points transactions become "Smile Points Earned/Redeemed/Adjusted"; a customer compared
with its previous snapshot becomes "Enrolled in Smile" / "Smile VIP Tier Changed".
"""

from __future__ import annotations

import pytest

from pipeline.types import goes_to
from tests.transform.seed_support import (
    event_names, mapped, profile_properties, profiles, raw, snapshot, the_event,
)

# --- copied from seed 002 ---------------------------------------------------------------------
SEED_PROFILE_PROPERTIES = ["Enrolled in Smile", "Smile Points Balance"]
SEED_EVENTS: list[str] = []  # "profile data only"
# -----------------------------------------------------------------------------------------------

#: Not in seed 002: events this project adds, with the properties it gives them.
DOCUMENTED_ADDITIONS: dict[str, set[str]] = {
    "Smile Points Earned": {"Points", "Description", "Transaction ID"},
    "Smile Points Redeemed": {"Points", "Description", "Transaction ID"},
    "Smile Points Adjusted": {"Points Change", "Description", "Transaction ID"},
    "Smile Reward Fulfilled": {"Reward Name", "Reward Code", "Expires At", "Fulfillment ID"},
    "Enrolled in Smile": {"Points Balance"},
    "Smile VIP Tier Changed": {"Old VIP Tier ID", "New VIP Tier ID", "VIP Tier Expires At"},
}

CUSTOMERS = "customers"
TXNS = "points_transactions"


@pytest.mark.parametrize(("fixture", "enrolled", "balance"), [
    ("customer_candidate", False, 0),
    ("customer_member", True, 100),
    ("customer_member_vip_silver", True, 1350),
])
def test_customer_sets_exactly_the_seed_properties(fixture: str, enrolled: bool, balance: int) -> None:
    items = mapped("smile", fixture, resource=CUSTOMERS)
    assert event_names(items) == []  # first sight: a baseline, no event
    (update,) = profiles(items)
    assert set(update.properties) == set(SEED_PROFILE_PROPERTIES)
    assert update.properties == {"Enrolled in Smile": enrolled, "Smile Points Balance": balance}
    assert update.platforms is None and goes_to(update, "postscript")
    assert update.customer.email == "jane.doe@example.test"


@pytest.mark.parametrize(("fixture", "name", "points"), [
    ("points_transaction_earned", "Smile Points Earned", 250),
    ("points_transaction_redeemed", "Smile Points Redeemed", 500),
    ("points_transaction_adjusted", "Smile Points Adjusted", -20),
])
def test_points_transaction_becomes_its_event(fixture: str, name: str, points: int) -> None:
    items = mapped("smile", fixture, resource=TXNS)
    assert event_names(items) == [name] and profiles(items) == []
    event = the_event(items, name)
    assert set(event.properties) == DOCUMENTED_ADDITIONS[name]
    assert None not in event.properties.values()
    assert event.properties.get("Points", event.properties.get("Points Change")) == points
    assert event.properties["Transaction ID"] == raw("smile", fixture)["id"]
    # the merchant-only internal note is never forwarded
    note = raw("smile", fixture)["internal_note"]
    assert note is None or note not in map(str, event.properties.values())
    assert goes_to(event, "postscript")


def test_enrolled_in_smile_when_a_known_candidate_becomes_a_member() -> None:
    items = mapped("smile", "customer_member", resource=CUSTOMERS,
                   previous=snapshot("smile", "customer_candidate", resource=CUSTOMERS))
    assert event_names(items) == ["Enrolled in Smile"]
    event = the_event(items, "Enrolled in Smile")
    assert set(event.properties) == DOCUMENTED_ADDITIONS["Enrolled in Smile"]
    assert event.properties == {"Points Balance": 100}
    assert profile_properties(items, "postscript") == {"Enrolled in Smile": True, "Smile Points Balance": 100}


def test_not_enrolled_again_while_state_is_unchanged() -> None:
    same = snapshot("smile", "customer_member", resource=CUSTOMERS)
    assert event_names(mapped("smile", "customer_member", resource=CUSTOMERS, previous=same)) == []


def test_vip_tier_changed_when_a_known_member_changes_tier() -> None:
    items = mapped("smile", "customer_member_vip_silver", resource=CUSTOMERS,
                   previous=snapshot("smile", "customer_member", resource=CUSTOMERS))
    assert event_names(items) == ["Smile VIP Tier Changed"]
    event = the_event(items, "Smile VIP Tier Changed")
    assert set(event.properties) == DOCUMENTED_ADDITIONS["Smile VIP Tier Changed"]
    assert event.properties["Old VIP Tier ID"] is None  # no tier before
    assert event.properties["New VIP Tier ID"] == 426715794
    assert event.properties["VIP Tier Expires At"] is not None


def test_candidate_straight_to_vip_member_fires_both() -> None:
    items = mapped("smile", "customer_member_vip_silver", resource=CUSTOMERS,
                   previous=snapshot("smile", "customer_candidate", resource=CUSTOMERS))
    assert sorted(event_names(items)) == ["Enrolled in Smile", "Smile VIP Tier Changed"]


def test_seed_lists() -> None:
    assert SEED_EVENTS == []
    assert not set(DOCUMENTED_ADDITIONS) & set(SEED_EVENTS)


def test_reward_fulfillment_becomes_smile_reward_fulfilled_with_its_code() -> None:
    items = mapped("smile", "reward_fulfillment_issued", resource="reward_fulfillments")
    assert event_names(items) == ["Smile Reward Fulfilled"]
    event = the_event(items, "Smile Reward Fulfilled")
    assert set(event.properties) == DOCUMENTED_ADDITIONS["Smile Reward Fulfilled"]
    assert event.properties["Reward Code"] == "SMILE-5OFF-7Q2K" and event.properties["Reward Name"] == "$5 off coupon"
