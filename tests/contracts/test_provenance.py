"""Provenance labels: every resource says where its shape comes from, in one word, and
``catalog``, docs/events.md and the README's provider table say it too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.providers import provenance
from pipeline.providers.resources import RESOURCES
from pipeline.transform import describe
from pipeline.transform.catalog import okendo as okendo_catalog

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ("smile", "omneo", "rediem")  # okendo's labels are its own module's (tolerated absent)


@pytest.mark.parametrize("provider", [*LABELLED, "okendo"])
def test_every_resource_has_a_valid_word(provider: str) -> None:
    table = provenance.shapes(provider)  # raises on a word outside SHAPE_WORDS
    resources = {r.name for r in RESOURCES if r.provider == provider}
    if provider in LABELLED or table:
        assert resources <= set(table), f"{provider}: unlabelled {resources - set(table)}"


def test_a_wrong_word_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.providers.schemas import smile
    monkeypatch.setattr(smile, "SHAPES", {**smile.SHAPES, "customers": "probably"})
    with pytest.raises(ValueError, match="customers.*probably"):
        provenance.shapes("smile")


def test_catalog_shows_the_word_per_resource() -> None:
    result = CliRunner().invoke(main, ["catalog", "--provider", "omneo", "--format", "json"])
    rows = json.loads(result.output)
    assert {(r["resource"], r["shape"]) for r in rows} >= {("rewards", "documented"), ("tiers", "inferred"),
                                                           ("balances", "documented")}
    table = CliRunner().invoke(main, ["catalog", "--provider", "rediem"]).output
    assert table.splitlines()[0].split()[3] == "SHAPE" and "assumed" in table.splitlines()[1]


def test_events_with_no_public_source_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    some_event = next(r.event for r in okendo_catalog.EVENTS)
    monkeypatch.setattr(okendo_catalog, "NO_PUBLIC_SOURCE", {some_event}, raising=False)
    (entry,) = [e for e in describe.entries("okendo") if e.kind == "event" and e.name == some_event][:1]
    assert entry.shape == provenance.NO_PUBLIC_SOURCE
    assert f"| {provenance.NO_PUBLIC_SOURCE} |" in describe.render(describe.entries("okendo"), "markdown")


def test_docs_events_md_says_the_words() -> None:
    text = (ROOT / "docs" / "events.md").read_text()
    for provider in LABELLED:
        section = text.split(f"## {provider}\n", 1)[1].split("\n## ", 1)[0]
        for resource, word in provenance.shapes(provider).items():
            assert f"`{resource}` {word}" in section


def test_readme_provider_table_says_the_words() -> None:
    rows = {line.split("|")[1].strip().lower(): line for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| ") and line.count("|") >= 7}
    for provider, name in (("smile", "smile.io"), ("okendo", "okendo"), ("omneo", "omneo"), ("rediem", "rediem")):
        for word in set(provenance.shapes(provider).values()):
            assert word in rows[name], f"README's {name} row does not say {word!r}"
