"""Okendo → Postscript (seed 001) and Okendo Loyalty → Attentive (seed 004).

Seed 001's events and 22 profile properties go to Postscript and, as no seed covers
Klaviyo, to Klaviyo too. Seed 004 gives Attentive the 5 loyalty events and 7 loyalty
properties; its spelling "Enrollment Date" differs from seed 001's "Enrolment Date", and
each platform gets its own seed's spelling. The loyalty events carry seed 001's property
tables everywhere (seed 004's descriptions list a subset of them). Records are webhook
resources (``pipeline/providers/schemas/okendo.py``); the envelope's topic is ``_topic``.
"""

from __future__ import annotations

from pipeline.transform.rules import Abs, Cond, Count, Each, EventRule, Field, ProfileRule, Test, YesNo

_PS = ("postscript", "klaviyo")  # seed 001 (Postscript); Klaviyo: no seed, same set
_AT = ("attentive",)  # seed 004
_ID = {"ActivityID": Field("activityId"), "Date": Field("dateCreated")}


def _event(stream: str, event: str, properties: dict, *, when: tuple[Cond, ...] = (), platforms=_PS,
           occurred_at: str = "dateCreated", per_version: bool = False, source: str = "001", doc: str = "",
           ) -> EventRule:
    return EventRule(provider="okendo", stream=stream, event=event, occurred_at=occurred_at, when=when,
                     properties=properties, platforms=platforms, per_version=per_version, source=source, doc=doc)


def _referral(activity: str, role: str | None = None) -> tuple[Cond, ...]:
    conds = (Cond("activityType", "eq", activity),)
    return conds + ((Cond("customerRole", "eq", role),) if role else ())


_REVIEW = {
    "Bought For": Field("boughtFor"), "Coupon Code": Field("reward.coupon.code"),
    "Coupon Description": Field("reward.coupon.description"), "Is Recommended": YesNo("isRecommended"),
    "Language Code": Field("languageCode"), "Loyalty Events": Field("reward.loyalty.events"),
    "Loyalty Points": Field("reward.loyalty.points"), "Loyalty Provider": Field("reward.loyalty.provider"),
    "Next-Day Delivery": YesNo("nextDayDelivery"), "Overall Sentiment": Field("sentiment"),
    "Photo Count": Count("media", "type", "image"), "Product Name": Field("productName"),
    "Product URL": Field("productUrl"), "Rating": Field("rating"), "Review Body": Field("body"),
    "Review Created Date": Field("dateCreated"), "Review Title": Field("title"),
    "Reviewer Country Code": Field("reviewerLocation.countryCode"),
    "Reviewer Display Name": Field("reviewer.displayName"), "Reviewer Full Name": Field("reviewer.name"),
    "Reviewer Zone Code": Field("reviewerLocation.zoneCode"), "Source": Field("source"),
    "VariantID": Field("variantId"), "Video Count": Count("media", "type", "video"),
    "Variant Name": Field("variantName"), "ProductID": Field("productId"), "SKU": Field("sku"),
    "Okendo Average Review Rating": Field("customerStats.averageRating"),
    "Okendo Has Submitted Media": YesNo("customerStats.hasSubmittedMedia"),
    "Okendo Latest Review Rating": Field("customerStats.latestRating"),
    "Okendo Number of Reviews": Field("customerStats.numberOfReviews"),
    "[Review Attribute]": Each("attributes", key="title", value="value"),
}
_NUDGE = {"Current Tier": Field("currentTier"), "Next Tier": Field("nextTier"),
          "Spend To Upgrade Tier": Field("spendToUpgradeTier")}
_SURVEY = {"Survey Name": Field("surveyName"), "Email Address": Field("customer.email"),
           "First Name": Field("customer.firstName"), "Last Name": Field("customer.lastName"),
           "[Survey Question]": Each("answers", key="question", value="answer")}
_ENROLLED = {"ActivityID": Field("activityId"), "Date": Field("dateUpdated"), "Description": Field("description"),
             "Action": Field("action")}
