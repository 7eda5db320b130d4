"""Everything the pipeline knows about one messaging platform, in one frozen object.

Each adapter module ends with its ``SPEC``; ``pipeline.destinations.registry.PLATFORM_SPECS``
lists them (one line per platform), and the registries, config defaults, rate limits, batch
sizes, CLI choices and Celery queue names are all read from there (docs/delivery.md, "Adding a
platform").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.destinations.encoding.base import Encoding
from pipeline.ratelimit.window import Window

if TYPE_CHECKING:
    from pipeline.destinations.base import DestinationClass

__all__ = ["PlatformSpec", "delivery_queue"]


def delivery_queue(kind: str) -> str:
    """Each platform has its own queue: one that is down or throttled does not stall the others."""
    return f"deliver.{kind}"


@dataclass(frozen=True, kw_only=True)
class PlatformSpec:
    kind: str
    destination: DestinationClass
    encoding: Encoding
    base_url: str
    #: the default unknown-subscriber policy ("skip" or "create"; pipeline/config.py)
    unknown_subscriber: str
    #: why "skip" cannot be chosen, where the platform has no subscriber lookup
    no_skip_reason: str | None = None
    #: endpoint class → the windows a request must fit in (documented limits)
    limits: Mapping[str, tuple[Window, ...]]
    #: (path regex, endpoint class); first match wins, else "default"
    rate_classes: tuple[tuple[str, str], ...] = ()
    #: deliveries per batch where its bulk endpoints take more than ``DELIVERY_BATCH_SIZE`` (0: the default)
    batch_size: int = 0

    def __post_init__(self) -> None:
        if self.destination.kind != self.kind:
            raise ValueError(f"platform spec {self.kind!r} names destination of kind {self.destination.kind!r}")
        if "default" not in self.limits and not self.rate_classes:
            raise ValueError(f"platform spec {self.kind!r}: limits need a 'default' class")

    @property
    def queue(self) -> str:
        return delivery_queue(self.kind)
