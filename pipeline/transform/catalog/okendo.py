"""Okendo → Postscript (seed 001) and Okendo Loyalty → Attentive (seed 004).

Seed 001's events and 22 profile properties go to Postscript and, as no seed covers
Klaviyo, to Klaviyo too. Seed 004 gives Attentive the 5 loyalty events and 7 loyalty
properties; its spelling "Enrollment Date" differs from seed 001's "Enrolment Date", and
each platform gets its own seed's spelling. The loyalty events carry seed 001's property
tables everywhere (seed 004's descriptions list a subset of them).

Records are webhook resources in Okendo's documented shapes (``pipeline/providers/schemas/okendo.py``,
whose ``SHAPES`` says which are documented and which inferred); the envelope's topic is
``_topic``. A property whose source field Okendo does not publish reads a field that is
absent from real deliveries (so it is simply not sent) and is listed in ``UNPUBLISHED``.
The aggregates (``_stats`` and the ``*_stats`` streams) are computed by
``pipeline.transform.okendo_stats``; the REST ``customers`` stream is ``GET /customers/{id}``.

``NO_PUBLIC_SOURCE``: seed-001 events for which Okendo publishes neither a webhook topic nor
an endpoint, and which nothing published lets us derive faithfully. They stay in the catalog
(so the seed is complete and the gap is visible) on a stream no connector produces, so they
never fire:

- Review Request Created / Cancelled: review requests are Okendo's own e-mail sequence; no
  ``review_request`` resource type exists and a request is not derivable from orders we do not see.
- Okendo Loyalty Tier Upgrade Nudge: needs the member's spend towards the next tier's
  threshold; neither is in any published payload.
- Update Customer Profile: Okendo's own profile-change signal; a loyalty member update is a
  different thing, and sending it under this name would claim what we cannot know.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.transform.rules import Abs, Cond, Count, Each, EventRule, Expr, Field, Platforms, ProfileRule, YesNo

__all__ = ["EVENTS", "NO_PUBLIC_SOURCE", "PROFILES", "UNPUBLISHED"]

_PS = ("postscript", "klaviyo")  # seed 001 (Postscript); Klaviyo: no seed, same set
_AT = ("attentive",)  # seed 004

#: Seed-001 events with no public Okendo source (see the module docstring).
NO_PUBLIC_SOURCE = frozenset({"Review Request Created", "Review Request Cancelled",
                              "Okendo Loyalty Tier Upgrade Nudge", "Update Customer Profile"})
_NONE = "no_public_source"  # the stream of their rules: no connector produces it
_NPS_DOC = "No public source: Okendo publishes no webhook, endpoint or derivation for this event; never sent."


def _event(stream: str, event: str, properties: Mapping[str, Expr], *, when: tuple[Cond, ...] = (), platforms: Platforms = _PS,
           occurred_at: str = "dateCreated", per_version: bool = False, source: str = "001", doc: str = "",
           ) -> EventRule:
    return EventRule(provider="okendo", stream=stream, event=event, occurred_at=occurred_at, when=when,
                     properties=properties, platforms=platforms, per_version=per_version, source=source, doc=doc)


_LIVE = (Cond("_topic", "ne", "delete"),)  # a deleted resource is not a new event


def _referral(activity: str, role: str | None = None) -> tuple[Cond, ...]:
    conds = _LIVE + (Cond("activityType", "eq", activity),)
    return conds + ((Cond("customerRole", "eq", role),) if role else ())


_ID = {"ActivityID": Field("referralId"), "Date": Field("dateCreated")}
#: Event → its properties whose source field Okendo does not publish (never sent).
UNPUBLISHED: dict[str, frozenset[str]] = {
    "Review Created": frozenset({"Bought For", "Coupon Code", "Language Code", "Loyalty Events", "Loyalty Points",
                                 "Loyalty Provider", "Next-Day Delivery", "Product URL", "Source", "SKU"}),
    "Enrolled in Okendo Loyalty": frozenset({"ActivityID", "Description", "Action"}),
    "Okendo Loyalty Tier Changed": frozenset({"ActivityID", "Is Tier Upgrade"}),
    "Submitted Okendo Survey": frozenset({"First Name", "Last Name"}),  # customer{} carries email and id only
}

_REVIEW: dict[str, Expr] = {
    # review.create: webhook prefix + REST Review object (webhooks.md §6.5)
    "Bought For": Field("boughtFor"), "Coupon Code": Field("reward.code"),
    "Coupon Description": Field("reward.description"), "Is Recommended": YesNo("isRecommended"),
    "Language Code": Field("languageCode"), "Loyalty Events": Field("reward.loyaltyEvents"),
    "Loyalty Points": Field("reward.loyaltyPoints"), "Loyalty Provider": Field("reward.loyaltyProvider"),
    "Next-Day Delivery": YesNo("nextDayDelivery"), "Overall Sentiment": Field("sentiment"),
    "Photo Count": Count("media", "type", "image"), "Product Name": Field("productName"),
    "Product URL": Field("productUrl"), "Rating": Field("rating"), "Review Body": Field("body"),
    "Review Created Date": Field("dateCreated"), "Review Title": Field("title"),
    "Reviewer Country Code": Field("reviewer.location.country.code"),
    "Reviewer Display Name": Field("reviewer.displayName"), "Reviewer Full Name": Field("reviewer.name"),
    "Reviewer Zone Code": Field("reviewer.location.zoneCode"), "Source": Field("source"),
    "VariantID": Field("variantId"), "Video Count": Count("media", "type", "video"),
    "Variant Name": Field("variantName"), "ProductID": Field("productId"), "SKU": Field("sku"),
    "Okendo Average Review Rating": Field("_stats.averageRating"),
    "Okendo Has Submitted Media": YesNo("_stats.hasSubmittedMedia"),
    "Okendo Latest Review Rating": Field("_stats.latestRating"),
    "Okendo Number of Reviews": Field("_stats.count"),
    "[Review Attribute]": Each("productAttributes", key="title", value="value"),
    "[Rated Attribute]": Each("attributesWithRating", key="title", value="value"),
}
_SURVEY: dict[str, Expr] = {"Survey Name": Field("surveyName"), "Email Address": Field("customer.email"),
           "First Name": Field("customer.firstName"), "Last Name": Field("customer.lastName"),
           "[Survey Question]": Each("answers", key="question", value="answer")}
_ENROLLED = {"ActivityID": Field("activityId"), "Date": Field("_received_at"), "Description": Field("description"),
             "Action": Field("action")}
_TXN = {"ActivityID": Field("loyaltyTransactionId"), "Date": Field("date")}

EVENTS: tuple[EventRule, ...] = (
    _event("review", "Review Created", _REVIEW, when=(Cond("_topic", "eq", "create"),),
           doc="Review attributes (productAttributes, attributesWithRating) are passed as extra properties, "
               "named by their title; the Okendo ... properties are the reviewer's aggregate, this review included."),
    _event("quiz_response", "Submitted Okendo Quiz", {
        "ActivityID": Field("quizResponseId"), "Date": Field("dateCreated"), "Quiz Name": Field("quizName"),
        "Quiz Response ID": Field("quizResponseId"), "Redirect URL": Field("redirectUrl"),
        "First Recommended Product ID": Field("recommendedProductIds.0")}, when=(Cond("_topic", "eq", "create"),)),
    _event("survey_response", "Submitted Okendo Survey", _SURVEY,
           when=(Cond("_topic", "eq", "create"), Cond("rewardType", "is_null"))),
    _event("survey_response", "Submitted Okendo Survey", {
        **_SURVEY, "Coupon Description": Field("reward.coupon.description"), "Coupon Code": Field("reward.coupon.code")},
        when=(Cond("_topic", "eq", "create"), Cond("rewardType", "eq", "coupon")), doc="Variant: rewardType is coupon."),
    _event("survey_response", "Submitted Okendo Survey", {
        **_SURVEY, "Loyalty Events": Field("reward.loyaltyEvents"), "Loyalty Points": Field("reward.loyaltyPoints"),
        "Loyalty Provider": Field("reward.loyaltyProvider")},
        when=(Cond("_topic", "eq", "create"), Cond("rewardType", "eq", "loyalty")), doc="Variant: rewardType is loyalty."),
    _event("referral", "Received Okendo Referral Coupon", {
        **_ID, "Date Received": Field("coupon.dateReceived"), "Customer Role": Field("customerRole"),
        "Coupon Code": Field("coupon.code"), "Coupon Description": Field("coupon.description"),
        "Coupon Expiry Date": Field("coupon.expiryDate"),
        "Recipient Order Discount Amount": Field("recipientOrder.discountAmount"),
        "Recipient Order ID": Field("recipientOrder.orderId"),
        "Recipient Order Number": Field("recipientOrder.orderNumber"),
        "Recipient Order Total Price": Field("recipientOrder.totalPrice")},
        when=_referral("coupon_received"), doc="The four Recipient Order properties are set once it is redeemed."),
    _event("referral", "Redeemed Okendo Referral Coupon", {
        **_ID, "Date Redeemed": Field("coupon.dateRedeemed"), "Customer Role": Field("customerRole"),
        "Locale": Field("locale"), "Order Discount Amount": Field("order.discountAmount"),
        "Order ID": Field("order.orderId"), "Order Number": Field("order.orderNumber"),
        "Order Total Price": Field("order.totalPrice")}, when=_referral("coupon_redeemed")),
    _event("referral", "Opted In to Okendo Referrals", {
        **_ID, "Date Opted-In": Field("dateOptedIn"), "Customer Role": Field("customerRole"),
        "Locale": Field("locale"), "Invitation Link": Field("shareableLink"),
        "Referrer Email": Field("referrer.email"), "Referrer Name": Field("referrer.fullName")},
        when=_referral("opted_in", "referrer"), doc="Variant: the referrer opted in."),
    _event("referral", "Okendo Referral Shareable Link Used", {
        **_ID, "Date Opted-In": Field("dateOptedIn"), "Customer Role": Field("customerRole"),
        "Recipient Email": Field("recipient.email"), "Recipient Full Name": Field("recipient.fullName"),
        "Verification URL": Field("verificationUrl"), "Locale": Field("locale")},
        when=_referral("shareable_link_used")),
    _event("referral", "Opted In to Okendo Referrals", {
        **_ID, "Date Opted-In": Field("dateOptedIn"), "Locale": Field("locale"),
        "Invitation Link": Field("shareableLink"), "Verification URL": Field("verificationUrl"),
        "Recipient Email": Field("recipient.email"), "Recipient First Name": Field("recipient.firstName"),
        "Recipient Last Name": Field("recipient.lastName")},
        when=_referral("opted_in", "recipient"), doc="Variant: the recipient opted in."),
    _event("referral", "Sent Okendo Referral", {
        **_ID, "Date Sent": Field("dateSent"), "Customer Role": Field("customerRole"),
        "Invitation URL": Field("invitationUrl"), "Locale": Field("locale"),
        "Recipient Full Name": Field("recipient.fullName"), "Recipient Email": Field("recipient.email"),
        "Recipient First Name": Field("recipient.firstName"), "Recipient Last Name": Field("recipient.lastName")},
        when=_referral("invitation_sent")),
    _event("referral", "Okendo Referral Invitation", {
        **_ID, "Customer Role": Field("customerRole"), "Date Sent": Field("dateSent"), "Locale": Field("locale"),
        "Recipient Email": Field("recipient.email"), "Recipient First Name": Field("recipient.firstName"),
        "Recipient Last Name": Field("recipient.lastName"), "Referrer First Name": Field("referrer.firstName"),
        "Referrer Last Name": Field("referrer.lastName"), "Invitation URL": Field("invitationUrl")},
        when=_referral("invitation_received")),
    _event("referral", "Okendo Referral Rejected", {
        **_ID, "Customer Role": Field("customerRole"),
        "Should Notify Customer": Field("rejection.shouldNotifyCustomer"),
        "Rejection Reason": Field("rejection.reason"), "Email": Field("customer.email"), "Locale": Field("locale"),
        "Rejection Type": Field("rejection.type")}, when=_referral("rejected")),
    # Loyalty: seed 001's tables, to every platform (seed 004 names the same five events for Attentive).
    _event("loyalty_customer", "Enrolled in Okendo Loyalty", _ENROLLED, when=_LIVE + (
           Cond("previous", "not_null"), Cond("status", "not_null"), Cond("status", "changed")),
           occurred_at="_received_at", platforms=None, per_version=True, source="001, 004",
           doc="Whenever a known member's status changes."),
    _event("loyalty_customer", "Enrolled in Okendo Loyalty", _ENROLLED, when=_LIVE + (
           Cond("previous", "is_null"), Cond("status", "eq", "enrolled")), occurred_at="_received_at",
           platforms=None, per_version=True, source="001, 004",
           doc="A member first seen already enrolled (a first sight as pending sends nothing)."),
    _event("loyalty_earning_transaction", "Okendo Loyalty Points Awarded", {
        **_TXN, "Points Earned": Field("amount"), "Description": Field("notificationText"),
        "Action": Field("action")}, when=_LIVE, occurred_at="date", platforms=None, source="001, 004",
        doc="Shape inferred from the adjustment transaction's."),
    _event("loyalty_redemption_transaction", "Okendo Loyalty Points Redeemed", {
        **_TXN, "Points Spent": Abs("amount"), "Description": Field("notificationText"),
        "Coupon Code": Field("coupon.code"), "Coupon Description": Field("coupon.description")},
        when=_LIVE, occurred_at="date", platforms=None, source="001, 004",
        doc="Shape inferred from the adjustment transaction's."),
    _event("loyalty_customer", "Okendo Loyalty Tier Changed", {
        "ActivityID": Field("activityId"), "Date": Field("_received_at"), "Old Tier": Field("previous.vipTierName"),
        "New Tier": Field("vipTierName"), "Earning Period End": Field("vipTierExpiryDate"),
        "Is Tier Upgrade": Field("_tierUpgrade")},
        when=_LIVE + (Cond("previous", "not_null"), Cond("vipTierName", "not_null"), Cond("vipTierName", "changed")),
        occurred_at="_received_at", platforms=None, per_version=True, source="001, 004",
        doc="A known member whose VIP tier changed. Is Tier Upgrade needs a tier rank, which Okendo does not publish."),
    _event("loyalty_adjustment_transaction", "Okendo Loyalty Points Adjusted", {
        **_TXN, "Adjusted Amount": Field("amount"), "Adjusted Description": Field("notificationText")},
        when=_LIVE, occurred_at="date", platforms=None, source="001, 004",
        doc="The merchant's internal reason is not forwarded; the customer-facing notification text is."),
    # No public source (NO_PUBLIC_SOURCE): listed, never fired.
    _event(_NONE, "Review Request Created", {
        "Email Address": Field("-"), "First Name": Field("-"), "Last Name": Field("-"), "Name": Field("-"),
        "Image Url": Field("-"), "Order Fulfilled Date": Field("-"), "Order Number": Field("-"),
        "Review Request Id": Field("-"), "Review Url": Field("-"), "Variant Name": Field("-")}, doc=_NPS_DOC),
    _event(_NONE, "Review Request Cancelled", {"Review Request Id": Field("-")}, doc=_NPS_DOC),
    _event(_NONE, "Okendo Loyalty Tier Upgrade Nudge", {
        "Current Tier": Field("-"), "Next Tier": Field("-"), "Spend To Upgrade Tier": Field("-"),
        "All Time Spend": Field("-"), "Spent Within Tier Upgrade Window": Field("-"),
        "Tier Upgrade Window End Date": Field("-")}, doc=_NPS_DOC),
    _event(_NONE, "Update Customer Profile", {}, doc=_NPS_DOC),
)

_L001 = {
    "Okendo Loyalty VIP Tier": Field("vipTierName"), "Okendo Loyalty Program Status": Field("status"),
    "Okendo Loyalty Enrolment Date": Field("enrolledDate"), "Okendo Loyalty Points Balance": Field("points.balance"),
    "Okendo Loyalty Next Birthday Date": Field("_nextBirthday"),
    "Okendo Loyalty Points Expiry Date": Field("pointsExpiryDate"),
    "Okendo Loyalty VIP Tier Expiry Date": Field("vipTierExpiryDate"),
}
_LIVE_MEMBER = (Cond("_topic", "ne", "delete"),)
PROFILES: tuple[ProfileRule, ...] = (
    ProfileRule(provider="okendo", stream="customers", name="okendo.customer", platforms=_PS, source="001",
                properties={"Okendo Given Name": Field("givenName"), "Okendo Family Name": Field("familyName")},
                doc="GET /customers/{customerId}, for customers the loyalty webhooks name."),
    ProfileRule(provider="okendo", stream="review_stats", name="okendo.reviews", platforms=_PS, source="001",
                properties={
        "Okendo Number of Reviews": Field("count"), "Okendo Average Review Rating": Field("averageRating"),
        "Okendo Average Review Sentiment": Field("averageSentiment"),
        "Okendo Latest Review Rating": Field("latestRating"),
        "Okendo Latest Review Sentiment": Field("latestSentiment")},
                doc="Computed per reviewer from review webhooks (create, update, delete) and the GET /reviews backfill."),
    ProfileRule(provider="okendo", stream="survey_stats", name="okendo.surveys", platforms=_PS, source="001",
                properties={
        "Okendo Number of Survey Responses": Field("count"), "Okendo Latest NPS": Field("latestNps"),
        "Okendo Latest NPS Category": Field("latestNpsCategory"), "Okendo Latest NPS Date": Field("latestNpsDate")},
                doc="Computed per respondent from survey_response webhooks (shape inferred)."),
    ProfileRule(provider="okendo", stream="referral_stats", name="okendo.referrals", platforms=_PS, source="001",
                properties={
        "Okendo Referral Shareable Link": Field("shareableLink"),
        "Okendo Number of Successful Referrals": Field("successfulCount"),
        "Okendo Latest Successful Referral Date": Field("latestSuccessfulDate"),
        "Okendo Total Successful Referral Revenue": Field("totalRevenue")},
                doc="Computed per referrer from referral webhooks (shape inferred)."),
    ProfileRule(provider="okendo", stream="loyalty_customer", name="okendo.loyalty.001", platforms=_PS, source="001",
                properties=_L001, when=_LIVE_MEMBER,
                doc="Loyalty properties refreshed by every loyalty member webhook and GET /loyalty/customers "
                    "(seed 001 spelling); the next birthday is computed from birthday{day, month}."),
    ProfileRule(provider="okendo", stream="loyalty_customer", name="okendo.loyalty.004", platforms=_AT, source="004",
                properties={k.replace("Enrolment", "Enrollment"): v for k, v in _L001.items()
                            if k != "Okendo Loyalty VIP Tier"}, when=_LIVE_MEMBER,
                doc="Seed 004 spelling (Enrollment)."),
    ProfileRule(provider="okendo", stream="loyalty_customer", name="okendo.loyalty.004.tier", platforms=_AT,
                source="004", properties={"Okendo Loyalty VIP Tier": Field("vipTierName")},
                when=_LIVE_MEMBER + (Cond("status", "eq", "enrolled"),),
                doc="Seed 004: the VIP tier syncs only while the member is enrolled."),
)