_LOYALTY_REWARD = {"Loyalty Events": Field("reward.loyalty.events"), "Loyalty Points": Field("reward.loyalty.points"),
                   "Loyalty Provider": Field("reward.loyalty.provider")}

EVENTS: tuple[EventRule, ...] = (
    _event("review", "Review Created", _REVIEW, when=(Cond("_topic", "eq", "create"),),
           doc="Review attributes are passed as extra properties, named by the attribute's title."),
    _event("review_request", "Review Request Created", {
        "Email Address": Field("customer.email"), "First Name": Field("customer.firstName"),
        "Last Name": Field("customer.lastName"), "Name": Field("product.name"), "Image Url": Field("product.imageUrl"),
        "Order Fulfilled Date": Field("order.fulfilledDate"), "Order Number": Field("order.orderNumber"),
        "Review Request Id": Field("reviewRequestId"), "Review Url": Field("reviewUrl"),
        "Variant Name": Field("product.variantName")}, when=(Cond("_topic", "eq", "create"),)),
    _event("review_request", "Review Request Cancelled", {"Review Request Id": Field("reviewRequestId")},
           when=(Cond("status", "eq", "cancelled"),), occurred_at="dateUpdated"),
    _event("quiz_response", "Submitted Okendo Quiz", {
        **_ID, "Quiz Name": Field("quizName"), "Quiz Response ID": Field("quizResponseId"),
        "Redirect URL": Field("redirectUrl"), "First Recommended Product ID": Field("recommendedProductIds.0")}),
    _event("survey_response", "Submitted Okendo Survey", _SURVEY, when=(Cond("rewardType", "is_null"),)),
    _event("survey_response", "Submitted Okendo Survey", {
        **_SURVEY, "Coupon Description": Field("reward.coupon.description"), "Coupon Code": Field("reward.coupon.code")},
        when=(Cond("rewardType", "eq", "coupon"),), doc="Variant: rewardType is coupon."),
    _event("survey_response", "Submitted Okendo Survey", {**_SURVEY, **_LOYALTY_REWARD},
           when=(Cond("rewardType", "eq", "loyalty"),), doc="Variant: rewardType is loyalty."),
    _event("referral", "Received Okendo Referral Coupon", {
        **_ID, "Date Received": Field("coupon.dateReceived"), "Customer Role": Field("customerRole"),
        "Coupon Code": Field("coupon.code"), "Coupon Description": Field("coupon.description"),
        "Coupon Expiry Date": Field("coupon.expiryDate"),
        "Recipient Order Discount Amount": Field("recipientOrder.discountAmount"),
        "Recipient Order ID": Field("recipientOrder.id"), "Recipient Order Number": Field("recipientOrder.number"),
        "Recipient Order Total Price": Field("recipientOrder.totalPrice")},
        when=_referral("coupon_received"), doc="The four Recipient Order properties are set once it is redeemed."),
    _event("referral", "Redeemed Okendo Referral Coupon", {
        **_ID, "Date Redeemed": Field("coupon.dateRedeemed"), "Customer Role": Field("customerRole"),
        "Locale": Field("locale"), "Order Discount Amount": Field("order.discountAmount"),
        "Order ID": Field("order.id"), "Order Number": Field("order.number"),
        "Order Total Price": Field("order.totalPrice")}, when=_referral("coupon_redeemed")),
    _event("referral", "Opted In to Okendo Referrals", {
        **_ID, "Date Opted-In": Field("dateOptedIn"), "Customer Role": Field("customerRole"),
        "Locale": Field("locale"), "Invitation Link": Field("invitationLink"),
        "Referrer Email": Field("referrer.email"), "Referrer Name": Field("referrer.name")},
        when=_referral("opted_in", "referrer"), doc="Variant: the referrer opted in."),
    _event("referral", "Okendo Referral Shareable Link Used", {
        **_ID, "Date Opted-In": Field("dateOptedIn"), "Customer Role": Field("customerRole"),
        "Recipient Email": Field("recipient.email"), "Recipient Full Name": Field("recipient.fullName"),
        "Verification URL": Field("verificationUrl"), "Locale": Field("locale")},
        when=_referral("shareable_link_used")),
    _event("referral", "Opted In to Okendo Referrals", {
        **_ID, "Date Opted-In": Field("dateOptedIn"), "Locale": Field("locale"),
        "Invitation Link": Field("invitationLink"), "Verification URL": Field("verificationUrl"),
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
        "Rejection Reason": Field("rejection.reason"), "Email": Field("email"), "Locale": Field("locale"),
        "Rejection Type": Field("rejection.type")}, when=_referral("rejected")),
    # Loyalty: seed 001's tables, to every platform (seed 004 names the same five events for Attentive).
    _event("loyalty_customer", "Enrolled in Okendo Loyalty", _ENROLLED, when=(Cond("previous", "not_null"),
           Cond("status", "changed")), occurred_at="dateUpdated", platforms=None, per_version=True,
           source="001, 004", doc="Whenever a known member's status changes."),
    _event("loyalty_customer", "Enrolled in Okendo Loyalty", _ENROLLED, when=(Cond("previous", "is_null"),
           Cond("status", "eq", "enrolled")), occurred_at="dateUpdated", platforms=None, per_version=True,
           source="001, 004", doc="A member first seen already enrolled (a first sight as pending sends nothing)."),
    _event("loyalty_earning_transaction", "Okendo Loyalty Points Awarded", {
        "ActivityID": Field("transactionId"), "Date": Field("dateCreated"), "Points Earned": Field("points"),
        "Description": Field("description"), "Action": Field("action")}, platforms=None, source="001, 004"),
    _event("loyalty_redemption_transaction", "Okendo Loyalty Points Redeemed", {
        "ActivityID": Field("transactionId"), "Date": Field("dateCreated"), "Points Spent": Abs("points"),
        "Description": Field("description"), "Coupon Code": Field("coupon.code"),
        "Coupon Description": Field("coupon.description")}, platforms=None, source="001, 004"),
    _event("loyalty_customer", "Okendo Loyalty Tier Changed", {
        "ActivityID": Field("activityId"), "Date": Field("dateUpdated"), "Old Tier": Field("previous.vipTierName"),
        "New Tier": Field("vipTierName"), "Earning Period End": Field("vipTierExpiryDate"),
        "Is Tier Upgrade": Test(Cond("vipTierRank", "gt_field", "previous.vipTierRank"))},
        when=(Cond("previous", "not_null"), Cond("vipTierName", "changed")), occurred_at="dateUpdated",
        platforms=None, per_version=True, source="001, 004", doc="A known member whose VIP tier changed."),
    _event("loyalty_adjustment_transaction", "Okendo Loyalty Points Adjusted", {
        "ActivityID": Field("transactionId"), "Date": Field("dateCreated"), "Adjusted Amount": Field("points"),
        "Adjusted Description": Field("notificationText")}, platforms=None, source="001, 004",
        doc="The merchant's internal reason is not forwarded; the customer-facing notification text is."),
    _event("loyalty_tier_upgrade_nudge", "Okendo Loyalty Tier Upgrade Nudge",
           {**_NUDGE, "All Time Spend": Field("allTimeSpend")}, when=(Cond("eligibilityPeriod", "eq", "lifetime"),),
           doc="Variant: the eligibility period is lifetime."),
    _event("loyalty_tier_upgrade_nudge", "Okendo Loyalty Tier Upgrade Nudge", {
        **_NUDGE, "Spent Within Tier Upgrade Window": Field("spentWithinWindow"),
        "Tier Upgrade Window End Date": Field("windowEndDate")}, when=(Cond("eligibilityPeriod", "eq", "window"),),
        doc="Variant: the eligibility period is a time window."),
    _event("customer", "Update Customer Profile", {}, occurred_at="dateUpdated", per_version=True,
           doc="No properties are sent with this event."),
)

