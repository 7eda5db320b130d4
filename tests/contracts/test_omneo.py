"""Omneo contract: the documented objects (seed 003's values in README §4's read shapes) decode
and map to the catalog's events with their documented values, numeric strings and naive
local times included; the simulator answers and pushes exactly these shapes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from pipeline.destinations.postscript.encoding import encode_properties
from pipeline.errors import InvalidRecord
from pipeline.providers.resources import decode, unwrap
from sandbox.sim import OmneoSimulator
from sandbox.sim.seed import seed_omneo
from sandbox.sim.webhooks import OMNEO_TRIGGER_OF
from pipeline.transform.mapper import Mapper
from pipeline.types import Event, ProfileUpdate
from tests.contracts import omneo as contract

MAPPER = Mapper()
UTC = timezone.utc


def _event(resource: str, raw: dict[str, Any]) -> Event:
    (event,) = [i for i in MAPPER.map(decode("omneo", resource, raw, merchant="m")) if isinstance(i, Event)]
    return event


def test_documented_objects_fit_their_field_tables() -> None:
    for resource, obj in (("rewards", contract.REWARD), ("redemptions", contract.REDEMPTION),
                          ("transactions", contract.TRANSACTION), ("points", contract.POINT),
                          ("balances", contract.SEED_BALANCES)):
        contract.check(resource, obj)


def test_seed_reward_numeric_strings_and_melbourne_time() -> None:
    event = _event("rewards", contract.REWARD)
    assert event.name == "Omneo Reward Issued"
    # "10" is ten dollars; "2021-02-10 10:00:00" in Australia/Melbourne (UTC+11 in February)
    assert event.properties["Reward Value"] == 10.0 and event.properties["Reward Name"] == "Birthday Reward"
    assert event.occurred_at == datetime(2021, 2, 9, 23, 0, tzinfo=UTC)
    assert event.properties["Expires At"] == datetime(2022, 2, 10, 1, 59, 59, tzinfo=UTC)


def test_naive_times_without_a_timezone_are_utc_and_offsets_are_kept() -> None:
    bare = {k: v for k, v in contract.REWARD.items() if k != "timezone"}
    assert _event("rewards", bare).occurred_at == datetime(2021, 2, 10, 10, tzinfo=UTC)
    winter = {**contract.REWARD, "issued_at": "2021-07-10 10:00:00"}  # AEST, UTC+10
    assert _event("rewards", winter).occurred_at == datetime(2021, 7, 10, 0, tzinfo=UTC)
    explicit = {**contract.REWARD, "issued_at": "2021-02-10T10:00:00+00:00"}
    assert _event("rewards", explicit).occurred_at == datetime(2021, 2, 10, 10, tzinfo=UTC)


def test_seed_redemption_and_its_transaction() -> None:
    redeemed = _event("redemptions", contract.REDEMPTION)
    assert redeemed.name == "Omneo Reward Redeemed"
    assert redeemed.properties == {"Redemption ID": 158, "Amount": 10.0}
    assert redeemed.customer.email == "charlotte.evans@example.test"
    for shape in (contract.TRANSACTION, contract.TRANSACTION_AS_WRITTEN):
        txn = _event("transactions", shape)
        assert txn.name == "Omneo Transaction With Redemption"
        assert txn.properties == {"Transaction ID": 48213, "External ID": "91040123233311", "Total": 10.0,
                                  "Redemption ID": 158}
        assert txn.occurred_at == datetime(2021, 2, 9, 13, 0, tzinfo=UTC)  # 00:00 in Melbourne
    unlinked = {**contract.TRANSACTION, "redemption": None}
    assert MAPPER.map(decode("omneo", "transactions", unlinked, merchant="m")) == []


def test_points_are_whole_numbers_and_money_a_decimal_string_at_postscript() -> None:
    points = _event("points", contract.POINT)
    assert points.properties["Points"] == 250 and isinstance(points.properties["Points"], int)
    items = MAPPER.map(decode("omneo", "balances", contract.BALANCES, merchant="m"))
    (update,) = [i for i in items if isinstance(i, ProfileUpdate)]
    assert update.properties["Omneo Point Balance"] == 0 and isinstance(update.properties["Omneo Point Balance"], int)
    assert encode_properties(update.properties) == {
        "Omneo Reward Balance": "10.00", "Omneo Point Balance": 0, "Omneo Point Balance Dollars": "0.00",
        "Omneo Combined Balance Dollars": "10.00"}


@pytest.mark.parametrize(("change", "field"), [
    ({"value_initial": "ten"}, "rewards.value_initial"),
    ({"value_initial": True}, "rewards.value_initial"),
    ({"timezone": "Mars/Olympus"}, "rewards.timezone"),
    ({"issued_at": "10/02/2021"}, "rewards.issued_at"),
    ({"is_active": "maybe"}, "rewards.is_active"),
])
def test_bad_values_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        decode("omneo", "rewards", {**contract.REWARD, **change}, merchant="m")
    assert str(info.value).startswith(f"omneo: {field}:")


def test_a_push_is_the_object_itself_named_by_its_trigger() -> None:
    assert unwrap("omneo", contract.REWARD, event="reward.issued")[0] == "rewards"
    assert unwrap("omneo", contract.POINT, event="point.created")[0] == "points"  # the app starter's name
    with pytest.raises(InvalidRecord, match=r"x-omneo-event: unknown trigger 'reward\.exploded'"):
        unwrap("omneo", contract.REWARD, event="reward.exploded")
    with pytest.raises(InvalidRecord, match="x-omneo-event"):
        unwrap("omneo", contract.REWARD)


# --- the simulator --------------------------------------------------------------------------

@pytest.fixture
def sim() -> Iterator[OmneoSimulator]:
    server = OmneoSimulator(rate_per_s=None).start()
    try:
        yield server
    finally:
        server.stop()


def test_simulator_lists_and_pushes_are_documented_objects(sim: OmneoSimulator) -> None:
    tenant = sim.add_tenant("t")
    tenant.timezone = "Australia/Melbourne"
    seeded = seed_omneo(tenant, profiles=5, events=120, seed=11)
    assert {name for name, _ in seeded} == set(contract.TABLES) - {"balances"}
    with httpx.Client(base_url=f"{sim.base_url}/api/v3", headers={"Authorization": "Bearer t"}) as client:
        for resource in ("profiles", "points", "rewards", "transactions"):
            data = client.get(f"/{resource}", params={"page[size]": 100}).json()["data"]
            assert data
            for obj in data:
                contract.check(resource, copy.deepcopy(obj))
        pid = next(iter(tenant.profiles))
        contract.check("profiles", client.get(f"/profiles/{pid}").json()["data"])
        contract.check("balances", client.get(f"/profiles/{pid}/balances").json()["data"])
    for resource, record in seeded:
        pushed = tenant.with_profile(record) if resource != "profiles" else record
        contract.check(resource, pushed, pushed=True)
        name, raw, _ = unwrap("omneo", pushed, event=OMNEO_TRIGGER_OF[resource])
        assert name == resource
        decode("omneo", name, raw, merchant="m")


def test_simulator_local_times_decode_to_the_instant_they_were_made(sim: OmneoSimulator) -> None:
    at = datetime(2026, 1, 15, 3, 30, tzinfo=UTC)
    tenant = sim.add_tenant("t")
    tenant.timezone = "Australia/Melbourne"
    profile = tenant.add_profile("kim@park.test", "Kim", "Park", at=at)
    reward = tenant.issue_reward(profile["id"], 10, at=at, expires_at=at + timedelta(days=30))
    txn = tenant.add_transaction(profile["id"], 42.5, at=at)
    assert reward["issued_at"] == "2026-01-15 14:30:00" and txn["transacted_at"] == "2026-01-15 14:30:00"
    assert _event("rewards", tenant.with_profile(reward)).occurred_at == at
    assert decode("omneo", "transactions", txn, merchant="m").data["transacted_at"] == at


# --- pushes through the web process ---------------------------------------------------------

def _intake(handed: list[Any], journal: Any) -> Any:
    from pipeline.clock import SystemClock
    from pipeline.state.counters import MemoryCounters
    from pipeline.state.sequences import MemorySequenceStore
    from pipeline.state.snapshots import MemorySnapshotStore
    from pipeline.webhooks.intake import WebhookIntake
    return WebhookIntake(merchant="m", provider="omneo", hand_over=handed.extend, snapshots=MemorySnapshotStore(),
                         sequences=MemorySequenceStore(), quarantine_journal=journal, counters=MemoryCounters(),
                         clock=SystemClock())


def test_a_push_without_a_known_trigger_is_quarantined_with_the_reason() -> None:
    import json

    from pipeline import keys
    from pipeline.clock import SystemClock
    from pipeline.state.journal import MemoryJournal
    handed: list[Any] = []
    journal = MemoryJournal(SystemClock())
    intake = _intake(handed, journal)
    assert intake.process(json.dumps(contract.REWARD), event="reward.issued") == "handed_over"
    assert [r.stream for r in handed] == ["rewards"]
    assert intake.process(json.dumps(contract.REWARD)) == "quarantined"
    assert intake.process(json.dumps(contract.REWARD), event="reward.exploded") == "quarantined"
    assert intake.process(json.dumps({**contract.REWARD, "value_initial": "ten"}), event="reward.issued") == "quarantined"
    reasons = [entry["error"] for _, entry in journal.read(keys.quarantine("omneo"))]
    assert len(reasons) == 3 and "x-omneo-event" in reasons[0] and "reward.exploded" in reasons[1]
    assert "rewards.value_initial" in reasons[2]


def test_transform_reads_an_omneo_push_with_its_trigger() -> None:
    import json

    from click.testing import CliRunner

    from pipeline.cli import main
    result = CliRunner().invoke(main, ["transform", "--provider", "omneo", "--event", "reward.issued",
                                       "--platform", "postscript"], input=json.dumps(contract.REWARD))
    assert result.exit_code == 0, result.output
    (out,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert out["body"]["type"] == "Omneo_Reward_Issued"
    assert out["body"]["properties"]["Reward Value"] == "10.00"
    assert out["body"]["occurred_at"] == "2021-02-09 23:00:00.000000"
    missing = CliRunner().invoke(main, ["transform", "--provider", "omneo"], input=json.dumps(contract.REWARD))
    assert missing.exit_code == 1 and "x-omneo-event" in missing.stderr
