"""Beat with a standby: any number of ``celery beat`` processes may run; one leads.

``LeasedScheduler`` (the app's ``beat_scheduler``, workers/config.py) sends due entries only
while it holds the "beat" lease (pipeline/state/leases.py), renewed at every tick (beat wakes at
least every ``beat_max_loop_interval``). The others tick as standbys, trying for the lease; a
killed leader's lease runs out within ``BEAT_LEASE_S`` and a standby takes over, sending at once
whatever its schedule has due (syncs are once per slot, so an entry sent by both is run once).
A leader that shuts down cleanly gives the lease up. Beat no longer drives due deliveries (the
workers do: workers/dispatch.py), so a beat-less minute delays only the next syncs.

Why not celery-redbeat: it also keeps one beat through a Redis lock, but moves the schedule into
Redis for editing at run time, which this project does not need (the schedule is generated
from the connections file), and it adds a dependency whose lock we would have to test anyway.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

from celery.beat import PersistentScheduler
from redis.exceptions import RedisError

from pipeline.state.leases import Acquired
from workers.current import runtime
from workers.quiet import quiet

__all__ = ["BEAT_LEASE_S", "LeasedScheduler", "MAX_LOOP_S"]

log = logging.getLogger(__name__)

#: A leader that stops renewing loses the lead this long after its last tick.
BEAT_LEASE_S = 15.0
#: Beat ticks at least this often (the leader renews, standbys try for the lead).
MAX_LOOP_S = 3.0
SUMMARY_EVERY_S = 60.0
KIND, NAME = "beat", "leader"


class LeasedScheduler(PersistentScheduler):  # type: ignore[misc]  # celery is untyped
    """A PersistentScheduler that sends only while it leads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        self._renewed_at = float("-inf")
        self._summary_at = runtime().clock.monotonic()
        super().__init__(*args, **kwargs)

    def lead(self) -> bool:
        """Take or keep the lead (at most one Redis call a second); whether this beat leads."""
        mono = runtime().clock.monotonic()
        if mono - self._renewed_at < 1.0:
            return self.leading
        try:
            state = runtime().leases.acquire(
                KIND, NAME, self.holder, now_s=runtime().clock.now().timestamp(), ttl_s=BEAT_LEASE_S
            )
        except RedisError as exc:
            log.warning("beat could not renew its lead: %s", type(exc).__name__)
            return False  # it cannot send without Redis (the broker) anyway
        self._renewed_at = mono
        leading = state is not Acquired.BUSY
        if leading != self.leading:
            log.warning("beat %s: %s", self.holder, "leads now" if leading else "lost the lead; standing by")
        self.leading = leading
        if mono - self._summary_at >= SUMMARY_EVERY_S:
            sent = quiet.take()
            if sent:
                log.info(
                    "housekeeping, last %.0f s: %s",
                    mono - self._summary_at,
                    ", ".join(f"{task} sent {n}" for task, n in sorted(sent.items())),
                )
            self._summary_at = mono
        return leading

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.lead():
            return MAX_LOOP_S
        return min(float(super().tick(*args, **kwargs)), MAX_LOOP_S)

    def close(self) -> None:
        try:
            if self.leading:
                runtime().leases.release(KIND, NAME, self.holder)
        except RedisError:
            pass  # the lease runs out by itself
        super().close()
