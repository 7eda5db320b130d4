"""Smile.io REST API v1 simulator: customers and the points ledger, per merchant API key.

Mimics what the pipeline relies on: Bearer auth, ``limit`` 1..250, opaque cursor pagination
newest-first (id DESC), inclusive ``updated_at_min``, 10 rps per token with a 1 s lock-out and no
Retry-After, and Smile's ``{"error": {"code", "message"}}`` error envelope.

Scopes (``shared/specs/smile/scopes.md`` §1-2): each key has the scopes it was generated with
(default: every read scope); an endpoint whose scope the key lacks answers 403. ``<entity>:write``
includes ``<entity>:read``. Smile does not document the error body of a missing scope, so the
403 body here names no scope: a client must know which scope it asked for.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from bisect import bisect_left, bisect_right
from datetime import datetime
from typing import Any, Callable

from sandbox.sim.server import HttpError, Request, Response, SimServer, iso_ms, json_response, parse_iso

__all__ = ["SmileAccount", "SmileSimulator"]

_CUSTOMER_FIELDS = (
    "first_name", "last_name", "email", "state", "date_of_birth", "points_balance",
    "referral_url", "vip_tier_id", "created_at", "updated_at",
)
_VIP_FIELDS = (
    "vip_tier_id", "vip_tier_expires_at", "progress_value", "current_vip_period_end",
    "delta_to_retain_vip_tier", "next_vip_tier_id", "delta_to_next_vip_tier",
)
_STATES = ("candidate", "member", "disabled")
_LIST_PARAMS = {
    "customers": {"updated_at_min", "email", "state", "include", "limit", "cursor"},
    "points_transactions": {"updated_at_min", "customer_id", "limit", "cursor"},
    "reward_fulfillments": {"updated_at_min", "customer_id", "fulfillment_status", "usage_status", "limit", "cursor"},
}
_FILTER_KEYS = {r: p - {"limit", "cursor"} for r, p in _LIST_PARAMS.items()}
#: scopes.md §2: the scope each endpoint needs (GET /points_transactions/{id} states none; the API
#: "probably still enforces points_transaction:read", so this simulator does).
SCOPES = {"customers": "customer:read", "points_transactions": "points_transaction:read",
          "reward_fulfillments": "reward_fulfillment:read"}
ALL_READ_SCOPES = (*SCOPES.values(), "vip_tier:read")


def _ts(value: datetime | str) -> str:
    return value if isinstance(value, str) else iso_ms(value)


def _invalid(param: str, message: str) -> HttpError:
    return HttpError(400, f"{param}: {message}", code="invalid_parameter", field=param)


class SmileAccount:
    """One merchant account (one API key): its customers and points transactions.

    ``customers`` / ``points_transactions`` map id -> record dict shaped like the spec's
    ``Customer`` / ``PointsTransaction`` (live objects; mutate only through the methods).
    """

    def __init__(self, sim: SmileSimulator, account_id: int, api_key: str,
                 scopes: tuple[str, ...] = ALL_READ_SCOPES) -> None:
        self.account_id = account_id
        self.api_key = api_key
        self.scopes = tuple(scopes)
        self.customers: dict[int, dict[str, Any]] = {}
        self.points_transactions: dict[int, dict[str, Any]] = {}
        self.reward_fulfillments: dict[int, dict[str, Any]] = {}
        self.vip_statuses: dict[int, dict[str, Any]] = {}
        self.sim = sim

    def has_scope(self, scope: str) -> bool:
        """Whether the key was granted ``scope`` (a write scope includes its read scope)."""
        return scope in self.scopes or scope.replace(":read", ":write") in self.scopes

    def add_customer(self, **fields: Any) -> dict[str, Any]:
        """Create a customer; any spec field may be given (timestamps as datetime or str).

        ``vip_status`` (a dict of VipStatus fields) may be given too; ``created_at`` defaults to
        now and ``updated_at`` to ``created_at``.
        """
        vip = fields.pop("vip_status", None) or {}
        unknown = set(fields) - set(_CUSTOMER_FIELDS)
        if unknown:
            raise TypeError(f"unknown customer fields: {sorted(unknown)}")
        with self.sim.lock:
            cid = next(self.sim._customer_ids)
            created = _ts(fields.pop("created_at", None) or self.sim.now())
            customer: dict[str, Any] = {
                "id": cid, "first_name": None, "last_name": None, "email": f"customer{cid}@example.test",
                "state": "member", "date_of_birth": None, "points_balance": 0,
                "referral_url": f"http://i.refs.cc/sim{cid}", "vip_tier_id": None,
                "created_at": created, "updated_at": created,
            }
            for key, value in fields.items():
                customer[key] = _ts(value) if key == "updated_at" else value
            if customer["state"] not in _STATES:
                raise ValueError(f"state must be one of {_STATES}")
            self.customers[cid] = customer
            self.vip_statuses[cid] = {name: None for name in _VIP_FIELDS} | {"vip_tier_id": customer["vip_tier_id"]}
            self.vip_statuses[cid].update(vip)
            customer["vip_tier_id"] = self.vip_statuses[cid]["vip_tier_id"]  # deprecated mirror
            return customer

    def update_customer(self, customer_id: int, *, at: datetime | None = None, **fields: Any) -> dict[str, Any]:
        """Change fields (and/or ``vip_status``) of a customer, bumping ``updated_at`` to ``at``/now."""
        vip = fields.pop("vip_status", None)
        unknown = set(fields) - set(_CUSTOMER_FIELDS) - {"created_at", "updated_at"}
        if unknown:
            raise TypeError(f"unknown customer fields: {sorted(unknown)}")
        with self.sim.lock:
            customer = self.customers[customer_id]
            customer.update(fields)
            if vip:
                self.vip_statuses[customer_id].update(vip)
                if "vip_tier_id" in vip:
                    customer["vip_tier_id"] = vip["vip_tier_id"]
            customer["updated_at"] = _ts(at or self.sim.now())
            return customer

    def add_transaction(
        self,
        customer_id: int,
        points_change: int,
        description: str,
        internal_note: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """Append a points transaction and apply it to the customer's balance and ``updated_at``."""
        with self.sim.lock:
            customer = self.customers[customer_id]
            stamp = _ts(at or self.sim.now())
            tid = next(self.sim._transaction_ids)
            txn = {
                "id": tid, "customer_id": customer_id, "points_change": int(points_change),
                "description": description, "internal_note": internal_note,
                "created_at": stamp, "updated_at": stamp,
            }
            self.points_transactions[tid] = txn
            customer["points_balance"] += int(points_change)
            customer["updated_at"] = max(customer["updated_at"], stamp)
            return txn

    def fulfill_reward(self, customer_id: int, name: str, code: str, *, at: datetime | None = None,
                       status: str = "issued") -> dict[str, Any]:
        """Issue a reward (a ``RewardFulfillment``) to a customer."""
        with self.sim.lock:
            stamp, fid = _ts(at or self.sim.now()), next(self.sim._transaction_ids)
            self.reward_fulfillments[fid] = {
                "id": fid, "customer_id": customer_id, "name": name, "code": code, "fulfillment_status": status,
                "usage_status": "unused", "used_at": None, "expires_at": None, "created_at": stamp,
                "updated_at": stamp}
            return self.reward_fulfillments[fid]

    def render_customer(self, customer: dict[str, Any], include_vip: bool) -> dict[str, Any]:
        """The customer as the API returns it (with ``vip_status`` when included)."""
        out = dict(customer)
        if include_vip:
            out["vip_status"] = dict(self.vip_statuses[customer["id"]])
        return out


