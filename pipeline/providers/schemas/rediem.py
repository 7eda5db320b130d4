"""Rediem activity records: an ASSUMED shape.

Rediem publishes no data API and no webhook program (``shared/research/providers.md`` §3,
``shared/specs/README.md``). This is the activity-feed shape the connector assumes
(``GET {base_url}/api/v1/activities``, and the same objects in pushes): one activity per
program event, each with a snapshot of the member's loyalty state, which is where the 18
``rediem_*`` Postscript properties of seed 000 come from. Nothing here is Rediem's word.

Because the shape is assumed, a record that does not fit it is rejected with the field that
does not fit (``activities.points: required for a points_earned activity``), never guessed
at: what Rediem really sends will show up in the quarantine, field by field. Unknown extra
fields are still ignored.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from pipeline.providers.schemas.common import Id, Lenient, Timestamp, opt_date, opt_num, opt_str

__all__ = ["ACTIVITY_TYPES", "ActivitySchema", "REQUIRED_BY_TYPE", "SHAPES"]

#: resource → provenance (pipeline.providers.provenance): Rediem publishes nothing.
SHAPES: dict[str, str] = {"activities": "assumed"}

#: activity type → the seed 000 event it becomes (the mapping itself lives in the catalog).
ACTIVITY_TYPES = ("signup", "points_earned", "points_redeemed", "tier_achieved", "tier_downgrade",
                  "referral_received", "referral_completed", "action_rejected")

#: the fields an activity of each type must carry to become its seed 000 event
REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {
    "points_earned": ("points",), "points_redeemed": ("points",), "tier_achieved": ("tier",),
    "tier_downgrade": ("tier",), "referral_received": ("advocate_first_name",),
    "referral_completed": ("points", "referred_email"), "action_rejected": ("action_type",),
}



class Quantity(fields.Number):
    """A count or measure: an integer when whole (3.0 → 3), else a float (12.5)."""

    num_type = float

    def _format_num(self, value: Any) -> int | float:
        number = float(value)
        return int(number) if number.is_integer() else number


def _points() -> fields.Integer:
    """Points are whole numbers; 250 and 250.0 are accepted, 12.5 is rejected."""
    return fields.Integer(load_default=None, allow_none=True)


class MemberSchema(Lenient):
    id = Id(required=True)
    email, phone, first_name, current_tier = opt_str(), opt_str(), opt_str(), opt_str()
    birth_date = opt_str()
    point_balance = fields.Integer(load_default=None, allow_none=True, strict=True)
    points_to_next_tier, points_expiring, last_action_points = _points(), _points(), _points()
    spend_to_next_tier = opt_num()  # money
    last_action_type, last_reward_type, advocate_first_name, redemption_reward_code = opt_str(), opt_str(), opt_str(), opt_str()
    has_account = fields.Boolean(load_default=None, allow_none=True)
    opt_in_date, points_expiry_date, date_last_action, date_last_reward = opt_date(), opt_date(), opt_date(), opt_date()
    impacts = fields.Dict(keys=fields.String(), values=Quantity(allow_none=True), load_default=dict)
    impacts_yoy = fields.Dict(keys=fields.String(), values=Quantity(allow_none=True), load_default=dict)


class ActivitySchema(Lenient):
    id = Id(required=True)
    type = fields.String(required=True, validate=validate.OneOf(ACTIVITY_TYPES))
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    points = fields.Integer(load_default=None, allow_none=True, strict=True)
    action_type, reward_type, reward_code, tier, previous_tier = opt_str(), opt_str(), opt_str(), opt_str(), opt_str()
    advocate_first_name, referred_email, rejection_reason = opt_str(), opt_str(), opt_str()
    customer = fields.Nested(MemberSchema, required=True)

    @validates_schema
    def _fields_of_its_type(self, data: dict[str, Any], **_: Any) -> None:
        for name in REQUIRED_BY_TYPE.get(data.get("type", ""), ()):
            if data.get(name) is None:
                raise ValidationError(f"required for a {data['type']} activity (assumed Rediem feed shape)",
                                      field_name=name)
