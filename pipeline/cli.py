"""The ``loyalty-pipeline`` command."""

from __future__ import annotations

import os
import sys
import time

import click

from pipeline.destinations.registry import platform_kinds
from pipeline.providers.registry import provider_kinds

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="loyalty-pipeline", prog_name="loyalty-pipeline")  # the installed distribution's
def main() -> None:
    """Move loyalty activity from loyalty programs to messaging platforms."""


@main.command()
@click.option("--merchants", default=4, show_default=True, help="Smile merchants (each with its own Postscript shop).")
@click.option("--customers", default=300, show_default=True, help="Smile customers, spread over the Smile merchants.")
@click.option("--transactions", default=2000, show_default=True, help="Smile points transactions, spread likewise.")
@click.option("--providers", default="smile,okendo,omneo,rediem", show_default=True,
              help="Providers to include (one merchant each for okendo, omneo and rediem).")
@click.option("--members", default=25, show_default=True, help="Members per Okendo/Omneo/Rediem merchant.")
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, help="Give up after this many seconds.")
@click.option("--postscript-rate", "postscript_rate", default=15.0, show_default=True,
              help="Requests/s the simulated Postscript allows per shop (the real limit is 15).")
@click.option("--no-fake-redis", is_flag=True, help="Fail instead of falling back to the embedded fakeredis server.")
@click.option("--customer-read-merchants", "read_only", default=1, show_default=True,
              help="How many of the Smile merchants have a key with only customer:read (seed 002).")
def demo(merchants: int, customers: int, transactions: int, providers: str, members: int, timeout_s: float,
         postscript_rate: float, no_fake_redis: bool, read_only: int) -> None:
    """Run the pipeline end to end on simulators; exit 0 only if every event arrived exactly once."""
    from pipeline.demo import DemoOptions, run_demo

    chosen = tuple(p.strip() for p in providers.split(",") if p.strip())
    unknown = set(chosen) - {"smile", "okendo", "omneo", "rediem"}
    if unknown:
        raise click.BadParameter(f"unknown provider(s): {', '.join(sorted(unknown))}", param_hint="--providers")
    opts = DemoOptions(merchants=merchants, customers=customers, transactions=transactions, providers=chosen,
                       members=members, timeout_s=timeout_s, postscript_rate_per_s=postscript_rate,
                       redis_url=os.environ.get("REDIS_URL") or None, allow_fake_redis=not no_fake_redis,
                       smile_customer_read_only=read_only)
    try:
        result = run_demo(opts, say=lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        click.echo("interrupted; everything the demo started has been stopped", err=True)
        sys.exit(130)
    c = result.counters
    rows = [
        ("pulled", c["pulled"]), ("quarantined", c["quarantined"]), ("transformed", c["transformed"]),
        ("delivered", c["delivered"]), ("skipped (not a subscriber)", c["skipped"]),
        ("failed attempts (retried)", c["retried"]), ("dead-lettered", c["dead_lettered"]),
        *((f"{p} events expected / received", f"{w} / {g}") for p, (w, g) in result.by_provider.items()),
        ("redis", result.redis), ("elapsed", f"{result.elapsed_s:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
    for problem in result.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    click.echo("demo OK" if result.ok else "demo FAILED")
    sys.exit(0 if result.ok else 1)


@main.command()
@click.option("--provider", type=click.Choice(provider_kinds()), help="Only this provider.")
@click.option("--platform", type=click.Choice(platform_kinds()), help="Only this platform.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def catalog(provider: str | None, platform: str | None, fmt: str) -> None:
    """Print the event catalog: every event and profile property, per provider and platform."""
    from pipeline.transform.describe import entries, render

    click.echo(render(entries(provider, platform), fmt), nl=False)


@main.command()
@click.option("--provider", required=True, type=click.Choice(provider_kinds()))
@click.option("--resource", help="Resource of every line (e.g. points_transactions). Without it, each line is a "
                                 "whole webhook delivery whose envelope names its resource.")
@click.option("--platform", type=click.Choice(platform_kinds()),
              help="Print exactly what this platform would receive.")
@click.option("--event", help="For Omneo pushes: the trigger their x-omneo-event header names (e.g. reward.issued).")
def transform(provider: str, resource: str | None, platform: str | None, event: str | None) -> None:
    """Map raw provider records (JSON lines on stdin) to events and property updates (JSON lines on stdout)."""
    import json

    from pipeline.transform.offline import transform_lines

    invalid = 0
    stdin = click.open_file("-")
    for result in transform_lines(stdin, provider=provider, resource=resource, platform=platform,
                                  event=event):
        if result.error is not None:
            invalid += 1
            click.echo(f"line {result.line}: {result.error}", err=True)
        for output in result.outputs:
            click.echo(json.dumps(output, sort_keys=True))
    if invalid:
        click.echo(f"{invalid} invalid line(s)", err=True)
        sys.exit(1)


@main.command()
@click.option("--port", "first_port", default=8101, show_default=True,
              help="Smile listens here; Postscript, Okendo, Omneo and Rediem on the next four ports.")
@click.option("--customers", default=100, show_default=True)
@click.option("--transactions", default=1000, show_default=True)
def simulate(first_port: int, customers: int, transactions: int) -> None:
    """Serve seeded simulators of Smile, Postscript, Okendo, Omneo and Rediem on loopback until Ctrl-C."""
    from pipeline.sim import OkendoSimulator, OmneoSimulator, PostscriptSimulator, RediemSimulator, SmileSimulator
    from pipeline.sim.seed import seed_demo, seed_omneo, seed_rediem

    smile = SmileSimulator(port=first_port).start()
    postscript = PostscriptSimulator(port=first_port + 1).start()
    okendo = OkendoSimulator(port=first_port + 2).start()
    omneo = OmneoSimulator(port=first_port + 3).start()
    rediem = RediemSimulator(port=first_port + 4).start()
    summary = seed_demo(smile.add_account("smile_sim_key"), postscript.add_shop("sk_sim_key"),
                        customers=customers, transactions=transactions)
    okendo.add_store("sim-user", "okendo_sim_key")
    seed_omneo(omneo.add_tenant("omneo_sim_token"), profiles=25, events=150)
    seed_rediem(rediem.add_program("rediem_sim_credential"), members=25, activities=150)
    rows = [("smile", f"{smile.base_url}/v1", "Bearer smile_sim_key"),
            ("postscript", postscript.base_url, "Bearer sk_sim_key"),
            ("okendo", f"{okendo.base_url}/enterprise", "Basic sim-user:okendo_sim_key"),
            ("omneo", f"{omneo.base_url}/api/v3", "Bearer omneo_sim_token"),
            ("rediem", rediem.base_url, "Bearer rediem_sim_credential")]
    for name, url, auth in rows:
        click.echo(f"{name:<11}{url:<40}{auth}")
    click.echo(f"smile: {summary.customers} customers, {summary.transactions} transactions; Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for sim in (smile, postscript, okendo, omneo, rediem):
            sim.stop()
