"""Okendo webhook deliveries: the envelope and each resource type it carries.

Source: ``shared/specs/okendo/webhooks.md`` (§4 envelope, §6 resources; Okendo's pages
docs.okendo.io/webhooks/topics and /merchant-rest-api/endpoints/reviews). ``SHAPES`` says per
name how much of the shape is published:

- ``documented``: the envelope and ``loyalty_adjustment_transaction`` (complete examples),
  ``review`` (the webhook's verified prefix, then the REST Review object it matches field for
  field) and ``loyalty_customer`` (``customer{customerId, email}`` and ``birthday{day, month}``
  are published; ``status``, ``points.balance`` and ``vipTierName`` are the names of the REST
  loyalty customer; the dates Okendo lists only as concepts are read under the names in
  ``_ALIASES``, an inference).
- ``inferred``: earning and redemption transactions, survey and quiz responses, referrals. No
  example is published; they are read in the pattern of the adjustment transaction
  (``loyaltyTransactionId``, ``amount``, ``date``, nested ``customer``) and of the REST
  survey response (``surveyResponseId``, ``surveyId``).

Every schema ignores unknown fields. On a ``delete`` only the id fields are required
(``DELETE_KEEPS``); every other field is optional, as Okendo documents delete variants
only for adjustment transactions (which drop ``customer``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate

from pipeline.providers.schemas.common import Id, Lenient, Timestamp, opt_bool, opt_date, opt_raw, opt_str

__all__ = ["DELETE_KEEPS", "ENVELOPE", "RESOURCE_SCHEMAS", "SHAPES", "TOPICS", "WEBHOOK_RESOURCE_TYPES"]

TOPICS = ("create", "update", "delete")
#: Okendo's ``resourceType`` enum (webhooks.md §3: the OpenAPI's five, plus survey, quiz and
#: referral from the third-party topic list).
WEBHOOK_RESOURCE_TYPES = (
    "review", "loyalty_adjustment_transaction", "loyalty_customer", "loyalty_earning_transaction",
    "loyalty_redemption_transaction", "survey_response", "quiz_response", "referral",
)
SHAPES: dict[str, str] = {
    "envelope": "documented",
    "loyalty_adjustment_transaction": "documented",
    "loyalty_customer": "documented",
    "review": "documented",
    "loyalty_earning_transaction": "inferred",
    "loyalty_redemption_transaction": "inferred",
    "survey_response": "inferred",
    "quiz_response": "inferred",
    "referral": "inferred",
    "customers": "documented",  # REST GET /customers/{customerId} (not a webhook)
    "review_stats": "documented",  # computed from review fields (pipeline.transform.okendo_stats)
    "survey_stats": "inferred",  # computed from survey responses
    "referral_stats": "inferred",  # computed from referrals
}


class SequenceNumber(fields.Field):
    """Documented as a JSON string of digits (``"123123412"``); a number is accepted too.
    Loaded as an int so that sequences compare numerically, never lexically."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("must be a string of digits or an integer, got a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        raise ValidationError(f"must be a string of digits or an integer, got {str(value)[:40]!r}")


class Number(fields.Field):
    """A JSON number (points, amounts) kept as int when integral; numeric strings accepted."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | float:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ValidationError(f"not a number: {value[:40]!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("must be a number")
        return int(value) if isinstance(value, float) and value.is_integer() else value


def _num() -> Number:
    return Number(load_default=None, allow_none=True)


def _nested(schema: type[Lenient] | Lenient) -> fields.Nested:
    return fields.Nested(schema, load_default=None, allow_none=True)


def _list(schema: type[Lenient]) -> fields.List:
    return fields.List(fields.Nested(schema), load_default=list)


class EnvelopeSchema(Lenient):
    resource = fields.Dict(required=True)
    resourceType = fields.String(required=True)
    sequenceNumber = SequenceNumber(required=True)
    topic = fields.String(required=True, validate=validate.OneOf(TOPICS))
    version = opt_str()


class _Customer(Lenient):
    """``customer{email, customerId}``: ``customerId`` is the Okendo Customer id (for
    ``GET /customers/{customerId}``), distinct from ``loyaltyCustomerId``."""

    customerId = Id(load_default=None, allow_none=True)
    email = opt_str()
    # not published on any resource; read when present (survey, quiz, referral: inferred)
    firstName, lastName, name = opt_str(), opt_str(), opt_str()


class _Aliased(Lenient):
    """Reads the first present alias of each canonical field (names Okendo has not published)."""

    ALIASES: dict[str, tuple[str, ...]] = {}

    @pre_load
    def _aliases(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for canonical, aliases in self.ALIASES.items():
            if out.get(canonical) is None:
                found = next((out[a] for a in aliases if out.get(a) is not None), None)
                if found is not None:
                    out[canonical] = found
        return out


# --- loyalty transactions (adjustment: documented; earning, redemption: inferred) ----------------
class _Transaction(_Aliased):
    loyaltyTransactionId = Id(required=True)
    loyaltyCustomerId = Id(required=True)
    subscriberId = opt_str()
    amount = Number(required=True)
    customer = _nested(_Customer)
    date = Timestamp(required=True)
    internalReason, notificationText, status = opt_str(), opt_str(), opt_str()


class AdjustmentTransactionSchema(_Transaction):
    """webhooks.md §6.1, complete. The sign convention of ``amount`` is not documented: kept signed."""


class EarningTransactionSchema(_Transaction):
    """Inferred (§6.3): the adjustment's fields plus the earning action, read as ``action``."""

    ALIASES = {"action": ("earningRuleType", "earningAction", "type")}
    action = opt_str()


