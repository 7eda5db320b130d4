"""Smile.io records (shapes from specs/smile-io-openapi.yml)."""

from __future__ import annotations

from marshmallow import fields, validate

from pipeline.providers.schemas.common import Lenient, Timestamp

__all__ = ["CustomerSchema", "PointsTransactionSchema", "RewardFulfillmentSchema"]


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
    customer_id = fields.Integer(required=True, strict=True)
    name = fields.String(load_default=None, allow_none=True)
    code = fields.String(load_default=None, allow_none=True)
    fulfillment_status = fields.String(load_default=None, allow_none=True)
    usage_status = fields.String(load_default=None, allow_none=True)
    used_at = Timestamp(load_default=None, allow_none=True)
    expires_at = Timestamp(load_default=None, allow_none=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
