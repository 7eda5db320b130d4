"""Masking personal data for listings, logs and error reports."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["mask", "mask_email", "mask_phone"]

# Linear time on any input (issue 12): a match may start only where a run of local-part characters
# starts (the look-behind), and every repetition is bounded (RFC 5321 limits: local part 64, domain
# 255, label 63), so each start is tried over a bounded window and a long run without "@" costs one
# pass, not one pass per character.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{0,63}"
    r"@((?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24})(?![A-Za-z0-9-])"
)
_PHONE = re.compile(r"(?<![\d+])\+?\d[\d\s().-]{6,30}\d")


def mask_email(text: str) -> str:
    """``jane.doe@example.test`` → ``j***@example.test``."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def mask_phone(text: str) -> str:
    """Keep the last two digits of anything that looks like a phone number."""
    return _PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], text)


#: Whole values that look like phone numbers to ``_PHONE`` but are not: ISO-8601 times and Redis
#: stream entry ids (``dlq show`` printed ``***47`` for both).
_STRUCTURAL = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|\d{13}-\d{1,10}"
)


def mask(value: Any) -> Any:
    """Mask emails and phone numbers anywhere in a JSON-like value (a value that is wholly a
    timestamp or a stream entry id is left as it is)."""
    if isinstance(value, str):
        if len(value) <= 40 and _STRUCTURAL.fullmatch(value):
            return value
        return mask_phone(mask_email(value))
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return value
