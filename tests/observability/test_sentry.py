"""The real sentry-sdk client, sending to a Sentry stand-in on loopback: what leaves the process
carries no credential and no personal data, and the event still arrives."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk

from pipeline.observability.sentry import init_sentry, scrub_event

EMAIL = "jane.doe@example.com"
PHONE = "+14155550123"
API_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
KLAVIYO_KEY = "pk_0f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f7e"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BASIC = "dXNlcjEyMzpzZWNyZXRhcGlrZXk="
SECRETS = (EMAIL, PHONE, "4155550123", API_KEY, "4eC39HqLyjWDarjtT1zdp7dc", KLAVIYO_KEY, WEBHOOK_SECRET, BASIC,
           "email=jane", "hunter2")


class _Sentry(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # only if the SDK found it installed

            body = brotli.decompress(body)
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        payload = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sentry_server() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sentry)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://public@127.0.0.1:{server.server_port}/1", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def _items(envelope: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """Split a Sentry envelope: a header line, then (item header, payload) pairs."""
    rest = envelope.split(b"\n", 1)[1] if b"\n" in envelope else b""
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[:header["length"]], rest[header["length"]:]
            rest = rest[1:] if rest.startswith(b"\n") else rest
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


def _fail_delivery(customer: dict[str, str], authorization: str) -> None:
    email = customer["email"]
    phone_number = customer["phone"]
    contact = f"{email} / {phone_number}"
    raise RuntimeError(f"delivery failed for {contact} with {authorization}")


def test_captured_exception_arrives_without_secrets_or_personal_data(
        sentry_server: tuple[str, list[tuple[str, bytes]]]) -> None:
    dsn, received = sentry_server
    assert init_sentry(dsn, environment="test", default_integrations=False)
    try:
        with sentry_sdk.new_scope() as scope:
            scope.set_extra("customer", {"email": EMAIL, "note": f"call {PHONE}"})
            scope.set_extra("request_line", f"GET https://a.klaviyo.com/api/profiles?filter=email={EMAIL}")
            scope.set_context("delivery", {"auth": f"Klaviyo-API-Key {KLAVIYO_KEY}", "secret": WEBHOOK_SECRET,
                                           "summary": f"to {EMAIL}, Basic {BASIC}"})
            scope.set_tag("merchant", "acme")
            scope.add_breadcrumb(category="httpx", message=f"POST /api/v2/events for {PHONE}",
                                 data={"url": "https://api.postscript.io/x?email=jane", "authorization": API_KEY})
            scope.add_event_processor(lambda event, hint: {**event, "request": {
                "url": f"https://example.test/webhooks/okendo/acme?token={API_KEY}", "method": "POST",
                "query_string": "password=hunter2",
                "headers": {"Authorization": f"Bearer {API_KEY}", "svix-signature": "v1,abc"},
                "data": {"email": EMAIL}}})
            try:
                _fail_delivery({"email": EMAIL, "phone": PHONE}, f"Bearer {API_KEY}")
            except RuntimeError:
                event_id = sentry_sdk.capture_exception()
        assert event_id
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)

    assert received, "the Sentry stand-in received nothing"
    assert all(path == "/api/1/envelope/" for path, _ in received)
    events = [json.loads(payload) for _, body in received for header, payload in _items(body)
              if header.get("type") == "event"]
    assert len(events) == 1
    event = events[0]
    exception = event["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError"
    assert exception["value"].startswith("delivery failed for j***@example.com / ***23 with Bearer [Filtered]")
    frame = next(f for f in exception["stacktrace"]["frames"] if f["function"] == "_fail_delivery")
    assert {"customer", "authorization", "email", "phone_number", "contact"} <= set(frame["vars"])
    assert event["extra"]["customer"]["note"] == "call ***23"
    everything = b"\n".join(body for _, body in received).decode()
    leaked = [s for s in SECRETS if s in everything]
    assert leaked == []


def test_scrub_event_keeps_structure_and_drops_secrets() -> None:
    event = {
        "event_id": "0123456789abcdef0123456789abcdef", "timestamp": "2024-05-01T12:00:00.123456Z",
        "release": "loyalty-pipeline@0.1.0", "level": "error",
        "logentry": {"message": "failed for %s", "params": [EMAIL], "formatted": f"failed for {EMAIL}"},
        "request": {"url": "https://x.test/a?b=c", "query_string": "b=c", "cookies": {"s": "1"},
                    "headers": {"X-Api-Key": "abc", "User-Agent": "ua"}, "data": "raw body"},
        "user": {"id": "42", "email": EMAIL, "ip_address": "10.0.0.1"},
        "breadcrumbs": {"values": [{"timestamp": "2024-05-01T12:00:00Z", "message": f"sms to {PHONE}",
                                    "data": {"http.query": "phone=1", "timestamp": f"{EMAIL}"}}]},
        "contexts": {"trace": {"trace_id": "a" * 32, "span_id": "b" * 16}},
    }
    out = scrub_event(event)
    assert out["event_id"] == event["event_id"] and out["timestamp"] == event["timestamp"]
    assert out["release"] == "loyalty-pipeline@0.1.0" and out["contexts"] == event["contexts"]
    assert out["logentry"]["params"] == ["j***@example.com"]
    assert out["request"] == {"url": "https://x.test/a", "query_string": "[Filtered]",
                              "headers": {"X-Api-Key": "[Filtered]", "User-Agent": "ua"}, "data": "[Filtered]"}
    assert out["user"] == {"id": "42"}
    crumb = out["breadcrumbs"]["values"][0]
    assert crumb["timestamp"] == "2024-05-01T12:00:00Z" and crumb["message"] == "sms to ***23"
    assert crumb["data"] == {"http.query": "[Filtered]", "timestamp": "j***@example.com"}  # program data: scrubbed
