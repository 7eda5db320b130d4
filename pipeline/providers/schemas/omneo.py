"""Omneo API v3 records, field by field from ``shared/specs/omneo/README.md`` §4 (the omneo-sdk
types, the v3 API reference and seed 003's "Working with Rewards").

* Money and points (``total``, ``value_initial``, balances, ...) come as JSON numbers or as
  numeric strings (``"10"``, ``"9.99"``): the SDK types them ``number``, the v3 reference
  renders them ``"<string>"`` (README §4 "Types to accept"). Both are read as numbers.
* ``is_*`` flags come as booleans or strings (``"true"``, ``"1"``).
* Timestamps are ISO 8601 or Omneo's naive ``YYYY-MM-DD HH:MM:SS``. A naive business time
  (``issued_at``, ``expires_at``, ``transacted_at``, ``redeem_at``) is wall-clock time in the
  record's ``timezone`` (an IANA name; seed 003 pairs ``"2021-02-10 10:00:00"`` with
  ``"timezone": "Australia/Melbourne"``), and UTC when the record has none. ``created_at`` and
  ``updated_at`` are the server's bookkeeping: naive means UTC.
* A pushed record is the trigger's "event context": the object itself (README §5.3), named by
  the ``x-omneo-event`` header (``TRIGGERS``); it may embed its ``profile``. Otherwise the
  customer is joined by ``profile_id`` through the customer directory.
* ``id`` is a uuid string for profiles and an integer elsewhere; unknown fields are ignored
  (the webhook extra-data template can add any).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import ValidationError, fields, post_load

from pipeline.providers.schemas.common import Id, Lenient, opt_str

__all__ = ["RESOURCE_SCHEMAS", "SHAPES", "TRIGGERS"]

#: resource → provenance (pipeline.providers.provenance).
SHAPES: dict[str, str] = {
    "profiles": "documented",      # SDK Profile / ProfileWebhook (README §4, §5.3)
    "points": "documented",        # SDK Point + v3 reference
    "rewards": "documented",       # SDK Reward; seed 003's reward body
    "redemptions": "documented",   # SDK Redemption + v3 reference
    "transactions": "documented",  # SDK Transaction; seed 003's transaction body
    "balances": "documented",      # seed 003's verbatim GET /profiles/{id}/balances example
    "tiers": "inferred",           # SDK TierProgress; that tier.achieved pushes it is our inference
}

#: ``x-omneo-event`` trigger → resource. Names from the docs and from Omneo's app starter (README
#: §5.2), which disagree (``points.awarded`` / ``point.created``): both are accepted.
TRIGGERS: dict[str, str] = {
    "profile.created": "profiles", "profile.updated": "profiles",
    "points.awarded": "points", "point.created": "points", "point.updated": "points",
    "reward.issued": "rewards", "reward.created": "rewards", "reward.updated": "rewards",
    "reward.redeemed": "redemptions",
    "transaction.created": "transactions", "transaction.updated": "transactions",
    "tier.achieved": "tiers",
    "balance.updated": "balances",
}

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}
#: business times that a record's ``timezone`` applies to when they carry no offset
_LOCAL_TIMES = ("issued_at", "expires_at", "transacted_at", "redeem_at", "achieved_at")


class Amount(fields.Field):
    """Money or points: a JSON number or a numeric string, read as a float."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool):
            raise ValidationError("must be a number or a numeric string, not a boolean")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise ValidationError(f"not a number: {value[:20]!r}") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise ValidationError(f"not a finite number: {value[:20]!r}")
            return number
        raise ValidationError("must be a number or a numeric string")


class Flag(fields.Field):
    """A boolean sent as ``true``/``false`` or as a string (``"true"``, ``"1"``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValidationError("must be a boolean or \"true\"/\"false\"")


class When(fields.Field):
    """ISO 8601 (kept with its offset) or naive ``YYYY-MM-DD HH:MM:SS`` (kept naive until the
    record's time zone is known; see ``_Zoned``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("must be a date-time string")
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"not a date-time (ISO 8601 or YYYY-MM-DD HH:MM:SS): {value[:40]!r}") from None


def _opt_amount() -> Amount:
    return Amount(load_default=None, allow_none=True)


def _opt_when() -> When:
    return When(load_default=None, allow_none=True)


