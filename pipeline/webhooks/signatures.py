"""Webhook signature schemes: signing (for simulators and tests) and verification.

* **Svix / Standard Webhooks** (Okendo; /work/shared/specs/okendo/webhooks.md §2, Svix's
  "Verifying webhooks manually" and the Standard Webhooks spec): headers ``svix-id``,
  ``svix-timestamp`` (Unix seconds) and ``svix-signature``, or the same with the white-label
  prefix ``webhook-`` (``webhook-id`` ...). The signature header is a space-separated list of
  ``v1,<base64>`` entries (several during a secret rotation); any one matching is enough. The
  signature is HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``, keyed with the base64 part of
  the secret (with or without its ``whsec_`` prefix).
* **Omneo** (specs/omneo/README.md §5.4, from Omneo's own verifier code): ``X-Omneo-Hmac-SHA256``
  holds the lowercase hex HMAC-SHA256 of the raw body, keyed with the raw secret. There is no id
  and no timestamp header: the message id is a digest of the ``x-omneo-event`` header and the
  body (a retried push is byte-identical), so replay protection still works for
  ``REPLAY_TTL_S``; a capture replayed later than that cannot be told from a new push (the
  scheme has no timestamp; documented in docs/deploy.md).
* **HMAC** (Rediem; it publishes no scheme, so this is the one we document for it): headers
  ``x-webhook-id``, ``x-webhook-timestamp`` and ``x-webhook-signature: v1=<hex>``,
  HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` keyed with the raw secret.

Every header value is untrusted: anything malformed is a ``SignatureError`` naming the header,
never another exception. Svix and HMAC reject a timestamp more than ``tolerance_s`` away from
now; replays of a valid id are caught by the caller (``pipeline.webhooks.receiver``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "OMNEO_EVENT_HEADER",
    "SCHEMES",
    "Scheme",
    "SecretError",
    "SignatureError",
    "event_name",
    "hmac_sign",
    "omneo_message_id",
    "omneo_sign",
    "svix_sign",
    "verify",
]

DEFAULT_TOLERANCE_S = 300
#: Longest header value looked at (a Svix rotation list of a few entries is ~100 bytes per entry).
MAX_HEADER_CHARS = 4096
_MSG_ID = re.compile(r"[\x21-\x7e]{1,256}")  # printable ASCII, no spaces: it becomes part of a Redis key
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only (str.isdigit() admits "²")
_SVIX_SIG = re.compile(r"(?:^|[\s,])v1,([A-Za-z0-9+/]{16,128}={0,2})(?=$|[\s,])")
_HMAC_SIG = re.compile(r"(?:^|[\s,])v1=([0-9a-fA-F]{64})(?=$|[\s,])")
_HEX_SIG = re.compile(r"[0-9a-fA-F]{64}")


class SignatureError(Exception):
    """The delivery is not authentic (or too old); the message names the header, never the secret."""


class SecretError(Exception):
    """The configured secret is unusable (an operator's error, not the sender's): answer 503."""


@dataclass(frozen=True)
class Scheme:
    id_header: str
    timestamp_header: str
    signature_header: str


SCHEMES: Mapping[str, Scheme] = {
    "svix": Scheme("svix-id", "svix-timestamp", "svix-signature"),
    "hmac": Scheme("x-webhook-id", "x-webhook-timestamp", "x-webhook-signature"),
    "omneo": Scheme("", "", "x-omneo-hmac-sha256"),
}
#: Standard Webhooks' white-label prefix, accepted wherever ``svix-`` is.
WEBHOOK_PREFIX = Scheme("webhook-id", "webhook-timestamp", "webhook-signature")
OMNEO_EVENT_HEADER = "x-omneo-event"


def _svix_key(secret: str) -> bytes:
    raw = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SecretError("the configured Svix secret is not base64 (with or without whsec_)") from None


def _mac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def svix_sign(secret: str, msg_id: str, timestamp: int, body: bytes, *, prefix: str = "svix") -> dict[str, str]:
    """Headers of a Svix-signed delivery (``prefix="webhook"`` for the Standard Webhooks names)."""
    sig = base64.b64encode(_mac(_svix_key(secret), msg_id, str(timestamp), body)).decode()
    return {f"{prefix}-id": msg_id, f"{prefix}-timestamp": str(timestamp), f"{prefix}-signature": f"v1,{sig}"}


def hmac_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers of an HMAC-signed delivery (Rediem)."""
    sig = _mac(secret.encode(), msg_id, str(timestamp), body).hex()
    return {"x-webhook-id": msg_id, "x-webhook-timestamp": str(timestamp), "x-webhook-signature": f"v1={sig}"}


