"""Redis answers as text. The clients this project builds do not decode responses (answers are
bytes), while redis-py types every answer ``bytes | str`` since ``decode_responses`` is a
run-time choice; these read either, so the type checker and the code agree."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["text", "text_map"]


def text(value: bytes | str) -> str:
    """``value`` as text (UTF-8)."""
    return value.decode() if isinstance(value, bytes) else value


def text_map(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """A hash (``HGETALL``) as text keys and values."""
    return {text(k): text(v) for k, v in raw.items()}
