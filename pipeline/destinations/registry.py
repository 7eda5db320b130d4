"""Platform kind → destination class. A new platform adds one line here (and its encoder)."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.destinations.attentive import AttentiveDestination
from pipeline.destinations.base import DestinationClass
from pipeline.destinations.klaviyo import KlaviyoDestination
from pipeline.destinations.postscript import PostscriptDestination

__all__ = ["BATCH_SIZES", "DESTINATIONS", "batch_size"]

DESTINATIONS: Mapping[str, DestinationClass] = {
    cls.kind: cls for cls in (PostscriptDestination, AttentiveDestination, KlaviyoDestination)
}

#: Deliveries per batch for platforms whose bulk endpoints take more than ``DELIVERY_BATCH_SIZE``
#: (Klaviyo: 1,000 events per bulk create request; a batch is one request, one Celery message).
BATCH_SIZES: Mapping[str, int] = {"klaviyo": 1000}


def batch_size(platform: str, default: int) -> int:
    """Deliveries per batch for ``platform``: its bulk size, or ``default`` if that is larger."""
    return max(default, BATCH_SIZES.get(platform, 0))