_L = "loyalty."
PROFILES: tuple[ProfileRule, ...] = (
    ProfileRule(provider="okendo", stream="customer", name="okendo.customer", platforms=_PS, source="001", properties={
        "Okendo Given Name": Field("givenName"), "Okendo Family Name": Field("familyName"),
        "Okendo Average Review Rating": Field("reviewStats.averageRating"),
        "Okendo Average Review Sentiment": Field("reviewStats.averageSentiment"),
        "Okendo Latest Review Rating": Field("reviewStats.latestRating"),
        "Okendo Latest Review Sentiment": Field("reviewStats.latestSentiment"),
        "Okendo Latest NPS Category": Field("nps.latestCategory"), "Okendo Latest NPS Date": Field("nps.latestDate"),
        "Okendo Latest NPS": Field("nps.latestScore"), "Okendo Number of Reviews": Field("reviewStats.count"),
        "Okendo Number of Survey Responses": Field("surveyResponseCount"),
        "Okendo Referral Shareable Link": Field("referrals.shareableLink"),
        "Okendo Number of Successful Referrals": Field("referrals.successfulCount"),
        "Okendo Latest Successful Referral Date": Field("referrals.latestSuccessfulDate"),
        "Okendo Total Successful Referral Revenue": Field("referrals.totalRevenue"),
        "Okendo Loyalty Enrolment Date": Field(_L + "enrolledDate"),
        "Okendo Loyalty Next Birthday Date": Field(_L + "nextBirthdayDate"),
        "Okendo Loyalty Points Balance": Field(_L + "pointsBalance"),
        "Okendo Loyalty Points Expiry Date": Field(_L + "pointsExpiryDate"),
        "Okendo Loyalty Program Status": Field(_L + "status"),
        "Okendo Loyalty VIP Tier": Field(_L + "vipTierName"),
        "Okendo Loyalty VIP Tier Expiry Date": Field(_L + "vipTierExpiryDate"),
    }, doc="The 22 customer profile properties of seed 001."),
    ProfileRule(provider="okendo", stream="loyalty_customer", name="okendo.loyalty.001", platforms=_PS, source="001",
                properties={
        "Okendo Loyalty VIP Tier": Field("vipTierName"), "Okendo Loyalty Program Status": Field("status"),
        "Okendo Loyalty Enrolment Date": Field("enrolledDate"), "Okendo Loyalty Points Balance": Field("points.balance"),
        "Okendo Loyalty Next Birthday Date": Field("nextBirthdayDate"),
        "Okendo Loyalty Points Expiry Date": Field("pointsExpiryDate"),
        "Okendo Loyalty VIP Tier Expiry Date": Field("vipTierExpiryDate"),
    }, doc="Loyalty properties refreshed by every loyalty member webhook (seed 001 spelling)."),
    ProfileRule(provider="okendo", stream="loyalty_customer", name="okendo.loyalty.004", platforms=_AT, source="004",
                properties={
        "Okendo Loyalty Program Status": Field("status"), "Okendo Loyalty Enrollment Date": Field("enrolledDate"),
        "Okendo Loyalty Points Balance": Field("points.balance"),
        "Okendo Loyalty Next Birthday Date": Field("nextBirthdayDate"),
        "Okendo Loyalty Points Expiry Date": Field("pointsExpiryDate"),
        "Okendo Loyalty VIP Tier Expiry Date": Field("vipTierExpiryDate"),
    }, doc="Seed 004 spelling (Enrollment)."),
    ProfileRule(provider="okendo", stream="loyalty_customer", name="okendo.loyalty.004.tier", platforms=_AT,
                source="004", properties={"Okendo Loyalty VIP Tier": Field("vipTierName")},
                when=(Cond("status", "eq", "enrolled"),),
                doc="Seed 004: the VIP tier syncs only while the member is enrolled."),
)
