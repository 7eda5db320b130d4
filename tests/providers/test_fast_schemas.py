"""The fast loader (pipeline/providers/schemas/fast.py) agrees with marshmallow, record by record:
what it loads equals ``schema.load``; whatever marshmallow rejects, it hands back (``Slow``)."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate

from pipeline.errors import InvalidRecord
from pipeline.providers.resources import RESOURCES, decode, resource
from pipeline.providers.schemas.common import Timestamp
from pipeline.providers.schemas.fast import Slow, compile_loader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMILE = {
    "customers": ["customer_candidate", "customer_member", "customer_member_vip_silver"],
    "points_transactions": ["points_transaction_adjusted", "points_transaction_earned", "points_transaction_redeemed"],
    "reward_fulfillments": ["reward_fulfillment_issued"],
}
#: values every field is tried with (type confusions, empties, nulls, specials)
ODD: tuple[Any, ...] = (
    None,
    "",
    "12",
    12,
    -3,
    1.5,
    float("nan"),
    True,
    False,
    [],
    [1],
    {},
    {"a": 1},
    "2025-03-22T18:27:40.903Z",
    "2025-03-22 18:27:40",
    "not a date",
    "member",
    "issued",
)


def _agree(schema: Schema, raw: Any) -> str:
    """'fast' if the fast loader took it (and matched marshmallow), 'slow' if it handed it back."""
    loader = compile_loader(schema)
    assert loader is not None
    try:
        expected: Any = schema.load(raw)
    except ValidationError:
        expected = ValidationError
    try:
        got = loader(raw)
    except Slow:
        return "slow"
    assert expected is not ValidationError, f"fast path accepted what marshmallow rejects: {raw!r}"
    assert got == expected and list(got) == list(expected), (raw, got, expected)
    return "fast"


def _variants(raw: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    out = [raw]
    for key in list(raw):
        dropped = dict(raw)
        del dropped[key]
        out.append(dropped)
        for odd in ODD:
            out.append({**raw, key: odd})
        if isinstance(raw[key], dict):
            for inner in list(raw[key]):
                nested = copy.deepcopy(raw)
                nested[key][inner] = rng.choice(ODD)
                out.append(nested)
    out.append({**raw, "added_by_the_provider_later": 1})
    return out


@pytest.mark.parametrize("stream", sorted(SMILE))
def test_smile_records_and_their_mutations_load_as_marshmallow_loads_them(stream: str) -> None:
    schema = resource("smile", stream).schema
    rng = random.Random(7)
    paths: dict[str, int] = {"fast": 0, "slow": 0}
    for name in SMILE[stream]:
        raw = json.loads((FIXTURES / "smile" / f"{name}.json").read_text())
        for variant in _variants(raw, rng):
            paths[_agree(schema, variant)] += 1
    assert paths["fast"] > 0 and paths["slow"] > 0, paths  # both paths were exercised


def test_every_compiled_resource_agrees_on_random_records() -> None:
    rng = random.Random(11)
    compiled = [r for r in RESOURCES if r.fast is not None]
    assert {(r.provider, r.name) for r in compiled} >= {("smile", s) for s in SMILE}
    for res in compiled:
        for _ in range(300):
            raw = {name: rng.choice(ODD) for name in res.schema.load_fields if rng.random() < 0.8}
            _agree(res.schema, raw)


def test_decode_rejects_a_bad_record_with_marshmallows_reason() -> None:
    raw = json.loads((FIXTURES / "smile" / "points_transaction_earned.json").read_text())
    raw["points_change"] = "lots"
    with pytest.raises(InvalidRecord) as exc:
        decode("smile", "points_transactions", raw, merchant="m")
    assert exc.value.field == "points_transactions.points_change"
    assert "integer" in str(exc.value).lower()


def test_decode_gives_the_same_record_on_either_path() -> None:
    raw = json.loads((FIXTURES / "smile" / "customer_member_vip_silver.json").read_text())
    res = resource("smile", "customers")
    fast = decode("smile", "customers", raw, merchant="m")
    object.__setattr__(res, "fast", None)
    try:
        slow = decode("smile", "customers", raw, merchant="m")
    finally:
        object.__setattr__(res, "fast", compile_loader(res.schema))
    assert fast == slow


class _Inner(Schema):
    class Meta:
        unknown = RAISE

    n = fields.Integer(required=True)


class _Loose(Schema):
    class Meta:
        unknown = EXCLUDE

    a = fields.String(data_key="A", required=True, validate=validate.Length(max=3))
    b = fields.List(fields.Integer(), load_default=list)
    c = fields.Nested(_Inner, many=True, allow_none=True, load_default=None)
    d = fields.Float(load_default=0.5)
    e = fields.Dict(load_default=None, allow_none=True)
    f = fields.Boolean(load_default=None, allow_none=True)
    t = Timestamp(load_default=None, allow_none=True)


def test_options_the_fast_path_models() -> None:
    schema = _Loose()
    rng = random.Random(3)
    seen = set()
    base = {"A": "abc", "b": [1, 2], "c": [{"n": 1}], "d": 2.5, "e": {"x": 1}, "f": True, "t": "2025-01-01T00:00:00Z"}
    for variant in _variants(base, rng) + [{**base, "c": [{"n": 1, "extra": 2}]}, {**base, "A": "abcd"}]:
        seen.add(_agree(schema, variant))
    assert seen == {"fast", "slow"}


def test_a_schema_with_hooks_is_not_compiled() -> None:
    class Hooked(Schema):
        a = fields.Integer()

        @post_load
        def double(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
            return {"a": data["a"] * 2}

    assert compile_loader(Hooked()) is None
