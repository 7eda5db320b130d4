"""Webhook signature schemes: signing (for simulators and tests) and verification.

* **Svix / Standard Webhooks** (Okendo): headers ``svix-id``, ``svix-timestamp`` (Unix
  seconds) and ``svix-signature`` (space-separated ``v1,<base64>`` entries, several during a
  secret rotation). The signature is HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``, keyed
  with the base64 part of the ``whsec_`` secret.
* **HMAC** (Rediem and Omneo pushes; neither publishes a scheme, so this is the one we
  document for them): headers ``x-webhook-id``, ``x-webhook-timestamp`` and
  ``x-webhook-signature: v1=<hex>``, HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` keyed
  with the raw secret.

Both reject a timestamp more than ``tolerance_s`` away from now; replays of a valid id are
caught by the caller (``pipeline.webhooks.receiver``), which remembers ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["SCHEMES", "Scheme", "SignatureError", "hmac_sign", "svix_sign", "verify"]

DEFAULT_TOLERANCE_S = 300


class SignatureError(Exception):
    """The delivery is not authentic (or too old); the message says why, never the secret."""


@dataclass(frozen=True)
class Scheme:
    id_header: str
    timestamp_header: str
    signature_header: str


SCHEMES: Mapping[str, Scheme] = {
    "svix": Scheme("svix-id", "svix-timestamp", "svix-signature"),
    "hmac": Scheme("x-webhook-id", "x-webhook-timestamp", "x-webhook-signature"),
}


def _svix_key(secret: str) -> bytes:
    raw = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (ValueError, TypeError):
        raise SignatureError("the configured whsec_ secret is not base64") from None


def _mac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def svix_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers of a Svix-signed delivery."""
    sig = base64.b64encode(_mac(_svix_key(secret), msg_id, str(timestamp), body)).decode()
    return {"svix-id": msg_id, "svix-timestamp": str(timestamp), "svix-signature": f"v1,{sig}"}


def hmac_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers of an HMAC-signed delivery (Rediem, Omneo)."""
    sig = _mac(secret.encode(), msg_id, str(timestamp), body).hex()
    return {"x-webhook-id": msg_id, "x-webhook-timestamp": str(timestamp), "x-webhook-signature": f"v1={sig}"}


def verify(scheme: str, secret: str, headers: Mapping[str, str], body: bytes, *, now_s: float,
           tolerance_s: int = DEFAULT_TOLERANCE_S) -> str:
    """Check a delivery; returns its message id.

    Raises:
        SignatureError: a header is missing, the timestamp is outside the tolerance, or no
            signature matches.
    """
    spec = SCHEMES[scheme]
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, given = (lower.get(h, "") for h in (spec.id_header, spec.timestamp_header, spec.signature_header))
    if not msg_id or not stamp or not given:
        missing = [h for h, v in zip((spec.id_header, spec.timestamp_header, spec.signature_header),
                                     (msg_id, stamp, given)) if not v]
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    if not stamp.isdigit():
        raise SignatureError(f"{spec.timestamp_header} is not a Unix timestamp")
    if abs(now_s - int(stamp)) > tolerance_s:
        raise SignatureError(f"{spec.timestamp_header} is more than {tolerance_s}s away from now")
    if scheme == "svix":
        expected = base64.b64encode(_mac(_svix_key(secret), msg_id, stamp, body)).decode()
        candidates = [part.split(",", 1)[1] for part in given.split() if part.startswith("v1,")]
    else:
        expected = _mac(secret.encode(), msg_id, stamp, body).hex()
        candidates = [part.split("=", 1)[1] for part in given.split() if part.startswith("v1=")]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no signature matches")
    return msg_id
