"""Body checks shared by the Klaviyo simulator's handlers: JSON:API objects and profile resources,
each failure a 400 whose ``source.pointer`` names the field (never its value)."""

from __future__ import annotations

import re
from typing import Any

from sandbox.sim.server import HttpError

__all__ = ["E164_RE", "EMAIL_RE", "IDENTIFIERS", "bad", "checked_profile", "obj", "profile_shape"]

E164_RE = re.compile(r"\+[1-9]\d{6,14}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
IDENTIFIERS = ("email", "phone_number", "external_id")
_PROFILE_ATTRS = {*IDENTIFIERS, "anonymous_id", "_kx", "first_name", "last_name", "organization", "locale",
                  "title", "image", "location", "properties"}


def bad(pointer: str, message: str) -> HttpError:
    return HttpError(400, f"{pointer}: {message}", field=pointer)


def obj(value: Any, pointer: str, kind: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(pointer, "is required and must be an object")
    if kind is not None and value.get("type") != kind:
        raise bad(f"{pointer}/type", f"must be {kind!r}")
    return value


def profile_shape(res: Any, ptr: str) -> dict[str, Any]:
    """Check a profile resource's structure (schema errors: 400); returns it."""
    attrs = obj(obj(res, ptr, "profile").get("attributes"), f"{ptr}/attributes")
    if res.get("id") is not None and not isinstance(res["id"], str):
        raise bad(f"{ptr}/id", "must be a string")
    if "meta" in res or "meta" in attrs:
        raise bad(f"{ptr}/meta", "patch operations (meta) are not supported by the simulator")
    for key in sorted(set(attrs) - _PROFILE_ATTRS):
        raise bad(f"{ptr}/attributes/{key}", f"{key!r} is not a valid field for the resource 'profile'")
    for key, value in attrs.items():
        if value is not None and not isinstance(value, dict if (is_obj := key in ("location", "properties")) else str):
            raise bad(f"{ptr}/attributes/{key}", "must be an object" if is_obj else "must be a string")
    return res  # type: ignore[no-any-return]


def checked_profile(res: Any, ptr: str) -> dict[str, Any]:
    """``profile_shape``, plus an identifier and well-formed email / E.164 phone number (400)."""
    attrs = profile_shape(res, ptr)["attributes"]
    phone = attrs.get("phone_number")
    if attrs.get("email") is not None and not EMAIL_RE.fullmatch(attrs["email"]):
        raise bad(f"{ptr}/attributes/email", "Invalid email address")
    if phone is not None and not (E164_RE.fullmatch(phone)
                                  and (not phone.startswith("+1") or re.fullmatch(r"\+1[2-9]\d{9}", phone))):
        raise bad(f"{ptr}/attributes/phone_number", "Invalid phone number format (E.164, e.g. +12345678901)")
    if not res.get("id") and not any(attrs.get(k) for k in IDENTIFIERS):
        raise bad(f"{ptr}/attributes", "One of id, email, phone_number or external_id is required")
    return res  # type: ignore[no-any-return]
