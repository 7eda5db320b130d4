"""Seed 001 (Okendo → Postscript): 22 customer profile properties and the event tables.

Every list below is copied from the seed text (table by table, in the seed's order), not
from the catalog. Each table is checked against a delivery in Okendo's documented (or, where
Okendo publishes no example, inferred) shape, built by ``tests/contracts/okendo.py``: the
delivery must yield the event with exactly the seed's name, and the properties a platform
receives (encoders drop ``None``) must be exactly the seed table's, less those whose source
field Okendo does not publish (``catalog.okendo.UNPUBLISHED``) or that are conditional, plus the
extras the seed announces (review attributes, survey questions). Events with no public
source at all are ``catalog.okendo.NO_PUBLIC_SOURCE``: listed, never fired.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pipeline.providers.resources import RESOURCES
from pipeline.transform.catalog import EVENT_RULES
from pipeline.transform.catalog.okendo import NO_PUBLIC_SOURCE, UNPUBLISHED
from pipeline.types import Event, goes_to
from tests.contracts import okendo as contract
from tests.contracts.okendo_support import Pipe, events, props

# --- copied from seed 001 ---------------------------------------------------------------------
SEED_PROFILE_PROPERTIES = [
    "Okendo Given Name",
    "Okendo Family Name",
    "Okendo Average Review Rating",
    "Okendo Average Review Sentiment",
    "Okendo Latest Review Rating",
    "Okendo Latest Review Sentiment",
    "Okendo Latest NPS Category",
    "Okendo Latest NPS Date",
    "Okendo Latest NPS",
    "Okendo Number of Reviews",
    "Okendo Number of Survey Responses",
    "Okendo Referral Shareable Link",
    "Okendo Number of Successful Referrals",
    "Okendo Latest Successful Referral Date",
    "Okendo Total Successful Referral Revenue",
    "Okendo Loyalty Enrolment Date",
    "Okendo Loyalty Next Birthday Date",
    "Okendo Loyalty Points Balance",
    "Okendo Loyalty Points Expiry Date",
    "Okendo Loyalty Program Status",
    "Okendo Loyalty VIP Tier",
    "Okendo Loyalty VIP Tier Expiry Date",
]

#: (event, its property table), in the seed's order. "Opted In to Okendo Referrals" has two
#: tables (referrer, then recipient).
SEED_EVENT_TABLES: list[tuple[str, list[str]]] = [
    ("Review Created", [
        "Bought For", "Coupon Code", "Coupon Description", "Is Recommended", "Language Code", "Loyalty Events",
        "Loyalty Points", "Loyalty Provider", "Next-Day Delivery", "Overall Sentiment", "Photo Count",
        "Product Name", "Product URL", "Rating", "Review Body", "Review Created Date", "Review Title",
        "Reviewer Country Code", "Reviewer Display Name", "Reviewer Full Name", "Reviewer Zone Code", "Source",
        "VariantID", "Video Count", "Variant Name", "ProductID", "SKU", "Okendo Average Review Rating",
        "Okendo Has Submitted Media", "Okendo Latest Review Rating", "Okendo Number of Reviews",
    ]),
    ("Review Request Created", [
        "Email Address", "First Name", "Last Name", "Name", "Image Url", "Order Fulfilled Date", "Order Number",
        "Review Request Id", "Review Url", "Variant Name",
    ]),
    ("Submitted Okendo Quiz", [
        "ActivityID", "Date", "Quiz Name", "Quiz Response ID", "Redirect URL", "First Recommended Product ID",
    ]),
    ("Received Okendo Referral Coupon", [
        "ActivityID", "Date", "Date Received", "Customer Role", "Coupon Code", "Coupon Description",
        "Coupon Expiry Date",
    ]),
    ("Redeemed Okendo Referral Coupon", [
        "ActivityID", "Date", "Date Redeemed", "Customer Role", "Locale", "Order Discount Amount", "Order ID",
        "Order Number", "Order Total Price",
    ]),
    ("Opted In to Okendo Referrals", [
        "ActivityID", "Date", "Date Opted-In", "Customer Role", "Locale", "Invitation Link", "Referrer Email",
        "Referrer Name",
    ]),
    ("Okendo Referral Shareable Link Used", [
        "ActivityID", "Date", "Date Opted-In", "Customer Role", "Recipient Email", "Recipient Full Name",
        "Verification URL", "Locale",
    ]),
    ("Opted In to Okendo Referrals", [
        "ActivityID", "Date", "Date Opted-In", "Locale", "Invitation Link", "Verification URL", "Recipient Email",
        "Recipient First Name", "Recipient Last Name",
    ]),
    ("Sent Okendo Referral", [
        "ActivityID", "Date", "Date Sent", "Customer Role", "Invitation URL", "Locale", "Recipient Full Name",
        "Recipient Email", "Recipient First Name", "Recipient Last Name",
    ]),
    ("Okendo Referral Invitation", [
        "ActivityID", "Date", "Customer Role", "Date Sent", "Locale", "Recipient Email", "Recipient First Name",
        "Recipient Last Name", "Referrer First Name", "Referrer Last Name", "Invitation URL",
    ]),
    ("Okendo Referral Rejected", [
        "ActivityID", "Date", "Customer Role", "Should Notify Customer", "Rejection Reason", "Email", "Locale",
        "Rejection Type",
    ]),
    ("Enrolled in Okendo Loyalty", ["ActivityID", "Date", "Description", "Action"]),
    ("Okendo Loyalty Points Awarded", ["ActivityID", "Date", "Points Earned", "Description", "Action"]),
    ("Okendo Loyalty Points Redeemed", [
        "ActivityID", "Date", "Points Spent", "Description", "Coupon Code", "Coupon Description",
    ]),
    ("Okendo Loyalty Tier Changed", [
        "ActivityID", "Date", "Old Tier", "New Tier", "Earning Period End", "Is Tier Upgrade",
    ]),
    ("Okendo Loyalty Points Adjusted", ["ActivityID", "Date", "Adjusted Amount", "Adjusted Description"]),
    ("Okendo Loyalty Tier Upgrade Nudge", ["Current Tier", "Next Tier", "Spend To Upgrade Tier"]),
    ("Submitted Okendo Survey", [
        "Survey Name", "Email Address", "First Name", "Last Name", "Survey Questions and Answers",
    ]),
    ("Review Request Cancelled", ["Review Request Id"]),
    ("Update Customer Profile", []),
]

#: The seed's conditional tables: (event, condition) → the properties added under it.
SEED_CONDITIONAL_TABLES: dict[tuple[str, str], list[str]] = {
    ("Received Okendo Referral Coupon", "the coupon is redeemed"): [
        "Recipient Order Discount Amount", "Recipient Order ID", "Recipient Order Number",
        "Recipient Order Total Price",
    ],
    ("Okendo Loyalty Tier Upgrade Nudge", "eligibility period is 'lifetime'"): ["All Time Spend"],
    ("Okendo Loyalty Tier Upgrade Nudge", "eligibility period is a specific time window"): [
        "Spent Within Tier Upgrade Window", "Tier Upgrade Window End Date",
    ],
    ("Submitted Okendo Survey", 'rewardType is "coupon"'): ["Coupon Description", "Coupon Code"],
    ("Submitted Okendo Survey", 'rewardType is "loyalty"'): ["Loyalty Events", "Loyalty Points", "Loyalty Provider"],
}

#: Rows of the Review Created table the seed marks "if present".
SEED_REVIEW_IF_PRESENT = ["Coupon Code", "Coupon Description", "Loyalty Events", "Loyalty Points",
                          "Loyalty Provider", "Source"]
#: The survey table's row that stands for "additional properties" (one per question), not a name.
SURVEY_QA_PLACEHOLDER = "Survey Questions and Answers"
# -----------------------------------------------------------------------------------------------

SEED_EVENTS = list(dict.fromkeys(name for name, _ in SEED_EVENT_TABLES))
PLACEHOLDERS = {SURVEY_QA_PLACEHOLDER}


def table(event: str, nth: int = 0) -> set[str]:
    """The seed's property table of ``event`` (its ``nth`` table, for one with two)."""
    tables = [props for name, props in SEED_EVENT_TABLES if name == event]
    return set(tables[nth]) - PLACEHOLDERS


