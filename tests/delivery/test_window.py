"""The delivery window over real loopback HTTP: one thread keeps up to ``window`` requests in
flight, never two about one customer, keeps each customer's order, and settles every answer
(claims, acknowledgements) as it lands, also when an answer stops the batch."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline import keys
from pipeline.clock import FrozenClock, SystemClock
from pipeline.delivery import Deliverer
from pipeline.destinations.postscript import PostscriptDestination
from pipeline.http.client import build_client
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.state.pauses import MemoryPauses
from pipeline.state.profiles import MemoryProfileStates
from pipeline.state.subscribers import MemorySubscriberCache
from pipeline.types import Customer, Delivery, Event, ProfileUpdate
from tests.factories import T0, platform_account


class Platform(BaseHTTPRequestHandler):
    """Answers POST /api/v2/events after ``delay_s``; records who was in flight together."""

    protocol_version = "HTTP/1.1"
    delay_s = 0.15
    refuse_after = 10_000  # answer 401 from this request on
    lock = threading.Lock()
    in_flight: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    order: list[str] = []
    most = 0

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        who = body["email"]
        cls = Platform
        with cls.lock:
            cls.order.append(body["external_id"])
            cls.in_flight.append(who)
            cls.most = max(cls.most, len(cls.in_flight))
            cls.overlaps.append(tuple(cls.in_flight))
            status = 202 if len(cls.order) < cls.refuse_after else 401
        time.sleep(cls.delay_s)
        with cls.lock:
            cls.in_flight.remove(who)
        out = json.dumps({"event_ids": ["ev"]} if status == 202 else {"error_message": "bad key"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self) -> None:  # noqa: N802 - GET /api/v2/subscribers?email__eq=: "s..." customers are subscribers
        email = self.path.split("email__eq=")[-1].replace("%40", "@")
        Platform.order.append(f"GET {email}")
        found = [{"id": f"s_{email.split('@')[0]}", "properties": {}}] if email.startswith("s") else []
        self._json(200, {"page_info": {"page": 1, "total_pages": 1}, "subscribers": found})

    def do_PATCH(self) -> None:  # noqa: N802 - PATCH /api/v2/subscribers/{id}; "s_gone" was removed
        self.rfile.read(int(self.headers["Content-Length"]))
        Platform.order.append(f"PATCH {self.path.rsplit('/', 1)[-1]}")
        time.sleep(Platform.delay_s)
        gone = self.path.endswith("/s_gone")
        self._json(404 if gone else 200, {"error_message": "not found"} if gone else {"id": "ok"})

    def _json(self, status: int, payload: object) -> None:
        out = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def platform() -> Iterator[str]:
    Platform.in_flight, Platform.overlaps, Platform.order, Platform.most = [], [], [], 0
    Platform.refuse_after = 10_000
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Platform)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def harness(url: str, window: int, subscribers: MemorySubscriberCache | None = None
            ) -> tuple[Deliverer, MemoryLedger, MemoryPauses]:
    account = platform_account(base_url=url)
    client = build_client(base_url=url, headers=PostscriptDestination.auth_headers(account), timeout_s=5)
    clock = SystemClock()
    ledger, journal, pauses = MemoryLedger(FrozenClock()), MemoryJournal(FrozenClock()), MemoryPauses()
    dest = PostscriptDestination(merchant="acme", account=account, client=client,
                                 subscribers=subscribers or MemorySubscriberCache(FrozenClock()))
    deliverer = Deliverer(merchant="acme", platform="postscript", destination=dest, ledger=ledger,
                          dead_letters=journal, skipped=journal, counters=MemoryCounters(), clock=clock,
                          pauses=pauses, profiles=MemoryProfileStates(), dedup_ttl_s=3600, max_attempts=3,
                          retry_base_s=1, retry_max_s=60, window=window)
    return deliverer, ledger, pauses


def events(customers: list[str]) -> list[Delivery]:
    return [Delivery(platform="postscript", item=Event(
        id=f"e{i}", merchant="acme", provider="smile", name="Smile Points Earned", occurred_at=T0,
        customer=Customer(provider_id=who, email=f"{who}@example.test"), properties={"Points": i}))
        for i, who in enumerate(customers)]


def test_the_window_is_filled_and_never_exceeded(platform: str) -> None:
    deliverer, ledger, _ = harness(platform, window=4)
    batch = events([f"c{i}" for i in range(12)])
    result = deliverer.deliver(batch, owner="b1")
    assert result.delivered == 12 and Platform.most == 4
    assert all(ledger.which_exist([keys.delivered("acme", "postscript", d.id) for d in batch]))
    assert not any(ledger.which_exist([keys.inflight("acme", "postscript", d.id) for d in batch]))  # all settled


def test_two_deliveries_about_one_customer_are_never_in_flight_together_and_keep_their_order(platform: str) -> None:
    deliverer, _, _ = harness(platform, window=4)
    batch = events(["a", "b", "a", "c", "a", "b"])
    assert deliverer.deliver(batch, owner="b1").delivered == 6
    assert all(len(set(o)) == len(o) for o in Platform.overlaps)  # no customer twice at once
    sent_a = [x for x in Platform.order if x in {batch[i].id for i in (0, 2, 4)}]
    assert sent_a == [batch[0].id, batch[2].id, batch[4].id]
    assert Platform.most >= 2  # the others still overlapped (sends start in order: "a" waits for "a")


def test_a_refusal_stops_the_batch_the_requests_in_flight_land_and_the_rest_waits(platform: str) -> None:
    Platform.refuse_after = 3  # the third request is refused (401): the key is wrong
    deliverer, ledger, pauses = harness(platform, window=4)
    batch = events([f"c{i}" for i in range(10)])
    result = deliverer.deliver(batch, owner="b1")
    sent = len(Platform.order)
    assert 3 <= sent <= 6  # the refusal landed with at most a window in flight
    assert result.delivered == 2 and result.dead_lettered == sent - 2  # every answer was settled
    assert [d.id for d in result.deferred] == [d.id for d in batch[sent:]]
    assert pauses.get("acme", "postscript") is not None
    assert not any(ledger.which_exist([keys.inflight("acme", "postscript", d.id) for d in batch]))


def test_a_window_of_one_sends_one_at_a_time(platform: str) -> None:
    deliverer, _, _ = harness(platform, window=1)
    assert deliverer.deliver(events(["a", "b", "c"]), owner="b1").delivered == 3
    assert Platform.most == 1


def test_profile_updates_look_up_then_patch_in_flight_and_a_stale_id_is_forgotten(platform: str) -> None:
    cache = MemorySubscriberCache(FrozenClock())
    cache.put("acme", "postscript", "sgone@example.test", "s_gone", ttl_s=3600)  # removed since
    deliverer, _, _ = harness(platform, window=4, subscribers=cache)
    updates = [Delivery(platform="postscript", item=ProfileUpdate(
        id=f"p{who}", merchant="acme", provider="smile", as_of=T0, customer=Customer(provider_id=who,
        email=f"{who}@example.test"), properties={"Smile Points Balance": 5})) for who in ("s1", "n1", "s2", "sgone")]
    result = deliverer.deliver(updates, owner="b1")
    assert result.delivered == 2 and result.skipped == 1 and [d.item.id for d in result.retry] == ["psgone"]
    assert sorted(o for o in Platform.order if o.startswith("PATCH")) == ["PATCH s_gone", "PATCH s_s1", "PATCH s_s2"]
    assert "GET sgone@example.test" not in Platform.order  # it was cached
    assert cache.get("acme", "postscript", "s1@example.test") == "s_s1"
    assert cache.get("acme", "postscript", "sgone@example.test") is None  # forgotten: looked up again next time
    assert Platform.order.index("GET s1@example.test") < Platform.order.index("PATCH s_s1")


def test_when_redis_fails_mid_window_what_is_in_flight_is_settled_before_the_error_goes_on(platform: str) -> None:
    import redis

    class FailingLimiter:  # the shared limiter's Redis call fails on the 4th request
        calls = 0

        def pace(self, method: str, path: str) -> None:
            FailingLimiter.calls += 1
            if FailingLimiter.calls == 4:
                raise redis.ConnectionError("Redis went away")

        def learn(self, path: str, status: int, headers: object) -> None:
            pass

        def before(self, request: object) -> None: ...

        def after(self, response: object) -> None: ...

    ledger = MemoryLedger(FrozenClock())
    account = platform_account(base_url=platform)
    client = build_client(base_url=platform, headers=PostscriptDestination.auth_headers(account), timeout_s=5,
                          hooks=FailingLimiter())  # type: ignore[arg-type]
    failing = PostscriptDestination(merchant="acme", account=account, client=client,
                                    subscribers=MemorySubscriberCache(FrozenClock()))
    deliverer = Deliverer(merchant="acme", platform="postscript", destination=failing, ledger=ledger,
                          dead_letters=MemoryJournal(FrozenClock()), skipped=MemoryJournal(FrozenClock()),
                          counters=MemoryCounters(), clock=SystemClock(), pauses=MemoryPauses(),
                          profiles=MemoryProfileStates(), dedup_ttl_s=3600, max_attempts=3, retry_base_s=1,
                          retry_max_s=60, window=4)
    batch = events([f"c{i}" for i in range(8)])
    with pytest.raises(redis.ConnectionError):
        deliverer.deliver(batch, owner="b1")
    assert len(Platform.order) == 3  # three were on the wire when the fourth's limiter call failed
    acked = ledger.which_exist([keys.delivered("acme", "postscript", d.id) for d in batch])
    assert acked == [True] * 3 + [False] * 5  # all three settled: a retry of the batch sends none of them again
    assert not any(ledger.which_exist([keys.inflight("acme", "postscript", d.id) for d in batch]))
