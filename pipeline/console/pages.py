"""The console's pages. Each handler reads through ``data.py`` (masked) and acts through the
library the CLI uses: ``pipeline.dlq`` (paced replay, purge), ``pipeline.quarantine``
(re-drive), ``pipeline.state.pauses`` (resume). Every action is previewed (a dry run) before
it is confirmed, and logged with the session that did it."""

from __future__ import annotations

import logging
import re
import secrets
from typing import TYPE_CHECKING

from pipeline import keys
from pipeline.console import data
from pipeline.console.app import Console, Request, Response
from pipeline.dlq import DlqFilter, purge, replay
from pipeline.quarantine import redrive
from pipeline.redistext import text

if TYPE_CHECKING:
    from pipeline.console.auth import ConsoleAuth
    from pipeline.console.data import ConsoleDeps

__all__ = ["ROUTES", "make_console"]

log = logging.getLogger(__name__)
#: Rows a dead-letter listing shows.
LIST_LIMIT = 500
#: A replay's progress page is kept this long.
PROGRESS_TTL_S = 24 * 3600
_FILTERS = ("merchant", "platform", "error_class", "status", "event", "since", "until")


def _who(request: Request) -> str:
    return request.session.id[:8] if request.session else "-"


def overview(console: Console, request: Request, _: re.Match[str]) -> Response:
    return console.render(request, "overview.html", o=data.overview(console.deps))


def _filter(console: Console, request: Request, *, with_ids: bool = False) -> tuple[DlqFilter | None, str | None]:
    values = {name: request.arg(name) or None for name in _FILTERS}
    deps = console.deps
    if values["merchant"] and values["merchant"] not in deps.connections:
        return None, f"unknown merchant {values['merchant']!r}"
    if values["platform"] and values["platform"] not in deps.platforms:
        return None, f"unknown platform {values['platform']!r}"
    try:
        status = int(values["status"]) if values["status"] else None
        since, until = data.when(values["since"]), data.when(values["until"])
    except ValueError as exc:
        return None, f"bad filter: {exc}"
    ids = frozenset(request.args("id")) if with_ids else frozenset()
    return DlqFilter(
        merchant=values["merchant"],
        platform=values["platform"],
        error_class=values["error_class"],
        http_status=status,
        event_name=values["event"],
        since=since,
        until=until,
        ids=ids,
    ), None


def _values(request: Request) -> dict[str, str]:
    return {name: request.arg(name) for name in _FILTERS if request.arg(name)}


def dlq_list(console: Console, request: Request, _: re.Match[str]) -> Response:
    flt, error = _filter(console, request)
    rows = [data.row(e) for e in data.dead_letters(console.deps, flt, limit=LIST_LIMIT)] if flt else []
    page = console.render(
        request,
        "dlq.html",
        rows=rows,
        error=error,
        values=_values(request),
        limit=LIST_LIMIT,
        notice=request.arg("notice"),
    )
    if error:
        page.status = "400 Bad Request"
    return page


def dlq_entry(console: Console, request: Request, match: re.Match[str]) -> Response:
    merchant, platform, entry_id = match["merchant"], match["platform"], match["id"]
    if (merchant, platform) not in console.deps.pairs:
        return Response("404 Not Found", f"no connection {merchant}/{platform}".encode(), "text/plain")
    entry = data.dead_letter(console.deps, merchant, platform, entry_id)
    if entry is None:
        page = console.render(request, "gone.html", what=f"dead letter {entry_id}", back="/dlq")
        page.status = "404 Not Found"
        return page
    return console.render(request, "dlq_entry.html", e=entry)


def _selection(console: Console, request: Request) -> tuple[list, str | None]:
    """The entries an action applies to: the ticked ids, or everything matching the filter."""
    selected_only = request.arg("scope", "selected") == "selected"
    if selected_only and not request.args("id"):
        return [], "tick at least one entry, or choose everything matching the filter"
    flt, error = _filter(console, request, with_ids=selected_only)
    if flt is None:
        return [], error
    return data.dead_letters(console.deps, flt), None


def dlq_replay(console: Console, request: Request, _: re.Match[str]) -> Response:
    selected, error = _selection(console, request)
    if error:
        return _bad(console, request, error)
    try:
        share = float(request.arg("share", "0.5"))
        if not 0.01 <= share <= 1:
            raise ValueError
    except ValueError:
        return _bad(console, request, "share must be a number between 0.01 and 1")
    deps = console.deps
    confirmed = request.arg("confirm") == "yes"
    report = replay(selected, due=deps.due, clock=deps.clock, share=share, rates=deps.rates(), dry_run=not confirmed)
    if not confirmed:
        return console.render(
            request,
            "replay_preview.html",
            report=report,
            share=share,
            rows=[data.row(e) for e in selected[:LIST_LIMIT]],
            fields=_carry(request),
        )
    job = secrets.token_hex(8)
    if selected:
        key = keys.console_replay(job)
        deps.redis.sadd(key, *[f"{e.merchant}/{e.platform}/{e.id}" for e in selected])
        deps.redis.expire(key, PROGRESS_TTL_S)
    log.info("console: %s replayed %d dead-letter entries (share %.2f)", _who(request), report.replayed, share)
    return Response.redirect(f"/dlq/progress/{job}")


