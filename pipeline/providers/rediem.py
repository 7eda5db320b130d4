"""Rediem: the assumed activity-feed API (Rediem publishes none; research/providers.md §3).

``GET {base_url}/api/v1/activities?updated_since=<ISO, inclusive>&limit=<1..100>&cursor=``
with ``Authorization: Bearer <store credential>`` answers ``{"data": [...], "next_cursor"}``,
oldest first by (updated_at, id) with a keyset cursor. Every activity embeds the member, so
no identity lookup is needed. Point ``base_url`` at the real feed once Rediem grants one;
pushes of the same activity objects arrive on the webhook endpoint (HMAC-signed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pipeline.errors import FatalError
from pipeline.providers.http import HttpProvider, iso_utc
from pipeline.providers.spec import ProviderSpec
from pipeline.ratelimit.window import SECOND_S, Window

__all__ = ["SPEC", "RediemProvider"]

PATH = "/api/v1/activities"


class RediemProvider(HttpProvider):
    kind: ClassVar[str] = "rediem"
    streams: ClassVar[tuple[str, ...]] = ("activities",)

    def fetch(self, stream: str, *, since: datetime | None, cursor: str | None) -> tuple[list[Any], str | None]:
        params: dict[str, Any] = {"limit": min(self._account.page_size, 100)}
        if since is not None:
            params["updated_since"] = iso_utc(since)
        if cursor:
            params["cursor"] = cursor
        body = self.get(PATH, params)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise FatalError(f"rediem GET {PATH}: response has no 'data' list")
        return data, body.get("next_cursor") or None


SPEC = ProviderSpec(
    kind="rediem",
    provider=RediemProvider,
    base_url="https://api.rediem.io",
    page_size=100,
    bulk_stream="activities",
    limits={"default": (Window(10, SECOND_S),)},
    webhooks="optional",
    webhook_scheme="hmac",
)
