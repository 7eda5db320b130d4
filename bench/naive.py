"""The naive baseline: what a first version of this pipeline would look like.

``celery -A bench.naive worker`` (broker from ``NAIVE_BROKER_URL``). One Celery task per event
and per customer, one HTTP POST per event (sync ``httpx``), Celery's own ``rate_limit`` (which
is per worker process and per task type), no batching, no shared limiter, no ledger. It reads
the same Smile simulator pages and posts the same payloads as the pipeline (the benchmark
checks that the event bodies are identical, ``external_id`` / ``unique_id`` aside):

* Postscript (``naive.sync``): ``POST /api/v2/events`` per event; per customer a subscriber
  lookup and, if found, ``PATCH`` of its two Smile properties;
* Klaviyo (``naive.sync_klaviyo``): ``POST /api/events`` per event with the JSON:API body of the
  pipeline's single-event path (pipeline/destinations/klaviyo/encoding.py ``encode_event``,
  written out here independently); per customer ``POST /api/profile-import`` of the two Smile
  properties (Klaviyo creates unknown profiles, as the pipeline's default policy does).

* Attentive (``naive.sync_attentive``): ``POST /v1/events/custom`` per event with the body of the
  pipeline's encoding (pipeline/destinations/attentive/encoding.py ``encode_event``, written out
  here independently: the display name as ``type``, RFC 3339 UTC milliseconds); per customer
  ``POST /v1/attributes/custom`` of the two Smile properties.

A 429 or 5xx is retried by Celery one second later (``self.retry(countdown=1)``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import httpx
from celery import Celery

app = Celery("naive", broker=os.environ.get("NAIVE_BROKER_URL", "redis://127.0.0.1:6379/2"))
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                task_default_queue="naive")

RATE_LIMIT = os.environ.get("NAIVE_RATE_LIMIT") or None  # e.g. "12.5/s", per worker process
_http = httpx.Client(timeout=10.0)


def _occurred_at(stamp: str) -> str:
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _pages(base: str, key: str, path: str, list_key: str, extra: dict[str, str] | None = None):
    cursor = None
    while True:
        params = {"limit": "250", **(extra or {}), **({"cursor": cursor} if cursor else {})}
        r = _http.get(f"{base}{path}", params=params, headers={"Authorization": f"Bearer {key}"})
        r.raise_for_status()
        body = r.json()
        yield body[list_key]
        cursor = body["metadata"]["next_cursor"]
        if not cursor:
            return


def _txn_event(t: dict[str, Any], email: str) -> dict[str, Any] | None:
    if t.get("internal_note"):
        kind, props = "Smile_Points_Adjusted", {"Points Change": t["points_change"]}
    elif t["points_change"] > 0:
        kind, props = "Smile_Points_Earned", {"Points": abs(t["points_change"])}
    elif t["points_change"] < 0:
        kind, props = "Smile_Points_Redeemed", {"Points": abs(t["points_change"])}
    else:
        return None
    props |= {"Description": t["description"], "Transaction ID": t["id"]}
    return {"type": kind, "email": email, "occurred_at": _occurred_at(t["created_at"]),
            "properties": {k: v for k, v in props.items() if v is not None}, "external_id": f"naive-txn-{t['id']}"}


def _reward_event(f: dict[str, Any], email: str) -> dict[str, Any] | None:
    if f.get("fulfillment_status") != "issued":
        return None
    props = {"Reward Name": f["name"], "Reward Code": f["code"], "Expires At": f.get("expires_at"),
             "Fulfillment ID": f["id"]}
    return {"type": "Smile_Reward_Fulfilled", "email": email, "occurred_at": _occurred_at(f["created_at"]),
            "properties": {k: v for k, v in props.items() if v is not None}, "external_id": f"naive-rwd-{f['id']}"}


def _read_smile(smile_url: str, smile_key: str, on_customer: Any, on_event: Any) -> int:
    """Read every page: ``on_customer(customer)`` per customer, ``on_event(postscript body, record)`` per event."""
    emails: dict[int, str] = {}
    n = 0
    for page in _pages(smile_url, smile_key, "/customers", "customers", {"include": "vip_status"}):
        for c in page:
            emails[c["id"]] = c["email"]
            on_customer(c)
            n += 1
    for path, key, make in (("/points_transactions", "points_transactions", _txn_event),
                            ("/reward_fulfillments", "reward_fulfillments", _reward_event)):
        for page in _pages(smile_url, smile_key, path, key):
            for rec in page:
                body = make(rec, emails.get(rec["customer_id"]) or "")
                if body is not None and body["email"]:
                    on_event(body, rec)
                    n += 1
    return n


def _smile_properties(c: dict[str, Any]) -> dict[str, Any]:
    return {"Enrolled in Smile": c["state"] == "member", "Smile Points Balance": c["points_balance"]}


@app.task(name="naive.sync")
def sync(smile_url: str, smile_key: str, ps_url: str, ps_key: str) -> int:
    """Read every page; one task per customer (profile) and per event, to Postscript."""
    return _read_smile(smile_url, smile_key,
                       lambda c: profile.delay(ps_url, ps_key, c["email"], _smile_properties(c)),
                       lambda body, _rec: event.delay(ps_url, ps_key, body))


#: Postscript type -> Klaviyo metric name (the catalog's display name, kept as it is).
_METRICS = {"Smile_Points_Earned": "Smile Points Earned", "Smile_Points_Redeemed": "Smile Points Redeemed",
            "Smile_Points_Adjusted": "Smile Points Adjusted", "Smile_Reward_Fulfilled": "Smile Reward Fulfilled"}
KLAVIYO_REVISION = "2026-07-15"
KLAVIYO_TYPE = "application/vnd.api+json"


def klaviyo_event_body(ps_body: dict[str, Any], stamp: str) -> dict[str, Any]:
    """``POST /api/events``: the same event as JSON:API (time ISO 8601 UTC, unique_id ours)."""
    return {"data": {"type": "event", "attributes": {
        "properties": ps_body["properties"],
        "time": datetime.fromisoformat(stamp).astimezone(UTC).isoformat(),
        "unique_id": ps_body["external_id"],
        "metric": {"data": {"type": "metric", "attributes": {"name": _METRICS[ps_body["type"]]}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": ps_body["email"]}}},
    }}}


@app.task(name="naive.sync_klaviyo")
def sync_klaviyo(smile_url: str, smile_key: str, kl_url: str, kl_key: str) -> int:
    """Read every page; one task per customer (profile import) and per event, to Klaviyo."""
    return _read_smile(smile_url, smile_key,
                       lambda c: klaviyo_profile.delay(kl_url, kl_key, c["email"], _smile_properties(c)),
                       lambda body, rec: klaviyo_event.delay(kl_url, kl_key, klaviyo_event_body(body, rec["created_at"])))


def attentive_event_body(ps_body: dict[str, Any], stamp: str) -> dict[str, Any]:
    """``POST /v1/events/custom``: the same event as Attentive takes it (externalEventId ours)."""
    at = datetime.fromisoformat(stamp).astimezone(UTC).isoformat(timespec="milliseconds")
    return {"type": _METRICS[ps_body["type"]], "properties": ps_body["properties"],
            "externalEventId": ps_body["external_id"], "occurredAt": at.replace("+00:00", "Z"),
            "user": {"email": ps_body["email"]}}


@app.task(name="naive.sync_attentive")
def sync_attentive(smile_url: str, smile_key: str, at_url: str, at_key: str) -> int:
    """Read every page; one task per customer (custom attributes) and per event, to Attentive."""
    return _read_smile(smile_url, smile_key,
                       lambda c: attentive_attributes.delay(at_url, at_key, c["email"], _smile_properties(c)),
                       lambda body, rec: attentive_event.delay(at_url, at_key,
                                                               attentive_event_body(body, rec["created_at"])))


def _attentive_post(task: Any, url: str, key: str, body: dict[str, Any]) -> int:
    r = _http.post(url, content=json.dumps(body).encode(),
                   headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    _retry_on(task, r)
    return r.status_code


@app.task(name="naive.attentive_event", bind=True, rate_limit=RATE_LIMIT)
def attentive_event(self: Any, at_url: str, at_key: str, body: dict[str, Any]) -> int:
    return _attentive_post(self, f"{at_url}/v1/events/custom", at_key, body)


@app.task(name="naive.attentive_attributes", bind=True, rate_limit=RATE_LIMIT)
def attentive_attributes(self: Any, at_url: str, at_key: str, email: str, properties: dict[str, Any]) -> int:
    return _attentive_post(self, f"{at_url}/v1/attributes/custom", at_key, {"properties": properties,
                                                                            "user": {"email": email}})


def _retry_on(task: Any, r: httpx.Response) -> None:
    if r.status_code == 429 or r.status_code >= 500:
        raise task.retry(countdown=1, max_retries=20)


@app.task(name="naive.event", bind=True, rate_limit=RATE_LIMIT)
def event(self: Any, ps_url: str, ps_key: str, body: dict[str, Any]) -> int:
    r = _http.post(f"{ps_url}/api/v2/events", json=body, headers={"Authorization": f"Bearer {ps_key}"})
    _retry_on(self, r)
    return r.status_code


def _klaviyo_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Klaviyo-API-Key {key}", "revision": KLAVIYO_REVISION, "Accept": KLAVIYO_TYPE,
            "Content-Type": KLAVIYO_TYPE}


@app.task(name="naive.klaviyo_event", bind=True, rate_limit=RATE_LIMIT)
def klaviyo_event(self: Any, kl_url: str, kl_key: str, body: dict[str, Any]) -> int:
    r = _http.post(f"{kl_url}/api/events", content=json.dumps(body).encode(), headers=_klaviyo_headers(kl_key))
    _retry_on(self, r)
    return r.status_code


@app.task(name="naive.klaviyo_profile", bind=True, rate_limit=RATE_LIMIT)
def klaviyo_profile(self: Any, kl_url: str, kl_key: str, email: str, properties: dict[str, Any]) -> int:
    body = {"data": {"type": "profile", "attributes": {"email": email, "properties": properties}}}
    r = _http.post(f"{kl_url}/api/profile-import", content=json.dumps(body).encode(), headers=_klaviyo_headers(kl_key))
    _retry_on(self, r)
    return r.status_code


@app.task(name="naive.profile", bind=True, rate_limit=RATE_LIMIT)
def profile(self: Any, ps_url: str, ps_key: str, email: str, properties: dict[str, Any]) -> int:
    auth = {"Authorization": f"Bearer {ps_key}"}
    r = _http.get(f"{ps_url}/api/v2/subscribers", params={"email__eq": email}, headers=auth)
    _retry_on(self, r)
    found = r.json().get("subscribers") or []
    if not found:
        return 0
    r = _http.patch(f"{ps_url}/api/v2/subscribers/{found[0]['id']}", json={"properties": properties}, headers=auth)
    _retry_on(self, r)
    return r.status_code