def _carry(request: Request) -> list[tuple[str, str]]:
    """The fields of a preview's form, carried to its confirmation."""
    return [(k, v) for k in (*_FILTERS, "scope", "share", "id") for v in request.args(k)]


def dlq_progress(console: Console, request: Request, match: re.Match[str]) -> Response:
    deps = console.deps
    members = sorted(text(m) for m in deps.redis.smembers(keys.console_replay(match["job"])))
    pipe = deps.redis.pipeline(transaction=False)
    for m in members:
        merchant, platform, entry_id = m.split("/", 2)
        pipe.xrange(keys.dlq(merchant, platform), min=entry_id, max=entry_id, count=1)
    waiting = [m.split("/", 2) for m, found in zip(members, pipe.execute(), strict=True) if found]
    return console.render(request, "progress.html", total=len(members), waiting=waiting, job=match["job"])


def dlq_purge(console: Console, request: Request, _: re.Match[str]) -> Response:
    selected, error = _selection(console, request)
    if error:
        return _bad(console, request, error)
    if request.arg("confirm") != "yes":
        return console.render(
            request,
            "purge_confirm.html",
            rows=[data.row(e) for e in selected[:LIST_LIMIT]],
            count=len(selected),
            fields=_carry(request),
        )
    n = purge(console.deps.journal, selected)
    log.info("console: %s purged %d dead-letter entries", _who(request), n)
    return Response.redirect("/dlq", notice=f"purged {n} entr{'y' if n == 1 else 'ies'}")


def quarantine_list(console: Console, request: Request, _: re.Match[str]) -> Response:
    provider = request.arg("provider") or None
    if provider and provider not in console.deps.providers:
        return _bad(console, request, f"unknown provider {provider!r}")
    return console.render(
        request,
        "quarantine.html",
        rows=data.quarantine(console.deps, provider),
        provider=provider,
        notice=request.arg("notice"),
    )


def quarantine_redrive(console: Console, request: Request, _: re.Match[str]) -> Response:
    provider = request.arg("provider")
    if provider not in console.deps.providers:
        return _bad(console, request, f"unknown provider {provider!r}")
    ids = request.args("id") or None
    confirmed = request.arg("confirm") == "yes"
    report = redrive(console.deps.journal, provider, handover=console.deps.handover, ids=ids, dry_run=not confirmed)
    if not confirmed:
        return console.render(
            request,
            "redrive_preview.html",
            report=report,
            provider=provider,
            fields=[("provider", provider), *(("id", i) for i in ids or ())],
        )
    log.info("console: %s re-drove %d quarantined %s records", _who(request), len(report.redriven), provider)
    return Response.redirect(
        "/quarantine",
        provider=provider,
        notice=f"re-drove {len(report.redriven)}; {len(report.still_invalid)} still invalid",
    )


def customers(console: Console, request: Request, _: re.Match[str]) -> Response:
    typed = request.arg("who") if request.method == "POST" else ""
    found = data.customer(console.deps, typed) if typed else None
    return console.render(request, "customer.html", found=found)


def connections(console: Console, request: Request, _: re.Match[str]) -> Response:
    o = data.overview(console.deps)
    return console.render(request, "connections.html", o=o, notice=request.arg("notice"))


def connection_resume(console: Console, request: Request, _: re.Match[str]) -> Response:
    merchant, platform = request.arg("merchant"), request.arg("platform")
    if (merchant, platform) not in console.deps.pairs:
        return _bad(console, request, f"no connection {merchant}/{platform}")
    pauses = console.deps.pauses
    was = pauses.get(merchant, platform)
    pauses.resume(merchant, platform)
    log.info("console: %s resumed %s/%s", _who(request), merchant, platform)
    return Response.redirect(
        "/connections", notice=f"resumed {merchant}/{platform}" + ("" if was else " (it was not paused)")
    )


def _bad(console: Console, request: Request, message: str) -> Response:
    page = console.render(request, "error.html", message=message)
    page.status = "400 Bad Request"
    return page


_ID = r"[a-z0-9][a-z0-9_-]{0,62}"
ROUTES = [
    ("GET", "/", overview),
    ("GET", "/dlq", dlq_list),
    ("POST", "/dlq/replay", dlq_replay),
    ("POST", "/dlq/purge", dlq_purge),
    ("GET", r"/dlq/progress/(?P<job>[0-9a-f]{16})", dlq_progress),
    ("GET", rf"/dlq/(?P<merchant>{_ID})/(?P<platform>[a-z]+)/(?P<id>\d+-\d+)", dlq_entry),
    ("GET", "/quarantine", quarantine_list),
    ("POST", "/quarantine/redrive", quarantine_redrive),
    ("GET", "/customers", customers),
    ("POST", "/customers", customers),
    ("GET", "/connections", connections),
    ("POST", "/connections/resume", connection_resume),
]


def make_console(deps: ConsoleDeps, auth: ConsoleAuth) -> Console:
    """The console WSGI app over ``deps``, its pages routed by ``ROUTES``."""
    return Console(deps, auth, ROUTES)
