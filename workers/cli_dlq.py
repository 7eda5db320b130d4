"""``loyalty-pipeline dlq``: list, show, replay and purge dead letters (docs/operations.md)."""

from __future__ import annotations

import json
import sys
from datetime import UTC
from typing import Any

import click

from pipeline.dlq import summary
from pipeline.redact import mask
from workers.cli_base import PLATFORMS, _known, _runtime, main

__all__ = ["dlq"]


def _dlq_filter(
    merchant: str | None,
    platform: str | None,
    error_class: str | None,
    status: int | None,
    event: str | None,
    since: str | None,
    until: str | None,
    ids: tuple[str, ...] = (),
) -> Any:
    from datetime import datetime

    from pipeline.dlq import DlqFilter

    def when(text: str | None, name: str) -> datetime | None:
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise click.BadParameter(f"not an ISO 8601 time: {text!r}", param_hint=name) from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    return DlqFilter(
        merchant=merchant,
        platform=platform,
        error_class=error_class,
        http_status=status,
        event_name=event,
        since=when(since, "--since"),
        until=when(until, "--until"),
        ids=frozenset(ids),
    )


def _dlq_filters(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--merchant"),
            click.option("--platform", type=click.Choice(PLATFORMS)),
            click.option("--error-class", help="e.g. FatalError, RetriableError, AuthError"),
            click.option("--status", type=int, help="HTTP status of the last attempt"),
            click.option("--event", help='event name, e.g. "Smile Points Earned"'),
            click.option("--since", help="ISO 8601; dead-lettered at or after"),
            click.option("--until", help="ISO 8601; dead-lettered before"),
        ]
    ):
        f = option(f)
    return f


def _selected(
    merchant: str | None,
    platform: str | None,
    error_class: str | None,
    status: int | None,
    event: str | None,
    since: str | None,
    until: str | None,
    ids: tuple[str, ...] = (),
) -> list[Any]:
    from pipeline.dlq import entries

    rt = _runtime(secrets=False)
    _known(rt, merchant, platform)
    pairs = [(m, p.kind) for m, c in sorted(rt.connections.items()) for p in c.platforms]
    return list(
        entries(rt.journal, pairs, _dlq_filter(merchant, platform, error_class, status, event, since, until, ids))
    )


@main.group()
def dlq() -> None:
    """Dead-lettered deliveries: list, show, replay (through the normal delivery path), purge."""


@dlq.command("list")
@_dlq_filters
@click.option("--json", "as_json", is_flag=True, help="JSON lines, for scripts.")
@click.option("--limit", default=200, show_default=True)
def dlq_list(as_json: bool, limit: int, **filters: Any) -> None:
    """List dead-lettered deliveries (personal data masked)."""
    rows = [summary(e) for e in _selected(**filters)[:limit]]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    if not rows:
        click.echo("dead-letter queue is empty for this filter")
        return
    click.echo(f"{'ID':<17} {'MERCHANT':<20} {'PLATFORM':<10} {'STATUS':<6} {'ERROR':<15} EVENT / REASON")
    for r in rows:
        click.echo(
            f"{r['id']:<17} {r['merchant']:<20} {r['platform']:<10} {r['http_status'] or '-'!s:<6} "
            f"{r['error_class']:<15} {r['event'] or r['kind']}: {r['reason'][:80]}"
        )


@dlq.command("show")
@click.argument("entry_id")
def dlq_show(entry_id: str) -> None:
    """Everything about one entry, every attempt included (personal data masked)."""
    found = _selected(None, None, None, None, None, None, None, (entry_id,))
    if not found:
        click.echo(f"no dead-letter entry {entry_id}", err=True)
        sys.exit(1)
    e = found[0]
    item = e.delivery.item
    click.echo(
        json.dumps(
            mask(
                {
                    **summary(e),
                    "delivery_id": e.delivery.id,
                    "response_excerpt": e.response_excerpt,
                    "attempts": e.attempts,
                    "properties": {k: str(v) for k, v in item.properties.items()},
                    "customer": item.customer.to_dict(),
                }
            ),
            indent=2,
            sort_keys=True,
        )
    )


@dlq.command("replay")
@_dlq_filters
@click.option("--id", "ids", multiple=True, help="Only these entries (repeatable).")
@click.option(
    "--share",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.01, 1.0),
    help="Most of a platform's rate the replay may take, so live traffic keeps flowing.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; change nothing.")
def dlq_replay(ids: tuple[str, ...], share: float, dry_run: bool, **filters: Any) -> None:
    """Deliver the matching entries again; each leaves the queue once its replay succeeded."""
    from pipeline.dlq import replay

    rt = _runtime(secrets=False)
    selected = _selected(**filters, ids=ids)
    rates = {(m, p.kind): p.rate_per_s for m, c in rt.connections.items() for p in c.platforms}
    report = replay(selected, due=rt.due, clock=rt.clock, share=share, rates=rates, dry_run=dry_run)
    verb = "would replay" if dry_run else "replaying"
    click.echo(
        f"{verb} {report.replayed} entr{'y' if report.replayed == 1 else 'ies'} in {report.batches} "
        f"batch(es), paced over {report.paced_over_s:.0f}s at {share:.0%} of each platform's rate"
    )
    for connection, n in sorted(report.by_connection.items()):
        click.echo(f"  {connection}: {n}")


@dlq.command("purge")
@_dlq_filters
@click.option("--id", "ids", multiple=True, help="Only these entries (repeatable).")
@click.option("--dry-run", is_flag=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dlq_purge(ids: tuple[str, ...], dry_run: bool, yes: bool, **filters: Any) -> None:
    """Remove the matching entries for good."""
    from pipeline.dlq import purge

    selected = _selected(**filters, ids=ids)
    if not selected:
        click.echo("nothing matches")
        return
    if not dry_run and not yes:
        click.confirm(f"purge {len(selected)} dead-letter entries for good?", abort=True)
    n = purge(_runtime(secrets=False).journal, selected, dry_run=dry_run)
    click.echo(f"{'would purge' if dry_run else 'purged'} {n} entr{'y' if n == 1 else 'ies'}")
