"""The catalog as people read it: ``loyalty-pipeline catalog`` and ``docs/events.md``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pipeline.destinations.registry import ENCODINGS
from pipeline.providers.provenance import NO_PUBLIC_SOURCE, SHAPE_WORDS, no_public_source, shape, shapes
from pipeline.transform.catalog import EVENT_RULES, PLATFORMS, PROFILE_RULES, PROVIDERS
from pipeline.transform.rules import Each

__all__ = ["Entry", "entries", "render", "FORMATS"]

FORMATS = ("table", "json", "markdown")

_SHAPE_MEANING = {
    "documented": "the provider publishes it (reference, example or its own SDK)",
    "inferred": "no published example; follows documented neighbours, parsed tolerantly",
    "assumed": "nothing published; our shape until the provider confirms one",
}


@dataclass(frozen=True)
class Entry:
    kind: str  # "event" or "property"
    provider: str
    resource: str
    name: str
    platforms: tuple[str, ...]
    when: str
    properties: tuple[str, ...]
    source: str
    doc: str
    wire_names: dict[str, str]
    #: where the resource's shape comes from ("documented", "inferred", "assumed"), or "no
    #: public source" for an event nothing published backs (pipeline.providers.provenance)
    shape: str = ""


def _platforms(scope: tuple[str, ...] | None) -> tuple[str, ...]:
    return PLATFORMS if scope is None else tuple(p for p in PLATFORMS if p in scope)


def entries(provider: str | None = None, platform: str | None = None) -> list[Entry]:
    """Catalog entries, optionally for one provider and/or one platform."""
    if provider is not None and provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    if platform is not None and platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; known: {', '.join(PLATFORMS)}")
    out: list[Entry] = []
    for rule in EVENT_RULES:
        platforms = _platforms(rule.platforms)
        if (provider and rule.provider != provider) or (platform and platform not in platforms):
            continue
        out.append(
            Entry(
                kind="event",
                provider=rule.provider,
                resource=rule.stream,
                name=rule.event,
                platforms=platforms,
                when=" and ".join(c.describe() for c in rule.when),
                properties=tuple(rule.properties),
                source=rule.source,
                doc=rule.doc,
                wire_names={p: ENCODINGS[p].event_name(rule.event) for p in platforms if not platform or p == platform},
                shape=NO_PUBLIC_SOURCE
                if rule.event in no_public_source(rule.provider)
                else shape(rule.provider, rule.stream),
            )
        )
    for prule in PROFILE_RULES:
        platforms = _platforms(prule.platforms)
        if (provider and prule.provider != provider) or (platform and platform not in platforms):
            continue
        for name, expr in prule.properties.items():
            note = f"one property per entry of `{expr.path}`" if isinstance(expr, Each) else ""
            out.append(
                Entry(
                    kind="property",
                    provider=prule.provider,
                    resource=prule.stream,
                    name=name,
                    platforms=platforms,
                    when=" and ".join(c.describe() for c in prule.when),
                    properties=(),
                    source=prule.source,
                    doc=" ".join(filter(None, (prule.doc, note))),
                    wire_names={},
                    shape=shape(prule.provider, prule.stream),
                )
            )
    return out


def _table(rows: list[Entry]) -> str:
    header = ("KIND", "PROVIDER", "RESOURCE", "SHAPE", "NAME", "PLATFORMS", "PROPERTIES")
    body = [
        (
            e.kind,
            e.provider,
            e.resource,
            e.shape,
            e.name,
            ",".join(e.platforms),
            str(len(e.properties)) if e.kind == "event" else "-",
        )
        for e in rows
    ]
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    return (
        "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in (header, *body))
        + "\n"
    )


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(rows: list[Entry]) -> str:
    lines = [
        "# Event catalog",
        "",
        "Generated from `pipeline/transform/catalog/` by `loyalty-pipeline catalog --format markdown`;",
        "a test fails when this file is stale. Names are exactly those of the source documents",
        "(`shared/seeds`, column *seed*).",
        "",
        "Platform encodings of an event name:",
        "",
    ]
    lines += [f"- **{p}**: {ENCODINGS[p].rules}" for p in PLATFORMS]
    lines += [
        "",
        "Column *shape* says where a resource's wire shape comes from: "
        + "; ".join(f"**{w}**: {_SHAPE_MEANING[w]}" for w in SHAPE_WORDS)
        + f"; **{NO_PUBLIC_SOURCE}**: an event that no published source backs.",
    ]
    for provider in PROVIDERS:
        events = [e for e in rows if e.provider == provider and e.kind == "event"]
        props = [e for e in rows if e.provider == provider and e.kind == "property"]
        if not events and not props:
            continue
        labels = ", ".join(f"`{name}` {word}" for name, word in sorted(shapes(provider).items()))
        lines += [
            "",
            f"## {provider}",
            "",
            f"Resources: {labels or 'not labelled'}.",
            "",
            "### Events",
            "",
            "| event | resource | shape | when | platforms (wire name) | properties | seed |",
            "|---|---|---|---|---|---|---|",
        ]
        for e in events:
            wire = "<br>".join(f"{p}: `{n}`" for p, n in e.wire_names.items())
            lines.append(
                f"| **{_md_escape(e.name)}** | `{e.resource}` | {e.shape} | {_md_escape(e.when) or 'always'} | "
                f"{wire} | {_md_escape(', '.join(e.properties)) or '(none)'} | {e.source} |"
            )
        lines += [
            "",
            "### Profile properties",
            "",
            "| property | resource | shape | platforms | seed | notes |",
            "|---|---|---|---|---|---|",
        ]
        for e in props:
            lines.append(
                f"| {_md_escape(e.name)} | `{e.resource}` | {e.shape} | {', '.join(e.platforms)} | "
                f"{e.source} | {_md_escape(e.doc)} |"
            )
    return "\n".join(lines) + "\n"


def render(rows: list[Entry], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([asdict(e) for e in rows], indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(rows)
    if fmt == "table":
        return _table(rows)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
