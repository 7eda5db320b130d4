"""How should workers hand out due batches without beat? Measures the two designs of issue 15.

* ``each``: every dispatcher runs the release script of every platform once a second (jittered);
  the script hands each due batch to one caller only.
* ``leader``: dispatchers compete for a short lease each second; only the holder releases.

For N dispatchers (threads, one Redis connection each) against a private redis-server, a producer
adds batches due "now" at a steady rate. It reports the Redis time spent in scripts per second
(``INFO commandstats``), the hand-out delay (release time minus due time: median and max), batches
handed out twice (must be 0), and, for ``leader``, the delay when the leader dies mid-run (its
thread stops without releasing: the others wait for its lease to run out).

    .venv/bin/python scripts/measure_dispatch.py [--seconds 8] [--dispatchers 2,8,32]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections import Counter
from datetime import datetime, timezone

import redis

from sandbox.localredis import start_redis_server
from pipeline.state.due import RedisDueStore
from pipeline.state.leases import Acquired, RedisLeases
from pipeline.types import Customer, Delivery, Event

PLATFORMS = ("postscript", "attentive", "klaviyo")
LEADER_LEASE_S = 5.0
EVENT = Event(id="e1", merchant="m", provider="smile", name="Smile Points Earned",
              occurred_at=datetime(2026, 1, 1, tzinfo=timezone.utc), customer=Customer(provider_id="c1",
              email="jane@example.test"), properties={"Points": 100})


def run(url: str, mode: str, dispatchers: int, seconds: float, rate_per_s: float, kill_leader: bool) -> dict[str, float]:
    admin = redis.Redis.from_url(url)
    admin.flushdb()
    admin.config_resetstat()
    due_at: dict[str, float] = {}
    handed: Counter[str] = Counter()
    delays: list[float] = []
    guard = threading.Lock()
    stop = threading.Event()
    dead: set[int] = set()
    leaders: list[int] = []

    def dispatcher(n: int) -> None:
        client = redis.Redis.from_url(url)
        due, leases, rng = RedisDueStore(client), RedisLeases(client), random.Random(n)
        holder = f"d{n}"
        while not stop.wait(rng.uniform(0.5, 1.5)):
            if n in dead:
                return
            now = time.time()
            if mode == "leader":
                if leases.acquire("dispatch", "leader", holder, now_s=now, ttl_s=LEADER_LEASE_S) is Acquired.BUSY:
                    continue
                with guard:
                    if not leaders or leaders[-1] != n:
                        leaders.append(n)
            for platform in PLATFORMS:
                for batch in due.release(platform, now_s=now, limit=200, lease_s=600):
                    with guard:
                        handed[batch.id] += 1
                        delays.append(now - due_at[batch.id])
        client.close()

    threads = [threading.Thread(target=dispatcher, args=(n,), daemon=True) for n in range(dispatchers)]
    for t in threads:
        t.start()
    producer = RedisDueStore(admin)
    started = time.time()
    killed_at = None
    while time.time() - started < seconds:
        now = time.time()
        platform = random.choice(PLATFORMS)
        batch = producer.add("m", platform, [Delivery(platform=platform, item=EVENT)],
                             due_at_s=now)
        assert batch is not None
        with guard:
            due_at[batch.id] = now
        if kill_leader and killed_at is None and now - started > seconds / 2:
            with guard:
                victim = leaders[-1] if leaders else 0
            dead.add(victim)
            killed_at = now
        time.sleep(1 / rate_per_s)
    time.sleep(LEADER_LEASE_S + 2)  # let the last ones (and a failover) be handed out
    stop.set()
    for t in threads:
        t.join(timeout=5)
    stats = admin.info("commandstats")
    script_usec = sum(v["usec"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    script_calls = sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    elapsed = time.time() - started
    admin.close()
    return {"script calls/s": script_calls / elapsed, "redis script ms/s": script_usec / 1000 / elapsed,
            "delay median s": statistics.median(delays) if delays else float("nan"),
            "delay max s": max(delays) if delays else float("nan"),
            "handed out twice": sum(1 for n in handed.values() if n > 1),
            "not handed out": len(set(due_at) - set(handed))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--dispatchers", default="2,8,32")
    parser.add_argument("--rate", type=float, default=50.0, help="batches due per second")
    args = parser.parse_args()
    local = start_redis_server()
    try:
        print("| mode | dispatchers | leader killed | script calls/s | Redis script ms/s | delay median s | "
              "delay max s | handed out twice | not handed out |")
        print("|---|---|---|---|---|---|---|---|---|")
        for n in (int(x) for x in args.dispatchers.split(",")):
            for mode, kill in (("each", False), ("leader", False), ("leader", True)):
                r = run(local.url, mode, n, args.seconds, args.rate, kill)
                print(f"| {mode} | {n} | {'yes' if kill else 'no'} | {r['script calls/s']:.0f} | "
                      f"{r['redis script ms/s']:.2f} | {r['delay median s']:.2f} | {r['delay max s']:.2f} | "
                      f"{r['handed out twice']} | {r['not handed out']} |", flush=True)
    finally:
        local.stop()


if __name__ == "__main__":
    main()
