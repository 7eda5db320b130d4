"""Omneo API v3 records (shapes from the omneo-sdk types, research/providers.md §4).

Timestamps may come without an offset (``2021-02-10 10:00:00``): read as UTC. A record may
embed its ``profile`` (webhook "event context"); otherwise the customer is joined by
``profile_id`` through the customer directory.
"""

from __future__ import annotations

from marshmallow import fields

from pipeline.providers.schemas.common import Id, Lenient, Timestamp, opt_date, opt_num, opt_str

__all__ = ["RESOURCE_SCHEMAS"]



class ProfileRefSchema(Lenient):
    id = Id(required=True)
    email, mobile_phone_e164, first_name, last_name = opt_str(), opt_str(), opt_str(), opt_str()


class _Definition(Lenient):
    id = Id(load_default=None, allow_none=True)
    name, handle, type = opt_str(), opt_str(), opt_str()


class _Owned(Lenient):
    id = Id(required=True)
    profile_id = Id(required=True)
    created_at = opt_date()
    updated_at = Timestamp(required=True)
    profile = fields.Nested(ProfileRefSchema, load_default=None, allow_none=True)


class PointSchema(_Owned):
    value_initial = fields.Float(required=True)
    value_remaining = opt_num()
    issued_at, expires_at = opt_date(), opt_date()
    definition = fields.Nested(_Definition, load_default=None, allow_none=True)
    source_type, description = opt_str(), opt_str()


class RewardSchema(_Owned):
    value_initial = fields.Float(required=True)
    value_remaining = opt_num()
    issued_at, expires_at = opt_date(), opt_date()
    definition = fields.Nested(_Definition, load_default=None, allow_none=True)


class RedemptionSchema(_Owned):
    amount = fields.Float(required=True)
    strategies = fields.List(fields.String(), load_default=list)
    transaction_id = Id(load_default=None, allow_none=True)


class TransactionSchema(_Owned):
    total = fields.Float(required=True)
    external_id = opt_str()
    redemption_id = Id(load_default=None, allow_none=True)
    transacted_at = opt_date()


class _Tier(Lenient):
    name, handle = opt_str(), opt_str()


class TierSchema(Lenient):
    profile_id = Id(required=True)
    current_tier = fields.Nested(_Tier, required=True)
    prev_tier = fields.Nested(_Tier, load_default=None, allow_none=True)
    next_tier = fields.Nested(_Tier, load_default=None, allow_none=True)
    achieved_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    profile = fields.Nested(ProfileRefSchema, load_default=None, allow_none=True)


class BalancesSchema(Lenient):
    profile_id = Id(required=True)
    updated_at = Timestamp(required=True)
    reward_balance = fields.Float(required=True)
    point_balance = fields.Float(required=True)
    point_balance_dollars = fields.Float(required=True)
    combined_balance_dollars = fields.Float(required=True)
    benefit_balance = opt_num()
    profile = fields.Nested(ProfileRefSchema, load_default=None, allow_none=True)


class ProfileSchema(Lenient):
    id = Id(required=True)
    updated_at = Timestamp(required=True)
    email, mobile_phone_e164, first_name, last_name = opt_str(), opt_str(), opt_str(), opt_str()


RESOURCE_SCHEMAS = {
    "points": PointSchema(),
    "rewards": RewardSchema(),
    "redemptions": RedemptionSchema(),
    "transactions": TransactionSchema(),
    "tiers": TierSchema(),
    "balances": BalancesSchema(),
    "profiles": ProfileSchema(),
}
