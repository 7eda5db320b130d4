"""The seed tests' fixtures (``tests/fixtures/<provider>/``) are held to the same contracts as
the documented examples and the simulators: a fixture in an invented shape fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.contracts import omneo, rediem, smile
from tests.transform.seed_support import OMNEO_TRIGGERS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMILE_RESOURCES = {"customer": "customers", "points_transaction": "points_transactions",
                   "reward_fulfillment": "reward_fulfillments"}
OMNEO_RESOURCES = {"balance.updated": "balances", "points.awarded": "points", "reward.redeemed": "redemptions",
                   "reward.issued": "rewards", "tier.achieved": "tiers", "transaction.created": "transactions"}


def _files(provider: str) -> list[Path]:
    return sorted((FIXTURES / provider).glob("*.json"))


@pytest.mark.parametrize("path", _files("smile"), ids=lambda p: p.stem)
def test_smile_fixtures_are_published_objects(path: Path) -> None:
    resource = next(r for prefix, r in SMILE_RESOURCES.items() if path.stem.startswith(prefix))
    smile.check(resource, json.loads(path.read_text()))


@pytest.mark.parametrize("path", _files("omneo"), ids=lambda p: p.stem)
def test_omneo_fixtures_are_documented_pushes(path: Path) -> None:
    body = json.loads(path.read_text())
    resource = OMNEO_RESOURCES[OMNEO_TRIGGERS[path.stem]]
    if resource == "balances":  # the connector's record: seed 003's object plus profile_id/updated_at/profile
        body = {k: v for k, v in body.items() if k not in ("profile_id", "updated_at", "profile")}
    omneo.check(resource, body, pushed=True)


@pytest.mark.parametrize("path", _files("rediem"), ids=lambda p: p.stem)
def test_rediem_fixtures_fit_the_assumed_shape(path: Path) -> None:
    rediem.check(json.loads(path.read_text()))
