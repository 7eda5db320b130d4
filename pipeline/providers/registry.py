"""Provider kind → connector class. A new provider adds one line here."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.providers.http import HttpProvider
from pipeline.providers.okendo import OkendoProvider
from pipeline.providers.omneo import OmneoProvider
from pipeline.providers.rediem import RediemProvider
from pipeline.providers.smile import SmileProvider

__all__ = ["PROVIDERS", "WEBHOOK_EVENT_HEADERS", "WEBHOOK_SCHEMES"]

PROVIDERS: Mapping[str, type[HttpProvider]] = {
    cls.kind: cls for cls in (SmileProvider, OkendoProvider, OmneoProvider, RediemProvider)
}

#: provider kind → signature scheme of its webhook deliveries (pipeline.webhooks.signatures)
WEBHOOK_SCHEMES: Mapping[str, str] = {"okendo": "svix", "rediem": "hmac", "omneo": "omneo"}

#: provider kind → the header naming a delivery's event, where the body does not (Omneo's own
#: app starter routes on ``x-omneo-event``: shared/specs/omneo/README.md §5.4)
WEBHOOK_EVENT_HEADERS: Mapping[str, str] = {"omneo": "x-omneo-event"}
