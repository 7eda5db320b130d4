"""Leases on the delivery batches this worker process holds.

Celery keeps every message a worker has taken, prefetched or running, in
``celery.worker.state.reserved_requests``. A batch is leased the moment its message arrives
(``task_received``) and a thread renews the lease of every batch held, every
``RENEW_EVERY_S``; the holder is the message's task id, so a second copy of the batch (a
release after a missed renewal, a broker redelivery) is turned away while this one holds it.
When the process dies, nothing renews them: they come due again within
``RUN_LEASE_S`` and a live worker's dispatcher hands them out again (workers/dispatch.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from celery.signals import task_received, worker_ready
from redis.exceptions import RedisError

from pipeline.state.due import RUN_LEASE_S
from workers.current import runtime

__all__ = ["RENEW_EVERY_S", "held_batches", "renew"]

log = logging.getLogger(__name__)

RENEW_EVERY_S = RUN_LEASE_S / 4
DELIVER_TASK = "lp.deliver_batch"


def held_batches(requests: Iterable[Any]) -> dict[str, list[tuple[str, str]]]:
    """platform → (batch id, task id) of the delivery batches among ``requests`` (Celery ``Request``s)."""
    held: dict[str, list[tuple[str, str]]] = {}
    for req in requests:
        if getattr(req, "name", None) != DELIVER_TASK:
            continue
        args: Sequence[Any] = req.args or ()
        kwargs: dict[str, Any] = req.kwargs or {}
        batch_id = kwargs.get("batch_id")
        if batch_id and len(args) >= 2:
            held.setdefault(args[1], []).append((batch_id, req.id))
    return held


def renew(requests: Iterable[Any]) -> int:
    """Lease every batch among ``requests`` for another ``RUN_LEASE_S``; how many."""
    now_s = runtime().clock.now().timestamp()
    n = 0
    for platform, holds in held_batches(requests).items():
        runtime().due.hold(platform, holds, now_s=now_s, until_s=now_s + RUN_LEASE_S)
        n += len(holds)
    return n


@task_received.connect
def _lease_on_receipt(request: Any = None, **_: Any) -> None:
    try:
        renew([request])
    except RedisError as exc:  # the keeper tries again; the broker still holds the message
        log.warning("could not lease a received batch: %s", type(exc).__name__)


def _keeper(stop: threading.Event) -> None:
    from celery.worker import state

    while not stop.wait(RENEW_EVERY_S):
        try:
            renew(list(state.reserved_requests))
        except RedisError as exc:
            log.warning("could not renew batch leases: %s", type(exc).__name__)
        except Exception:  # never let the keeper die quietly
            log.exception("lease keeper failed; trying again")


@worker_ready.connect
def _start_keeper(**_: Any) -> None:
    threading.Thread(target=_keeper, args=(threading.Event(),), name="lease-keeper", daemon=True).start()
