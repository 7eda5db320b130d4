"""``loyalty-pipeline catalog`` and ``transform`` as a user runs them; docs/events.md freshness."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.transform.describe import entries, render

ROOT = Path(__file__).resolve().parents[2]


def test_docs_events_md_is_generated_from_the_catalog() -> None:
    expected = render(entries(), "markdown")
    actual = (ROOT / "docs" / "events.md").read_text()
    assert actual == expected, "docs/events.md is stale: run `loyalty-pipeline catalog --format markdown > docs/events.md`"


def test_catalog_filters_by_provider_and_platform() -> None:
    result = CliRunner().invoke(main, ["catalog", "--provider", "okendo", "--platform", "attentive", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    names = {r["name"] for r in rows}
    assert "Okendo Loyalty Enrollment Date" in names and "Okendo Loyalty Enrolment Date" not in names
    assert "Review Created" not in names  # seed 004 gives Attentive the loyalty set only
    assert {r["name"] for r in rows if r["kind"] == "event"} == {
        "Enrolled in Okendo Loyalty", "Okendo Loyalty Points Awarded", "Okendo Loyalty Points Redeemed",
        "Okendo Loyalty Tier Changed", "Okendo Loyalty Points Adjusted"}
    assert all(r["provider"] == "okendo" and "attentive" in r["platforms"] for r in rows)


def test_catalog_table_shows_wire_names_in_markdown() -> None:
    result = CliRunner().invoke(main, ["catalog", "--provider", "smile", "--format", "markdown"])
    assert "postscript: `Smile_Points_Earned`" in result.output


SMILE_TXN = {"id": 11, "customer_id": 5, "points_change": -500, "description": "Redeemed for $5 off",
             "internal_note": None, "created_at": "2026-03-01T12:00:00.000Z", "updated_at": "2026-03-01T12:00:00.000Z"}


def test_transform_prints_catalog_names_and_reports_bad_lines_with_numbers() -> None:
    stdin = "\n".join([json.dumps(SMILE_TXN), "", '{"id": "x"}', "{not json", json.dumps({**SMILE_TXN, "id": 12})])
    result = CliRunner().invoke(main, ["transform", "--provider", "smile", "--resource", "points_transactions"],
                                input=stdin)
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["name"] for o in out] == ["Smile Points Redeemed", "Smile Points Redeemed"]
    assert out[0]["properties"] == {"Points": 500, "Description": "Redeemed for $5 off", "Transaction ID": 11}
    assert "line 3: smile: points_transactions.id: Not a valid integer." in result.stderr
    assert "line 4: not JSON" in result.stderr


def test_transform_with_platform_prints_the_wire_payload() -> None:
    body = {"resource": {"loyaltyCustomerId": "lc1", "customer": {"customerId": "c1", "email": "jane@example.test"},
                         "status": "enrolled", "points": {"balance": 740}, "vipTierName": "Gold",
                         "enrolledDate": "2025-01-02T00:00:00Z"},
            "resourceType": "loyalty_customer", "sequenceNumber": "9", "topic": "update", "version": "2025-02-01"}
    result = CliRunner().invoke(main, ["transform", "--provider", "okendo", "--platform", "attentive"],
                                input=json.dumps(body))
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    events = [o for o in out if o["kind"] == "event"]
    profiles = [o for o in out if o["kind"] == "profile"]
    assert [e["body"]["type"] for e in events] == ["Enrolled in Okendo Loyalty"]
    assert events[0]["path"] == "/v1/events/custom" and events[0]["body"]["user"] == {"email": "jane@example.test"}
    merged = {k: v for p in profiles for k, v in p["body"]["properties"].items()}
    assert merged["Okendo Loyalty Points Balance"] == 740
    assert merged["Okendo Loyalty Enrollment Date"] == "2025-01-02T00:00:00.000Z"
    assert merged["Okendo Loyalty VIP Tier"] == "Gold"
    assert all(p["path"] == "/v1/attributes/custom" for p in profiles)


def test_transform_reports_records_a_platform_cannot_take() -> None:
    result = CliRunner().invoke(main, ["transform", "--provider", "smile", "--resource", "points_transactions",
                                       "--platform", "klaviyo"], input=json.dumps(SMILE_TXN))
    assert result.exit_code == 1 and "line 1: klaviyo:" in result.stderr
