"""Klaviyo API (revision 2026-07-15) simulator: events (one or in bulk), profile import and lookup,
bulk import jobs.

Per Klaviyo's OpenAPI (specs/klaviyo/) and rate-limit guide: ``Authorization: Klaviyo-API-Key``
and ``revision`` required; per (account, endpoint class) burst (1 s) and steady (60 s) fixed
windows, 429 + ``Retry-After`` over either, ``RateLimit-*`` (steady window) on other responses;
JSON:API errors; events deduplicated per (metric, profile, unique_id) (sandbox/sim/klaviyo_events.py).
"""

from __future__ import annotations

import math
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from sandbox.sim import klaviyo_events
from sandbox.sim.klaviyo_schema import IDENTIFIERS, bad, checked_profile, obj, profile_shape
from sandbox.sim.server import HttpError, Request, Response, SimServer, json_response, parse_json_body

__all__ = ["DEFAULT_LIMITS", "REVISION", "KlaviyoAccount", "KlaviyoSimulator"]

REVISION = "2026-07-15"
#: (burst per second, steady per minute) per endpoint class, as the operations document them.
DEFAULT_LIMITS: dict[str, tuple[int, int]] = {"events": (350, 3500), "profiles": (75, 750), "bulk": (10, 150),
                                              "events_bulk": (10, 150)}
#: Endpoint class by path prefix (first match), else "profiles".
_CLASSES = (("/api/events", "events"), ("/api/event-bulk-create-jobs", "events_bulk"),
            ("/api/profile-bulk-import-jobs", "bulk"))
MEDIA_TYPES = {"application/vnd.api+json", "application/json"}
MAX_BULK_PROFILES = 10_000
FILTER_RE = re.compile(r"equals\((email|phone_number|external_id|id),\s*([\"'])(.*)\2\)")
_JOB_ATTRS = ("status", "created_at", "total_count", "completed_count", "failed_count", "completed_at", "expires_at",
              "started_at")
_ERRORS = {400: ("invalid", "Invalid input."), 401: ("not_authenticated", "Not authenticated."),
           404: ("not_found", "Not found."), 405: ("method_not_allowed", "Method not allowed."),
           409: ("duplicate_profile", "Conflict."), 413: ("too_large", "Request too large."),
           415: ("unsupported_media_type", "Unsupported media type."),
           429: ("throttled", "Request was throttled."), 500: ("error", "A server error occurred.")}


def _new_id() -> str:
    """A 26-character upper-case id, shaped like Klaviyo's (ULID) profile and job ids."""
    return "01" + secrets.token_hex(12).upper()


class KlaviyoAccount:
    """One account (one private API key): ``profiles`` (id -> flat profile dict), ``events`` (recorded,
    with the resolved profile's ``email``/``phone_number`` and ``via``: "single" or "bulk"),
    ``deduplicated`` (202 but dropped as repeats), ``jobs`` (id -> bulk import job record),
    ``profile_imports`` (accepted bodies)."""

    def __init__(self, sim: KlaviyoSimulator, api_key: str) -> None:
        self.sim = sim
        self.api_key = api_key
        self.profiles: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.deduplicated = 0
        self.jobs: dict[str, dict[str, Any]] = {}
        self.profile_imports: list[dict[str, Any]] = []
        self._seen: set[tuple[str, str, str]] = set()

    def find(self, key: str, value: str) -> dict[str, Any] | None:
        """The profile whose ``key`` (id/email/phone_number/external_id) is ``value`` (emails case-insensitive)."""
        with self.sim.lock:
            if key == "id":
                return self.profiles.get(value)
            fold = str.lower if key == "email" else str
            return next((p for p in self.profiles.values() if p.get(key) and fold(p[key]) == fold(value)), None)

    def profile_by_email(self, email: str) -> dict[str, Any] | None:
        """The profile with this email (completing due bulk jobs first)."""
        self.sim.run_jobs()
        return self.find("email", email)

    def events_of_metric(self, name: str) -> list[dict[str, Any]]:
        """Recorded (not deduplicated) events of this metric."""
        with self.sim.lock:
            return [e for e in self.events if e["metric"] == name]


