"""Marshmallow schemas of the Smile.io records we read (shapes from specs/smile-io-openapi.yml)."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

__all__ = ["CustomerSchema", "PointsTransactionSchema"]


class _Strict(Schema):
    class Meta:
        unknown = EXCLUDE  # new API fields must not break ingestion


class PointsTransactionSchema(_Strict):
    id = fields.Integer(required=True, strict=True)
    customer_id = fields.Integer(required=True, strict=True)
    points_change = fields.Integer(required=True, strict=True)
    description = fields.String(load_default=None, allow_none=True)
    internal_note = fields.String(load_default=None, allow_none=True)
    created_at = fields.AwareDateTime(required=True, default_timezone=None)
    updated_at = fields.AwareDateTime(required=True, default_timezone=None)


class VipStatusSchema(_Strict):
    vip_tier_id = fields.Integer(allow_none=True, load_default=None)
    vip_tier_expires_at = fields.AwareDateTime(allow_none=True, load_default=None)
    next_vip_tier_id = fields.Integer(allow_none=True, load_default=None)


class CustomerSchema(_Strict):
    id = fields.Integer(required=True, strict=True)
    email = fields.String(load_default=None, allow_none=True)
    first_name = fields.String(load_default=None, allow_none=True)
    last_name = fields.String(load_default=None, allow_none=True)
    state = fields.String(required=True, validate=validate.OneOf(["candidate", "member", "disabled"]))
    points_balance = fields.Integer(required=True, strict=True)
    date_of_birth = fields.String(load_default=None, allow_none=True)
    vip_tier_id = fields.Integer(load_default=None, allow_none=True)
    vip_status = fields.Nested(VipStatusSchema, load_default=None, allow_none=True)
    created_at = fields.AwareDateTime(required=True, default_timezone=None)
    updated_at = fields.AwareDateTime(required=True, default_timezone=None)
