"""The event catalog: which provider records become which named events and profile
properties, on which platforms. Names are exactly those of the source documents
(``shared/seeds``); one module per provider, each a table of rules.

``docs/events.md`` is generated from these tables (``loyalty-pipeline catalog --format markdown``).
"""

from __future__ import annotations

from pipeline.destinations.registry import platform_kinds
from pipeline.transform.catalog import okendo, omneo, rediem, smile
from pipeline.transform.rules import EventRule, ProfileRule

__all__ = ["EVENT_RULES", "PLATFORMS", "PROFILE_RULES", "PROVIDERS"]

PROVIDERS = ("smile", "okendo", "rediem", "omneo")
PLATFORMS = platform_kinds()

EVENT_RULES: tuple[EventRule, ...] = (*smile.EVENTS, *okendo.EVENTS, *rediem.EVENTS, *omneo.EVENTS)
PROFILE_RULES: tuple[ProfileRule, ...] = (*smile.PROFILES, *okendo.PROFILES, *rediem.PROFILES, *omneo.PROFILES)
