"""Attentive API v1 simulator: custom events and custom attributes, per Bearer token.

Follows Attentive's published v1 OpenAPI (``CustomEventsRequest``, ``CustomAttributesRequest``,
``EventUser``) and its rate-limit page: 150 requests per second per token in fixed one-second
windows, ``x-ratelimit-limit``/``x-ratelimit-remaining`` on every response (429 too, no
Retry-After). Errors use ``{"error": {"id": <int>, "message": "<field>: ..."}}``. Events are
never deduplicated (``externalEventId`` is only recorded); an attribute's type is fixed by the
first value the account sees ("24" is a Number, as the spec's example says).
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from datetime import datetime
from typing import Any, Callable

from sandbox.sim.server import HttpError, Request, Response, SimServer, iso_ms, json_response, parse_json_body

__all__ = ["AttentiveAccount", "AttentiveSimulator", "attribute_type", "validate_user"]

E164_RE = re.compile(r"\+[1-9]\d{6,14}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
RFC3339_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
NUMBER_RE = re.compile(r"-?\d+(\.\d+)?")
NOT_IN_TYPE = re.compile(r"[\"'(){}\[\]\\|,]")
NOT_IN_KEY = re.compile(r"[\"{}\[\]\\|]")
MAX_ATTRIBUTE_NAME = 200
_USER_KEYS = {"phone", "email", "externalIdentifiers"}


def _bad(field: str, message: str) -> HttpError:
    return HttpError(400, f"{field}: {message}", field=field)


def attribute_type(value: Any) -> str:
    """"number", "boolean" or "string" as Attentive types a first value ("24" → number, "TRUE" → boolean)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if NUMBER_RE.fullmatch(value.strip()):
        return "number"
    return "boolean" if value.strip().lower() in ("true", "false") else "string"


def _fits(value: Any, fixed: str) -> bool:
    """Whether ``value`` may be stored in an attribute already typed ``fixed``."""
    if fixed == "string":
        return isinstance(value, str)
    return attribute_type(value) == fixed


def validate_user(user: Any) -> None:
    """Raise HttpError(400) unless ``user`` is a valid ``EventUser``."""
    if not isinstance(user, dict):
        raise _bad("user", "required; must be an object with phone, email or externalIdentifiers")
    for key in sorted(set(user) - _USER_KEYS):
        raise _bad(f"user.{key}", "unknown field (only phone, email and externalIdentifiers)")
    if not user:
        raise _bad("user", "one of phone, email or externalIdentifiers is required")
    phone, email, ext = user.get("phone"), user.get("email"), user.get("externalIdentifiers")
    if "phone" in user and not (isinstance(phone, str) and E164_RE.fullmatch(phone)
                                and (not phone.startswith("+1") or re.fullmatch(r"\+1[2-9]\d{9}", phone))):
        raise _bad("user.phone", "must be a phone number in E.164 format")
    if "email" in user and not (isinstance(email, str) and EMAIL_RE.fullmatch(email)):
        raise _bad("user.email", "must be an email address")
    if "externalIdentifiers" in user:
        if not isinstance(ext, dict) or not ext or set(ext) - {"clientUserId", "customIdentifiers"}:
            raise _bad("user.externalIdentifiers", "must be an object with clientUserId and/or customIdentifiers")
        if "clientUserId" in ext and not (isinstance(ext["clientUserId"], str) and ext["clientUserId"]):
            raise _bad("user.externalIdentifiers.clientUserId", "must be a non-empty string")
        custom = ext.get("customIdentifiers", [])
        if not isinstance(custom, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("value"), str) for c in custom
        ):
            raise _bad("user.externalIdentifiers.customIdentifiers", "must be an array of {name, value} strings")


def validate_event(body: Any) -> None:
    """Raise HttpError(400) naming the field unless ``body`` is a valid ``CustomEventsRequest``."""
    if not isinstance(body, dict):
        raise _bad("body", "must be a JSON object")
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise _bad("type", "required; a non-empty string")
    if NOT_IN_TYPE.search(event_type):
        raise _bad("type", "must not contain any of \" ' ( ) { } [ ] \\ | ,")
    if "properties" in body:
        props = body["properties"]
        if not isinstance(props, dict):
            raise _bad("properties", "must be an object")
        for key in props:
            if NOT_IN_KEY.search(key) or not key.strip():
                raise _bad(f"properties.{key}", "keys must be non-empty and not contain \" { } [ ] \\ |")
    if "externalEventId" in body and not isinstance(body["externalEventId"], str):
        raise _bad("externalEventId", "must be a string")
    if "occurredAt" in body:
        value = body["occurredAt"]
        try:
            if not (isinstance(value, str) and RFC3339_RE.fullmatch(value)):
                raise ValueError
            datetime.fromisoformat(value.upper())
        except ValueError:
            raise _bad("occurredAt", "must be an RFC 3339 timestamp with a UTC offset") from None
    if "user" not in body:
        raise _bad("user", "required")
    validate_user(body["user"])


