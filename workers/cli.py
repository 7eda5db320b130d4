"""The ``loyalty-pipeline`` command: the library's commands plus those that need the
workers' wiring (the connections file, Redis, the Celery queues).

``workers.app`` is imported inside each command, so ``demo``, ``catalog`` and friends work
without any configuration.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from pipeline.cli import main
from pipeline.redact import mask

__all__ = ["main"]

PROVIDERS = ("smile", "okendo", "rediem", "omneo")


def _runtime() -> Any:
    from workers.app import runtime

    return runtime


@main.group()
def quarantine() -> None:
    """Provider records that failed validation: list them, re-drive them after a fix."""


@quarantine.command("list")
@click.option("--provider", type=click.Choice(PROVIDERS), help="Only this provider.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, for scripts (payloads masked).")
def quarantine_list(provider: str | None, limit: int, as_json: bool) -> None:
    """List quarantined records with the field and reason."""
    from pipeline.quarantine import entries
    from pipeline.state.journal import RedisJournal

    journal = RedisJournal(_runtime().redis)
    rows = [e for p in ([provider] if provider else PROVIDERS) for e in entries(journal, p, count=limit)]
    if as_json:
        for e in rows:
            click.echo(json.dumps({"id": e.id, "merchant": e.merchant, "provider": e.provider,
                                   "resource": e.resource, "field": e.field, "error": e.error, "at": e.at,
                                   "payload": mask(dict(e.payload))}, sort_keys=True))
        return
    if not rows:
        click.echo("quarantine is empty")
        return
    for e in rows:
        click.echo(f"{e.id}  {e.provider}/{e.resource}  {e.merchant}  {e.field or '-'}  {mask(e.error)}")


@quarantine.command("redrive")
@click.option("--provider", type=click.Choice(PROVIDERS), required=True)
@click.option("--id", "ids", multiple=True, help="Only these entries (repeatable); default: all of the provider.")
@click.option("--dry-run", is_flag=True, help="Say what would be re-driven; change nothing.")
def quarantine_redrive(provider: str, ids: tuple[str, ...], dry_run: bool) -> None:
    """Decode quarantined records again; hand the valid ones to delivery and remove them."""
    from pipeline.quarantine import redrive
    from pipeline.state.journal import RedisJournal
    from pipeline.types import Delivery, Record
    from workers.config import delivery_queue
    from workers.tasks.deliver import deliver_batch

    rt = _runtime()

    def handover(merchant: str, records: list[Record]) -> None:
        def enqueue(platform: str, batch: list[Delivery]) -> None:
            deliver_batch.apply_async((merchant, platform, [d.to_dict() for d in batch]),
                                      queue=delivery_queue(platform))

        rt.ingestor(merchant, enqueue).hand_over(records)

    report = redrive(RedisJournal(rt.redis), provider, handover=handover, ids=ids or None, dry_run=dry_run)
    verb = "would re-drive" if dry_run else "re-drove"
    click.echo(f"{verb} {len(report.redriven)} record(s); {len(report.still_invalid)} still invalid")
    for entry_id, reason in report.still_invalid.items():
        click.echo(f"  {entry_id}: {mask(reason)}", err=True)
    sys.exit(1 if report.still_invalid else 0)
