"""The ``loyalty-pipeline`` command."""

from __future__ import annotations

import sys

import click

from pipeline.destinations.registry import platform_kinds
from pipeline.providers.registry import provider_kinds

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="loyalty-pipeline", prog_name="loyalty-pipeline")  # the installed distribution's
def main() -> None:
    """Move loyalty activity from loyalty programs to messaging platforms."""


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
@click.option(
    "--resource",
    help="Resource of every line (e.g. points_transactions). Without it, each line is a "
    "whole webhook delivery whose envelope names its resource.",
)
@click.option("--platform", type=click.Choice(platform_kinds()), help="Print exactly what this platform would receive.")
@click.option("--event", help="For Omneo pushes: the trigger their x-omneo-event header names (e.g. reward.issued).")
def transform(provider: str, resource: str | None, platform: str | None, event: str | None) -> None:
    """Map raw provider records (JSON lines on stdin) to events and property updates (JSON lines on stdout)."""
    import json

    from pipeline.transform.offline import transform_lines

    invalid = 0
    stdin = click.open_file("-")
    for result in transform_lines(stdin, provider=provider, resource=resource, platform=platform, event=event):
        if result.error is not None:
            invalid += 1
            click.echo(f"line {result.line}: {result.error}", err=True)
        for output in result.outputs:
            click.echo(json.dumps(output, sort_keys=True))
    if invalid:
        click.echo(f"{invalid} invalid line(s)", err=True)
        sys.exit(1)
