"""``HttpProvider``: the fetch loop every HTTP connector shares.

A connector declares ``kind`` and ``streams`` and writes two hooks: ``fetch(stream, since,
cursor)`` (one page of raw objects and the next cursor) and, if its activity records carry
only a customer id, ``fetch_customer(id)``. Validation, quarantine of bad records,
snapshots for change events and the customer directory are handled here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from pipeline.accounts import ProviderAccount
from pipeline.clock import Clock
from pipeline.errors import AuthError, FatalError, InvalidRecord, ScopeMissing
from pipeline.http.client import HttpClient
from pipeline.providers.base import Page, Rejected, get_json
from pipeline.providers.resources import decode, resource, snapshot_of
from pipeline.state.directory import CustomerDirectory
from pipeline.state.snapshots import SnapshotStore
from pipeline.types import Customer, Record

__all__ = ["HttpProvider", "iso_utc"]


def iso_utc(value: datetime) -> str:
    """``2026-03-01T12:00:00.000Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HttpProvider:
    """Base of the HTTP connectors. Subclasses set ``kind``/``streams`` and implement ``fetch``."""

    kind: ClassVar[str]
    streams: ClassVar[tuple[str, ...]]
    #: streams whose records establish identities (the customer directory is filled from them)
    identity_streams: ClassVar[tuple[str, ...]] = ()
    #: stream → the API scope reading it needs; a 403 there is ``ScopeMissing``, not a refused key
    scopes: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        *,
        merchant: str,
        account: ProviderAccount,
        client: HttpClient,
        directory: CustomerDirectory,
        snapshots: SnapshotStore,
        clock: Clock,
    ) -> None:
        self._merchant = merchant
        self._account = account
        self._client = client
        self._directory = directory
        self._snapshots = snapshots
        self._clock = clock
        self._key_works = False  # a request with this key has succeeded (so a 401 later is a scope)

    @staticmethod
    def auth_headers(account: ProviderAccount) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.credential.reveal()}"}

    def fetch(self, stream: str, *, since: datetime | None, cursor: str | None) -> tuple[list[Any], str | None]:
        """One page of raw objects of ``stream`` and the cursor of the next page (None: last)."""
        raise NotImplementedError

    def fetch_customer(self, customer_id: str) -> Customer | None:
        """The identity of a customer the directory does not know (None: the provider has none)."""
        return None

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        return get_json(self._client, path, params=params, what=f"{self.kind} GET {path}", clock=self._clock)

    def pages(self, stream: str, *, since: datetime | None, cursor: str | None) -> Iterator[Page]:
        if stream not in self.streams:
            raise FatalError(f"{self.kind} has no stream {stream!r}")
        while True:
            try:
                raw_records, cursor = self.fetch(stream, since=since, cursor=cursor)
            except AuthError as exc:
                scoped = self._scope_error(stream, exc)
                if scoped is None:
                    raise
                raise scoped from exc
            self._key_works = True
            yield replace(self.parse(stream, raw_records), next_cursor=cursor)
            if cursor is None:
                return

    def _scope_error(self, stream: str, exc: AuthError) -> ScopeMissing | None:
        """A refusal on a scoped stream is a missing scope when it is a 403, or a 401 after this
        key has already been accepted (Smile does not document which it answers: scopes.md §3)."""
        scope = self.scopes.get(stream)
        if scope is None or not (exc.status == 403 or self._key_works):
            return None
        return ScopeMissing(
            f"{self.kind} {stream}: the API key lacks the {scope} scope (answered {exc.status}); stream skipped",
            stream=stream,
            scope=scope,
            status=exc.status,
        )

    def parse(self, stream: str, raw_records: list[Any], *, extra: Mapping[str, Any] | None = None) -> Page:
        """Decode a page: valid records (joined to identities), rejected ones, and the snapshot
        commit to run once the page has been handed over."""
        res = resource(self.kind, stream)
        previous: dict[str, dict[str, Any]] = {}
        if res.snapshot:
            ids = [
                ":".join(str(r.get(p.split(".")[0], "")) for p in res.id_paths)
                for r in raw_records
                if isinstance(r, Mapping)
            ]
            previous = self._snapshots.get_many(self._merchant, self.kind, stream, ids)
        records: list[Record] = []
        rejected: list[Rejected] = []
        for raw in raw_records:
            if not isinstance(raw, Mapping):
                rejected.append(
                    Rejected(
                        stream,
                        {"value": raw},
                        InvalidRecord("expected a JSON object", provider=self.kind, field=stream),
                    )
                )
                continue
            key = ":".join(str(raw.get(p.split(".")[0], "")) for p in res.id_paths)
            try:
                records.append(
                    decode(self.kind, stream, raw, merchant=self._merchant, previous=previous.get(key), extra=extra)
                )
            except InvalidRecord as exc:
                rejected.append(Rejected(stream, raw, exc))
        if stream in self.identity_streams:
            self._directory.put_many(self._merchant, self.kind, [r.customer for r in records if r.customer.provider_id])
        records = self._join_identities(records)
        after = None
        if res.snapshot and records:
            snapshots = {r.record_id: snapshot_of(r) for r in records}

            def after() -> None:
                self._snapshots.put_many(self._merchant, self.kind, stream, snapshots)

        return Page(records=records, rejected=rejected, after_handover=after)

    def _join_identities(self, records: list[Record]) -> list[Record]:
        lacking = sorted(
            {
                r.customer.provider_id
                for r in records
                if r.customer.provider_id and not (r.customer.email or r.customer.phone)
            }
        )
        if not lacking:
            return records
        found = self._directory.get_many(self._merchant, self.kind, lacking)
        fetched = [c for c in (self.fetch_customer(cid) for cid in lacking if cid not in found) if c is not None]
        if fetched:
            self._directory.put_many(self._merchant, self.kind, fetched)
            found.update({c.provider_id: c for c in fetched})
        return [
            replace(r, customer=found[r.customer.provider_id]) if r.customer.provider_id in found else r
            for r in records
        ]
