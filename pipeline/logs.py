"""Logging setup (kept for its import path): see ``pipeline.observability.logs``.

Libraries that would log URLs (which can carry emails or phone numbers in query strings) are
held at WARNING, and a filter masks personal data and credentials in every line."""

from __future__ import annotations

from pipeline.observability.logs import QUIET, configure_logging

__all__ = ["QUIET", "configure_logging"]
