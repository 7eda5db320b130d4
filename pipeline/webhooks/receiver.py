"""The webhook endpoint (WSGI): ``POST /webhooks/<provider>/<merchant>``.

It answers fast (Okendo allows 15 s) because it only verifies and enqueues:

1. the connection exists and takes this provider's webhooks, else 404;
2. the body is at most ``max_body_bytes``, else 413;
3. the signature is valid and recent (``pipeline.webhooks.signatures``), else 401;
4. the message id was not accepted before (replay protection), else 200 ``duplicate``:
   a sender retrying a delivery we already took must not retry again;
5. the body is handed to ``accept`` (a queue), then 202. If that fails, the id is released
   and the answer is 503, so the sender retries.

``GET /healthz`` answers 200. Errors never echo secrets or the body.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline import keys
from pipeline.providers.registry import WEBHOOK_EVENT_HEADERS
from pipeline.clock import Clock
from pipeline.config import Secret
from pipeline.state.ledger import Ledger
from pipeline.webhooks.signatures import DEFAULT_TOLERANCE_S, SignatureError, verify

__all__ = ["Endpoint", "make_app"]

log = logging.getLogger(__name__)
_ROUTE = re.compile(r"^/webhooks/(?P<provider>[a-z]+)/(?P<merchant>[a-z0-9][a-z0-9_-]{0,62})/?$")
#: Accepted ids are remembered this long: far beyond the timestamp tolerance.
REPLAY_TTL_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Endpoint:
    provider: str
    merchant: str
    scheme: str
    secret: Secret


Resolve = Callable[[str, str], Endpoint | None]
Accept = Callable[[str, str, str, "str | None"], None]  # (provider, merchant, body, event) → enqueue, raise on failure
StartResponse = Callable[..., Any]


def _reply(start_response: StartResponse, status: str, payload: Mapping[str, Any]) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def make_app(*, resolve: Resolve, accept: Accept, replays: Ledger, clock: Clock,
             max_body_bytes: int = 1 << 20, tolerance_s: int = DEFAULT_TOLERANCE_S,
             extra_routes: Mapping[str, Callable[[dict[str, Any], StartResponse], Iterable[bytes]]] | None = None,
             ) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Build the WSGI application; every dependency is injected."""
    routes = dict(extra_routes or {})

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method == "GET":
            return _reply(start_response, "200 OK", {"status": "ok"})
        if path in routes and method == "GET":
            return routes[path](environ, start_response)
        match = _ROUTE.match(path)
        if match is None:
            return _reply(start_response, "404 Not Found", {"error": "no such endpoint"})
        if method != "POST":
            return _reply(start_response, "405 Method Not Allowed", {"error": "use POST"})
        provider, merchant = match["provider"], match["merchant"]
        endpoint = resolve(provider, merchant)
        if endpoint is None:
            return _reply(start_response, "404 Not Found", {"error": f"no {provider} webhooks for {merchant}"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > max_body_bytes:
            return _reply(start_response, "413 Payload Too Large", {"error": f"body over {max_body_bytes} bytes"})
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        try:
            message_id = verify(endpoint.scheme, endpoint.secret.reveal(), headers, body,
                                now_s=clock.now().timestamp(), tolerance_s=tolerance_s)
        except SignatureError as exc:
            log.warning("webhook rejected: %s", exc, extra={"merchant": merchant, "provider": provider})
            return _reply(start_response, "401 Unauthorized", {"error": f"signature: {exc}"})
        seen_key = keys.webhook_seen(provider, merchant, message_id)
        if not replays.claim(seen_key, ttl_s=REPLAY_TTL_S):
            return _reply(start_response, "200 OK", {"status": "duplicate", "id": message_id})
        try:
            event_header = WEBHOOK_EVENT_HEADERS.get(provider)
            accept(provider, merchant, body.decode("utf-8", errors="replace"),
                   headers.get(event_header) if event_header else None)
        except Exception:  # noqa: BLE001 - the queue is down: let the sender retry later
            replays.release(seen_key)
            log.exception("webhook could not be enqueued", extra={"merchant": merchant, "provider": provider})
            return _reply(start_response, "503 Service Unavailable", {"error": "try again later"})
        return _reply(start_response, "202 Accepted", {"status": "accepted", "id": message_id})

    return app