D = "2025-06-18T05:31:46.915Z"
COUPON = {"code": "REF-7QK2M", "description": "$10 off your first order"}
ORDER = {"orderId": "5523190071357", "orderNumber": "#10497", "discountAmount": 10.0, "totalPrice": 62.5}


def _seq(body: dict[str, Any], n: int) -> dict[str, Any]:
    return {**body, "sequenceNumber": str(n)}


def _tier_changed() -> list:
    pipe = Pipe()
    pipe.send(_seq(contract.loyalty_customer(vipTierName="Bronze"), 1))
    later = contract.loyalty_customer(vipTierName="Silver", vipTierExpiryDate="2026-06-18T00:00:00.000Z")
    return pipe.send(_seq(later, 2))


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[], Any]  # a delivery body, or a function returning the items directly
    event: str
    nth: int = 0
    condition: str | None = None  # a SEED_CONDITIONAL_TABLES condition that holds for the delivery
    unsent: frozenset[str] = frozenset()  # conditional properties the delivery rightly lacks
    extras: dict[str, Any] = field(default_factory=dict)  # announced extras: name → value

    def items(self) -> list:
        built = self.build()
        return built if isinstance(built, list) else Pipe().send(built)

    def expected(self) -> set[str]:
        names = table(self.event, self.nth)
        if self.condition:
            names |= set(SEED_CONDITIONAL_TABLES[self.event, self.condition])
        return names - self.unsent - UNPUBLISHED.get(self.event, frozenset())


