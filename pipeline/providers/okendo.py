"""Okendo: webhooks are the feed; the scheduled sync reconciles balances.

Okendo has no list of loyalty activity and no ``updated_since`` filter (research/providers.md
§2), so activity arrives through signed webhooks (``pipeline.webhooks``). The scheduled job
walks the members those webhooks made known (their snapshots) and looks each up with
``GET /loyalty/customers?email=`` (or ``?loyaltyCustomerId=`` when the email is unknown)
within Okendo's 2 requests/s, so a missed or
late webhook still ends in the right balance, status and tier (and their change events).

Auth: HTTP Basic ``userId:apiKey`` (the credential variable holds ``<user id>:<api key>``)
and the ``okendo-api-version`` header.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from pipeline.config import ProviderAccount
from pipeline.errors import ConfigError, FatalError
from pipeline.providers.http import HttpProvider, iso_utc

__all__ = ["API_VERSION", "OkendoProvider"]

API_VERSION = "2025-02-01"


class OkendoProvider(HttpProvider):
    kind: ClassVar[str] = "okendo"
    streams: ClassVar[tuple[str, ...]] = ("loyalty_customer",)

    @staticmethod
    def auth_headers(account: ProviderAccount) -> dict[str, str]:
        credential = account.credential.reveal()
        if ":" not in credential:
            raise ConfigError("the Okendo credential must be '<user id>:<api key>'", key=account.credential_env)
        token = base64.b64encode(credential.encode()).decode()
        return {"Authorization": f"Basic {token}", "okendo-api-version": API_VERSION}

    def fetch(self, stream: str, *, since: datetime | None, cursor: str | None) -> tuple[list[Any], str | None]:
        known, next_cursor = self._snapshots.scan(self._merchant, self.kind, stream, cursor=cursor,
                                                  count=self._account.page_size)
        now = iso_utc(self._clock.now())
        records: list[Any] = []
        for member_id, previous in sorted(known.items()):
            email = previous.get("email")
            try:
                body = self.get("/loyalty/customers", {"email": email} if email else {"loyaltyCustomerId": member_id})
            except FatalError as exc:
                if exc.status == 404:
                    continue  # no longer a loyalty member: nothing to reconcile
                raise
            member = body.get("loyaltyCustomer") if isinstance(body, Mapping) else None
            if not isinstance(member, Mapping):
                records.append({"loyaltyCustomerId": member_id, "dateUpdated": now, "invalid": body})
                continue
            same_tier = member.get("vipTierName") == previous.get("vipTierName")
            records.append({**member, "loyaltyCustomerId": member_id, "dateUpdated": now,
                            "email": previous.get("email"), "customerId": previous.get("customerId"),
                            "vipTierRank": previous.get("vipTierRank") if same_tier else None})
        return records, next_cursor
