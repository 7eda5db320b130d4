"""End to end on real parts: a Celery worker and beat in their own processes, real Redis,
the Smile and Postscript simulators over loopback HTTP. Asserts what Postscript received."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from sandbox.demo import DemoOptions, demo_stack
from pipeline.destinations.postscript.encoding import event_type
from tests.support.openapi import RequestValidator

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

SPEC = RequestValidator("postscript-partner-api-openapi.yml")


def _expected_type(txn: dict) -> str:
    if txn["internal_note"]:
        return "Smile_Points_Adjusted"
    return "Smile_Points_Earned" if txn["points_change"] > 0 else "Smile_Points_Redeemed"


def test_smile_to_postscript_through_celery(redis_url: str) -> None:
    opts = DemoOptions(merchants=2, customers=16, transactions=90, providers=("smile",), redis_url=redis_url,
                       allow_fake_redis=False, sync_interval_s=1.0, worker_concurrency=4, timeout_s=120,
                       log_level="INFO")
    with demo_stack(opts, say=lambda _: None) as stack:
        # transient platform trouble that the pipeline must absorb: a 429 burst and 5xx
        stack.postscript.fail_next(4, 429, path_prefix="/api/v2/events")
        stack.postscript.fail_next(2, 503, path_prefix="/api/v2/subscribers")
        problems = stack.wait_settled(opts.timeout_s)
        assert problems == []
        counters = stack.counters()
        requests = list(stack.postscript.requests)
        for tenant in stack.tenants:
            merchant, account, shop, summary = tenant.merchant, tenant.account, tenant.shop, tenant.summary
            emails = {c["id"]: c["email"] for c in account.customers.values()}
            txns = list(account.points_transactions.values())
            assert len(txns) == summary.transactions == 45
            # every transaction arrived exactly once, as the right type, for the right customer
            by_external = Counter(e["external_id"] for e in shop.events)
            rewards = list(account.reward_fulfillments.values())
            assert len(shop.events) == len(txns) + len(rewards) and max(by_external.values()) == 1
            codes = {e["properties"]["Reward Code"] for e in shop.events if e["type"] == "Smile_Reward_Fulfilled"}
            assert codes == {f["code"] for f in rewards}
            by_txn = {e["properties"]["Transaction ID"]: e for e in shop.events if e["type"] != "Smile_Reward_Fulfilled"}
            for txn in txns:
                event = by_txn[txn["id"]]
                assert event["type"] == _expected_type(txn) == event_type(
                    {"Smile_Points_Earned": "Smile Points Earned", "Smile_Points_Redeemed": "Smile Points Redeemed",
                     "Smile_Points_Adjusted": "Smile Points Adjusted"}[event["type"]])
                assert event["email"] == emails[txn["customer_id"]]
                points_key = "Points Change" if txn["internal_note"] else "Points"
                expected_points = txn["points_change"] if txn["internal_note"] else abs(txn["points_change"])
                assert event["properties"][points_key] == expected_points
                assert event["properties"]["Description"] == txn["description"]
                assert txn["internal_note"] is None or txn["internal_note"] not in str(event["properties"])
            # subscribers carry Smile's two profile properties; non-subscribers were skipped, not created
            subscribed = {s["email"]: s for s in shop.subscribers.values()}
            assert len(subscribed) == summary.subscribers
            for customer in account.customers.values():
                sub = subscribed.get(customer["email"])
                if sub is not None:
                    assert sub["properties"]["Smile Points Balance"] == customer["points_balance"]
                    assert sub["properties"]["Enrolled in Smile"] is (customer["state"] == "member")
            c = counters[merchant]
            assert c["skipped"] == summary.customers - summary.subscribers
            assert c["dead_lettered"] == 0
            assert c["delivered"] == len(txns) + len(rewards) + summary.subscribers

        # the injected 429s and 503s were answered and retried
        assert sum(1 for r in requests if r.status == 429) >= 4
        assert sum(c["retried"] for c in counters.values()) >= 1
        # every request that reached the platform is valid against Postscript's OpenAPI document
        for r in requests:
            url = "http://sim" + r.path + ("?" + httpx.QueryParams(
                [(k, v) for k, vs in r.query.items() for v in vs]).__str__() if r.query else "")
            SPEC.validate(httpx.Request(r.method, url, headers=r.headers, content=r.body))


def test_all_four_providers_through_celery_and_the_web_process(redis_url: str) -> None:
    """Smile, Omneo and Rediem pulled by beat; Okendo and part of Omneo pushed as signed
    webhooks to the web process (gunicorn); everything reaches Postscript exactly once."""
    from sandbox.demo import summarize

    opts = DemoOptions(merchants=1, customers=8, transactions=30, members=5, redis_url=redis_url,
                       allow_fake_redis=False, sync_interval_s=1.0, worker_concurrency=8, timeout_s=150,
                       log_level="INFO")
    with demo_stack(opts, say=lambda _: None) as stack:
        assert stack.wait_settled(opts.timeout_s) == []
        result = summarize(stack)
        pushed = {t.provider: t.pushed for t in stack.tenants}
    assert result.problems == []
    assert set(result.by_provider) == {"smile", "okendo", "omneo", "rediem", "okendo → attentive",
                                       "rediem → klaviyo"}  # fan-out to a second platform
    # exact per event type (Tenant.problems); Okendo's state-change events may fold under concurrency
    assert all(got > 0 and (want == got or provider.startswith("okendo"))
               for provider, (want, got) in result.by_provider.items()), result.by_provider
    assert pushed["okendo"] > 10 and pushed["omneo"] > 0  # webhooks accepted (202) by the web process
    assert result.counters["dead_lettered"] == 0 and result.counters["quarantined"] == 0
