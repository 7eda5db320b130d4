"""What the bench sink (bench/sink.py) answers: routes, documented answer shapes, per-key limits, counts.

Postscript answers follow ../shared/specs/postscript/postscript-partner-api-openapi.yml (``POST
/api/v2/events`` 202 ``{"event_ids"}``, ``GET /api/v2/subscribers`` 200 ``{"page_info", "subscribers"}``,
``GET /api/v2/me`` 200) and, where the spec is silent, the simulator sandbox/sim/postscript.py (error
envelope, ``PATCH`` and ``POST /api/v2/subscribers``); Attentive answers follow
../shared/specs/attentive/attentive-v1-openapi.yaml (``/v1/events/custom`` and ``/v1/attributes/custom``
200 "Ok" with no body, ``/v1/me`` ``GetMeResponseDto``) and attentive-v2-openapi.yaml (``/v2/bulk/user/
attributes`` 202 ``BulkSuccessResponse``), errors as sandbox/sim/attentive.py. Pure: no I/O, no clock
of its own (``handle`` is given the monotonic and wall times), so the limits are tested without timing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
from collections import Counter
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

__all__ = ["REASONS", "Sink", "Stats", "Window", "key_label"]

REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    429: "Too Many Requests",
}
PS_ERROR_CODES = {400: 4000, 401: 1001, 404: 4004, 405: 4005, 411: 4000, 429: 3002}  # as sandbox/sim/postscript.py
EVENT_TYPE_RE = re.compile(r"[A-Za-z0-9_]{1,100}")
SUBSCRIBER_PATH = re.compile(r"/api/v2/subscribers/([^/]+)")
STAMP = "2026-01-01T00:00:00Z"


@lru_cache(maxsize=65536)
def key_label(key: str) -> str:
    """How a key appears in the stats (never the key itself)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


class Window:
    """Fixed one-second windows per key. ``count_refused``: Postscript counts refused requests
    (sandbox/sim/limiters.WindowLimiter), Attentive does not (sandbox/sim/attentive._Windows)."""

    def __init__(self, rate_per_s: float, count_refused: bool) -> None:
        self.rate_per_s = rate_per_s
        self.count_refused = count_refused
        self.windows: dict[str, list[float]] = {}

    def take(self, key: str, now: float) -> tuple[bool, int]:
        """(allowed, remaining in this window)."""
        if not self.rate_per_s:
            return True, 0
        w = self.windows.get(key)
        if w is None or now - w[0] >= 1.0:
            w = self.windows[key] = [now, 0]
        allowed = w[1] < self.rate_per_s
        if allowed or self.count_refused:
            w[1] += 1
        return allowed, max(0, int(self.rate_per_s - w[1]))


class Stats:
    def __init__(self) -> None:
        self.keys: dict[str, Counter[str]] = {}
        self.paths: Counter[str] = Counter()
        self.seconds: dict[int, list[int]] = {}
        self.event_ids: dict[str, set[str]] = {}
        self.first_ok: float | None = None
        self.last_ok: float | None = None
        # requests received and not yet answered: now, most at once, and its integral over time
        self.in_flight = 0
        self.in_flight_max = 0
        self.in_flight_area_s = 0.0
        self.in_flight_t = time.monotonic()
        self.connections = 0

    def flight(self, delta: int) -> None:
        now = time.monotonic()
        self.in_flight_area_s += self.in_flight * (now - self.in_flight_t)
        self.in_flight_t = now
        self.in_flight += delta
        self.in_flight_max = max(self.in_flight_max, self.in_flight)

    def count(self, key: str, route: str, status: int, ack_wall: float, event_id: str | None) -> None:
        label = key_label(key) if key else "-"
        c = self.keys.get(label)
        if c is None:
            c = self.keys[label] = Counter()
        c["requests"] += 1
        self.paths[f"{route} {status}"] += 1
        sec = self.seconds.setdefault(int(ack_wall), [0, 0])
        if status < 300:
            c["ok"] += 1
            sec[0] += 1
            self.first_ok = ack_wall if self.first_ok is None else min(self.first_ok, ack_wall)
            self.last_ok = ack_wall if self.last_ok is None else max(self.last_ok, ack_wall)
            if event_id is not None:
                c["events"] += 1
                seen = self.event_ids.setdefault(label, set())
                if event_id in seen:
                    c["duplicate_events"] += 1
                seen.add(event_id)
        elif status == 429:
            c["429"] += 1
            sec[1] += 1
        else:
            c["other"] += 1

    def as_json(self) -> dict[str, Any]:
        totals: Counter[str] = Counter()
        for c in self.keys.values():
            totals.update(c)
        t = os.times()
        return {
            "totals": dict(totals),
            "keys": {k: dict(v) for k, v in self.keys.items()},
            "paths": dict(self.paths),
            "seconds": {str(s): v for s, v in sorted(self.seconds.items())},
            "first_ok": self.first_ok,
            "last_ok": self.last_ok,
            "cpu_s": t.user + t.system,
            "pid": os.getpid(),
            "in_flight": {
                "now": self.in_flight,
                "max": self.in_flight_max,
                "area_s": self.in_flight_area_s,
                "t": self.in_flight_t,
            },
            "connections": self.connections,
        }


