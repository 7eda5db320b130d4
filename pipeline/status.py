"""``loyalty-pipeline status``: what an operator needs at a glance, read from Redis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from pipeline import keys
from pipeline.config import Connection
from pipeline.providers.registry import PROVIDERS
from pipeline.ratelimit.limits import LIMITS
from pipeline.redistext import text_map
from pipeline.state.counters import Counters
from pipeline.state.credentials import CredentialStore
from pipeline.state.cursors import CursorStore
from pipeline.state.pauses import Pauses
from pipeline.state.scopes import ScopeStore

__all__ = ["Stores", "collect", "render"]


@dataclass(frozen=True)
class Stores:
    """What ``status`` reads, built by the composition root (workers/wiring.py)."""

    redis: redis.Redis  # queue lengths, due sets, streams and limiter hashes, read directly
    cursors: CursorStore
    credentials: CredentialStore
    pauses: Pauses
    counters: Counters
    scopes: ScopeStore


def _limiter(client: redis.Redis, scope: str) -> dict[str, Any] | None:
    raw = client.hgetall(keys.rate_limit(scope))
    if not raw:
        return None
    data = text_map(raw)
    return {"factor": round(float(data.get("factor", 1)), 3), "blocked_until_us": int(data.get("blocked_until", 0))}


def collect(
    stores: Stores,
    connections: Mapping[str, Connection],
    queues: Sequence[str],
    now: datetime,
    bulk: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data (the ``--json`` output)."""
    client = stores.redis
    cursors, creds, pauses = stores.cursors, stores.credentials, stores.pauses
    counters, scopes = stores.counters, stores.scopes
    platforms = sorted({p.kind for c in connections.values() for p in c.platforms})
    out: dict[str, Any] = {
        "at": now.isoformat(),
        "queues": {q: int(client.llen(q)) for q in queues},
        "due": {p: int(client.zcard(keys.due(p))) for p in platforms},
        "quarantine": {
            k: int(client.xlen(keys.quarantine(k))) for k in sorted({c.provider.kind for c in connections.values()})
        },
        "connections": [],
    }
    for merchant, conn in sorted(connections.items()):
        kind = conn.provider.kind
        states: dict[str, dict[str, Any]] = {}
        for stream in PROVIDERS[kind].streams:
            st = cursors.get(merchant, kind, stream)
            states[stream] = {
                "watermark": st.watermark,
                "last_success_at": st.last_success_at,
                "in_progress": st.in_progress,
            }
        successes = [datetime.fromisoformat(s["last_success_at"]) for s in states.values() if s["last_success_at"]]
        last = max(successes) if successes else None
        cred = creds.get(merchant, "provider", kind)
        entry: dict[str, Any] = {
            "merchant": merchant,
            "provider": kind,
            "last_successful_pull": last.isoformat() if last else None,
            "lag_s": round((now - last).total_seconds(), 1) if last else None,
            "streams": states,
            "credential_failing": {"since": cred.failing_since.isoformat(), "reason": cred.reason} if cred else None,
            "missing_scopes": [m.to_dict() for m in scopes.get(merchant, kind)],
            "counters": counters.get(merchant),
            "platforms": [],
        }
        for account in conn.platforms:
            pause = pauses.get(merchant, account.kind)
            scope_prefix = f"platform:{account.kind}:{merchant}"
            entry["platforms"].append(
                {
                    "platform": account.kind,
                    "dlq": int(client.xlen(keys.dlq(merchant, account.kind))),
                    "paused": {
                        "reason": pause.reason,
                        "since": pause.since.isoformat(),
                        "until": pause.until.isoformat() if pause.until else None,
                    }
                    if pause
                    else None,
                    "limiter": {
                        cls: state
                        for cls in LIMITS.get(account.kind, {})
                        if (state := _limiter(client, f"{scope_prefix}:{cls}"))
                    },
                }
            )
        out["connections"].append(entry)
    if bulk:
        out["bulk_syncs"] = bulk
    return out


def render(data: Mapping[str, Any]) -> str:
    """The status as a few tables for people."""
    lines = [
        f"status at {data['at']}",
        "",
        "queues:   " + "  ".join(f"{q}={n}" for q, n in data["queues"].items()),
        "due set:  " + "  ".join(f"{p}={n}" for p, n in data["due"].items()),
        "quarantine: " + "  ".join(f"{p}={n}" for p, n in data["quarantine"].items()),
        "",
    ]
    lines.append(f"{'MERCHANT':<24} {'PROVIDER':<9} {'LAST PULL':<26} {'LAG':>8}  {'DELIVERED':>9} {'DLQ':>5}  NOTES")
    for c in data["connections"]:
        dlq = sum(p["dlq"] for p in c["platforms"])
        notes = []
        if c["credential_failing"]:
            notes.append(f"provider credential failing since {c['credential_failing']['since']}")
        if c.get("missing_scopes"):
            notes.append(
                "missing scopes: " + ", ".join(f"{m['scope']} ({m['stream']} skipped)" for m in c["missing_scopes"])
            )
        for p in c["platforms"]:
            if p["paused"]:
                notes.append(f"{p['platform']} PAUSED: {p['paused']['reason'][:60]}")
            if p["dlq"]:
                notes.append(f"{p['platform']} dlq={p['dlq']}")
            for cls, st in p["limiter"].items():
                if st["factor"] < 1:
                    notes.append(f"{p['platform']}:{cls} limiter at {st['factor']:.0%}")
        lag = f"{c['lag_s']:.0f}s" if c["lag_s"] is not None else "-"
        lines.append(
            f"{c['merchant']:<24} {c['provider']:<9} {c['last_successful_pull'] or 'never':<26} {lag:>8}  "
            f"{c['counters']['delivered']:>9} {dlq:>5}  {'; '.join(notes)}"
        )
    for name, progress in (data.get("bulk_syncs") or {}).items():
        lines.append(f"bulk sync {name}: {progress}")
    return "\n".join(lines) + "\n"
