"""Okendo's webhook payloads as Okendo documents them: the one contract for parser and simulator.

Every builder below is written field by field from ``shared/specs/okendo/webhooks.md`` (§4 the
envelope, §6 the resources) and ``rest-api.md`` (§3.1 the loyalty customer, §4.3 the Review
object), in the docs' key order, with the docs' example values. ``FIELDS`` is the same
knowledge as a contract: the keys each resource type may carry, their JSON types, which are
required; ``check`` holds any delivery body (ours or the simulator's) to it.

Resource types without a published example (earning and redemption transactions, survey and
quiz responses, referrals) are *inferred*: their builders and contract follow the documented
adjustment transaction and the REST survey response, as ``pipeline/providers/schemas/okendo.py``
reads them. ``SHAPES`` there says which is which.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

UUID = "123e4567-e89b-12d3-a456-426614174000"  # the docs' example id, used for every uuid
VERSION = "2025-02-01"  # the only version enum value (§3)
SEQUENCE = "123123412"  # §4: a JSON string of digits
EMAIL = "customer@example.com"  # the docs' e-mail is obfuscated in the stored copy (§6.1)
ISO = "iso"  # a date-time string
NUM = "number"

_CUSTOMER = {"email": str, "customerId": str}
_COUPON = {"code": str, "description": str, "expiryDate": ISO, "dateReceived": ISO, "dateRedeemed": ISO}
_TXN = {"loyaltyCustomerId": str, "loyaltyTransactionId": str, "subscriberId": str, "amount": NUM,
        "customer": _CUSTOMER, "date": ISO, "internalReason": str, "notificationText": str, "status": str}
_ATTRIBUTE = {"title": str, "type": str, "value": object}
_PERSON = {"email": str, "firstName": str, "lastName": str, "fullName": str}
_ORDER = {"orderId": str, "orderNumber": str, "discountAmount": NUM, "totalPrice": NUM}

#: resourceType → {key: type}; a dict is a nested object, a 1-list a list of that.
FIELDS: dict[str, dict[str, Any]] = {
    # documented (§6.1, complete)
    "loyalty_adjustment_transaction": _TXN,
    # documented (§6.2 keys, REST loyalty customer names for status/points/tiers); the three
    # dates are concepts only: inferred names
    "loyalty_customer": {"loyaltyCustomerId": str, "customer": _CUSTOMER, "birthday": {"day": int, "month": int},
                         "status": str, "points": {"balance": NUM}, "vipTierName": str, "minimumVipTierName": str,
                         "enrolledDate": ISO, "pointsExpiryDate": ISO, "vipTierExpiryDate": ISO},
    # documented (§6.5 webhook prefix, then the REST Review object, rest-api.md §4.3)
    "review": {"subscriberId": str, "reviewId": str, "productId": str,
               "attributesWithRating": [{**_ATTRIBUTE, "minLabel": str, "midLabel": str, "maxLabel": str}],
               "body": str, "containsProfanity": bool, "dateCreated": ISO, "helpfulCount": int, "isRecommended": bool,
               "media": [{"streamId": str, "fullSizeUrl": str, "largeUrl": str, "thumbnailUrl": str, "type": str,
                          "isHidden": bool}],
               "productAttributes": [_ATTRIBUTE], "productName": str, "order": {"orderId": str, "orderNumber": str},
               "rating": int, "reply": {"body": str, "dateCreated": ISO, "rawBody": str, "isPrivate": bool},
               "reviewer": {"attributes": [_ATTRIBUTE], "avatarUrl": str, "displayName": str, "email": str,
                            "isVerified": bool, "location": {"country": {"code": str, "name": str}, "zoneCode": str},
                            "name": str, "socialConnection": str, "verifiedStatus": str},
               "reward": {"description": str, "type": str, "value": object}, "isIncentivized": bool,
               "sentiment": str, "status": str, "tags": [str], "title": str, "unhelpfulCount": int,
               "variantId": str, "variantName": str},
    # inferred
    "loyalty_earning_transaction": {**_TXN, "action": str},
    "loyalty_redemption_transaction": {**_TXN, "coupon": _COUPON},
    "survey_response": {"subscriberId": str, "surveyResponseId": str, "surveyId": str, "surveyName": str,
                        "dateCreated": ISO, "customer": _CUSTOMER, "answers": [{"question": str, "answer": object}],
                        "nps": {"score": NUM, "category": str}, "rewardType": str,
                        "reward": {"coupon": _COUPON, "loyaltyEvents": object, "loyaltyPoints": NUM,
                                   "loyaltyProvider": str}},
    "quiz_response": {"subscriberId": str, "quizResponseId": str, "quizId": str, "quizName": str, "dateCreated": ISO,
                      "customer": _CUSTOMER, "redirectUrl": str, "recommendedProductIds": [str]},
    "referral": {"subscriberId": str, "referralId": str, "activityType": str, "customerRole": str, "dateCreated": ISO,
                 "customer": _CUSTOMER, "locale": str, "referrer": _PERSON, "recipient": _PERSON,
                 "shareableLink": str, "invitationUrl": str, "verificationUrl": str, "dateOptedIn": ISO,
                 "dateSent": ISO, "coupon": _COUPON, "order": _ORDER, "recipientOrder": _ORDER,
                 "rejection": {"reason": str, "type": str, "shouldNotifyCustomer": bool}},
}
#: Required on create/update (webhooks.md §6.1 all present; §6.5 "Optionality"); on delete only ``IDS``.
REQUIRED: dict[str, set[str]] = {
    "loyalty_adjustment_transaction": set(_TXN), "loyalty_earning_transaction": set(_TXN),
    "loyalty_redemption_transaction": set(_TXN), "loyalty_customer": {"loyaltyCustomerId", "customer"},
    "review": {"reviewId", "subscriberId", "productId", "rating", "dateCreated"},
    "survey_response": {"surveyResponseId", "dateCreated"}, "quiz_response": {"quizResponseId", "dateCreated"},
    "referral": {"referralId", "activityType", "dateCreated"},
}
IDS = {"loyalty_adjustment_transaction": {"loyaltyTransactionId"}, "loyalty_earning_transaction": {"loyaltyTransactionId"},
       "loyalty_redemption_transaction": {"loyaltyTransactionId"}, "loyalty_customer": {"loyaltyCustomerId"},
       "review": {"reviewId"}, "survey_response": {"surveyResponseId"}, "quiz_response": {"quizResponseId"},
       "referral": {"referralId"}}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _type_problems(value: Any, spec: Any, where: str) -> list[str]:
    if value is None:
        return []  # nullability is not documented (§6.1): tolerated
    if isinstance(spec, dict):
        if not isinstance(value, Mapping):
            return [f"{where}: expected an object"]
        out = [f"{where}.{k}: not in the contract" for k in value if k not in spec]
        return out + [p for k, v in value.items() if k in spec for p in _type_problems(v, spec[k], f"{where}.{k}")]
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, v in enumerate(value) for p in _type_problems(v, spec[0], f"{where}[{i}]")]
    if spec is ISO:
        return [] if isinstance(value, str) and _ISO.match(value) else [f"{where}: not an ISO 8601 date-time"]
    if spec is NUM:
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else [f"{where}: not a number"]
    if spec is object:
        return []
    if spec is int and isinstance(value, bool):
        return [f"{where}: a boolean, not an integer"]
    return [] if isinstance(value, spec) else [f"{where}: expected {spec.__name__}, got {type(value).__name__}"]


def check(body: Any) -> list[str]:
    """Every way ``body`` departs from the documented delivery (empty: it conforms)."""
    if not isinstance(body, Mapping):
        return ["body: not a JSON object"]
    problems = [f"envelope: {k!r} is not one of the five documented keys" for k in body
                if k not in ("resource", "resourceType", "sequenceNumber", "topic", "version")]
    kind, topic, resource = body.get("resourceType"), body.get("topic"), body.get("resource")
    if not (isinstance(body.get("sequenceNumber"), str) and body["sequenceNumber"].isdigit()):
        problems.append("envelope.sequenceNumber: not a string of digits")
    if body.get("version") != VERSION:
        problems.append(f"envelope.version: not {VERSION!r}")
    if topic not in ("create", "update", "delete"):
        problems.append(f"envelope.topic: {topic!r}")
    if kind not in FIELDS:
        return problems + [f"envelope.resourceType: {kind!r} is not an Okendo resource type"]
    if not isinstance(resource, Mapping):
        return problems + ["resource: not an object"]
    required = IDS[kind] if topic == "delete" else REQUIRED[kind]
    problems += [f"{kind}.{k}: required, missing" for k in sorted(required) if resource.get(k) is None]
    return problems + _type_problems(resource, FIELDS[kind], kind)


def envelope(resource_type: str, topic: str, resource: Mapping[str, Any], sequence: Any = SEQUENCE) -> dict[str, Any]:
    """§4, in the docs' key order."""
    return {"resource": copy.deepcopy(dict(resource)), "resourceType": resource_type, "sequenceNumber": sequence,
            "topic": topic, "version": VERSION}