def validate_attributes(body: Any) -> None:
    """Raise HttpError(400) naming the field unless ``body`` is a valid ``CustomAttributesRequest``."""
    if not isinstance(body, dict):
        raise _bad("body", "must be a JSON object")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise _bad("properties", "required; must be an object")
    for name, value in props.items():
        if not name.strip():
            raise _bad("properties", "attribute names must not be empty")
        if len(name) > MAX_ATTRIBUTE_NAME:
            raise _bad(f"properties.{name[:40]}...", f"attribute names are at most {MAX_ATTRIBUTE_NAME} characters")
        if isinstance(value, (list, dict)):
            raise _bad(f"properties.{name}", "arrays and objects are not supported")
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            raise _bad(f"properties.{name}", "must be a string, number or boolean")
    if "user" not in body:
        raise _bad("user", "required")
    validate_user(body["user"])


class AttentiveAccount:
    """One company (one API token) and everything the pipeline sent it.

    Attributes: ``events`` (accepted bodies plus ``received_at``), ``events_by_external_id``
    (externalEventId -> every event sent with it: no dedupe), ``users`` (phone or email ->
    ``{"phone", "email", "externalIdentifiers", "properties"}``), ``attribute_types`` (name ->
    "number"|"boolean"|"string", fixed by the first value), ``attribute_calls`` (accepted bodies).
    """

    def __init__(self, sim: AttentiveSimulator, token: str, company_id: str, company_name: str) -> None:
        self.sim = sim
        self.token = token
        self.id = company_id
        self.company_name = company_name
        self.events: list[dict[str, Any]] = []
        self.events_by_external_id: dict[str, list[dict[str, Any]]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.attribute_types: dict[str, str] = {}
        self.attribute_calls: list[dict[str, Any]] = []

    def events_of_type(self, event_type: str) -> list[dict[str, Any]]:
        """Accepted events with this ``type`` (case-sensitive, as Attentive matches them)."""
        with self.sim.lock:
            return [e for e in self.events if e["type"] == event_type]

    def users_by_email(self, email: str) -> list[dict[str, Any]]:
        """Users (from attribute calls) with this email, case-insensitively."""
        with self.sim.lock:
            return [u for u in self.users.values() if (u["email"] or "").lower() == email.lower()]

    def find_user(self, phone: str | None = None, email: str | None = None) -> dict[str, Any] | None:
        """The stored user with this phone, else with this email."""
        with self.sim.lock:
            for u in self.users.values():
                if phone and u["phone"] == phone:
                    return u
            return next(iter(self.users_by_email(email)), None) if email else None


class _Windows:
    """Per-token fixed one-second windows that also report how many requests remain."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _current(self, token: str) -> tuple[float, int]:
        now = self._clock()
        start, count = self._windows.get(token, (now, 0))
        return (now, 0) if now - start >= 1.0 else (start, count)

    def take(self, token: str) -> tuple[bool, int]:
        """Count one request; (allowed, remaining in this second). Refused requests are not counted."""
        with self._lock:
            start, count = self._current(token)
            allowed = count < self.limit
            self._windows[token] = (start, count + allowed)
            return allowed, self.limit - count - allowed

    def remaining(self, token: str) -> int:
        with self._lock:
            return self.limit - self._current(token)[1]


class AttentiveSimulator(SimServer):
    """Attentive API v1 on loopback (``/v1/...``); ``add_account(token)`` creates a company.

    Args:
        port: 0 picks a free port.
        rate_per_s: requests per second per token (fixed one-second windows); None = off (no headers).
        now: wall clock (UTC, aware) for ``received_at``.
        monotonic: clock of the rate-limit windows.
    """

    def __init__(
        self, port: int = 0, *, rate_per_s: int | None = 150, now: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic, **kwargs: Any,
    ) -> None:
        super().__init__(port, rate_per_s=None, now=now, monotonic=monotonic, **kwargs)
        self.rate_per_s = rate_per_s
        self.windows = _Windows(rate_per_s, monotonic) if rate_per_s else None
        self.accounts: dict[str, AttentiveAccount] = {}
        self._account_seq = itertools.count(1)
        self._error_ids = itertools.count(7_100_000_001)
        self.bulk_jobs = 0
        self.route("POST", r"/v1/events/custom", self._create_event)
        self.route("POST", r"/v1/attributes/custom", self._set_attributes)
        self.route("GET", r"/v1/me", self._me)
        self.route("POST", r"/v2/bulk/user/attributes", self._bulk_attributes)

    def add_account(self, token: str, company_name: str | None = None) -> AttentiveAccount:
        """Register an API token (one company) and return its account."""
        with self.lock:
            n = next(self._account_seq)
            account = AttentiveAccount(self, token, f"MDc6Q29tcGFueT{n}", company_name or f"Sim Company {n}")
            self.accounts[token] = account
            return account

    # -- hooks -------------------------------------------------------------------------------
    @staticmethod
    def _token(req: Request) -> str | None:
        scheme, _, cred = req.headers.get("authorization", "").partition(" ")
        return cred.strip() or None if scheme.lower() == "bearer" else None

    def authenticate(self, req: Request) -> AttentiveAccount:
        token = self._token(req)
        if token is None or token not in self.accounts:
            raise HttpError(401, "Unauthorized: missing or invalid access token")
        if self.windows is not None and not self.windows.take(token)[0]:
            raise HttpError(429, "Too many requests")
        return self.accounts[token]

    def handle(self, req: Request) -> Response:
        """As SimServer, plus ``x-ratelimit-*`` headers on every response when limiting is on."""
        resp = super().handle(req)
        if self.windows is not None:
            token = self._token(req)
            remaining = self.windows.remaining(token) if token in self.accounts else self.windows.limit
            resp.headers.setdefault("x-ratelimit-limit", str(self.windows.limit))
            resp.headers.setdefault("x-ratelimit-remaining", str(max(0, remaining)))
        return resp

    def error_response(self, exc: HttpError) -> Response:
        with self.lock:
            error_id = next(self._error_ids)
        return json_response(exc.status, {"error": {"id": error_id, "message": exc.message}}, exc.headers)

    # -- handlers ----------------------------------------------------------------------------
    def _me(self, req: Request) -> Response:
        account: AttentiveAccount = req.ctx
        return json_response(200, {
            "id": account.id, "companyId": account.id, "companyName": account.company_name,
            "applicationName": "Loyalty Pipeline (sim)", "attentiveDomainName": f"{account.id.lower()}.attn.tv",
            "contactEmail": "dev@example.test",
        })

    def _create_event(self, req: Request) -> Response:
        account: AttentiveAccount = req.ctx
        body = parse_json_body(req)
        validate_event(body)
        event = dict(body, received_at=iso_ms(self.now()))
        with self.lock:
            account.events.append(event)
            if "externalEventId" in body:
                account.events_by_external_id.setdefault(body["externalEventId"], []).append(event)
        return Response(200)

    def _bulk_attributes(self, req: Request) -> Response:
        """``POST /v2/bulk/user/attributes``: 1..256 users; applied at once, answered 202 with a job id."""
        body = parse_json_body(req)
        users = body.get("users")
        if not isinstance(users, list) or not 1 <= len(users) <= 256:
            raise _bad("users", "must be an array of 1 to 256 users")
        for i, u in enumerate(users):
            ident = u.get("identifiers") if isinstance(u, dict) else None
            custom = ((u.get("attributes") or {}).get("custom") or {}) if isinstance(u, dict) else None
            if not isinstance(ident, dict) or not ident or not isinstance(custom, dict):
                raise _bad(f"users[{i}]", "needs identifiers and attributes.custom")
            self._apply(req.ctx, {k: v for k, v in ident.items() if k in ("phone", "email")}, custom,
                        {"bulk": True, "user": ident, "properties": custom})
        self.bulk_jobs += 1
        return json_response(202, {"message": "accepted", "batchJobId": f"job-{self.bulk_jobs}"})

    def _set_attributes(self, req: Request) -> Response:
        account: AttentiveAccount = req.ctx
        body = parse_json_body(req)
        validate_attributes(body)
        self._apply(account, body["user"], body["properties"], body)
        return Response(200)

    def _apply(self, account: AttentiveAccount, user: dict[str, Any], props: dict[str, Any],
               call: dict[str, Any]) -> None:
        with self.lock:
            for name, value in props.items():
                fixed = account.attribute_types.get(name)
                if fixed is not None and not _fits(value, fixed):
                    raise _bad(f"properties.{name}", f"attribute {name!r} is a {fixed}; got {value!r}")
            for name, value in props.items():
                account.attribute_types.setdefault(name, attribute_type(value))
            stored = account.find_user(user.get("phone"), user.get("email"))
            if stored is None:
                key = user.get("phone") or user.get("email") or repr(user.get("externalIdentifiers"))
                stored = account.users[key] = {"phone": None, "email": None, "externalIdentifiers": None,
                                               "properties": {}}
            for ident in ("phone", "email", "externalIdentifiers"):
                if user.get(ident) and not stored[ident]:
                    stored[ident] = user[ident]
            stored["properties"].update(props)
            account.attribute_calls.append(dict(call, received_at=iso_ms(self.now())))
