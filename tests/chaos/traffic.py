"""Live traffic and its tally for the chaos scenarios of issue 15.

``Feeder`` keeps adding activity at the providers' simulators while a scenario runs (a Smile
points transaction, a Rediem points_earned activity, an Omneo points award: one per merchant per
``every_s``), so every merchant's syncs have work all along and a stalled merchant shows as a gap
in its arrivals. ``tally`` compares what every platform simulator accepted with what the seeded
and fed data must produce, per merchant: events expected, lost, duplicates (explained by the
pipeline's count of sends repeated after their worker died, or not), and the longest gap between
two arrivals of the merchant's events at any platform (its stall), from the simulators' own
receive times.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sandbox.demo.stack import Stack
from sandbox.demo.tenants import OmneoTenant, RediemTenant, SmileTenant, Tenant
from tests.chaos import report


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Feeder:
    """Adds one activity per merchant every ``every_s`` until ``stop()``."""

    def __init__(self, stack: Stack, every_s: float = 1.0, seed: int = 15) -> None:
        self._tenants = [t for t in stack.tenants if isinstance(t, (SmileTenant, RediemTenant, OmneoTenant))]
        self._every_s = every_s
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self.added: Counter[str] = Counter()
        self.started_s = self.stopped_s = 0.0

    def __enter__(self) -> Feeder:
        self.started_s = datetime.now(timezone.utc).timestamp()
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(timeout=10)
            self.stopped_s = datetime.now(timezone.utc).timestamp()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            for t in self._tenants:
                self._feed(t)
                self.added[t.merchant] += 1

    def _feed(self, t: Tenant) -> None:
        rng = self._rng
        if isinstance(t, SmileTenant):
            members = [c["id"] for c in t.account.customers.values() if c["state"] == "member"]
            t.account.add_transaction(rng.choice(members), rng.randint(2, 40) * 10, "Placed an order")
        elif isinstance(t, RediemTenant):
            t.program.record(rng.choice(list(t.program.members)), "points_earned", points=rng.randint(2, 40) * 10,
                             action_type="Placed an order")
        elif isinstance(t, OmneoTenant):
            t.tenant.award_points(rng.choice(list(t.tenant.profiles)), rng.randint(5, 50) * 10, name="Purchase points")


@dataclass
class MerchantTally:
    merchant: str
    expected: int = 0
    lost: int = 0
    duplicates: int = 0
    resent: int = 0
    arrivals: list[float] = field(default_factory=list)  # receive times at every platform, sorted
    missing: dict[str, int] = field(default_factory=dict)  # "platform: event" -> missing

    @property
    def explained(self) -> int:
        return min(self.duplicates, self.resent)

    @property
    def unexplained(self) -> int:
        return self.duplicates - self.explained

    def stall_s(self, since_s: float, until_s: float) -> float:
        """The longest time in [since_s, until_s] with no arrival (until the merchant's last
        expected event arrived, if none is missing: after that it has nothing to wait for)."""
        end = until_s if self.lost else min(until_s, max(self.arrivals, default=until_s))
        points = [since_s, *(a for a in self.arrivals if since_s < a < end), end]
        return max((b - a for a, b in zip(points, points[1:])), default=0.0)


def _distinct(events_by_id: dict[str, list[dict[str, Any]]], field_name: str) -> tuple[Counter[str], int, list[float]]:
    types = Counter(v[0][field_name] for v in events_by_id.values() if v)
    dups = sum(len(v) - 1 for v in events_by_id.values() if len(v) > 1)
    return types, dups, [_at(e["received_at"]) for v in events_by_id.values() for e in v]


def _provider_sim(t: Tenant) -> Any:
    if isinstance(t, SmileTenant):
        return t.account.sim
    if isinstance(t, RediemTenant):
        return t.program.sim
    if isinstance(t, OmneoTenant):
        return t.tenant.sim
    return None


def tally(stack: Stack) -> list[MerchantTally]:
    """Every merchant's figures now (safe while the feeder runs)."""
    return [_tally(t, stack.counters()) for t in stack.tenants]


def _tally(t: Tenant, counters: dict[str, dict[str, int]]) -> MerchantTally:
    sim = _provider_sim(t)
    if sim is None:
        return _tally_unlocked(t, counters)
    with sim.lock:  # the feeder adds records under it
        return _tally_unlocked(t, counters)


def _tally_unlocked(t: Tenant, counters: dict[str, dict[str, int]]) -> MerchantTally:
    m = MerchantTally(t.merchant, resent=counters[t.merchant].get("resent_after_interruption", 0))
    sources: list[tuple[str, Counter[str], Counter[str], int, list[float]]] = []
    if t.on_postscript:
        with t.shop.sim.lock:
            got, dups, times = _distinct(dict(t.shop.events_by_external_id), "type")
        sources.append(("postscript", t.expected(), got, dups, times))
    for fan in t.fanout:
        with fan.sim.lock:
            if fan.kind == "attentive":
                got, dups, times = _distinct(dict(fan.account.events_by_external_id), "type")
            else:  # Klaviyo records an event once per unique_id: a resend never shows twice
                events = list(fan.account.events)
                got, dups, times = Counter(e["metric"] for e in events), 0, [_at(e["received_at"]) for e in events]
        sources.append((fan.kind, t.expected_at(fan.kind), got, dups, times))
    for kind, want, got, dups, times in sources:
        m.expected += sum(want.values())
        for name, n in (want - got).items():
            m.missing[f"{kind}: {name}"] = n
        m.lost += sum((want - got).values())
        m.duplicates += dups
        m.arrivals += times
    m.arrivals.sort()
    return m


def receive_times(events: list[dict[str, Any]]) -> list[float]:
    """Receive times (epoch seconds) of simulator events (their ``received_at``), sorted."""
    return sorted(_at(e["received_at"]) for e in events)


def longest_gap(times: list[float], until_s: float) -> float:
    """The longest time between two arrivals from the first until ``until_s``."""
    points = [*sorted(t for t in times if t <= until_s), until_s]
    return max((b - a for a, b in zip(points, points[1:])), default=0.0)


def record_row(scenario: str, *, expected: int, distinct: int, duplicates: int, resent: int, times: list[float],
               disturbed_until_s: float) -> report.ChaosRow:
    """The chaos table's row of a one-merchant scenario: stall from its platform's receive times;
    recovery from the end of the disturbance until the last expected event arrived (until now if
    some never did); duplicates explained up to the sends repeated after their worker died."""
    now = datetime.now(timezone.utc).timestamp()
    end = max(times) if distinct >= expected and times else now
    return report.record(scenario, events=expected, lost=max(0, expected - distinct),
                         duplicates_explained=min(duplicates, resent),
                         duplicates_unexplained=max(0, duplicates - resent), longest_stall_s=longest_gap(times, end),
                         recover_s=max(0.0, end - disturbed_until_s))