def omneo_sign(secret: str, event: str, body: bytes) -> dict[str, str]:
    """Headers of an Omneo push: ``X-Omneo-Hmac-SHA256`` (lowercase hex) and ``x-omneo-event``."""
    return {"X-Omneo-Hmac-SHA256": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), "x-omneo-event": event}


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "")
    if not isinstance(value, str):
        raise SignatureError(f"{name} is not text")
    if len(value) > MAX_HEADER_CHARS:
        raise SignatureError(f"{name} is longer than {MAX_HEADER_CHARS} characters")
    if not value.isascii():
        raise SignatureError(f"{name} holds non-ASCII characters")
    return value.strip()


def _check_time(name: str, stamp: str, now_s: float, tolerance_s: int) -> None:
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureError(f"{name} is not a Unix timestamp in seconds")
    if abs(now_s - int(stamp)) > tolerance_s:
        raise SignatureError(f"{name} is more than {tolerance_s}s away from now")


def _timed(spec: Scheme, headers: Mapping[str, str], now_s: float, tolerance_s: int) -> tuple[str, str, str]:
    names = (spec.id_header, spec.timestamp_header, spec.signature_header)
    msg_id, stamp, given = (_header(headers, h) for h in names)
    missing = [h for h, v in zip(names, (msg_id, stamp, given), strict=True) if not v]
    if missing:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    if not _MSG_ID.fullmatch(msg_id):
        raise SignatureError(f"{spec.id_header} must be 1 to 256 printable ASCII characters without spaces")
    _check_time(spec.timestamp_header, stamp, now_s, tolerance_s)
    return msg_id, stamp, given


def _svix_spec(headers: Mapping[str, str]) -> Scheme:
    """``svix-*`` headers, else the Standard Webhooks ``webhook-*`` ones (whichever carries a signature)."""
    if headers.get("svix-signature") or headers.get("svix-id") or not headers.get("webhook-signature"):
        return SCHEMES["svix"]
    return WEBHOOK_PREFIX


def event_name(headers: Mapping[str, str]) -> str | None:
    """The ``x-omneo-event`` header (``profile.updated``), if any. Raises SignatureError if malformed."""
    event = _header({k.lower(): v for k, v in headers.items()}, OMNEO_EVENT_HEADER)
    if event and not _MSG_ID.fullmatch(event):
        raise SignatureError(f"{OMNEO_EVENT_HEADER} must be printable ASCII without spaces")
    return event or None


def omneo_message_id(body: bytes) -> str:
    """An Omneo push's message id: a digest of the body alone. Omneo signs the body only, not
    ``x-omneo-event``, so a captured push resent under another trigger is the same delivery
    ("duplicate"), never a new event (the lenient schemas would decode a reward body as points
    or a profile: docs/deploy.md, signatures)."""
    return "sha256-" + hashlib.sha256(body).hexdigest()[:32]


def verify(
    scheme: str,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now_s: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> str:
    """Check a delivery; returns its message id (for Omneo, a digest of the body: the only signed part).

    Raises:
        SignatureError: a header is missing or malformed, the timestamp is outside the
            tolerance, or no signature matches. The message names the header.
        SecretError: the configured secret cannot be used.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    if scheme == "omneo":
        name = SCHEMES["omneo"].signature_header
        given = _header(headers, name)
        if not given:
            raise SignatureError(f"missing header(s): {name}")
        if not _HEX_SIG.fullmatch(given):
            raise SignatureError(f"{name} is not a hex HMAC-SHA256 (64 hex digits)")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given.lower()):
            raise SignatureError(f"{name} does not match the body")
        return omneo_message_id(body)
    if scheme == "svix":
        spec = _svix_spec(headers)
        msg_id, stamp, given = _timed(spec, headers, now_s, tolerance_s)
        candidates = _SVIX_SIG.findall(given)
        if not candidates:
            raise SignatureError(f"{spec.signature_header} holds no v1,<base64> entry")
        expected = base64.b64encode(_mac(_svix_key(secret), msg_id, stamp, body)).decode()
    elif scheme == "hmac":
        spec = SCHEMES["hmac"]
        msg_id, stamp, given = _timed(spec, headers, now_s, tolerance_s)
        candidates = _HMAC_SIG.findall(given)
        if not candidates:
            raise SignatureError(f"{spec.signature_header} holds no v1=<hex> entry")
        expected = _mac(secret.encode(), msg_id, stamp, body).hex()
        candidates = [c.lower() for c in candidates]
    else:
        raise ValueError(f"unknown signature scheme {scheme!r}")  # a wiring bug, not the sender's fault
    # every candidate is ASCII (the patterns above), so compare_digest cannot raise
    if not any(hmac.compare_digest(expected, c) for c in candidates[:16]):
        raise SignatureError(f"{spec.signature_header}: no signature matches")
    return msg_id
