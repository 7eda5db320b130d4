"""Okendo simulator: the Enterprise REST API's loyalty lookup plus Svix-signed webhook deliveries.

Okendo has no program-wide list endpoint (research/providers.md §2), so the pipeline's feed is
webhooks; the REST side only answers ``GET /enterprise/loyalty/customers?email=|loyaltyCustomerId=``
for reconciliation. Mimicked: HTTP Basic ``userId:apiKey``, the required
``okendo-api-version: 2025-02-01`` header (400 without it), "2 requests per second with a small
burst" as a token bucket (2/s, burst 4) per credential with a bare 429, ``{"message": ...}``
errors. There are no list endpoints, so ``on_page`` and ``duplicate_across_pages`` do not apply.

``OkendoStore`` methods change loyalty/review/referral state and return the resource a webhook
would carry; every one is also appended to ``store.deliveries`` as ``(resource_type, topic,
resource)``, ready for ``OkendoWebhookSender``. ``resources`` holds the stateless builders.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable

from pipeline.sim import okendo_resources as resources
from pipeline.sim.limiters import TokenBucket
from pipeline.sim.server import HttpError, Request, Response, SimServer, iso_ms, json_response
from pipeline.sim.webhooks import OKENDO_API_VERSION as API_VERSION
from pipeline.sim.webhooks import OkendoDelivery, OkendoWebhookSender

__all__ = ["API_VERSION", "OkendoDelivery", "OkendoSimulator", "OkendoStore", "OkendoWebhookSender", "resources"]

_STATUSES = ("enrolled", "pending", "blocked")


class OkendoStore:
    """One store (one ``userId``/``apiKey`` pair) with its loyalty members and shoppers.

    ``members`` maps loyaltyCustomerId -> member state (``email``, ``status``, ``balance``,
    ``vipTierName``/``vipTierRank``, dates...); ``people`` maps email -> shopper aggregates
    (review ratings, survey count, referrals). ``vip_tiers`` is the tier ladder (rank = index+1).
    """

    def __init__(self, sim: OkendoSimulator, user_id: str, api_key: str) -> None:
        self.sim = sim
        self.user_id = user_id
        self.api_key = api_key
        self.vip_tiers: tuple[str, ...] = ("Bronze", "Silver", "Gold")
        self.members: dict[str, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.deliveries: list[OkendoDelivery] = []
        self._seq = itertools.count(1)

    # -- helpers -----------------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"okendo:{self.user_id}:{next(self._seq)}"))

    def _emit(self, resource_type: str, topic: str, resource: dict[str, Any]) -> dict[str, Any]:
        self.deliveries.append((resource_type, topic, resource))
        return resource

    def _person(self, email: str, first_name: str | None = None, last_name: str | None = None) -> dict[str, Any]:
        p = self.people.get(email.lower())
        if p is None:
            p = self.people[email.lower()] = {
                "customerId": self._uuid(), "email": email, "firstName": first_name, "lastName": last_name,
                "ratings": [], "sentiments": [], "surveys": 0, "referrals": 0, "referralDates": [],
                "referralRevenue": 0.0}
        p["firstName"], p["lastName"] = first_name or p["firstName"], last_name or p["lastName"]
        return p

    def _who(self, email: str) -> dict[str, Any]:
        p = self._person(email)
        return resources.person(p["email"], p["firstName"], p["lastName"])

    def find_member(self, email: str) -> dict[str, Any] | None:
        """The member with this email (case-insensitive), or None."""
        with self.sim.lock:
            return next((m for m in self.members.values() if m["email"].lower() == email.lower()), None)

    def _member_event(self, m: dict[str, Any], stamp: str, topic: str, action: str, description: str) -> dict:
        return self._emit("loyalty_customer", topic, resources.loyalty_customer(
            member=dict(m), date=stamp, action=action, description=description, activity_id=self._uuid()))

    # -- loyalty -----------------------------------------------------------------------------
    def enroll(self, email: str, *, first_name: str | None = None, last_name: str | None = None,
               status: str = "enrolled", birthday: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        """Create a loyalty member (``birthday`` as ``YYYY-MM-DD``); returns its loyalty_customer resource."""
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}")
        with self.sim.lock:
            when = at or self.sim.now()
            p, stamp = self._person(email, first_name, last_name), iso_ms(when)
            nxt = None
            if birthday:
                born = datetime.fromisoformat(birthday)
                bday, later = (datetime(y, born.month, min(born.day, 28 if born.month == 2 and y % 4 else 31),
                                        tzinfo=when.tzinfo) for y in (when.year, when.year + 1))
                nxt = iso_ms(bday if bday > when else later)
            m = {"loyaltyCustomerId": self._uuid(), "customerId": p["customerId"], "email": email,
                 "firstName": p["firstName"], "lastName": p["lastName"], "status": status, "balance": 0,
                 "vipTierName": self.vip_tiers[0], "vipTierRank": 1, "minimumVipTierName": None,
                 "vipTierExpiryDate": None, "enrolledDate": stamp, "pointsExpiryDate": None,
                 "nextBirthdayDate": nxt, "subscriberId": None}
            self.members[m["loyaltyCustomerId"]] = m
            return self._member_event(m, stamp, "create", "enrolled", "Joined the loyalty program")

    def _points(self, member_id: str, delta: int, when: datetime) -> dict[str, Any]:
        m = self.members[member_id]
        if m["balance"] + delta < 0:
            raise ValueError(f"member {member_id} has only {m['balance']} points")
        m["balance"] += delta
        m["pointsExpiryDate"] = iso_ms(when + timedelta(days=365)) if m["balance"] else None
        return m

    def earn(self, member_id: str, points: int, *, action: str = "order", description: str = "Placed an order",
             at: datetime | None = None) -> dict[str, Any]:
        """Award points; emits the earning transaction (returned) and the member's update."""
        with self.sim.lock:
            when = at or self.sim.now()
            m, stamp = self._points(member_id, abs(int(points)), when), iso_ms(when)
            txn = self._emit("loyalty_earning_transaction", "create", resources.earning_transaction(
                member=dict(m), points=abs(int(points)), action=action, description=description,
                transaction_id=self._uuid(), date=stamp))
            self._member_event(m, stamp, "update", "points_earned", description)
            return txn

    def redeem(self, member_id: str, points: int, *, coupon_code: str | None = None,
               description: str = "$5 off coupon", at: datetime | None = None) -> dict[str, Any]:
        """Spend points on a coupon (ValueError if the balance is short); emits like ``earn``."""
        with self.sim.lock:
            when = at or self.sim.now()
            m, stamp = self._points(member_id, -abs(int(points)), when), iso_ms(when)
            tid = self._uuid()
            txn = self._emit("loyalty_redemption_transaction", "create", resources.redemption_transaction(
                member=dict(m), points=abs(int(points)), coupon_code=coupon_code or f"LOYAL-{tid[:6].upper()}",
                description=description, transaction_id=tid, date=stamp))
            self._member_event(m, stamp, "update", "points_redeemed", description)
            return txn

    def adjust(self, member_id: str, points: int, *, internal_reason: str = "Goodwill",
               notification_text: str = "A little thank-you from us", at: datetime | None = None) -> dict[str, Any]:
        """A merchant adjustment (either sign); emits like ``earn``."""
        with self.sim.lock:
            when = at or self.sim.now()
            m, stamp = self._points(member_id, int(points), when), iso_ms(when)
            txn = self._emit("loyalty_adjustment_transaction", "create", resources.adjustment_transaction(
                member=dict(m), points=int(points), internal_reason=internal_reason,
                notification_text=notification_text, subscriber_id=m["subscriberId"], transaction_id=self._uuid(),
                date=stamp))
            self._member_event(m, stamp, "update", "points_adjusted", notification_text)
            return txn

    def set_status(self, member_id: str, status: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Change the member's status; returns the loyalty_customer update."""
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}")
        with self.sim.lock:
            m = self.members[member_id]
            m["status"] = status
            return self._member_event(m, iso_ms(at or self.sim.now()), "update", status, f"Status changed to {status}")

    def set_tier(self, member_id: str, tier: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Move the member to VIP ``tier`` (one of ``vip_tiers``) for a year; returns the update."""
        with self.sim.lock:
            when, m = at or self.sim.now(), self.members[member_id]
            m.update(vipTierName=tier, vipTierRank=self.vip_tiers.index(tier) + 1,
                     vipTierExpiryDate=iso_ms(when + timedelta(days=365)))
            return self._member_event(m, iso_ms(when), "update", "vip_tier_changed", f"Reached {tier}")

    def nudge(self, member_id: str, *, eligibility_period: str = "lifetime", spend_to_upgrade: float = 40.0,
              at: datetime | None = None) -> dict[str, Any]:
        """A tier-upgrade nudge towards the member's next tier."""
        with self.sim.lock:
            m = self.members[member_id]
            nxt = self.vip_tiers[min(m["vipTierRank"], len(self.vip_tiers) - 1)]
            return self._emit("loyalty_tier_upgrade_nudge", "create", resources.tier_upgrade_nudge(
                member=dict(m), eligibility_period=eligibility_period, next_tier=nxt,
                spend_to_upgrade=spend_to_upgrade, activity_id=self._uuid(), date=at or self.sim.now()))

    # -- reviews, surveys, referrals -----------------------------------------------------------
    def add_review(self, email: str, rating: int, *, first_name: str | None = None, last_name: str | None = None,
                   media_types: tuple[str, ...] = (), reward_points: float | None = None,
                   at: datetime | None = None) -> dict[str, Any]:
        """A review by ``email``; updates their review stats."""
        with self.sim.lock:
            p = self._person(email, first_name, last_name)
            p["ratings"].append(rating)
            p["sentiments"].append("positive" if rating >= 4 else "negative")
            reward = {"coupon": None, "loyalty": {"events": ["review_created"], "points": reward_points,
                                                  "provider": "okendo"}} if reward_points else None
            stats = {"averageRating": round(sum(p["ratings"]) / len(p["ratings"]), 2),
                     "hasSubmittedMedia": bool(media_types), "latestRating": rating,
                     "numberOfReviews": len(p["ratings"])}
            return self._emit("review", "create", resources.review(
                review_id=self._uuid(), date=at or self.sim.now(), reviewer=self._who(email), rating=rating,
                media_types=media_types, reward=reward, customer_stats=stats))

    def add_review_request(self, email: str, *, status: str = "sent", at: datetime | None = None) -> dict[str, Any]:
        """A review request sent to ``email``."""
        with self.sim.lock:
            return self._emit("review_request", "create", resources.review_request(
                review_request_id=self._uuid(), date=at or self.sim.now(), customer=self._who(email), status=status))

    def cancel_review_request(self, request: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        """The update of a cancelled review request."""
        with self.sim.lock:
            updated = dict(request, status="cancelled", dateUpdated=iso_ms(at or self.sim.now()))
            return self._emit("review_request", "update", updated)

    def add_quiz_response(self, email: str, *, at: datetime | None = None) -> dict[str, Any]:
        """A completed quiz by ``email``."""
        with self.sim.lock:
            return self._emit("quiz_response", "create", resources.quiz_response(
                quiz_response_id=self._uuid(), activity_id=self._uuid(), date=at or self.sim.now(),
                customer=self._who(email)))

    def add_survey_response(self, email: str, *, reward_type: str | None = None,
                            at: datetime | None = None) -> dict[str, Any]:
        """A survey response by ``email`` (``reward_type`` None, coupon or loyalty)."""
        with self.sim.lock:
            self._person(email)["surveys"] += 1
            return self._emit("survey_response", "create", resources.survey_response(
                survey_response_id=self._uuid(), date=at or self.sim.now(), customer=self._who(email),
                reward_type=reward_type))

    def add_referral(self, activity_type: str, referrer_email: str, recipient_email: str, *,
                     at: datetime | None = None) -> dict[str, Any]:
        """A referral activity; ``coupon_redeemed`` counts as a successful referral for the referrer."""
        with self.sim.lock:
            when = at or self.sim.now()
            res = resources.referral(activity_type=activity_type, activity_id=self._uuid(), date=when,
                                     referrer=self._who(referrer_email), recipient=self._who(recipient_email))
            if activity_type == "coupon_redeemed":
                p = self._person(referrer_email)
                p["referrals"] += 1
                p["referralDates"].append(iso_ms(when))
                p["referralRevenue"] += res["order"]["totalPrice"]
            return self._emit("referral", "create", res)

    def customer_profile(self, email: str, *, topic: str = "update", at: datetime | None = None) -> dict[str, Any]:
        """The shopper's ``customer`` resource with current aggregates (and loyalty, if a member)."""
        with self.sim.lock:
            p, m = self._person(email), self.find_member(email)
            loyalty = {"enrolledDate": m["enrolledDate"], "nextBirthdayDate": m["nextBirthdayDate"],
                       "pointsBalance": m["balance"], "pointsExpiryDate": m["pointsExpiryDate"], "status": m["status"],
                       "vipTierName": m["vipTierName"], "vipTierExpiryDate": m["vipTierExpiryDate"]} if m else None
            ratings = p["ratings"]
            stats = {"averageRating": round(sum(ratings) / len(ratings), 2) if ratings else None,
                     "averageSentiment": max(set(p["sentiments"]), key=p["sentiments"].count) if ratings else None,
                     "latestRating": ratings[-1] if ratings else None,
                     "latestSentiment": p["sentiments"][-1] if ratings else None, "count": len(ratings)}
            referrals = {"shareableLink": f"https://okendo.link/{p['customerId'][:8]}",
                         "successfulCount": p["referrals"],
                         "latestSuccessfulDate": (p["referralDates"] or [None])[-1],
                         "totalRevenue": p["referralRevenue"]}
            return self._emit("customer", topic, resources.customer(
                customer_id=p["customerId"], date=at or self.sim.now(), who=self._who(email), review_stats=stats,
                survey_response_count=p["surveys"], referrals=referrals, loyalty=loyalty))


class OkendoSimulator(SimServer):
    """Okendo Enterprise API on loopback under ``/enterprise``; ``add_store(user_id, api_key)``.

    Args:
        rate_per_s, burst: the per-credential token bucket (``rate_per_s=None`` disables it).
        monotonic: the bucket's clock (inject to test without sleeping).
    """

    def __init__(self, port: int = 0, *, rate_per_s: float | None = 2, burst: int = 4,
                 now: Callable[[], datetime] | None = None, monotonic: Callable[[], float] = time.monotonic,
                 **kwargs: Any) -> None:
        super().__init__(port, rate_per_s=None, now=now, monotonic=monotonic, **kwargs)
        if rate_per_s:
            self.limiter = TokenBucket(rate_per_s, burst, monotonic)
        self.stores: dict[str, OkendoStore] = {}
        self.route("GET", r"/enterprise/loyalty/customers", self._loyalty_customer)

    def add_store(self, user_id: str, api_key: str) -> OkendoStore:
        """Register a store's credentials and return the (empty) store."""
        with self.lock:
            store = self.stores[user_id] = OkendoStore(self, user_id, api_key)
            return store

    def authenticate(self, req: Request) -> OkendoStore:
        scheme, _, cred = req.headers.get("authorization", "").partition(" ")
        store = None
        if scheme.lower() == "basic":
            try:
                user, _, key = base64.b64decode(cred.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = key = ""
            store = self.stores.get(user)
            store = store if store is not None and store.api_key == key else None
        if store is None:
            raise HttpError(401, "Unauthorized: invalid user ID or API key")
        version = req.headers.get("okendo-api-version")
        if version != API_VERSION:
            raise HttpError(400, f"okendo-api-version header must be {API_VERSION!r}, got {version!r}")
        return store

    def rate_key(self, req: Request) -> str | None:
        return req.ctx.user_id if req.ctx is not None else None

    def rate_limited_error(self) -> HttpError:
        return HttpError(429, "Too Many Requests")

    def error_response(self, exc: HttpError) -> Response:
        return json_response(exc.status, {"message": exc.message}, exc.headers)

    def _loyalty_customer(self, req: Request) -> Response:
        store: OkendoStore = req.ctx
        for name in sorted(set(req.query) - {"email", "loyaltyCustomerId"}):
            raise HttpError(400, f"Unknown query parameter {name!r}")
        email, lid = req.arg("email"), req.arg("loyaltyCustomerId")
        if (email is None) == (lid is None) or not (email or lid):
            raise HttpError(400, "Exactly one of email or loyaltyCustomerId is required")
        with self.lock:
            m = store.find_member(email) if email else store.members.get(lid or "")
            if m is None:
                raise HttpError(404, "Loyalty customer not found")
            return json_response(200, {"loyaltyCustomer": {
                "loyaltyCustomerId": m["loyaltyCustomerId"], "minimumVipTierName": m["minimumVipTierName"],
                "points": {"balance": m["balance"]}, "status": m["status"], "vipTierName": m["vipTierName"]}})
