"""The demo with Smile merchants delivering to Klaviyo (``DemoOptions.smile_platforms``)."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.demo import DemoOptions, demo_stack, summarize

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


def test_demo_smile_merchant_to_postscript_and_klaviyo(redis_url: str) -> None:
    opts = DemoOptions(merchants=1, customers=12, transactions=60, providers=("smile",),
                       smile_platforms=("postscript", "klaviyo"), klaviyo_limits=None, redis_url=redis_url,
                       allow_fake_redis=False, sync_interval_s=1.0, worker_concurrency=4, timeout_s=120,
                       log_level="INFO")
    with demo_stack(opts, say=lambda _: None) as stack:
        assert stack.wait_settled(opts.timeout_s) == []
        result = summarize(stack)
        (tenant,) = stack.tenants
        (fan,) = tenant.fanout
        assert fan.kind == "klaviyo" and fan.sim is stack.klaviyo and tenant.on_postscript
        unique_ids = Counter(e["unique_id"] for e in fan.account.events)
        txns = {platform: Counter(e["properties"].get("Transaction ID") for e in events if e["properties"].get(
            "Transaction ID")) for platform, events in (("klaviyo", fan.account.events), ("postscript", tenant.shop.events))}
    assert result.problems == []
    want, got = result.by_provider["smile → klaviyo"]
    assert want == got == result.by_provider["smile"][0] >= 60
    # one event per delivery; every transaction once on each platform
    assert max(unique_ids.values()) == 1 and None not in unique_ids
    assert txns["klaviyo"] == txns["postscript"] and len(txns["klaviyo"]) == 60 and max(txns["klaviyo"].values()) == 1


def test_demo_smile_merchant_to_klaviyo_only(redis_url: str) -> None:
    opts = DemoOptions(merchants=1, customers=12, transactions=60, providers=("smile",), smile_platforms=("klaviyo",),
                       klaviyo_limits=None, redis_url=redis_url, allow_fake_redis=False, sync_interval_s=1.0,
                       worker_concurrency=4, timeout_s=120, log_level="INFO")
    with demo_stack(opts, say=lambda _: None) as stack:
        assert stack.wait_settled(opts.timeout_s) == []
        result = summarize(stack)
        (tenant,) = stack.tenants
        assert "postscript" not in (stack.logs / "connections.toml").read_text()
        assert tenant.shop.events == [] and not tenant.on_postscript
    assert result.problems == []
    assert set(result.by_provider) == {"smile → klaviyo"}
    want, got = result.by_provider["smile → klaviyo"]
    assert want == got >= 60
