"""Property-based: malformed provider records never raise anything but InvalidRecord, and a
sync quarantines every bad record with a reason while delivering the good ones."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.clock import FrozenClock
from pipeline.errors import InvalidRecord
from pipeline.http.client import build_client
from pipeline.ingest import Ingestor
from pipeline.providers.resources import RESOURCES, decode, unwrap
from pipeline.providers.smile import SmileProvider
from pipeline.state.counters import MemoryCounters
from pipeline.state.cursors import MemoryCursorStore
from pipeline.state.directory import MemoryCustomerDirectory
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.transform.mapper import Mapper
from pipeline.types import Customer, Delivery
from tests.factories import provider_account, smile_txn

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25)
FIELDS = ["id", "customer_id", "points_change", "created_at", "updated_at", "internal_note", "description",
          "resource", "resourceType", "topic", "sequenceNumber", "customer", "type", "profile_id"]
MAPPER = Mapper()


def _decode_and_map(provider: str, name: str, raw: Any) -> None:
    try:
        record = decode(provider, name, raw, merchant="m")
        MAPPER.map(record)
    except InvalidRecord as exc:
        assert exc.provider == provider and str(exc)


@settings(max_examples=300, deadline=None)
@given(res=st.sampled_from(RESOURCES), raw=JSON)
def test_arbitrary_json_is_a_record_or_an_invalid_record(res: Any, raw: Any) -> None:
    _decode_and_map(res.provider, res.name, raw)


@settings(max_examples=300, deadline=None)
@given(res=st.sampled_from(RESOURCES), key=st.sampled_from(FIELDS) | st.text(max_size=8), value=JSON)
def test_a_valid_record_with_one_field_broken(res: Any, key: str, value: Any) -> None:
    raw = {**smile_txn(1), "customer": {"id": 1}, key: value}
    _decode_and_map(res.provider, res.name, raw)


@settings(max_examples=200, deadline=None)
@given(provider=st.sampled_from(["okendo", "rediem", "omneo"]), body=JSON)
def test_arbitrary_webhook_bodies(provider: str, body: Any) -> None:
    try:
        name, raw, extra = unwrap(provider, body)
        record = decode(provider, name, raw, merchant="m", extra=extra)
        MAPPER.map(record)
    except InvalidRecord as exc:
        assert str(exc)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.lists(JSON | st.fixed_dictionaries({"id": JSON, "points_change": JSON}), min_size=1, max_size=6))
def test_a_sync_quarantines_every_bad_record_and_delivers_the_rest(garbage: list[Any]) -> None:
    good = [smile_txn(100 + i, customer_id=1) for i in range(3)]
    page = good + garbage
    body = json.dumps({"points_transactions": page, "metadata": {"next_cursor": None}}, allow_nan=True)
    client = build_client(base_url="http://smile.test/v1", headers={}, timeout_s=5,
                          transport=httpx.MockTransport(lambda r: httpx.Response(
                              200, content=body, headers={"content-type": "application/json"})))
    clock = FrozenClock()
    directory = MemoryCustomerDirectory()
    directory.put_many("m", "smile", [Customer(provider_id="1", email="a@example.test")])

    class OneStream(SmileProvider):
        streams = ("points_transactions",)

    provider = OneStream(merchant="m", account=provider_account(), client=client, directory=directory,
                         snapshots=MemorySnapshotStore(), clock=clock)
    sent: list[Delivery] = []
    journal = MemoryJournal(clock)
    Ingestor(merchant="m", provider=provider, platforms=["postscript"], enqueue=lambda p, b: sent.extend(b),
             mapper=MAPPER, cursors=MemoryCursorStore(), ledger=MemoryLedger(clock), quarantine=journal,
             counters=MemoryCounters(), clock=clock, lookback_s=0, batch_size=50, seen_ttl_s=60).sync()

    valid_garbage = 0
    for raw in garbage:
        try:
            decode("smile", "points_transactions", raw, merchant="m")
            valid_garbage += 1
        except InvalidRecord:
            pass
    quarantined = [e for _, e in journal.read("lp:quarantine:smile", count=1000)]
    assert len(quarantined) == len(garbage) - valid_garbage
    assert all(e["error"] and e["stream"] == "points_transactions" for e in quarantined)
    delivered_ids = {d.item.properties.get("Transaction ID") for d in sent}
    assert {100, 101, 102} <= delivered_ids
