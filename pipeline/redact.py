"""Masking personal data for listings, logs and error reports."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["mask", "mask_email", "mask_phone"]

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def mask_email(text: str) -> str:
    """``jane.doe@example.test`` → ``j***@example.test``."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def mask_phone(text: str) -> str:
    """Keep the last two digits of anything that looks like a phone number."""
    return _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], text)


def mask(value: Any) -> Any:
    """Mask emails and phone numbers anywhere in a JSON-like value."""
    if isinstance(value, str):
        return mask_phone(mask_email(value))
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return value