class _Coupon(Lenient):
    code, description = opt_str(), opt_str()
    expiryDate, dateReceived, dateRedeemed = opt_date(), opt_date(), opt_date()


class RedemptionTransactionSchema(_Transaction):
    """Inferred (§6.4): the adjustment's fields plus the coupon it issued."""

    ALIASES = {"coupon": ("reward",)}
    coupon = _nested(_Coupon)


# --- loyalty customer ----------------------------------------------------------------------------
class _Birthday(Lenient):
    day = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(1, 31))
    month = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(1, 12))


class _Points(Lenient):
    balance = _num()


class LoyaltyCustomerSchema(_Aliased):
    """§6.2 (partial) and the REST loyalty customer (rest-api.md §3.1). The enrolment, points
    expiry and tier dates are named only as concepts by Okendo: read under ``ALIASES``."""

    ALIASES = {
        "enrolledDate": ("dateEnrolled", "enrollmentDate", "enrolmentDate"),
        "pointsExpiryDate": ("datePointsExpire", "pointsExpiry"),
        "vipTierExpiryDate": ("dateVipTierExpires", "vipTierExpiry", "tierExpiryDate"),
        "vipTierEnteredDate": ("dateVipTierEntered", "tierEnteredDate"),
    }
    loyaltyCustomerId = Id(required=True)
    customer = _nested(_Customer)
    birthday = _nested(_Birthday)
    status = opt_str()  # the REST enum is pending | enrolled | blocked; kept open
    points = _nested(_Points)
    vipTierName, minimumVipTierName = opt_str(), opt_str()
    enrolledDate, pointsExpiryDate, vipTierExpiryDate, vipTierEnteredDate = (opt_date(), opt_date(), opt_date(),
                                                                             opt_date())
    vipTierRank = fields.Integer(load_default=None, allow_none=True)  # not published; kept if sent


# --- review (webhook prefix + REST Review object) ------------------------------------------------
class _Country(Lenient):
    code, name = opt_str(), opt_str()


class _Location(Lenient):
    country = _nested(_Country)
    zoneCode = opt_str()


class _Attribute(Lenient):
    title, type = opt_str(), opt_str()
    value = opt_raw()


class _RatedAttribute(_Attribute):
    minLabel, midLabel, maxLabel = opt_str(), opt_str(), opt_str()


class _Reviewer(Lenient):
    attributes = _list(_Attribute)
    avatarUrl, displayName, email, name = opt_str(), opt_str(), opt_str(), opt_str()
    isVerified = opt_bool()
    location = _nested(_Location)
    socialConnection, verifiedStatus = opt_str(), opt_str()


class _Media(Lenient):
    streamId, fullSizeUrl, largeUrl, thumbnailUrl, type = opt_str(), opt_str(), opt_str(), opt_str(), opt_str()
    isHidden = opt_bool()


class _Order(Lenient):
    orderId, orderNumber = Id(load_default=None, allow_none=True), opt_str()


class _Reward(Lenient):
    description, type = opt_str(), opt_str()
    value = opt_raw()


class _Reply(Lenient):
    body, rawBody = opt_str(), opt_str()
    dateCreated = opt_date()
    isPrivate = opt_bool()


class ReviewSchema(Lenient):
    """§6.5 / rest-api.md §4.3. Required (on create and update): ``reviewId``, ``productId``,
    ``rating``, ``dateCreated``; ``reviewer.email`` is the only link to a customer."""

    reviewId = Id(required=True)
    subscriberId = opt_str()
    productId = fields.String(required=True)
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(1, 5))
    dateCreated = Timestamp(required=True)
    attributesWithRating = _list(_RatedAttribute)
    productAttributes = _list(_Attribute)
    body, title, productName, variantId, variantName = opt_str(), opt_str(), opt_str(), opt_str(), opt_str()
    containsProfanity, isRecommended, isIncentivized = opt_bool(), opt_bool(), opt_bool()
    helpfulCount, unhelpfulCount = _num(), _num()
    media = _list(_Media)
    order = _nested(_Order)
    reply = _nested(_Reply)
    reviewer = _nested(_Reviewer)
    reward = _nested(_Reward)
    sentiment = opt_str()  # positive | negative | neutral | mixed (secondary source)
    status = opt_str()  # approved | pending | rejected
    tags = fields.List(fields.String(), load_default=list)


