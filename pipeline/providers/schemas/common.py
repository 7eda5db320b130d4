"""Shared marshmallow building blocks for provider record schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

__all__ = ["Id", "Lenient", "Timestamp", "first_error", "opt_bool", "opt_date", "opt_dict", "opt_int", "opt_num",
           "opt_raw", "opt_str"]


class Lenient(Schema):
    """Unknown fields are ignored: a provider adding a field must not break ingestion."""

    class Meta:
        unknown = EXCLUDE


class Id(fields.Field):
    """An identifier that providers send as a string or an integer; kept as given."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise ValidationError("must be a non-empty string or an integer")
        return value


class Timestamp(fields.DateTime):
    """ISO 8601 with an offset, or Omneo/Okendo-style naive ``YYYY-MM-DD HH:MM:SS`` read as UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise ValidationError("must be a date-time string")
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"not an ISO 8601 date-time: {value[:40]!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    """The first (dotted field path, message) of a marshmallow error tree."""
    if isinstance(messages, dict) and messages:
        name, inner = next(iter(messages.items()))
        return first_error(inner, f"{prefix}.{name}" if prefix else str(name))
    if isinstance(messages, list) and messages:
        return first_error(messages[0], prefix)
    return prefix, str(messages)


def opt_str() -> fields.String:
    """An optional, nullable string (missing → None)."""
    return fields.String(load_default=None, allow_none=True)


def opt_num() -> fields.Float:
    return fields.Float(load_default=None, allow_none=True)


def opt_int() -> fields.Integer:
    return fields.Integer(load_default=None, allow_none=True)


def opt_bool() -> fields.Boolean:
    return fields.Boolean(load_default=None, allow_none=True)


def opt_date() -> Timestamp:
    return Timestamp(load_default=None, allow_none=True)


def opt_dict() -> fields.Dict:
    return fields.Dict(load_default=None, allow_none=True)


def opt_raw() -> fields.Raw:
    return fields.Raw(load_default=None, allow_none=True)