class _Zoned(Lenient):
    """Resolves naive times: business times in ``timezone`` (UTC without one), the rest UTC."""

    timezone = opt_str()

    @post_load
    def _resolve_times(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        zone: Any = UTC
        if data.get("timezone"):
            try:
                zone = ZoneInfo(data["timezone"])
            except (ZoneInfoNotFoundError, ValueError):
                raise ValidationError(f"unknown IANA time zone {data['timezone'][:40]!r}",
                                      field_name="timezone") from None
        for name, value in data.items():
            if isinstance(value, datetime) and value.tzinfo is None:
                local = value.replace(tzinfo=zone if name in _LOCAL_TIMES else UTC)
                data[name] = local.astimezone(UTC)
        return data


class ProfileRefSchema(Lenient):
    """The embedded ``profile`` (a redemption's carries no ``id``: README §4)."""

    id = Id(load_default=None, allow_none=True)
    email, mobile_phone_e164, first_name, last_name = opt_str(), opt_str(), opt_str(), opt_str()


class _Definition(Lenient):
    id = Id(load_default=None, allow_none=True)
    name, handle, type = opt_str(), opt_str(), opt_str()


class _Owned(_Zoned):
    id = Id(required=True)
    profile_id = Id(required=True)
    created_at = _opt_when()
    updated_at = When(required=True)
    profile = fields.Nested(ProfileRefSchema, load_default=None, allow_none=True)


class PointSchema(_Owned):
    value_initial = Amount(required=True)
    value_remaining = _opt_amount()
    issued_at, expires_at = _opt_when(), _opt_when()
    definition = fields.Nested(_Definition, load_default=None, allow_none=True)
    source_type, description = opt_str(), opt_str()


class RewardSchema(_Owned):
    value_initial = Amount(required=True)
    value_remaining = _opt_amount()
    issued_at, expires_at = _opt_when(), _opt_when()
    is_active = Flag(load_default=None, allow_none=True)
    is_expired = Flag(load_default=None, allow_none=True)
    definition = fields.Nested(_Definition, load_default=None, allow_none=True)


class _RedemptionItem(Lenient):
    id = Id(load_default=None, allow_none=True)
    type = opt_str()
    value = _opt_amount()
    count = _opt_amount()


class RedemptionSchema(_Owned):
    total = Amount(required=True)
    type = opt_str()
    items = fields.List(fields.Nested(_RedemptionItem), load_default=list)
    transaction_id = Id(load_default=None, allow_none=True)
    redeem_at = _opt_when()


class _RedemptionRef(Lenient):
    id = Id(required=True)


class TransactionSchema(_Owned):
    total = Amount(required=True)
    total_original = _opt_amount()
    is_void = Flag(load_default=None, allow_none=True)
    external_id, receipt_ref, currency = opt_str(), opt_str(), opt_str()
    transacted_at = _opt_when()
    #: the read shape embeds the redemption (README §4); seed 003's write body names its id
    redemption = fields.Nested(_RedemptionRef, load_default=None, allow_none=True)
    redemption_id = Id(load_default=None, allow_none=True)

    @post_load
    def _redemption_id(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("redemption_id") is None and data.get("redemption"):
            data["redemption_id"] = data["redemption"]["id"]
        return data


class _Tier(Lenient):
    name, handle = opt_str(), opt_str()


class TierSchema(_Zoned):
    """SDK ``TierProgress``."""

    id = Id(load_default=None, allow_none=True)
    profile_id = Id(required=True)
    current_tier = fields.Nested(_Tier, required=True)
    prev_tier = fields.Nested(_Tier, load_default=None, allow_none=True)
    next_tier = fields.Nested(_Tier, load_default=None, allow_none=True)
    achieved_at = When(required=True)
    updated_at = When(required=True)
    profile = fields.Nested(ProfileRefSchema, load_default=None, allow_none=True)


class BalancesSchema(_Zoned):
    """Seed 003's balances object, plus the ``profile_id``/``updated_at``/``profile`` the
    connector adds (the endpoint answers for one profile)."""

    profile_id = Id(required=True)
    updated_at = When(required=True)
    reward_balance = Amount(required=True)
    point_balance = Amount(required=True)
    point_balance_dollars = Amount(required=True)
    combined_balance_dollars = Amount(required=True)
    benefit_balance = _opt_amount()
    profile = fields.Nested(ProfileRefSchema, load_default=None, allow_none=True)


class ProfileSchema(_Zoned):
    id = Id(required=True)
    updated_at = When(required=True)
    email, mobile_phone_e164, first_name, last_name = opt_str(), opt_str(), opt_str(), opt_str()
    tier_handle = opt_str()
    point_balance, reward_balance = _opt_amount(), _opt_amount()


RESOURCE_SCHEMAS = {
    "points": PointSchema(),
    "rewards": RewardSchema(),
    "redemptions": RedemptionSchema(),
    "transactions": TransactionSchema(),
    "tiers": TierSchema(),
    "balances": BalancesSchema(),
    "profiles": ProfileSchema(),
}
