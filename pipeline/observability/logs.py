"""Logging: text or JSON lines, with personal data and credentials masked (defense in depth).

The first line of defense is not logging personal data at all (ids and counts, never emails or
phones). The filter here masks what slips through anyway, in the message, its arguments and
exception text:

* credentials: ``Authorization``-style values (``Bearer``, ``Basic``, ``Klaviyo-API-Key``),
  ``sk_``/``pk_``/``rk_`` keys, ``whsec_`` secrets, passwords in URLs, ``key=value`` pairs
  whose key names a secret, and URL query strings;
* emails (``pipeline.redact.mask_email``: ``j***@example.test``);
* phone numbers: E.164 (``+15555550100``, also spaced) and North American numbers written
  with separators (``(555) 555-0100``). Bare digit runs are left alone: they are far more often
  timestamps, ids and counts, and masking them would make logs useless.

JSON lines carry ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and, when passed
through ``extra``, ``merchant``, ``platform``, ``provider``, ``event_id`` and ``delivery_id``.
Libraries that log URLs (httpx, httpcore, urllib3) are held at WARNING.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pipeline.redact import mask_email

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "QUIET",
    "RedactFilter",
    "TextFormatter",
    "configure_logging",
    "scrub",
    "scrub_text",
]

QUIET = ("httpx", "httpcore", "urllib3")
#: Attributes passed through ``extra`` that are copied into every line (ids, never personal data).
CONTEXT_FIELDS = ("merchant", "platform", "provider", "event_id", "delivery_id")
FILTERED = "[Filtered]"
LogFormat = Literal["text", "json"]

_SECRET_NAME = (
    r"[\w.-]{0,64}(?:api[_-]?key|apikey|token|secret|passw(?:or)?d|credential|signature|authorization)[\w.-]{0,64}"
)
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme + credential: Authorization headers, wherever they end up
    (re.compile(r"(?i)\b(Bearer|Klaviyo-API-Key)(\s{1,8})[A-Za-z0-9._~+/=:-]{4,}"), rf"\1\2{FILTERED}"),
    (re.compile(r"\b(Basic)(\s+)[A-Za-z0-9+/=]{8,}"), rf"\1\2{FILTERED}"),
    # well-known key shapes: Stripe-like / Klaviyo private keys, Svix webhook secrets
    (re.compile(r"\b(?:sk|pk|rk)_(?:live_|test_)?[A-Za-z0-9]{6,}\b"), FILTERED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{4,}"), FILTERED),
    # user:password@ in URLs (redis://:secret@host too)
    (re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,31}://)[^/\s:@]{0,256}:[^/\s@]{1,256}@"), rf"\1{FILTERED}@"),
    # api_key=..., "token": "...", password: ...
    (
        re.compile(rf"(?i)(?<![\w.-])({_SECRET_NAME})(['\"]?\s{{0,8}}[:=]\s{{0,8}}['\"]?)[^'\"\s,;&)}}\]]+"),
        rf"\1\2{FILTERED}",
    ),
    # phone=..., 'mobile': '...' (a phone in any format, bare digits included, next to its name)
    (
        re.compile(
            r"(?i)(?<![\w.-])([\w.-]{0,64}(?:phone|mobile|msisdn)[\w.-]{0,64})(['\"]?\s{0,8}[:=]\s{0,8}['\"]?)[^'\"\s,;&)}\]]+"
        ),
        rf"\1\2{FILTERED}",
    ),
)
_PHONE = re.compile(
    r"""
    (?<![\w+])
    (?: \+[1-9](?:[\s.-]?\d){6,14}                                  # E.164, maybe spaced
      | (?:\+?1[\s.-]?)?\(?[2-9]\d{2}\)?[\s.-]?\d{3}[\s.-]\d{4}     # NANP with separators
    )
    (?![\w])
""",
    re.VERBOSE,
)


def _mask_phone(match: re.Match[str]) -> str:
    return "***" + re.sub(r"\D", "", match.group(0))[-2:]


# query strings of URLs (emails and phones travel in them, and sometimes keys): scanned by
# ``_mask_queries``, which never looks at a character twice (a regex would rescan a long URL from
# every "http://" inside it: quadratic on a hostile string).
_URL_START = re.compile(r"(?i)\b(?:https?|wss?)://")
_URL_STOP = re.compile(r"[\s?#\"'<>]")
_QUERY_STOP = re.compile(r"[\s#\"'<>]")


def _mask_queries(text: str) -> str:
    out: list[str] = []
    done = 0
    start = _URL_START.search(text)
    while start is not None:
        stop = _URL_STOP.search(text, start.end())
        if stop is None:
            break
        resume = stop.start()
        if text[resume] == "?" and resume > start.end():
            end = _QUERY_STOP.search(text, resume + 1)
            resume = end.start() if end is not None else len(text)
            out += [text[done : stop.start() + 1], FILTERED]
            done = resume
        start = _URL_START.search(text, resume)
    out.append(text[done:])
    return "".join(out)


def scrub_text(text: str) -> str:
    """``text`` with credentials, query strings, emails and phone numbers masked (linear time)."""
    for pattern, replacement in _SECRETS[:5]:
        text = pattern.sub(replacement, text)
    text = _mask_queries(text)
    for pattern, replacement in _SECRETS[5:]:
        text = pattern.sub(replacement, text)
    return _PHONE.sub(_mask_phone, mask_email(text))


def scrub(value: Any) -> Any:
    """``scrub_text`` applied to every string in a JSON-like value (dict keys included)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


class RedactFilter(logging.Filter):
    """Masks the message and its arguments (they are merged first: a masked argument could
    otherwise no longer fit its ``%d``). Installed on handlers, so it sees every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = scrub_text(message), None
        return True


def _context(record: logging.LogRecord) -> dict[str, str]:
    return {
        name: scrub_text(str(value))
        for name in CONTEXT_FIELDS
        if (value := getattr(record, name, None)) is not None and value != ""
    }


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message merchant=... platform=...``; exception text masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        head, sep, rest = line.partition("\n")  # context goes on the message line, before a traceback
        context = " ".join(f"{k}={v}" for k, v in _context(record).items())
        return (f"{head} {context}" if context else head) + sep + rest

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return scrub_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return scrub_text(super().formatStack(stack_info))


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
            **_context(record),
        }
        if record.exc_info:
            payload["exception"] = scrub_text(self.formatException(record.exc_info))
        elif record.exc_text:
            payload["exception"] = scrub_text(record.exc_text)
        if record.stack_info:
            payload["stack"] = scrub_text(self.formatStack(record.stack_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", *, fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """(Re)configure the root logger: one handler of ours, replaced on every call.

    Handlers installed by others (pytest, gunicorn's own loggers) are left alone.

    Raises:
        ValueError: ``fmt`` is neither ``text`` nor ``json``, or ``level`` is unknown.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_lp_handler", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._lp_handler = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactFilter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
