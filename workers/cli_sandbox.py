"""The sandbox's commands: ``demo`` (the whole pipeline end to end on simulators) and
``simulate`` (the simulators alone, by hand). The only ``workers/`` code that imports
``sandbox`` (tests/test_architecture.py holds it to that), and only inside the commands, so
the production image, which has no ``sandbox`` package, still loads the CLI."""

from __future__ import annotations

import os
import sys
import time
from typing import NoReturn

import click

from pipeline.cli import main  # the group workers/cli.py serves (not workers.cli: no import cycle)

__all__: list[str] = []


def _sandbox_missing(exc: ModuleNotFoundError) -> NoReturn:
    """Say so in one line when the sandbox package is absent (the production image); re-raise anything else."""
    if (exc.name or "").split(".")[0] != "sandbox":
        raise exc
    raise click.ClickException(
        "the sandbox package (simulators and demo) is not installed here: it is left out of "
        'the production image; run this from a checkout (pip install -e ".[dev]")'
    )


@main.command()
@click.option("--merchants", default=4, show_default=True, help="Smile merchants (each with its own Postscript shop).")
@click.option("--customers", default=300, show_default=True, help="Smile customers, spread over the Smile merchants.")
@click.option("--transactions", default=2000, show_default=True, help="Smile points transactions, spread likewise.")
@click.option(
    "--providers",
    default="smile,okendo,omneo,rediem",
    show_default=True,
    help="Providers to include (one merchant each for okendo, omneo and rediem).",
)
@click.option("--members", default=25, show_default=True, help="Members per Okendo/Omneo/Rediem merchant.")
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, help="Give up after this many seconds.")
@click.option(
    "--postscript-rate",
    "postscript_rate",
    default=15.0,
    show_default=True,
    help="Requests/s the simulated Postscript allows per shop (the real limit is 15).",
)
@click.option("--no-fake-redis", is_flag=True, help="Fail instead of falling back to the embedded fakeredis server.")
@click.option(
    "--customer-read-merchants",
    "read_only",
    default=1,
    show_default=True,
    help="How many of the Smile merchants have a key with only customer:read (seed 002).",
)
def demo(
    merchants: int,
    customers: int,
    transactions: int,
    providers: str,
    members: int,
    timeout_s: float,
    postscript_rate: float,
    no_fake_redis: bool,
    read_only: int,
) -> None:
    """Run the pipeline end to end on simulators; exit 0 only if every event arrived exactly once."""
    try:
        from sandbox.demo import DemoOptions, run_demo
    except ModuleNotFoundError as exc:
        _sandbox_missing(exc)

    chosen = tuple(p.strip() for p in providers.split(",") if p.strip())
    unknown = set(chosen) - {"smile", "okendo", "omneo", "rediem"}
    if unknown:
        raise click.BadParameter(f"unknown provider(s): {', '.join(sorted(unknown))}", param_hint="--providers")
    opts = DemoOptions(
        merchants=merchants,
        customers=customers,
        transactions=transactions,
        providers=chosen,
        members=members,
        timeout_s=timeout_s,
        postscript_rate_per_s=postscript_rate,
        redis_url=os.environ.get("REDIS_URL") or None,
        allow_fake_redis=not no_fake_redis,
        smile_customer_read_only=read_only,
    )
    try:
        result = run_demo(opts, say=lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        click.echo("interrupted; everything the demo started has been stopped", err=True)
        sys.exit(130)
    c = result.counters
    rows = [
        ("pulled", c["pulled"]),
        ("quarantined", c["quarantined"]),
        ("transformed", c["transformed"]),
        ("delivered", c["delivered"]),
        ("skipped (not a subscriber)", c["skipped"]),
        ("failed attempts (retried)", c["retried"]),
        ("dead-lettered", c["dead_lettered"]),
        *((f"{p} events expected / received", f"{w} / {g}") for p, (w, g) in result.by_provider.items()),
        ("redis", result.redis),
        ("elapsed", f"{result.elapsed_s:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")
    for problem in result.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    click.echo("demo OK" if result.ok else "demo FAILED")
    sys.exit(0 if result.ok else 1)


@main.command()
@click.option(
    "--port",
    "first_port",
    default=8101,
    show_default=True,
    help="Smile listens here; Postscript, Okendo, Omneo, Rediem, Attentive and Klaviyo on the next six "
    "ports (0: any free ports).",
)
@click.option("--customers", default=100, show_default=True)
@click.option("--transactions", default=1000, show_default=True)
def simulate(first_port: int, customers: int, transactions: int) -> None:
    """Serve seeded simulators of every provider and platform the demo uses, on loopback, until Ctrl-C."""
    try:
        from sandbox.simulate import serve_simulators
    except ModuleNotFoundError as exc:
        _sandbox_missing(exc)

    with serve_simulators(first_port, customers=customers, transactions=transactions) as sims:
        for s in sims.served:
            click.echo(f"{s.name:<11}{s.base_url:<40}{s.authorization}")
        click.echo(f"smile: {sims.smile.customers} customers, {sims.smile.transactions} transactions; Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
