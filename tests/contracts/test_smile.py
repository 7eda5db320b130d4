"""Smile contract: the documented objects decode and map to seed 002's names with their
documented values, and the Smile simulator answers in exactly those shapes and scopes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from pipeline.errors import InvalidRecord
from pipeline.providers.resources import decode
from pipeline.providers.smile import SmileProvider
from sandbox.sim import SmileSimulator
from sandbox.sim.smile import SCOPES
from pipeline.transform.mapper import Mapper
from pipeline.types import Event, ProfileUpdate
from tests.contracts import smile as contract
from tests.contracts.support import ContractViolation

MAPPER = Mapper()


def _items(resource: str, raw: dict[str, Any], previous: dict[str, Any] | None = None) -> list[Any]:
    return MAPPER.map(decode("smile", resource, raw, merchant="m", previous=previous))


@pytest.mark.parametrize(("resource", "obj"), [
    ("customers", contract.CUSTOMER), ("points_transactions", contract.POINTS_TRANSACTION),
    ("reward_fulfillments", contract.REWARD_FULFILLMENT),
    ("reward_fulfillments", contract.REWARD_FULFILLMENT_STRING_CUSTOMER)])
def test_documented_examples_are_valid_published_objects(resource: str, obj: dict[str, Any]) -> None:
    contract.check(resource, obj)


def test_the_check_rejects_an_invented_field_and_a_wrong_type() -> None:
    with pytest.raises(ContractViolation, match=r"Customer\.phone"):
        contract.check("customers", {**contract.CUSTOMER, "phone": "+15555550100"})
    with pytest.raises(ContractViolation, match="points_balance"):
        contract.check("customers", {**contract.CUSTOMER, "points_balance": "300"})


def test_documented_customer_sets_both_seed_002_properties() -> None:
    items = _items("customers", contract.CUSTOMER)
    (update,) = [i for i in items if isinstance(i, ProfileUpdate)]
    assert dict(update.properties) == {"Enrolled in Smile": True, "Smile Points Balance": 300}
    assert set(update.properties) == set(contract.SEED_002_PROPERTIES)
    assert update.customer.email == "jane@doe.com" and update.customer.provider_id == "304169228"
    candidate = {**contract.CUSTOMER, "state": "candidate"}
    (update,) = [i for i in _items("customers", candidate) if isinstance(i, ProfileUpdate)]
    assert update.properties["Enrolled in Smile"] is False


def test_documented_customer_enrolling_is_enrolled_in_smile() -> None:
    before = {"state": "candidate", "vip_status": {"vip_tier_id": 426715794}}
    events = [i for i in _items("customers", contract.CUSTOMER, previous=before) if isinstance(i, Event)]
    assert [e.name for e in events] == ["Enrolled in Smile"]
    assert events[0].properties == {"Points Balance": 300}
    assert events[0].occurred_at == datetime(2025, 4, 4, 15, 10, 42, 30000, tzinfo=timezone.utc)


def test_documented_points_transaction_is_a_merchant_adjustment() -> None:
    (event,) = _items("points_transactions", contract.POINTS_TRANSACTION)
    assert event.name == "Smile Points Adjusted"  # the example carries an internal note
    assert event.properties == {"Points Change": 100, "Description": "Points correction", "Transaction ID": 825673452}
    assert "Due to issue" not in str(event.properties)  # the merchant-only note is never forwarded


@pytest.mark.parametrize("obj", [contract.REWARD_FULFILLMENT, contract.REWARD_FULFILLMENT_STRING_CUSTOMER])
def test_documented_reward_fulfillment_either_customer_id_form(obj: dict[str, Any]) -> None:
    (event,) = _items("reward_fulfillments", obj)
    assert event.name == "Smile Reward Fulfilled" and event.customer.provider_id == "304169228"
    assert event.properties["Reward Code"] == "5off-e26d02e39149"
    assert event.properties["Reward Name"] == "$5 off coupon"


def test_bad_input_names_the_field() -> None:
    with pytest.raises(InvalidRecord, match=r"smile: reward_fulfillments\.customer_id: .*digits"):
        decode("smile", "reward_fulfillments", {**contract.REWARD_FULFILLMENT, "customer_id": "abc"}, merchant="m")
    with pytest.raises(InvalidRecord, match=r"customers\.state"):
        decode("smile", "customers", {**contract.CUSTOMER, "state": "vip"}, merchant="m")


def test_connector_and_simulator_agree_with_the_documented_scopes() -> None:
    paths = {f"/{stream}": scope for stream, scope in SmileProvider.scopes.items()}
    assert paths == contract.ENDPOINT_SCOPES
    assert {f"/{r}": s for r, s in SCOPES.items()} == contract.ENDPOINT_SCOPES


# --- the simulator --------------------------------------------------------------------------

@pytest.fixture
def sim() -> Iterator[SmileSimulator]:
    server = SmileSimulator(rate_per_s=None).start()
    try:
        yield server
    finally:
        server.stop()


def _seeded(sim: SmileSimulator, key: str, scopes: tuple[str, ...] | None = None) -> None:
    account = sim.add_account(key, scopes)
    jane = account.add_customer(first_name="Jane", last_name="Doe", email="jane@doe.com", state="member",
                                vip_status={"vip_tier_id": 426715794, "next_vip_tier_id": 426715799})
    account.add_customer(state="candidate")
    account.add_transaction(jane["id"], 100, "Points correction", internal_note="Due to issue with order #6834")
    account.add_transaction(jane["id"], -50, "Redeemed")
    account.fulfill_reward(jane["id"], "$5 off coupon", "5off-e26d02e39149")


def test_simulator_lists_are_documented_objects(sim: SmileSimulator) -> None:
    _seeded(sim, "all")
    with httpx.Client(base_url=f"{sim.base_url}/v1", headers={"Authorization": "Bearer all"}) as client:
        for resource, params in (("customers", {"include": "vip_status"}), ("customers", {}),
                                 ("points_transactions", {}), ("reward_fulfillments", {})):
            body = client.get(f"/{resource}", params=params).json()
            assert set(body) == {resource, "metadata"} and body[resource]
            for obj in body[resource]:
                contract.check(resource, copy.deepcopy(obj))
                decode("smile", resource, obj, merchant="m")
        one = client.get(f"/customers/{body_id(client)}", params={"include": "vip_status"}).json()["customer"]
        contract.check("customers", one)


def body_id(client: httpx.Client) -> int:
    return client.get("/customers").json()["customers"][0]["id"]


def test_simulator_enforces_scopes_per_endpoint(sim: SmileSimulator) -> None:
    _seeded(sim, "read-only", ("customer:read",))
    _seeded(sim, "writer", ("customer:read", "points_transaction:write"))
    with httpx.Client(base_url=f"{sim.base_url}/v1", headers={"Authorization": "Bearer read-only"}) as client:
        assert client.get("/customers").status_code == 200
        assert client.get(f"/customers/{body_id(client)}").status_code == 200
        for path in ("/points_transactions", "/reward_fulfillments"):
            response = client.get(path)
            assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    with httpx.Client(base_url=f"{sim.base_url}/v1", headers={"Authorization": "Bearer writer"}) as client:
        assert client.get("/points_transactions").status_code == 200  # write includes read (scopes.md §1)
        assert client.get("/reward_fulfillments").status_code == 403
