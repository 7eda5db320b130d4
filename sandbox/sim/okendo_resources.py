"""Builders of Okendo webhook resources in the shapes Okendo documents.

Source: ``shared/specs/okendo/webhooks.md`` §6 (keys, in the docs' order) and ``rest-api.md``
§4.3 (the Review object). ``loyalty_adjustment_transaction`` is Okendo's complete example;
``loyalty_customer`` its published keys plus the REST loyalty customer's; ``review`` the REST
Review object. Earning and redemption transactions, survey and quiz responses and referrals
have no published example: they follow the adjustment's pattern (inferred; see
``pipeline/providers/schemas/okendo.py``). ``tests/contracts/okendo.py`` holds every builder's
output to the same contract as the documented examples.

Every argument is keyword-only and optional: ids default to fresh UUIDs, dates to now;
``**overrides`` replace top-level fields. ``BUILDERS`` maps resource type -> builder. A
``delete`` resource is ``deleted(resource_type, resource)``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sandbox.sim.server import iso_ms

__all__ = [
    "BUILDERS", "PRODUCTS", "REFERRAL_ROLES", "adjustment_transaction", "customer_ref", "deleted",
    "earning_transaction", "loyalty_customer", "quiz_response", "redemption_transaction", "referral", "review",
    "survey_response",
]

Resource = dict[str, Any]
PRODUCTS: tuple[dict[str, str], ...] = (
    {"productId": "shopify-7350329213105", "productName": "Organic Cotton Tee", "variantId": "41672",
     "variantName": "Medium / Sage"},
    {"productId": "shopify-7350329213106", "productName": "Merino Crew Sock", "variantId": "41673",
     "variantName": "One size / Charcoal"},
)
#: the customerRole each referral activity is reported for by default.
REFERRAL_ROLES = {"coupon_received": "recipient", "coupon_redeemed": "recipient", "opted_in": "referrer",
                  "shareable_link_used": "referrer", "invitation_sent": "referrer",
                  "invitation_received": "recipient", "rejected": "referrer"}
_SUBSCRIBER = "3f2b8c1e-5d4a-4e6b-9a7c-0d1e2f3a4b5c"


def _id(value: str | None) -> str:
    return value or str(uuid.uuid4())


def _date(value: datetime | str | None) -> str:
    if isinstance(value, str):
        return value
    return iso_ms(value or datetime.now(timezone.utc))


def _plus(date: str, days: int) -> str:
    return iso_ms(datetime.fromisoformat(date.replace("Z", "+00:00")) + timedelta(days=days))


def customer_ref(email: str = "jane.doe@example.test", customer_id: str | None = None) -> dict[str, Any]:
    """The documented nested ``customer{email, customerId}``."""
    return {"email": email, "customerId": _id(customer_id)}


def _member(member: dict | None) -> dict[str, Any]:
    return member or {"loyaltyCustomerId": str(uuid.uuid4()), "customerId": str(uuid.uuid4()),
                      "email": "jane.doe@example.test", "status": "enrolled", "balance": 250,
                      "vipTierName": "Bronze", "subscriberId": _SUBSCRIBER}


def loyalty_customer(*, member: dict | None = None, **overrides: Any) -> Resource:
    """A loyalty member from an ``OkendoStore`` member state (webhooks.md §6.2, rest-api.md §3.1)."""
    m = _member(member)
    out: Resource = {"loyaltyCustomerId": m["loyaltyCustomerId"],
                     "customer": customer_ref(m["email"], m.get("customerId"))}
    if m.get("birthday"):
        out["birthday"] = dict(m["birthday"])
    out |= {"status": m["status"], "points": {"balance": m["balance"]}, "vipTierName": m.get("vipTierName"),
            "minimumVipTierName": m.get("minimumVipTierName")}
    # concepts Okendo lists without key names: the inferred names the schema reads
    for key in ("enrolledDate", "pointsExpiryDate", "vipTierExpiryDate"):
        if m.get(key):
            out[key] = m[key]
    return out | overrides


def _transaction(m: dict, tid: str | None, date: datetime | str | None, amount: int, reason: str,
                 text: str) -> Resource:
    """webhooks.md §6.1, in the docs' key order."""
    return {"loyaltyCustomerId": m["loyaltyCustomerId"], "loyaltyTransactionId": _id(tid),
            "subscriberId": m.get("subscriberId") or _SUBSCRIBER, "amount": int(amount),
            "customer": customer_ref(m["email"], m.get("customerId")), "date": _date(date),
            "internalReason": reason, "notificationText": text, "status": "complete"}


