"""Where each provider resource's wire shape comes from, in one word.

Every schema module (``pipeline/providers/schemas/<provider>.py``) exports
``SHAPES: dict[str, str]``, resource → one of:

* ``documented``: the provider publishes this shape (an OpenAPI document, a reference page,
  a verbatim example, or its own public SDK); the schema follows it field by field;
* ``inferred``: no published example of this resource, but its fields follow from documented
  neighbours (same API, same naming); parsed tolerantly;
* ``assumed``: nothing is published; the shape is ours until the provider confirms one.

``loyalty-pipeline catalog``, ``docs/events.md`` and the README's provider table show the word.
Events that no public source backs at all are listed by a catalog module's
``NO_PUBLIC_SOURCE`` (a set of event names) and shown as "no public source".
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType

from pipeline.providers.registry import provider_kinds

__all__ = ["NO_PUBLIC_SOURCE", "SHAPE_WORDS", "no_public_source", "shape", "shapes"]

SHAPE_WORDS = ("documented", "inferred", "assumed")
#: shown for an event listed in a catalog module's ``NO_PUBLIC_SOURCE``
NO_PUBLIC_SOURCE = "no public source"
#: shown for a resource its schema module has not labelled (a gap a test reports)
UNLABELLED = "unlabelled"


def _module(package: str, provider: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{package}.{provider}")
    except ModuleNotFoundError:
        return None


def shapes(provider: str) -> Mapping[str, str]:
    """resource → provenance word, as the provider's schema module declares it.

    Raises:
        ValueError: a declared word is not one of ``SHAPE_WORDS`` (a bug in the table).
    """
    module = _module("pipeline.providers.schemas", provider)
    table: Mapping[str, str] = getattr(module, "SHAPES", {}) if module else {}
    for name, word in table.items():
        if word not in SHAPE_WORDS:
            raise ValueError(f"{provider}.SHAPES[{name!r}] = {word!r}; expected one of {', '.join(SHAPE_WORDS)}")
    return table


def shape(provider: str, resource: str) -> str:
    """The provenance word of one resource ("unlabelled" if its module says nothing)."""
    return shapes(provider).get(resource, UNLABELLED)


def no_public_source(provider: str) -> frozenset[str]:
    """Event names the provider's catalog module marks as having no public source."""
    module = _module("pipeline.transform.catalog", provider)
    return frozenset(getattr(module, "NO_PUBLIC_SOURCE", ()) if module else ())


def providers() -> tuple[str, ...]:
    return provider_kinds()
