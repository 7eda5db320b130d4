"""``loyalty-pipeline demo``: the whole pipeline, end to end, on one machine.

Starts (only what is missing) Redis, simulators of all four providers and of Postscript,
seeded; the web process, a Celery worker and a Celery beat as separate processes. Smile,
Omneo and Rediem are pulled by beat's syncs, Okendo (and part of Omneo) is pushed as
signed webhooks. It waits for everything to be delivered, checks what the simulated
Postscript accepted against what was seeded, prints a report, and stops all it started.
``DemoOptions.smile_platforms`` connects the Smile merchants to Klaviyo instead of (or as well
as) Postscript; ``klaviyo_limits`` sets the Klaviyo simulator's limits (None: unlimited).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.demo.stack import DemoOptions, Stack, demo_stack

__all__ = ["DemoOptions", "DemoResult", "Stack", "demo_stack", "run_demo"]


@dataclass
class DemoResult:
    counters: dict[str, int]
    expected_events: int
    received_events: int
    by_provider: dict[str, tuple[int, int]]
    elapsed_s: float = 0.0
    redis: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def summarize(stack: Stack) -> DemoResult:
    per = stack.counters()
    names = next(iter(per.values())).keys()
    by_provider: dict[str, tuple[int, int]] = {}
    problems: list[str] = []
    for t in stack.tenants:
        problems += t.problems()
        if t.on_postscript:
            want, got = sum(t.expected().values()), len(t.shop.events)
            seen = by_provider.get(t.provider, (0, 0))
            by_provider[t.provider] = (seen[0] + want, seen[1] + got)
        for fan in t.fanout:
            seen = by_provider.get(f"{t.provider} → {fan.kind}", (0, 0))
            by_provider[f"{t.provider} → {fan.kind}"] = (seen[0] + sum(t.expected_at(fan.kind).values()),
                                                         seen[1] + sum(fan.received().values()))
    return DemoResult(counters={k: sum(c[k] for c in per.values()) for k in names},
                      expected_events=sum(w for _, (w, _g) in by_provider.items()),
                      received_events=sum(g for _, (_w, g) in by_provider.items()), by_provider=by_provider,
                      problems=problems)


def run_demo(opts: DemoOptions, *, say: Callable[[str], None] = print) -> DemoResult:
    """Run the demo; everything started here is stopped before returning (also on Ctrl-C)."""
    started = time.monotonic()
    with demo_stack(opts, say=say) as stack:
        waiting = stack.wait_settled(opts.timeout_s)
        result = summarize(stack)
        result.problems[:0] = waiting
        result.redis = stack.redis.kind
    result.elapsed_s = time.monotonic() - started
    return result
