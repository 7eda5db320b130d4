"""Signed webhook deliveries from the provider simulators: POST, record, replay, age, forge.

Standard library only (``urllib``, no proxies). Signing is ``pipeline.webhooks.signatures``'
``svix_sign`` (Okendo), ``omneo_sign`` (Omneo) or ``hmac_sign`` (Rediem); this module only drives it.
``OkendoWebhookSender``, ``OmneoWebhookSender`` and ``RediemWebhookSender`` are also exported
by their provider modules.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import base64
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pipeline.webhooks.signatures import OMNEO_EVENT_HEADER, hmac_sign, omneo_message_id, omneo_sign, svix_sign

__all__ = [
    "OKENDO_API_VERSION", "OMNEO_RESOURCES", "OMNEO_TRIGGER_OF", "OkendoDelivery", "OkendoWebhookSender", "OmneoWebhookSender",
    "RediemWebhookSender", "SentWebhook", "WebhookSender",
]

OKENDO_API_VERSION = "2025-02-01"
OMNEO_RESOURCES = ("points", "rewards", "redemptions", "transactions", "tiers", "balances", "profiles")
#: resource → the trigger the simulator pushes it under (docs' names: README §5.2)
OMNEO_TRIGGER_OF = {"points": "points.awarded", "rewards": "reward.issued", "redemptions": "reward.redeemed",
                    "transactions": "transaction.created", "tiers": "tier.achieved", "balances": "balance.updated",
                    "profiles": "profile.updated"}
OkendoDelivery = tuple[str, str, dict[str, Any]]  # (resource_type, topic, resource)

SignFn = Callable[[str, str, int, bytes], dict[str, str]]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class SentWebhook:
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
        self.deliveries: list[SentWebhook] = []
        self._sign = sign
        self._forged_secret = forged_secret
        self._now_s = now_s
        self._timeout = timeout

    @property
    def last(self) -> SentWebhook:
        """The most recent delivery (IndexError if none)."""
        return self.deliveries[-1]

    def post(self, obj: Any, *, age_s: float = 0, forged: bool = False, msg_id: str | None = None,
             body: bytes | None = None, extra_headers: dict[str, str] | None = None) -> int:
        """Serialize ``obj`` (or send ``body`` as is), sign, POST; returns the HTTP status.

        ``age_s`` back-dates the signed timestamp; ``forged`` signs with a wrong secret; a new
        unique ``msg_id`` is made unless one is given.
        """
        raw = body if body is not None else json.dumps(obj, separators=(",", ":")).encode()
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        stamp = int(self._now_s() - age_s)
        headers = self._sign(self._forged_secret if forged else self.secret, msg_id, stamp, raw)
        headers = {**headers, **(extra_headers or {}), "Content-Type": "application/json",
                   "User-Agent": "loyalty-sim-webhooks/1"}
        request = urllib.request.Request(self.url, data=raw, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self._timeout) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            exc.read()
            status = exc.code
        self.deliveries.append(SentWebhook(msg_id, stamp, headers, raw, status, forged))
        return status

    def replay_last(self) -> int:
        """Send the last delivery again: same message id, same body, freshly signed for now.

        This is what a provider retry (or a replay within the tolerance) looks like; only the
        receiver's memory of message ids can tell it apart from the original.
        """
        last = self.last
        kept = {k: v for k, v in last.headers.items() if k.lower() == "x-omneo-event"}
        return self.post(None, msg_id=last.msg_id, body=last.body, forged=last.forged, extra_headers=kept)


class OkendoWebhookSender(WebhookSender):
    """Okendo deliveries: the ``{resource, resourceType, sequenceNumber, topic, version}`` envelope, Svix-signed.

    ``sequence`` holds the last sequenceNumber used per resource type (numbers start at 1).
    """

    def __init__(self, url: str, secret: str, *, version: str = OKENDO_API_VERSION, header_prefix: str = "svix",
                 **kwargs: Any) -> None:
        """``header_prefix="webhook"`` sends the Standard Webhooks names (``webhook-id`` ...)."""
        forged = "whsec_" + base64.b64encode(b"not-the-real-okendo-secret-00000").decode()

        def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
            return svix_sign(secret, msg_id, timestamp, body, prefix=header_prefix)

        super().__init__(url, secret, sign, forged_secret=forged, **kwargs)
        self.version = version
        self.sequence: dict[str, int] = {}

    def envelope(self, resource_type: str, topic: str, resource: dict[str, Any]) -> dict[str, Any]:
        """Wrap ``resource``, taking the next sequenceNumber of its type."""
        self.sequence[resource_type] = seq = self.sequence.get(resource_type, 0) + 1
        return {"resource": resource, "resourceType": resource_type, "sequenceNumber": str(seq), "topic": topic,
                "version": self.version}  # a string of digits, as Okendo documents it (webhooks.md §4)

    def deliver(self, resource_type: str, topic: str, resource: dict[str, Any]) -> int:
        """POST one delivery (new svix-id, current timestamp); returns the HTTP status."""
        return self.post(self.envelope(resource_type, topic, resource))

    def deliver_all(self, items: Iterable[OkendoDelivery]) -> list[int]:
        """``deliver`` each ``(resource_type, topic, resource)`` in order."""
        return [self.deliver(*item) for item in items]

    def deliver_out_of_order(self, items: Iterable[OkendoDelivery]) -> list[int]:
        """Number the items in list order, POST them in reverse; statuses in POST order."""
        envelopes = [self.envelope(*item) for item in items]
        return [self.post(env) for env in reversed(envelopes)]

    def deliver_stale(self, resource_type: str, topic: str, resource: dict[str, Any], age_s: float) -> int:
        """POST one delivery whose svix-timestamp is ``age_s`` seconds old."""
        return self.post(self.envelope(resource_type, topic, resource), age_s=age_s)

    def deliver_forged(self, resource_type: str, topic: str, resource: dict[str, Any]) -> int:
        """POST one delivery signed with the wrong secret."""
        return self.post(self.envelope(resource_type, topic, resource), forged=True)


class OmneoWebhookSender(WebhookSender):
    """Omneo pushes: the body is the trigger's event context (the object itself, here with its
    ``profile`` embedded), the trigger goes in the ``x-omneo-event`` header
    (shared/specs/omneo/README.md §5.3-5.4). Signed as Omneo signs them (§5.4): ``X-Omneo-Hmac-SHA256``,
    the lowercase hex HMAC-SHA256 of the raw body; no id and no timestamp header, so ``age_s`` changes
    nothing. ``msg_id`` of a sent delivery is the id the receiver derives (``verify``)."""

    def __init__(self, url: str, secret: str, **kwargs: Any) -> None:
        super().__init__(url, secret, self._sign, forged_secret=secret + "-forged", **kwargs)
        self._event = ""

    def _sign(self, secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        return omneo_sign(secret, self._event, body)

    def post(self, obj: Any, *, age_s: float = 0, forged: bool = False, msg_id: str | None = None,
             body: bytes | None = None, extra_headers: dict[str, str] | None = None) -> int:
        raw = body if body is not None else json.dumps(obj, separators=(",", ":")).encode()
        self._event = next((v for k, v in (extra_headers or {}).items() if k.lower() == OMNEO_EVENT_HEADER), "")
        derived = omneo_message_id(raw)
        return super().post(None, age_s=age_s, forged=forged, msg_id=msg_id or derived, body=raw,
                            extra_headers=extra_headers)

    @staticmethod
    def headers(trigger: str) -> dict[str, str]:
        """The event-name header; ValueError for a trigger no resource is pushed under."""
        if trigger not in OMNEO_TRIGGER_OF.values():
            raise ValueError(f"trigger must be one of {sorted(OMNEO_TRIGGER_OF.values())}")
        return {"x-omneo-event": trigger}

    def send(self, trigger: str, data: dict[str, Any]) -> int:
        """POST one event (new message id, current timestamp); returns the HTTP status."""
        return self.post(data, extra_headers=self.headers(trigger))

    def send_forged(self, trigger: str, data: dict[str, Any]) -> int:
        """POST one event signed with the wrong secret."""
        return self.post(data, forged=True, extra_headers=self.headers(trigger))


class RediemWebhookSender(WebhookSender):
    """Rediem pushes one activity per delivery, signed with ``hmac_sign``."""

    def __init__(self, url: str, secret: str, **kwargs: Any) -> None:
        super().__init__(url, secret, hmac_sign, forged_secret=secret + "-forged", **kwargs)

    def send(self, activity: dict[str, Any]) -> int:
        """POST one activity (new message id, current timestamp); returns the HTTP status."""
        return self.post(activity)

    def send_stale(self, activity: dict[str, Any], age_s: float) -> int:
        """POST one activity whose signed timestamp is ``age_s`` seconds old."""
        return self.post(activity, age_s=age_s)

    def send_forged(self, activity: dict[str, Any]) -> int:
        """POST one activity signed with the wrong secret."""
        return self.post(activity, forged=True)
