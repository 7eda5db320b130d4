"""Builders of realistic Okendo webhook resources, one per resource type the pipeline reads.

Shapes follow ``pipeline/providers/schemas/okendo.py`` (camelCase, ISO 8601 dates with ms and
``Z``) and carry every field the seed 001/004 integration guides name. Every argument is
keyword-only and optional: ids default to fresh UUIDs, dates to now, people to a sample
shopper; ``**overrides`` replace top-level fields. ``BUILDERS`` maps resource type -> builder.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from pipeline.sim.server import iso_ms

__all__ = [
    "BUILDERS", "PRODUCTS", "REFERRAL_ROLES", "adjustment_transaction", "customer", "earning_transaction",
    "loyalty_customer", "person", "quiz_response", "redemption_transaction", "referral", "review",
    "review_request", "survey_response", "tier_upgrade_nudge",
]

Resource = dict[str, Any]
PRODUCTS: tuple[dict[str, str], ...] = (
    {"productId": "shopify-7350329213105", "productName": "Organic Cotton Tee", "variantId": "shopify-41672",
     "variantName": "Medium / Sage", "sku": "TEE-SAGE-M", "productUrl": "https://shop.example/products/organic-tee",
     "imageUrl": "https://cdn.example/tee.jpg"},
    {"productId": "shopify-7350329213106", "productName": "Merino Crew Sock", "variantId": "shopify-41673",
     "variantName": "One size / Charcoal", "sku": "SOCK-CHAR", "productUrl": "https://shop.example/products/sock",
     "imageUrl": "https://cdn.example/sock.jpg"},
)
#: the customerRole each referral activity is reported for by default.
REFERRAL_ROLES = {"coupon_received": "recipient", "coupon_redeemed": "recipient", "opted_in": "referrer",
                  "shareable_link_used": "referrer", "invitation_sent": "referrer",
                  "invitation_received": "recipient", "rejected": "referrer"}


def _id(value: str | None) -> str:
    return value or str(uuid.uuid4())


def _date(value: datetime | str | None) -> str:
    if isinstance(value, str):
        return value
    return iso_ms(value or datetime.now(timezone.utc))


def _plus(date: str, days: int) -> str:
    return iso_ms(datetime.fromisoformat(date.replace("Z", "+00:00")) + timedelta(days=days))


def person(email: str = "jane.doe@example.test", first_name: str | None = "Jane",
           last_name: str | None = "Doe") -> dict[str, Any]:
    """A reviewer/customer/referrer object."""
    full = " ".join(p for p in (first_name, last_name) if p) or None
    display = f"{first_name} {last_name[0]}." if first_name and last_name else first_name
    return {"email": email, "firstName": first_name, "lastName": last_name, "fullName": full, "name": full,
            "displayName": display}


def review(*, review_id: str | None = None, date: datetime | str | None = None, reviewer: dict | None = None,
           rating: int = 5, product: dict[str, str] = PRODUCTS[0], media_types: tuple[str, ...] = ("image",),
           reward: dict | None = None, customer_stats: dict | None = None, **overrides: Any) -> Resource:
    """A published product review."""
    rid = _id(review_id)
    out = {
        "reviewId": rid, "dateCreated": _date(date), "rating": rating, "title": "Exactly as described",
        "body": "Soft, fits true to size and washed well.", **{k: v for k, v in product.items() if k != "imageUrl"},
        "languageCode": "en", "sentiment": "positive" if rating >= 4 else "negative", "boughtFor": "myself",
        "source": "email-request", "isRecommended": rating >= 4, "nextDayDelivery": False,
        "media": [{"type": t, "url": f"https://media.example/{rid}/{i}"} for i, t in enumerate(media_types)],
        "attributes": [{"title": "Fit", "value": "True to size"}, {"title": "Age", "value": "25-34"}],
        "reviewer": reviewer or person(), "reviewerLocation": {"countryCode": "US", "zoneCode": "CA"},
        "reward": reward, "customerStats": customer_stats or {
            "averageRating": float(rating), "hasSubmittedMedia": bool(media_types), "latestRating": rating,
            "numberOfReviews": 1},
    }
    return out | overrides


def review_request(*, review_request_id: str | None = None, date: datetime | str | None = None,
                   customer: dict | None = None, status: str = "sent", product: dict[str, str] = PRODUCTS[0],
                   order_number: str = "#1001", **overrides: Any) -> Resource:
    """A review request e-mailed after fulfilment (``status`` cancelled when withdrawn)."""
    rid, created = _id(review_request_id), _date(date)
    return {
        "reviewRequestId": rid, "dateCreated": created, "dateUpdated": created, "status": status,
        "reviewUrl": f"https://okendo.reviews/r/{rid}", "customer": customer or person(),
        "product": {"name": product["productName"], "imageUrl": product["imageUrl"],
                    "variantName": product["variantName"], "productId": product["productId"]},
        "order": {"orderNumber": order_number, "fulfilledDate": _plus(created, -3)},
    } | overrides


def quiz_response(*, quiz_response_id: str | None = None, date: datetime | str | None = None,
                  customer: dict | None = None, quiz_name: str = "Find your fit", activity_id: str | None = None,
                  **overrides: Any) -> Resource:
    """A completed product-finder quiz."""
    return {
        "quizResponseId": _id(quiz_response_id), "activityId": _id(activity_id), "dateCreated": _date(date),
        "quizName": quiz_name, "redirectUrl": "https://shop.example/collections/quiz-results",
        "recommendedProductIds": [p["productId"] for p in PRODUCTS], "customer": customer or person(),
    } | overrides


def survey_response(*, survey_response_id: str | None = None, date: datetime | str | None = None,
                    customer: dict | None = None, reward_type: str | None = None,
                    survey_name: str = "Post-purchase survey", **overrides: Any) -> Resource:
    """A survey answer set; ``reward_type`` None, ``coupon`` or ``loyalty``."""
    reward = {"coupon": {"coupon": {"code": "SURVEY10", "description": "10% off your next order"}},
              "loyalty": {"loyalty": {"events": ["survey_completed"], "points": 50.0, "provider": "okendo"}}}
    return {
        "surveyResponseId": _id(survey_response_id), "dateCreated": _date(date), "surveyName": survey_name,
        "rewardType": reward_type, "reward": reward.get(reward_type or ""), "customer": customer or person(),
        "answers": [{"question": "How did you hear about us?", "answer": "Instagram"},
                    {"question": "How likely are you to recommend us?", "answer": "9"}],
    } | overrides


def referral(*, activity_type: str = "coupon_received", activity_id: str | None = None,
             date: datetime | str | None = None, referrer: dict | None = None, recipient: dict | None = None,
             customer_role: str | None = None, **overrides: Any) -> Resource:
    """A referral activity; fields follow ``activity_type`` (see ``REFERRAL_ROLES``)."""
    if activity_type not in REFERRAL_ROLES:
        raise ValueError(f"activity_type must be one of {sorted(REFERRAL_ROLES)}")
    aid, created = _id(activity_id), _date(date)
    referrer = referrer or person()
    recipient = recipient or person("sam.lee@example.test", "Sam", "Lee")
    role = customer_role or REFERRAL_ROLES[activity_type]
    out: Resource = {"activityId": aid, "activityType": activity_type, "dateCreated": created,
                     "customerRole": role, "email": (referrer if role == "referrer" else recipient)["email"],
                     "locale": "en-US", "referrer": referrer, "recipient": recipient}
    coupon = {"code": f"REF-{aid[:6].upper()}", "description": "$10 off your first order"}
    order = {"id": "shopify-5531", "number": "#1042", "discountAmount": 10.0, "totalPrice": 64.0}
    extra: dict[str, Resource] = {
        "coupon_received": {"coupon": coupon | {"dateReceived": created, "expiryDate": _plus(created, 30)},
                            "recipientOrder": None},
        "coupon_redeemed": {"coupon": coupon | {"dateRedeemed": created}, "order": order},
        "opted_in": {"dateOptedIn": created, "invitationLink": f"https://okendo.link/{aid[:8]}",
                     "verificationUrl": f"https://okendo.link/verify/{aid[:8]}"},
        "shareable_link_used": {"dateOptedIn": created, "verificationUrl": f"https://okendo.link/verify/{aid[:8]}"},
        "invitation_sent": {"dateSent": created, "invitationUrl": f"https://okendo.link/i/{aid[:8]}"},
        "invitation_received": {"dateSent": created, "invitationUrl": f"https://okendo.link/i/{aid[:8]}"},
        "rejected": {"rejection": {"shouldNotifyCustomer": True, "reason": "Self-referral detected",
                                   "type": "self_referral"}},
    }
    return out | extra[activity_type] | overrides


def _member(member: dict | None) -> dict[str, Any]:
    return member or {"loyaltyCustomerId": str(uuid.uuid4()), "customerId": str(uuid.uuid4()),
                      "email": "jane.doe@example.test", "status": "enrolled", "balance": 250,
                      "vipTierName": "Bronze", "vipTierRank": 1}


def loyalty_customer(*, member: dict | None = None, date: datetime | str | None = None,
                     action: str = "enrolled", description: str = "Joined the loyalty program",
                     activity_id: str | None = None, **overrides: Any) -> Resource:
    """A loyalty member (status, points, VIP tier, dates) from an ``OkendoStore`` member state."""
    m, updated = _member(member), _date(date)
    return {
        "loyaltyCustomerId": m["loyaltyCustomerId"], "customerId": m.get("customerId"), "email": m["email"],
        "status": m["status"], "points": {"balance": m["balance"], "pending": 0},
        "vipTierName": m.get("vipTierName"), "vipTierRank": m.get("vipTierRank"),
        "minimumVipTierName": m.get("minimumVipTierName"), "vipTierExpiryDate": m.get("vipTierExpiryDate"),
        "enrolledDate": m.get("enrolledDate") or updated, "pointsExpiryDate": m.get("pointsExpiryDate"),
        "nextBirthdayDate": m.get("nextBirthdayDate"), "dateUpdated": updated,
        "activityId": _id(activity_id), "description": description, "action": action,
    } | overrides


def _transaction(m: dict, tid: str | None, date: datetime | str | None, points: int, description: str) -> Resource:
    return {"transactionId": _id(tid), "dateCreated": _date(date), "points": int(points),
            "customerId": m.get("customerId"), "email": m["email"], "description": description, "status": "approved",
            "loyaltyCustomerId": m["loyaltyCustomerId"], "balance": m["balance"]}


def earning_transaction(*, member: dict | None = None, points: int = 100, action: str = "order",
                        description: str = "Placed an order", transaction_id: str | None = None,
                        date: datetime | str | None = None, **overrides: Any) -> Resource:
    """Points earned (positive)."""
    return _transaction(_member(member), transaction_id, date, points, description) | {"action": action} | overrides


def redemption_transaction(*, member: dict | None = None, points: int = -500, coupon_code: str = "LOYAL-5OFF",
                           description: str = "$5 off coupon", transaction_id: str | None = None,
                           date: datetime | str | None = None, **overrides: Any) -> Resource:
    """Points spent on a coupon (negative ``points``)."""
    out = _transaction(_member(member), transaction_id, date, -abs(points), description)
    return out | {"coupon": {"code": coupon_code, "description": description}} | overrides


def adjustment_transaction(*, member: dict | None = None, points: int = 50, internal_reason: str = "Goodwill",
                           notification_text: str = "A little thank-you from us", subscriber_id: str | None = None,
                           transaction_id: str | None = None, date: datetime | str | None = None,
                           **overrides: Any) -> Resource:
    """A manual points adjustment by the merchant (either sign)."""
    out = _transaction(_member(member), transaction_id, date, points, "Points adjusted")
    return out | {"subscriberId": subscriber_id, "internalReason": internal_reason,
                  "notificationText": notification_text} | overrides


def tier_upgrade_nudge(*, member: dict | None = None, eligibility_period: str = "lifetime", next_tier: str = "Silver",
                       spend_to_upgrade: float = 40.0, spent: float = 160.0, activity_id: str | None = None,
                       date: datetime | str | None = None, **overrides: Any) -> Resource:
    """A nudge to spend ``spend_to_upgrade`` more for ``next_tier``; ``eligibility_period`` lifetime or window."""
    m, created = _member(member), _date(date)
    out = {"activityId": _id(activity_id), "dateCreated": created, "eligibilityPeriod": eligibility_period,
           "customerId": m.get("customerId"), "email": m["email"], "currentTier": m.get("vipTierName"),
           "nextTier": next_tier, "spendToUpgradeTier": spend_to_upgrade}
    if eligibility_period == "window":
        out |= {"spentWithinWindow": spent, "windowEndDate": _plus(created, 30)}
    else:
        out |= {"allTimeSpend": spent}
    return out | overrides


def customer(*, customer_id: str | None = None, date: datetime | str | None = None, who: dict | None = None,
             review_stats: dict | None = None, survey_response_count: int = 0, referrals: dict | None = None,
             loyalty: dict | None = None, nps: dict | None = None, **overrides: Any) -> Resource:
    """An Okendo customer profile with its review, NPS, referral and loyalty aggregates."""
    who = who or person()
    return {
        "customerId": _id(customer_id), "dateUpdated": _date(date), "email": who["email"],
        "givenName": who.get("firstName"), "familyName": who.get("lastName"),
        "reviewStats": review_stats or {"averageRating": None, "averageSentiment": None, "latestRating": None,
                                        "latestSentiment": None, "count": 0},
        "nps": nps, "surveyResponseCount": survey_response_count,
        "referrals": referrals or {"shareableLink": None, "successfulCount": 0, "latestSuccessfulDate": None,
                                   "totalRevenue": 0.0},
        "loyalty": loyalty,
    } | overrides


BUILDERS: dict[str, Callable[..., Resource]] = {
    "review": review, "review_request": review_request, "quiz_response": quiz_response,
    "survey_response": survey_response, "referral": referral, "loyalty_customer": loyalty_customer,
    "loyalty_earning_transaction": earning_transaction, "loyalty_redemption_transaction": redemption_transaction,
    "loyalty_adjustment_transaction": adjustment_transaction, "loyalty_tier_upgrade_nudge": tier_upgrade_nudge,
    "customer": customer,
}
