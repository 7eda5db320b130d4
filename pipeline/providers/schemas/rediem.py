"""Rediem activity records.

Rediem publishes no data API (research/providers.md §3). This is the activity-feed shape
the connector assumes (``GET {base_url}/activities``, and the same objects in Rediem pushes):
one activity per program event, each with a snapshot of the member's loyalty state, which
is where the 18 ``rediem_*`` Postscript properties of seed 000 come from.
"""

from __future__ import annotations

from marshmallow import fields, validate

from pipeline.providers.schemas.common import Id, Lenient, Timestamp, opt_date, opt_num, opt_str

__all__ = ["ACTIVITY_TYPES", "ActivitySchema"]

#: activity type → the seed 000 event it becomes (the mapping itself lives in the catalog).
ACTIVITY_TYPES = ("signup", "points_earned", "points_redeemed", "tier_achieved", "tier_downgrade",
                  "referral_received", "referral_completed", "action_rejected")



class MemberSchema(Lenient):
    id = Id(required=True)
    email, phone, first_name, current_tier = opt_str(), opt_str(), opt_str(), opt_str()
    birth_date = opt_str()
    point_balance = fields.Integer(load_default=None, allow_none=True, strict=True)
    points_to_next_tier, spend_to_next_tier, points_expiring = opt_num(), opt_num(), opt_num()
    last_action_points = opt_num()
    last_action_type, last_reward_type, advocate_first_name, redemption_reward_code = opt_str(), opt_str(), opt_str(), opt_str()
    has_account = fields.Boolean(load_default=None, allow_none=True)
    opt_in_date, points_expiry_date, date_last_action, date_last_reward = opt_date(), opt_date(), opt_date(), opt_date()
    impacts = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True), load_default=dict)
    impacts_yoy = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True), load_default=dict)


class ActivitySchema(Lenient):
    id = Id(required=True)
    type = fields.String(required=True, validate=validate.OneOf(ACTIVITY_TYPES))
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    points = fields.Integer(load_default=None, allow_none=True, strict=True)
    action_type, reward_type, reward_code, tier, previous_tier = opt_str(), opt_str(), opt_str(), opt_str(), opt_str()
    advocate_first_name, referred_email, rejection_reason = opt_str(), opt_str(), opt_str()
    customer = fields.Nested(MemberSchema, required=True)
