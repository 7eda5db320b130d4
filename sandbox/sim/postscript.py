"""Postscript Partner API v2 simulator: custom events and subscribers, per shop key.

Strict where the real API is documented (event ``type`` charset, ``occurred_at`` format,
subscriber property values of the documented types: strings, integers, booleans, string
arrays, never a float; 50 custom subscriber properties), answers 202 to accepted events and
records everything so tests can count deliveries and duplicates. ``POST /api/v2/subscribers``
(developers.postscript.io/reference/create-subscriber; absent from the harvested spec) takes
``phone_number`` (required), ``email``, ``shopify_customer_id``, ``tags``, ``properties``,
``keyword``/``keyword_id``; a created subscriber is pending until it opts in (``can_send``
false), as Postscript documents. Errors use Postscript's
``{"error_code", "error_message", "success": false}`` envelope (plus ``field`` on 400s).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sandbox.sim.server import HttpError, Request, Response, SimServer, iso_ms, json_response, parse_json_body

__all__ = ["PostscriptShop", "PostscriptSimulator"]

EVENT_TYPE_RE = re.compile(r"[A-Za-z0-9_]{1,100}")
OCCURRED_AT_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
MAX_CUSTOM_PROPERTIES = 50
_EVENT_KEYS = {"type", "subscriber_id", "phone", "email", "occurred_at", "properties", "external_id"}
_PATCH_KEYS = {"email", "tags", "properties"}
_CREATE_KEYS = {"phone_number", "email", "shopify_customer_id", "tags", "properties", "keyword", "keyword_id"}
_LIST_PARAMS = {"email__eq", "phone_number__eq", "page"}
_ERROR_CODES = {400: 4000, 401: 1001, 404: 4004, 405: 4005, 429: 3002}


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def _iso_s(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bad(field: str, message: str) -> HttpError:
    return HttpError(400, f"{field}: {message}", field=field)


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float))


class PostscriptShop:
    """One shop (one ``sk_`` key): subscribers plus everything the pipeline sent it.

    Attributes: ``subscribers`` (id -> live subscriber dict), ``events`` (accepted event bodies
    plus ``event_id`` and ``received_at``), ``events_by_external_id`` (external_id -> events),
    ``patches`` (``(subscriber_id, body)`` per accepted PATCH), ``created`` (ids made by
    ``POST /api/v2/subscribers``).
    """

    def __init__(self, sim: PostscriptSimulator, shop_id: str, api_key: str, name: str) -> None:
        self.shop_id = shop_id
        self.api_key = api_key
        self.name = name
        self.subscribers: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.events_by_external_id: dict[str, list[dict[str, Any]]] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.created: list[str] = []
        self.sim = sim

    def add_subscriber(
        self,
        email: str | None = None,
        phone_number: str | None = None,
        properties: dict[str, Any] | None = None,
        *,
        tags: Iterable[str] = (),
        shopify_customer_id: int | None = None,
        can_send: bool = True,
    ) -> dict[str, Any]:
        """Create an opted-in subscriber; returns the live record."""
        with self.sim.lock:
            n = next(self.sim._subscriber_seq)
            stamp = _iso_s(self.sim.now())
            sub = {
                "id": f"s_{n * 0x9E3779B97F4A7C15 % (1 << 80):020x}",  # unique, not sequential-looking
                "email": email, "phone_number": phone_number, "properties": dict(properties or {}),
                "tags": list(tags), "data": {},
                "subscriptions": {"promotional": {"can_send": can_send}, "transactional": {"can_send": can_send}},
                "shopify_customer_id": shopify_customer_id, "ps_id": n,
                "created_at": stamp, "updated_at": stamp,
            }
            self.subscribers[str(sub["id"])] = sub
            return sub

    def find_subscriber(
        self, *, subscriber_id: str | None = None, phone: str | None = None, email: str | None = None
    ) -> dict[str, Any] | None:
        """Resolve like Postscript matches events: subscriber_id, then phone, then newest email."""
        with self.sim.lock:
            if subscriber_id and subscriber_id in self.subscribers:
                return self.subscribers[subscriber_id]
            if phone and _digits(phone):
                for sub in self.subscribers.values():
                    if _digits(sub["phone_number"]) == _digits(phone):
                        return sub
            if email:
                for sub in reversed(self.subscribers.values()):
                    if (sub["email"] or "").lower() == email.lower():
                        return sub
            return None

    def events_of_type(self, event_type: str) -> list[dict[str, Any]]:
        """Accepted events with this ``type``."""
        with self.sim.lock:
            return [e for e in self.events if e["type"] == event_type]


class PostscriptSimulator(SimServer):
    """Postscript API v2 on loopback; ``add_shop(api_key)`` creates a shop.

    Args:
        port: 0 picks a free port.
        rate_per_s: requests per second per token (partner, shop, or partner+shop pair); None = off.
        now: wall clock (UTC, aware) for timestamps.
        partner_keys: partner keys accepted in ``Authorization`` with ``X-Postscript-Shop-Token``.
        page_size: subscribers per page of ``GET /api/v2/subscribers``.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        rate_per_s: float | None = 15,
        now: Callable[[], datetime] | None = None,
        partner_keys: Iterable[str] = (),
        page_size: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(port, rate_per_s=rate_per_s, now=now, **kwargs)
        self.partner_keys: set[str] = set(partner_keys)
        self.page_size = page_size
        self.shops: dict[str, PostscriptShop] = {}
        self._shop_seq = itertools.count(1)
        self._subscriber_seq = itertools.count(1)
        self.route("POST", r"/api/v2/events", self._create_event)
        self.route("GET", r"/api/v2/subscribers", self._list_subscribers)
        self.route("GET", r"/api/v2/subscribers/(?P<id>[^/]+)", self._get_subscriber)
        self.route("PATCH", r"/api/v2/subscribers/(?P<id>[^/]+)", self._patch_subscriber)
        self.route("POST", r"/api/v2/subscribers", self._create_subscriber)
        self.route("GET", r"/api/v2/me", self._me)

    def add_shop(self, api_key: str, name: str | None = None) -> PostscriptShop:
        """Register a shop private key (``sk_...``) and return the shop."""
        with self.lock:
            n = next(self._shop_seq)
            shop = PostscriptShop(self, f"shop_{n}", api_key, name or f"Sim Shop {n}")
            self.shops[api_key] = shop
            return shop

    # -- hooks -------------------------------------------------------------------------------
    def authenticate(self, req: Request) -> tuple[PostscriptShop | None, str]:
        """(shop or None for a partner-only call, rate-limit token)."""
        scheme, _, cred = req.headers.get("authorization", "").partition(" ")
        key = cred.strip() if scheme.lower() == "bearer" else None
        if scheme.lower() == "basic":  # legacy: base64("<key>:")
            try:
                key = base64.b64decode(cred.strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = None
        if key and key in self.partner_keys:
            shop_key = req.headers.get("x-postscript-shop-token")
            if shop_key is None:
                return None, key
            if shop_key in self.shops:
                return self.shops[shop_key], f"{key}|{shop_key}"
            raise HttpError(401, "Unknown X-Postscript-Shop-Token")
        if key and key in self.shops:
            return self.shops[key], key
        raise HttpError(401, "Missing or invalid API key")

    def rate_key(self, req: Request) -> str | None:
        return req.ctx[1] if req.ctx else None

    def rate_limited_error(self) -> HttpError:
        return HttpError(429, "Rate limit exceeded", code=3002)

    def error_response(self, exc: HttpError) -> Response:
        code = exc.code if isinstance(exc.code, int) else _ERROR_CODES.get(exc.status, exc.status)
        body: dict[str, Any] = {"error_code": code, "error_message": exc.message, "success": False}
        if exc.field is not None:
            body["field"] = exc.field
        return json_response(exc.status, body, exc.headers)

    # -- handlers ----------------------------------------------------------------------------
    @staticmethod
    def _shop(req: Request) -> PostscriptShop:
        shop: PostscriptShop | None = req.ctx[0]
        if shop is None:
            raise HttpError(401, "Partners must send X-Postscript-Shop-Token")
        return shop

    def _me(self, req: Request) -> Response:
        shop = req.ctx[0]
        if shop is None:
            partner = {"resource_id": "partner_sim", "resource_name": "Sim Partner", "resource_type": "partner"}
            return json_response(200, partner)
        return json_response(200, {
            "resource_id": shop.shop_id, "resource_name": shop.name, "resource_type": "shop",
            "shop_id": shop.shop_id, "name": shop.name,
        })

    def _create_event(self, req: Request) -> Response:
        shop = self._shop(req)
        body = parse_json_body(req)
        validate_event(body)
        event = dict(body, event_id=str(uuid.uuid4()), received_at=iso_ms(self.now()))
        with self.lock:
            shop.events.append(event)
            if "external_id" in body:
                shop.events_by_external_id.setdefault(body["external_id"], []).append(event)
        return json_response(202, {"event_ids": [event["event_id"]]})

    def _list_subscribers(self, req: Request) -> Response:
        shop = self._shop(req)
        for name in sorted(set(req.query) - _LIST_PARAMS):
            raise _bad(name, "unsupported query parameter")
        raw_page = req.arg("page") or "1"
        if not raw_page.isdigit() or int(raw_page) < 1:
            raise _bad("page", "must be a positive integer")
        page = int(raw_page)
        email, phone = req.arg("email__eq"), req.arg("phone_number__eq")
        with self.lock:
            subs = [
                dict(s) for s in shop.subscribers.values()
                if (email is None or (s["email"] or "").lower() == email.lower())
                and (phone is None or (_digits(phone) and _digits(s["phone_number"]) == _digits(phone)))
            ]
        total = max(1, math.ceil(len(subs) / self.page_size))
        chunk = subs[(page - 1) * self.page_size : page * self.page_size]
        if self.duplicate_across_pages and page > 1 and len(subs) >= (page - 1) * self.page_size:
            chunk.insert(0, subs[(page - 1) * self.page_size - 1])
        self.page_built(req, chunk)
        return json_response(200, {"page_info": {"page": page, "total_pages": total}, "subscribers": chunk})

    def _get_subscriber(self, req: Request) -> Response:
        shop = self._shop(req)
        with self.lock:
            sub = shop.subscribers.get(req.params["id"])
            if sub is None:
                raise HttpError(404, f"Subscriber {req.params['id']} not found")
            return json_response(200, sub)

    def _create_subscriber(self, req: Request) -> Response:
        shop = self._shop(req)
        body = parse_json_body(req)
        if not isinstance(body, dict):
            raise _bad("body", "must be a JSON object")
        for key in sorted(set(body) - _CREATE_KEYS):
            raise _bad(key, "unknown field")
        phone = body.get("phone_number")
        if not isinstance(phone, str) or not re.fullmatch(r"\+[1-9]\d{6,14}", phone):
            raise _bad("phone_number", "required, E.164")
        email = body.get("email")
        if email is not None and not isinstance(email, str):
            raise _bad("email", "must be a string")
        _check_properties(body.get("properties"))
        with self.lock:
            if any(_digits(s["phone_number"]) == _digits(phone) for s in shop.subscribers.values()):
                raise _bad("phone_number", "a subscriber with this phone number already exists")
        sub = shop.add_subscriber(email=email, phone_number=phone, properties=body.get("properties"),
                                  tags=body.get("tags") or (), can_send=False)
        with self.lock:
            shop.created.append(sub["id"])
        return json_response(201, {"subscriber_id": sub["id"], "is_pending": True})

    def _patch_subscriber(self, req: Request) -> Response:
        shop = self._shop(req)
        with self.lock:
            sub = shop.subscribers.get(req.params["id"])
            if sub is None:
                raise HttpError(404, f"Subscriber {req.params['id']} not found")
        body = parse_json_body(req)
        if not isinstance(body, dict):
            raise _bad("body", "must be a JSON object")
        for key in sorted(set(body) - _PATCH_KEYS):
            raise _bad(key, "unknown field")
        email, tags, props = body.get("email"), body.get("tags"), body.get("properties")
        if email is not None and not isinstance(email, str):
            raise _bad("email", "must be a string")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise _bad("tags", "must be an array of strings")
        _check_properties(props)
        with self.lock:
            merged = {**sub["properties"], **(props or {})}
            if len(merged) > MAX_CUSTOM_PROPERTIES:
                raise _bad("properties", f"subscribers can have up to {MAX_CUSTOM_PROPERTIES} custom properties"
                           f" ({len(merged)} after merge)")
            sub["properties"] = merged
            if email and not sub["email"] and sub["shopify_customer_id"] is None:
                sub["email"] = email
            for tag in tags or ():
                if tag not in sub["tags"]:
                    sub["tags"].append(tag)
            sub["updated_at"] = _iso_s(self.now())
            shop.patches.append((sub["id"], body))
            return json_response(200, sub)


def _check_properties(props: Any) -> None:
    """Subscriber property values: strings (ISO dates too), integers, booleans, string arrays."""
    if props is None:
        return
    if not isinstance(props, dict):
        raise _bad("properties", "must be an object")
    for key, value in props.items():
        if isinstance(value, float):
            raise _bad(f"properties.{key}", "a decimal number is not a property type (strings, integers, "
                                            "string arrays, ISO dates)")
        if not (_scalar(value) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            raise _bad(f"properties.{key}", "value must be a string, integer, boolean or array of strings")


def validate_event(body: Any) -> None:
    """Raise HttpError(400) naming the field if ``body`` is not a valid custom event."""
    if not isinstance(body, dict):
        raise _bad("body", "must be a JSON object")
    for key in sorted(set(body) - _EVENT_KEYS):
        raise _bad(key, "unknown field")
    event_type = body.get("type")
    if not isinstance(event_type, str) or not EVENT_TYPE_RE.fullmatch(event_type):
        raise _bad("type", "required; 1-100 characters from [A-Za-z0-9_]")
    ids = [k for k in ("subscriber_id", "phone", "email") if k in body]
    if not ids:
        raise _bad("subscriber_id", "one of subscriber_id, phone or email is required")
    for key in ids + (["external_id"] if "external_id" in body else []):
        if not isinstance(body[key], str) or not body[key]:
            raise _bad(key, "must be a non-empty string")
    if "occurred_at" in body:
        try:
            datetime.strptime(body["occurred_at"], OCCURRED_AT_FORMAT)
        except (TypeError, ValueError):
            raise _bad("occurred_at", f"must be UTC in the format {OCCURRED_AT_FORMAT!r}") from None
    if "properties" in body:
        props = body["properties"]
        if not isinstance(props, dict):
            raise _bad("properties", "must be an object")
        for key, value in props.items():
            if not _scalar(value):
                raise _bad(f"properties.{key}", "value must be a string, number or boolean")