def _subscriber(ident: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    """A synthetic opted-in subscriber: the spec's example fields (GET /api/v2/subscribers)."""
    sid = ident if ident.startswith("s_") else "s_" + hashlib.sha1(ident.lower().encode()).hexdigest()[:20]
    email = ident if "@" in ident else None
    phone = ident if ident.startswith("+") else None
    return {
        "id": sid,
        "email": email,
        "phone_number": phone,
        "properties": props or {},
        "tags": [],
        "data": {},
        "subscriptions": {"promotional": {"can_send": True}, "transactional": {"can_send": True}},
        "shopify_customer_id": None,
        "ps_id": int(sid[2:10], 16) if re.fullmatch(r"s_[0-9a-f]{8,}", sid) else 1,
        "created_at": STAMP,
        "updated_at": STAMP,
    }


class Sink:
    """The endpoint's state: configuration, limiters, counts. ``handle`` answers one request."""

    def __init__(
        self, latency_ms: float = 0.0, postscript_rate_per_s: float = 15, attentive_rate_per_s: float = 150
    ) -> None:
        self.latency_s = latency_ms / 1000
        self.ps_limit = Window(postscript_rate_per_s, count_refused=True)
        self.at_limit = Window(attentive_rate_per_s, count_refused=False)
        self.stats = Stats()
        self._error_ids = itertools.count(7_100_000_001)
        self._event_ids = itertools.count(1)

    def _event_id(self) -> str:
        """A UUID-shaped id, unique in this process (cheaper than uuid4)."""
        return f"00000000-0000-4000-8000-{next(self._event_ids):012x}"

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        if "latency_ms" in body:
            self.latency_s = float(body["latency_ms"]) / 1000
        if "postscript_rate_per_s" in body:
            self.ps_limit = Window(float(body["postscript_rate_per_s"] or 0), count_refused=True)
        if "attentive_rate_per_s" in body:
            self.at_limit = Window(float(body["attentive_rate_per_s"] or 0), count_refused=False)
        return self.config()

    def config(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_s * 1000,
            "postscript_rate_per_s": self.ps_limit.rate_per_s,
            "attentive_rate_per_s": self.at_limit.rate_per_s,
        }

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, now: float, wall: float
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        """(status, body, extra headers)."""
        path, _, query = target.partition("?")
        if path.startswith("/_sink/"):
            if path == "/_sink/stats":
                self.stats.flight(0)
            return self._control(method, path, body)
        scheme, _, cred = headers.get("authorization", "").partition(" ")
        key = cred.strip() if scheme.lower() == "bearer" else ""
        attentive = path.startswith(("/v1/", "/v2/"))
        route = _route(method, path)
        event_id: str | None = None
        if not key:
            status, out, extra = self._error(attentive, 401, "Missing or invalid API key")
        elif attentive:
            allowed, remaining = self.at_limit.take(key, now)
            if allowed:
                status, out, extra, event_id = self._attentive(method, path, body)
            else:
                status, out, extra = self._error(True, 429, "Too many requests")
            if self.at_limit.rate_per_s:
                extra = extra + [
                    ("x-ratelimit-limit", str(int(self.at_limit.rate_per_s))),
                    ("x-ratelimit-remaining", str(remaining)),
                ]
        elif self.ps_limit.take(key, now)[0]:
            status, out, extra, event_id = self._postscript(method, path, query, body)
        else:
            status, out, extra = self._error(False, 429, "Rate limit exceeded")
        self.stats.count(key, route, status, wall + self.latency_s, event_id)
        return status, out, extra

    # -- platforms -----------------------------------------------------------------------------
    def _error(
        self,
        attentive: bool,
        status: int,
        message: str,
        field: str | None = None,
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        if attentive:
            body: dict[str, Any] = {"error": {"id": next(self._error_ids), "message": message}}
        else:
            body = {"error_code": PS_ERROR_CODES.get(status, status), "error_message": message, "success": False}
            if field is not None:
                body["field"] = field
        return status, json.dumps(body).encode(), []

    def _postscript(
        self,
        method: str,
        path: str,
        query: str,
        body: bytes,
    ) -> tuple[int, bytes, list[tuple[str, str]], str | None]:
        if method == "POST" and path == "/api/v2/events":
            ev = _json(body)
            kind = ev.get("type") if isinstance(ev, dict) else None
            if not isinstance(kind, str) or not EVENT_TYPE_RE.fullmatch(kind):
                return (*self._error(False, 400, "type: required; 1-100 characters from [A-Za-z0-9_]", "type"), None)
            assert isinstance(ev, dict)
            if not any(isinstance(ev.get(k), str) and ev[k] for k in ("subscriber_id", "phone", "email")):
                return (
                    *self._error(False, 400, "one of subscriber_id, phone or email is required", "subscriber_id"),
                    None,
                )
            event_id = self._event_id()
            return 202, b'{"event_ids": ["' + event_id.encode() + b'"]}', [], str(ev.get("external_id") or event_id)
        if method == "GET" and path == "/api/v2/subscribers":
            q = parse_qs(query)
            ident = (q.get("email__eq") or q.get("phone_number__eq") or [""])[0]
            subs = [_subscriber(ident)] if ident else []
            return 200, json.dumps({"page_info": {"page": 1, "total_pages": 1}, "subscribers": subs}).encode(), [], None
        if method == "POST" and path == "/api/v2/subscribers":
            req = _json(body)
            phone = req.get("phone_number") if isinstance(req, dict) else None
            if not isinstance(phone, str) or not re.fullmatch(r"\+[1-9]\d{6,14}", phone):
                return (*self._error(False, 400, "phone_number: required, E.164", "phone_number"), None)
            return 201, json.dumps({"subscriber_id": _subscriber(phone)["id"], "is_pending": True}).encode(), [], None
        if method == "GET" and path == "/api/v2/me":
            return (
                200,
                json.dumps(
                    {"resource_id": "shop_sink", "resource_name": "Sink Shop", "resource_type": "shop"}
                ).encode(),
                [],
                None,
            )
        m = SUBSCRIBER_PATH.fullmatch(path)
        if m and method in ("GET", "PATCH"):
            props = None
            if method == "PATCH":
                req = _json(body)
                if not isinstance(req, dict):
                    return (*self._error(False, 400, "body: must be a JSON object", "body"), None)
                props = req.get("properties")
            return 200, json.dumps(_subscriber(m.group(1), props)).encode(), [], None
        return (*self._error(False, 404, f"No route for {method} {path}"), None)

    def _attentive(self, method: str, path: str, body: bytes) -> tuple[int, bytes, list[tuple[str, str]], str | None]:
        if method == "POST" and path in ("/v1/events/custom", "/v1/attributes/custom"):
            req = _json(body)
            events = path == "/v1/events/custom"
            if not isinstance(req, dict) or not isinstance(req.get("user"), dict) or not req["user"]:
                return (*self._error(True, 400, "user: required"), None)
            if events and not (isinstance(req.get("type"), str) and req["type"].strip()):
                return (*self._error(True, 400, "type: required; a non-empty string"), None)
            if not events and not isinstance(req.get("properties"), dict):
                return (*self._error(True, 400, "properties: required; must be an object"), None)
            return 200, b"", [], (str(req.get("externalEventId") or self._event_id()) if events else None)
        if method == "GET" and path == "/v1/me":
            return (
                200,
                json.dumps(
                    {
                        "companyId": "MDc6Q29tcGFueTE",
                        "companyName": "Sink Company",
                        "applicationName": "Loyalty Pipeline (sink)",
                        "attentiveDomainName": "sink.attn.tv",
                        "contactEmail": "dev@example.test",
                    }
                ).encode(),
                [],
                None,
            )
        if method == "POST" and path == "/v2/bulk/user/attributes":
            req = _json(body)
            users = req.get("users") if isinstance(req, dict) else None
            if not isinstance(users, list) or not 1 <= len(users) <= 256:
                return (*self._error(True, 400, "users: must be an array of 1 to 256 users"), None)
            return 202, json.dumps({"message": "accepted", "batchJobId": f"job-{self._event_id()}"}).encode(), [], None
        return (*self._error(True, 404, f"No route for {method} {path}"), None)

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
        if method == "GET" and path == "/_sink/stats":
            return 200, json.dumps(self.stats.as_json()).encode(), []
        if method == "POST" and path == "/_sink/reset":
            old, self.stats = self.stats, Stats()
            self.stats.in_flight, self.stats.connections = old.in_flight, old.connections
            self.ps_limit.windows.clear()
            self.at_limit.windows.clear()
            return 200, b"{}", []
        if method == "POST" and path == "/_sink/config":
            req = _json(body)
            return 200, json.dumps(self.configure(req if isinstance(req, dict) else {})).encode(), []
        return 404, b"{}", []


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _route(method: str, path: str) -> str:
    return f"{method} {SUBSCRIBER_PATH.sub('/api/v2/subscribers/{id}', path)}"
