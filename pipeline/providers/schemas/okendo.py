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

from pipeline.providers.schemas.common import Id, Lenient, Timestamp, opt_bool, opt_date, opt_int, opt_num, opt_raw, opt_str

__all__ = ["ENVELOPE", "RESOURCE_SCHEMAS"]



class EnvelopeSchema(Lenient):
    resource = fields.Dict(required=True)
    resourceType = fields.String(required=True)
    sequenceNumber = fields.Integer(required=True, strict=True)
    topic = fields.String(required=True, validate=validate.OneOf(["create", "update", "delete"]))
    version = fields.String(load_default=None, allow_none=True)


class _Person(Lenient):
    email = opt_str()
    firstName = opt_str()
    lastName = opt_str()
    fullName = opt_str()
    name = opt_str()
    displayName = opt_str()


class _Coupon(Lenient):
    code = opt_str()
    description = opt_str()
    expiryDate = opt_date()
    dateReceived = opt_date()
    dateRedeemed = opt_date()


class _LoyaltyReward(Lenient):
    events = opt_raw()
    points = opt_num()
    provider = opt_str()


class _Reward(Lenient):
    coupon = fields.Nested(_Coupon, load_default=None, allow_none=True)
    loyalty = fields.Nested(_LoyaltyReward, load_default=None, allow_none=True)


class _Order(Lenient):
    id = Id(load_default=None, allow_none=True)
    number = opt_str()
    discountAmount = opt_num()
    totalPrice = opt_num()


class ReviewSchema(Lenient):
    reviewId = Id(required=True)
    dateCreated = Timestamp(required=True)
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(1, 5))
    title, body, productId, productName, productUrl = opt_str(), opt_str(), opt_str(), opt_str(), opt_str()
    variantId, variantName, sku, languageCode, sentiment = opt_str(), opt_str(), opt_str(), opt_str(), opt_str()
    boughtFor, source = opt_str(), opt_str()
    isRecommended, nextDayDelivery = opt_bool(), opt_bool()
    media = fields.List(fields.Dict(), load_default=list)
    attributes = fields.List(fields.Dict(), load_default=list)
    reviewer = fields.Nested(_Person, load_default=None, allow_none=True)
    reviewerLocation = fields.Dict(load_default=None, allow_none=True)
    reward = fields.Nested(_Reward, load_default=None, allow_none=True)
    customerStats = fields.Dict(load_default=None, allow_none=True)


class ReviewRequestSchema(Lenient):
    reviewRequestId = Id(required=True)
    dateCreated = Timestamp(required=True)
    dateUpdated = opt_date()
    status = opt_str()
    reviewUrl = opt_str()
    customer = fields.Nested(_Person, load_default=None, allow_none=True)
    product = fields.Dict(load_default=None, allow_none=True)
    order = fields.Dict(load_default=None, allow_none=True)


class QuizResponseSchema(Lenient):
    quizResponseId = Id(required=True)
    dateCreated = Timestamp(required=True)
    activityId, quizName, redirectUrl = opt_str(), opt_str(), opt_str()
    recommendedProductIds = fields.List(fields.Raw(), load_default=list)
    customer = fields.Nested(_Person, load_default=None, allow_none=True)


class SurveyResponseSchema(Lenient):
    surveyResponseId = Id(required=True)
    dateCreated = Timestamp(required=True)
    surveyName = opt_str()
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
    email, locale, invitationUrl, invitationLink, verificationUrl = opt_str(), opt_str(), opt_str(), opt_str(), opt_str()
    dateOptedIn, dateSent = opt_date(), opt_date()
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
    customerId, email, vipTierName, activityId, description, action = opt_str(), opt_str(), opt_str(), opt_str(), opt_str(), opt_str()
    vipTierRank = opt_int()
    points = fields.Dict(load_default=None, allow_none=True)
    vipTierExpiryDate, enrolledDate, pointsExpiryDate, nextBirthdayDate = opt_date(), opt_date(), opt_date(), opt_date()


class _LoyaltyTransaction(Lenient):
    transactionId = Id(required=True)
    dateCreated = Timestamp(required=True)
    points = fields.Integer(required=True, strict=True)
    customerId, email, description, status = opt_str(), opt_str(), opt_str(), opt_str()


class EarningTransactionSchema(_LoyaltyTransaction):
    action = opt_str()


class RedemptionTransactionSchema(_LoyaltyTransaction):
    coupon = fields.Nested(_Coupon, load_default=None, allow_none=True)


class AdjustmentTransactionSchema(_LoyaltyTransaction):
    subscriberId, internalReason, notificationText = opt_str(), opt_str(), opt_str()


class TierUpgradeNudgeSchema(Lenient):
    activityId = Id(required=True)
    dateCreated = Timestamp(required=True)
    eligibilityPeriod = fields.String(required=True, validate=validate.OneOf(["lifetime", "window"]))
    customerId, email, currentTier, nextTier = opt_str(), opt_str(), opt_str(), opt_str()
    spendToUpgradeTier, allTimeSpend, spentWithinWindow = opt_num(), opt_num(), opt_num()
    windowEndDate = opt_date()


class CustomerSchema(Lenient):
    customerId = Id(required=True)
    dateUpdated = Timestamp(required=True)
    email, givenName, familyName = opt_str(), opt_str(), opt_str()
    reviewStats = fields.Dict(load_default=None, allow_none=True)
    nps = fields.Dict(load_default=None, allow_none=True)
    surveyResponseCount = opt_int()
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