# --- documented ------------------------------------------------------------------------------------
def adjustment(topic: str = "create") -> dict[str, Any]:
    """§6.1, the complete example: create/update identical but for ``topic``; delete drops ``customer``."""
    resource: dict[str, Any] = {
        "loyaltyCustomerId": UUID, "loyaltyTransactionId": UUID, "subscriberId": UUID, "amount": 100,
        "customer": {"email": EMAIL, "customerId": UUID}, "date": "2025-06-18T05:31:46.915Z",
        "internalReason": "Manual Adjustment", "notificationText": "Manual Store Adjustment", "status": "complete"}
    if topic == "delete":
        del resource["customer"]
    return envelope("loyalty_adjustment_transaction", topic, resource)


def loyalty_customer(topic: str = "create", **fields: Any) -> dict[str, Any]:
    """§6.2's published keys (``birthday.day`` = 10 in the docs; the month is cut off there), then the
    REST loyalty customer's ``status``, ``points.balance``, ``vipTierName`` (rest-api.md §3.1)."""
    resource = {"loyaltyCustomerId": UUID, "customer": {"customerId": UUID, "email": EMAIL},
                "birthday": {"day": 10, "month": 8}, "status": "enrolled", "points": {"balance": 1},
                "vipTierName": "text", "minimumVipTierName": "text"}
    return envelope("loyalty_customer", topic, {**resource, **fields})


