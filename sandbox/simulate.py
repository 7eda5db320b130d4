"""``loyalty-pipeline simulate``: every simulator the demo uses, seeded, each on its own port.

The demo starts the same seven simulators (sandbox/demo/stack.py); here they are served by
hand, at fixed ports, with fixed credentials, for the walkthrough in docs/operations.md and
for poking at with curl. ``first_port=0``: each simulator takes any free port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sandbox.sim import (AttentiveSimulator, KlaviyoSimulator, OkendoSimulator, OmneoSimulator, PostscriptSimulator,
                         RediemSimulator, SeedSummary, SmileSimulator)
from sandbox.sim.seed import seed_demo, seed_omneo, seed_rediem

__all__ = ["ORDER", "Served", "Simulators", "serve_simulators"]

#: Port offsets from ``first_port``, in this order (smile on ``first_port``, as connections.sim.toml expects).
ORDER = ("smile", "postscript", "okendo", "omneo", "rediem", "attentive", "klaviyo")


@dataclass(frozen=True)
class Served:
    """One running simulator: what to put in a connections file's ``base_url`` and the
    ``Authorization`` header value its seeded account answers to."""

    name: str
    sim: Any
    base_url: str
    authorization: str


@dataclass(frozen=True)
class Simulators:
    served: tuple[Served, ...]
    smile: SeedSummary


@contextmanager
def serve_simulators(first_port: int = 8101, *, customers: int = 100, transactions: int = 1000,
                     members: int = 25, events: int = 150) -> Iterator[Simulators]:
    """Start and seed every simulator (``ORDER``); stop them all on exit, also if one fails to start."""
    port = (lambda name: 0) if first_port == 0 else (lambda name: first_port + ORDER.index(name))
    started: list[Any] = []
    try:
        def start(sim: Any) -> Any:
            started.append(sim.start())
            return sim

        smile = start(SmileSimulator(port=port("smile")))
        postscript = start(PostscriptSimulator(port=port("postscript")))
        okendo = start(OkendoSimulator(port=port("okendo")))
        omneo = start(OmneoSimulator(port=port("omneo")))
        rediem = start(RediemSimulator(port=port("rediem")))
        attentive = start(AttentiveSimulator(port=port("attentive")))
        klaviyo = start(KlaviyoSimulator(port=port("klaviyo")))
        summary = seed_demo(smile.add_account("smile_sim_key"), postscript.add_shop("sk_sim_key"),
                            customers=customers, transactions=transactions)
        okendo.add_store("sim-user", "okendo_sim_key")
        seed_omneo(omneo.add_tenant("omneo_sim_token"), profiles=members, events=events)
        seed_rediem(rediem.add_program("rediem_sim_credential"), members=members, activities=events)
        attentive.add_account("attentive_sim_key")
        klaviyo.add_account("klaviyo_sim_key")
        served = (
            Served("smile", smile, f"{smile.base_url}/v1", "Bearer smile_sim_key"),
            Served("postscript", postscript, postscript.base_url, "Bearer sk_sim_key"),
            Served("okendo", okendo, f"{okendo.base_url}/enterprise", "Basic sim-user:okendo_sim_key"),
            Served("omneo", omneo, f"{omneo.base_url}/api/v3", "Bearer omneo_sim_token"),
            Served("rediem", rediem, rediem.base_url, "Bearer rediem_sim_credential"),
            Served("attentive", attentive, attentive.base_url, "Bearer attentive_sim_key"),
            Served("klaviyo", klaviyo, klaviyo.base_url, "Klaviyo-API-Key klaviyo_sim_key"),
        )
        yield Simulators(served, summary)
    finally:
        for sim in reversed(started):
            sim.stop()
