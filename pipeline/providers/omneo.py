"""Omneo API v3 (``https://api.{tenant}.getomneo.com/api/v3``; ``base_url`` is required).

Bearer token. Lists are Laravel-paginated: ``page[size]`` (≤ 100), ``page[number]``,
``sort=updated_at`` (oldest first, so a record updated while paging moves to a later page
and is read again rather than skipped), ``filter[updated_at][gte]`` (inclusive); walk until
``links.next`` is null. The cursor we checkpoint is the next page number.

Streams: ``profiles`` (identities; each changed profile's balances are read with
``GET /profiles/{id}/balances`` and become a ``balances`` record), ``points``, ``rewards``,
``transactions``. Redemptions and tier changes have no global list: they arrive as webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from pipeline.errors import FatalError
from pipeline.providers.base import Page
from pipeline.providers.http import HttpProvider
from pipeline.providers.spec import ProviderSpec
from pipeline.ratelimit.window import SECOND_S, Window
from pipeline.types import Customer

__all__ = ["SPEC", "OmneoProvider"]


def _omneo_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class OmneoProvider(HttpProvider):
    kind: ClassVar[str] = "omneo"
    streams: ClassVar[tuple[str, ...]] = ("profiles", "points", "rewards", "transactions")
    identity_streams: ClassVar[tuple[str, ...]] = ("profiles",)

    def fetch(self, stream: str, *, since: datetime | None, cursor: str | None) -> tuple[list[Any], str | None]:
        number = int(cursor) if cursor and cursor.isdigit() else 1
        params: dict[str, Any] = {
            "page[size]": min(self._account.page_size, 100),
            "page[number]": number,
            "sort": "updated_at",
        }
        if since is not None:
            # Omneo timestamps have whole seconds: truncating keeps the bound inclusive
            params["filter[updated_at][gte]"] = _omneo_time(since.replace(microsecond=0))
        path = f"/{stream}"
        body = self.get(path, params)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise FatalError(f"omneo GET {path}: response has no 'data' list")
        next_url = ((body.get("links") or {}).get("next")) or None
        next_number = None
        if next_url:
            values = parse_qs(urlsplit(next_url).query).get("page[number]")
            next_number = values[0] if values and values[0].isdigit() else str(number + 1)
        return data, next_number

    def parse(self, stream: str, raw_records: list[Any], *, extra: Mapping[str, Any] | None = None) -> Page:
        page = super().parse(stream, raw_records, extra=extra)
        if stream != "profiles" or not page.records:
            return page
        balances: list[Any] = []
        for record in page.records:
            body = self.get(f"/profiles/{record.record_id}/balances", {})
            data = body.get("data") if isinstance(body, Mapping) else None
            if isinstance(data, Mapping):
                profile = {k: record.data.get(k) for k in ("email", "mobile_phone_e164", "first_name", "last_name")}
                balances.append(
                    {
                        **data,
                        "profile_id": record.record_id,
                        "updated_at": record.updated_at.isoformat(),
                        "profile": {"id": record.record_id, **profile},
                    }
                )
        derived = super().parse("balances", balances)
        return Page(
            records=[*page.records, *derived.records],
            rejected=[*page.rejected, *derived.rejected],
            after_handover=page.after_handover,
        )

    def fetch_customer(self, customer_id: str) -> Customer | None:
        try:
            body = self.get(f"/profiles/{customer_id}", {})
        except FatalError as exc:
            if exc.status != 404:
                raise
            return Customer(provider_id=customer_id)
        raw = (body or {}).get("data") or {}
        return Customer(provider_id=customer_id, email=raw.get("email"), phone=raw.get("mobile_phone_e164"))


SPEC = ProviderSpec(
    kind="omneo",
    provider=OmneoProvider,
    base_url=None,
    page_size=100,
    bulk_stream="profiles",
    limits={"default": (Window(10, SECOND_S),)},
    webhooks="optional",
    webhook_scheme="omneo",
    # Omneo's own app starter routes on ``x-omneo-event``: shared/specs/omneo/README.md §5.4
    webhook_event_header="x-omneo-event",
)
