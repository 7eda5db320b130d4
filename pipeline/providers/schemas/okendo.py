"""Okendo webhook deliveries: the envelope and each resource type it carries.

The envelope ``{resource, resourceType, sequenceNumber, topic, version}`` and the resource
types ``review`` and ``loyalty_*`` come from Okendo's webhook docs (research/providers.md §2).
Okendo publishes no schema for the resources themselves: the shapes below follow its REST
API's camelCase style and carry every field the Postscript and Attentive integration guides
(seeds 001 and 004) say is sent. ``review_request``, ``customer`` and
``loyalty_tier_upgrade_nudge`` are resource types we assume for the events those guides
describe; confirm them against a real delivery.
"""

from __future__ import annotations

from marshmallow import fields, validate

from pipeline.providers.schemas.common import Id, Lenient, Timestamp

__all__ = ["ENVELOPE", "RESOURCE_SCHEMAS"]

_Str = lambda: fields.String(load_default=None, allow_none=True)  # noqa: E731
_Num = lambda: fields.Float(load_default=None, allow_none=True)  # noqa: E731
_Int = lambda: fields.Integer(load_default=None, allow_none=True)  # noqa: E731
_Bool = lambda: fields.Boolean(load_default=None, allow_none=True)  # noqa: E731
_Date = lambda: Timestamp(load_default=None, allow_none=True)  # noqa: E731
_Raw = lambda: fields.Raw(load_default=None, allow_none=True)  # noqa: E731


class EnvelopeSchema(Lenient):
    resource = fields.Dict(required=True)
    resourceType = fields.String(required=True)
    sequenceNumber = fields.Integer(required=True, strict=True)
    topic = fields.String(required=True, validate=validate.OneOf(["create", "update", "delete"]))
    version = fields.String(load_default=None, allow_none=True)


class _Person(Lenient):
    email = _Str()
    firstName = _Str()
    lastName = _Str()
    fullName = _Str()
    name = _Str()
    displayName = _Str()


class _Coupon(Lenient):
    code = _Str()
    description = _Str()
    expiryDate = _Date()
    dateReceived = _Date()
    dateRedeemed = _Date()


class _LoyaltyReward(Lenient):
    events = _Raw()
    points = _Num()
    provider = _Str()


class _Reward(Lenient):
    coupon = fields.Nested(_Coupon, load_default=None, allow_none=True)
    loyalty = fields.Nested(_LoyaltyReward, load_default=None, allow_none=True)


class _Order(Lenient):
    id = Id(load_default=None, allow_none=True)
    number = _Str()
    discountAmount = _Num()
    totalPrice = _Num()


class ReviewSchema(Lenient):
    reviewId = Id(required=True)
    dateCreated = Timestamp(required=True)
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(1, 5))
    title, body, productId, productName, productUrl = _Str(), _Str(), _Str(), _Str(), _Str()
    variantId, variantName, sku, languageCode, sentiment = _Str(), _Str(), _Str(), _Str(), _Str()
    boughtFor, source = _Str(), _Str()
    isRecommended, nextDayDelivery = _Bool(), _Bool()
    media = fields.List(fields.Dict(), load_default=list)
    attributes = fields.List(fields.Dict(), load_default=list)
    reviewer = fields.Nested(_Person, load_default=None, allow_none=True)
    reviewerLocation = fields.Dict(load_default=None, allow_none=True)
    reward = fields.Nested(_Reward, load_default=None, allow_none=True)
    customerStats = fields.Dict(load_default=None, allow_none=True)


class ReviewRequestSchema(Lenient):
    reviewRequestId = Id(required=True)
    dateCreated = Timestamp(required=True)
    dateUpdated = _Date()
    status = _Str()
    reviewUrl = _Str()
    customer = fields.Nested(_Person, load_default=None, allow_none=True)
    product = fields.Dict(load_default=None, allow_none=True)
    order = fields.Dict(load_default=None, allow_none=True)


class QuizResponseSchema(Lenient):
    quizResponseId = Id(required=True)
    dateCreated = Timestamp(required=True)
    activityId, quizName, redirectUrl = _Str(), _Str(), _Str()
    recommendedProductIds = fields.List(fields.Raw(), load_default=list)
    customer = fields.Nested(_Person, load_default=None, allow_none=True)


