"""Platform kind → destination class. A new platform adds one line here (and its encoder)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.destinations.attentive import AttentiveDestination
from pipeline.destinations.klaviyo import KlaviyoDestination
from pipeline.destinations.postscript import PostscriptDestination

__all__ = ["DESTINATIONS"]

DESTINATIONS: Mapping[str, Any] = {
    cls.kind: cls for cls in (PostscriptDestination, AttentiveDestination, KlaviyoDestination)
}
