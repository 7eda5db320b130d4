"""E.164 normalisation shared by the Attentive and Klaviyo encodings."""

from __future__ import annotations

import re

import pytest

from pipeline.destinations.encoding.phone import to_e164


@pytest.mark.parametrize(("raw", "expected"), [
    ("(555) 555-0100", "+15555550100"),
    ("555.555.0100", "+15555550100"),
    ("5555550100", "+15555550100"),
    ("1-555-555-0100", "+15555550100"),
    ("+1 (555) 555-0100", "+15555550100"),
    ("  +15555550100 ", "+15555550100"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("+61/412/345/678", "+61412345678"),
])
def test_normalises_to_e164(raw: str, expected: str) -> None:
    assert to_e164(raw) == expected


@pytest.mark.parametrize(("raw", "country", "expected"), [
    ("020 7946 0958", "44", "+442079460958"),
    ("06 12 34 56 78", "33", "+33612345678"),
    ("+1 555 555 0100", "44", "+15555550100"),
])
def test_national_numbers_take_the_default_country_code(raw: str, country: str, expected: str) -> None:
    assert to_e164(raw, default_country_code=country) == expected


@pytest.mark.parametrize("raw", [
    "",
    "   ",
    "555-0100",                 # 7 digits: no area code
    "555 555 01001",            # 11 digits not starting with 1
    "123456789012",             # 12 digits, no country code
    "+0 555 555 0100",          # country codes never start with 0
    "+1 055 555 0100",          # NANP area codes start 2-9
    "+1 555 555 010",           # NANP needs 10 digits after +1
    "(055) 555-0100",
    "+1234567890123456",        # 16 digits: E.164 allows at most 15
    "+12",
    "555-555-0100 x12",         # extensions are not E.164
    "+1 555 CALL NOW",
    "call me maybe",
    "++15555550100",
    "５５５５５５０１００",          # full-width digits
])
def test_rejects_what_cannot_be_made_e164(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        to_e164(raw)
    message = str(info.value)
    assert "E.164" in message
    digits = re.sub(r"\D", "", raw)
    assert not raw.strip() or raw.strip() not in message
    assert not digits or digits not in message


def test_error_never_contains_the_number() -> None:
    with pytest.raises(ValueError) as info:
        to_e164("+1 055 555 0199")
    assert "0199" not in str(info.value) and "555" not in str(info.value)


@pytest.mark.parametrize("country", ["", "0", "01", "1234", "+1", "a"])
def test_rejects_a_bad_default_country_code(country: str) -> None:
    with pytest.raises(ValueError, match="default_country_code"):
        to_e164("5555550100", default_country_code=country)
