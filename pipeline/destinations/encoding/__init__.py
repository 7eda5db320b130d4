"""Per-platform wire encoding, separate from the catalog: one module per platform, whose row
(``encoding.base.Encoding``) sits in the platform's spec (pipeline/destinations/registry.py).
"""

from __future__ import annotations

from typing import Any

from pipeline.destinations.encoding.base import Encoding

__all__ = ["Encoding"]


def __getattr__(name: str) -> Any:
    """``ENCODINGS`` and ``encoding`` now live with the platform specs (registry); read there lazily,
    since importing an adapter initialises this package first."""
    if name in ("ENCODINGS", "encoding"):
        from pipeline.destinations import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
