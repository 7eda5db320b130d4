"""Okendo: webhooks are the feed; the scheduled sync reads what only the REST API has.

Okendo has no list of loyalty activity and no ``updated_since`` filter (rest-api.md §1), so
activity arrives through signed webhooks (``pipeline.webhooks``). The scheduled sync, within
Okendo's 2 requests/s (the shared limiter), runs three streams:

- ``loyalty_customer``: walks the members the webhooks made known (their snapshots) and looks
  each up with ``GET /loyalty/customers?email=`` (or ``?loyaltyCustomerId=``), so a missed or
  late webhook still ends in the right balance, status and tier (and their change events).
- ``customers``: ``GET /customers/{customerId}`` for each member's Okendo Customer id
  (``customer.customerId`` of the loyalty webhooks), the only source of the given and family
  name; a customer is re-read at most every ``NAME_REFRESH_S``.
- ``review``: the backfill of the store's reviews (``GET /reviews``, every status, 100 per
  page, following ``lastEvaluated``) when the connection is added, so the review aggregates
  include reviews written before it. It runs while the stream has no watermark; afterwards
  review webhooks keep the aggregates current. Backfilled reviews are not Review Created events.

Auth: HTTP Basic ``userId:apiKey`` (the credential variable holds ``<user id>:<api key>``)
and the ``okendo-api-version`` header.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from pipeline.accounts import ProviderAccount
from pipeline.errors import ConfigError, FatalError, InvalidRecord
from pipeline.providers.base import Page, Rejected
from pipeline.providers.http import HttpProvider
from pipeline.providers.spec import ProviderSpec
from pipeline.ratelimit.window import SECOND_S, Window

__all__ = ["SPEC", "API_VERSION", "NAME_REFRESH_S", "OkendoProvider"]

API_VERSION = "2025-02-01"
NAME_REFRESH_S = 7 * 86400
REVIEW_STATUSES = ("approved", "pending", "rejected")  # GET /reviews lists one status per pass


class OkendoProvider(HttpProvider):
    kind: ClassVar[str] = "okendo"
    streams: ClassVar[tuple[str, ...]] = ("loyalty_customer", "customers", "review")
    #: every stream is a scan of snapshots or diffed with them: pages are handed over in order
    parallel_streams: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def auth_headers(account: ProviderAccount) -> dict[str, str]:
        credential = account.credential.reveal()
        if ":" not in credential:
            raise ConfigError("the Okendo credential must be '<user id>:<api key>'", key=account.credential_env)
        token = base64.b64encode(credential.encode()).decode()
        return {"Authorization": f"Basic {token}", "okendo-api-version": API_VERSION}

    def parse(self, stream: str, raw_records: list[Any], *, extra: Mapping[str, Any] | None = None) -> Page:
        now = self._clock.now()
        topic = "backfill" if stream == "review" else "reconcile"  # neither is a webhook topic: no create events
        unusable = [r for r in raw_records if isinstance(r, Rejected)]
        page = super().parse(
            stream,
            [r for r in raw_records if not isinstance(r, Rejected)],
            extra={"_received_at": now, "_topic": topic, **(extra or {})},
        )
        return replace(page, rejected=[*page.rejected, *unusable]) if unusable else page

    def fetch(self, stream: str, *, since: datetime | None, cursor: str | None) -> tuple[list[Any], str | None]:
        if stream == "review":
            return self._reviews(since, cursor)
        known, next_cursor = self._snapshots.scan(
            self._merchant, self.kind, "loyalty_customer", cursor=cursor, count=self._account.page_size
        )
        if stream == "customers":
            return self._customers(known), next_cursor
        records: list[Any] = []
        for member_id, previous in sorted(known.items()):
            email = (previous.get("customer") or {}).get("email")
            try:
                body = self.get("/loyalty/customers", {"email": email} if email else {"loyaltyCustomerId": member_id})
            except FatalError as exc:
                if exc.status == 404:
                    continue  # no longer a loyalty member: nothing to reconcile
                raise
            member = body.get("loyaltyCustomer") if isinstance(body, Mapping) else None
            if not isinstance(member, Mapping):
                records.append(
                    Rejected(
                        stream,
                        {"loyaltyCustomerId": member_id, "body": body},
                        InvalidRecord(
                            "GET /loyalty/customers answered without a loyaltyCustomer object",
                            provider=self.kind,
                            field="loyaltyCustomer",
                        ),
                    )
                )
                continue
            same_tier = member.get("vipTierName") == previous.get("vipTierName")
            records.append(
                {
                    **member,
                    "loyaltyCustomerId": member_id,
                    "customer": previous.get("customer"),
                    "vipTierRank": previous.get("vipTierRank") if same_tier else None,
                }
            )
        return records, next_cursor

    def _customers(self, members: Mapping[str, Mapping[str, Any]]) -> list[Any]:
        ids = sorted({str(c) for m in members.values() if (c := (m.get("customer") or {}).get("customerId"))})
        read = self._snapshots.get_many(self._merchant, self.kind, "customers", ids)
        fresh_after = self._clock.now() - timedelta(seconds=NAME_REFRESH_S)
        out: list[Any] = []
        for customer_id in ids:
            at = (read.get(customer_id) or {}).get("_received_at")
            if at and datetime.fromisoformat(str(at)) > fresh_after:
                continue
            try:
                body = self.get(f"/customers/{customer_id}", {})
            except FatalError as exc:
                if exc.status == 404:
                    continue  # not an Okendo Customer (any more)
                raise
            out.append({**body, "customerId": customer_id} if isinstance(body, Mapping) else body)
        return out

    def _reviews(self, since: datetime | None, cursor: str | None) -> tuple[list[Any], str | None]:
        """One page of the backfill. The cursor is ``{"status", "lastEvaluated"}`` (JSON); a
        completed backfill (a watermark exists, so ``since`` is set) reads nothing."""
        if since is not None and cursor is None:
            return [], None
        state = json.loads(cursor) if cursor else {"status": REVIEW_STATUSES[0], "lastEvaluated": None}
        params: dict[str, Any] = {"limit": 100, "status": state["status"]}
        if state.get("lastEvaluated"):
            params["lastEvaluated"] = state["lastEvaluated"]
        body = self.get("/reviews", params)
        reviews = body.get("reviews") if isinstance(body, Mapping) else None
        if not isinstance(reviews, list):
            raise FatalError(
                "okendo GET /reviews answered without a 'reviews' list",
                response_excerpt=json.dumps(body, default=str)[:200],
            )
        # nextUrl is relative (rest-api.md §1): its lastEvaluated is the next page's cursor
        following = parse_qs(urlsplit(str(body.get("nextUrl") or "")).query).get("lastEvaluated", [None])[0]
        if following:
            return reviews, json.dumps({"status": state["status"], "lastEvaluated": following})
        rest = REVIEW_STATUSES[REVIEW_STATUSES.index(state["status"]) + 1 :]
        return reviews, (json.dumps({"status": rest[0], "lastEvaluated": None}) if rest else None)


SPEC = ProviderSpec(
    kind="okendo",
    provider=OkendoProvider,
    # Okendo's feed is its webhooks; the sync only reconciles known members' balances (2 rps)
    base_url="https://api.okendo.io/enterprise",
    page_size=50,
    bulk_stream="loyalty_customer",
    sync_interval_s=21600.0,
    limits={"default": (Window(2, SECOND_S),)},
    webhooks="required",
    webhook_scheme="svix",
)
