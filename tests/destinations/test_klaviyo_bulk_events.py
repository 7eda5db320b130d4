"""``KlaviyoDestination.send_events_bulk`` over real loopback HTTP against the Klaviyo simulator; every
request it sends is validated against the vendored ``bulk_create_events`` OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from pipeline.clock import FrozenClock
from pipeline.config import PlatformAccount, Secret
from pipeline.destinations.klaviyo.encoding import BULK_EVENTS_PATH
from pipeline.destinations.klaviyo import KlaviyoDestination
from pipeline.errors import AuthError, FatalError, RateLimited, RetriableError, Throttled
from pipeline.http.client import build_client
from pipeline.ratelimit.limiter import MemoryRateLimiter
from pipeline.ratelimit.limits import HEADROOM
from pipeline.ratelimit.throttle import Throttle
from sandbox.sim import KlaviyoAccount, KlaviyoSimulator
from pipeline.state.subscribers import MemorySubscriberCache
from pipeline.types import Customer, Event
from tests.factories import T0, event
from tests.sim.conftest import FakeMonotonic
from tests.support.openapi import RequestValidator

KEY = "pk_live_secret_1234"
EMAIL, PHONE = "jane@example.test", "+15555550100"
JANE_BOTH = Customer(provider_id="c1", email=EMAIL, phone="(555) 555-0100")


def destination(base_url: str, key: str = KEY, *, timeout_s: float = 5, throttle: Throttle | None = None,
                transport: httpx.BaseTransport | None = None) -> KlaviyoDestination:
    acct = PlatformAccount(kind="klaviyo", base_url=base_url, credential_env="X", credential=Secret(key),
                           rate_per_s=None, unknown_subscriber="create")
    client = build_client(base_url=base_url, headers=KlaviyoDestination.auth_headers(acct), timeout_s=timeout_s,
                          hooks=throttle, transport=transport)
    return KlaviyoDestination(merchant="acme", account=acct, client=client,
                              subscribers=MemorySubscriberCache(FrozenClock()))


def validate_all(sim: KlaviyoSimulator) -> int:
    """Validate every bulk request the simulator received; returns how many."""
    spec = RequestValidator("klaviyo/bulk_create_events.json")
    bulk = [r for r in sim.requests if r.path == BULK_EVENTS_PATH]
    for r in bulk:
        spec.validate(httpx.Request(r.method, f"http://sim{r.path}", headers=r.headers, content=r.body))
    return len(bulk)


def many(n: int, *, profiles: int = 10) -> list[tuple[str, Event]]:
    customers = [Customer(provider_id=f"c{i}", email=f"u{i}@example.test") for i in range(profiles)]
    return [(f"d-{i}", replace(event(id=f"e{i}"), customer=customers[i % profiles])) for i in range(n)]


def assert_clean(exc: BaseException) -> None:
    """No credential, email or phone number in what an error carries."""
    text = f"{exc} {getattr(exc, 'response_excerpt', '')}"
    assert KEY not in text and EMAIL not in text and PHONE not in text and "555-0100" not in text


@pytest.fixture
def mono() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def sim() -> Iterator[KlaviyoSimulator]:
    with KlaviyoSimulator(limits=None) as s:
        yield s


@pytest.fixture
def acc(sim: KlaviyoSimulator) -> KlaviyoAccount:
    return sim.add_account(KEY)


def test_sends_many_events_in_requests_of_at_most_1000(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    items = many(2_300)
    assert destination(sim.base_url).send_events_bulk(items) is None
    assert validate_all(sim) == 3
    assert [len(r.body) <= 5_000_000 for r in sim.requests] == [True] * 3
    assert [e["unique_id"] for e in acc.events] == sorted((d for d, _ in items), key=lambda d: (
        int(d[2:]) // 1000, int(d[2:]) % 10, int(d[2:])))  # per request, grouped per profile, in order
    assert len(acc.profiles) == 10 and {e["via"] for e in acc.events} == {"bulk"}
    assert acc.events[0]["properties"] == {"Points": 100, "Description": "Placed an order", "Transaction ID": 7}
    assert acc.events[0]["time"] == T0.isoformat()


def test_nothing_to_send_sends_nothing(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    destination(sim.base_url).send_events_bulk([])
    assert sim.requests == []


def test_single_and_bulk_sends_of_one_delivery_deduplicate(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    dest = destination(sim.base_url)
    assert dest.send(event(), delivery_id="d-1").outcome == "delivered"
    dest.send_events_bulk([("d-1", event()), ("d-2", event(id="e2")), ("d-2", event(id="e2"))])
    assert [(e["unique_id"], e["via"]) for e in acc.events] == [("d-1", "single"), ("d-2", "bulk")]
    assert acc.deduplicated == 1
    assert dest.send(event(id="e2"), delivery_id="d-2").outcome == "delivered"  # a retry the single way
    assert len(acc.events) == 2 and acc.deduplicated == 2
    assert validate_all(sim) == 1


def test_a_failure_after_the_first_request_is_retried_whole(mono: FakeMonotonic) -> None:
    with KlaviyoSimulator(limits={"events_bulk": (1, 100)}, monotonic=mono) as sim:
        acc = sim.add_account(KEY)
        dest, items = destination(sim.base_url), many(1_500)
        with pytest.raises(RateLimited):
            dest.send_events_bulk(items)
        assert len(acc.events) == 1_000  # the first request was accepted
        sim.windows.pop("events_bulk")  # (unpaced, a retry at 1/s would meet the limit again)
        dest.send_events_bulk(items)  # all or nothing: the whole call again
        assert len(acc.events) == 1_500 and acc.deduplicated == 1_000
        assert len({e["unique_id"] for e in acc.events}) == 1_500


def test_429_is_rate_limited_with_retry_after(mono: FakeMonotonic) -> None:
    with KlaviyoSimulator(limits={"events_bulk": (1, 100)}, monotonic=mono) as sim:
        sim.add_account(KEY)
        dest = destination(sim.base_url)
        dest.send_events_bulk(many(3))
        with pytest.raises(RateLimited) as info:
            dest.send_events_bulk([("d-9", event(id="e9"))])
        assert info.value.status == 429 and info.value.retry_after_s == 1
        assert_clean(info.value)
        assert dest.send(event(id="e9"), delivery_id="d-9").outcome == "delivered"  # another endpoint class


@pytest.mark.parametrize("status", [500, 503, 504])
def test_5xx_is_retriable(sim: KlaviyoSimulator, acc: KlaviyoAccount, status: int) -> None:
    sim.fail_next(1, status, path_prefix=BULK_EVENTS_PATH)
    with pytest.raises(RetriableError) as info:
        destination(sim.base_url).send_events_bulk(many(2))
    assert type(info.value) is RetriableError and info.value.status == status
    assert_clean(info.value)


def test_timeout_is_retriable(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    sim.slow_next(1, 1.0, path_prefix=BULK_EVENTS_PATH)
    with pytest.raises(RetriableError, match="failed: ReadTimeout") as info:
        destination(sim.base_url, timeout_s=0.2).send_events_bulk(many(2))
    assert type(info.value) is RetriableError
    assert_clean(info.value)


def test_400_is_fatal_and_names_the_pointer_and_delivery(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    items = [("d-1", replace(event(), customer=JANE_BOTH)),
             ("d-2", replace(event(id="e2"), customer=JANE_BOTH, occurred_at=T0.replace(year=1980)))]
    with pytest.raises(FatalError) as info:
        destination(sim.base_url).send_events_bulk(items)
    exc = info.value
    assert type(exc) is FatalError and exc.status == 400
    assert str(exc) == ("klaviyo POST event-bulk-create-jobs answered 400 at "
                        "/data/attributes/events-bulk-create/data/0/attributes/events/data/1/attributes/time "
                        "(delivery d-2)")
    assert_clean(exc)
    assert acc.events == []


def test_a_profile_error_names_the_deliveries_of_that_profile(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    bad = Customer(provider_id="c9", email="not-an-email")  # the encoder does not check email syntax
    items = [("d-1", event()), ("d-2", replace(event(id="e2"), customer=bad)),
             ("d-3", replace(event(id="e3"), customer=bad))]
    with pytest.raises(FatalError, match=r"at /data/attributes/events-bulk-create/data/1/attributes/profile/data/"
                                         r"attributes/email \(deliveries d-2, d-3\)$"):
        destination(sim.base_url).send_events_bulk(items)


@pytest.mark.parametrize("status", [404, 409, 413, 422])
def test_other_4xx_are_fatal(sim: KlaviyoSimulator, acc: KlaviyoAccount, status: int) -> None:
    sim.fail_next(1, status, path_prefix=BULK_EVENTS_PATH)
    with pytest.raises(FatalError) as info:
        destination(sim.base_url).send_events_bulk(many(2))
    assert type(info.value) is FatalError and info.value.status == status
    assert_clean(info.value)


def test_401_and_403_are_auth_errors(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    with pytest.raises(AuthError) as info:
        destination(sim.base_url, key="pk_wrong_key_5678").send_events_bulk(many(2))
    assert info.value.status == 401 and "pk_wrong_key_5678" not in f"{info.value} {info.value.response_excerpt}"
    sim.fail_next(1, 403, path_prefix=BULK_EVENTS_PATH)
    with pytest.raises(AuthError) as info:
        destination(sim.base_url).send_events_bulk(many(2))
    assert info.value.status == 403
    assert_clean(info.value)


def test_unencodable_events_are_fatal_before_anything_is_sent(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    for item, problem in (((event(email=None)), "neither email nor phone"),
                          (replace(event(), customer=Customer(provider_id="c", phone="555-0100")), "phone_number")):
        with pytest.raises(FatalError, match=f"delivery d-2: .*{problem}") as info:
            destination(sim.base_url).send_events_bulk([("d-1", event()), ("d-2", item)])
        assert_clean(info.value)
    assert sim.requests == []


def test_error_answers_echoing_personal_data_are_masked() -> None:
    answer = {"errors": [{"id": "1", "status": 400, "code": "invalid", "title": "Invalid input.",
                          "detail": f"{EMAIL} / {PHONE} is not allowed",
                          "source": {"pointer": "/data/attributes/events-bulk-create/data/0/attributes/profile"}}]}
    transport = httpx.MockTransport(lambda request: httpx.Response(400, json=answer))
    with pytest.raises(FatalError) as info:
        destination("https://a.klaviyo.test", transport=transport).send_events_bulk(
            [("d-1", replace(event(), customer=JANE_BOTH))])
    assert_clean(info.value)
    assert "j***@example.test" in info.value.response_excerpt and "(delivery d-1)" in str(info.value)
    assert json.loads(info.value.response_excerpt)["errors"][0]["code"] == "invalid"


def test_the_shared_limiter_paces_bulk_requests_in_their_own_class(sim: KlaviyoSimulator, acc: KlaviyoAccount) -> None:
    clock = FrozenClock()
    throttle = Throttle(limiter=MemoryRateLimiter(clock), clock=clock, kind="klaviyo", scope="t", rate_per_s=None,
                        max_wait_s=0.01)
    dest = destination(sim.base_url, throttle=throttle)
    dest.send_events_bulk(many(2))
    with pytest.raises(Throttled) as info:  # 10/s and 150/min: the next bulk request is 0.4 s away
        dest.send_events_bulk([("d-9", event(id="e9"))])
    assert info.value.retry_after_s == pytest.approx(60 / (150 * HEADROOM), rel=0.01)
    before = clock.monotonic()
    assert dest.send(event(id="e9"), delivery_id="d-9").outcome == "delivered"  # create_event: its own class
    assert clock.monotonic() == before and len(acc.events) == 3
    clock.advance(60 / (150 * HEADROOM))
    dest.send_events_bulk([("d-10", event(id="e10"))])
    assert len(acc.events) == 4
