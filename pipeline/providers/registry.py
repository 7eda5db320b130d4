"""The providers: one spec per line. A new provider adds its connector module (ending with its
``SPEC``) and one line here; everything keyed by provider kind is read from these specs."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.providers import okendo, omneo, rediem, smile
from pipeline.providers.http import HttpProvider
from pipeline.providers.spec import ProviderSpec

__all__ = ["PROVIDERS", "PROVIDER_SPECS", "WEBHOOK_EVENT_HEADERS", "WEBHOOK_SCHEMES", "provider_kinds", "provider_spec"]

PROVIDER_SPECS: tuple[ProviderSpec, ...] = (
    smile.SPEC,
    okendo.SPEC,
    rediem.SPEC,
    omneo.SPEC,
)

#: provider kind → connector class
PROVIDERS: Mapping[str, type[HttpProvider]] = {s.kind: s.provider for s in PROVIDER_SPECS}

#: provider kind → signature scheme of its webhook deliveries (pipeline.webhooks.signatures)
WEBHOOK_SCHEMES: Mapping[str, str] = {s.kind: s.webhook_scheme for s in PROVIDER_SPECS if s.webhook_scheme}

#: provider kind → the header naming a delivery's event, where the body does not
WEBHOOK_EVENT_HEADERS: Mapping[str, str] = {
    s.kind: s.webhook_event_header for s in PROVIDER_SPECS if s.webhook_event_header
}


def provider_kinds() -> tuple[str, ...]:
    return tuple(s.kind for s in PROVIDER_SPECS)


def provider_spec(kind: str) -> ProviderSpec:
    for spec in PROVIDER_SPECS:
        if spec.kind == kind:
            return spec
    raise ValueError(f"unknown provider {kind!r}; known: {', '.join(provider_kinds())}")
