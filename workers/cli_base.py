"""What every ``loyalty-pipeline`` operator command shares: the wiring, the check that a merchant
or platform is known, and the ``connection`` group (``workers/cli.py``, ``cli_dlq.py`` and
``cli_console.py`` attach commands to it), so that those modules import this one and not each other."""

from __future__ import annotations

import sys
from typing import Any

import click

from pipeline.cli import main as cli
from pipeline.destinations.registry import platform_kinds
from pipeline.providers.registry import provider_kinds

__all__ = ["PLATFORMS", "PROVIDERS", "_known", "_runtime", "connection", "main"]

PROVIDERS = provider_kinds()
PLATFORMS = platform_kinds()
main = cli  # the group the commands below attach to; ``main()`` at the end wraps it


def _runtime(*, secrets: bool = True) -> Any:
    """The wiring. ``secrets=False``: for commands that send nothing, without importing the
    Celery app and without requiring every merchant's credential variable."""
    if secrets:
        from workers.app import runtime

        return runtime
    from pipeline.config import load_connections
    from pipeline.errors import ConfigError
    from pipeline.settings import Settings
    from workers.wiring import Runtime

    try:
        settings = Settings.from_env()
        return Runtime(settings, load_connections(settings.connections_file, require_secrets=False))
    except ConfigError as exc:
        click.echo(f"loyalty-pipeline: configuration error: {exc}", err=True)
        sys.exit(2)


def _known(rt: Any, merchant: str | None = None, platform: str | None = None) -> None:
    """Exit 2 with a message for a merchant not in the connections file, or a platform it does
    not connect (or no merchant connects)."""
    if merchant is not None and merchant not in rt.connections:
        click.echo(
            f"unknown merchant {merchant!r}: not in {rt.settings.connections_file} "
            f"(known: {', '.join(sorted(rt.connections)) or 'none'})",
            err=True,
        )
        sys.exit(2)
    if platform is not None:
        connected = (
            {p.kind for c in rt.connections.values() for p in c.platforms}
            if merchant is None
            else {p.kind for p in rt.connections[merchant].platforms}
        )
        if platform not in connected:
            where = f"{merchant} connects" if merchant else "connected platforms are"
            click.echo(f"unknown platform {platform!r}: {where} {', '.join(sorted(connected)) or 'none'}", err=True)
            sys.exit(2)


@main.group()
def connection() -> None:
    """Platform connections paused by a refused credential or the dead-letter guard."""
