"""Loopback HTTP simulators of the providers (Smile.io, Omneo, Okendo, Rediem) and Postscript (stdlib only)."""

from __future__ import annotations

from pipeline.sim.attentive import AttentiveAccount, AttentiveSimulator
from pipeline.sim.klaviyo import KlaviyoAccount, KlaviyoSimulator
from pipeline.sim.limiters import TokenBucket, WindowLimiter
from pipeline.sim.okendo import OkendoSimulator, OkendoStore
from pipeline.sim.omneo import OmneoSimulator, OmneoTenant
from pipeline.sim.postscript import PostscriptShop, PostscriptSimulator
from pipeline.sim.rediem import RediemProgram, RediemSimulator
from pipeline.sim.seed import SeedSummary, seed_demo, seed_okendo, seed_omneo, seed_rediem
from pipeline.sim.server import RecordedRequest, SimServer
from pipeline.sim.smile import SmileAccount, SmileSimulator
from pipeline.sim.webhooks import OkendoWebhookSender, OmneoWebhookSender, RediemWebhookSender, SentWebhook

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
