"""What each provider resource is: its schema, where its id, timestamp and customer live.

``decode`` turns one raw provider object into a validated ``Record`` (or raises
``InvalidRecord`` naming the field); ``unwrap`` opens a webhook delivery body. Connectors,
the webhook endpoint and ``loyalty-pipeline transform`` all decode through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError

from pipeline.errors import InvalidRecord
from pipeline.providers.schemas import okendo, omneo, rediem, smile
from pipeline.providers.schemas.common import first_error
from pipeline.providers.schemas.fast import Loader, Slow, compile_loader
from pipeline.transform.rules import lookup
from pipeline.types import Customer, Record

__all__ = ["RESOURCES", "Resource", "decode", "resource", "snapshot_of", "unwrap"]


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One kind of provider record.

    Args:
        id_paths: the fields whose values, joined with ``:``, identify the record.
        updated_path: the modification time (the watermark field); ``updated_fallback`` is
            read when a version of the record does not carry it (e.g. a new review request).
        snapshot: fields compared with the previous version of the record, for rules that
            fire on a change (``previous.<field>`` in the catalog).
    """

    provider: str
    name: str
    schema: Schema
    id_paths: tuple[str, ...]
    updated_path: str
    updated_fallback: str | None = None
    customer_id_path: str | None = None
    email_path: str | None = None
    phone_path: str | None = None
    snapshot: tuple[str, ...] = ()
    #: on a ``delete`` topic (``extra["_topic"]``), only these fields are required (None: as usual)
    delete_keeps: tuple[str, ...] | None = None
    #: ``schema.load`` without marshmallow's bookkeeping (schemas/fast.py); None: marshmallow only
    fast: Loader | None = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fast", compile_loader(self.schema))


def _okendo(
    name: str,
    updated: str = "dateCreated",
    *,
    email: str = "customer.email",
    customer: str | None = "customer.customerId",
    snapshot: tuple[str, ...] = (),
) -> Resource:
    """An Okendo webhook resource. A delivery without its date (a delete) is dated by its
    receipt (``_received_at``, set by whoever opens the envelope)."""
    return Resource(
        provider="okendo",
        name=name,
        schema=okendo.RESOURCE_SCHEMAS[name],
        id_paths=okendo.DELETE_KEEPS[name],
        updated_path=updated,
        updated_fallback="_received_at",
        customer_id_path=customer,
        email_path=email,
        snapshot=snapshot,
        delete_keeps=okendo.DELETE_KEEPS[name],
    )


def _omneo(name: str, id_paths: tuple[str, ...] = ("id",), customer: str = "profile_id") -> Resource:
    return Resource(
        provider="omneo",
        name=name,
        schema=omneo.RESOURCE_SCHEMAS[name],
        id_paths=id_paths,
        updated_path="updated_at",
        customer_id_path=customer,
        email_path="profile.email",
        phone_path="profile.mobile_phone_e164",
    )


RESOURCES: tuple[Resource, ...] = (
    Resource(
        provider="smile",
        name="customers",
        schema=smile.CustomerSchema(),
        id_paths=("id",),
        updated_path="updated_at",
        customer_id_path="id",
        email_path="email",
        snapshot=("state", "vip_status.vip_tier_id"),
    ),
    Resource(
        provider="smile",
        name="points_transactions",
        schema=smile.PointsTransactionSchema(),
        id_paths=("id",),
        updated_path="updated_at",
        customer_id_path="customer_id",
    ),
    Resource(
        provider="smile",
        name="reward_fulfillments",
        schema=smile.RewardFulfillmentSchema(),
        id_paths=("id",),
        updated_path="updated_at",
        customer_id_path="customer_id",
    ),
    # Dated by receipt: an update keeps dateCreated, yet must count (a changed rating); a loyalty
    # customer carries no date at all. Redeliveries are stale by sequenceNumber (snapshot resources).
    _okendo("review", "_received_at", email="reviewer.email", customer=None, snapshot=("reviewer.email", "rating")),
    _okendo("quiz_response"),
    _okendo("survey_response", "_received_at", snapshot=("customer.email",)),
    _okendo("referral", "_received_at", snapshot=("customer.email", "referrer.email", "activityType")),
    _okendo(
        "loyalty_customer",
        "_received_at",
        snapshot=("status", "vipTierName", "vipTierRank", "customer.email", "customer.customerId"),
    ),
    _okendo("loyalty_earning_transaction", "date"),
    _okendo("loyalty_redemption_transaction", "date"),
    _okendo("loyalty_adjustment_transaction", "date"),
    Resource(
        provider="okendo",
        name="customers",
        schema=okendo.RESOURCE_SCHEMAS["customers"],
        id_paths=("customerId",),
        updated_path="_received_at",
        customer_id_path="customerId",
        email_path="email",
        snapshot=("_received_at",),
    ),
    Resource(
        provider="rediem",
        name="activities",
        schema=rediem.ActivitySchema(),
        id_paths=("id",),
        updated_path="updated_at",
        customer_id_path="customer.id",
        email_path="customer.email",
        phone_path="customer.phone",
    ),
    _omneo("points"),
    _omneo("rewards"),
    _omneo("redemptions"),
    _omneo("transactions"),
    _omneo("tiers", ("profile_id", "current_tier.handle", "achieved_at")),
    _omneo("balances", ("profile_id", "updated_at")),
    Resource(
        provider="omneo",
        name="profiles",
        schema=omneo.RESOURCE_SCHEMAS["profiles"],
        id_paths=("id",),
        updated_path="updated_at",
        customer_id_path="id",
        email_path="email",
        phone_path="mobile_phone_e164",
    ),
)
_BY_KEY: Mapping[tuple[str, str], Resource] = {(r.provider, r.name): r for r in RESOURCES}


