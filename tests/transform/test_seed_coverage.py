"""Cross-check: every name the seeds list is in the catalog, and every catalog name is in a
seed or is one of this project's documented additions.

The seed lists are the literal data of the five seed test modules (copied from the seed
texts there), not the catalog's.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from pipeline.transform.catalog import EVENT_RULES, PROFILE_RULES


def _seed(name: str) -> ModuleType:
    return importlib.import_module(f"tests.transform.{name}")


S000 = _seed("test_seed_000_rediem")
S001 = _seed("test_seed_001_okendo_postscript")
S002 = _seed("test_seed_002_smile")
S003 = _seed("test_seed_003_omneo")
S004 = _seed("test_seed_004_okendo_attentive")

#: provider → event names its seeds list
SEED_EVENTS: dict[str, set[str]] = {
    "rediem": set(S000.SEED_EVENTS),
    "okendo": set(S001.SEED_EVENTS) | set(S004.SEED_EVENTS),
    "smile": set(S002.SEED_EVENTS),
    "omneo": set(S003.SEED_EVENTS),
}
#: provider → profile property names its seeds list
SEED_PROPERTIES: dict[str, set[str]] = {
    "rediem": set(S000.SEED_PROFILE_PROPERTIES),
    "okendo": set(S001.SEED_PROFILE_PROPERTIES) | set(S004.SEED_PROFILE_PROPERTIES),
    "smile": set(S002.SEED_PROFILE_PROPERTIES),
    "omneo": set(S003.SEED_PROFILE_PROPERTIES),
}
#: Names that are ours, not a seed's (seed 002 is "profile data only"; seed 003 names nothing).
DOCUMENTED_EVENT_ADDITIONS: dict[str, set[str]] = {
    "rediem": set(),
    "okendo": set(),
    "smile": {"Smile Points Earned", "Smile Points Redeemed", "Smile Points Adjusted",
              "Smile VIP Tier Changed", "Enrolled in Smile", "Smile Reward Fulfilled"},
    "omneo": {"Omneo Reward Issued", "Omneo Reward Redeemed", "Omneo Transaction With Redemption",
              "Omneo Points Awarded", "Omneo Tier Achieved"},
}
DOCUMENTED_PROPERTY_ADDITIONS: dict[str, set[str]] = {
    "rediem": set(),
    "okendo": set(),
    "smile": set(),
    "omneo": {"Omneo Reward Balance", "Omneo Point Balance", "Omneo Point Balance Dollars",
              "Omneo Combined Balance Dollars"},
}
PROVIDERS = sorted(SEED_EVENTS)

CATALOG_EVENTS = {p: {r.event for r in EVENT_RULES if r.provider == p} for p in PROVIDERS}
CATALOG_PROPERTIES = {p: {name for r in PROFILE_RULES if r.provider == p for name in r.properties}
                      for p in PROVIDERS}


def test_additions_are_the_ones_the_seed_tests_document() -> None:
    assert DOCUMENTED_EVENT_ADDITIONS["smile"] == set(S002.DOCUMENTED_ADDITIONS)
    assert DOCUMENTED_EVENT_ADDITIONS["omneo"] == set(S003.DOCUMENTED_ADDITIONS)
    assert DOCUMENTED_PROPERTY_ADDITIONS["omneo"] == set(S003.BALANCE_PROPERTIES)
    for p in PROVIDERS:
        assert not DOCUMENTED_EVENT_ADDITIONS[p] & SEED_EVENTS[p], p
        assert not DOCUMENTED_PROPERTY_ADDITIONS[p] & SEED_PROPERTIES[p], p


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_seed_event_is_in_the_catalog(provider: str) -> None:
    assert SEED_EVENTS[provider] - CATALOG_EVENTS[provider] == set()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_seed_profile_property_is_in_the_catalog(provider: str) -> None:
    assert SEED_PROPERTIES[provider] - CATALOG_PROPERTIES[provider] == set()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_catalog_event_is_in_a_seed_or_documented(provider: str) -> None:
    assert CATALOG_EVENTS[provider] - SEED_EVENTS[provider] - DOCUMENTED_EVENT_ADDITIONS[provider] == set()
    assert DOCUMENTED_EVENT_ADDITIONS[provider] <= CATALOG_EVENTS[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_catalog_profile_property_is_in_a_seed_or_documented(provider: str) -> None:
    assert CATALOG_PROPERTIES[provider] - SEED_PROPERTIES[provider] - DOCUMENTED_PROPERTY_ADDITIONS[provider] == set()
    assert DOCUMENTED_PROPERTY_ADDITIONS[provider] <= CATALOG_PROPERTIES[provider]


def test_seed_names_are_spelled_exactly_once_across_seeds() -> None:
    # the one deliberate spelling difference between seed 001 and seed 004
    only_001 = set(S001.SEED_PROFILE_PROPERTIES) - set(S004.SEED_PROFILE_PROPERTIES)
    only_004 = set(S004.SEED_PROFILE_PROPERTIES) - set(S001.SEED_PROFILE_PROPERTIES)
    assert only_004 == {"Okendo Loyalty Enrollment Date"}
    assert "Okendo Loyalty Enrolment Date" in only_001
    assert set(S004.SEED_EVENTS) <= set(S001.SEED_EVENTS)


@pytest.mark.parametrize(("event", "nth"), [
    (name, sum(1 for n, _ in S001.SEED_EVENT_TABLES[:i] if n == name))
    for i, (name, _) in enumerate(S001.SEED_EVENT_TABLES)
], ids=lambda v: str(v))
def test_a_catalog_rule_carries_each_seed_001_table(event: str, nth: int) -> None:
    """Statically, without fixtures: some rule for the event sets the whole table and only
    names of the seed's tables for that event (or a templated ``[...]`` extra)."""
    base = S001.table(event, nth)
    allowed = base | {n for (e, _), names in S001.SEED_CONDITIONAL_TABLES.items() if e == event for n in names}
    if event == "Review Created":
        allowed |= {"[Review Attribute]", "[Rated Attribute]"}
    if event == "Submitted Okendo Survey":
        allowed |= {"[Survey Question]"}
    rules = [r for r in EVENT_RULES if r.provider == "okendo" and r.event == event]
    assert rules, event
    assert any(base <= set(r.properties) <= allowed for r in rules), [sorted(r.properties) for r in rules]
