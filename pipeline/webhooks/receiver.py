"""The webhook endpoint (WSGI): ``POST /webhooks/<provider>/<merchant>``.

It answers fast (Okendo allows 15 s) because it only verifies and enqueues. Every outcome has
one fixed answer, whatever the headers and body hold:

=========================================  =====================================================
connection unknown or takes no webhooks    404
not POST                                   405
body over ``max_body_bytes`` (declared     413, before reading it; a chunked body is read up to
or chunked)                                the limit and no further
body unreadable (client gone, bad chunks)  400
signature missing, malformed, stale, wrong 401, ``{"error": "signature: <header>: <reason>"}``
already queued (same message id)           200 ``{"status": "duplicate"}``
Redis or the queue fails, or an earlier    503 with ``Retry-After``: the sender retries later
attempt of this id is still pending
queued                                     202; what the task cannot parse is quarantined
=========================================  =====================================================

Replay protection is two-phase (``pipeline.webhooks.replay``): the body is stored with a
short-lived pending marker, the task is enqueued with the message id only (no personal data in
the broker), then the marker is confirmed. ``GET /healthz`` answers 200. Operational routes
(``/metrics``, ``/readyz``) are not here: ``ops_app`` serves them on a listener of their own.
Errors never echo secrets or the body.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from pipeline.clock import Clock
from pipeline.config import Secret
from pipeline.webhooks.replay import PENDING_TTL_S, Begin, ReplayGuard
from pipeline.webhooks.signatures import DEFAULT_TOLERANCE_S, SecretError, SignatureError, event_name, verify

__all__ = ["Endpoint", "by_listener", "make_app", "ops_app"]

log = logging.getLogger(__name__)
_ROUTE = re.compile(r"/webhooks/(?P<provider>[a-z]{1,32})/(?P<merchant>[a-z0-9][a-z0-9_-]{0,62})/?")
#: Seconds a sender is asked to wait after a 503 (Svix retries on its own schedule anyway).
RETRY_AFTER_S = PENDING_TTL_S
_CHUNK = 64 * 1024
#: Failures of a dependency (Redis, the broker): answered 503, never 500.
DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (RedisError, ConnectionError, TimeoutError, OSError)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Endpoint:
    provider: str
    merchant: str
    scheme: str
    secret: Secret


Resolve = Callable[[str, str], Endpoint | None]
Accept = Callable[[str, str, str], None]  # (provider, merchant, message id) → enqueue, raise on failure
Observe = Callable[[str, str], None]  # (provider, outcome) → count it (lp_webhook_intake_total)
StartResponse = Callable[..., Any]


class _TooLarge(Exception):
    pass


class _Unreadable(Exception):
    pass


def _reply(
    start_response: StartResponse,
    status: str,
    payload: Mapping[str, Any],
    extra_headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra_headers])
    return [body]


def _unavailable(start_response: StartResponse, reason: str) -> list[bytes]:
    return _reply(start_response, "503 Service Unavailable", {"error": reason}, [("Retry-After", str(RETRY_AFTER_S))])


def read_body(environ: Mapping[str, Any], max_bytes: int) -> bytes:
    """The request body, at most ``max_bytes`` (``_TooLarge`` beyond; never reads more than one chunk past).

    A declared ``Content-Length`` over the limit is refused before reading. Without one, a
    chunked body (the server decodes it: gunicorn does) is read until its end or the limit.
    """
    raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    if raw_length and not chunked:
        if not raw_length.isascii() or not raw_length.isdigit() or len(raw_length) > 12:
            raise _Unreadable("Content-Length is not a number")
        length = int(raw_length)
        if length > max_bytes:
            raise _TooLarge
        limit = length
    elif chunked or environ.get("wsgi.input_terminated"):
        limit = None
    else:
        return b""
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    got = 0
    try:
        while limit is None or got < limit:
            want = _CHUNK if limit is None else min(_CHUNK, limit - got)
            part = stream.read(want)
            if not part:
                break
            parts.append(part)
            got += len(part)
            if got > max_bytes:
                raise _TooLarge
    except _TooLarge:
        raise
    except Exception as exc:  # noqa: BLE001 - an untrusted peer: reset, bad chunk sizes, timeouts
        raise _Unreadable(f"body could not be read ({type(exc).__name__})") from None
    if limit is not None and got < limit:
        raise _Unreadable("body is shorter than its Content-Length")
    return b"".join(parts)


def make_app(
    *,
    resolve: Resolve,
    accept: Accept,
    replays: ReplayGuard,
    clock: Clock,
    max_body_bytes: int = 1 << 20,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    observe: Observe | None = None,
    read_deadline: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> WSGIApp:
    """Build the public WSGI application; every dependency is injected.

    ``read_deadline`` bounds the time a client may take to send its body: the context manager
    raises (any ``Exception``) when it expires, and the answer is 400. The web process passes a
    ``gevent.Timeout``; the default sets none.
    """
    count = observe or (lambda provider, outcome: None)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _reply(start_response, "200 OK", {"status": "ok"})
        match = _ROUTE.fullmatch(path)
        if match is None:
            return _reply(start_response, "404 Not Found", {"error": "no such endpoint"})
        if method != "POST":
            return _reply(start_response, "405 Method Not Allowed", {"error": "use POST"}, [("Allow", "POST")])
        provider, merchant = match["provider"], match["merchant"]
        endpoint = resolve(provider, merchant)
        if endpoint is None:
            count(provider if provider in ("okendo", "omneo", "rediem") else "other", "not_found")
            return _reply(start_response, "404 Not Found", {"error": f"no {provider} webhooks for {merchant}"})
        context = {"merchant": merchant, "provider": provider}
        try:
            with read_deadline():
                body = read_body(environ, max_body_bytes)
        except _TooLarge:
            count(provider, "too_large")
            return _reply(start_response, "413 Payload Too Large", {"error": f"body over {max_body_bytes} bytes"})
        except _Unreadable as exc:
            count(provider, "unreadable")
            return _reply(start_response, "400 Bad Request", {"error": str(exc)})
        headers = {
            k[5:].replace("_", "-").lower(): v
            for k, v in environ.items()
            if k.startswith("HTTP_") and isinstance(v, str)
        }
        try:
            message_id = verify(
                endpoint.scheme,
                endpoint.secret.reveal(),
                headers,
                body,
                now_s=clock.now().timestamp(),
                tolerance_s=tolerance_s,
            )
            event = event_name(headers) if endpoint.scheme == "omneo" else None
        except SignatureError as exc:
            count(provider, "unauthorized")
            log.warning("webhook rejected: %s", exc, extra=context)
            return _reply(start_response, "401 Unauthorized", {"error": f"signature: {exc}"})
        except SecretError as exc:
            count(provider, "unavailable")
            log.error("webhook secret unusable: %s", exc, extra=context)
            return _unavailable(start_response, "this endpoint is misconfigured; try again later")
        attempt = uuid.uuid4().hex  # this request's claim: abandoning it never removes a later attempt's
        try:
            state = replays.begin(provider, merchant, message_id, body, event, attempt=attempt)
        except DEPENDENCY_ERRORS as exc:
            count(provider, "unavailable")
            log.warning("webhook not taken: Redis unavailable (%s)", type(exc).__name__, extra=context)
            return _unavailable(start_response, "try again later")
        if state is Begin.DONE:
            count(provider, "duplicate")
            return _reply(start_response, "200 OK", {"status": "duplicate", "id": message_id})
        if state is Begin.PENDING:
            count(provider, "pending")
            return _unavailable(start_response, "an earlier attempt of this delivery is in progress; try again later")
        try:
            accept(provider, merchant, message_id)
        except Exception as exc:  # noqa: BLE001 - the queue is down: let the sender retry later
            count(provider, "unavailable")
            log.warning("webhook could not be enqueued (%s)", type(exc).__name__, extra=context)
            # the pending marker expires in PENDING_TTL_S; retries get 503 until then
            with suppress(*DEPENDENCY_ERRORS):
                replays.abandon(provider, merchant, message_id, attempt=attempt)
            return _unavailable(start_response, "try again later")
        try:
            replays.confirm(provider, merchant, message_id)
        except DEPENDENCY_ERRORS as exc:  # queued all the same; the task confirms when it starts
            log.warning("webhook queued but not confirmed (%s)", type(exc).__name__, extra=context)
        count(provider, "accepted")
        return _reply(start_response, "202 Accepted", {"status": "accepted", "id": message_id})

    return app


def ops_app(routes: Mapping[str, WSGIApp]) -> WSGIApp:
    """The operational listener: ``GET`` of each route (``/metrics``, ``/readyz``) and ``/healthz``."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _reply(start_response, "405 Method Not Allowed", {"error": "use GET"}, [("Allow", "GET")])
        if path == "/healthz":
            return _reply(start_response, "200 OK", {"status": "ok"})
        if path in routes:
            return routes[path](environ, start_response)
        return _reply(start_response, "404 Not Found", {"error": "no such endpoint"})

    return app


def by_listener(public: WSGIApp, ops: WSGIApp, ops_port: int | None) -> WSGIApp:
    """One WSGI callable for a server bound to two addresses: requests that arrived on the
    listener whose port is ``ops_port`` go to ``ops``, every other to ``public``.

    gunicorn sets ``SERVER_PORT`` from the listening socket (not from the ``Host`` header), so
    a client of the public port cannot reach ``ops`` by naming the other port.
    """
    if ops_port is None:
        return public
    wanted = str(ops_port)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return (ops if str(environ.get("SERVER_PORT", "")) == wanted else public)(environ, start_response)

    return app
