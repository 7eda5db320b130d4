"""Smile.io REST API v1 (``https://api.smile.io/v1``).

Bearer auth; ``GET /customers`` and ``GET /points_transactions`` filtered by
``updated_at_min`` (inclusive), ``limit`` ≤ 250, paged newest first through
``metadata.next_cursor``. Points transactions carry only ``customer_id``: identities come
from the customer directory, filled by the ``customers`` stream (read first) and, for a
customer not seen yet, by ``GET /customers/{id}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

import httpx
from marshmallow import Schema, ValidationError

from pipeline.clock import Clock
from pipeline.config import ProviderAccount
from pipeline.errors import FatalError, InvalidRecord
from pipeline.providers.base import Page, Rejected, get_json
from pipeline.providers.schemas.smile import CustomerSchema, PointsTransactionSchema
from pipeline.state.directory import CustomerDirectory
from pipeline.types import Customer, Record

__all__ = ["SmileProvider"]

#: stream → (path, response list key, schema, extra query parameters)
STREAMS: Mapping[str, tuple[str, str, Schema, Mapping[str, str]]] = {
    "customers": ("/customers", "customers", CustomerSchema(), {"include": "vip_status"}),
    "points_transactions": ("/points_transactions", "points_transactions", PointsTransactionSchema(), {}),
}


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    """The first (field path, message) of a marshmallow error tree."""
    if isinstance(messages, Mapping):
        name, inner = next(iter(messages.items()))
        return _first_error(inner, f"{prefix}.{name}" if prefix else str(name))
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], prefix)
    return prefix, str(messages)


class SmileProvider:
    """Reads one merchant's Smile account."""

    kind: ClassVar[str] = "smile"
    streams: ClassVar[tuple[str, ...]] = ("customers", "points_transactions")

    def __init__(self, *, merchant: str, account: ProviderAccount, client: httpx.Client,
                 directory: CustomerDirectory, clock: Clock) -> None:
        self._merchant = merchant
        self._account = account
        self._client = client
        self._directory = directory
        self._clock = clock

    @staticmethod
    def auth_headers(account: ProviderAccount) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.credential.reveal()}"}

    def pages(self, stream: str, *, since: datetime | None, cursor: str | None) -> Iterator[Page]:
        if stream not in STREAMS:
            raise FatalError(f"smile has no stream {stream!r}")
        path, list_key, schema, extra = STREAMS[stream]
        params: dict[str, Any] = {"limit": self._account.page_size, **extra}
        if since is not None:
            params["updated_at_min"] = _iso(since)
        while True:
            body = get_json(self._client, path, params={**params, **({"cursor": cursor} if cursor else {})},
                            what=f"smile GET {path}", clock=self._clock)
            raw_records = body.get(list_key) if isinstance(body, Mapping) else None
            if not isinstance(raw_records, list):
                raise FatalError(f"smile GET {path}: response has no {list_key!r} list")
            page = self._parse(stream, schema, raw_records)
            cursor = (body.get("metadata") or {}).get("next_cursor") or None
            yield Page(records=page.records, rejected=page.rejected, next_cursor=cursor)
            if cursor is None:
                return

    def _parse(self, stream: str, schema: Schema, raw_records: list[Any]) -> Page:
        valid: list[dict[str, Any]] = []
        rejected: list[Rejected] = []
        for raw in raw_records:
            if not isinstance(raw, Mapping):
                rejected.append(Rejected(stream, {"value": raw}, InvalidRecord(
                    "record is not an object", provider=self.kind, field=stream)))
                continue
            try:
                valid.append(schema.load(raw))
            except ValidationError as exc:
                field, message = _first_error(exc.messages)
                rejected.append(Rejected(stream, raw, InvalidRecord(message, provider=self.kind,
                                                                    field=f"{stream}.{field}")))
        if stream == "customers":
            customers = [Customer(provider_id=str(r["id"]), email=r["email"]) for r in valid]
            self._directory.put_many(self._merchant, self.kind, customers)
            by_id = {c.provider_id: c for c in customers}
            return Page(records=[self._record(stream, r, by_id[str(r["id"])]) for r in valid], rejected=rejected)
        identities = self._identities({str(r["customer_id"]) for r in valid})
        return Page(records=[self._record(stream, r, identities[str(r["customer_id"])]) for r in valid],
                    rejected=rejected)

    def _identities(self, ids: set[str]) -> dict[str, Customer]:
        found = self._directory.get_many(self._merchant, self.kind, sorted(ids))
        missing = [cid for cid in sorted(ids) if cid not in found]
        fetched: list[Customer] = []
        for cid in missing:
            try:
                body = get_json(self._client, f"/customers/{cid}", params={}, what="smile GET /customers/{id}",
                                clock=self._clock)
            except FatalError as exc:
                if exc.status != 404:
                    raise
                body = {}  # deleted customer: its events are kept and skipped at delivery, with the reason
            raw = (body or {}).get("customer") or {}
            fetched.append(Customer(provider_id=cid, email=raw.get("email")))
        if fetched:
            self._directory.put_many(self._merchant, self.kind, fetched)
            found.update({c.provider_id: c for c in fetched})
        return found

    def _record(self, stream: str, data: dict[str, Any], customer: Customer) -> Record:
        return Record(merchant=self._merchant, provider=self.kind, stream=stream, record_id=str(data["id"]),
                      updated_at=data["updated_at"], customer=customer, data=data)
