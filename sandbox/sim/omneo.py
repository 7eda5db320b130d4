"""Omneo API v3 simulator: profiles, points, rewards, redemptions, transactions, tiers per tenant token.

Mimics a Laravel API (research/providers.md §4): Bearer tokens, ``{"message": ...}`` errors
(422 adds ``errors`` keyed by field), ``page[size]`` 1..100 (default 25) / ``page[number]``
pagination with absolute ``links`` and ``meta``, ``sort`` (``id``, ``updated_at``, either
descending with ``-``), inclusive ``filter[updated_at][gte]``, unknown parameters refused, and
Laravel's throttle: 429 ``Too Many Attempts.`` with ``Retry-After``. Timestamps are naive
``YYYY-MM-DD HH:MM:SS`` strings, as Omneo's docs show them: server bookkeeping
(``created_at``/``updated_at``) in UTC, business times of records that carry a ``timezone``
(rewards, transactions) in that zone's wall-clock time (``OmneoTenant.timezone``), as seed 003
writes them.

Records are the documented shapes (``shared/specs/omneo/README.md`` §4; held to
``tests/contracts/omneo.py``): money comes as numeric strings (``"10.00"``, as the v3 reference
renders it), points as numbers; a redemption has ``total`` and ``items[]``; a transaction
embeds its ``redemption`` (or null).
"""

from __future__ import annotations

import itertools
import math
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo
from urllib.parse import urlencode

from sandbox.sim.server import HttpError, Request, Response, SimServer, json_response, parse_iso
from sandbox.sim.webhooks import OMNEO_RESOURCES, OMNEO_TRIGGER_OF, OmneoWebhookSender

__all__ = ["OMNEO_RESOURCES", "OMNEO_TRIGGER_OF", "OmneoSimulator", "OmneoTenant", "OmneoWebhookSender", "money",
           "omneo_ts"]

_LIST_PARAMS = {"page[size]", "page[number]", "sort", "filter[updated_at][gte]", "filter[profile_id]"}
_SORTS = ("id", "-id", "updated_at", "-updated_at")