class SurveyResponseSchema(Lenient):
    surveyResponseId = Id(required=True)
    dateCreated = Timestamp(required=True)
    surveyName = _Str()
    rewardType = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["coupon", "loyalty"]))
    answers = fields.List(fields.Dict(), load_default=list)
    reward = fields.Nested(_Reward, load_default=None, allow_none=True)
    customer = fields.Nested(_Person, load_default=None, allow_none=True)


REFERRAL_ACTIVITIES = ("coupon_received", "coupon_redeemed", "opted_in", "shareable_link_used",
                       "invitation_sent", "invitation_received", "rejected")


class ReferralSchema(Lenient):
    activityId = Id(required=True)
    activityType = fields.String(required=True, validate=validate.OneOf(REFERRAL_ACTIVITIES))
    dateCreated = Timestamp(required=True)
    customerRole = fields.String(load_default=None, allow_none=True,
                                 validate=validate.OneOf(["referrer", "recipient"]))
    email, locale, invitationUrl, invitationLink, verificationUrl = _Str(), _Str(), _Str(), _Str(), _Str()
    dateOptedIn, dateSent = _Date(), _Date()
    coupon = fields.Nested(_Coupon, load_default=None, allow_none=True)
    order = fields.Nested(_Order, load_default=None, allow_none=True)
    recipientOrder = fields.Nested(_Order, load_default=None, allow_none=True)
    referrer = fields.Nested(_Person, load_default=None, allow_none=True)
    recipient = fields.Nested(_Person, load_default=None, allow_none=True)
    rejection = fields.Dict(load_default=None, allow_none=True)


class LoyaltyCustomerSchema(Lenient):
    loyaltyCustomerId = Id(required=True)
    dateUpdated = Timestamp(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["enrolled", "pending", "blocked"]))
    customerId, email, vipTierName, activityId, description, action = _Str(), _Str(), _Str(), _Str(), _Str(), _Str()
    vipTierRank = _Int()
    points = fields.Dict(load_default=None, allow_none=True)
    vipTierExpiryDate, enrolledDate, pointsExpiryDate, nextBirthdayDate = _Date(), _Date(), _Date(), _Date()


class _LoyaltyTransaction(Lenient):
    transactionId = Id(required=True)
    dateCreated = Timestamp(required=True)
    points = fields.Integer(required=True, strict=True)
    customerId, email, description, status = _Str(), _Str(), _Str(), _Str()


class EarningTransactionSchema(_LoyaltyTransaction):
    action = _Str()


class RedemptionTransactionSchema(_LoyaltyTransaction):
    coupon = fields.Nested(_Coupon, load_default=None, allow_none=True)


class AdjustmentTransactionSchema(_LoyaltyTransaction):
    subscriberId, internalReason, notificationText = _Str(), _Str(), _Str()


class TierUpgradeNudgeSchema(Lenient):
    activityId = Id(required=True)
    dateCreated = Timestamp(required=True)
    eligibilityPeriod = fields.String(required=True, validate=validate.OneOf(["lifetime", "window"]))
    customerId, email, currentTier, nextTier = _Str(), _Str(), _Str(), _Str()
    spendToUpgradeTier, allTimeSpend, spentWithinWindow = _Num(), _Num(), _Num()
    windowEndDate = _Date()


class CustomerSchema(Lenient):
    customerId = Id(required=True)
    dateUpdated = Timestamp(required=True)
    email, givenName, familyName = _Str(), _Str(), _Str()
    reviewStats = fields.Dict(load_default=None, allow_none=True)
    nps = fields.Dict(load_default=None, allow_none=True)
    surveyResponseCount = _Int()
    referrals = fields.Dict(load_default=None, allow_none=True)
    loyalty = fields.Dict(load_default=None, allow_none=True)


ENVELOPE = EnvelopeSchema()
RESOURCE_SCHEMAS = {
    "review": ReviewSchema(),
    "review_request": ReviewRequestSchema(),
    "quiz_response": QuizResponseSchema(),
    "survey_response": SurveyResponseSchema(),
    "referral": ReferralSchema(),
    "loyalty_customer": LoyaltyCustomerSchema(),
    "loyalty_earning_transaction": EarningTransactionSchema(),
    "loyalty_redemption_transaction": RedemptionTransactionSchema(),
    "loyalty_adjustment_transaction": AdjustmentTransactionSchema(),
    "loyalty_tier_upgrade_nudge": TierUpgradeNudgeSchema(),
    "customer": CustomerSchema(),
}
