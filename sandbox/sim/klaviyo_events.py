"""The Klaviyo simulator's events: ``POST /api/events`` (one) and ``POST /api/event-bulk-create-jobs``
(bulk create events), per Klaviyo's ``create_event`` and ``bulk_create_events`` operations.

Both check each event the same way and record it in the account's one event store under one
dedup rule: the first event per (metric, profile, unique_id) is kept, a repeat is answered 202 and
only counted in ``deduplicated`` (without unique_id, the time to the second stands in for it).
An event creates or merges its profile; identifiers of two profiles: the first match wins.

Bulk: at most 1,000 events in 5 MB (else 413), entries of one profile and its events. As the
operation documents, a unique_id repeated for one profile (same identifiers) and metric within
one request fails the request (400, nothing recorded). Bulk events are recorded at once: they
are visible as soon as the 202 (no body) is answered, not after ``bulk_delay_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sandbox.sim.klaviyo_schema import IDENTIFIERS, bad, checked_profile, obj
from sandbox.sim.server import HttpError, Request, Response, iso_ms, parse_iso, parse_json_body

if TYPE_CHECKING:
    from sandbox.sim.klaviyo import KlaviyoAccount, KlaviyoSimulator

__all__ = ["MAX_BULK_BYTES", "MAX_BULK_EVENTS", "MAX_EVENT_PROPERTIES", "MAX_METRIC_NAME", "bulk_create_events",
           "create_event"]

MAX_METRIC_NAME, MAX_EVENT_PROPERTIES = 128, 400
MAX_BULK_EVENTS, MAX_BULK_BYTES = 1_000, 5_000_000
_EVENT_TYPES: dict[str, Any] = {"unique_id": str, "value_currency": str, "backfill": bool, "value": (int, float)}
_BULK_EVENT_ATTRS = {*_EVENT_TYPES, "properties", "time", "metric"}
_EVENT_ATTRS = {*_BULK_EVENT_ATTRS, "profile"}
_ENTRY_ATTRS = {"profile", "events", "backfill"}


@dataclass(frozen=True)
class _Event:
    """An event that passed the checks."""

    metric: str
    properties: dict[str, Any]
    time: datetime
    unique_id: str | None

    @property
    def key(self) -> str:
        """What deduplicates it for one profile and metric."""
        return self.unique_id or f"time:{self.time.isoformat()}"


def _checked_event(attrs: dict[str, Any], ptr: str, allowed: set[str], now: datetime) -> _Event:
    for key in sorted(set(attrs) - allowed):
        raise bad(f"{ptr}/{key}", f"{key!r} is not a valid field for the resource 'event'")
    if len(props := obj(attrs.get("properties"), f"{ptr}/properties")) > MAX_EVENT_PROPERTIES:
        raise bad(f"{ptr}/properties", f"must not exceed {MAX_EVENT_PROPERTIES} properties")
    metric = obj(obj(attrs.get("metric"), f"{ptr}/metric").get("data"), f"{ptr}/metric/data", "metric")
    name = obj(metric.get("attributes"), f"{ptr}/metric/data/attributes").get("name")
    if not isinstance(name, str) or not name.strip() or len(name) >= MAX_METRIC_NAME:
        raise bad(f"{ptr}/metric/data/attributes/name", f"required; fewer than {MAX_METRIC_NAME} characters")
    for key, kinds in _EVENT_TYPES.items():  # a bool is an int, but only backfill takes one
        v = attrs.get(key)
        if v is not None and (not isinstance(v, kinds) or isinstance(v, bool) is not (key == "backfill")):
            raise bad(f"{ptr}/{key}", "has the wrong type")
    when = now
    if attrs.get("time") is not None:
        try:
            when = parse_iso(attrs["time"])  # naive = UTC
        except (TypeError, ValueError):
            raise bad(f"{ptr}/time", "must be an ISO 8601 date-time") from None
        if when.year < 1990 or when > now + timedelta(days=365):
            raise bad(f"{ptr}/time", "must be after 1990 and at most 1 year in the future")
    when = when.astimezone(timezone.utc).replace(microsecond=0)  # Klaviyo keeps seconds
    return _Event(name, props, when, attrs.get("unique_id"))


def _record(sim: KlaviyoSimulator, account: KlaviyoAccount, profile: dict[str, Any], event: _Event,
            body: dict[str, Any], via: str) -> None:
    """Keep ``event`` of ``profile`` unless it repeats one (then count it); hold ``sim.lock``."""
    seen = (event.metric, profile["id"], event.key)
    if seen in account._seen:
        account.deduplicated += 1
        return
    account._seen.add(seen)
    account.events.append({"metric": event.metric, "profile_id": profile["id"], "email": profile["email"],
                           "phone_number": profile["phone_number"], "properties": event.properties,
                           "time": event.time.isoformat(), "unique_id": event.unique_id,
                           "received_at": iso_ms(sim.now()), "body": body, "via": via})


def create_event(sim: KlaviyoSimulator, req: Request) -> Response:
    account: KlaviyoAccount = req.ctx[0]
    body = obj(parse_json_body(req, require_content_type=False), "/")
    ptr = "/data/attributes"
    attrs = obj(obj(body.get("data"), "/data", "event").get("attributes"), ptr)
    event = _checked_event(attrs, ptr, _EVENT_ATTRS, sim.now())
    res = checked_profile(obj(attrs.get("profile"), f"{ptr}/profile").get("data"), f"{ptr}/profile/data")
    with sim.lock:
        profile, _ = sim.upsert(account, res, strict=False)
        _record(sim, account, profile, event, body, "single")
    return Response(202)


def _identity(res: dict[str, Any]) -> tuple[Any, ...]:
    """A profile resource's identifiers (emails case-folded): same identity, same profile."""
    attrs = res["attributes"]
    return (res.get("id"), *((attrs.get(k) or "").lower() if k == "email" else attrs.get(k) for k in IDENTIFIERS))