def review(topic: str = "create") -> dict[str, Any]:
    """§6.5: the webhook's verified prefix with its example values, then the REST Review object's."""
    return envelope("review", topic, review_object())


def review_object() -> dict[str, Any]:
    """The REST Review object (rest-api.md §4.3; webhooks.md §6.5), the docs' example values."""
    return {
        "subscriberId": UUID, "reviewId": UUID, "productId": "shopify-123456789",
        "attributesWithRating": [{"minLabel": "Too Small", "midLabel": "Just Right", "maxLabel": "Too Big",
                                  "title": "Sizing", "type": "centered-range", "value": 1}],
        "body": "Great quality and price! Would buy again!", "containsProfanity": True,
        "dateCreated": "2025-03-24T07:32:17.872Z", "helpfulCount": 1, "isRecommended": True,
        "media": [{"streamId": UUID, "fullSizeUrl": "https://example.com", "largeUrl": "https://example.com",
                   "thumbnailUrl": "https://example.com", "type": "image", "isHidden": True}],
        "productAttributes": [{"title": "Pros", "type": "drop-down", "value": "Powerful"}],
        "productName": "MacBook Pro", "order": {"orderId": "123456789", "orderNumber": "#OKRXXXX"}, "rating": 5,
        "reply": {"body": "<p><b>Thanks</b> for your review</p>", "dateCreated": "2025-03-25T01:00:00.000Z",
                  "rawBody": "*Thanks* for your review", "isPrivate": True},
        "reviewer": {"attributes": [{"title": "Pros", "type": "drop-down", "value": "Powerful"}],
                     "avatarUrl": "https://example.com", "displayName": "Tim C.", "email": EMAIL, "isVerified": True,
                     "location": {"country": {"code": "au", "name": "Australia"}, "zoneCode": "NSW"},
                     "name": "Tim Cook", "socialConnection": "facebook", "verifiedStatus": "Verified Buyer"},
        "reward": {"description": "$10 off your next order over $40"},
        "sentiment": "positive", "status": "approved", "tags": ["Support Needed"], "title": "Love it",
        "unhelpfulCount": 0, "variantId": "987654321", "variantName": "Space Grey",
    }


# --- inferred (no published example) -----------------------------------------------------------------
def earning(**fields: Any) -> dict[str, Any]:
    body = adjustment()
    body["resourceType"] = "loyalty_earning_transaction"
    body["resource"] |= {"amount": 200, "internalReason": "Earning rule", "notificationText": "Placed an order",
                         "action": "points-per-spend", **fields}
    return body


def redemption(**fields: Any) -> dict[str, Any]:
    body = adjustment()
    body["resourceType"] = "loyalty_redemption_transaction"
    body["resource"] |= {"amount": -500, "internalReason": "Redemption", "notificationText": "$5 off coupon",
                         "coupon": {"code": "LOYAL-5OFF", "description": "$5 off your next order"}, **fields}
    return body


def survey(**fields: Any) -> dict[str, Any]:
    return envelope("survey_response", "create", {
        "subscriberId": UUID, "surveyResponseId": UUID, "surveyId": UUID, "surveyName": "Post-purchase survey",
        "dateCreated": "2025-06-18T05:31:46.915Z", "customer": {"email": EMAIL, "customerId": UUID},
        "answers": [{"question": "How did you hear about us?", "answer": "Instagram"}], "nps": {"score": 9},
        **fields})


def quiz(**fields: Any) -> dict[str, Any]:
    return envelope("quiz_response", "create", {
        "subscriberId": UUID, "quizResponseId": UUID, "quizId": UUID, "quizName": "Find your fit",
        "dateCreated": "2025-06-18T05:31:46.915Z", "customer": {"email": EMAIL, "customerId": UUID},
        "redirectUrl": "https://example.com/results", "recommendedProductIds": ["shopify-123456789"], **fields})


def referral(activity: str, role: str, **fields: Any) -> dict[str, Any]:
    referrer = {"email": EMAIL, "firstName": "Jane", "lastName": "Smith", "fullName": "Jane Smith"}
    recipient = {"email": "friend@example.com", "firstName": "Sam", "lastName": "Lee", "fullName": "Sam Lee"}
    who = referrer if role == "referrer" else recipient
    return envelope("referral", "create", {
        "subscriberId": UUID, "referralId": UUID, "activityType": activity, "customerRole": role,
        "dateCreated": "2025-06-18T05:31:46.915Z", "customer": {"email": who["email"], "customerId": UUID},
        "locale": "en-US", "referrer": referrer, "recipient": recipient, **fields})