def adjustment_transaction(*, member: dict | None = None, points: int = 50, internal_reason: str = "Manual Adjustment",
                           notification_text: str = "Manual Store Adjustment", transaction_id: str | None = None,
                           date: datetime | str | None = None, **overrides: Any) -> Resource:
    """A manual points adjustment by the merchant (either sign): Okendo's documented example."""
    return _transaction(_member(member), transaction_id, date, points, internal_reason, notification_text) | overrides


def earning_transaction(*, member: dict | None = None, points: int = 100, action: str = "points-per-spend",
                        description: str = "Placed an order", transaction_id: str | None = None,
                        date: datetime | str | None = None, **overrides: Any) -> Resource:
    """Points earned (inferred: the adjustment's fields plus ``action``, an earning rule type)."""
    out = _transaction(_member(member), transaction_id, date, abs(points), "Earning rule", description)
    return out | {"action": action} | overrides


def redemption_transaction(*, member: dict | None = None, points: int = 500, coupon_code: str = "LOYAL-5OFF",
                           description: str = "$5 off coupon", transaction_id: str | None = None,
                           date: datetime | str | None = None, **overrides: Any) -> Resource:
    """Points spent on a coupon (inferred: negative ``amount`` plus ``coupon{code, description}``)."""
    out = _transaction(_member(member), transaction_id, date, -abs(points), "Redemption", description)
    return out | {"coupon": {"code": coupon_code, "description": description}} | overrides


def review(*, review_id: str | None = None, date: datetime | str | None = None, email: str = "jane.doe@example.test",
           name: str = "Jane Doe", rating: int = 5, product: dict[str, str] = PRODUCTS[0],
           media_types: tuple[str, ...] = ("image",), reward: dict | None = None, **overrides: Any) -> Resource:
    """A review: the REST Review object (rest-api.md §4.3), which the webhook's published prefix matches."""
    rid = _id(review_id)
    first, _, last = name.partition(" ")
    out: Resource = {
        "subscriberId": _SUBSCRIBER, "reviewId": rid, "productId": product["productId"],
        "attributesWithRating": [{"minLabel": "Too Small", "midLabel": "Just Right", "maxLabel": "Too Big",
                                  "title": "Sizing", "type": "centered-range", "value": 1}],
        "body": "Soft, fits true to size and washed well.", "containsProfanity": False, "dateCreated": _date(date),
        "helpfulCount": 0, "isRecommended": rating >= 4,
        "media": [{"streamId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{rid}/{i}")),
                   "fullSizeUrl": f"https://media.example/{rid}/{i}/full", "largeUrl": f"https://media.example/{rid}/{i}/l",
                   "thumbnailUrl": f"https://media.example/{rid}/{i}/t", "type": t, "isHidden": False}
                  for i, t in enumerate(media_types)],
        "productAttributes": [{"title": "Fit", "type": "drop-down", "value": "True to size"}],
        "productName": product["productName"], "order": {"orderId": "5523190071357", "orderNumber": "#1042"},
        "rating": rating,
        "reviewer": {"attributes": [{"title": "Age", "type": "drop-down", "value": "25-34"}],
                     "displayName": f"{first} {last[:1]}." if last else first, "email": email, "isVerified": True,
                     "location": {"country": {"code": "us", "name": "United States"}, "zoneCode": "CA"},
                     "name": name, "verifiedStatus": "Verified Buyer"},
        "sentiment": "positive" if rating >= 4 else "negative" if rating <= 2 else "neutral",
        "status": "approved", "title": "Exactly as described", "variantId": product["variantId"],
        "variantName": product["variantName"],
    }
    if reward is not None:
        out["reward"] = reward
    return out | overrides


def quiz_response(*, quiz_response_id: str | None = None, date: datetime | str | None = None,
                  customer: dict | None = None, quiz_name: str = "Find your fit", **overrides: Any) -> Resource:
    """A completed product-finder quiz (inferred)."""
    return {
        "subscriberId": _SUBSCRIBER, "quizResponseId": _id(quiz_response_id), "quizId": "quiz-fit",
        "quizName": quiz_name, "dateCreated": _date(date), "customer": customer or customer_ref(),
        "redirectUrl": "https://shop.example/collections/quiz-results",
        "recommendedProductIds": [p["productId"] for p in PRODUCTS],
    } | overrides


