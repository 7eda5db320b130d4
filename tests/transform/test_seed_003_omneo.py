"""Seed 003 (Omneo API, "Working with Rewards"): a reward issued, redeemed and attached to a
transaction; the profile balances endpoint.

The seed names no events or profile properties, only the API's objects and the balances
fields. The literal data below is copied from the seed; the event and property names are
this project's (``DOCUMENTED_ADDITIONS``). Fixtures (``tests/fixtures/omneo``) are push bodies
(the event context, in the read shapes of shared/specs/omneo/README.md §4) carrying the
seed's own values; the seed's write bodies (``redemption_id``, ``strategies``/``amount``)
become the read shapes' ``redemption`` and ``total``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pipeline.types import goes_to
from tests.transform.seed_support import event_names, mapped, profile_properties, profiles, raw, the_event

# --- copied from seed 003 ---------------------------------------------------------------------
SEED_BALANCES_RESPONSE = {
    "data": {
        "reward_balance": 10,
        "point_balance": 0,
        "point_balance_dollars": 0,
        "combined_balance_dollars": 10,
    }
}
SEED_BALANCE_FIELDS = ["reward_balance", "point_balance", "point_balance_dollars", "combined_balance_dollars"]
SEED_REWARD = {"reward_definition_id": "6", "value_initial": "10", "value_remaining": "10",
               "expires_at": "2022-02-10 12:59:59", "issued_at": "2021-02-10 10:00:00",
               "timezone": "Australia/Melbourne"}
SEED_REWARD_DEFINITION_NAME = "Birthday Reward"
SEED_REDEMPTION = {"strategies": ["rewards"], "amount": "10"}
SEED_TRANSACTION = {"total": "10", "transacted_at": "2021-02-10 00:00:00", "redemption_id": 158,
                    "external_id": "91040123233311"}
SEED_EVENTS: list[str] = []
SEED_PROFILE_PROPERTIES: list[str] = []
# -----------------------------------------------------------------------------------------------

#: Ours, not the seed's: the Omneo event names and their properties ...
DOCUMENTED_ADDITIONS: dict[str, set[str]] = {
    "Omneo Reward Issued": {"Reward ID", "Reward Name", "Reward Value", "Expires At"},
    "Omneo Reward Redeemed": {"Redemption ID", "Amount"},
    "Omneo Transaction With Redemption": {"Transaction ID", "External ID", "Total", "Redemption ID"},
    "Omneo Points Awarded": {"Points", "Points Name", "Description", "Expires At"},
    "Omneo Tier Achieved": {"Tier", "Previous Tier", "Next Tier"},
}
#: ... and the profile properties made of the seed's balance fields.
BALANCE_PROPERTIES = {
    "Omneo Reward Balance": "reward_balance",
    "Omneo Point Balance": "point_balance",
    "Omneo Point Balance Dollars": "point_balance_dollars",
    "Omneo Combined Balance Dollars": "combined_balance_dollars",
}

CASES = [
    ("reward_issued", "Omneo Reward Issued"),
    ("redemption", "Omneo Reward Redeemed"),
    ("transaction_with_redemption", "Omneo Transaction With Redemption"),
    ("points_awarded", "Omneo Points Awarded"),
    ("tier_achieved", "Omneo Tier Achieved"),
]


def test_balance_properties_come_from_the_seed_fields() -> None:
    assert sorted(BALANCE_PROPERTIES.values()) == sorted(SEED_BALANCE_FIELDS)
    assert sorted(SEED_BALANCES_RESPONSE["data"]) == sorted(SEED_BALANCE_FIELDS)
    assert sorted(c[1] for c in CASES) == sorted(DOCUMENTED_ADDITIONS)


def test_fixtures_carry_the_seed_values() -> None:
    reward = raw("omneo", "reward_issued")
    assert reward["definition"]["name"] == SEED_REWARD_DEFINITION_NAME
    assert str(reward["definition"]["id"]) == SEED_REWARD["reward_definition_id"]
    for key in ("value_initial", "value_remaining"):
        assert float(reward[key]) == float(SEED_REWARD[key])
    for key in ("issued_at", "expires_at", "timezone"):
        assert reward[key] == SEED_REWARD[key]
    redemption = raw("omneo", "redemption")
    assert [i["type"] for i in redemption["items"]] == ["reward"]  # strategies: ["rewards"]
    assert float(redemption["total"]) == float(SEED_REDEMPTION["amount"])
    txn = raw("omneo", "transaction_with_redemption")
    assert txn["redemption"]["id"] == SEED_TRANSACTION["redemption_id"] == redemption["id"]
    assert txn["external_id"] == SEED_TRANSACTION["external_id"]
    assert txn["transacted_at"] == SEED_TRANSACTION["transacted_at"]
    assert float(txn["total"]) == float(SEED_TRANSACTION["total"])
    balances = raw("omneo", "balances")
    assert {k: balances[k] for k in SEED_BALANCE_FIELDS} == SEED_BALANCES_RESPONSE["data"]


@pytest.mark.parametrize(("fixture", "name"), CASES, ids=[c[0] for c in CASES])
def test_record_becomes_its_event(fixture: str, name: str) -> None:
    items = mapped("omneo", fixture)
    assert event_names(items) == [name] and profiles(items) == []
    event = the_event(items, name)
    assert set(event.properties) == DOCUMENTED_ADDITIONS[name]
    assert None not in event.properties.values()
    assert event.platforms is None and goes_to(event, "postscript")
    assert event.customer.email == "charlotte.evans@example.test"
    assert event.customer.phone == "+61491570156"


def test_seed_reward_walkthrough_values() -> None:
    issued = the_event(mapped("omneo", "reward_issued"), "Omneo Reward Issued")
    assert issued.properties["Reward Name"] == "Birthday Reward"
    assert issued.properties["Reward Value"] == 10
    # naive business times are wall-clock time in the record's timezone (Melbourne, UTC+11 in February)
    assert issued.occurred_at == datetime(2021, 2, 9, 23, tzinfo=timezone.utc)
    assert issued.properties["Expires At"] == datetime(2022, 2, 10, 1, 59, 59, tzinfo=timezone.utc)
    redeemed = the_event(mapped("omneo", "redemption"), "Omneo Reward Redeemed")
    assert redeemed.properties == {"Redemption ID": 158, "Amount": 10}
    txn = the_event(mapped("omneo", "transaction_with_redemption"), "Omneo Transaction With Redemption")
    assert txn.properties["Redemption ID"] == 158 and txn.properties["External ID"] == "91040123233311"


def test_transaction_without_redemption_sends_nothing() -> None:
    assert mapped("omneo", "transaction_without_redemption") == []


def test_balances_set_the_four_balance_properties() -> None:
    items = mapped("omneo", "balances")
    assert event_names(items) == []
    props = profile_properties(items, "postscript")
    assert set(props) == set(BALANCE_PROPERTIES)
    # zero balances are values, not missing ones
    assert {name: props[name] for name in BALANCE_PROPERTIES} == {
        name: SEED_BALANCES_RESPONSE["data"][field] for name, field in BALANCE_PROPERTIES.items()}
    assert all(u.platforms is None for u in profiles(items))