def resource(provider: str, name: str) -> Resource:
    """The resource definition; InvalidRecord naming the known ones if there is none."""
    try:
        return _BY_KEY[provider, name]
    except KeyError:
        known = sorted(n for p, n in _BY_KEY if p == provider)
        if not known:
            raise InvalidRecord(
                f"unknown provider; known: {', '.join(sorted({p for p, _ in _BY_KEY}))}", provider=provider
            ) from None
        raise InvalidRecord(f"unknown resource {name!r}; known: {', '.join(known)}", provider=provider) from None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def decode(
    provider: str,
    name: str,
    raw: Any,
    *,
    merchant: str,
    previous: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Record:
    """Validate one raw provider object and make it a ``Record``.

    Args:
        previous: the record's previous snapshot (``snapshot_of``), if one is known.
        extra: fields to add to the record's data (e.g. a webhook's ``_topic``).

    Raises:
        InvalidRecord: naming the provider, the resource and the offending field.
    """
    res = resource(provider, name)
    if not isinstance(raw, Mapping):
        raise InvalidRecord(f"expected a JSON object, got {type(raw).__name__}", provider=provider, field=name)
    partial: tuple[str, ...] | None = None
    if res.delete_keeps is not None and (extra or {}).get("_topic") == "delete":
        partial = tuple(n for n, f in res.schema.fields.items() if f.required and n not in res.delete_keeps)
    data: dict[str, Any] | None = None
    if partial is None and res.fast is not None:
        try:
            data = res.fast(raw)
        except Slow:  # unusual or invalid: marshmallow decides, and names the field if it rejects it
            data = None
    if data is None:
        try:
            data = res.schema.load(raw, partial=partial)
        except ValidationError as exc:
            where, message = first_error(exc.messages)
            raise InvalidRecord(message, provider=provider, field=f"{name}.{where}") from None
    data["previous"] = dict(previous) if previous is not None else None
    data.update(extra or {})
    if isinstance(data.get("_received_at"), str):  # a quarantined delivery keeps it as text
        data["_received_at"] = datetime.fromisoformat(data["_received_at"])
    updated = lookup(data, res.updated_path)
    if updated is None and res.updated_fallback:
        updated = lookup(data, res.updated_fallback)
    if not isinstance(updated, datetime):
        raise InvalidRecord("missing modification time", provider=provider, field=f"{name}.{res.updated_path}")
    parts = [lookup(data, p) for p in res.id_paths]
    if any(p is None or p == "" for p in parts):
        raise InvalidRecord("missing identifier", provider=provider, field=f"{name}.{'+'.join(res.id_paths)}")
    customer = Customer(
        provider_id=(_text(lookup(data, res.customer_id_path)) if res.customer_id_path else None) or "",
        email=_text(lookup(data, res.email_path)) if res.email_path else None,
        phone=_text(lookup(data, res.phone_path)) if res.phone_path else None,
    )
    return Record(
        merchant=merchant,
        provider=provider,
        stream=name,
        record_id=":".join(p.isoformat() if isinstance(p, datetime) else str(p) for p in parts),
        updated_at=updated,
        customer=customer,
        data=data,
    )


def snapshot_of(record: Record) -> dict[str, Any]:
    """The fields of ``record`` that the next version is compared with."""
    res = resource(record.provider, record.stream)
    out: dict[str, Any] = {}
    for path in res.snapshot:
        head, _, rest = path.partition(".")
        value = lookup(record.data, path)
        if rest:
            out.setdefault(head, {})[rest] = value
        else:
            out[head] = value
    return out


def unwrap(provider: str, body: Any, *, event: str | None = None) -> tuple[str, Mapping[str, Any], dict[str, Any]]:
    """Open a webhook delivery: (resource name, raw resource, extra fields for the record).

    Okendo: ``{resource, resourceType, sequenceNumber, topic, version}``. Rediem pushes one
    activity (assumed). Omneo pushes the trigger's event context, the object itself, and names
    the trigger in the ``x-omneo-event`` header (``event``; ``schemas.omneo.TRIGGERS``).
    """
    if not isinstance(body, Mapping):
        raise InvalidRecord("webhook body is not a JSON object", provider=provider)
    if provider == "okendo":
        try:
            envelope = okendo.ENVELOPE.load(body)
        except ValidationError as exc:
            field, message = first_error(exc.messages)
            raise InvalidRecord(message, provider=provider, field=f"envelope.{field}") from None
        kind = envelope["resourceType"]
        if kind not in okendo.WEBHOOK_RESOURCE_TYPES:
            raise InvalidRecord(
                f"unknown resourceType {kind[:60]!r}; Okendo sends: {', '.join(okendo.WEBHOOK_RESOURCE_TYPES)}",
                provider=provider,
                field="envelope.resourceType",
            )
        return kind, envelope["resource"], {"_topic": envelope["topic"], "_sequence": envelope["sequenceNumber"]}
    if provider == "rediem":
        return "activities", body, {}
    if provider == "omneo":
        if not event:
            raise InvalidRecord(
                "no trigger: an Omneo push names it in the x-omneo-event header",
                provider=provider,
                field="x-omneo-event",
            )
        name = omneo.TRIGGERS.get(event.strip().lower())
        if name is None:
            raise InvalidRecord(
                f"unknown trigger {event[:60]!r}; known: {', '.join(sorted(omneo.TRIGGERS))}",
                provider=provider,
                field="x-omneo-event",
            )
        return name, body, {"_event": event.strip().lower()}
    raise InvalidRecord("this provider sends no webhooks", provider=provider)
