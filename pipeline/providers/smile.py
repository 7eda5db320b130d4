"""Smile.io REST API v1 (``https://api.smile.io/v1``).

Bearer auth; ``GET /customers`` (``include=vip_status``), ``GET /points_transactions`` and
``GET /reward_fulfillments`` filtered by ``updated_at_min`` (inclusive), ``limit`` ≤ 250,
paged newest first through ``metadata.next_cursor`` (cursor pages continue below the last
id returned, so records created while paging are not skipped: they are newer and are read
by the next sync, whose window starts at the watermark). Activity records carry only
``customer_id``: identities come from the ``customers`` stream (read first) and, for a
customer not seen yet, from ``GET /customers/{id}``.

Each stream needs its own scope (``shared/specs/smile/scopes.md`` §2). Seed 002's key has only
``customer:read``: then ``customers`` is read (both seed-002 properties and the enrolment and
tier events come from it) and the two other streams are skipped with ``ScopeMissing``, which
``status`` shows; the connection is never paused for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pipeline.errors import FatalError
from pipeline.providers.http import HttpProvider, iso_utc
from pipeline.providers.spec import ProviderSpec
from pipeline.ratelimit.window import SECOND_S, Window
from pipeline.types import Customer

__all__ = ["SPEC", "SmileProvider"]

#: stream → (path, response list key, extra query parameters)
STREAMS: Mapping[str, tuple[str, str, Mapping[str, str]]] = {
    "customers": ("/customers", "customers", {"include": "vip_status"}),
    "points_transactions": ("/points_transactions", "points_transactions", {}),
    "reward_fulfillments": ("/reward_fulfillments", "reward_fulfillments", {}),
}


class SmileProvider(HttpProvider):
    """Reads one merchant's Smile account."""

    kind: ClassVar[str] = "smile"
    streams: ClassVar[tuple[str, ...]] = ("customers", "points_transactions", "reward_fulfillments")
    identity_streams: ClassVar[tuple[str, ...]] = ("customers",)
    scopes: ClassVar[Mapping[str, str]] = {
        "customers": "customer:read",
        "points_transactions": "points_transaction:read",
        "reward_fulfillments": "reward_fulfillment:read",
    }

    def fetch(self, stream: str, *, since: datetime | None, cursor: str | None) -> tuple[list[Any], str | None]:
        path, list_key, extra = STREAMS[stream]
        params: dict[str, Any] = {"limit": self._account.page_size, **extra}
        if since is not None:
            params["updated_at_min"] = iso_utc(since)
        if cursor:
            params["cursor"] = cursor
        body = self.get(path, params)
        raw_records = body.get(list_key) if isinstance(body, Mapping) else None
        if not isinstance(raw_records, list):
            raise FatalError(f"smile GET {path}: response has no {list_key!r} list")
        return raw_records, (body.get("metadata") or {}).get("next_cursor") or None

    def fetch_customer(self, customer_id: str) -> Customer | None:
        try:
            body = self.get(f"/customers/{customer_id}", {})
        except FatalError as exc:
            if exc.status != 404:
                raise
            return Customer(provider_id=customer_id)  # deleted: its events are skipped at delivery, with the reason
        raw = (body or {}).get("customer") or {}
        return Customer(provider_id=customer_id, email=raw.get("email"))


SPEC = ProviderSpec(
    kind="smile",
    provider=SmileProvider,
    base_url="https://api.smile.io/v1",
    page_size=250,
    bulk_stream="customers",
    limits={"default": (Window(10, SECOND_S),)},
)
