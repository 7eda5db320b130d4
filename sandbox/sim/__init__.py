"""Loopback HTTP simulators of the providers (Smile.io, Omneo, Okendo, Rediem) and Postscript (stdlib only)."""

from __future__ import annotations

from sandbox.sim.attentive import AttentiveAccount, AttentiveSimulator
from sandbox.sim.klaviyo import KlaviyoAccount, KlaviyoSimulator
from sandbox.sim.limiters import TokenBucket, WindowLimiter
from sandbox.sim.okendo import OkendoSimulator, OkendoStore
from sandbox.sim.omneo import OmneoSimulator, OmneoTenant
from sandbox.sim.postscript import PostscriptShop, PostscriptSimulator
from sandbox.sim.rediem import RediemProgram, RediemSimulator
from sandbox.sim.seed import SeedSummary, seed_demo, seed_okendo, seed_omneo, seed_rediem
from sandbox.sim.server import RecordedRequest, SimServer
from sandbox.sim.smile import SmileAccount, SmileSimulator
from sandbox.sim.webhooks import OkendoWebhookSender, OmneoWebhookSender, RediemWebhookSender, SentWebhook

__all__ = [
    "AttentiveAccount",
    "AttentiveSimulator",
    "KlaviyoAccount",
    "KlaviyoSimulator",
    "OkendoSimulator",
    "OkendoStore",
    "OkendoWebhookSender",
    "OmneoSimulator",
    "OmneoTenant",
    "OmneoWebhookSender",
    "PostscriptShop",
    "PostscriptSimulator",
    "RecordedRequest",
    "RediemProgram",
    "RediemSimulator",
    "RediemWebhookSender",
    "SeedSummary",
    "SentWebhook",
    "SimServer",
    "SmileAccount",
    "SmileSimulator",
    "TokenBucket",
    "WindowLimiter",
    "seed_demo",
    "seed_okendo",
    "seed_omneo",
    "seed_rediem",
]
