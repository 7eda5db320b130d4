"""Everything the pipeline knows about one loyalty provider, in one frozen object.

Each connector module ends with its ``SPEC``; ``pipeline.providers.registry.PROVIDER_SPECS``
lists them (one line per provider), and the registry, config defaults, rate limits, bulk
streams, webhook schemes and CLI choices are read from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.ratelimit.window import Window

if TYPE_CHECKING:
    from pipeline.providers.http import HttpProvider

__all__ = ["ProviderSpec"]


@dataclass(frozen=True, kw_only=True)
class ProviderSpec:
    kind: str
    provider: type[HttpProvider]
    #: the documented API root; None where each account has its own (Omneo tenants)
    base_url: str | None
    page_size: int
    #: the stream that lists every customer with their profile properties (pipeline/bulk.py)
    bulk_stream: str
    limits: Mapping[str, tuple[Window, ...]]
    sync_interval_s: float = 300.0
    #: None: sends no webhooks; "optional" or "required" (then a webhook secret must be configured)
    webhooks: str | None = None
    #: signature scheme of its webhook deliveries (pipeline.webhooks.signatures)
    webhook_scheme: str | None = None
    #: the header naming a delivery's event, where the body does not
    webhook_event_header: str | None = None

    def __post_init__(self) -> None:
        if self.provider.kind != self.kind:
            raise ValueError(f"provider spec {self.kind!r} names connector of kind {self.provider.kind!r}")
        if (self.webhooks is None) != (self.webhook_scheme is None):
            raise ValueError(f"provider spec {self.kind!r}: webhooks and webhook_scheme go together")
