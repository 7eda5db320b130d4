"""Smile connector over httpx.MockTransport; requests checked against Smile's OpenAPI."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timezone

import httpx
import pytest

from pipeline.clock import FrozenClock
from pipeline.errors import AuthError, RetriableError
from pipeline.http.client import build_client
from pipeline.providers.smile import SmileProvider
from pipeline.state.directory import MemoryCustomerDirectory
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.types import Customer
from tests.factories import provider_account, smile_customer, smile_txn
from tests.support.openapi import RequestValidator

SPEC = RequestValidator("smile-io-openapi.yml", server_prefix="/v1")


def provider(handler: Callable[[httpx.Request], httpx.Response], directory: MemoryCustomerDirectory | None = None,
             ) -> tuple[SmileProvider, list[httpx.Request], FrozenClock]:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        SPEC.validate(request)
        seen.append(request)
        return handler(request)

    account = provider_account()
    clock = FrozenClock()
    client = build_client(base_url=account.base_url, headers=SmileProvider.auth_headers(account), timeout_s=5,
                          transport=httpx.MockTransport(recording))
    return SmileProvider(merchant="acme", account=account, client=client,
                         directory=directory or MemoryCustomerDirectory(), snapshots=MemorySnapshotStore(),
                         clock=clock), seen, clock


def page(key: str, records: list[dict], next_cursor: str | None) -> httpx.Response:
    return httpx.Response(200, json={key: records, "metadata": {"next_cursor": next_cursor, "previous_cursor": None}})


def test_pages_follow_next_cursor_with_bearer_auth_and_inclusive_filter() -> None:
    pages = {None: page("customers", [smile_customer(2, email="b@x.test"), smile_customer(1)], "c2"),
             "c2": page("customers", [smile_customer(0, email="z@x.test")], None)}
    directory = MemoryCustomerDirectory()
    prov, seen, _ = provider(lambda r: pages[r.url.params.get("cursor")], directory)
    since = datetime(2026, 3, 1, tzinfo=timezone.utc)
    got = list(prov.pages("customers", since=since, cursor=None))
    assert [len(p.records) for p in got] == [2, 1]
    assert [p.next_cursor for p in got] == ["c2", None]
    assert all(r.headers["Authorization"] == "Bearer smile_key" for r in seen)
    assert seen[0].url.params["updated_at_min"] == "2026-03-01T00:00:00.000Z"
    assert seen[0].url.params["limit"] == "250" and seen[0].url.params["include"] == "vip_status"
    assert directory.get_many("acme", "smile", ["2", "0"]) == {
        "2": Customer(provider_id="2", email="b@x.test"), "0": Customer(provider_id="0", email="z@x.test")}


def test_transactions_are_joined_to_known_and_fetched_customers() -> None:
    directory = MemoryCustomerDirectory()
    directory.put_many("acme", "smile", [Customer(provider_id="1", email="known@x.test")])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/customers/2":
            return httpx.Response(200, json={"customer": smile_customer(2, email="fetched@x.test")})
        if request.url.path == "/v1/customers/3":
            return httpx.Response(404, json={"error": {"code": "not_found"}})
        return page("points_transactions", [smile_txn(10, customer_id=1), smile_txn(11, customer_id=2),
                                            smile_txn(12, customer_id=3)], None)

    prov, seen, _ = provider(handler, directory)
    (only,) = list(prov.pages("points_transactions", since=None, cursor=None))
    assert {r.record_id: r.customer.email for r in only.records} == {
        "10": "known@x.test", "11": "fetched@x.test", "12": None}
    assert "updated_at_min" not in seen[0].url.params


def test_invalid_records_are_rejected_with_the_field_and_the_rest_kept() -> None:
    bad_type = smile_txn(11, points_change="lots")
    no_id = {k: v for k, v in smile_txn(12).items() if k != "id"}
    prov, _, _ = provider(lambda r: page("points_transactions", [smile_txn(10), bad_type, no_id, "junk"], None)
                          if r.url.path == "/v1/points_transactions"
                          else httpx.Response(200, json={"customer": smile_customer(1)}))
    (only,) = list(prov.pages("points_transactions", since=None, cursor=None))
    assert [r.record_id for r in only.records] == ["10"]
    assert [r.error.field for r in only.rejected] == [
        "points_transactions.points_change", "points_transactions.id", "points_transactions"]
    assert only.rejected[0].payload == bad_type


def test_resumes_from_a_checkpointed_cursor() -> None:
    prov, seen, _ = provider(lambda r: page("customers", [smile_customer(1)], None))
    list(prov.pages("customers", since=None, cursor="opaque-123"))
    assert seen[0].url.params["cursor"] == "opaque-123"


def test_429_and_5xx_are_retried_with_backoff_then_succeed() -> None:
    answers = [httpx.Response(429), httpx.Response(502), page("customers", [smile_customer(1)], None)]
    prov, seen, clock = provider(lambda r: answers.pop(0))
    (only,) = list(prov.pages("customers", since=None, cursor=None))
    assert len(only.records) == 1 and len(seen) == 3
    assert clock.monotonic() > 0  # it waited between attempts


def test_persistent_429_gives_up_as_retriable() -> None:
    prov, seen, _ = provider(lambda r: httpx.Response(429))
    with pytest.raises(RetriableError):
        list(prov.pages("customers", since=None, cursor=None))
    assert len(seen) == 5


def test_401_is_an_auth_error_without_the_key() -> None:
    prov, seen, _ = provider(lambda r: httpx.Response(401, json={"error": {"code": "unauthorized"}}))
    with pytest.raises(AuthError) as info:
        list(prov.pages("customers", since=None, cursor=None))
    assert "smile_key" not in str(info.value) and len(seen) == 1


def test_cursor_is_opaque_to_us() -> None:
    cursor = base64.b64encode(json.dumps({"anything": 1}).encode()).decode()
    prov, seen, _ = provider(lambda r: page("customers", [], None))
    list(prov.pages("customers", since=None, cursor=cursor))
    assert seen[0].url.params["cursor"] == cursor


class CountingDirectory(MemoryCustomerDirectory):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def get_many(self, merchant: str, provider: str, ids: list[str]) -> dict[str, Customer]:  # type: ignore[override]
        self.asked.extend(ids)
        return super().get_many(merchant, provider, ids)


def test_an_identity_is_looked_up_once_per_sync_and_once_per_window_across_page_tasks() -> None:
    directory = CountingDirectory()
    directory.put_many("acme", "smile", [Customer(provider_id=str(i), email=f"c{i}@x.test") for i in (1, 2, 3)])
    pages = {None: page("points_transactions", [smile_txn(10, customer_id=1), smile_txn(11, customer_id=2)], "c2"),
             "c2": page("points_transactions", [smile_txn(12, customer_id=1), smile_txn(13, customer_id=3)], None)}
    prov, _, _ = provider(lambda r: pages[r.url.params.get("cursor")], directory)
    got = [r.customer.email for p in prov.pages("points_transactions", since=None, cursor=None) for r in p.records]
    assert got == ["c1@x.test", "c2@x.test", "c1@x.test", "c3@x.test"]
    assert sorted(directory.asked) == ["1", "2", "3"]  # customer 1 once, though on both pages
    # two page tasks of the same window (two provider instances) share what they looked up; another window does not
    directory.asked.clear()
    first, _, _ = provider(lambda r: pages[None], directory)
    second, _, _ = provider(lambda r: pages[None], directory)
    third, _, _ = provider(lambda r: pages[None], directory)
    first.share_identities("acme|smile|w1")
    second.share_identities("acme|smile|w1")
    third.share_identities("acme|smile|w2")
    for prov in (first, second, third):
        prov.parse("points_transactions", [smile_txn(10, customer_id=1)])
    assert directory.asked == ["1", "1"]  # w1 once, w2 once
