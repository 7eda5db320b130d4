"""Platform kind → destination class. A new platform adds one line here."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.destinations.postscript import PostscriptDestination

__all__ = ["DESTINATIONS"]

DESTINATIONS: Mapping[str, type[PostscriptDestination]] = {
    PostscriptDestination.kind: PostscriptDestination,
}