# --- surveys, quizzes, referrals (inferred) ------------------------------------------------------
class _Answer(_Aliased):
    ALIASES = {"question": ("title",), "answer": ("value",)}
    question = opt_str()
    answer = opt_raw()


class _Nps(Lenient):
    score = _num()
    category = opt_str()


class _SurveyReward(Lenient):
    coupon = _nested(_Coupon)
    loyaltyEvents = opt_raw()
    loyaltyPoints = _num()
    loyaltyProvider = opt_str()


class SurveyResponseSchema(Lenient):
    """Inferred: the REST survey response starts ``subscriberId, surveyResponseId, surveyId``
    (rest-api.md §5); the rest follows the documented resources' style."""

    surveyResponseId = Id(required=True)
    subscriberId, surveyId, surveyName = opt_str(), opt_str(), opt_str()
    dateCreated = Timestamp(required=True)
    customer = _nested(_Customer)
    answers = _list(_Answer)
    nps = _nested(_Nps)
    rewardType = opt_str()  # "coupon" | "loyalty" per seed 001
    reward = _nested(_SurveyReward)


class QuizResponseSchema(Lenient):
    quizResponseId = Id(required=True)
    subscriberId, quizId, quizName, redirectUrl = opt_str(), opt_str(), opt_str(), opt_str()
    dateCreated = Timestamp(required=True)
    customer = _nested(_Customer)
    recommendedProductIds = fields.List(fields.Raw(), load_default=list)


class _Person(Lenient):
    email, firstName, lastName, fullName = opt_str(), opt_str(), opt_str(), opt_str()


class _ReferralOrder(Lenient):
    orderId, orderNumber = Id(load_default=None, allow_none=True), opt_str()
    discountAmount, totalPrice = _num(), _num()


class _Rejection(Lenient):
    reason, type = opt_str(), opt_str()
    shouldNotifyCustomer = opt_bool()


#: Referral activities: seed 001 names one event per activity.
REFERRAL_ACTIVITIES = ("coupon_received", "coupon_redeemed", "opted_in", "shareable_link_used",
                       "invitation_sent", "invitation_received", "rejected")


class ReferralSchema(Lenient):
    """Inferred: one resource per referral activity; an activity we do not know is kept open
    (it maps to no event, but still counts towards the referral stats when successful)."""

    referralId = Id(required=True)
    subscriberId, activityType, customerRole, locale = opt_str(), opt_str(), opt_str(), opt_str()
    dateCreated = Timestamp(required=True)
    customer = _nested(_Customer)
    referrer, recipient = _nested(_Person), _nested(_Person)
    shareableLink, invitationUrl, verificationUrl = opt_str(), opt_str(), opt_str()
    dateOptedIn, dateSent = opt_date(), opt_date()
    coupon = _nested(_Coupon)
    order = _nested(_ReferralOrder)
    recipientOrder = _nested(_ReferralOrder)
    rejection = _nested(_Rejection)


class _CustomerLocation(Lenient):
    country, zoneCode = opt_str(), opt_str()  # here ``country`` is a name, not {code, name}


class CustomerSchema(Lenient):
    """REST ``GET /customers/{customerId}`` (rest-api.md §2.2): every field optional. The
    response does not repeat the id; the connector adds ``customerId`` from the request."""

    customerId = Id(required=True)
    dateFirstActive, dateLastActive = opt_date(), opt_date()
    email, givenName, familyName, avatarUrl = opt_str(), opt_str(), opt_str(), opt_str()
    location = _nested(_CustomerLocation)


ENVELOPE = EnvelopeSchema()
RESOURCE_SCHEMAS = {
    "review": ReviewSchema(),
    "quiz_response": QuizResponseSchema(),
    "survey_response": SurveyResponseSchema(),
    "referral": ReferralSchema(),
    "loyalty_customer": LoyaltyCustomerSchema(),
    "loyalty_earning_transaction": EarningTransactionSchema(),
    "loyalty_redemption_transaction": RedemptionTransactionSchema(),
    "loyalty_adjustment_transaction": AdjustmentTransactionSchema(),
    "customers": CustomerSchema(),  # REST only: ``unwrap`` refuses it as a webhook resourceType
}
#: On a ``delete`` topic, the only fields required: the resource's ids (webhooks.md §7).
DELETE_KEEPS: dict[str, tuple[str, ...]] = {
    "review": ("reviewId",), "quiz_response": ("quizResponseId",), "survey_response": ("surveyResponseId",),
    "referral": ("referralId",), "loyalty_customer": ("loyaltyCustomerId",),
    "loyalty_earning_transaction": ("loyaltyTransactionId",),
    "loyalty_redemption_transaction": ("loyaltyTransactionId",),
    "loyalty_adjustment_transaction": ("loyaltyTransactionId",),
}
