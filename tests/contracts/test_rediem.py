"""Rediem contract (an assumed shape): every assumed activity type maps to its seed 000 event
and the member snapshot to seed 000's properties; an unexpected shape is rejected naming the
field; the simulator emits exactly the assumed shape; catalog and README say "assumed"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.errors import InvalidRecord
from pipeline.providers.provenance import shapes
from pipeline.providers.resources import decode
from pipeline.providers.schemas.rediem import ACTIVITY_TYPES
from sandbox.sim import RediemSimulator
from sandbox.sim.seed import seed_rediem
from pipeline.transform.describe import entries
from pipeline.transform.mapper import Mapper
from pipeline.types import Event, ProfileUpdate
from tests.contracts import rediem as contract

ROOT = Path(__file__).resolve().parents[2]
MAPPER = Mapper()


def test_the_assumed_types_are_exactly_seed_000s_events() -> None:
    assert set(ACTIVITY_TYPES) == set(contract.SEED_000_EVENTS)


@pytest.mark.parametrize("kind", list(contract.SEED_000_EVENTS))
def test_each_assumed_activity_becomes_its_seed_000_event(kind: str) -> None:
    raw = contract.example(kind)
    contract.check(raw)
    items = MAPPER.map(decode("rediem", "activities", raw, merchant="m"))
    (event,) = [i for i in items if isinstance(i, Event)]
    assert event.name == contract.SEED_000_EVENTS[kind]
    (update,) = [i for i in items if isinstance(i, ProfileUpdate)]
    props = update.properties
    assert props["rediem_point_balance"] == 1840 and props["rediem_points_to_next_tier"] == 660
    assert props["rediem_TreesPlanted"] == 12 and props["rediem_YoY_PlasticBottlesRecycled"] == 31
    assert all(not isinstance(props[n], float) for n in ("rediem_points_expiring", "rediem_last_action_points"))


@pytest.mark.parametrize(("raw", "field"), [
    ({**contract.example("points_earned"), "points": None}, "activities.points"),
    ({k: v for k, v in contract.example("referral_completed").items() if k != "referred_email"},
     "activities.referred_email"),
    ({**contract.example("signup"), "type": "badge_unlocked"}, "activities.type"),
    ({k: v for k, v in contract.example("signup").items() if k != "customer"}, "activities.customer"),
    ({**contract.example("signup"), "customer": {**contract.MEMBER_EXAMPLE, "point_balance": "1840"}},
     "activities.customer.point_balance"),
    ({**contract.example("points_earned"), "points": 12.5}, "activities.points"),
])
def test_an_unexpected_shape_is_rejected_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        decode("rediem", "activities", raw, merchant="m")
    assert str(info.value).startswith(f"rediem: {field}:")


def test_the_assumption_is_visible_in_catalog_and_readme() -> None:
    assert shapes("rediem") == {"activities": "assumed"}
    assert {e.shape for e in entries("rediem")} == {"assumed"}
    readme = (ROOT / "README.md").read_text()
    rediem_row = next(line for line in readme.splitlines() if line.startswith("| Rediem"))
    assert "assumed" in rediem_row


def test_the_simulator_emits_the_assumed_shape() -> None:
    with RediemSimulator(rate_per_s=None) as sim:
        program = sim.add_program("c")
        seed_rediem(program, members=6, activities=120, seed=5)
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer c"}) as client:
            data = client.get("/api/v1/activities", params={"limit": 100}).json()["data"]
    assert {a["type"] for a in data} == set(contract.SEED_000_EVENTS)
    for activity in data:
        contract.check(activity)
        decode("rediem", "activities", activity, merchant="m")
