"""Provider kind → connector class. A new provider adds one line here."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.providers.smile import SmileProvider

__all__ = ["PROVIDERS"]

PROVIDERS: Mapping[str, type[SmileProvider]] = {
    SmileProvider.kind: SmileProvider,
}
