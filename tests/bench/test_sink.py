"""The bench sink (bench/sink.py) answers as the simulators do, in the specs' documented shapes.

Each request goes to the sink (a real child process, as the bench runs it) and to the stdlib
simulator of the same platform; the answers must have the same status and the same fields, and
where the spec declares a response schema (../shared/specs, copied in specs/) the sink's body
must validate against it with no undeclared field. The rate limits are checked in-process
against a given clock (no timing)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, OAS31Validator

from bench.sink import Sink, key_label
from bench.sinkproc import SinkProc
from pipeline.destinations.attentive.encoding import encode_attributes
from pipeline.destinations.attentive.encoding import encode_event as attentive_event
from pipeline.destinations.postscript.encoding import encode_event as postscript_event
from sandbox.sim import AttentiveSimulator, PostscriptSimulator
from tests.factories import event, profile
from tests.support.openapi import load_spec

PS_SPEC = "postscript-partner-api-openapi.yml"
AT_SPEC, AT2_SPEC = "attentive-v1-openapi.yaml", "attentive-v2-openapi.yaml"
PS_EVENT = postscript_event(event(), delivery_id="d-1")
AT_EVENT = attentive_event(event(), delivery_id="d-1")
AT_ATTRIBUTES = encode_attributes(profile())


@pytest.fixture(scope="module")
def sink() -> Iterator[SinkProc]:
    with SinkProc(latency_ms=0, postscript_rate_per_s=0, attentive_rate_per_s=0) as s:
        yield s


@pytest.fixture(scope="module")
def postscript() -> Iterator[PostscriptSimulator]:
    with PostscriptSimulator(rate_per_s=None) as sim:
        shop = sim.add_shop("sk_contract")
        shop.add_subscriber(email=PS_EVENT["email"])
        yield sim


@pytest.fixture(scope="module")
def attentive() -> Iterator[AttentiveSimulator]:
    with AttentiveSimulator(rate_per_s=None) as sim:
        sim.add_account("at_contract")
        yield sim


def _both(sink: SinkProc, sim: Any, key: str, method: str, path: str, **kw: Any) -> tuple[httpx.Response, ...]:
    headers = {"Authorization": f"Bearer {key}"}
    return tuple(
        httpx.request(method, base + path, headers=headers, timeout=5, **kw) for base in (sink.base_url, sim.base_url)
    )


def _schema_errors(spec_name: str, template: str, method: str, status: int, body: Any) -> list[str]:
    spec = load_spec(spec_name)
    answer = spec["paths"][template][method.lower()]["responses"][str(status)]
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return []
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    validator = (OAS30Validator if str(spec.get("openapi", "")).startswith("3.0") else OAS31Validator)(schema)
    errors = [e.message for e in validator.iter_errors(body)]
    return errors + [f"{k} is not declared" for k in body if k not in schema.get("properties", {})]


@pytest.mark.parametrize(
    ("method", "path", "template", "kw"),
    [
        ("POST", "/api/v2/events", "/api/v2/events", {"json": PS_EVENT}),
        ("GET", "/api/v2/subscribers", "/api/v2/subscribers", {"params": {"email__eq": PS_EVENT["email"]}}),
        ("GET", "/api/v2/me", "/api/v2/me", {}),
    ],
)
def test_postscript_answers_like_the_simulator_and_the_spec(
    sink: SinkProc,
    postscript: PostscriptSimulator,
    method: str,
    path: str,
    template: str,
    kw: dict[str, Any],
) -> None:
    mine, sims = _both(sink, postscript, "sk_contract", method, path, **kw)
    assert mine.status_code == sims.status_code, mine.text
    assert mine.headers["content-type"] == "application/json"
    assert _schema_errors(PS_SPEC, template, method, mine.status_code, mine.json()) == []
    # the simulator's /me adds shop_id and name, which the spec does not declare
    assert set(mine.json()) <= set(sims.json()) and set(sims.json()) - set(mine.json()) <= {"shop_id", "name"}
    if path == "/api/v2/subscribers":
        assert set(mine.json()["page_info"]) == set(sims.json()["page_info"])
        assert set(mine.json()["subscribers"][0]) == set(sims.json()["subscribers"][0])


def test_a_looked_up_subscriber_is_patched_and_fetched_in_the_simulator_s_shape(
    sink: SinkProc,
    postscript: PostscriptSimulator,
) -> None:
    found = _both(
        sink, postscript, "sk_contract", "GET", "/api/v2/subscribers", params={"email__eq": PS_EVENT["email"]}
    )
    shape = set(found[1].json()["subscribers"][0])
    ids = [r.json()["subscribers"][0]["id"] for r in found]
    for base, sid in ((sink.base_url, ids[0]), (postscript.base_url, ids[1])):
        r = httpx.patch(
            f"{base}/api/v2/subscribers/{sid}",
            json={"properties": {"Smile Points Balance": 7}},
            headers={"Authorization": "Bearer sk_contract"},
        )
        assert r.status_code == 200 and set(r.json()) == shape and r.json()["properties"]["Smile Points Balance"] == 7
        assert (
            httpx.get(f"{base}/api/v2/subscribers/{sid}", headers={"Authorization": "Bearer sk_contract"}).json()["id"]
            == sid
        )


@pytest.mark.parametrize(("path", "body"), [("/v1/events/custom", AT_EVENT), ("/v1/attributes/custom", AT_ATTRIBUTES)])
def test_attentive_takes_the_encoder_s_bodies_like_the_simulator(
    sink: SinkProc,
    attentive: AttentiveSimulator,
    path: str,
    body: dict[str, Any],
) -> None:
    mine, sims = _both(sink, attentive, "at_contract", "POST", path, json=body)
    assert (mine.status_code, mine.content) == (sims.status_code, sims.content) == (200, b"")


def test_attentive_me_and_bulk_answers_follow_the_specs(sink: SinkProc, attentive: AttentiveSimulator) -> None:
    mine, sims = _both(sink, attentive, "at_contract", "GET", "/v1/me")
    assert mine.status_code == sims.status_code == 200
    assert _schema_errors(AT_SPEC, "/me", "GET", 200, mine.json()) == []
    bulk = {"users": [{"identifiers": {"email": "a@example.test"}, "attributes": {"custom": {"Points": 3}}}]}
    mine, sims = _both(sink, attentive, "at_contract", "POST", "/v2/bulk/user/attributes", json=bulk)
    assert mine.status_code == sims.status_code == 202 and set(mine.json()) == set(sims.json())
    assert _schema_errors(AT2_SPEC, "/v2/bulk/user/attributes", "POST", 202, mine.json()) == []


@pytest.mark.parametrize(
    ("sim_fixture", "key", "path", "body"),
    [
        ("postscript", "sk_contract", "/api/v2/events", {"type": "Points Earned", "email": "a@example.test"}),
        ("attentive", "at_contract", "/v1/events/custom", {"type": "X"}),
        ("postscript", "sk_unknown_to_nobody", "/api/v2/nowhere", {}),
    ],
)
def test_errors_use_the_simulator_s_envelope(
    request: pytest.FixtureRequest,
    sink: SinkProc,
    sim_fixture: str,
    key: str,
    path: str,
    body: dict[str, Any],
) -> None:
    mine, sims = _both(sink, request.getfixturevalue(sim_fixture), key, "POST", path, json=body)
    assert mine.status_code >= 400 and sims.status_code >= 400
    assert set(mine.json()) - {"field"} == set(sims.json()) - {"field"}
    no_auth = httpx.post(sink.base_url + path, json=body)
    assert no_auth.status_code == 401


def test_postscript_limit_is_per_key_counts_refusals_and_answers_429_in_the_envelope() -> None:
    sink = Sink(postscript_rate_per_s=15)
    sim = PostscriptSimulator(rate_per_s=None)
    sim_429 = sim.error_response(sim.rate_limited_error())
    h = {"authorization": "Bearer sk_a"}
    body = json.dumps(PS_EVENT).encode()
    statuses = [sink.handle("POST", "/api/v2/events", h, body, 100.0 + i * 0.01, 0.0)[0] for i in range(17)]
    assert statuses == [202] * 15 + [429, 429]
    status, answer, _ = sink.handle("POST", "/api/v2/events", h, body, 100.9, 0.0)
    assert status == 429 and json.loads(answer) == json.loads(sim_429.body) | {"error_message": "Rate limit exceeded"}
    assert sink.handle("POST", "/api/v2/events", {"authorization": "Bearer sk_b"}, body, 100.9, 0.0)[0] == 202
    assert sink.handle("POST", "/api/v2/events", h, body, 101.0, 0.0)[0] == 202  # a new window
    stats = sink.stats.as_json()["keys"]
    assert stats[key_label("sk_a")] == {"requests": 19, "ok": 16, "429": 3, "events": 16, "duplicate_events": 15}
    assert stats[key_label("sk_b")]["ok"] == 1 and "sk_a" not in json.dumps(sink.stats.as_json())


def test_attentive_limit_does_not_count_refusals_and_reports_what_remains() -> None:
    sink = Sink(attentive_rate_per_s=2)
    h = {"authorization": "Bearer at_a"}
    body = json.dumps(AT_EVENT).encode()
    answers = [sink.handle("POST", "/v1/events/custom", h, body, 5.0, 0.0) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]
    assert [dict(a[2])["x-ratelimit-remaining"] for a in answers] == ["1", "0", "0"]
    assert set(json.loads(answers[2][1])["error"]) == {"id", "message"}
    assert sink.handle("POST", "/v1/events/custom", h, body, 6.0, 0.0)[0] == 200


def test_pipelined_requests_on_one_connection_are_answered_in_order_after_the_latency(sink: SinkProc) -> None:
    sink.configure(latency_ms=30)
    try:
        reqs = b"".join(
            f"GET /api/v2/subscribers?email__eq=c{i}%40example.test HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer sk_p\r\n\r\n".encode()
            for i in range(3)
        )
        with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as s:
            s.sendall(reqs)
            data = b""
            while data.count(b"HTTP/1.1 200") < 3 or not data.endswith(b"}]}"):
                data += s.recv(65536)
        assert [e.split(b"@")[0][-2:] for e in data.split(b'"email": "')[1:]] == [b"c0", b"c1", b"c2"]
    finally:
        sink.configure(latency_ms=0)
    stats = sink.stats()
    assert stats["keys"][key_label("sk_p")]["ok"] == 3 and stats["cpu_s"] >= 0
