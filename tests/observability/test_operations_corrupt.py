"""A corrupt sync cursor in Redis never fails a scrape: it is skipped (logged once), the others still count."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest
import redis

from pipeline import keys
from pipeline.config import parse_connections
from pipeline.observability.operations import OperationsCollector

pytestmark = [pytest.mark.redis]

CONNECTIONS = {"merchants": {
    name: {"provider": {"kind": "smile", "base_url": "http://127.0.0.1:9/v1", "credential_env": "A"},
           "platforms": [{"kind": "postscript", "base_url": "http://127.0.0.1:9", "credential_env": "B"}]}
    for name in ("acme", "beta")}}
CORRUPT = [b"not json", b'"a string"', b"[1, 2]", b'{"last_success_at": "yesterday"}',
           b'{"last_success_at": 5}', b"\xff\xfe"]


def lags(collector: OperationsCollector) -> dict[str, float]:
    families = {f.name: f for f in collector.collect()}
    return {s.labels["merchant"]: s.value for s in families["lp_sync_lag_seconds"].samples}


@pytest.mark.parametrize("corrupt", CORRUPT)
def test_a_corrupt_cursor_is_skipped_and_the_scrape_answers(real_redis: redis.Redis, corrupt: bytes,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    real_redis.set(keys.cursor("acme", "smile", "customers"), corrupt)
    real_redis.set(keys.cursor("beta", "smile", "customers"),
                   json.dumps({"last_success_at": now.replace(hour=0, minute=0).isoformat()}))
    connections = parse_connections(CONNECTIONS, source="test", env={}, require_secrets=False)
    collector = OperationsCollector(real_redis, connections, now=lambda: now.timestamp() + 60)
    with caplog.at_level(logging.WARNING, logger="pipeline.observability.operations"):
        assert lags(collector) == {"beta": 60.0}  # acme skipped, beta still measured
        assert lags(collector) == {"beta": 60.0}
    warned = [r for r in caplog.records if "unreadable sync cursor" in r.getMessage()]
    assert len(warned) == 1 and "acme/smile" in warned[0].getMessage()  # once, not per scrape
