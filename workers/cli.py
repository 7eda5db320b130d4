"""The ``loyalty-pipeline`` command: the library's commands plus those that need the
workers' wiring (the connections file, Redis, the Celery queues).

``workers.app`` is imported inside each command, so ``demo``, ``catalog`` and friends work
without any configuration. Operator commands that send nothing (``status``, ``dlq``,
``connection``, ``customer``, ``console``) read the connections file without requiring every
merchant's credential variable (``_runtime(secrets=False)``).

Conventions (docs/operations.md): every listing's ``--json`` prints JSON lines, one object per
line (``dlq list``, ``quarantine list``, ``connection list``, ``customer``); reports print one
JSON document (``status --json``, ``dlq show``). An unknown merchant or platform exits 2 with
a message; Redis not answering prints one line and exits 1.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC
from typing import Any

import click
import redis

from pipeline.cli import main as cli
from pipeline.destinations.registry import platform_kinds
from pipeline.providers.registry import provider_kinds
from pipeline.redact import mask

__all__ = ["main"]

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
def quarantine() -> None:
    """Provider records that failed validation: list them, re-drive them after a fix."""


@quarantine.command("list")
@click.option("--provider", type=click.Choice(PROVIDERS), help="Only this provider.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines, for scripts (payloads masked).")
def quarantine_list(provider: str | None, limit: int, as_json: bool) -> None:
    """List quarantined records with the field and reason."""
    from pipeline.quarantine import entries

    journal = _runtime(secrets=False).journal
    rows = [e for p in ([provider] if provider else PROVIDERS) for e in entries(journal, p, count=limit)]
    if as_json:
        for e in rows:
            click.echo(
                json.dumps(
                    {
                        "id": e.id,
                        "merchant": e.merchant,
                        "provider": e.provider,
                        "resource": e.resource,
                        "field": e.field,
                        "error": e.error,
                        "at": e.at,
                        "payload": mask(dict(e.payload)),
                    },
                    sort_keys=True,
                )
            )
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
    from pipeline.types import Record

    rt = _runtime()

    def handover(merchant: str, records: list[Record]) -> None:
        rt.ingestor(merchant, rt.enqueue_for(merchant)).hand_over(records)

    report = redrive(rt.journal, provider, handover=handover, ids=ids or None, dry_run=dry_run)
    verb = "would re-drive" if dry_run else "re-drove"
    click.echo(f"{verb} {len(report.redriven)} record(s); {len(report.still_invalid)} still invalid")
    for entry_id, reason in report.still_invalid.items():
        click.echo(f"  {entry_id}: {mask(reason)}", err=True)
    sys.exit(1 if report.still_invalid else 0)


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


def _row(e: Any) -> dict[str, Any]:
    return {
        "id": e.id,
        "merchant": e.merchant,
        "platform": e.platform,
        "kind": e.kind,
        "event": e.event_name,
        "error_class": e.error_class,
        "http_status": e.http_status,
        "reason": mask(e.reason),
        "attempts": len(e.attempts),
        "dead_lettered_at": e.dead_lettered_at.isoformat(),
    }


@main.group()
def dlq() -> None:
    """Dead-lettered deliveries: list, show, replay (through the normal delivery path), purge."""


@dlq.command("list")
@_dlq_filters
@click.option("--json", "as_json", is_flag=True, help="JSON lines, for scripts.")
@click.option("--limit", default=200, show_default=True)
def dlq_list(as_json: bool, limit: int, **filters: Any) -> None:
    """List dead-lettered deliveries (personal data masked)."""
    rows = [_row(e) for e in _selected(**filters)[:limit]]
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
                    **_row(e),
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


@main.group()
def connection() -> None:
    """Platform connections paused by a refused credential or the dead-letter guard."""


@connection.command("resume")
@click.argument("merchant")
@click.argument("platform")
def connection_resume(merchant: str, platform: str) -> None:
    """Resume a paused platform connection; its waiting deliveries go out again."""
    rt = _runtime(secrets=False)
    _known(rt, merchant, platform)
    pauses = rt.pauses
    was = pauses.get(merchant, platform)
    pauses.resume(merchant, platform)
    click.echo(
        f"resumed {merchant}/{platform}" + (f" (was paused: {mask(was.reason)})" if was else " (was not paused)")
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for scripts and dashboards.")
def status(as_json: bool) -> None:
    """Queues, due deliveries, dead-letters, quarantine, per-connection lag, credentials, limiters."""
    from pipeline.status import collect, render
    from workers.config import queue_names

    rt = _runtime(secrets=False)
    bulk = {m: p for m in rt.connections if (p := rt.bulk_progress.get(m))}
    data = collect(rt.status_stores(), rt.connections, queue_names(), rt.clock.now(), bulk=bulk)
    click.echo(json.dumps(data, indent=2, sort_keys=True) if as_json else render(data), nl=not as_json)


@main.group()
def sync() -> None:
    """Run syncs by hand."""


@sync.command("initial")
@click.option("--connection", "merchant", required=True, help="The merchant id in the connections file.")
@click.option("--full", is_flag=True, help="Resend every property, even those the platform already has.")
def sync_initial(merchant: str, full: bool) -> None:
    """Upsert every customer of the provider on every connected platform; resumable after Ctrl-C."""
    from tqdm import tqdm

    from workers.config import BULK_QUEUE

    rt = _runtime()
    try:
        conn = rt.connection(merchant)
    except KeyError as exc:
        raise click.BadParameter(str(exc), param_hint="--connection") from None
    job = rt.bulk_sync(merchant, BULK_QUEUE, full=full)
    progress = rt.bulk_progress
    bar = tqdm(desc=f"{merchant} ({conn.provider.kind})", unit=" customers", dynamic_ncols=True)
    try:
        report = job.run(on_page=bar.update)
    except KeyboardInterrupt:
        progress.update(merchant, {"status": "interrupted"})
        bar.close()
        click.echo("interrupted: run the same command again to resume from the last page", err=True)
        sys.exit(130)
    bar.close()
    click.echo(
        f"{'resumed and ' if report.resumed else ''}handed over {report.customers} customers "
        f"({report.deliveries} profile updates) to the bulk queue; `loyalty-pipeline status` shows delivery"
    )


import workers.cli_console  # noqa: E402  (console, customer, connection list)
import workers.cli_sandbox  # noqa: E402,F401  (demo, simulate)


def main(args: list[str] | None = None, **kwargs: Any) -> Any:  # type: ignore[no-redef]
    """The ``loyalty-pipeline`` entry point: the click group, with Redis errors said in one line."""
    try:
        return cli.main(args, **kwargs)
    except redis.RedisError as exc:
        from pipeline.settings import Settings

        try:
            where = Settings.from_env().redis_url.rsplit("@", 1)[-1]
        except Exception:  # noqa: BLE001 - the settings are not what is wrong here
            where = "REDIS_URL"
        click.echo(
            f"loyalty-pipeline: Redis at {where} did not answer ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})",
            err=True,
        )
        sys.exit(1)
