"""The console over real HTTP and real Redis: sign-in, CSRF, masking, lookup, replay, purge, resume."""

from __future__ import annotations

import re

import httpx
import pytest
import redis

from pipeline import keys
from pipeline.clock import SystemClock
from pipeline.console.auth import require_credentials
from pipeline.errors import ConfigError
from pipeline.state.pauses import RedisPauses
from tests.console.support import console, seed
from tests.support.wsgi import serve

pytestmark = [pytest.mark.redis]
TOKEN = "t" * 24


def csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, html[:500]
    return match[1]


def test_off_loopback_it_refuses_to_start_without_a_token() -> None:
    with pytest.raises(ConfigError, match="CONSOLE_TOKEN"):
        require_credentials("0.0.0.0", None)
    with pytest.raises(ConfigError, match="at least 16"):
        require_credentials("0.0.0.0", "short")
    require_credentials("127.0.0.1", None)
    require_credentials("::1", None)
    require_credentials("0.0.0.0", TOKEN)


def test_sign_in_is_required_and_every_action_needs_the_sessions_csrf_token(real_redis: redis.Redis) -> None:
    seed(real_redis)
    with serve(console(real_redis, token=TOKEN)) as url, httpx.Client(base_url=url) as http:
        assert http.get("/").headers["location"] == "/login"
        assert http.post("/login", data={"token": "wrong" * 5}).status_code == 401
        assert http.post("/login", data={"token": TOKEN}).status_code == 303
        page = http.get("/connections")
        assert page.status_code == 200 and "acme" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        RedisPauses(real_redis).pause("acme", "postscript", reason="dead-letter guard: 50 in a row",
                                      since=SystemClock().now(), until=None)
        refused = http.post("/connections/resume", data={"merchant": "acme", "platform": "postscript"})
        assert refused.status_code == 403 and RedisPauses(real_redis).get("acme", "postscript") is not None
        other_site = http.post("/connections/resume", headers={"Origin": "https://evil.test"},
                               data={"merchant": "acme", "platform": "postscript", "csrf": csrf(page.text)})
        assert other_site.status_code == 403
        unknown = http.post("/connections/resume", data={"merchant": "nosuch", "platform": "tiktok",
                                                         "csrf": csrf(page.text)})
        assert unknown.status_code == 400 and "no connection nosuch/tiktok" in unknown.text
        done = http.post("/connections/resume", data={"merchant": "acme", "platform": "postscript",
                                                      "csrf": csrf(page.text)})
        assert done.status_code == 303 and RedisPauses(real_redis).get("acme", "postscript") is None
    with serve(console(real_redis, token=TOKEN)) as url, httpx.Client(base_url=url) as stranger:
        forged = stranger.post("/connections/resume", data={"merchant": "acme", "platform": "postscript",
                                                            "csrf": csrf(page.text)})
        assert forged.status_code in (303, 403) and forged.headers.get("location", "/login") == "/login"


def test_pages_mask_personal_data_and_lookup_finds_the_customer(real_redis: redis.Redis) -> None:
    batch = seed(real_redis)
    with serve(console(real_redis)) as url, httpx.Client(base_url=url) as http:
        overview = http.get("/")
        assert overview.status_code == 200
        assert re.search(r"<td class=\"n \">3</td>", overview.text)  # pulled in the last hour
        dlq = http.get("/dlq", params={"status": "400"})
        (entry_id,) = re.findall(r'name="id" value="([0-9-]+)"', dlq.text)
        entry = http.get(f"/dlq/acme/postscript/{entry_id}").text
        for page in (overview.text, dlq.text, entry):
            assert "jane.doe" not in page and "5550123" not in page
        assert "j***@example.test" in entry and "***23" in entry and "Smile Points Redeemed" in entry
        token = csrf(http.get("/customers").text)
        found = http.post("/customers", data={"who": " Jane.Doe@Example.test ", "csrf": token}).text
        assert "jane.doe" not in found and "3 deliveries" in found
        assert batch[0].id in found and "not a subscriber" in found and f"/dlq/acme/postscript/{entry_id}" in found
        by_phone = http.post("/customers", data={"who": "+15555550123", "csrf": token}).text
        assert "3 deliveries" in by_phone
        assert http.get("/dlq", params={"merchant": "nosuch"}).status_code == 400


def test_replay_previews_then_schedules_and_purge_asks_first(real_redis: redis.Redis) -> None:
    seed(real_redis)
    with serve(console(real_redis)) as url, httpx.Client(base_url=url) as http:
        token = csrf(http.get("/dlq").text)
        entry_id = re.findall(r'name="id" value="([0-9-]+)"', http.get("/dlq").text)[0]
        preview = http.post("/dlq/replay", data={"csrf": token, "scope": "selected", "id": entry_id})
        assert "Would replay <b>1</b>" in preview.text and real_redis.zcard(keys.due("postscript")) == 0
        run = http.post("/dlq/replay", data={"csrf": token, "scope": "selected", "id": entry_id, "confirm": "yes"})
        assert run.status_code == 303 and real_redis.zcard(keys.due("postscript")) == 1
        progress = http.get(run.headers["location"]).text
        assert "0</b> of 1 replayed" in progress  # still in the queue until a worker delivers it
        ask = http.post("/dlq/purge", data={"csrf": token, "scope": "matching"})
        assert "Purge 1 dead-letter entry for good?" in ask.text and real_redis.xlen(keys.dlq("acme", "postscript")) == 1
        http.post("/dlq/purge", data={"csrf": token, "scope": "matching", "confirm": "yes"})
        assert real_redis.xlen(keys.dlq("acme", "postscript")) == 0
        assert "Done:</b> all 1" in http.get(run.headers["location"]).text


def test_quarantine_redrive_is_previewed_then_handed_over_and_missing_scopes_show(real_redis: redis.Redis) -> None:
    from pipeline.errors import InvalidRecord
    from pipeline.quarantine import put
    from pipeline.state.journal import RedisJournal
    from pipeline.state.scopes import RedisScopeStore
    from tests.factories import smile_txn

    clock = SystemClock()
    put(RedisJournal(real_redis), clock, merchant="acme", provider="smile", resource="points_transactions",
        payload={**smile_txn(7), "note": "call jane.doe@example.test"},
        error=InvalidRecord("Not a valid integer.", provider="smile", field="points_transactions.points_change"))
    RedisScopeStore(real_redis).missing("acme", "smile", "points_transactions", scope="points_transaction:read",
                                        at=clock.now(), reason="403 from smile")
    handed: list = []
    with serve(console(real_redis, handed=handed)) as url, httpx.Client(base_url=url) as http:
        page = http.get("/quarantine", params={"provider": "smile"}).text
        assert "points_transactions.points_change" in page and "jane.doe" not in page and "j***@example.test" in page
        token = csrf(page)
        preview = http.post("/quarantine/redrive", data={"csrf": token, "provider": "smile"}).text
        assert "<b>1</b> smile record(s) now pass" in preview and handed == []
        done = http.post("/quarantine/redrive", data={"csrf": token, "provider": "smile", "confirm": "yes"})
        assert done.status_code == 303 and len(handed) == 1 and handed[0][0].record_id == "7"
        assert real_redis.xlen(keys.quarantine("smile")) == 0
        assert "points_transaction:read" in http.get("/connections").text
        assert http.post("/quarantine/redrive", data={"csrf": token, "provider": "tiktok"}).status_code == 400