class SmileSimulator(SimServer):
    """Smile.io API v1 on loopback; ``add_account(api_key)`` creates a merchant account.

    Args:
        port: 0 picks a free port.
        rate_per_s: requests per second per token (None disables limiting).
        now: wall clock for record timestamps (UTC, aware).
        strict_params: answer 400 to unknown query parameters (catches typos like ``updated_since``).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        rate_per_s: float | None = 10,
        now: Callable[[], datetime] | None = None,
        strict_params: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(port, rate_per_s=rate_per_s, now=now, **kwargs)
        self.strict_params = strict_params
        self.accounts: dict[str, SmileAccount] = {}
        self._account_ids = itertools.count(1)
        self._customer_ids = itertools.count(304169228)
        self._transaction_ids = itertools.count(825673452)
        self.route("GET", r"/v1/customers", self._list_customers)
        self.route("GET", r"/v1/customers/(?P<id>[^/]+)", self._get_customer)
        self.route("GET", r"/v1/points_transactions", lambda req: self._list_owned(req, "points_transactions"))
        self.route("GET", r"/v1/reward_fulfillments", lambda req: self._list_owned(req, "reward_fulfillments"))
        self.route("GET", r"/v1/points_transactions/(?P<id>[^/]+)", self._get_transaction)

    def add_account(self, api_key: str, scopes: tuple[str, ...] | None = None) -> SmileAccount:
        """Register a merchant API key with ``scopes`` (default: every read scope) and return its
        (empty) account."""
        with self.lock:
            account = SmileAccount(self, next(self._account_ids), api_key, scopes or ALL_READ_SCOPES)
            self.accounts[api_key] = account
            return account

    # -- hooks -------------------------------------------------------------------------------
    def authenticate(self, req: Request) -> SmileAccount:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        account = self.accounts.get(token.strip()) if scheme.lower() == "bearer" else None
        if account is None:
            raise HttpError(401, "Missing or invalid API key", code="unauthorized")
        resource = req.path.removeprefix("/v1/").split("/", 1)[0]
        if resource in SCOPES and not account.has_scope(SCOPES[resource]):
            raise HttpError(403, "The API key does not have the required access scope", code="forbidden")
        return account

    def rate_key(self, req: Request) -> str | None:
        return req.ctx.api_key if req.ctx is not None else None

    def rate_limited_error(self) -> HttpError:
        return HttpError(429, "Too many requests, retry after the current second", code="too_many_requests")

    def error_response(self, exc: HttpError) -> Response:
        return json_response(exc.status, {"error": {"code": exc.code, "message": exc.message}}, exc.headers)

    # -- handlers ----------------------------------------------------------------------------
    def _get_customer(self, req: Request) -> Response:
        include = self._include(req.arg("include"), {"vip_status", "vip_status.vip_tier", "vip_status.next_vip_tier"})
        with self.lock:
            customer = req.ctx.customers.get(self._path_id(req))
            if customer is None:
                raise HttpError(404, "Customer not found", code="not_found")
            return json_response(200, {"customer": req.ctx.render_customer(customer, include)})

    def _get_transaction(self, req: Request) -> Response:
        with self.lock:
            txn = req.ctx.points_transactions.get(self._path_id(req))
            if txn is None:
                raise HttpError(404, "Points transaction not found", code="not_found")
            return json_response(200, {"points_transaction": dict(txn)})

    def _list_customers(self, req: Request) -> Response:
        account: SmileAccount = req.ctx
        filters, cursor = self._check_query(req, "customers")
        if filters is None:  # fresh listing: read filters from the query
            state = req.arg("state")
            if state is not None and state not in _STATES:
                raise _invalid("state", f"must be one of {', '.join(_STATES)}")
            filters = {
                "updated_at_min": self._updated_min(req), "email": req.arg("email"), "state": state,
                "include": self._include(req.arg("include"), {"vip_status"}),
            }
        since = parse_iso(filters["updated_at_min"]) if filters["updated_at_min"] else None
        email = (filters["email"] or "").lower()

        def keep(c: dict[str, Any]) -> bool:
            return (
                (since is None or parse_iso(c["updated_at"]) >= since)
                and (not email or (c["email"] or "").lower() == email)
                and (filters["state"] is None or c["state"] == filters["state"])
            )

        with self.lock:
            page, meta = self._paginate(req, cursor, "customers", account.customers, keep, filters)
            items = [account.render_customer(c, bool(filters["include"])) for c in page]
        self.page_built(req, items)
        return json_response(200, {"customers": items, "metadata": meta})

    def _list_owned(self, req: Request, resource: str) -> Response:
        """Points transactions or reward fulfillments: filtered by time, customer and equality filters."""
        account: SmileAccount = req.ctx
        filters, cursor = self._check_query(req, resource)
        if filters is None:
            raw = req.arg("customer_id")
            if raw is not None and not raw.isdigit():
                raise _invalid("customer_id", "must be an integer")
            filters = {k: req.arg(k) for k in _FILTER_KEYS[resource]}
            filters |= {"updated_at_min": self._updated_min(req), "customer_id": int(raw) if raw else None}
        since = parse_iso(filters["updated_at_min"]) if filters["updated_at_min"] else None

        def keep(t: dict[str, Any]) -> bool:
            return (since is None or parse_iso(t["updated_at"]) >= since) and all(
                v is None for k, v in filters.items() if k != "updated_at_min" and t.get(k) != v)

        with self.lock:
            page, meta = self._paginate(req, cursor, resource, getattr(account, resource), keep, filters)
            items = [dict(t) for t in page]
        self.page_built(req, items)
        return json_response(200, {resource: items, "metadata": meta})

    # -- parameter parsing -------------------------------------------------------------------
    def _check_query(self, req: Request, resource: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Validate the query; return (the cursor's saved filters, cursor state) or (None, None)."""
        if self.strict_params:
            for name in sorted(set(req.query) - _LIST_PARAMS[resource]):
                raise _invalid(name, "unknown parameter")
        raw_limit = req.arg("limit")
        if raw_limit is not None and not (raw_limit.isdigit() and 1 <= int(raw_limit) <= 250):
            raise _invalid("limit", f"must be an integer between 1 and 250, got {raw_limit!r}")
        cursor = req.arg("cursor")
        if not cursor:
            return None, None
        state = self._decode_cursor(cursor)
        if state.get("a") != req.ctx.account_id or state.get("r") != resource:
            raise _invalid("cursor", "does not belong to this account and resource")
        if set(state["f"]) != _FILTER_KEYS[resource]:
            raise _invalid("cursor", "is invalid or expired")
        return state["f"], state

    @staticmethod
    def _updated_min(req: Request) -> str | None:
        raw = req.arg("updated_at_min")
        if raw is None:
            return None
        try:
            return parse_iso(raw).isoformat()
        except ValueError:
            raise _invalid("updated_at_min", f"is not an ISO-8601 date-time: {raw!r}") from None

    @staticmethod
    def _include(raw: str | None, allowed: set[str]) -> bool:
        names = [n.strip() for n in (raw or "").split(",") if n.strip()]
        for name in names:
            if name not in allowed:
                raise _invalid("include", f"unsupported value {name!r}")
        return bool(names)

    @staticmethod
    def _path_id(req: Request) -> int:
        raw = req.params["id"]
        if not raw.isdigit():
            raise HttpError(404, f"No record with id {raw!r}", code="not_found")
        return int(raw)

    # -- cursor pagination -------------------------------------------------------------------
    def _paginate(
        self,
        req: Request,
        state: dict[str, Any] | None,
        resource: str,
        records: dict[int, dict[str, Any]],
        keep: Callable[[dict[str, Any]], bool],
        filters: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
        """Newest-first page strictly below (next) or above (prev) the cursor's pivot id."""
        limit = int(req.arg("limit") or 50)
        ids = list(records)  # ascending: ids grow with insertion
        account: SmileAccount = req.ctx

        def take(indexes: range, n: int) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for i in indexes:
                if keep(records[ids[i]]):
                    out.append(records[ids[i]])
                    if len(out) == n:
                        break
            return out

        if state is None or state["d"] == "next":
            hi = bisect_left(ids, state["id"]) if state else len(ids)
            page = take(range(hi - 1, -1, -1), limit)
        else:
            page = take(range(bisect_right(ids, state["id"]), len(ids)), limit)[::-1]
        meta: dict[str, str | None] = {"next_cursor": None, "previous_cursor": None}
        if page:
            first, last = page[0]["id"], page[-1]["id"]
            if take(range(bisect_left(ids, last) - 1, -1, -1), 1):
                meta["next_cursor"] = self._encode_cursor(account, resource, "next", last, filters)
            if take(range(bisect_right(ids, first), len(ids)), 1):
                meta["previous_cursor"] = self._encode_cursor(account, resource, "prev", first, filters)
        pivot = records.get(state["id"]) if state and state["d"] == "next" else None
        if self.duplicate_across_pages and pivot is not None and keep(pivot):
            page = [pivot, *page]  # the previous page's last record again
        return page, meta

    @staticmethod
    def _encode_cursor(
        account: SmileAccount, resource: str, direction: str, pivot: int, filters: dict[str, Any]
    ) -> str:
        payload = {"a": account.account_id, "r": resource, "d": direction, "id": pivot, "f": filters}
        raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(cursor: str) -> dict[str, Any]:
        try:
            state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if (
                not isinstance(state, dict)
                or state.get("d") not in ("next", "prev")
                or not isinstance(state.get("id"), int)
                or not isinstance(state.get("f"), dict)
            ):
                raise ValueError("malformed cursor")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _invalid("cursor", "is invalid or expired") from None
        return state
