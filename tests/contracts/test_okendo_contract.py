"""Okendo's documented payloads decode and map to the seeds' events and values; so do the
variants a real delivery can take; the simulator emits the same shapes (one contract)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.providers.schemas.okendo import SHAPES, WEBHOOK_RESOURCE_TYPES
from sandbox.sim import OkendoSimulator
from sandbox.sim import okendo_resources as sim_resources
from sandbox.sim.seed import seed_okendo
from sandbox.sim.webhooks import OkendoWebhookSender
from tests.contracts import okendo as contract
from tests.contracts.okendo_support import Pipe, events, props

EXAMPLES = Path(__file__).resolve().parents[2] / "specs" / "okendo" / "webhook-examples"
BUILDERS = {
    "adjustment": contract.adjustment, "loyalty_customer": contract.loyalty_customer, "review": contract.review,
    "earning": contract.earning, "redemption": contract.redemption, "survey": contract.survey, "quiz": contract.quiz,
    "referral": lambda: contract.referral("coupon_redeemed", "recipient", order={"orderId": "1", "totalPrice": 62.5}),
}


# --- the contract itself ---------------------------------------------------------------------------
@pytest.mark.parametrize("topic", ["create", "update", "delete"])
def test_the_builders_are_okendos_published_examples(topic: str) -> None:
    published = json.loads((EXAMPLES / f"loyalty_adjustment_transaction.{topic}.json").read_text())
    assert published == contract.adjustment(topic)
    assert list(published["resource"]) == list(contract.adjustment(topic)["resource"])  # the docs' key order


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_builder_meets_the_contract(name: str) -> None:
    assert contract.check(BUILDERS[name]()) == []


def test_the_contract_catches_invented_shapes() -> None:
    body = contract.adjustment()
    body["sequenceNumber"] = 7
    body["resource"]["transactionId"] = "t-1"
    body["resource"]["customer"]["firstName"] = "Jane"
    del body["resource"]["date"]
    assert contract.check(body) == [
        "envelope.sequenceNumber: not a string of digits", "loyalty_adjustment_transaction.date: required, missing",
        "loyalty_adjustment_transaction.transactionId: not in the contract",
        "loyalty_adjustment_transaction.customer.firstName: not in the contract"]


def test_shapes_name_every_resource_type_in_one_word() -> None:
    assert set(WEBHOOK_RESOURCE_TYPES) <= set(SHAPES) and set(contract.FIELDS) == set(WEBHOOK_RESOURCE_TYPES)
    assert set(SHAPES.values()) <= {"documented", "inferred", "assumed"}
    assert {k for k, v in SHAPES.items() if v == "documented"} >= {
        "envelope", "loyalty_adjustment_transaction", "loyalty_customer", "review"}


def test_the_simulator_emits_the_contract_shapes() -> None:
    sim = OkendoSimulator()
    store = sim.add_store("u", "k")
    deliveries = seed_okendo(store, members=12, seed=3)
    sender = OkendoWebhookSender("http://127.0.0.1:9/unused", "whsec_" + "A" * 32)
    assert {d[0] for d in deliveries} == set(WEBHOOK_RESOURCE_TYPES)
    assert {"delete"} <= {d[1] for d in deliveries}
    for resource_type, topic, resource in deliveries:
        assert contract.check(sender.envelope(resource_type, topic, resource)) == [], (resource_type, topic)
    for activity in sim_resources.REFERRAL_ROLES:
        assert contract.check(contract.envelope("referral", "create", sim_resources.referral(activity_type=activity))) == []
    for reward in ("coupon", "loyalty"):
        body = contract.envelope("survey_response", "create", sim_resources.survey_response(reward_type=reward))
        assert contract.check(body) == []


# --- documented examples → events and values -------------------------------------------------------
def test_adjustment_create_is_points_adjusted_with_the_documented_values() -> None:
    adjusted = events(Pipe().send(contract.adjustment()))["Okendo Loyalty Points Adjusted"]
    assert adjusted.properties == {"ActivityID": contract.UUID, "Date": adjusted.occurred_at, "Adjusted Amount": 100,
                                   "Adjusted Description": "Manual Store Adjustment"}
    assert adjusted.occurred_at.isoformat() == "2025-06-18T05:31:46.915000+00:00"
    assert (adjusted.customer.email, adjusted.customer.provider_id) == (contract.EMAIL, contract.UUID)
    assert adjusted.platforms is None  # seed 001 and 004


def test_adjustment_update_is_the_same_event_and_delete_sends_nothing() -> None:
    pipe = Pipe()
    created = events(pipe.send(contract.adjustment("create")))["Okendo Loyalty Points Adjusted"]
    updated = contract.adjustment("update")
    updated["sequenceNumber"] = "123123413"
    again = pipe.send(updated)  # same transaction, same date: already handed over, or the same event id
    assert all(e.id == created.id for e in events(again).values())
    deleted = contract.adjustment("delete")
    deleted["sequenceNumber"] = "123123414"
    assert pipe.send(deleted) == []


def test_loyalty_customer_sets_the_loyalty_properties() -> None:
    pipe = Pipe()
    items = pipe.send(contract.loyalty_customer(vipTierExpiryDate="2026-01-31T00:00:00.000Z"))
    assert list(events(items)) == ["Enrolled in Okendo Loyalty"]
    p = props(items)
    assert p["Okendo Loyalty Points Balance"] == 1 and p["Okendo Loyalty Program Status"] == "enrolled"
    assert p["Okendo Loyalty VIP Tier"] == "text"
    assert p["Okendo Loyalty VIP Tier Expiry Date"].isoformat() == "2026-01-31T00:00:00+00:00"
    birthday = p["Okendo Loyalty Next Birthday Date"]
    assert (birthday.month, birthday.day) == (8, 10) and birthday >= pipe.clock.now().replace(hour=0, minute=0,
                                                                                              second=0, microsecond=0)
    assert props(items, "attentive")["Okendo Loyalty Points Balance"] == 1


def test_review_create_is_review_created_with_the_review_object_values() -> None:
    items = Pipe().send(contract.review())
    p = events(items)["Review Created"].properties
    assert (p["Rating"], p["Review Body"], p["Product Name"], p["ProductID"]) == (
        5, "Great quality and price! Would buy again!", "MacBook Pro", "shopify-123456789")
    assert (p["Reviewer Display Name"], p["Reviewer Full Name"]) == ("Tim C.", "Tim Cook")
    assert (p["Reviewer Country Code"], p["Reviewer Zone Code"]) == ("au", "NSW")
    assert (p["Overall Sentiment"], p["Is Recommended"], p["Photo Count"], p["Video Count"]) == ("positive", "Yes", 1, 0)
    assert (p["VariantID"], p["Variant Name"], p["Review Title"]) == ("987654321", "Space Grey", "Love it")
    assert p["Coupon Description"] == "$10 off your next order over $40"
    assert (p["Pros"], p["Sizing"]) == ("Powerful", 1)  # productAttributes and attributesWithRating
    assert (p["Okendo Number of Reviews"], p["Okendo Average Review Rating"], p["Okendo Latest Review Rating"]) == (1, 5.0, 5)
    assert p["Okendo Has Submitted Media"] == "No"  # its only photo is hidden
    assert props(items) == {"Okendo Number of Reviews": 1, "Okendo Average Review Rating": 5.0,
                            "Okendo Latest Review Rating": 5, "Okendo Latest Review Sentiment": "positive",
                            "Okendo Average Review Sentiment": "positive"}


# --- variants ------------------------------------------------------------------------------------------
def test_a_numeric_sequence_number_is_accepted_and_compared_as_an_integer() -> None:
    pipe = Pipe()
    for seq, balance in ((9, 10), ("10", 20)):  # lexically "10" < "9"; numerically it is newer
        pipe.send({**contract.loyalty_customer(points={"balance": balance}), "sequenceNumber": seq})
    assert pipe.intake.process(json.dumps({**contract.loyalty_customer(), "sequenceNumber": 9})) == "stale"
    assert [r.data["points"]["balance"] for r in pipe.records] == [10, 20]


def test_unknown_fields_anywhere_are_tolerated() -> None:
    body = contract.review()
    body["deliveredAt"] = "2025-03-24T07:32:18Z"
    body["resource"]["newThing"] = {"a": 1}
    body["resource"]["reviewer"]["pronouns"] = "she/her"
    body["resource"]["media"][0]["durationMs"] = 1200
    assert events(Pipe().send(body))["Review Created"].properties["Rating"] == 5


def test_a_delete_needs_only_its_ids() -> None:
    pipe = Pipe()
    pipe.send(contract.review())
    gone = contract.envelope("review", "delete", {"reviewId": contract.UUID}, sequence="123123413")
    items = pipe.send(gone)
    assert events(items) == {}
    assert props(items)["Okendo Number of Reviews"] == 0  # the reviewer is known from the review's snapshot
    assert pipe.send(contract.envelope("loyalty_customer", "delete", {"loyaltyCustomerId": "lc-9"})) == []


def test_the_rest_review_object_counts_like_a_review_webhook() -> None:
    body = contract.envelope("review", "create", contract.review_object())
    body["resource"]["rating"] = 3
    body["resource"]["sentiment"] = "negative"
    pipe = Pipe()
    first = pipe.send(contract.review())
    second = pipe.send({**body, "resource": {**body["resource"], "reviewId": "r-2",
                                              "dateCreated": "2025-04-01T00:00:00.000Z"}})
    assert props(first)["Okendo Number of Reviews"] == 1
    p = props(second)
    assert (p["Okendo Number of Reviews"], p["Okendo Average Review Rating"], p["Okendo Latest Review Rating"]) == (2, 4.0, 3)
    assert (p["Okendo Latest Review Sentiment"], p["Okendo Average Review Sentiment"]) == ("negative", "neutral")


def test_a_redelivered_review_never_counts_twice() -> None:
    pipe = Pipe()
    pipe.send(contract.review())
    assert pipe.intake.process(json.dumps(contract.review())) == "stale"  # same sequenceNumber
    update = contract.review("update")
    update["sequenceNumber"] = "123123413"
    assert props(pipe.send(update))["Okendo Number of Reviews"] == 1


def test_an_unknown_resource_type_is_quarantined_naming_it() -> None:
    pipe = Pipe()
    body = contract.envelope("review_request", "create", {"reviewRequestId": "rr-1"})
    assert pipe.intake.process(json.dumps(body)) == "quarantined"
    [reason] = pipe.reasons()
    assert "unknown resourceType 'review_request'" in reason and "envelope.resourceType" in reason


@pytest.mark.parametrize("body", [
    contract.earning(), contract.redemption(), contract.survey(), contract.quiz(),
    contract.referral("invitation_sent", "referrer", dateSent="2025-06-18T05:31:46.915Z")],
    ids=["earning", "redemption", "survey", "quiz", "referral"])
def test_inferred_shapes_map_to_their_seed_event(body: dict[str, Any]) -> None:
    expected = {"loyalty_earning_transaction": "Okendo Loyalty Points Awarded",
                "loyalty_redemption_transaction": "Okendo Loyalty Points Redeemed",
                "survey_response": "Submitted Okendo Survey", "quiz_response": "Submitted Okendo Quiz",
                "referral": "Sent Okendo Referral"}[body["resourceType"]]
    assert list(events(Pipe().send(body))) == [expected]


# --- the CLI, as a user runs it ------------------------------------------------------------------------
@pytest.mark.parametrize("topic", ["create", "update", "delete"])
def test_transform_takes_okendos_examples_as_published(topic: str) -> None:
    text = (EXAMPLES / f"loyalty_adjustment_transaction.{topic}.json").read_text()  # pretty-printed, multi-line
    result = CliRunner().invoke(main, ["transform", "--provider", "okendo", "--platform", "attentive"], input=text)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    if topic == "delete":
        assert out == []
    else:
        assert [o["body"]["type"] for o in out] == ["Okendo Loyalty Points Adjusted"]
        assert out[0]["body"]["properties"]["Adjusted Amount"] == 100


def test_transform_takes_the_variants_and_names_an_unknown_resource_type() -> None:
    numeric = {**contract.adjustment(), "sequenceNumber": 123123412}
    extra = contract.adjustment()
    extra["resource"]["somethingNew"] = True
    lines = [numeric, extra, contract.adjustment("delete"), contract.envelope("review", "create", contract.review_object())]
    result = CliRunner().invoke(main, ["transform", "--provider", "okendo"], input="\n".join(map(json.dumps, lines)))
    assert result.exit_code == 0, result.output
    names = [json.loads(line).get("name") for line in result.stdout.splitlines()]
    assert names.count("Okendo Loyalty Points Adjusted") == 2 and names.count("Review Created") == 1
    bad = CliRunner().invoke(main, ["transform", "--provider", "okendo"],
                             input=json.dumps(contract.envelope("customer", "update", {"customerId": "c"})))
    assert bad.exit_code == 1 and "unknown resourceType 'customer'" in bad.stderr


def test_an_edited_review_updates_the_aggregate_through_the_ledger() -> None:
    pipe = Pipe()
    pipe.send(contract.review())
    edited = contract.review("update")
    edited["sequenceNumber"] = "123123413"
    edited["resource"] |= {"rating": 2, "sentiment": "negative"}  # dateCreated unchanged, as on a real edit
    p = props(pipe.send(edited))
    assert (p["Okendo Number of Reviews"], p["Okendo Average Review Rating"], p["Okendo Latest Review Sentiment"]) == (
        1, 2.0, "negative")


def test_a_deleted_successful_referral_leaves_the_referrers_stats() -> None:
    pipe = Pipe()
    won = contract.referral("coupon_redeemed", "recipient", order={"orderId": "1", "totalPrice": 62.5})
    assert props(pipe.send(won))["Okendo Number of Successful Referrals"] == 1
    items = pipe.send(contract.envelope("referral", "delete", {"referralId": contract.UUID}, sequence="123123413"))
    assert props(items)["Okendo Number of Successful Referrals"] == 0
    assert {i.customer.email for i in items} == {contract.EMAIL}  # the referrer, not the recipient


def test_transform_takes_a_bare_rest_review_object() -> None:
    result = CliRunner().invoke(main, ["transform", "--provider", "okendo", "--resource", "review",
                                       "--platform", "postscript"], input=json.dumps(contract.review_object()))
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    [event] = [o["body"] for o in out if o["kind"] == "event"]
    assert (event["type"], event["email"]) == ("Review_Created", contract.EMAIL)
    assert (event["properties"]["Rating"], event["properties"]["Reviewer Full Name"]) == (5, "Tim Cook")
    assert [o["method"] for o in out if o["kind"] == "profile"] == ["PATCH"]  # the reviewer's aggregate


def test_a_quarantined_delivery_redrives_with_its_receipt_time() -> None:
    from pipeline import quarantine
    from pipeline.errors import InvalidRecord

    pipe = Pipe()
    body = contract.loyalty_customer()
    quarantine.put(pipe.quarantine, pipe.clock, merchant="m", provider="okendo", resource="loyalty_customer",
                   payload=body["resource"], error=InvalidRecord("a schema bug since fixed", provider="okendo"),
                   extra={"_topic": "create", "_sequence": 1, "_received_at": pipe.clock.now()})
    handed: list = []
    report = quarantine.redrive(pipe.quarantine, "okendo", handover=lambda _m, records: handed.extend(records))
    assert len(report.redriven) == 1 and not report.still_invalid
    assert handed[0].updated_at == pipe.clock.now()
