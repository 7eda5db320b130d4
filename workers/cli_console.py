"""The console's CLI twins: ``console`` (serve it), ``customer`` (the lookup) and
``connection list``. Listings' ``--json`` print JSON lines (see workers/cli.py)."""

from __future__ import annotations

import json
import sys

import click

from pipeline.redact import mask
from workers.cli_base import _runtime, connection, main

__all__: list[str] = []


@main.command()
@click.option(
    "--bind",
    default="127.0.0.1:8081",
    show_default=True,
    envvar="CONSOLE_BIND",
    help="HOST:PORT. Off loopback, CONSOLE_TOKEN must be set.",
)
@click.option("--threads", default=8, show_default=True)
def console(bind: str, threads: int) -> None:
    """Serve the operator console (overview, dead letters, quarantine, customers, connections)."""
    from pipeline.errors import ConfigError
    from workers.console import serve

    try:
        serve(bind, threads=threads)
    except ConfigError as exc:
        click.echo(f"loyalty-pipeline console: refusing to start: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.argument("who")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: one delivery (its latest state) per line.")
def customer(who: str, as_json: bool) -> None:
    """What happened to the deliveries of the customer with this email or phone (hashed for the
    lookup; output masked)."""
    from pipeline.state.trail import identity, latest_per_delivery

    rt = _runtime(secrets=False)
    trail = rt.trail.lookup(identity(who))
    groups = latest_per_delivery(trail)
    if as_json:
        for latest, history in groups:
            click.echo(json.dumps(mask({**latest.__dict__, "history": [h.outcome for h in history]}), sort_keys=True))
        return
    if not groups:
        click.echo(f"nothing recorded for {mask(who)} (the trail keeps {rt.settings.dedup_ttl_s // 86400} days)")
        return
    click.echo(f"{'WHEN':<20} {'MERCHANT':<18} {'PLATFORM':<10} {'STATE':<13} WHAT / DETAIL")
    for latest, _ in groups:
        detail = {
            "delivered": f"key {latest.delivery_id}",
            "dead_lettered": f"dlq {latest.dlq_id}: {latest.detail}",
            "retrying": f"answered {latest.http_status or latest.detail}",
        }.get(latest.outcome, latest.detail)
        click.echo(
            f"{latest.at[:19]:<20} {latest.merchant:<18} {latest.platform:<10} {latest.outcome:<13} "
            f"{latest.name}: {mask(detail)}"
        )


@connection.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: one platform connection per line.")
def connection_list(as_json: bool) -> None:
    """Every platform connection: paused or sending (and why), the provider credential's state."""
    rt = _runtime(secrets=False)
    pauses, creds = rt.pauses, rt.credentials
    for merchant, conn in sorted(rt.connections.items()):
        cred = creds.get(merchant, "provider", conn.provider.kind)
        for account in conn.platforms:
            pause = pauses.get(merchant, account.kind)
            row = {
                "merchant": merchant,
                "provider": conn.provider.kind,
                "platform": account.kind,
                "paused": {
                    "reason": mask(pause.reason),
                    "since": pause.since.isoformat(),
                    "until": pause.until.isoformat() if pause.until else None,
                }
                if pause
                else None,
                "provider_credential_failing": mask(cred.reason) if cred else None,
            }
            if as_json:
                click.echo(json.dumps(row, sort_keys=True))
            else:
                state = f"PAUSED: {row['paused']['reason']}" if pause else "sending"
                click.echo(f"{merchant:<20} {conn.provider.kind:<8} → {account.kind:<10} {state}")
