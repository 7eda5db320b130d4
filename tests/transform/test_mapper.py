from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from pipeline.errors import InvalidRecord
from pipeline.providers.schemas.smile import CustomerSchema, PointsTransactionSchema
from pipeline.transform.catalog import EVENT_RULES, PROFILE_RULES
from pipeline.transform.mapper import Mapper
from pipeline.types import Event, ProfileUpdate
from tests.factories import record, smile_customer, smile_txn


def txn(**kw: object) -> dict:
    return PointsTransactionSchema().load(smile_txn(7, **kw))


@pytest.mark.parametrize(("change", "note", "name", "points_key", "points"), [
    (100, None, "Smile Points Earned", "Points", 100),
    (-500, None, "Smile Points Redeemed", "Points", 500),
    (-20, "Due to issue with order #6834", "Smile Points Adjusted", "Points Change", -20),
    (40, "goodwill", "Smile Points Adjusted", "Points Change", 40),
])
def test_points_transactions_become_named_events(change: int, note: str | None, name: str, points_key: str,
                                                 points: int) -> None:
    items = Mapper().map(record("points_transactions", txn(points_change=change, internal_note=note), record_id="7"))
    assert len(items) == 1
    event = items[0]
    assert isinstance(event, Event)
    assert event.name == name
    assert event.properties[points_key] == points
    assert event.properties["Transaction ID"] == 7
    assert event.occurred_at == datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    assert "internal_note" not in str(event.properties) and (note is None or note not in str(event.properties))


def test_zero_change_without_note_maps_to_nothing() -> None:
    assert Mapper().map(record("points_transactions", txn(points_change=0))) == []


def test_customer_snapshot_sets_the_seed_002_properties() -> None:
    for state, enrolled in (("member", True), ("candidate", False), ("disabled", False)):
        data = CustomerSchema().load(smile_customer(3, state=state, points_balance=1250))
        (update,) = Mapper().map(record("customers", data, record_id="3"))
        assert isinstance(update, ProfileUpdate)
        assert update.properties == {"Enrolled in Smile": enrolled, "Smile Points Balance": 1250}


def test_ids_are_deterministic_and_distinct() -> None:
    a = Mapper().map(record("points_transactions", txn(), record_id="7"))[0]
    b = Mapper().map(record("points_transactions", txn(), record_id="7"))[0]
    c = Mapper().map(record("points_transactions", txn(), record_id="8"))[0]
    assert a.id == b.id != c.id


def test_missing_timestamp_is_an_invalid_record() -> None:
    data = dict(txn())
    data.pop("created_at")
    with pytest.raises(InvalidRecord, match=r"smile: points_transactions.created_at"):
        Mapper().map(record("points_transactions", data))


def test_catalog_rows_are_unique_and_named_like_the_seeds() -> None:
    names = [(r.provider, r.stream, r.event, r.when) for r in EVENT_RULES]
    assert len(names) == len(set(names))
    props = {p for r in PROFILE_RULES for p in r.properties}
    assert {"Enrolled in Smile", "Smile Points Balance"} <= props


def test_the_mappers_compiled_rules_and_ids_agree_with_the_reference() -> None:
    """Mapper compiles each rule's conditions and properties once (and formats uuid5 ids itself):
    the results equal rules.Cond.holds, evaluate_properties and types.stable_id on varied data."""
    import random

    from pipeline.transform import mapper as m
    from pipeline.transform.catalog import EVENT_RULES, PROFILE_RULES
    from pipeline.types import stable_id

    rng = random.Random(4)
    values = [None, "", 0, 5, -5, 2.5, "member", "issued", True, False, "x", [1, "a"], {"k": 1}]
    rules = [*EVENT_RULES, *PROFILE_RULES]
    paths = {c.path for r in rules for c in r.when} | {"previous", "state", "points_change"}
    for _ in range(400):
        data: dict = {p.split(".")[0]: rng.choice(values) for p in paths if rng.random() < 0.7}
        data["previous"] = rng.choice([None, {k: rng.choice(values) for k in ("state", "vip_status")}])
        for rule in rules:
            for cond in rule.when:
                assert _outcome(m._compile_cond(cond), data) == _outcome(cond.holds, data), (cond, data)
            assert _outcome(m._compile_properties(rule.properties), data) == _outcome(
                lambda d, rule=rule: m.evaluate_properties(rule.properties, d), data)
    for parts in [("a",), ("m", "smile", "points_transactions", "1@2026-03-01T12:00:00+00:00", "Smile Points Earned"),
                  ("ünïcode", "\x1f", ""), tuple(str(rng.random()) for _ in range(5))]:
        assert m.stable_id(*parts) == stable_id(*parts)


def _outcome(fn: Any, data: Any) -> Any:
    """The result, or the type of the error (a str compared with an int fails either way)."""
    try:
        return fn(data)
    except Exception as exc:  # noqa: BLE001
        return type(exc)
