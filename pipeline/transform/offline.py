"""``loyalty-pipeline transform``: raw provider records in (JSON lines), what the pipeline
would deliver out. Change events that need a previous snapshot (tier changed) do not fire
here, as on the first sight of a record; Okendo's per-customer aggregates (reviews, surveys,
referrals) accumulate over the lines of one run."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.clock import SystemClock
from pipeline.destinations.registry import encoding
from pipeline.errors import InvalidRecord
from pipeline.providers.resources import decode, unwrap
from pipeline.state.contributions import MemoryContributions
from pipeline.transform.mapper import Mapper
from pipeline.transform.okendo_stats import OkendoMapper
from pipeline.types import Delivery, Event, Item, goes_to

__all__ = ["LineResult", "transform_lines"]


@dataclass
class LineResult:
    line: int
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _describe(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": item.kind, "id": item.id}
    if isinstance(item, Event):
        out |= {"name": item.name, "occurred_at": item.occurred_at.isoformat()}
    else:
        out["as_of"] = item.as_of.isoformat()
    return out | {
        "customer": item.customer.to_dict(),
        "platforms": list(item.platforms) if item.platforms else "all",
        "properties": {k: _plain(v) for k, v in item.properties.items()},
    }


def _wire(item: Item, platform: str) -> dict[str, Any]:
    enc = encoding(platform)
    delivery_id = Delivery(platform=platform, item=item).id
    request = enc.event_request(item, delivery_id=delivery_id) if isinstance(item, Event) else enc.profile_request(item)
    return {"platform": platform, "kind": item.kind, **request}


def _documents(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """(first line number, parsed JSON or the decode error) per document: one per line (JSON
    lines), or spread over several lines (a pretty-printed body, as Okendo's docs show them)."""
    pending = deque(enumerate(lines, 1))
    while pending:
        start, line = pending.popleft()
        if not line.strip():
            continue
        buffer, used = line, []
        while True:
            try:
                yield start, json.loads(buffer)
                break
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(buffer.rstrip())
                if incomplete and pending:
                    used.append(pending.popleft())
                    buffer += "\n" + used[-1][1]
                    continue
                first = json.JSONDecodeError(exc.msg, line, min(exc.pos, len(line))) if used else exc
                yield start, first
                pending.extendleft(reversed(used))  # the next lines are read on their own
                break


def transform_lines(
    lines: Iterable[str],
    *,
    provider: str,
    resource: str | None = None,
    platform: str | None = None,
    merchant: str = "cli",
    event: str | None = None,
) -> Iterator[LineResult]:
    """One result per non-blank line: its outputs, or the reason it is invalid. ``event`` is
    the event-name header of pushes whose body does not name it (Omneo's ``x-omneo-event``)."""
    if platform is not None:
        encoding(platform)  # unknown platform: fail before reading anything
    clock = SystemClock()
    mapper = OkendoMapper(MemoryContributions(), clock) if provider == "okendo" else Mapper()
    for number, raw in _documents(lines):
        if isinstance(raw, json.JSONDecodeError):
            yield LineResult(number, error=f"not JSON: {raw.msg} at column {raw.colno}")
            continue
        try:
            # a bare Okendo resource (e.g. a REST Review object) is read as a new one: topic create
            bare = {"_topic": "create"} if provider == "okendo" else {}
            name, obj, extra = (resource, raw, bare) if resource else unwrap(provider, raw, event=event)
            extra = {**extra, "_received_at": clock.now()}  # dates a resource that carries no date
            items = mapper.map(decode(provider, name, obj, merchant=merchant, extra=extra))
            if platform is None:
                outputs = [_describe(i) for i in items]
            else:
                outputs = [_wire(i, platform) for i in items if goes_to(i, platform)]
        except InvalidRecord as exc:
            yield LineResult(number, error=str(exc))
            continue
        except ValueError as exc:  # the platform cannot encode it (e.g. no identifier, bad phone)
            yield LineResult(number, error=f"{platform}: {exc}")
            continue
        yield LineResult(number, outputs=outputs)
