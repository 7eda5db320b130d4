"""Rediem activity-feed simulator: the API the pipeline *assumes* (Rediem publishes none).

Assumed contract (research/providers.md §3, ``pipeline/providers/schemas/rediem.py``):

* ``GET /api/v1/activities?updated_since=<ISO 8601, inclusive>&limit=<1..100, default 50>&cursor=<opaque>``
  with ``Authorization: Bearer <rediem credential>`` (one credential per program/store).
* Response ``{"data": [activity, ...], "next_cursor": str | null}``, ordered ascending by
  ``(updated_at, id)``. The cursor is a keyset position (the last record sent) plus the
  original ``updated_since``: a record created or updated while a client pages always sorts
  after the cursor, so it appears on a later page and is never skipped. ``next_cursor`` is
  null once nothing is left after the page.
* Errors ``{"error": {"code", "message"}}``: 401 bad credential, 400 bad parameter (unknown
  parameters too), 429 over the rate limit (default 10 rps per credential; no Retry-After).
* Activities: ``{id, type, created_at, updated_at, points, action_type, reward_type,
  reward_code, tier, previous_tier, advocate_first_name, referred_email, rejection_reason,
  customer}`` where ``customer`` is the member's loyalty snapshot after the activity. Ids are
  ``act_`` + 10 digits (so string order is creation order). Timestamps are ISO 8601 with ms.
* Webhook pushes carry one activity as the body, signed with ``hmac_sign``.
* Points and impact counts are integers; ``spend_to_next_tier`` is money (a number).

Every shape here is ASSUMED (``SHAPES`` in the schema module says so); ``tests/contracts/rediem.py``
holds this simulator and the schema to the same field table.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from datetime import datetime, timedelta
from typing import Any, Callable

from sandbox.sim.server import HttpError, Request, Response, SimServer, iso_ms, json_response, parse_iso
from sandbox.sim.webhooks import RediemWebhookSender

__all__ = ["ActivityType", "RediemProgram", "RediemSimulator", "RediemWebhookSender"]

ActivityType = str  # one of pipeline.providers.schemas.rediem.ACTIVITY_TYPES
_PARAMS = {"updated_since", "limit", "cursor"}
_FIELDS = ("points", "action_type", "reward_type", "reward_code", "tier", "previous_tier", "advocate_first_name",
           "referred_email", "rejection_reason")
_REQUIRED = {"points_earned": ("points",), "points_redeemed": ("points",), "tier_achieved": ("tier",),
             "tier_downgrade": ("tier",), "referral_received": ("advocate_first_name",),
             "referral_completed": ("points", "referred_email"), "action_rejected": ("action_type",)}


def _invalid(param: str, message: str) -> HttpError:
    return HttpError(400, f"{param}: {message}", code="invalid_parameter", field=param)


class RediemProgram:
    """One program (one credential): ``members`` (id -> live snapshot) and ``activities`` (id -> record).

    ``tiers`` maps tier name -> lifetime points needed (ascending); a member's
    ``points_to_next_tier`` comes from it and ``spend_to_next_tier`` assumes 10 points per dollar.
    Each ``points_earned`` adds 1 to "Trees Planted" and ``points // 50`` to "Plastic Bottles
    Recycled" (this year's counts, ``impacts_yoy``, grow alike).
    """

    def __init__(self, sim: RediemSimulator, credential: str, program_id: int) -> None:
        self.sim = sim
        self.credential = credential
        self.program_id = program_id
        self.tiers: dict[str, int] = {"Seedling": 0, "Sapling": 500, "Oak": 1500}
        self.members: dict[str, dict[str, Any]] = {}
        self.activities: dict[str, dict[str, Any]] = {}
        self._lifetime: dict[str, int] = {}

    def add_member(self, email: str, phone: str | None = None, first_name: str | None = None, *,
                   birth_date: str | None = None) -> dict[str, Any]:
        """Create a member (no account yet: record a ``signup`` to enrol); returns the live snapshot."""
        with self.sim.lock:
            mid = f"mem_{next(self.sim._member_ids):08d}"
            first_tier = next(iter(self.tiers))
            self.members[mid] = {
                "id": mid, "email": email, "phone": phone, "first_name": first_name, "birth_date": birth_date,
                "current_tier": first_tier, "point_balance": 0, "points_to_next_tier": None,
                "spend_to_next_tier": None, "points_expiring": 0, "points_expiry_date": None,
                "last_action_points": None, "last_action_type": None, "last_reward_type": None,
                "advocate_first_name": None, "redemption_reward_code": None, "has_account": False,
                "opt_in_date": None, "date_last_action": None, "date_last_reward": None,
                "impacts": {"Trees Planted": 0, "Plastic Bottles Recycled": 0},
                "impacts_yoy": {"Trees Planted": 0, "Plastic Bottles Recycled": 0},
            }
            self._lifetime[mid] = 0
            self._refresh_tier_progress(mid)
            return self.members[mid]

    def record(self, member_id: str, type: ActivityType, *, at: datetime | None = None,  # noqa: A002
               **fields: Any) -> dict[str, Any]:
        """Append an activity, updating the member's snapshot; returns the activity.

        Fields by type: ``points_earned`` points (+action_type), ``points_redeemed`` points
        spent (positive; +reward_type, reward_code), ``tier_achieved``/``tier_downgrade`` tier,
        ``referral_received`` advocate_first_name, ``referral_completed`` points +
        referred_email, ``action_rejected`` action_type (+rejection_reason); ``signup`` may
        carry bonus points. ValueError for unknown types/fields or an overdrawn balance.
        """
        unknown = set(fields) - set(_FIELDS)
        if type not in ("signup", *_REQUIRED) or unknown:
            raise ValueError(f"bad activity type {type!r} or fields {sorted(unknown)}")
        missing = [f for f in _REQUIRED.get(type, ()) if fields.get(f) is None]
        if missing:
            raise ValueError(f"{type} needs {missing}")
        points = int(fields["points"]) if fields.get("points") is not None else None
        with self.sim.lock:
            m = self.members[member_id]
            when = at or self.sim.now()
            stamp = iso_ms(when)
            act = {"id": f"act_{next(self.sim._activity_ids):010d}", "type": type, "created_at": stamp,
                   "updated_at": stamp, **{f: fields.get(f) for f in _FIELDS}, "points": points}
            if type == "points_redeemed":
                if points > m["point_balance"]:
                    raise ValueError(f"member {member_id} has only {m['point_balance']} points")
                act["reward_type"] = act["reward_type"] or f"${points // 100} off"
                act["reward_code"] = act["reward_code"] or f"RDM-{act['id'][-6:]}"
                m.update(point_balance=m["point_balance"] - points, last_reward_type=act["reward_type"],
                         redemption_reward_code=act["reward_code"], date_last_reward=stamp)
                m["points_expiring"] = min(m["points_expiring"], m["point_balance"])
            elif type in ("signup", "points_earned", "referral_completed") and points:
                m["point_balance"] += points
                self._lifetime[member_id] += points
                m.update(points_expiring=m["point_balance"],
                         points_expiry_date=iso_ms(when + timedelta(days=365)))
            if type == "signup":
                m.update(has_account=True, opt_in_date=stamp)
            elif type == "points_earned":
                act["action_type"] = act["action_type"] or "Placed an order"
                for impacts in (m["impacts"], m["impacts_yoy"]):
                    impacts["Trees Planted"] += 1
                    impacts["Plastic Bottles Recycled"] += points // 50
            elif type in ("tier_achieved", "tier_downgrade"):
                act["previous_tier"] = m["current_tier"]
                m["current_tier"] = act["tier"]
            elif type == "referral_received":
                m["advocate_first_name"] = act["advocate_first_name"]
            elif type == "action_rejected":
                act["rejection_reason"] = act["rejection_reason"] or "Action already completed"
            if type != "action_rejected":
                m.update(last_action_type=act["action_type"] or type, last_action_points=points, date_last_action=stamp)
            self._refresh_tier_progress(member_id)
            act["customer"] = json.loads(json.dumps(m))  # a snapshot, not the live record
            self.activities[act["id"]] = act
            return act

    def touch(self, activity_id: str, *, at: datetime | None = None, **fields: Any) -> dict[str, Any]:
        """Update an activity (e.g. its rejection reason), bumping its ``updated_at``."""
        with self.sim.lock:
            act = self.activities[activity_id]
            act.update({k: v for k, v in fields.items() if k in _FIELDS})
            act["updated_at"] = iso_ms(at or self.sim.now())
            return act

    def _refresh_tier_progress(self, member_id: str) -> None:
        m, lifetime = self.members[member_id], self._lifetime[member_id]
        above = [need for name, need in self.tiers.items() if need > lifetime]
        to_next = (min(above) - lifetime) if above else None
        m.update(points_to_next_tier=to_next,
                 spend_to_next_tier=to_next / 10 if to_next is not None else None)


class RediemSimulator(SimServer):
    """The assumed Rediem activity feed on loopback; ``add_program(credential)`` creates a program.

    Args:
        rate_per_s: requests per second per credential (None disables).
        duplicate_across_pages: cursors become inclusive, so each page after the first starts
            with the previous page's last record (a common keyset bug the client must absorb).
    """

    def __init__(self, port: int = 0, *, rate_per_s: float | None = 10, now: Callable[[], datetime] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(port, rate_per_s=rate_per_s, now=now, **kwargs)
        self.programs: dict[str, RediemProgram] = {}
        self._program_ids = itertools.count(1)
        self._member_ids = itertools.count(1)
        self._activity_ids = itertools.count(1)
        self.route("GET", r"/api/v1/activities", self._list_activities)

    def add_program(self, credential: str) -> RediemProgram:
        """Register a credential and return its (empty) program."""
        with self.lock:
            program = self.programs[credential] = RediemProgram(self, credential, next(self._program_ids))
            return program

    def authenticate(self, req: Request) -> RediemProgram:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        program = self.programs.get(token.strip()) if scheme.lower() == "bearer" else None
        if program is None:
            raise HttpError(401, "Missing or invalid credential", code="unauthorized")
        return program

    def rate_key(self, req: Request) -> str | None:
        return req.ctx.credential if req.ctx is not None else None

    def rate_limited_error(self) -> HttpError:
        return HttpError(429, "Too many requests", code="rate_limited")

    def _list_activities(self, req: Request) -> Response:
        program: RediemProgram = req.ctx
        for name in sorted(set(req.query) - _PARAMS):
            raise _invalid(name, "unknown parameter")
        raw_limit = req.arg("limit")
        if raw_limit is not None and not (raw_limit.isdigit() and 1 <= int(raw_limit) <= 100):
            raise _invalid("limit", f"must be an integer between 1 and 100, got {raw_limit!r}")
        limit = int(raw_limit or 50)
        cursor = self._decode_cursor(req.arg("cursor"), program) if req.arg("cursor") else None
        since_raw = cursor["s"] if cursor else req.arg("updated_since")
        try:
            since = parse_iso(since_raw) if since_raw else None
        except ValueError:
            raise _invalid("updated_since", f"is not an ISO 8601 date-time: {since_raw!r}") from None
        after = (parse_iso(cursor["u"]), cursor["i"]) if cursor else None

        def key(a: dict[str, Any]) -> tuple[datetime, str]:
            return parse_iso(a["updated_at"]), a["id"]

        with self.lock:
            rows = sorted((dict(a) for a in program.activities.values()
                           if (since is None or key(a)[0] >= since) and (after is None or key(a) >= after)), key=key)
        dup = rows.pop(0) if rows and after is not None and key(rows[0]) == after else None
        page = rows[:limit]
        nxt = None
        if page and len(rows) > limit:
            nxt = self._encode_cursor(program, page[-1]["updated_at"], page[-1]["id"], since_raw)
        if dup is not None and self.duplicate_across_pages:
            page.insert(0, dup)  # an inclusive cursor: the previous page's last record again
        body = {"data": page, "next_cursor": nxt}
        self.page_built(req, page)
        return json_response(200, body)

    @staticmethod
    def _encode_cursor(program: RediemProgram, updated_at: str, act_id: str, since: str | None) -> str:
        raw = json.dumps({"p": program.program_id, "u": updated_at, "i": act_id, "s": since}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(cursor: str, program: RediemProgram) -> dict[str, Any]:
        try:
            state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not isinstance(state, dict) or not isinstance(state.get("i"), str):
                raise ValueError("malformed")
            parse_iso(state["u"])
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise _invalid("cursor", "is invalid or expired") from None
        if state.get("p") != program.program_id:
            raise _invalid("cursor", "belongs to another program")
        return state
