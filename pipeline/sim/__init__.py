"""Loopback HTTP simulators of the Smile.io and Postscript APIs (standard library only)."""

from __future__ import annotations

from pipeline.sim.postscript import PostscriptShop, PostscriptSimulator
from pipeline.sim.seed import SeedSummary, seed_demo
from pipeline.sim.server import RecordedRequest, SimServer, WindowLimiter
from pipeline.sim.smile import SmileAccount, SmileSimulator

__all__ = [
    "PostscriptShop",
    "PostscriptSimulator",
    "RecordedRequest",
    "SeedSummary",
    "SimServer",
    "SmileAccount",
    "SmileSimulator",
    "WindowLimiter",
    "seed_demo",
]
