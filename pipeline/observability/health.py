"""Health: is Redis fit for a queue (readiness), and is each worker still consuming (liveness).

**Readiness.** ``readiness(redis)`` returns warnings, not failures: Redis without persistence
(``appendonly no`` and no ``save`` points) loses every queued task, the dead-letter queue and
all state on a restart; an eviction policy other than ``noeviction`` drops them under memory
pressure (research/anchors.md §c item 8). Managed Redis often refuses ``CONFIG``: that is a
warning too. The web process answers ``GET /readyz`` with ``{"warnings": [...]}``: 200 if
Redis answers, 503 if not.

**Liveness that proves consumption** (anchors §c item 7: after a Redis reconnect a worker
can stay up and consume nothing). Beat puts an ``lp.heartbeat`` task on every queue every
few seconds. Whichever worker consumes one writes ``beat_heartbeat(redis, <its name>, now)``:
the key ``<prefix>:heartbeat:<worker>`` holds the time. A worker's liveness probe runs

    python -m pipeline.observability.health alive --worker celery@$(hostname) --max-age 120

which exits 1 when that worker has consumed no heartbeat for ``--max-age`` seconds (it reads
``REDIS_URL``). With N workers sharing the queues each gets about 1/N of the heartbeats: with
5 queues every 10 s, 120 s is 60 heartbeats, so a healthy worker among 4 misses them all with
a probability of (3/4)^60, about 3e-8. The probe depends on beat: give it a generous
``failureThreshold`` and alert on beat separately, or every worker restarts when beat stops.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import redis

from pipeline import keys

__all__ = [
    "HEARTBEAT_TTL_S",
    "beat_heartbeat",
    "heartbeat_ages",
    "heartbeat_key",
    "is_alive",
    "last_heartbeat",
    "readiness",
    "readyz_app",
]

#: A heartbeat key outlives its worker this long, so a dead worker stays visible for a day.
HEARTBEAT_TTL_S = 24 * 3600


def heartbeat_key(worker: str) -> str:
    """String with TTL: when ``worker`` last consumed a heartbeat task (Unix seconds)."""
    return keys.heartbeat(worker)


def beat_heartbeat(client: redis.Redis, worker: str, now_s: float, *, ttl_s: int = HEARTBEAT_TTL_S) -> None:
    """Record that ``worker`` consumed a heartbeat task at ``now_s``."""
    pipe = client.pipeline(transaction=False)
    pipe.set(heartbeat_key(worker), repr(float(now_s)), ex=ttl_s)
    pipe.zadd(keys.heartbeats(), {worker: float(now_s)})  # read by /metrics without a SCAN
    pipe.zremrangebyscore(keys.heartbeats(), "-inf", float(now_s) - ttl_s)
    pipe.execute()


def last_heartbeat(client: redis.Redis, worker: str) -> float | None:
    raw = client.get(heartbeat_key(worker))
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def is_alive(client: redis.Redis, worker: str, now_s: float, max_age_s: float) -> bool:
    """Whether ``worker`` consumed a heartbeat task at most ``max_age_s`` before ``now_s``."""
    last = last_heartbeat(client, worker)
    return last is not None and now_s - last <= max_age_s


def heartbeat_ages(client: redis.Redis, now_s: float | None = None, *, max_keys: int = 1_000) -> dict[str, float]:
    """Seconds since each known worker's last heartbeat, from the ``keys.heartbeats()`` index (one
    ZRANGE, no SCAN; at most ``max_keys`` workers, the most recent). Workers that heartbeat only
    through an older release (no index entry) are found by a SCAN, once, while the index is empty."""
    now_s = time.time() if now_s is None else now_s
    indexed = cast("list[tuple[bytes, float]]", client.zrange(keys.heartbeats(), -max_keys, -1, withscores=True))
    if indexed:
        return {
            (name.decode() if isinstance(name, bytes) else name): max(0.0, now_s - float(score))
            for name, score in sorted(indexed)
        }
    prefix = heartbeat_key("")
    names: list[str] = []
    for key in client.scan_iter(match=heartbeat_key("*"), count=1_000, _type="string"):
        names.append(key.decode() if isinstance(key, bytes) else key)
        if len(names) >= max_keys:
            break
    names.sort()
    ages: dict[str, float] = {}
    for name, raw in zip(names, client.mget(names) if names else [], strict=True):
        if raw is None:
            continue  # expired between SCAN and MGET
        try:
            ages[name[len(prefix) :]] = max(0.0, now_s - float(raw))
        except (TypeError, ValueError):
            continue  # not ours
    return ages


def _config(client: redis.Redis, name: str) -> str | None:
    values = client.config_get(name)
    for key, value in (values or {}).items():
        if (key.decode() if isinstance(key, bytes) else key) == name:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def readiness(client: redis.Redis) -> list[str]:
    """Warnings about ``client``'s Redis as a broker and store (empty: all is well).

    Raises:
        redis.ConnectionError, redis.TimeoutError: Redis does not answer.
    """
    client.ping()
    try:
        config = {name: _config(client, name) for name in ("appendonly", "save", "appendfsync", "maxmemory-policy")}
    except redis.ResponseError as exc:  # CONFIG disabled or renamed (managed Redis)
        return [f"cannot read config (CONFIG GET refused: {str(exc)[:80]}): persistence and eviction policy unknown"]
    warnings: list[str] = []
    missing = [name for name in ("appendonly", "save", "maxmemory-policy") if config[name] is None]
    if missing:
        warnings.append(f"cannot read config ({', '.join(missing)} not reported): cannot check them")
    if config["appendonly"] == "no" and config["save"] is not None and not config["save"].strip():
        warnings.append(
            "persistence is off (appendonly no, no save points): a restart loses queued tasks, "
            "the dead-letter queue and all state; set appendonly yes"
        )
    elif config["appendonly"] == "yes" and config["appendfsync"] == "no":
        warnings.append("appendfsync is no: a crash can lose tens of seconds of writes; use everysec")
    policy = config["maxmemory-policy"]
    if policy is not None and policy != "noeviction":
        warnings.append(
            f"maxmemory-policy is {policy}, not noeviction: under memory pressure Redis evicts queued tasks and state"
        )
    return warnings


def _reply(start_response: Callable[..., Any], status: str, payload: Mapping[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def readyz_app(state: redis.Redis, *, broker: redis.Redis | None = None) -> Callable[..., Iterable[bytes]]:
    """WSGI app for ``GET /readyz``: 200 ``{"warnings": [...]}``, or 503 if a Redis does not answer.

    Warnings about the broker (when it is another Redis) start with ``broker:``.
    """
    clients = [("", state)] + ([("broker: ", broker)] if broker is not None and broker is not state else [])

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        warnings: list[str] = []
        for prefix, client in clients:
            try:
                warnings += [prefix + w for w in readiness(client)]
            except redis.RedisError as exc:
                name = prefix.rstrip(": ") or "redis"
                return _reply(
                    start_response,
                    "503 Service Unavailable",
                    {"error": f"{name} does not answer ({type(exc).__name__})", "warnings": warnings},
                )
        return _reply(start_response, "200 OK", {"warnings": warnings})

    return app


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """``alive --worker NAME --max-age S`` (exit 1 if stale) or ``ready`` (prints warnings)."""
    from pipeline.redisurl import connect
    from pipeline.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m pipeline.observability.health")
    sub = parser.add_subparsers(dest="command", required=True)
    alive = sub.add_parser("alive", help="exit 1 unless WORKER consumed a heartbeat task recently")
    alive.add_argument("--worker", required=True, help="Celery node name, e.g. celery@$(hostname)")
    alive.add_argument("--max-age", type=float, default=120.0, help="seconds (default 120)")
    sub.add_parser("ready", help="print readiness warnings; exit 1 if Redis does not answer")
    args = parser.parse_args(argv)
    client = connect(Settings.from_env(env).redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        if args.command == "alive":
            ok = is_alive(client, args.worker, time.time(), args.max_age)
            print(f"{args.worker}: {'alive' if ok else f'no heartbeat consumed in the last {args.max_age:g}s'}")
            return 0 if ok else 1
        for warning in readiness(client):
            print(f"warning: {warning}")
        return 0
    except redis.RedisError as exc:
        print(f"redis does not answer ({type(exc).__name__})", file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    raise SystemExit(main())
