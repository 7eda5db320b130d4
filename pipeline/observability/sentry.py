"""Error reports to Sentry, with credentials and personal data removed before they leave.

``init_sentry`` turns off the SDK's own collection of personal data (``send_default_pii``),
request bodies and cookies, and installs ``before_send``/``before_breadcrumb``, which walk the
whole event: messages, exception values, breadcrumbs, request data, ``extra``, contexts, tags
and every frame's local variables and source lines. In that walk

* a value whose key names a secret or personal data (``authorization``, ``cookie``,
  ``*token*``, ``*secret*``, ``*api_key*``, ``*password*``, ``*signature*``, ``*email*``,
  ``*phone*``, ``query_string``, ...) becomes ``[Filtered]``;
* every other string goes through ``pipeline.observability.logs.scrub_text`` (Bearer /
  Basic / Klaviyo-API-Key credentials, ``sk_``/``pk_`` keys, ``whsec_`` secrets, URL
  passwords and query strings, emails, phone numbers);
* every string is cut to ``MAX_VALUE_LENGTH`` first (also the SDK's ``max_value_length``), and
  the local variables of the webhook modules, and any key naming a body, are dropped: a webhook
  body never reaches an event;
* the SDK's structural fields (ids, timestamps, release, SDK and module versions) are left as
  they are, so the event still parses.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import sentry_sdk
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

from pipeline.observability.logs import FILTERED, scrub_text

__all__ = ["before_breadcrumb", "before_send", "init_sentry", "scrub_event"]

#: Key names (lower case, ``-`` read as ``_``) whose values are dropped whole.
_SENSITIVE_KEY = re.compile(
    r"authorization|cookie|token|secret|passw(or)?d|api_?key|credential|signature|private_?key|session"
    r"|email|e_mail|phone|mobile|msisdn|^query_string$|^http\.query$|^query$|^dsn$"
)
#: Keys whose values the SDK produces and Sentry parses: never rewritten.
_STRUCTURAL = frozenset(
    {
        "event_id",
        "timestamp",
        "start_timestamp",
        "received",
        "release",
        "dist",
        "environment",
        "platform",
        "level",
        "type",
        "sdk",
        "modules",
        "trace_id",
        "span_id",
        "parent_span_id",
        "lineno",
        "colno",
        "abs_path",
        "filename",
        "module",
        "function",
        "in_app",
        "mechanism",
        "server_name",
    }
)
_EXTRA_DENYLIST = [
    "klaviyo_api_key",
    "x_webhook_signature",
    "svix_signature",
    "webhook_secret",
    "credential",
    "email",
    "phone",
]


def _sensitive(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key.lower().replace("-", "_")))


#: Below these keys everything is program data (locals, extra, breadcrumb data): no key is structural.
_USER_DATA = frozenset({"vars", "extra", "data", "params", "tags", "headers", "env"})


def _scrub(value: Any, key: str = "", user_data: bool = False) -> Any:
    if key in _STRUCTURAL and not user_data:
        return value
    if key and _sensitive(key) and value not in (None, "", [], {}):
        return FILTERED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        inner = user_data or key in _USER_DATA
        return {
            (scrub_text(k) if isinstance(k, str) else k): _scrub(v, k if isinstance(k, str) else "", inner)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, "", user_data) for v in value]
    return value


#: Longest string sent (``max_value_length``); longer ones are cut before they are scrubbed, so the
#: cost of scrubbing an event is bounded whatever it holds (issue 12: a 1 MiB body in a local).
MAX_VALUE_LENGTH = 1024
#: Modules whose frames hold webhook bodies in their locals: their variables never leave.
_BODY_MODULES = ("pipeline.webhooks", "workers.web", "workers.tasks.webhooks")
#: Local or extra names that hold a raw body, wherever they appear.
_BODY_KEY = re.compile(r"^(?:raw_?)?body$|^payload$|^parts?$|^stored$")


def _frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for section in ("exception", "threads"):
        values = (event.get(section) or {}).get("values") if isinstance(event.get(section), dict) else None
        for value in values or []:
            frames = ((value or {}).get("stacktrace") or {}).get("frames") if isinstance(value, dict) else None
            found.extend(f for f in frames or [] if isinstance(f, dict))
    return found


def _cut(value: Any) -> Any:
    """Strings cut to ``MAX_VALUE_LENGTH``, body-named keys dropped, in one bounded-depth walk."""
    if isinstance(value, str):
        return value[:MAX_VALUE_LENGTH]
    if isinstance(value, bytes | bytearray):
        return FILTERED
    if isinstance(value, Mapping):
        return {
            k: FILTERED if isinstance(k, str) and _BODY_KEY.match(k) and v not in (None, "", [], {}) else _cut(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_cut(v) for v in value]
    return value


def scrub_event(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``event`` without credentials or personal data (see the module docstring)."""
    for frame in _frames(event):
        if str(frame.get("module") or "").startswith(_BODY_MODULES) and frame.get("vars"):
            frame["vars"] = {name: FILTERED for name in frame["vars"]}
    scrubbed: dict[str, Any] = _scrub(_cut(event))
    request = scrubbed.get("request")
    if isinstance(request, dict):
        if isinstance(url := request.get("url"), str):
            request["url"] = url.split("?", 1)[0]
        request.pop("cookies", None)
        if request.get("data") not in (None, "", {}):
            request["data"] = FILTERED  # bodies are customer records: never worth sending
    user = scrubbed.get("user")
    if isinstance(user, dict):
        scrubbed["user"] = {k: v for k, v in user.items() if k == "id"}
    return scrubbed


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's ``before_send`` hook: the event, scrubbed."""
    return scrub_event(event)


def before_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's ``before_breadcrumb`` hook (breadcrumbs are scrubbed again with the event)."""
    scrubbed: dict[str, Any] = _scrub(_cut(crumb))
    return scrubbed


def init_sentry(
    dsn: str | None,
    *,
    environment: str | None = None,
    integrations: Iterable[Any] = (),
    release: str | None = None,
    **options: Any,
) -> bool:
    """Start the Sentry client if ``dsn`` is set; returns whether it was started.

    ``options`` go to ``sentry_sdk.init`` (e.g. ``traces_sample_rate``); the privacy options
    here cannot be overridden.
    """
    if not dsn:
        return False
    for fixed in (
        "send_default_pii",
        "data_collection",
        "max_request_body_size",
        "event_scrubber",
        "before_send",
        "before_breadcrumb",
        "max_value_length",
    ):
        options.pop(fixed, None)
    with warnings.catch_warnings():
        # recent sentry-sdk 2.x releases deprecate send_default_pii for data_collection; False still maps to
        # its privacy-preserving defaults, and older 2.x releases know only this option.
        warnings.filterwarnings(
            "ignore", message="The send_default_pii option is deprecated", category=DeprecationWarning
        )
        _init(dsn, environment, release, list(integrations), options)
    return True


def _init(
    dsn: str, environment: str | None, release: str | None, integrations: list[Any], options: dict[str, Any]
) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=integrations,
        **options,
        send_default_pii=False,
        max_request_body_size="never",
        max_value_length=MAX_VALUE_LENGTH,
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, *_EXTRA_DENYLIST], recursive=True),
        before_send=before_send,  # type: ignore[arg-type]  # sentry's Event is a TypedDict; the scrubber reads any dict
        before_breadcrumb=before_breadcrumb,
    )