def omneo_ts(dt: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, no offset (Omneo's style)."""
    dt = dt.astimezone(timezone.utc) if dt.tzinfo else dt
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def money(value: float) -> str:
    """A money value as the v3 reference renders it: a numeric string (``"10.00"``)."""
    return f"{value:.2f}"


def _handle(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _invalid(field: str, message: str) -> HttpError:
    return HttpError(422, message, field=field)


class OmneoTenant:
    """One tenant (one API token). Collections map id -> live record dict shaped like API v3.

    ``points``/``rewards``/``redemptions``/``transactions`` (int ids), ``profiles`` (uuid
    strings), ``tiers`` (tier-progress records, one per achievement). ``points_per_dollar``
    converts points to dollars; ``tier_ladder`` gives each tier's next tier.
    """

    def __init__(self, sim: OmneoSimulator, token: str) -> None:
        self.sim = sim
        self.token = token
        self.points_per_dollar = 100
        #: IANA zone of the business times of rewards and transactions (seed 003 uses Australia/Melbourne)
        self.timezone = "UTC"
        self.tier_ladder: tuple[str, ...] = ("Bronze", "Silver", "Gold", "Platinum")
        self.profiles: dict[str, dict[str, Any]] = {}
        self.points: dict[int, dict[str, Any]] = {}
        self.rewards: dict[int, dict[str, Any]] = {}
        self.redemptions: dict[int, dict[str, Any]] = {}
        self.transactions: dict[int, dict[str, Any]] = {}
        self.tiers: list[dict[str, Any]] = []
        self._expiry: dict[int, str] = {}  # reward id → expiry, UTC (its expires_at is local time)
        self._definitions: dict[tuple[str, str], int] = {}

    # -- helpers -----------------------------------------------------------------------------
    def _stamp(self, at: datetime | None) -> str:
        return omneo_ts(at or self.sim.now())

    def _local(self, at: datetime) -> str:
        """``at`` as naive wall-clock time in the tenant's ``timezone``."""
        aware = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        return aware.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M:%S")

    def _definition(self, kind: str, name: str) -> dict[str, Any]:
        def_id = self._definitions.setdefault((kind, name), len(self._definitions) + 1)
        out: dict[str, Any] = {"id": def_id, "name": name, "handle": _handle(name), "is_reassignable": False,
                               "tags": []}
        if kind == "reward":
            out["type"] = next((t for t in ("birthday", "referral", "spend") if t in name.lower()), "other")
        return out

    def _touch(self, profile_id: str, stamp: str) -> dict[str, Any]:
        profile = self.profiles[profile_id]
        profile["updated_at"] = max(profile["updated_at"], stamp)
        bal = self.balances(profile_id)
        profile["point_balance"], profile["reward_balance"] = bal["point_balance"], bal["reward_balance"]
        return profile

    def profile_ref(self, profile_id: str) -> dict[str, Any]:
        """The ``profile`` object a webhook's event context embeds."""
        p = self.profiles[profile_id]
        return {k: p[k] for k in ("id", "email", "mobile_phone_e164", "first_name", "last_name")}

    def redemption_profile(self, profile_id: str) -> dict[str, Any]:
        """A redemption's embedded ``profile`` (no id: README §4)."""
        p = self.profiles[profile_id]
        return {"first_name": p["first_name"], "last_name": p["last_name"],
                "full_name": f"{p['first_name']} {p['last_name']}", "email": p["email"], "statuses": []}

    def with_profile(self, record: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``record`` with its ``profile`` embedded (as webhook bodies carry it)."""
        return dict(record, profile=self.profile_ref(record["profile_id"]))

    # -- mutations ---------------------------------------------------------------------------
    def add_profile(self, email: str, first_name: str, last_name: str, mobile_phone_e164: str | None = None,
                    *, at: datetime | None = None) -> dict[str, Any]:
        """Create an active profile; returns the live record."""
        with self.sim.lock:
            n = next(self.sim._ids)
            pid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"omneo:{self.token}:{n}"))
            stamp = self._stamp(at)
            profile = {
                "id": pid, "first_name": first_name, "last_name": last_name, "email": email,
                "mobile_phone": mobile_phone_e164, "mobile_phone_e164": mobile_phone_e164, "identities": [],
                "joined_at": stamp, "tier_handle": None, "tier": None, "point_balance": 0.0, "reward_balance": 0.0,
                "profile_type": "active", "tags": [], "created_at": stamp, "updated_at": stamp,
            }
            self.profiles[pid] = profile
            return profile

    def award_points(self, profile_id: str, value: float, *, name: str = "Purchase points",
                     description: str | None = None, expires_at: datetime | None = None,
                     at: datetime | None = None) -> dict[str, Any]:
        """Issue points (expiring a year after issue unless ``expires_at``)."""
        with self.sim.lock:
            stamp, issued = self._stamp(at), at or self.sim.now()
            point = {
                "id": next(self.sim._ids), "profile_id": profile_id, "linked_profile_id": None,
                "value_initial": float(value), "value_remaining": float(value), "issued_at": stamp,
                "expires_at": omneo_ts(expires_at or issued + timedelta(days=365)),
                "definition": self._definition("point", name), "source_type": "manual", "source": None,
                "rate": None, "description": description or f"{value:g} points: {name}", "meta": None,
                "created_at": stamp, "updated_at": stamp,
            }
            self.points[point["id"]] = point
            self._touch(profile_id, stamp)
            return point

    def issue_reward(self, profile_id: str, value: float, *, name: str = "Birthday Reward",
                     expires_at: datetime | None = None, at: datetime | None = None) -> dict[str, Any]:
        """Issue a dollar reward (expiring 90 days after issue unless ``expires_at``)."""
        with self.sim.lock:
            stamp, issued = self._stamp(at), at or self.sim.now()
            expires = expires_at or issued + timedelta(days=90)
            reward = {
                "id": next(self.sim._ids), "profile_id": profile_id, "timezone": self.timezone,
                "value_initial": money(value), "value_remaining": money(value), "issued_at": self._local(issued),
                "expires_at": self._local(expires), "issued_local_at": self._local(issued),
                "expires_local_at": self._local(expires), "definition": self._definition("reward", name),
                "is_active": True, "is_expired": False, "meta": None, "created_at": stamp, "updated_at": stamp,
            }
            self.rewards[reward["id"]] = reward
            self._expiry[reward["id"]] = omneo_ts(expires)
            self._touch(profile_id, stamp)
            return reward

    def redeem(self, profile_id: str, amount: float, *, at: datetime | None = None) -> dict[str, Any]:
        """Redeem ``amount`` dollars of rewards, closest expiry first; ValueError if not enough."""
        with self.sim.lock:
            stamp = self._stamp(at)
            live = sorted((r for r in self.rewards.values() if r["profile_id"] == profile_id
                           and float(r["value_remaining"]) > 0 and self._expiry[r["id"]] > stamp),
                          key=lambda r: (self._expiry[r["id"]], r["id"]))
            if sum(float(r["value_remaining"]) for r in live) + 1e-9 < amount:
                raise ValueError(f"profile {profile_id} has less than {amount} in rewards")
            items, left = [], float(amount)
            for reward in live:
                if left <= 0:
                    break
                used = min(left, float(reward["value_remaining"]))
                remaining = round(float(reward["value_remaining"]) - used, 2)
                reward.update(value_remaining=money(remaining), is_active=remaining > 0, updated_at=stamp)
                items.append({"id": next(self.sim._ids), "type": "reward", "value": money(used), "count": 1,
                              "type_attributes": dict(reward), "created_at": stamp, "updated_at": stamp})
                left = round(left - used, 2)
            redemption = {
                "id": next(self.sim._ids), "profile_id": profile_id,
                "profile": self.redemption_profile(profile_id), "type": "reward", "total": money(amount),
                "total_localised": money(amount), "meta": None, "location_id": None, "transaction_id": None,
                "items": items, "redeem_at": stamp, "created_at": stamp, "updated_at": stamp,
            }
            self.redemptions[redemption["id"]] = redemption
            self._touch(profile_id, stamp)
            return redemption

    def add_transaction(self, profile_id: str, total: float, *, redemption_id: int | None = None,
                        external_id: str | None = None, at: datetime | None = None) -> dict[str, Any]:
        """Record a purchase; links ``redemption_id`` (which gets ``transaction_id``) and embeds
        the redemption, as the read shape does (README §4)."""
        with self.sim.lock:
            when = at or self.sim.now()
            stamp = self._stamp(when)
            tid = next(self.sim._ids)
            redemption = None
            if redemption_id is not None:
                redemption = self.redemptions[redemption_id]
                if redemption["profile_id"] != profile_id:
                    raise ValueError("redemption belongs to another profile")
                redemption.update(transaction_id=tid, updated_at=stamp)
            txn = {
                "id": tid, "external_id": external_id or f"ORD-{tid}", "profile_id": profile_id,
                "total": money(total), "total_original": money(total), "is_void": False,
                "transacted_at": self._local(when), "timezone": self.timezone, "tags": [], "items": [],
                "payments": [], "redemption": {k: v for k, v in redemption.items() if k != "items"} if redemption
                else None, "receipt_ref": None, "currency": "AUD", "type": "sale", "status": "complete",
                "created_at": stamp, "updated_at": stamp,
            }
            self.transactions[tid] = txn
            self._touch(profile_id, stamp)
            return txn

    def achieve_tier(self, profile_id: str, tier_name: str, *, at: datetime | None = None) -> dict[str, Any]:
        """Move the profile to ``tier_name``; returns the new ``TierProgress`` record."""
        with self.sim.lock:
            stamp = self._stamp(at)
            profile = self.profiles[profile_id]
            ladder = list(self.tier_ladder)
            nxt = ladder[ladder.index(tier_name) + 1] if tier_name in ladder[:-1] else None

            def tier(name: str) -> dict[str, Any]:
                return {"id": ladder.index(name) + 1, "profile_id": profile_id, "name": name, "handle": _handle(name),
                        "anniversary_at": None, "maintained_at": None, "assigned_at": stamp, "achieved_at": stamp}

            progress = {
                "id": next(self.sim._ids), "profile_id": profile_id, "is_floor": False, "current_progress": 0,
                "achieved_at": stamp, "assigned_at": stamp, "maintained_at": None, "anniversary_at": stamp,
                "current_tier": tier(tier_name), "prev_tier": dict(profile["tier"]) if profile["tier"] else None,
                "next_tier": tier(nxt) if nxt else None, "created_at": stamp, "updated_at": stamp,
            }
            self.tiers.append(progress)
            profile.update(tier=tier(tier_name), tier_handle=_handle(tier_name))
            self._touch(profile_id, stamp)
            return progress

    # -- reads -------------------------------------------------------------------------------
    def balances(self, profile_id: str) -> dict[str, float]:
        """``GET /profiles/{id}/balances`` data, from unexpired points and rewards."""
        with self.sim.lock:
            now = omneo_ts(self.sim.now())
            points = float(sum(p["value_remaining"] for p in self.points.values()
                               if p["profile_id"] == profile_id and (p["expires_at"] or "9") > now))
            rewards = round(sum(float(r["value_remaining"]) for r in self.rewards.values()
                                if r["profile_id"] == profile_id and self._expiry[r["id"]] > now), 2)
            dollars = round(points / self.points_per_dollar, 2)
            return {"reward_balance": rewards, "point_balance": points, "point_balance_dollars": dollars,
                    "combined_balance_dollars": round(rewards + dollars, 2), "benefit_balance": 0.0}

    def balance_record(self, profile_id: str) -> dict[str, Any]:
        """The balances as a ``balances`` record (with ``profile_id`` and ``updated_at``)."""
        with self.sim.lock:
            return {"profile_id": profile_id, "updated_at": self.profiles[profile_id]["updated_at"],
                    **self.balances(profile_id)}


class OmneoSimulator(SimServer):
    """Omneo API v3 on loopback under ``/api/v3``; ``add_tenant(token)`` creates a tenant.

    Args:
        rate_per_s: requests per second per token (None disables); 429 carries ``Retry-After: 1``.
        duplicate_across_pages: page N > 1 starts with the last record of page N - 1.
    """

    def __init__(self, port: int = 0, *, rate_per_s: float | None = 10, now: Callable[[], datetime] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(port, rate_per_s=rate_per_s, now=now, **kwargs)
        self.tenants: dict[str, OmneoTenant] = {}
        self._ids = itertools.count(1001)
        self.route("GET", r"/api/v3/(?P<resource>points|rewards|transactions|profiles)", self._list)
        self.route("GET", r"/api/v3/profiles/(?P<id>[^/]+)", self._get_profile)
        self.route("GET", r"/api/v3/profiles/(?P<id>[^/]+)/balances", self._get_balances)

    def add_tenant(self, token: str) -> OmneoTenant:
        """Register an API token and return its (empty) tenant."""
        with self.lock:
            tenant = self.tenants[token] = OmneoTenant(self, token)
            return tenant

    # -- hooks -------------------------------------------------------------------------------
    def authenticate(self, req: Request) -> OmneoTenant:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        tenant = self.tenants.get(token.strip()) if scheme.lower() == "bearer" else None
        if tenant is None:
            raise HttpError(401, "Unauthenticated.")
        return tenant

    def rate_key(self, req: Request) -> str | None:
        return req.ctx.token if req.ctx is not None else None

    def rate_limited_error(self) -> HttpError:
        limit = str(int(getattr(self.limiter, "rate_per_s", 0)))
        return HttpError(429, "Too Many Attempts.",
                         headers={"Retry-After": "1", "X-RateLimit-Limit": limit, "X-RateLimit-Remaining": "0"})

    def error_response(self, exc: HttpError) -> Response:
        body: dict[str, Any] = {"message": exc.message}
        if exc.status == 422:
            body["errors"] = {exc.field or "request": [exc.message]}
        return json_response(exc.status, body, exc.headers)

    # -- handlers ----------------------------------------------------------------------------
    def _profile(self, req: Request) -> dict[str, Any]:
        profile = req.ctx.profiles.get(req.params["id"])
        if profile is None:
            raise HttpError(404, f"No query results for model [Omneo\\Profile] {req.params['id']}")
        return profile

    def _get_profile(self, req: Request) -> Response:
        with self.lock:
            return json_response(200, {"data": dict(self._profile(req))})

    def _get_balances(self, req: Request) -> Response:
        with self.lock:
            return json_response(200, {"data": req.ctx.balances(self._profile(req)["id"])})

    def _list(self, req: Request) -> Response:
        for name in sorted(set(req.query) - _LIST_PARAMS):
            raise _invalid(name, f"The {name} parameter is not allowed.")
        size = self._int_arg(req, "page[size]", "page.size", 25, 100)
        number = self._int_arg(req, "page[number]", "page.number", 1, None)
        sort = req.arg("sort") or "id"
        if sort not in _SORTS:
            raise _invalid("sort", f"The sort must be one of: {', '.join(_SORTS)}.")
        since, raw = None, req.arg("filter[updated_at][gte]")
        if raw is not None:
            try:
                since = parse_iso(raw.strip())
            except ValueError:
                raise _invalid("filter.updated_at.gte", "The filter.updated_at.gte is not a valid date.") from None
        owner = req.arg("filter[profile_id]")
        key = "id" if req.params["resource"] == "profiles" else "profile_id"
        with self.lock:
            rows = [dict(r) for r in getattr(req.ctx, req.params["resource"]).values()
                    if (since is None or parse_iso(r["updated_at"]) >= since) and (owner is None or r[key] == owner)]
        field = sort.lstrip("-")
        rows.sort(key=lambda r: (r[field], r["id"]), reverse=sort.startswith("-"))
        total, start = len(rows), (number - 1) * size
        last_page = max(1, math.ceil(total / size))
        page = rows[start:start + size]
        if self.duplicate_across_pages and number > 1 and 0 < start <= total:
            page.insert(0, rows[start - 1])
        body = {
            "data": page,
            "links": {"first": self._url(req, 1), "last": self._url(req, last_page),
                      "prev": self._url(req, number - 1) if number > 1 else None,
                      "next": self._url(req, number + 1) if number < last_page else None},
            "meta": {"current_page": number, "from": start + 1 if start < total else None, "last_page": last_page,
                     "path": f"{self.base_url}{req.path}", "per_page": size,
                     "to": min(start + size, total) if start < total else None, "total": total},
        }
        self.page_built(req, page)
        return json_response(200, body)

    @staticmethod
    def _int_arg(req: Request, name: str, field: str, default: int, maximum: int | None) -> int:
        raw = req.arg(name)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < 1 or (maximum is not None and int(raw) > maximum):
            bound = f"between 1 and {maximum}" if maximum else "at least 1"
            raise _invalid(field, f"The {field} must be an integer {bound}.")
        return int(raw)

    def _url(self, req: Request, number: int) -> str:
        pairs = [(k, v) for k, vs in req.query.items() for v in vs if k != "page[number]"]
        return f"{self.base_url}{req.path}?{urlencode([*pairs, ('page[number]', str(number))])}"
