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
from typing import Any

import click
import redis

from pipeline.cli import main as cli
from pipeline.redact import mask
from workers.cli_base import PROVIDERS, _known, _runtime, connection, main

__all__ = ["main"]


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
import workers.cli_dlq  # noqa: E402  (dlq)
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
