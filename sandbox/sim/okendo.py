"""Okendo simulator: the Enterprise REST API the pipeline reads plus Svix-signed webhook deliveries.

Okendo has no program-wide list of loyalty activity (research/providers.md §2), so the pipeline's
feed is webhooks. The REST side answers what rest-api.md documents and the pipeline reads:
``GET /enterprise/loyalty/customers?email=|loyaltyCustomerId=`` (reconciliation),
``GET /enterprise/customers/{customerId}`` (given and family name) and ``GET /enterprise/reviews``
(paged by ``lastEvaluated`` with a relative ``nextUrl``; the review backfill). Mimicked: HTTP Basic
``userId:apiKey``, the required ``okendo-api-version: 2025-02-01`` header (400 without it), "2
requests per second with a small burst" as a token bucket (2/s, burst 4) per credential with a
429, ``{"error": {"description": ...}}`` errors.

``OkendoStore`` methods change loyalty/review/referral state and return the resource a webhook
would carry, in the documented shapes (``okendo_resources``); every one is also appended to
``store.deliveries`` as ``(resource_type, topic, resource)``, ready for ``OkendoWebhookSender``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable
from urllib.parse import urlencode

from sandbox.sim import okendo_resources as resources
from sandbox.sim.limiters import TokenBucket
from sandbox.sim.server import HttpError, Request, Response, SimServer, iso_ms, json_response
from sandbox.sim.webhooks import OKENDO_API_VERSION as API_VERSION
from sandbox.sim.webhooks import OkendoDelivery, OkendoWebhookSender

__all__ = ["API_VERSION", "OkendoDelivery", "OkendoSimulator", "OkendoStore", "OkendoWebhookSender", "resources"]

_STATUSES = ("enrolled", "pending", "blocked")


class OkendoStore:
    """One store (one ``userId``/``apiKey`` pair) with its loyalty members, shoppers and reviews.

    ``members`` maps loyaltyCustomerId -> member state (``email``, ``status``, ``balance``,
    ``vipTierName``, ``birthday{day, month}``, dates...); ``people`` maps email -> the Okendo
    Customer (``customerId``, names), served by ``GET /customers/{customerId}``; ``reviews``
    maps reviewId -> the Review object served by ``GET /reviews``.
    """

    def __init__(self, sim: OkendoSimulator, user_id: str, api_key: str) -> None:
        self.sim = sim
        self.user_id = user_id
        self.api_key = api_key
        self.subscriber_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"okendo-subscriber:{user_id}"))
        self.vip_tiers: tuple[str, ...] = ("Bronze", "Silver", "Gold")
        self.members: dict[str, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.reviews: dict[str, dict[str, Any]] = {}
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
            p = self.people[email.lower()] = {"customerId": self._uuid(), "email": email, "givenName": first_name,
                                              "familyName": last_name, "dateFirstActive": iso_ms(self.sim.now())}
        p["givenName"], p["familyName"] = first_name or p["givenName"], last_name or p["familyName"]
        return p

    def _ref(self, email: str) -> dict[str, Any]:
        return resources.customer_ref(email, self._person(email)["customerId"])

    def _who(self, email: str) -> dict[str, Any]:
        p = self._person(email)
        full = " ".join(n for n in (p["givenName"], p["familyName"]) if n) or None
        return {"email": p["email"], "firstName": p["givenName"], "lastName": p["familyName"], "fullName": full,
                "customerId": p["customerId"]}

    def find_member(self, email: str) -> dict[str, Any] | None:
        """The member with this email (case-insensitive), or None."""
        with self.sim.lock:
            return next((m for m in self.members.values() if m["email"].lower() == email.lower()), None)

    def _member_event(self, m: dict[str, Any], topic: str) -> dict:
        return self._emit("loyalty_customer", topic, resources.loyalty_customer(member=dict(m)))

    # -- loyalty -----------------------------------------------------------------------------
    def enroll(self, email: str, *, first_name: str | None = None, last_name: str | None = None,
               status: str = "enrolled", birthday: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        """Create a loyalty member (``birthday`` as ``YYYY-MM-DD``: Okendo keeps its day and
        month); returns its loyalty_customer resource."""
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}")
        with self.sim.lock:
            when = at or self.sim.now()
            p, stamp = self._person(email, first_name, last_name), iso_ms(when)
            born = datetime.fromisoformat(birthday) if birthday else None
            m = {"loyaltyCustomerId": self._uuid(), "customerId": p["customerId"], "email": email, "status": status,
                 "balance": 0, "vipTierName": self.vip_tiers[0], "minimumVipTierName": None,
                 "vipTierExpiryDate": None, "enrolledDate": stamp if status == "enrolled" else None,
                 "pointsExpiryDate": None, "subscriberId": self.subscriber_id,
                 "birthday": {"day": born.day, "month": born.month} if born else None}
            self.members[m["loyaltyCustomerId"]] = m
            return self._member_event(m, "create")

    def _points(self, member_id: str, delta: int, when: datetime) -> dict[str, Any]:
        m = self.members[member_id]
        if m["balance"] + delta < 0:
            raise ValueError(f"member {member_id} has only {m['balance']} points")
        m["balance"] += delta
        m["pointsExpiryDate"] = iso_ms(when + timedelta(days=365)) if m["balance"] else None
        return m

    def earn(self, member_id: str, points: int, *, action: str = "points-per-spend",
             description: str = "Placed an order", at: datetime | None = None) -> dict[str, Any]:
        """Award points; emits the earning transaction (returned) and the member's update."""
        with self.sim.lock:
            when = at or self.sim.now()
            m = self._points(member_id, abs(int(points)), when)
            txn = self._emit("loyalty_earning_transaction", "create", resources.earning_transaction(
                member=dict(m), points=abs(int(points)), action=action, description=description,
                transaction_id=self._uuid(), date=iso_ms(when)))
            self._member_event(m, "update")
            return txn

    def redeem(self, member_id: str, points: int, *, coupon_code: str | None = None,
               description: str = "$5 off coupon", at: datetime | None = None) -> dict[str, Any]:
        """Spend points on a coupon (ValueError if the balance is short); emits like ``earn``."""
        with self.sim.lock:
            when = at or self.sim.now()
            m = self._points(member_id, -abs(int(points)), when)
            tid = self._uuid()
            txn = self._emit("loyalty_redemption_transaction", "create", resources.redemption_transaction(
                member=dict(m), points=abs(int(points)), coupon_code=coupon_code or f"LOYAL-{tid[:6].upper()}",
                description=description, transaction_id=tid, date=iso_ms(when)))
            self._member_event(m, "update")
            return txn

    def adjust(self, member_id: str, points: int, *, internal_reason: str = "Manual Adjustment",
               notification_text: str = "Manual Store Adjustment", at: datetime | None = None) -> dict[str, Any]:
        """A merchant adjustment (either sign); emits like ``earn``."""
        with self.sim.lock:
            when = at or self.sim.now()
            m = self._points(member_id, int(points), when)
            txn = self._emit("loyalty_adjustment_transaction", "create", resources.adjustment_transaction(
                member=dict(m), points=int(points), internal_reason=internal_reason,
                notification_text=notification_text, transaction_id=self._uuid(), date=iso_ms(when)))
            self._member_event(m, "update")
            return txn

    def delete_transaction(self, resource_type: str, transaction: dict[str, Any]) -> dict[str, Any]:
        """The ``delete`` delivery of a transaction (Okendo drops ``customer``)."""
        with self.sim.lock:
            return self._emit(resource_type, "delete", resources.deleted(resource_type, transaction))

    def set_status(self, member_id: str, status: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Change the member's status; returns the loyalty_customer update."""
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}")
        with self.sim.lock:
            m = self.members[member_id]
            m["status"] = status
            if status == "enrolled" and not m["enrolledDate"]:
                m["enrolledDate"] = iso_ms(at or self.sim.now())
            return self._member_event(m, "update")

    def set_tier(self, member_id: str, tier: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Move the member to VIP ``tier`` (one of ``vip_tiers``) for a year; returns the update."""
        with self.sim.lock:
            when, m = at or self.sim.now(), self.members[member_id]
            m.update(vipTierName=tier, vipTierExpiryDate=iso_ms(when + timedelta(days=365)))
            return self._member_event(m, "update")

    # -- reviews, surveys, quizzes, referrals ----------------------------------------------------
    def add_review(self, email: str, rating: int, *, first_name: str | None = None, last_name: str | None = None,
                   media_types: tuple[str, ...] = (), reward: dict[str, Any] | None = None,
                   at: datetime | None = None) -> dict[str, Any]:
        """A review by ``email`` (kept for ``GET /reviews``)."""
        with self.sim.lock:
            who = self._who(self._person(email, first_name, last_name)["email"])
            out = resources.review(review_id=self._uuid(), date=at or self.sim.now(), email=email,
                                   name=who["fullName"] or email, rating=rating, media_types=media_types,
                                   reward=reward, subscriberId=self.subscriber_id)
            self.reviews[out["reviewId"]] = out
            return self._emit("review", "create", out)

    def delete_review(self, review_id: str) -> dict[str, Any]:
        """Remove a review; the ``delete`` delivery carries only its id (webhooks.md §7: a delete needs
        only its ids)."""
        with self.sim.lock:
            self.reviews.pop(review_id)
            return self._emit("review", "delete", {"reviewId": review_id, "subscriberId": self.subscriber_id})

    def add_quiz_response(self, email: str, *, at: datetime | None = None) -> dict[str, Any]:
        """A completed quiz by ``email``."""
        with self.sim.lock:
            return self._emit("quiz_response", "create", resources.quiz_response(
                quiz_response_id=self._uuid(), date=at or self.sim.now(), customer=self._ref(email),
                subscriberId=self.subscriber_id))

    def add_survey_response(self, email: str, *, reward_type: str | None = None, nps: int | None = 9,
                            at: datetime | None = None) -> dict[str, Any]:
        """A survey response by ``email`` (``reward_type`` None, coupon or loyalty)."""
        with self.sim.lock:
            return self._emit("survey_response", "create", resources.survey_response(
                survey_response_id=self._uuid(), date=at or self.sim.now(), customer=self._ref(email),
                reward_type=reward_type, nps=nps, subscriberId=self.subscriber_id))

    def add_referral(self, activity_type: str, referrer_email: str, recipient_email: str, *,
                     at: datetime | None = None) -> dict[str, Any]:
        """A referral activity; ``coupon_redeemed`` is a successful referral for the referrer."""
        with self.sim.lock:
            return self._emit("referral", "create", resources.referral(
                activity_type=activity_type, referral_id=self._uuid(), date=at or self.sim.now(),
                referrer=self._who(referrer_email), recipient=self._who(recipient_email),
                subscriberId=self.subscriber_id))


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
        self.route("GET", r"/enterprise/customers/(?P<id>[^/]+)", self._customer)
        self.route("GET", r"/enterprise/reviews", self._reviews)

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
        return json_response(exc.status, {"error": {"description": exc.message}}, exc.headers)

    def _customer(self, req: Request) -> Response:
        """``GET /customers/{customerId}``: the documented basic details (rest-api.md §2.2)."""
        store: OkendoStore = req.ctx
        with self.lock:
            p = next((p for p in store.people.values() if p["customerId"] == req.params["id"]), None)
            if p is None:
                raise HttpError(404, "Customer not found")
            return json_response(200, {"dateFirstActive": p["dateFirstActive"], "dateLastActive": p["dateFirstActive"],
                                       "email": p["email"], "givenName": p["givenName"],
                                       "familyName": p["familyName"]})

    def _reviews(self, req: Request) -> Response:
        """``GET /reviews?limit&lastEvaluated&orderBy&status`` (rest-api.md §4.1): approved reviews by
        default, newest first; ``nextUrl`` is relative and carries ``lastEvaluated`` (URL-encoded JSON)."""
        store: OkendoStore = req.ctx
        for name in sorted(set(req.query) - {"limit", "lastEvaluated", "orderBy", "status"}):
            raise HttpError(400, f"Unknown query parameter {name!r}")
        limit = int(req.arg("limit") or 25)
        if not 1 <= limit <= 100:
            raise HttpError(400, "limit must be between 1 and 100")
        status = req.arg("status") or "approved"
        try:
            after = json.loads(req.arg("lastEvaluated") or "null")
        except ValueError:
            raise HttpError(400, "lastEvaluated is not valid JSON") from None
        with self.lock:
            rows = sorted((r for r in store.reviews.values() if r.get("status", "approved") == status),
                          key=lambda r: (r["dateCreated"], r["reviewId"]), reverse=True)
            if isinstance(after, dict):
                mark = (after.get("dateCreated", ""), after.get("reviewId", ""))
                rows = [r for r in rows if (r["dateCreated"], r["reviewId"]) < mark]
            page, more = rows[:limit], len(rows) > limit
            body: dict[str, Any] = {"reviews": page}
            if more:
                cursor = json.dumps({"dateCreated": page[-1]["dateCreated"], "reviewId": page[-1]["reviewId"]})
                body["nextUrl"] = f"/reviews?{urlencode({'limit': limit, 'lastEvaluated': cursor, 'status': status})}"
            return json_response(200, body)

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