def bulk_create_events(sim: KlaviyoSimulator, req: Request) -> Response:
    account: KlaviyoAccount = req.ctx[0]
    if len(req.body) > MAX_BULK_BYTES:
        raise HttpError(413, f"The payload exceeds the maximum allowed size of {MAX_BULK_BYTES:,} bytes",
                        field="/")
    body = obj(parse_json_body(req, require_content_type=False), "/")
    data = obj(body.get("data"), "/data", "event-bulk-create-job")
    ptr = "/data/attributes/events-bulk-create"
    entries = obj(obj(data.get("attributes"), "/data/attributes").get("events-bulk-create"), ptr).get("data")
    ptr += "/data"
    if not isinstance(entries, list) or not entries:
        raise bad(ptr, "must be a non-empty array of event-bulk-create resources")
    now, checked, keys = sim.now(), [], set()
    for i, entry in enumerate(entries):
        attrs = obj(obj(entry, f"{ptr}/{i}", "event-bulk-create").get("attributes"), f"{ptr}/{i}/attributes")
        at = f"{ptr}/{i}/attributes"
        for key in sorted(set(attrs) - _ENTRY_ATTRS):
            raise bad(f"{at}/{key}", f"{key!r} is not a valid field for the resource 'event-bulk-create'")
        if attrs.get("backfill") is not None and not isinstance(attrs["backfill"], bool):
            raise bad(f"{at}/backfill", "has the wrong type")
        res = checked_profile(obj(attrs.get("profile"), f"{at}/profile").get("data"), f"{at}/profile/data")
        events = obj(attrs.get("events"), f"{at}/events").get("data")
        if not isinstance(events, list) or not events:
            raise bad(f"{at}/events/data", "must be a non-empty array of events")
        parsed = []
        for j, resource in enumerate(events):
            ep = f"{at}/events/data/{j}"
            event = _checked_event(obj(obj(resource, ep, "event").get("attributes"), f"{ep}/attributes"),
                                   f"{ep}/attributes", _BULK_EVENT_ATTRS, now)
            if event.unique_id is not None:
                if (key := (_identity(res), event.metric, event.unique_id)) in keys:
                    raise bad(f"{ep}/attributes/unique_id", "repeats a unique_id of this request for the same "
                                                            "profile and metric; no events were processed")
                keys.add(key)
            parsed.append(event)
        checked.append((res, parsed))
    if (count := sum(len(events) for _, events in checked)) > MAX_BULK_EVENTS:
        raise bad(ptr, f"{count} events; at most {MAX_BULK_EVENTS:,} per request")
    with sim.lock:
        for i, (res, _) in enumerate(checked):  # nothing is recorded unless every profile resolves
            if res.get("id") and res["id"] not in account.profiles:
                raise HttpError(404, f"Profile {res['id']} does not exist",
                                field=f"{ptr}/{i}/attributes/profile/data/id")
        for res, events in checked:
            profile, _ = sim.upsert(account, res, strict=False)
            for event in events:
                _record(sim, account, profile, event, body, "bulk")
    return Response(202)
