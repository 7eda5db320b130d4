"""Logging setup. Libraries that would log URLs (which can carry emails or phone numbers in
query strings) are held at WARNING."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

QUIET = ("httpx", "httpcore", "urllib3")


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