_REDEEMED = frozenset(SEED_CONDITIONAL_TABLES["Received Okendo Referral Coupon", "the coupon is redeemed"])
CASES = [
    Case("review", contract.review, "Review Created", extras={"Pros": "Powerful", "Sizing": 1}),
    Case("quiz", contract.quiz, "Submitted Okendo Quiz"),
    Case("coupon_received", lambda: contract.referral(
        "coupon_received", "recipient", coupon={**COUPON, "dateReceived": D, "expiryDate": "2025-07-18T00:00:00Z"}),
        "Received Okendo Referral Coupon", unsent=_REDEEMED),
    Case("coupon_received_redeemed", lambda: contract.referral(
        "coupon_received", "recipient", coupon={**COUPON, "dateReceived": D, "expiryDate": "2025-07-18T00:00:00Z"},
        recipientOrder=ORDER), "Received Okendo Referral Coupon", condition="the coupon is redeemed"),
    Case("coupon_redeemed", lambda: contract.referral(
        "coupon_redeemed", "recipient", coupon={**COUPON, "dateRedeemed": D}, order=ORDER),
        "Redeemed Okendo Referral Coupon"),
    Case("opted_in_referrer", lambda: contract.referral(
        "opted_in", "referrer", dateOptedIn=D, shareableLink="https://okendo.link/abc"),
        "Opted In to Okendo Referrals", nth=0),
    Case("shareable_link_used", lambda: contract.referral(
        "shareable_link_used", "referrer", dateOptedIn=D, verificationUrl="https://okendo.link/abc/verify"),
        "Okendo Referral Shareable Link Used"),
    Case("opted_in_recipient", lambda: contract.referral(
        "opted_in", "recipient", dateOptedIn=D, shareableLink="https://okendo.link/abc",
        verificationUrl="https://okendo.link/abc/verify"), "Opted In to Okendo Referrals", nth=1),
    Case("invitation_sent", lambda: contract.referral(
        "invitation_sent", "referrer", dateSent=D, invitationUrl="https://okendo.link/abc/i"), "Sent Okendo Referral"),
    Case("invitation_received", lambda: contract.referral(
        "invitation_received", "recipient", dateSent=D, invitationUrl="https://okendo.link/abc/i"),
        "Okendo Referral Invitation"),
    Case("rejected", lambda: contract.referral(
        "rejected", "referrer", rejection={"reason": "Self-referral", "type": "automatic", "shouldNotifyCustomer": True}),
        "Okendo Referral Rejected"),
    Case("enrolled", contract.loyalty_customer, "Enrolled in Okendo Loyalty"),
    Case("earning", contract.earning, "Okendo Loyalty Points Awarded"),
    Case("redemption", contract.redemption, "Okendo Loyalty Points Redeemed"),
    Case("tier_changed", _tier_changed, "Okendo Loyalty Tier Changed"),
    Case("adjustment", contract.adjustment, "Okendo Loyalty Points Adjusted"),
    Case("survey", contract.survey, "Submitted Okendo Survey", extras={"How did you hear about us?": "Instagram"}),
    Case("survey_coupon", lambda: contract.survey(rewardType="coupon", reward={"coupon": COUPON}),
         "Submitted Okendo Survey", condition='rewardType is "coupon"',
         extras={"How did you hear about us?": "Instagram"}),
    Case("survey_loyalty", lambda: contract.survey(rewardType="loyalty", reward={
        "loyaltyEvents": "survey_completed", "loyaltyPoints": 50, "loyaltyProvider": "okendo"}),
        "Submitted Okendo Survey", condition='rewardType is "loyalty"',
        extras={"How did you hear about us?": "Instagram"}),
]


