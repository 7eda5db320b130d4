"""Seed 001 (Okendo → Postscript): 22 customer profile properties and the event tables.

Every list below is copied from the seed text (table by table, in the seed's order), not
from the catalog. Each table is checked against a realistic webhook delivery
(``tests/fixtures/okendo``): the delivery must yield the event with exactly the seed's
name, and the properties a platform receives (encoders drop ``None``) must be exactly the
seed table's, plus the extras the seed announces (review attributes, survey questions).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pipeline.types import goes_to
from tests.transform.seed_support import (
    event_names, mapped, mapped_body, profile_properties, profiles, raw, sent, snapshot, the_event,
)

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


@dataclass(frozen=True)
class Case:
    fixture: str
    event: str
    nth: int = 0
    condition: str | None = None  # a SEED_CONDITIONAL_TABLES condition that holds for the fixture
    unsent: frozenset[str] = frozenset()  # conditional/"if present" properties the fixture rightly lacks
    extras: str | None = None  # "attributes" (review) or "answers" (survey): one property per entry
    previous: str | None = None  # fixture whose snapshot is the record's previous version

    @property
    def id(self) -> str:
        return self.fixture

    def expected(self) -> set[str]:
        names = table(self.event, self.nth)
        if self.condition:
            names |= set(SEED_CONDITIONAL_TABLES[self.event, self.condition])
        return names - self.unsent


_REDEEMED = SEED_CONDITIONAL_TABLES["Received Okendo Referral Coupon", "the coupon is redeemed"]
CASES = [
    Case("review_created", "Review Created", extras="attributes",
         unsent=frozenset({"Loyalty Events", "Loyalty Points", "Loyalty Provider"})),
    Case("review_created_loyalty_reward", "Review Created", extras="attributes",
         unsent=frozenset({"Coupon Code", "Coupon Description"})),
    Case("review_request_created", "Review Request Created"),
    Case("quiz_response_submitted", "Submitted Okendo Quiz"),
    Case("referral_coupon_received", "Received Okendo Referral Coupon", unsent=frozenset(_REDEEMED)),
    Case("referral_coupon_received_redeemed", "Received Okendo Referral Coupon",
         condition="the coupon is redeemed"),
    Case("referral_coupon_redeemed", "Redeemed Okendo Referral Coupon"),
    Case("referral_opted_in_referrer", "Opted In to Okendo Referrals", nth=0),
    Case("referral_shareable_link_used", "Okendo Referral Shareable Link Used"),
    Case("referral_opted_in_recipient", "Opted In to Okendo Referrals", nth=1),
    Case("referral_invitation_sent", "Sent Okendo Referral"),
    Case("referral_invitation_received", "Okendo Referral Invitation"),
    Case("referral_rejected", "Okendo Referral Rejected"),
    Case("loyalty_customer_enrolled", "Enrolled in Okendo Loyalty", previous="loyalty_customer_pending"),
    Case("loyalty_earning_transaction", "Okendo Loyalty Points Awarded"),
    Case("loyalty_redemption_transaction", "Okendo Loyalty Points Redeemed"),
    Case("loyalty_customer_tier_changed", "Okendo Loyalty Tier Changed", previous="loyalty_customer_enrolled"),
    Case("loyalty_adjustment_transaction", "Okendo Loyalty Points Adjusted"),
    Case("loyalty_tier_upgrade_nudge_lifetime", "Okendo Loyalty Tier Upgrade Nudge",
         condition="eligibility period is 'lifetime'"),
    Case("loyalty_tier_upgrade_nudge_window", "Okendo Loyalty Tier Upgrade Nudge",
         condition="eligibility period is a specific time window"),
    Case("survey_response_submitted", "Submitted Okendo Survey", extras="answers"),
    Case("survey_response_coupon_reward", "Submitted Okendo Survey", extras="answers",
         condition='rewardType is "coupon"'),
    Case("survey_response_loyalty_reward", "Submitted Okendo Survey", extras="answers",
         condition='rewardType is "loyalty"'),
    Case("review_request_cancelled", "Review Request Cancelled"),
    Case("customer_updated", "Update Customer Profile"),
]


def _items(case: Case) -> list:
    previous = snapshot("okendo", case.previous) if case.previous else None
    return mapped("okendo", case.fixture, previous=previous)


def _extras(case: Case) -> dict[str, object]:
    resource = raw("okendo", case.fixture)["resource"]
    if case.extras == "attributes":
        return {a["title"]: a["value"] for a in resource["attributes"]}
    if case.extras == "answers":
        return {a["question"]: a["answer"] for a in resource["answers"]}
    return {}


def test_seed_lists_are_complete() -> None:
    assert len(SEED_PROFILE_PROPERTIES) == len(set(SEED_PROFILE_PROPERTIES)) == 22
    assert len(SEED_EVENT_TABLES) == 20 and len(SEED_EVENTS) == 19
    for name, props in SEED_EVENT_TABLES:
        assert len(props) == len(set(props)), name
    assert set(SEED_REVIEW_IF_PRESENT) <= table("Review Created")


def test_every_seed_table_and_condition_has_a_case() -> None:
    assert {(c.event, c.nth) for c in CASES} == {
        (name, sum(1 for n, _ in SEED_EVENT_TABLES[:i] if n == name)) for i, (name, _) in enumerate(SEED_EVENT_TABLES)}
    assert {(c.event, c.condition) for c in CASES if c.condition} == set(SEED_CONDITIONAL_TABLES)
    for case in CASES:
        if case.event == "Review Created":
            assert case.unsent <= set(SEED_REVIEW_IF_PRESENT)
        elif case.unsent:
            assert any(case.unsent <= set(v) for (e, _), v in SEED_CONDITIONAL_TABLES.items() if e == case.event)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_delivery_yields_the_seed_event_with_the_seed_properties(case: Case) -> None:
    items = _items(case)
    event = the_event(items, case.event)
    extras = _extras(case)
    assert not set(extras) & case.expected(), "an extra must not shadow a table property"

    # exactly the seed table (plus announced extras) reaches the platform ...
    assert sent(event.properties) == case.expected() | set(extras)
    # ... and what is left out is only what the seed makes conditional
    assert set(event.properties) - sent(event.properties) == set(case.unsent)
    for name, value in extras.items():
        assert event.properties[name] == value

    # seed 001 is the Postscript guide: what it describes goes to Postscript (a loyalty member
    # record also yields seed 004's Attentive-only properties, checked in test_seed_004)
    assert goes_to(event, "postscript")
    assert all(goes_to(item, "postscript") or item.platforms == ("attentive",) for item in items)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_delivery_yields_no_other_event(case: Case) -> None:
    assert event_names(_items(case)) == [case.event]


def test_review_values() -> None:
    event = the_event(mapped("okendo", "review_created"), "Review Created")
    p = event.properties
    assert (p["Photo Count"], p["Video Count"]) == (2, 1)
    assert (p["Is Recommended"], p["Next-Day Delivery"], p["Okendo Has Submitted Media"]) == ("Yes", "No", "Yes")
    assert p["Rating"] == 5 and p["Reviewer Full Name"] == "Maya Fernandes" and p["Reviewer Display Name"] == "Maya F."
    assert (p["Reviewer Country Code"], p["Reviewer Zone Code"]) == ("US", "CA")
    assert p["Coupon Code"] == "THANKYOU-7QK2M"
    assert event.customer.email == "maya.fernandes@example.test"
    loyalty = the_event(mapped("okendo", "review_created_loyalty_reward"), "Review Created").properties
    assert (loyalty["Loyalty Points"], loyalty["Loyalty Provider"]) == (150, "okendo")


def test_review_update_delivery_is_not_a_new_review() -> None:
    body = raw("okendo", "review_created")
    body["topic"] = "update"
    assert event_names(mapped_body("okendo", body)) == []


def test_received_coupon_redeemed_values() -> None:
    p = the_event(mapped("okendo", "referral_coupon_received_redeemed"), "Received Okendo Referral Coupon").properties
    assert (p["Recipient Order ID"], p["Recipient Order Number"]) == ("shopify-5523190071357", "#10497")
    assert (p["Recipient Order Discount Amount"], p["Recipient Order Total Price"]) == (10.0, 62.5)


def test_points_spent_is_positive() -> None:
    p = the_event(mapped("okendo", "loyalty_redemption_transaction"), "Okendo Loyalty Points Redeemed").properties
    assert p["Points Spent"] == 500


def test_tier_changed_needs_a_previous_snapshot() -> None:
    assert "Okendo Loyalty Tier Changed" not in event_names(mapped("okendo", "loyalty_customer_tier_changed"))


def test_tier_change_upgrade_and_downgrade() -> None:
    up = the_event(mapped("okendo", "loyalty_customer_tier_changed",
                          previous=snapshot("okendo", "loyalty_customer_enrolled")), "Okendo Loyalty Tier Changed")
    assert (up.properties["Old Tier"], up.properties["New Tier"]) == ("Bronze", "Silver")
    assert up.properties["Is Tier Upgrade"] is True

    gold = {"status": "enrolled", "vipTierName": "Gold", "vipTierRank": 3}
    down = the_event(mapped("okendo", "loyalty_customer_tier_changed", previous=gold), "Okendo Loyalty Tier Changed")
    assert (down.properties["Old Tier"], down.properties["New Tier"]) == ("Gold", "Silver")
    assert down.properties["Is Tier Upgrade"] is False


def test_unchanged_member_fires_nothing() -> None:
    same = snapshot("okendo", "loyalty_customer_tier_changed")
    assert event_names(mapped("okendo", "loyalty_customer_tier_changed", previous=same)) == []


def test_customer_record_sets_the_22_profile_properties_for_postscript() -> None:
    items = mapped("okendo", "customer_updated")
    props = profile_properties(items, "postscript")
    assert set(props) == set(SEED_PROFILE_PROPERTIES)
    assert None not in props.values()
    assert all(goes_to(u, "postscript") for u in profiles(items))
    assert "Okendo Loyalty Enrolment Date" not in profile_properties(items, "attentive")


def test_loyalty_member_refreshes_the_seed_001_loyalty_properties_for_postscript() -> None:
    items = mapped("okendo", "loyalty_customer_enrolled", previous=snapshot("okendo", "loyalty_customer_pending"))
    props = profile_properties(items, "postscript")
    loyalty = {p for p in SEED_PROFILE_PROPERTIES if p.startswith("Okendo Loyalty ")}
    assert len(loyalty) == 7
    assert set(props) == loyalty
    assert props["Okendo Loyalty Points Balance"] == 200
    assert props["Okendo Loyalty Program Status"] == "enrolled"


def test_multi_value_review_attribute_is_a_scalar_property() -> None:
    body = raw("okendo", "review_created")
    body["resource"]["attributes"].append(
        {"title": "Skin Concerns", "type": "multi-value", "value": ["Dryness", "Redness"]})
    event = the_event(mapped_body("okendo", body), "Review Created")
    assert isinstance(event.properties["Skin Concerns"], str | int | float | bool)

