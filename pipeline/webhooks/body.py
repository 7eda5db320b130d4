"""Opening an accepted webhook body: strict UTF-8, JSON, bounded nesting.

Whatever the bytes are, ``parse`` returns the value or a reason, never raises: a body that was
signed correctly but cannot be read is quarantined with that reason (``WebhookIntake``), not lost
and not mangled (no U+FFFD replacement: a record with altered bytes must not be handed over).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "excerpt", "parse"]

#: Deepest nesting accepted (documented payloads nest 4 levels; Okendo reviews 5).
MAX_DEPTH = 32
#: Characters of an unreadable body kept in its quarantine entry.
EXCERPT_CHARS = 10_000


def excerpt(body: bytes | str) -> str:
    """The start of ``body`` as text; bytes that are not UTF-8 appear as ``\\xNN`` escapes."""
    if isinstance(body, bytes):
        return body[: EXCERPT_CHARS * 4].decode("utf-8", errors="backslashreplace")[:EXCERPT_CHARS]
    return body[:EXCERPT_CHARS]


def _too_deep(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse(body: bytes | str, *, max_depth: int = MAX_DEPTH) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, reason)`` naming what is wrong and where."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"body is not UTF-8: invalid byte 0x{body[exc.start]:02x} at offset {exc.start}"
    else:
        text = body
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "body is not JSON we can read: it nests deeper than the parser allows"
    except ValueError as exc:  # e.g. an integer longer than Python's int digit limit
        return None, f"body is not JSON we can read: {str(exc)[:120]}"
    if _too_deep(value, max_depth):
        return None, f"body nests deeper than {max_depth} levels"
    return value, None