def test_seed_lists_are_complete() -> None:
    assert len(SEED_PROFILE_PROPERTIES) == len(set(SEED_PROFILE_PROPERTIES)) == 22
    assert len(SEED_EVENT_TABLES) == 20 and len(SEED_EVENTS) == 19
    for name, props_ in SEED_EVENT_TABLES:
        assert len(props_) == len(set(props_)), name
    assert set(SEED_REVIEW_IF_PRESENT) <= table("Review Created")


def test_every_seed_table_has_a_case_or_no_public_source() -> None:
    tables = {(name, sum(1 for n, _ in SEED_EVENT_TABLES[:i] if n == name)) for i, (name, _) in
              enumerate(SEED_EVENT_TABLES)}
    assert {(c.event, c.nth) for c in CASES} == {(n, i) for n, i in tables if n not in NO_PUBLIC_SOURCE}
    conditions = {(c.event, c.condition) for c in CASES if c.condition}
    assert conditions == {k for k in SEED_CONDITIONAL_TABLES if k[0] not in NO_PUBLIC_SOURCE}
    for event, unpublished in UNPUBLISHED.items():
        assert unpublished <= table(event), event  # only seed names are declared unpublished


def test_events_with_no_public_source_are_listed_and_never_fire() -> None:
    assert NO_PUBLIC_SOURCE == {"Review Request Created", "Review Request Cancelled",
                                "Okendo Loyalty Tier Upgrade Nudge", "Update Customer Profile"}
    streams = {r.name for r in RESOURCES if r.provider == "okendo"}
    for rule in EVENT_RULES:
        if rule.provider == "okendo" and rule.event in NO_PUBLIC_SOURCE:
            assert rule.stream not in streams and "No public source" in rule.doc
    for invented in ("review_request", "loyalty_tier_upgrade_nudge", "customer"):
        pipe = Pipe()
        assert pipe.intake.process(json.dumps(contract.envelope(invented, "create", {"id": "x"}))) == "quarantined"
        assert f"unknown resourceType {invented!r}" in pipe.reasons()[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_delivery_yields_the_seed_event_with_the_seed_properties(case: Case) -> None:
    items = case.items()
    event = events(items)[case.event]
    assert not set(case.extras) & case.expected(), "an extra must not shadow a table property"
    sent = {k for k, v in event.properties.items() if v is not None}
    # exactly the seed table (less what Okendo does not publish, plus announced extras) reaches the platform
    assert sent == case.expected() | set(case.extras)
    for name, value in case.extras.items():
        assert event.properties[name] == value
    # seed 001 is the Postscript guide
    assert goes_to(event, "postscript")
    assert all(goes_to(item, "postscript") or item.platforms == ("attentive",) for item in items)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_delivery_yields_no_other_event(case: Case) -> None:
    assert list(events(case.items())) == [case.event]


def test_referral_values() -> None:
    p = events(CASES[3].items())["Received Okendo Referral Coupon"].properties
    assert (p["Recipient Order ID"], p["Recipient Order Number"]) == ("5523190071357", "#10497")
    assert (p["Recipient Order Discount Amount"], p["Recipient Order Total Price"]) == (10, 62.5)
    assert (p["Coupon Code"], p["Customer Role"]) == ("REF-7QK2M", "recipient")


def test_points_spent_is_positive_and_awarded_reads_the_amount() -> None:
    assert events(Pipe().send(contract.redemption()))["Okendo Loyalty Points Redeemed"].properties["Points Spent"] == 500
    awarded = events(Pipe().send(contract.earning()))["Okendo Loyalty Points Awarded"].properties
    assert (awarded["Points Earned"], awarded["Action"], awarded["Description"]) == (
        200, "points-per-spend", "Placed an order")


def test_tier_change_needs_a_previous_version_and_never_guesses_an_upgrade() -> None:
    assert "Okendo Loyalty Tier Changed" not in events(Pipe().send(contract.loyalty_customer()))
    changed = events(_tier_changed())["Okendo Loyalty Tier Changed"].properties
    assert (changed["Old Tier"], changed["New Tier"]) == ("Bronze", "Silver")
    assert changed["Is Tier Upgrade"] is None  # Okendo publishes no tier rank
    pipe = Pipe()
    pipe.send(_seq(contract.loyalty_customer(vipTierName="Gold", vipTierRank=3), 1))
    down = pipe.send(_seq(contract.loyalty_customer(vipTierName="Silver", vipTierRank=2), 2))
    assert events(down)["Okendo Loyalty Tier Changed"].properties["Is Tier Upgrade"] is False


def test_unchanged_member_fires_nothing() -> None:
    pipe = Pipe()
    pipe.send(_seq(contract.loyalty_customer(), 1))
    assert events(pipe.send(_seq(contract.loyalty_customer(points={"balance": 5}), 2))) == {}


def test_the_22_profile_properties_come_from_published_sources() -> None:
    pipe = Pipe()
    got: dict[str, Any] = {}
    got |= props(pipe.send(contract.loyalty_customer(
        enrolledDate="2025-01-02T00:00:00.000Z", pointsExpiryDate="2026-01-02T00:00:00.000Z",
        vipTierExpiryDate="2026-01-31T00:00:00.000Z")))
    got |= props(pipe.pulled("customers", {"customerId": contract.UUID, "email": contract.EMAIL,
                                           "givenName": "Jane", "familyName": "Smith"}))  # GET /customers/{id}
    got |= props(pipe.send(contract.review()))
    got |= props(pipe.send(contract.survey()))
    got |= props(pipe.send(contract.referral("opted_in", "referrer", dateOptedIn=D,
                                              shareableLink="https://okendo.link/abc")))
    won = contract.referral("coupon_redeemed", "recipient", coupon={**COUPON, "dateRedeemed": D}, order=ORDER)
    won["resource"]["referralId"] = "ref-2"
    got |= props(pipe.send(won))  # the recipient redeemed: a success for the referrer
    assert set(got) == set(SEED_PROFILE_PROPERTIES)
    assert None not in got.values()
    assert (got["Okendo Given Name"], got["Okendo Family Name"]) == ("Jane", "Smith")
    assert (got["Okendo Latest NPS"], got["Okendo Latest NPS Category"], got["Okendo Number of Survey Responses"]) == (
        9, "promoter", 1)
    assert (got["Okendo Number of Successful Referrals"], got["Okendo Total Successful Referral Revenue"]) == (1, 62.5)
    assert got["Okendo Referral Shareable Link"] == "https://okendo.link/abc"


def test_loyalty_member_refreshes_the_seed_001_loyalty_properties_for_postscript() -> None:
    items = Pipe().send(contract.loyalty_customer(enrolledDate="2025-01-02T00:00:00.000Z",
                                                  pointsExpiryDate="2026-01-02T00:00:00.000Z",
                                                  vipTierExpiryDate="2026-01-31T00:00:00.000Z"))
    loyalty = {p for p in SEED_PROFILE_PROPERTIES if p.startswith("Okendo Loyalty ")}
    assert len(loyalty) == 7 and set(props(items)) == loyalty
    assert props(items)["Okendo Loyalty Program Status"] == "enrolled"


def test_multi_value_review_attribute_is_a_scalar_property() -> None:
    body = contract.review()
    body["resource"]["productAttributes"].append({"title": "Skin Concerns", "type": "multi-value",
                                                  "value": ["Dryness", "Redness"]})
    event: Event = events(Pipe().send(body))["Review Created"]
    assert event.properties["Skin Concerns"] == "Dryness, Redness"
