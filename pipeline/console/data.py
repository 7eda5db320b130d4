"""What the console's pages show, as plain data, read from Redis with the library's own
readers (``pipeline.status``, ``pipeline.dlq``, ``pipeline.quarantine``, the customer trail).
Everything personal is masked here (``pipeline.redact``), before any template sees it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis

from pipeline import keys
from pipeline.clock import Clock
from pipeline.config import Connection
from pipeline.dlq import DeadLetter, DlqFilter, entries, summary
from pipeline.quarantine import entries as quarantined
from pipeline.redact import mask, mask_email, mask_phone
from pipeline.state import activity
from pipeline.state.due import DueStore
from pipeline.state.journal import Journal
from pipeline.state.pauses import Pauses
from pipeline.state.trail import Trail, latest_per_delivery
from pipeline.state.trail import identity as trail_identity
from pipeline.status import Stores, collect
from pipeline.types import Record

__all__ = ["ConsoleDeps", "customer", "dead_letter", "dead_letters", "overview", "quarantine", "row"]

#: Columns of the overview's flow, in pipeline order: (counter, label).
FLOW = (
    ("pulled", "pulled"),
    ("transformed", "transformed"),
    ("delivered", "delivered"),
    ("skipped", "skipped"),
    ("retried", "retrying"),
    ("dead_lettered", "dead-lettered"),
    ("rate_limited", "429s"),
)

#: A connection whose last successful pull is older than this many sync intervals is late
#: (the same N as the SyncLagHigh alert in deploy/prometheus/alerts.yml).
LATE_AFTER_INTERVALS = 3


@dataclass(frozen=True)
class ConsoleDeps:
    """What the console reads and writes; built by the composition root (workers/console.py)."""

    redis: redis.Redis
    connections: Mapping[str, Connection]
    clock: Clock
    due: DueStore
    queues: Sequence[str]
    dedup_ttl_s: int
    #: hands re-driven quarantined records to delivery: (merchant, records) → None
    handover: Callable[[str, list[Record]], None]
    #: the stores ``status`` reads
    status: Stores
    #: dead letters, skips and quarantine
    journal: Journal
    pauses: Pauses
    #: the customer index (hashed identities)
    trail: Trail

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(m, p.kind) for m, c in sorted(self.connections.items()) for p in c.platforms]

    @property
    def providers(self) -> list[str]:
        return sorted({c.provider.kind for c in self.connections.values()})

    @property
    def platforms(self) -> list[str]:
        return sorted({p for _, p in self.pairs})

    def rates(self) -> dict[tuple[str, str], float | None]:
        return {(m, p.kind): p.rate_per_s for m, c in self.connections.items() for p in c.platforms}


def overview(deps: ConsoleDeps) -> dict[str, Any]:
    """``status`` plus the flow of the last hour and day per merchant × platform, with rates."""
    now = deps.clock.now()
    data = collect(deps.status, deps.connections, deps.queues, now)
    scopes = [*((m, activity.INGEST) for m in sorted(deps.connections)), *deps.pairs]
    windows = activity.windows(deps.redis, scopes, now.timestamp())
    flows = []
    for conn in data["connections"]:
        interval_s = deps.connections[conn["merchant"]].provider.sync_interval_s
        conn["interval_s"] = interval_s
        conn["late"] = conn["lag_s"] is None or conn["lag_s"] > LATE_AFTER_INTERVALS * interval_s
        for p in conn["platforms"]:
            for state in p["limiter"].values():
                state["held_s"] = round(max(0.0, state["blocked_until_us"] / 1e6 - now.timestamp()), 1)
        ingest = windows[conn["merchant"], activity.INGEST]
        for p in conn["platforms"]:
            sent = windows[conn["merchant"], p["platform"]]
            per: dict[str, Any] = {}
            for w in activity.WINDOWS:
                counts = {**ingest[w.name], **sent[w.name]}
                per[w.name] = {name: counts.get(name, 0) for name, _ in FLOW}
                per[w.name]["per_min"] = round(counts.get("delivered", 0) / (w.span_s / 60), 2)
            flows.append(
                {
                    "merchant": conn["merchant"],
                    "provider": conn["provider"],
                    "platform": p["platform"],
                    "dlq": p["dlq"],
                    "paused": p["paused"],
                    "limiter": p["limiter"],
                    **per,
                }
            )
    data["flows"] = flows
    data["flow_columns"] = FLOW
    for conn in data["connections"]:  # free text from platforms and providers: masked
        if conn["credential_failing"]:
            conn["credential_failing"]["reason"] = mask(conn["credential_failing"]["reason"])
        for p in conn["platforms"]:
            if p["paused"]:
                p["paused"]["reason"] = mask(p["paused"]["reason"])
    return data


row = summary  # a dead letter as the CLI lists it


def dead_letters(deps: ConsoleDeps, flt: DlqFilter, *, limit: int | None = None) -> list[DeadLetter]:
    found = []
    for e in entries(deps.journal, deps.pairs, flt):
        found.append(e)
        if limit is not None and len(found) >= limit:
            break
    return found


def dead_letter(deps: ConsoleDeps, merchant: str, platform: str, entry_id: str) -> dict[str, Any] | None:
    """One entry as ``dlq show`` prints it: the delivery, the request summary, every attempt."""
    for e in entries(deps.journal, [(merchant, platform)], DlqFilter(ids=frozenset([entry_id]))):
        found = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",  # a stream this project writes (journal.py)
            deps.redis.xrange(keys.dlq(merchant, platform), min=entry_id, max=entry_id, count=1),
        )
        raw = json.loads(found[0][1][b"json"]) if found else {}
        item = e.delivery.item
        return {
            **row(e),
            "delivery_id": e.delivery.id,
            "request": mask(raw.get("request", "")),
            "response_excerpt": mask(e.response_excerpt),
            "attempts": e.attempts,
            "provider": item.provider,
            "occurred_at": getattr(item, "occurred_at", getattr(item, "as_of", None)),
            # text is masked; numbers (points, transaction ids) are not personal and stay readable
            "properties": {k: mask(v) if isinstance(v, str) else str(v) for k, v in item.properties.items()},
            "customer": {
                "provider_id": item.customer.provider_id,
                "email": mask_email(item.customer.email or ""),
                "phone": mask_phone(item.customer.phone or ""),
            },
        }
    return None


def customer(deps: ConsoleDeps, typed: str) -> dict[str, Any]:
    """What happened to the deliveries of the customer with this email or phone: the latest
    state of each delivery with its history, newest first, per platform."""
    identity = trail_identity(typed)
    trail = deps.trail.lookup(identity)
    deliveries: list[dict[str, Any]] = []
    for latest, history in latest_per_delivery(trail):
        deliveries.append({"latest": latest.__dict__, "history": [h.__dict__ for h in history]})
    platforms = sorted({d["latest"]["platform"] for d in deliveries})
    # entries hold no email or phone (their detail was masked when written)
    return {
        "identity": identity,
        "masked": mask(typed.strip()),
        "deliveries": deliveries,
        "platforms": platforms,
        "counts": _count(d["latest"]["outcome"] for d in deliveries),
    }


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def quarantine(deps: ConsoleDeps, provider: str | None, *, limit: int = 200) -> list[dict[str, Any]]:
    journal = deps.journal
    rows = []
    for kind in [provider] if provider else deps.providers:
        for e in quarantined(journal, kind, count=limit):
            rows.append(
                {
                    "id": e.id,
                    "merchant": e.merchant,
                    "provider": e.provider,
                    "resource": e.resource,
                    "field": e.field,
                    "error": mask(e.error),
                    "at": e.at,
                    "payload": mask(dict(e.payload)),
                }
            )
    return rows[:limit]


def when(text: str | None) -> datetime | None:
    """An ISO 8601 time from a form (``datetime-local`` gives no zone: UTC); ValueError if bad."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
