"""The platforms: one spec per line. A new platform adds its adapter module (ending with its
``SPEC``) and one line here; everything keyed by platform kind is read from these specs."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.destinations import attentive, klaviyo, postscript
from pipeline.destinations.base import DestinationClass
from pipeline.destinations.encoding.base import Encoding
from pipeline.destinations.spec import PlatformSpec

__all__ = [
    "BATCH_SIZES",
    "DESTINATIONS",
    "ENCODINGS",
    "PLATFORM_SPECS",
    "batch_size",
    "encoding",
    "platform_kinds",
    "platform_spec",
]

PLATFORM_SPECS: tuple[PlatformSpec, ...] = (
    postscript.SPEC,
    attentive.SPEC,
    klaviyo.SPEC,
)

DESTINATIONS: Mapping[str, DestinationClass] = {s.kind: s.destination for s in PLATFORM_SPECS}
ENCODINGS: Mapping[str, Encoding] = {s.kind: s.encoding for s in PLATFORM_SPECS}
#: Deliveries per batch for platforms whose bulk endpoints take more than ``DELIVERY_BATCH_SIZE``
BATCH_SIZES: Mapping[str, int] = {s.kind: s.batch_size for s in PLATFORM_SPECS if s.batch_size}


def platform_kinds() -> tuple[str, ...]:
    return tuple(s.kind for s in PLATFORM_SPECS)


def platform_spec(kind: str) -> PlatformSpec:
    for spec in PLATFORM_SPECS:
        if spec.kind == kind:
            return spec
    raise ValueError(f"unknown platform {kind!r}; known: {', '.join(platform_kinds())}")


def encoding(platform: str) -> Encoding:
    return platform_spec(platform).encoding


def batch_size(platform: str, default: int) -> int:
    """Deliveries per batch for ``platform``: its bulk size, or ``default`` if that is larger."""
    return max(default, BATCH_SIZES.get(platform, 0))
