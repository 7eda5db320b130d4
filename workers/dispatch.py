"""Due work, handed out by the workers themselves (no single beat drives it).

Every worker process runs one dispatcher thread. About every ``DISPATCH_EVERY_S`` (jittered, so
the workers' turns spread out) it

* hands the due batches of every platform to their queues (``release``: a Lua script takes each
  due batch for one caller only, so any number of dispatchers never hand a batch out twice);
* resumes the work whose lease ran out (``LEASE_KINDS``: a sync or balance sync whose worker
  died): the lease is taken from the set atomically, the task enqueued again, and it continues
  from its checkpoint.

Every worker doing this, rather than one elected leader, was measured the better choice
(``scripts/measure_dispatch.py``, figures in docs/reliability.md): no election to lose when
the leader dies, and the cost of a release call that finds nothing is one cheap script run.

Housekeeping is quiet: one INFO line a minute at most, with what was done in that minute;
resuming a dead holder's work is a WARNING (it is news).
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from typing import Any

from celery.signals import worker_ready
from redis.exceptions import RedisError

from pipeline.config import PLATFORM_DEFAULTS
from pipeline.jobs import LEASE_KINDS
from workers.config import INGEST_QUEUE
from workers.current import runtime
from workers.quiet import quiet

__all__ = ["DISPATCH_EVERY_S", "SUMMARY_EVERY_S", "dispatch_once", "resume"]

log = logging.getLogger(__name__)

DISPATCH_EVERY_S = 1.0
SUMMARY_EVERY_S = 60.0
#: Expired leases resumed per kind per turn.
RESUME_LIMIT = 50


def resume(kind: str, name: str) -> None:
    """Enqueue again the work of a lease that ran out (its holder died)."""
    from workers.tasks.ingest import balance_sync, resume_ingest, sync_connection

    if kind in ("stream", "page"):  # a sync run's stream or page (pipeline/jobs.py LEASE_KINDS)
        resume_ingest(kind, name)
        return
    if name not in runtime().connections:
        return  # a merchant removed from the connections file
    if kind == "sync":
        sync_connection.apply_async((name,), {"scheduled": False}, queue=INGEST_QUEUE)
    elif kind == "balances":
        balance_sync.apply_async((name,), {"resume": True}, queue=INGEST_QUEUE)


def dispatch_once() -> Counter[str]:
    """One turn: release due batches, resume work whose lease ran out; what was done."""
    from workers.tasks.deliver import release

    done: Counter[str] = Counter()
    for platform in PLATFORM_DEFAULTS:
        done["released"] += release(platform)
    now_s = runtime().clock.now().timestamp()
    for kind in LEASE_KINDS:
        for name, holder in runtime().leases.expired(kind, now_s=now_s, limit=RESUME_LIMIT):
            log.warning(
                "%s of %s resumed: its holder %s stopped renewing its lease",
                kind,
                name,
                holder or "?",
                extra={"merchant": name},
            )
            resume(kind, name)
            done[f"resumed_{kind}"] += 1
    return done


def _loop(stop: threading.Event, rng: random.Random) -> None:
    totals: Counter[str] = Counter()
    turns, last_summary = 0, runtime().clock.monotonic()
    while not stop.wait(DISPATCH_EVERY_S * rng.uniform(0.5, 1.5)):
        try:
            totals += dispatch_once()
            turns += 1
        except RedisError as exc:
            totals["redis_errors"] += 1
            log.debug("dispatch turn failed: %s", type(exc).__name__)
        except Exception:  # never let the dispatcher die quietly
            log.exception("dispatch turn failed; trying again")
        now = runtime().clock.monotonic()
        if now - last_summary >= SUMMARY_EVERY_S:
            totals.update({f"{task} tasks": n for task, n in quiet.take().items()})
            if totals:
                log.info(
                    "housekeeping, last %.0f s: %d dispatcher turns, %s",
                    now - last_summary,
                    turns,
                    ", ".join(f"{k} {v}" for k, v in sorted(totals.items())),
                )
            totals, turns, last_summary = Counter(), 0, now


@worker_ready.connect
def _start_dispatcher(**_: Any) -> None:
    threading.Thread(target=_loop, args=(threading.Event(), random.Random()), name="dispatcher", daemon=True).start()
