"""Smile.io records, field by field from Smile's published REST API v1 schema
(``shared/specs/smile/smile-io-openapi.yml``: ``Customer``, ``PointsTransaction``,
``RewardFulfillment``) and the shape notes of ``shared/specs/smile/scopes.md`` §5.

* ``reward_fulfillment.customer_id`` is documented as a string on the object page and as an
  integer in one list example (scopes.md §5.1): both are accepted, kept as an integer.
* Unknown fields are ignored (Smile adds fields over time).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from pipeline.providers.schemas.common import Lenient, Timestamp

__all__ = ["CustomerSchema", "PointsTransactionSchema", "RewardFulfillmentSchema", "SHAPES"]

#: resource → provenance (pipeline.providers.provenance): all three are Smile's published schema.
SHAPES: dict[str, str] = {
    "customers": "documented",
    "points_transactions": "documented",
    "reward_fulfillments": "documented",
}


class DigitsId(fields.Integer):
    """An integer id that Smile sometimes sends as a string of digits (``"304169228"``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be an integer or a string of digits")
        return value


class PointsTransactionSchema(Lenient):
    id = fields.Integer(required=True, strict=True)
    customer_id = fields.Integer(required=True, strict=True)
    points_change = fields.Integer(required=True, strict=True)
    description = fields.String(load_default=None, allow_none=True)
    internal_note = fields.String(load_default=None, allow_none=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class VipStatusSchema(Lenient):
    vip_tier_id = fields.Integer(allow_none=True, load_default=None)
    vip_tier_expires_at = Timestamp(allow_none=True, load_default=None)
    next_vip_tier_id = fields.Integer(allow_none=True, load_default=None)


class CustomerSchema(Lenient):
    id = fields.Integer(required=True, strict=True)
    email = fields.String(load_default=None, allow_none=True)
    first_name = fields.String(load_default=None, allow_none=True)
    last_name = fields.String(load_default=None, allow_none=True)
    state = fields.String(required=True, validate=validate.OneOf(["candidate", "member", "disabled"]))
    points_balance = fields.Integer(required=True, strict=True)
    date_of_birth = fields.String(load_default=None, allow_none=True)
    vip_tier_id = fields.Integer(load_default=None, allow_none=True)
    vip_status = fields.Nested(VipStatusSchema, load_default=None, allow_none=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class RewardFulfillmentSchema(Lenient):
    id = fields.Integer(required=True, strict=True)
    customer_id = DigitsId(required=True)
    name = fields.String(load_default=None, allow_none=True)
    code = fields.String(load_default=None, allow_none=True)
    fulfillment_status = fields.String(load_default=None, allow_none=True)
    usage_status = fields.String(load_default=None, allow_none=True)
    used_at = Timestamp(load_default=None, allow_none=True)
    expires_at = Timestamp(load_default=None, allow_none=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
