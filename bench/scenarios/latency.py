"""Section 3: latency from webhook receipt to the platform's acknowledgement, steady load below limits.

Signed Okendo webhooks (one new review each, hence one Postscript event) are posted to the web
process at ``Cfg.lat_rate`` per second, evenly spaced, for ``Cfg.lat_secs``; the merchant's
Postscript simulator allows 15 rps (its real limit). Clock: starts just before the webhook POST
is sent, stops at the simulator's stamp of the 2xx answer to the event carrying that review's
email. Reported: p50/p95/p99/max, how long the web process took to answer the webhook, and how
many of the slow (>50 ms) ones came right after the previous acknowledgement (paced by the limit).
Each webhook costs a subscriber lookup before its event (seed 001: Okendo reaches existing
subscribers only), so the latency is also split at the lookup's acknowledgement: receipt → lookup
(the web process, the Celery hops, intake) and lookup → event (the limiter's spacing between the
two requests, and the event's own request).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.report import r1
from bench.simx import body_json, percentile
from bench.stack import Stack
from sandbox.sim.webhooks import OkendoWebhookSender


def latency(st: Stack) -> dict[str, Any]:
    c = st.cfg
    st.ps_wh.clear_requests()
    sender = OkendoWebhookSender(f"{st.web_url}/webhooks/okendo/wh", st.wh_secret)
    n = int(c.lat_rate * c.lat_secs)
    sent: dict[str, tuple[float, float, int]] = {}
    cpu0 = st.cpu("pipe")
    start = time.time() + 0.2
    for i in range(n):
        email = f"lat{i}@example.test"
        st.wh_shop.add_subscriber(email=email)  # seed 001: Okendo reaches existing subscribers only
        resource = st.wh_store.add_review(email, 5)
        delay = start + i / c.lat_rate - time.time()
        if delay > 0:
            time.sleep(delay)
        t_send = time.time()
        status = sender.deliver("review", "create", resource)
        sent[email] = (t_send, time.time(), status)

    def acks() -> dict[str, float]:
        got: dict[str, float] = {}
        for t, r in st.ps_wh.log():
            if r.method == "POST" and r.path == "/api/v2/events" and r.status < 300:
                got.setdefault((body_json(r) or {}).get("email"), t)
        return got
    try:
        st.wait(lambda: len(acks()) >= n, 30, "webhook events at Postscript", interval=0.2)
    except TimeoutError as exc:
        st.say(f"  WARNING: {exc}")
    got = acks()
    lookups: dict[str, float] = {}
    for t, r in st.ps_wh.log():
        if r.method == "GET" and r.path == "/api/v2/subscribers" and r.status < 300:
            lookups.setdefault(next(iter(r.query.get("email__eq", [])), ""), t)
    to_lookup = [(lookups[e] - s[0]) * 1000 for e, s in sent.items() if e in lookups]
    lookup_to_event = [(got[e] - lookups[e]) * 1000 for e in sent if e in got and e in lookups]
    cpu = st.cpu_delta(cpu0, st.cpu("pipe"))
    lat = [(got[e] - s[0]) * 1000 for e, s in sent.items() if e in got]
    acks_sorted = sorted(got.values())
    gaps = {t: (t - prev) * 1000 for prev, t in zip(acks_sorted, acks_sorted[1:])}
    slow = [(got[e] - s[0]) * 1000 for e, s in sent.items() if e in got and (got[e] - s[0]) * 1000 > 50]
    slow_paced = sum(1 for e, s in sent.items() if e in got and (got[e] - s[0]) * 1000 > 50
                     and gaps.get(got[e], 1e9) < 1000 / 15 / 0.97 + 10)
    receipt = [(s[1] - s[0]) * 1000 for s in sent.values()]
    statuses = Counter(r.status for _, r in st.ps_wh.log())
    out = {"webhooks": n, "rate_per_s": c.lat_rate, "delivered": len(lat),
           "accepted_202": sum(1 for s in sent.values() if s[2] == 202),
           "p50_ms": r1(percentile(lat, 50)), "p95_ms": r1(percentile(lat, 95)), "p99_ms": r1(percentile(lat, 99)),
           "max_ms": r1(max(lat) if lat else None), "webhook_answer_p50_ms": r1(percentile(receipt, 50)),
           "webhook_answer_p99_ms": r1(percentile(receipt, 99)),
           "receipt_to_lookup_p50_ms": r1(percentile(to_lookup, 50)),
           "receipt_to_lookup_p95_ms": r1(percentile(to_lookup, 95)),
           "lookup_to_event_p50_ms": r1(percentile(lookup_to_event, 50)),
           "lookup_to_event_p95_ms": r1(percentile(lookup_to_event, 95)), "postscript_statuses": dict(statuses),
           "over_50ms": len(slow), "over_50ms_right_after_previous_ack": slow_paced, "cpu_s": cpu}
    st.say(f"  {len(lat)}/{n} webhooks delivered: p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms, "
           f"p99 {out['p99_ms']} ms, max {out['max_ms']} ms (web answered in p50 {out['webhook_answer_p50_ms']} ms; "
           f"receipt → lookup p50/p95 {out['receipt_to_lookup_p50_ms']}/{out['receipt_to_lookup_p95_ms']} ms, "
           f"lookup → event {out['lookup_to_event_p50_ms']}/{out['lookup_to_event_p95_ms']} ms)")
    return out
