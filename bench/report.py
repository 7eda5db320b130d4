"""The results: rounding helpers, the ratios, the printed table and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

E2E_ROWS = (("pipeline", "pipeline"), ("naive", "naive Celery (task per event)"),
            ("raw_1", "raw httpx, sequential"), ("raw_4", "raw httpx, 4 threads"))


def r1(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def mib(kb: int) -> float:
    return round(kb / 1024, 1)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def ratios(res: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per platform of section 1: pipeline events/s over naive's and raw's."""
    out = {}
    for platform, runs in (res.get("e2e") or {}).items():
        pe = (runs.get("pipeline") or {}).get("events_per_s")
        out[platform] = {f"pipeline_over_{k}": ratio(pe, (runs.get(k) or {}).get("events_per_s"))
                         for k in ("naive", "raw_1", "raw_4")}
    return out


def _e2e_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for platform, runs in (res.get("e2e") or {}).items():
        for key, label in E2E_ROWS:
            d = runs.get(key)
            if not d:
                continue
            cpu = d.get("worker_cpu_ms_per_event")
            rows.append((f"1. {platform}: {label}",
                         f"{d['events_per_s']:.0f} ev/s ({d['events']} events, {d['requests']} requests, {d['secs']} s"
                         + (f"; worker CPU {cpu:.2f} ms/event" if cpu else "") + ")"
                         + ("" if d.get("correct", True) else " INCORRECT")
                         + (" PAYLOADS DIFFER" if d.get("same_payloads_as_pipeline") is False else "")))
        pipe = runs.get("pipeline") or {}
        if pipe.get("limiter_bound_secs") is not None:
            rows.append(("   pipeline's own Klaviyo pacing", f"bound {pipe['limiter_bound_secs']} s, time/bound "
                         f"{pipe.get('secs_over_limiter_bound')} ({pipe.get('bulk_event_requests')} bulk requests of "
                         f"{pipe.get('events_per_bulk_request_mean')} events on average; 150/min per account)"))
        r = (res.get("ratios") or {}).get(platform) or {}
        text = ", ".join(f"{name} {r[k]}" for k, name in (("pipeline_over_naive", "/ naive"),
                                                          ("pipeline_over_raw_1", "/ raw sequential"),
                                                          ("pipeline_over_raw_4", "/ raw 4 threads"))
                         if r.get(k) is not None)
        if text:
            rows.append((f"   {platform}: pipeline", text))
    return rows


def table(res: dict[str, Any]) -> str:
    rows = _e2e_rows(res)
    for who in ("pipeline", "naive"):
        d = (res.get("ratelimit") or {}).get(who)
        if d:
            rows.append((f"2. rate-limit use, {who}", f"achieved/R = {d['achieved_over_limit']} "
                         f"({d['achieved_rps']} of {d['rate_limit_rps']} rps, {d.get('worker_processes', '?')} "
                         f"worker processes), 429 share {d['share_429'] or 0:.2%}"))
    d = res.get("latency")
    if d:
        rows.append(("3. webhook → ack latency", f"p50 {d['p50_ms']} / p95 {d['p95_ms']} / p99 {d['p99_ms']} ms "
                     f"({d['delivered']}/{d['webhooks']} at {d['rate_per_s']:g}/s)"))
    d = res.get("bulk")
    if d:
        rows.append(("4. bulk initial sync", f"{d['customers']} customers in {d['secs']} s; time/bound = "
                     f"{d['secs_over_bound']} (bound {d['bound_secs']} s at {d['rate_limit_rps']} rps, "
                     f"{d['requests_per_customer']} req/customer)" + ("" if d.get("correct", True) else " INCORRECT")))
        rows.append(("   worker peak RSS (VmHWM)", f"{d['worker_peak_rss_mib']} MiB (at start "
                     f"{d['worker_rss_start_mib']} MiB); CLI {d['cli_peak_rss_mib']} MiB"))
    d = res.get("balance")
    if d:
        rows.append(("5. balance sync, 1% changed", f"{d['requests_per_customer']} requests/customer "
                     f"({d['requests']} for {d['customers']} customers, {d['changed']} changed) in {d['secs']} s"
                     + ("" if d.get("correct", True) else " INCORRECT")))
    rows += _sink_rows(res)
    width = max(len(k) for k, _ in rows) if rows else 0
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _sink_rows(res: dict[str, Any]) -> list[tuple[str, str]]:
    """Sections 6-8 (bench/scenarios/sinkruns.py)."""
    rows: list[tuple[str, str]] = []
    if res.get("sink_worker"):
        w = res["sink_worker"]
        rows.append(("6-8. Procfile worker", f"--pool {w['pool']} --concurrency {w['concurrency']}"))
    for name, d in (res.get("scale") or {}).items():
        if not d:
            continue
        c = d["cores"]
        rows.append((f"6. scale {name} at {d['latency_ms']:g} ms", f"{d['achieved_rps']} of {d['allowed_rps']} rps = "
                     f"{d['achieved_over_allowed']} ({d['worker_processes']} worker process(es)), 429 share "
                     f"{d['share_429']:.2%}; binds: {d['binds']}"
                     + (" BACKLOG RAN OUT" if d["backlog_ran_out"] else "")))
        rows.append(("   CPU, memory, in flight", f"worker {d['worker_cpu_ms_per_request']} ms/request; cores: workers "
                     f"{c['workers']}, sink {c['sink']}, Redis {c['redis']}; worker RSS {d['worker_rss']['total_mib']} "
                     f"MiB; in flight mean {d['in_flight_mean']} (max {d['in_flight_max']})"))
    for platform, d in (res.get("cpu_per_request") or {}).items():
        if not d:
            continue
        p, n = d["pipeline"], d.get("naive") or {}
        rows.append((f"7. {platform}: worker CPU per request", f"pipeline {p['worker_cpu_ms_per_request']} ms "
                     f"delivering, {p['worker_cpu_ms_per_request_all_in']} ms with ingest; naive "
                     f"{n.get('worker_cpu_ms_per_request')} ms; raw httpx "
                     f"{(d.get('raw_httpx') or {}).get('client_cpu_ms_per_request')} ms, http.client "
                     f"{(d.get('raw_http.client') or {}).get('client_cpu_ms_per_request')} ms"))
        redis_ms = round(p["cpu_s"]["redis"] * 1000 / max(1, p["requests_ok"]), 3)
        rows.append(("   sink, Redis CPU per request", f"sink {p['sink_cpu_ms_per_request']} ms, Redis {redis_ms} ms "
                     f"(pipeline run, {p['requests_ok']} requests)"))
    d = res.get("ingest_rate")
    if d:
        rows.append(("8. ingest", f"{d['records_pulled']} records in {d['secs']} s = {d['records_per_s']}/s; "
                     f"{d['records_per_cpu_s']} records per worker CPU second "
                     f"({d['worker_cpu_ms_per_record']} ms/record)"))
    return rows


def write_json(res: dict[str, Any], path: str) -> None:
    Path(path).write_text(json.dumps(res, indent=2, default=str))
