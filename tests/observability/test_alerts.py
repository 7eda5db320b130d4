"""deploy/prometheus/alerts.yml: valid for promtool, every metric it names exists in a real
scrape of the web process's /metrics, and alerts fire from series taken from that scrape
(``promtool test rules``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline import keys
from pipeline.config import parse_connections
from pipeline.observability import web_routes
from pipeline.observability.health import beat_heartbeat
from pipeline.observability.metrics import record_response, record_webhook_intake
from pipeline.state.journal import RedisJournal
from pipeline.state.pauses import RedisPauses
from tests.support.wsgi import serve

pytestmark = [pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
CONNECTIONS = {"merchants": {
    "acme": {"provider": {"kind": "smile", "base_url": "http://127.0.0.1:9/v1", "credential_env": "A",
                          "sync_interval_s": 300},
             "platforms": [{"kind": "postscript", "base_url": "http://127.0.0.1:9", "credential_env": "B"}]},
    "beta": {"provider": {"kind": "smile", "base_url": "http://127.0.0.1:9/v1", "credential_env": "C"},
             "platforms": [{"kind": "postscript", "base_url": "http://127.0.0.1:9", "credential_env": "D"}]}}}


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (apt-get install prometheus; scripts/test does it)")
        pytest.skip("promtool is not installed")
    return found


def scrape(client: redis.Redis) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The web process's /metrics over HTTP, as {sample name: [(labels, value)]}."""
    connections = parse_connections(CONNECTIONS, source="test", env={}, require_secrets=False)
    routes = web_routes(state=client, broker=client, queues=["deliver.postscript"], connections=connections)
    with serve(routes["/metrics"]) as url:
        text = httpx.get(f"{url}/metrics").text
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), s.value))
    return samples


def broken_state(client: redis.Redis, dead_letters: int) -> None:
    """acme: its postscript connection paused by the dead-letter guard, its last pull 2 h ago,
    ``dead_letters`` entries in its DLQ; beta: healthy, pulled just now."""
    now = datetime.now(timezone.utc)
    for merchant, ago in (("acme", timedelta(hours=2)), ("beta", timedelta(seconds=5))):
        client.set(keys.cursor(merchant, "smile", "customers"),
                   json.dumps({"watermark": None, "window_start": None, "page_cursor": None, "max_seen": None,
                               "last_success_at": (now - ago).isoformat()}))
    RedisPauses(client).pause("acme", "postscript", reason="dead-letter guard: 50 in a row", since=now, until=None)
    journal = RedisJournal(client)
    while journal.length(keys.dlq("acme", "postscript")) < dead_letters:
        journal.append(keys.dlq("acme", "postscript"), {"error_class": "FatalError"})
    beat_heartbeat(client, "celery@host", now.timestamp())
    record_response("postscript", 429)
    record_response("postscript", 202)
    record_webhook_intake("okendo", "accepted")


def test_promtool_accepts_the_rules_and_the_configuration() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run([promtool(), "check", "config", "prometheus.yml"], capture_output=True, text=True,
                            cwd=RULES.parent)
    assert result.returncode == 0 and "12 rules found" in result.stdout, result.stdout + result.stderr


def test_every_metric_the_rules_name_exists_in_a_real_scrape(real_redis: redis.Redis) -> None:
    broken_state(real_redis, dead_letters=3)
    samples = scrape(real_redis)
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert len(rules) >= 10 and all(r.get("labels", {}).get("severity") in ("page", "ticket") for r in rules)
    named = {m for r in rules for m in re.findall(r"\blp_[a-z_]+\b", r["expr"])}
    assert {"lp_dlq_depth", "lp_sync_lag_seconds", "lp_connection_paused", "lp_worker_heartbeat_age_seconds",
            "lp_http_responses_total", "lp_due_overdue_seconds"} <= named
    assert named - set(samples) == set()
    assert "lp_build_info" in samples
    assert ({"merchant": "acme", "platform": "postscript", "until": "operator"}, 1.0) in samples["lp_connection_paused"]
    assert ({"merchant": "beta", "platform": "postscript", "until": "recheck"}, 0.0) in samples["lp_connection_paused"]
    lag = {labels["merchant"]: v for labels, v in samples["lp_sync_lag_seconds"]}
    assert lag["acme"] > 7000 and lag["beta"] < 60


