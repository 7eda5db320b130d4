"""Log lines: JSON that parses, with the merchant and platform, and no personal data."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

import pipeline.logs
from pipeline.observability.logs import configure_logging, scrub_text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def test_json_lines_carry_context_and_no_personal_data(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", fmt="json", stream=stream)
    log = logging.getLogger("pipeline.test")
    log.info("sent %d events to %s (%s)", 3, "jane.doe@example.com", "+14155550123",
             extra={"merchant": "acme", "platform": "postscript", "delivery_id": "d-1"})
    try:
        raise ValueError("refused for jane.doe@example.com with Bearer sk_live_abcdef123456")
    except ValueError:
        log.exception("delivery failed", extra={"merchant": "acme", "provider": "smile", "event_id": "e-9"})
    logging.getLogger("pipeline.test").debug("not at INFO")
    first, second = (json.loads(line) for line in _lines(stream))
    assert set(first) == {"time", "level", "logger", "message", "merchant", "platform", "delivery_id"}
    assert first["level"] == "INFO" and first["logger"] == "pipeline.test" and first["time"].endswith("Z")
    assert (first["merchant"], first["platform"], first["delivery_id"]) == ("acme", "postscript", "d-1")
    assert first["message"] == "sent 3 events to j***@example.com (***23)"
    assert (second["merchant"], second["provider"], second["event_id"]) == ("acme", "smile", "e-9")
    assert "ValueError" in second["exception"]
    text = stream.getvalue()
    for secret in ("jane.doe@example.com", "+14155550123", "sk_live_abcdef123456"):
        assert secret not in text


def test_text_format_keeps_the_old_layout_with_context(restore_logging: None) -> None:
    stream = io.StringIO()
    pipeline.logs.configure_logging("INFO", fmt="text", stream=stream)
    logging.getLogger("pipeline.test").warning("customer %s", "jane.doe@example.com", extra={"merchant": "acme"})
    (line,) = _lines(stream)
    assert line.endswith(" WARNING pipeline.test customer j***@example.com merchant=acme")


def test_reconfiguring_replaces_our_handler_and_quiets_url_loggers(restore_logging: None) -> None:
    configure_logging("INFO")
    configure_logging("DEBUG", fmt="json")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_lp_handler", False)]
    assert len(ours) == 1
    assert logging.getLogger("httpx").level == logging.WARNING
    with pytest.raises(ValueError):
        configure_logging("INFO", fmt="xml")


@pytest.mark.parametrize(("raw", "masked"), [
    ("Authorization: Bearer sk_live_abc123def456", "Authorization: [Filtered] [Filtered]"),
    ("Klaviyo-API-Key pk_0f3c2b1a9e8d7c6b5a", "Klaviyo-API-Key [Filtered]"),
    ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret [Filtered]"),
    ("Basic dXNlcjpwYXNzd29yZA==", "Basic [Filtered]"),
    ("GET https://api.x.test/v1/p?email=a@b.test&x=1 done", "GET https://api.x.test/v1/p?[Filtered] done"),
    ("redis://:hunter2@cache:6379/0", "redis://[Filtered]@cache:6379/0"),
    ("api_key=abc123&page=2", "api_key=[Filtered]&page=2"),
    ("{'phone': '4155550123'}", "{'phone': '[Filtered]'}"),
    ("call (415) 555-0123 or +44 20 7946 0958", "call ***23 or ***58"),
    # not personal data: timestamps, stream ids, addresses, counts and versions stay readable
    ("at 2024-05-01T12:00:00.123Z id 1700000000000-1 on 127.0.0.1, 3697 pulled, v2.75.0",
     "at 2024-05-01T12:00:00.123Z id 1700000000000-1 on 127.0.0.1, 3697 pulled, v2.75.0"),
    ("the configured whsec_ secret is not base64", "the configured whsec_ secret is not base64"),
])
def test_scrub_text(raw: str, masked: str) -> None:
    assert scrub_text(raw) == masked
