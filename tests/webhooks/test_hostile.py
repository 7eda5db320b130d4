"""Hostile inputs get one of the fixed answers (issue 12): 401 naming the header, 413, 400 for an
unreadable body, 503 with Retry-After for a dependency, or 202 and then quarantine, never 500.

The app is called in-process through WSGI (so hypothesis can try thousands of inputs quickly);
test_receiver.py and test_web_process.py cover the same app over real HTTP.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.clock import FrozenClock
from pipeline.config import Secret
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.sequences import MemorySequenceStore
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.webhooks.intake import WebhookIntake
from pipeline.webhooks.receiver import Endpoint, make_app
from pipeline.webhooks.replay import MemoryReplayGuard
from pipeline.webhooks.signatures import hmac_sign, omneo_sign, svix_sign

SVIX_SECRET = "whsec_" + base64.b64encode(b"okendo-hostile-secret").decode()
RAW_SVIX_SECRET = base64.b64encode(b"okendo-raw-secret").decode()  # without whsec_
OMNEO_SECRET = "omneo-hostile-secret"
HMAC_SECRET = "rediem-hostile-secret"
MAX_BODY = 64 * 1024
ENDPOINTS = {("okendo", "acme"): Endpoint("okendo", "acme", "svix", Secret(SVIX_SECRET)),
             ("okendo", "raw"): Endpoint("okendo", "raw", "svix", Secret(RAW_SVIX_SECRET)),
             ("omneo", "acme"): Endpoint("omneo", "acme", "omneo", Secret(OMNEO_SECRET)),
             ("rediem", "acme"): Endpoint("rediem", "acme", "hmac", Secret(HMAC_SECRET))}
FIXED = {"202 Accepted", "200 OK", "400 Bad Request", "401 Unauthorized", "404 Not Found", "413 Payload Too Large",
         "503 Service Unavailable"}


class App:
    def __init__(self) -> None:
        self.clock = FrozenClock()
        self.guard = MemoryReplayGuard(self.clock)
        self.queued: list[tuple[str, str, str]] = []
        self.outcomes: list[tuple[str, str]] = []
        self.app = make_app(resolve=lambda p, m: ENDPOINTS.get((p, m)), accept=self._accept, replays=self.guard,
                            clock=self.clock, max_body_bytes=MAX_BODY,
                            observe=lambda provider, outcome: self.outcomes.append((provider, outcome)))

    def _accept(self, provider: str, merchant: str, message_id: str) -> None:
        self.queued.append((provider, merchant, message_id))

    def call(self, path: str, body: bytes, headers: dict[str, str], *, method: str = "POST",
             content_length: str | None = None) -> tuple[str, dict[str, str], dict[str, Any]]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length,
            **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}}
        got: dict[str, Any] = {}

        def start_response(status: str, response_headers: Iterable[tuple[str, str]]) -> None:
            got["status"], got["headers"] = status, dict(response_headers)

        payload = b"".join(self.app(environ, start_response))
        return got["status"], got["headers"], json.loads(payload)

    def now(self) -> int:
        return int(self.clock.now().timestamp())


def _signed(app: App, body: bytes, msg_id: str = "msg_1") -> dict[str, str]:
    return svix_sign(SVIX_SECRET, msg_id, app.now(), body)


# --- the cases the issue found, each with its fixed answer -------------------------------------------
@pytest.mark.parametrize("case, header, value", [
    ("superscript digit timestamp", "svix-timestamp", "²"),
    ("5,000-digit timestamp", "svix-timestamp", "9" * 5000),
    ("negative timestamp", "svix-timestamp", "-5"),
    ("non-ASCII signature", "svix-signature", "v1,ünïcödé"),
    ("signature of 10k entries", "svix-signature", "v1,AAAA " * 1300),
    ("non-ASCII id", "svix-id", "msg_é"),
    ("id with spaces", "svix-id", "msg 1"),
    ("empty signature", "svix-signature", ""),
])
def test_malformed_signature_headers_get_401_naming_the_header(case: str, header: str, value: str) -> None:
    app = App()
    body = b'{"resourceType": "review"}'
    headers = {**_signed(app, body), header: value}
    status, _, payload = app.call("/webhooks/okendo/acme", body, headers)
    assert status == "401 Unauthorized", case
    assert header in payload["error"], payload
    assert app.queued == [] and app.outcomes == [("okendo", "unauthorized")]


def test_omneo_push_is_verified_on_the_hex_hmac_of_the_raw_body() -> None:
    app = App()
    body = b'{"id": "p-1", "points": "250.00"}'
    headers = omneo_sign(OMNEO_SECRET, "points.awarded", body)
    assert headers["X-Omneo-Hmac-SHA256"] == headers["X-Omneo-Hmac-SHA256"].lower()
    status, _, accepted = app.call("/webhooks/omneo/acme", body, headers)
    assert status == "202 Accepted"
    stored = app.guard.load("omneo", "acme", accepted["id"])
    assert stored is not None and stored.body == body and stored.event == "points.awarded"
    # the same push again (Omneo retries the same body): a duplicate
    assert app.call("/webhooks/omneo/acme", body, headers)[0] == "200 OK"
    # upper-case hex is the same digest; a different body, or event, is not the same signature/delivery
    upper = {**headers, "X-Omneo-Hmac-SHA256": headers["X-Omneo-Hmac-SHA256"].upper()}
    assert app.call("/webhooks/omneo/acme", body, upper)[0] == "200 OK"
    status, _, payload = app.call("/webhooks/omneo/acme", body + b" ", headers)
    assert status == "401 Unauthorized" and "x-omneo-hmac-sha256" in payload["error"]
    assert app.call("/webhooks/omneo/acme", body, {})[2]["error"] == "signature: missing header(s): x-omneo-hmac-sha256"


def test_svix_variants_okendo_may_send() -> None:
    app = App()
    body = b'{"resourceType": "loyalty_customer"}'
    # the Standard Webhooks prefix
    status, _, payload = app.call("/webhooks/okendo/acme", body,
                                  svix_sign(SVIX_SECRET, "msg_w", app.now(), body, prefix="webhook"))
    assert (status, payload["id"]) == ("202 Accepted", "msg_w")
    # a secret configured without whsec_
    assert app.call("/webhooks/okendo/raw", body, svix_sign(RAW_SVIX_SECRET, "msg_r", app.now(), body))[0] == \
        "202 Accepted"
    # several v1 entries (a rotation): any one matching is enough
    good = svix_sign(SVIX_SECRET, "msg_m", app.now(), body)["svix-signature"]
    rotated = {**svix_sign(SVIX_SECRET, "msg_m", app.now(), body),
               "svix-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} {good} v2,whatever"}
    assert app.call("/webhooks/okendo/acme", body, rotated)[0] == "202 Accepted"
    # two signature headers, which servers join with a comma (gunicorn, wsgiref), are not refused
    joined = svix_sign(SVIX_SECRET, "msg_j", app.now(), body)
    joined["svix-signature"] = f"v1,{base64.b64encode(b'y' * 32).decode()},{joined['svix-signature']}"
    assert app.call("/webhooks/okendo/acme", body, joined)[0] == "202 Accepted"
    assert [q[2] for q in app.queued] == ["msg_w", "msg_r", "msg_m", "msg_j"]


def test_route_and_size_edges() -> None:
    app = App()
    body = b"{}"
    assert app.call("/webhooks/okendo/acme\n", body, _signed(app, body))[0] == "404 Not Found"
    assert app.call("/webhooks/okendo/acme", body, _signed(app, body), content_length="1e9")[0] == "400 Bad Request"
    assert app.call("/webhooks/okendo/acme", body, _signed(app, body), content_length="-1")[0] == "400 Bad Request"
    assert app.call("/webhooks/okendo/acme", body, _signed(app, body), content_length="99")[0] == "400 Bad Request"
    big = b"{" + b" " * MAX_BODY + b"}"
    assert app.call("/webhooks/okendo/acme", big, _signed(app, big))[0] == "413 Payload Too Large"
    # an over-long body behind a small Content-Length is cut at that length: then the signature fails
    assert app.call("/webhooks/okendo/acme", big, _signed(app, big), content_length="10")[0] == "401 Unauthorized"
    assert app.queued == []


def test_a_pending_attempt_makes_a_retry_wait_never_a_duplicate() -> None:
    app = App()
    body = b'{"resourceType": "review"}'
    # an earlier attempt stored its body, then its enqueue never completed (Redis froze under it)
    app.guard.begin("okendo", "acme", "msg_p", body, None, attempt="earlier")
    status, headers, _ = app.call("/webhooks/okendo/acme", body, _signed(app, body, "msg_p"))
    assert status == "503 Service Unavailable" and int(headers["Retry-After"]) > 0
    app.clock.advance(31)  # the pending marker expires: the next retry is taken
    assert app.call("/webhooks/okendo/acme", body, _signed(app, body, "msg_p"))[0] == "202 Accepted"
    assert app.call("/webhooks/okendo/acme", body, _signed(app, body, "msg_p"))[0] == "200 OK"
    assert app.queued == [("okendo", "acme", "msg_p")]
    assert [o for _, o in app.outcomes] == ["pending", "accepted", "duplicate"]


# --- signed but unreadable bodies: accepted, then quarantined with the reason -------------------------
@pytest.mark.parametrize("case, body, reason", [
    ("30k-deep nesting", b"[" * 30_000 + b"]" * 30_000, "nests deeper"),
    ("40-deep nesting", json.dumps(json.loads("[" * 40 + "]" * 40)).encode(), "deeper than 32 levels"),
    ("latin-1 bytes", '{"name": "Zoë"}'.encode("latin-1"), "not UTF-8: invalid byte 0xeb at offset 12"),
    ("not JSON", b'{"resourceType": ', "not JSON"),
    ("5,000-digit number", b'{"n": ' + b"7" * 5000 + b"}", "not JSON we can read"),
    ("JSON but not an object", b"[1, 2]", "not a JSON object"),
])
def test_signed_unreadable_bodies_are_accepted_then_quarantined(case: str, body: bytes, reason: str) -> None:
    app = App()
    status, _, payload = app.call("/webhooks/okendo/acme", body, _signed(app, body, "msg_q"))
    assert status == "202 Accepted", case
    stored = app.guard.load("okendo", "acme", payload["id"])
    assert stored is not None and stored.body == body  # stored byte for byte: never mangled
    journal = MemoryJournal(app.clock)
    handed: list[Any] = []
    intake = WebhookIntake(merchant="acme", provider="okendo", hand_over=handed.extend,
                           snapshots=MemorySnapshotStore(), sequences=MemorySequenceStore(),
                           quarantine_journal=journal, counters=MemoryCounters(), clock=app.clock)
    assert intake.process(stored.body, event=stored.event) == "quarantined"
    [(_, entry)] = journal.read("lp:quarantine:okendo", count=10)
    assert reason in entry["error"] and handed == []


# --- a fuzzer over headers and bodies -----------------------------------------------------------------
_HEADER_NAMES = ["svix-id", "svix-timestamp", "svix-signature", "webhook-id", "webhook-timestamp",
                 "webhook-signature", "x-omneo-hmac-sha256", "x-omneo-event", "x-webhook-id", "x-webhook-timestamp",
                 "x-webhook-signature", "transfer-encoding"]
_latin1 = st.text(st.characters(min_codepoint=0, max_codepoint=255, blacklist_categories=("Cs",)), max_size=300)
_tricky = st.sampled_from(["²", "9" * 400, "v1,", "v1," + "A" * 44, "v1=" + "a" * 64, "chunked", " ", ",,,", "v1,==",
                           "\x00", "1700000000", "msg_1", "ünï"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(provider_merchant=st.sampled_from(sorted(ENDPOINTS)),
       headers=st.dictionaries(st.sampled_from(_HEADER_NAMES), st.one_of(_latin1, _tricky), max_size=8),
       body=st.binary(max_size=2048), content_length=st.one_of(st.none(), _latin1, st.integers(-5, 10**15).map(str)))
def test_fuzzed_headers_and_bodies_get_a_fixed_answer(provider_merchant: tuple[str, str], headers: dict[str, str],
                                                      body: bytes, content_length: str | None) -> None:
    app = App()
    provider, merchant = provider_merchant
    status, response_headers, payload = app.call(f"/webhooks/{provider}/{merchant}", body, headers,
                                                 content_length=content_length)
    assert status in FIXED - {"202 Accepted", "200 OK"}, (status, payload)  # nothing unsigned is ever accepted
    if status.startswith("401"):
        assert payload["error"].startswith("signature: ")
    assert app.queued == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(st.binary(max_size=512), st.builds(lambda v: json.dumps(v).encode(), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20))), msg_id=st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True))
def test_fuzzed_signed_bodies_are_accepted_and_never_break_the_intake(body: bytes, msg_id: str) -> None:
    app = App()
    status, _, payload = app.call("/webhooks/okendo/acme", body, _signed(app, body, msg_id))
    assert status == "202 Accepted"
    stored = app.guard.load("okendo", "acme", payload["id"])
    assert stored is not None
    intake = WebhookIntake(merchant="acme", provider="okendo", hand_over=lambda records: None,
                           snapshots=MemorySnapshotStore(), sequences=MemorySequenceStore(),
                           quarantine_journal=MemoryJournal(app.clock), counters=MemoryCounters(), clock=app.clock)
    assert intake.process(stored.body, event=stored.event) in ("quarantined", "handed_over", "stale")