class _TwoWindows:
    """Per-key fixed windows, burst (1 s) and steady (60 s), opened by a key's first request."""

    def __init__(self, burst: int, steady: int, clock: Callable[[], float]) -> None:
        self.limits = ((burst, 1.0), (steady, 60.0))
        self._clock = clock
        self._windows: dict[str, list[list[float]]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> tuple[int | None, dict[str, str]]:
        """(Retry-After if refused else None, RateLimit-* of the steady window). Refusals are not counted."""
        with self._lock:
            now = self._clock()
            windows = self._windows.setdefault(key, [[now, 0.0], [now, 0.0]])
            for window, (_, length) in zip(windows, self.limits):
                if now - window[0] >= length:
                    window[:] = [now, 0.0]
            waits = [length - (now - w[0]) for w, (limit, length) in zip(windows, self.limits) if w[1] >= limit]
            for window in windows if not waits else ():
                window[1] += 1
            (start, count), (limit, length) = windows[1], self.limits[1]
            headers = {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(int(max(0, limit - count))),
                       "RateLimit-Reset": str(max(0, math.ceil(length - (now - start))))}
            return (max(1, math.ceil(max(waits))) if waits else None), headers


class KlaviyoSimulator(SimServer):
    """Klaviyo's server API (``/api/...``) on loopback; ``add_account(api_key)`` creates an account.

    ``limits``: (burst/s, steady/min) per endpoint class ("events"; "events_bulk": bulk create
    events; "profiles": profile-import and get profiles; "bulk": bulk import jobs) over
    ``DEFAULT_LIMITS``; None for a class (or all) = unlimited.
    ``bulk_delay_s``: until a bulk import job completes (on ``monotonic``; "processing" after half);
    bulk-created events are recorded at once.
    ``ratelimit_headers_on_429``: also send RateLimit-* on 429 (Klaviyo documents it does not).
    """

    def __init__(
        self, port: int = 0, *, limits: Mapping[str, tuple[int, int] | None] | None = DEFAULT_LIMITS,
        bulk_delay_s: float = 0.2, ratelimit_headers_on_429: bool = False,
        now: Callable[[], datetime] | None = None, monotonic: Callable[[], float] = time.monotonic, **kwargs: Any,
    ) -> None:
        super().__init__(port, rate_per_s=None, now=now, monotonic=monotonic, **kwargs)
        merged = {} if limits is None else {**DEFAULT_LIMITS, **limits}
        self.windows = {cls: _TwoWindows(*lim, monotonic) for cls, lim in merged.items() if lim is not None}
        self.bulk_delay_s = bulk_delay_s
        self.ratelimit_headers_on_429 = ratelimit_headers_on_429
        self.monotonic = monotonic
        self.accounts: dict[str, KlaviyoAccount] = {}
        self.route("POST", r"/api/events/?", self._create_event)
        self.route("POST", r"/api/event-bulk-create-jobs/?", self._bulk_create_events)
        self.route("POST", r"/api/profile-import/?", self._import_profile)
        self.route("GET", r"/api/profiles/?", self._get_profiles)
        self.route("POST", r"/api/profile-bulk-import-jobs/?", self._create_job)
        self.route("GET", r"/api/profile-bulk-import-jobs/(?P<id>[^/]+)/?", self._get_job)

    def add_account(self, api_key: str) -> KlaviyoAccount:
        """Register a private API key (one account) and return the account."""
        with self.lock:
            return self.accounts.setdefault(api_key, KlaviyoAccount(self, api_key))

    def authenticate(self, req: Request) -> tuple[KlaviyoAccount, dict[str, str]]:
        """(account, RateLimit-* headers): auth (401), revision (400), content type (415), rate limit (429)."""
        scheme, _, key = req.headers.get("authorization", "").partition(" ")
        account = self.accounts.get(key.strip()) if scheme == "Klaviyo-API-Key" else None
        if account is None:
            raise HttpError(401, "Missing or invalid private key (Authorization: Klaviyo-API-Key <key>)")
        if (revision := req.headers.get("revision")) != REVISION:
            raise HttpError(400, f"revision header must be {REVISION!r}, got {revision!r}", field="revision")
        media = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if req.method == "POST" and media not in MEDIA_TYPES:
            raise HttpError(415, f"Content-Type must be application/vnd.api+json, got {media!r}", field="Content-Type")
        cls = next((name for prefix, name in _CLASSES if req.path.startswith(prefix)), "profiles")
        if (windows := self.windows.get(cls)) is None:
            return account, {}
        retry_after, headers = windows.take(account.api_key)
        if retry_after is not None:
            extra = headers if self.ratelimit_headers_on_429 else {}
            raise HttpError(429, f"Request was throttled. Expected available in {retry_after} seconds.",
                            headers={"Retry-After": str(retry_after), **extra})
        return account, headers

    def handle(self, req: Request) -> Response:
        """Advances bulk jobs, then as SimServer, plus RateLimit-* headers once the request counted."""
        self.run_jobs()
        resp = super().handle(req)
        resp.headers.update({**(req.ctx[1] if req.ctx else {}), **resp.headers})
        return resp

    def error_response(self, exc: HttpError) -> Response:
        code, title = _ERRORS.get(exc.status, (str(exc.code), "Error."))
        error: dict[str, Any] = {"id": str(uuid.uuid4()), "status": exc.status, "code": code, "title": title,
                                 "detail": exc.message}
        if exc.field:
            pointer = "/" if exc.field == "body" else exc.field
            error["source"] = {"pointer": pointer} if pointer.startswith("/") else {"parameter": pointer}
        return json_response(exc.status, {"errors": [error]}, exc.headers)

    def _link(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _resource(self, profile: dict[str, Any]) -> dict[str, Any]:
        return {"type": "profile", "id": profile["id"], "attributes": {k: v for k, v in profile.items() if k != "id"},
                "links": {"self": self._link(f"/api/profiles/{profile['id']}/")}}

    def upsert(self, account: KlaviyoAccount, res: dict[str, Any], *, strict: bool = True
               ) -> tuple[dict[str, Any], bool]:
        """Upsert the profile ``res`` identifies -> (profile, created); hold ``self.lock``. Identifiers
        of two profiles: 409 if ``strict``, else the first match wins (events)."""
        attrs, pid = res["attributes"], res.get("id")
        if pid and pid not in account.profiles:
            raise HttpError(404, f"Profile {pid} does not exist", field="/data/id")
        found: list[dict[str, Any] | None] = [account.profiles[pid]] if pid else []
        found += [account.find(k, attrs[k]) for k in IDENTIFIERS if attrs.get(k)]
        matches = list({p["id"]: p for p in found if p is not None}.values())
        if len(matches) > 1 and strict:
            raise HttpError(409, f"A profile already exists with one of these identifiers "
                                 f"(duplicate_profile_id {matches[1]['id']})", field="/data/attributes")
        stamp = self.now().astimezone(timezone.utc).isoformat()
        profile = matches[0] if matches else {"id": _new_id(), **dict.fromkeys(IDENTIFIERS), "properties": {},
                                               "created": stamp}
        account.profiles[profile["id"]] = profile
        for key, value in attrs.items():
            if key == "properties":
                for name, prop in (value or {}).items():
                    if prop is None:
                        profile["properties"].pop(name, None)  # null clears a property
                    else:
                        profile["properties"][name] = prop
            elif key not in IDENTIFIERS or value is None or account.find(key, value) in (None, profile):
                profile[key] = value
        profile["updated"] = stamp
        return profile, not matches

    def _import_profile(self, req: Request) -> Response:
        account: KlaviyoAccount = req.ctx[0]
        body = obj(parse_json_body(req, require_content_type=False), "/")
        res = checked_profile(body.get("data"), "/data")
        with self.lock:
            profile, created = self.upsert(account, res)
            account.profile_imports.append(body)
            doc = {"data": self._resource(profile), "links": {"self": self._link("/api/profile-import/")}}
        return json_response(201 if created else 200, doc)

    def _get_profiles(self, req: Request) -> Response:
        """Only ``filter=equals(field,"value")`` is supported; one page of at most 100 profiles."""
        account: KlaviyoAccount = req.ctx[0]
        m = FILTER_RE.fullmatch((flt := req.arg("filter") or "").strip())
        if flt and m is None:
            raise HttpError(400, f"unsupported filter {flt!r}; use equals(email|phone_number|external_id|id,\"...\")",
                            field="filter")
        with self.lock:
            found = account.find(m.group(1), m.group(3)) if m else None
            profiles = ([found] if found else []) if m else list(account.profiles.values())
            page = [self._resource(p) for p in profiles[:100]]
        self.page_built(req, page)
        return json_response(200, {"data": page, "links": {"self": self._link(req.path), "next": None, "prev": None}})

    def _create_event(self, req: Request) -> Response:
        return klaviyo_events.create_event(self, req)

    def _bulk_create_events(self, req: Request) -> Response:
        return klaviyo_events.bulk_create_events(self, req)

    def _create_job(self, req: Request) -> Response:
        account: KlaviyoAccount = req.ctx[0]
        body = obj(parse_json_body(req, require_content_type=False), "/")
        data = obj(body.get("data"), "/data", "profile-bulk-import-job")
        ptr = "/data/attributes/profiles"
        profiles = obj(obj(data.get("attributes"), "/data/attributes").get("profiles"), ptr).get("data")
        if not isinstance(profiles, list) or not 1 <= len(profiles) <= MAX_BULK_PROFILES:
            raise bad(f"{ptr}/data", f"must be an array of 1 to {MAX_BULK_PROFILES:,} profiles")
        for i, res in enumerate(profiles):
            profile_shape(res, f"{ptr}/data/{i}")
        lists = ((data.get("relationships") or {}).get("lists") or {}).get("data") or []
        job: dict[str, Any] = {
            "id": _new_id(), "status": "queued", "created_at": self.now().astimezone(timezone.utc).isoformat(),
            "total_count": len(profiles), "completed_count": 0, "failed_count": 0, "started_at": None,
            "completed_at": None, "expires_at": None, "profiles": profiles, "profile_ids": [], "import_errors": [],
            "lists": [x.get("id") for x in lists if isinstance(x, dict)], "_created": self.monotonic()}
        with self.lock:
            account.jobs[job["id"]], doc = job, self._job_doc(job)
        timer = threading.Timer(self.bulk_delay_s + 0.01, self.run_jobs)  # completes it without polling
        timer.daemon = True
        timer.start()
        return json_response(202, doc)

    def _get_job(self, req: Request) -> Response:
        account: KlaviyoAccount = req.ctx[0]
        with self.lock:
            if (job := account.jobs.get(req.params["id"])) is None:
                raise HttpError(404, f"Profile bulk import job {req.params['id']} not found", field="job_id")
            return json_response(200, self._job_doc(job))

    def _job_doc(self, job: dict[str, Any]) -> dict[str, Any]:
        url, attributes = self._link(f"/api/profile-bulk-import-jobs/{job['id']}/"), {k: job[k] for k in _JOB_ATTRS}
        return {"data": {"type": "profile-bulk-import-job", "id": job["id"], "attributes": attributes,
                         "relationships": {"lists": {"data": [{"type": "list", "id": i} for i in job["lists"]]}},
                         "links": {"self": url}}, "links": {"self": url}}

    def run_jobs(self, *, force: bool = False) -> None:
        """Advance bulk jobs: "processing" after half of ``bulk_delay_s``, applied and "complete" after it."""
        with self.lock:
            clock, stamp = self.monotonic(), self.now().astimezone(timezone.utc)
            for account in self.accounts.values():
                for job in [j for j in account.jobs.values() if j["status"] in ("queued", "processing")]:
                    elapsed = clock - job["_created"]
                    if job["started_at"] is None and (force or elapsed >= self.bulk_delay_s / 2):
                        job["status"], job["started_at"] = "processing", stamp.isoformat()
                    if force or elapsed >= self.bulk_delay_s:
                        self._apply(account, job)
                        job.update(status="complete", completed_at=stamp.isoformat(),
                                   expires_at=(stamp + timedelta(days=7)).isoformat())

    def _apply(self, account: KlaviyoAccount, job: dict[str, Any]) -> None:
        """Upsert each profile in order; bad identifiers and conflicts fail that profile only."""
        for i, res in enumerate(job["profiles"]):
            try:
                checked = checked_profile(res, f"/data/attributes/profiles/data/{i}")
                job["profile_ids"].append(self.upsert(account, checked)[0]["id"])
                job["completed_count"] += 1
            except HttpError as exc:
                job["failed_count"] += 1
                job["import_errors"].append({"index": i, "code": _ERRORS.get(exc.status, ("invalid",))[0],
                                             "detail": exc.message, "pointer": exc.field})

    def cancel_job(self, account: KlaviyoAccount, job_id: str) -> None:
        """Cancel a job that has not completed: its profiles are never applied."""
        with self.lock:
            job = account.jobs[job_id]
            job["status"] = job["status"] if job["status"] == "complete" else "cancelled"