def survey_response(*, survey_response_id: str | None = None, date: datetime | str | None = None,
                    customer: dict | None = None, reward_type: str | None = None, nps: int | None = 9,
                    survey_name: str = "Post-purchase survey", **overrides: Any) -> Resource:
    """A survey answer set (inferred); ``reward_type`` None, ``coupon`` or ``loyalty``."""
    reward = {"coupon": {"coupon": {"code": "SURVEY10", "description": "10% off your next order"}},
              "loyalty": {"loyaltyEvents": "survey_completed", "loyaltyPoints": 50, "loyaltyProvider": "okendo"}}
    out: Resource = {
        "subscriberId": _SUBSCRIBER, "surveyResponseId": _id(survey_response_id), "surveyId": "survey-post-purchase",
        "surveyName": survey_name, "dateCreated": _date(date), "customer": customer or customer_ref(),
        "answers": [{"question": "How did you hear about us?", "answer": "Instagram"}],
    }
    if nps is not None:
        out["nps"] = {"score": nps}
    if reward_type:
        out |= {"rewardType": reward_type, "reward": reward[reward_type]}
    return out | overrides


def referral(*, activity_type: str = "coupon_received", referral_id: str | None = None,
             date: datetime | str | None = None, referrer: dict | None = None, recipient: dict | None = None,
             customer_role: str | None = None, **overrides: Any) -> Resource:
    """A referral activity (inferred); fields follow ``activity_type`` (see ``REFERRAL_ROLES``).
    ``referrer``/``recipient``: ``{email, firstName, lastName, fullName}`` (and ``customerId``)."""
    if activity_type not in REFERRAL_ROLES:
        raise ValueError(f"activity_type must be one of {sorted(REFERRAL_ROLES)}")
    rid, created = _id(referral_id), _date(date)
    referrer = referrer or {"email": "jane.doe@example.test", "firstName": "Jane", "lastName": "Doe",
                            "fullName": "Jane Doe"}
    recipient = recipient or {"email": "sam.lee@example.test", "firstName": "Sam", "lastName": "Lee",
                              "fullName": "Sam Lee"}
    role = customer_role or REFERRAL_ROLES[activity_type]
    who = referrer if role == "referrer" else recipient
    out: Resource = {"subscriberId": _SUBSCRIBER, "referralId": rid, "activityType": activity_type,
                     "customerRole": role, "dateCreated": created,
                     "customer": customer_ref(who["email"], who.get("customerId")), "locale": "en-US",
                     "referrer": {k: v for k, v in referrer.items() if k != "customerId"},
                     "recipient": {k: v for k, v in recipient.items() if k != "customerId"}}
    coupon = {"code": f"REF-{rid[:6].upper()}", "description": "$10 off your first order"}
    order = {"orderId": "5531", "orderNumber": "#1042", "discountAmount": 10.0, "totalPrice": 64.0}
    link = f"https://okendo.link/{rid[:8]}"
    extra: dict[str, Resource] = {
        "coupon_received": {"coupon": coupon | {"dateReceived": created, "expiryDate": _plus(created, 30)}},
        "coupon_redeemed": {"coupon": coupon | {"dateRedeemed": created}, "order": order},
        "opted_in": {"dateOptedIn": created, "shareableLink": link, "verificationUrl": f"{link}/verify"},
        "shareable_link_used": {"dateOptedIn": created, "verificationUrl": f"{link}/verify"},
        "invitation_sent": {"dateSent": created, "invitationUrl": f"{link}/i"},
        "invitation_received": {"dateSent": created, "invitationUrl": f"{link}/i"},
        "rejected": {"rejection": {"shouldNotifyCustomer": True, "reason": "Self-referral detected",
                                   "type": "automatic"}},
    }
    return out | extra[activity_type] | overrides


#: What a ``delete`` keeps: the adjustment's documented delete drops only ``customer`` (§6.1,
#: §7); for the others Okendo publishes nothing, so the delete carries the same reduction.
def deleted(resource_type: str, resource: Resource) -> Resource:
    """The ``delete`` variant of ``resource``."""
    return {k: v for k, v in resource.items() if k != "customer"}


BUILDERS: dict[str, Callable[..., Resource]] = {
    "review": review, "quiz_response": quiz_response, "survey_response": survey_response, "referral": referral,
    "loyalty_customer": loyalty_customer, "loyalty_earning_transaction": earning_transaction,
    "loyalty_redemption_transaction": redemption_transaction,
    "loyalty_adjustment_transaction": adjustment_transaction,
}