def _series(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, values: str,
            keep: dict[str, str] | None = None) -> list[dict[str, str]]:
    out = []
    for labels, _ in samples[name]:
        if keep and any(labels.get(k) != v for k, v in keep.items()):
            continue
        text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        out.append({"series": f"{name}{{{text}}}", "values": values})
    return out


def _duration(seconds: int) -> str:
    """Prometheus's ``humanizeDuration`` for whole seconds under a day."""
    h, rest = divmod(seconds, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h {m}m {sec}s" if h else f"{m}m {sec}s" if m else f"{sec}s"


def test_alerts_fire_on_the_states_they_name_from_scraped_series(tmp_path: Path, real_redis: redis.Redis) -> None:
    tool = promtool()
    broken_state(real_redis, dead_letters=1)
    before = scrape(real_redis)
    broken_state(real_redis, dead_letters=4)
    after = scrape(real_redis)

    def values(name: str, labels: dict[str, str], samples: dict) -> float:  # type: ignore[type-arg]
        return next(v for lab, v in samples[name] if all(lab.get(k) == x for k, x in labels.items()))

    acme_lag = values("lp_sync_lag_seconds", {"merchant": "acme"}, after)
    beta_lag = values("lp_sync_lag_seconds", {"merchant": "beta"}, after)
    dlq_before = values("lp_dlq_depth", {"merchant": "acme"}, before)
    dlq_after = values("lp_dlq_depth", {"merchant": "acme"}, after)
    series = [
        # each scraped value held for 20 one-minute steps (lag grows by a minute a minute)
        *_series(after, "lp_sync_lag_seconds", f"{acme_lag:.0f}+60x20", {"merchant": "acme"}),
        *_series(after, "lp_sync_lag_seconds", f"{beta_lag:.0f}x20", {"merchant": "beta"}),
        *_series(after, "lp_sync_interval_seconds", "300x20"),
        *[{**s, "values": f"{v:.0f}x20"} for s, (_, v) in zip(_series(after, "lp_connection_paused", ""),
                                                             after["lp_connection_paused"])],
        *_series(after, "lp_dlq_depth", f"{dlq_before:.0f}x5 {dlq_after:.0f}x15"),
    ]
    acme_paused = {"merchant": "acme", "platform": "postscript", "until": "operator", "severity": "page"}
    test = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "ConnectionPaused", "exp_alerts": []},  # not for 5 min yet
            {"eval_time": "10m", "alertname": "ConnectionPaused", "exp_alerts": [{
                "exp_labels": acme_paused, "exp_annotations": {
                    "summary": "acme → postscript is paused (until operator)", "console": "/connections"}}]},
            {"eval_time": "10m", "alertname": "SyncLagHigh", "exp_alerts": [{  # acme only: beta pulled seconds ago
                "exp_labels": {"merchant": "acme", "provider": "smile", "severity": "page"},
                "exp_annotations": {"console": "/", "summary": "acme (smile): last successful pull "
                                                               f"{_duration(round(acme_lag) + 600)} ago"}}]},
            {"eval_time": "8m", "alertname": "DeadLettersGrowing", "exp_alerts": [{
                "exp_labels": {"merchant": "acme", "platform": "postscript", "severity": "ticket"},
                "exp_annotations": {"summary": "acme → postscript: about 3 new dead letters in 15 min",
                                    "console": "/dlq?merchant=acme&platform=postscript"}}]},
            {"eval_time": "8m", "alertname": "DeadLettersGrowingFast", "exp_alerts": []},
        ]}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    assert dlq_after - dlq_before == 3 and acme_lag > 3 * 300 > beta_lag
    result = subprocess.run([tool, "test", "rules", str(tmp_path / "test.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_grafana_dashboard_queries_only_metrics_that_exist(real_redis: redis.Redis) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "loyalty-pipeline.json").read_text())
    broken_state(real_redis, dead_letters=1)
    samples = scrape(real_redis)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {re.sub(r"_(bucket|count|sum)$", "", m) for e in exprs for m in re.findall(r"\blp_[a-z_]+\b", e)}
    known = {re.sub(r"_(bucket|count|sum|created)$", "", s) for s in samples} | {
        "lp_deliveries_total", "lp_records_pulled_total", "lp_items_transformed_total",  # recorded by workers
        "lp_delivery_latency_seconds", "lp_limiter_wait_seconds"}
    assert named - known == set()
    assert {"lp_sync_lag_seconds", "lp_connection_paused", "lp_http_responses_total", "lp_build_info"} <= named
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "loyalty-pipeline"
