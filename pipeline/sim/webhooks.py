"""Signed webhook deliveries from the provider simulators: POST, record, replay, age, forge.

Standard library only (``urllib``, no proxies). Signing is ``pipeline.webhooks.signatures``'
``svix_sign`` (Okendo) or ``hmac_sign`` (Omneo, Rediem); this module only drives it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Delivery", "WebhookSender"]

SignFn = Callable[[str, str, int, bytes], dict[str, str]]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Delivery:
    """One POST as sent: message id, signed timestamp, headers, raw body, answered status."""

    msg_id: str
    timestamp: int
    headers: dict[str, str]
    body: bytes
    status: int
    forged: bool = False

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


class WebhookSender:
    """POSTs JSON bodies to ``url`` signed by ``sign(secret, msg_id, timestamp, body)``.

    ``deliveries`` keeps every attempt in order. ``now_s`` is the Unix clock used for the
    signed timestamp; ``forged_secret`` signs ``forged=True`` posts (a wrong key).
    """

    def __init__(
        self, url: str, secret: str, sign: SignFn, *, forged_secret: str, now_s: Callable[[], float] = time.time,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self._sign = sign
        self._forged_secret = forged_secret
        self._now_s = now_s
        self._timeout = timeout

    @property
    def last(self) -> Delivery:
        """The most recent delivery (IndexError if none)."""
        return self.deliveries[-1]

    def post(self, obj: Any, *, age_s: float = 0, forged: bool = False, msg_id: str | None = None,
             body: bytes | None = None) -> int:
        """Serialize ``obj`` (or send ``body`` as is), sign, POST; returns the HTTP status.

        ``age_s`` back-dates the signed timestamp; ``forged`` signs with a wrong secret; a new
        unique ``msg_id`` is made unless one is given.
        """
        raw = body if body is not None else json.dumps(obj, separators=(",", ":")).encode()
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        stamp = int(self._now_s() - age_s)
        headers = self._sign(self._forged_secret if forged else self.secret, msg_id, stamp, raw)
        headers = {**headers, "Content-Type": "application/json", "User-Agent": "loyalty-sim-webhooks/1"}
        request = urllib.request.Request(self.url, data=raw, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self._timeout) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            exc.read()
            status = exc.code
        self.deliveries.append(Delivery(msg_id, stamp, headers, raw, status, forged))
        return status

    def replay_last(self) -> int:
        """Send the last delivery again: same message id, same body, freshly signed for now.

        This is what a provider retry (or a replay within the tolerance) looks like; only the
        receiver's memory of message ids can tell it apart from the original.
        """
        last = self.last
        return self.post(None, msg_id=last.msg_id, body=last.body, forged=last.forged)
