"""E.164 phone numbers, as Attentive (``user.phone``) and Klaviyo (``phone_number``) require them.

E.164 (ITU-T): ``+``, a country code that does not start with 0, at most 15 digits in all.
Normalisation is deliberately small and predictable (no numbering-plan database):

* spaces, dashes, dots, slashes and parentheses are formatting and dropped; any other
  character (letters, ``x123`` extensions, ``*``, ``#``) makes the number invalid;
* ``+`` or ``00`` in front: the digits already carry the country code;
* otherwise the number is national: for the default country code ``1`` (US/CA, NANP) it must
  be 10 digits (or 11 with the leading ``1``) with an area code starting 2-9; for any other
  default, one leading trunk ``0`` is dropped and the country code prepended;
* NANP numbers (``+1``) must have exactly 10 digits after the ``1``, area code 2-9.

Errors never contain the number: it is personal data and error messages reach logs.
"""

from __future__ import annotations

import re

__all__ = ["to_e164"]

_FORMATTING = re.compile(r"[\s\-./()]")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


def _fail(reason: str) -> ValueError:
    return ValueError(f"phone number cannot be made E.164: {reason}")


def to_e164(raw: str, *, default_country_code: str = "1") -> str:
    """``raw`` as ``+<country code><number>``; ``ValueError`` (without the number) if impossible.

    >>> to_e164("(555) 555-0100")
    '+15555550100'
    """
    if not re.fullmatch(r"[1-9]\d{0,2}", default_country_code):
        raise ValueError("default_country_code must be 1-3 digits, not starting with 0")
    text = _FORMATTING.sub("", raw or "")
    if not text:
        raise _fail("it is empty")
    international = text.startswith("+")
    digits = text[1:] if international else text
    if not digits.isdigit() or not digits.isascii():
        raise _fail("it has characters other than digits and formatting")
    if not international and digits.startswith("00"):
        digits, international = digits[2:], True
    if not international:
        digits = _national(digits, default_country_code)
    number = "+" + digits
    if not _E164.fullmatch(number):
        raise _fail("wrong number of digits or a country code starting with 0")
    if number.startswith("+1") and not re.fullmatch(r"\+1[2-9]\d{9}", number):
        raise _fail("a +1 (US/CA) number needs 10 digits with an area code starting 2-9")
    return number


def _national(digits: str, country_code: str) -> str:
    if country_code == "1":
        if len(digits) == 11 and digits.startswith("1"):
            return digits
        if len(digits) == 10:
            return "1" + digits
        raise _fail("a US/CA number without country code needs 10 digits")
    return country_code + (digits[1:] if digits.startswith("0") else digits)
