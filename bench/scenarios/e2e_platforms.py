"""Section 1's two platform variants: what is counted at the simulated platform, what is
expected, how the naive baseline is started and when it is done, and what the payloads are.

* ``PostscriptE2E``: Smile merchants e2e1..N connected to Postscript only. One event per
  request (``POST /api/v2/events``); profiles are a lookup plus a ``PATCH`` per subscriber.
* ``KlaviyoE2E``: Smile merchants kl1..N, seeded like e2e1..N, connected to Klaviyo only. The
  pipeline sends a batch's events in ``POST /api/event-bulk-create-jobs`` requests when it
  holds at least 50 (else ``POST /api/events`` one by one) and profile updates as bulk import
  jobs; the naive baseline posts each event to ``POST /api/events`` and each customer to
  ``POST /api/profile-import``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bench.simx import BenchKlaviyo, BenchPostscript, body_json
from bench.stack import UNLIMITED, UNLIMITED_SCALE, Stack
import pipeline.destinations.klaviyo.encoding as kl_encoding
import pipeline.destinations.postscript.encoding as ps_encoding
from pipeline.ratelimit.limits import endpoint_class, windows_for
from sandbox.sim.server import RecordedRequest
from pipeline.transform.catalog import smile as smile_catalog

#: Postscript type -> Klaviyo metric name, from the catalog (SmileTenant.expected() speaks Postscript).
KLAVIYO_METRIC = {ps_encoding.event_type(r.event): kl_encoding.metric_name(r.event) for r in smile_catalog.EVENTS}
_REPLAYED_HEADERS = ("authorization", "revision", "content-type", "accept")


def _dupes(c: Counter[Any]) -> int:
    return sum(v - 1 for v in c.values() if v > 1)


class PostscriptE2E:
    name = "postscript"
    raw_warm_path = "/api/v2/me"

    def __init__(self, st: Stack) -> None:
        self.st = st
        self.sim: BenchPostscript = st.ps_e2e
        self.tenants = st.e2e
        self.merchants = [t.merchant for t in self.tenants]
        self.recorded: list[tuple[str, str, str, bytes, dict[str, str]]] = []  # the pipeline's requests
        self.reference: Counter[str] = Counter()  # the pipeline's payloads

    def reset(self) -> None:
        for t in self.tenants:
            self.sim.reset_shop(t.shop, self.st.seeded[t.merchant])
        self.sim.clear_requests()

    def expected(self) -> int:
        return sum(sum(t.expected().values()) for t in self.tenants)

    def events_in(self) -> int:
        return sum(len(t.shop.events) for t in self.tenants)

    @staticmethod
    def events_of(r: RecordedRequest) -> int:
        """Events an accepted request carried."""
        return int(r.method == "POST" and r.path == "/api/v2/events" and r.status < 300)

    def problems(self) -> list[str]:
        return [p for t in self.tenants for p in t.problems()]

    def extra(self, log: list[tuple[float, RecordedRequest]]) -> dict[str, Any]:
        return {}

    def naive_start(self) -> None:
        for t in self.tenants:
            self.st.napp.send_task("naive.sync", args=(f"{self.st.smile.base_url}/v1", t.account.api_key,
                                                       self.sim.base_url, t.shop.api_key))

    def naive_done(self) -> bool:
        subscribed = sum(len(t.shop.subscribers) for t in self.tenants)
        return self.events_in() >= self.expected() and sum(len(t.shop.patches) for t in self.tenants) >= subscribed

    def payloads(self) -> Counter[str]:
        """Accepted event and PATCH bodies (``external_id`` aside)."""
        out: Counter[str] = Counter()
        for _, r in self.sim.log():
            if r.method in ("POST", "PATCH") and r.status < 300:
                b = body_json(r) or {}
                b.pop("external_id", None)
                out[r.method + json.dumps(b, sort_keys=True)] += 1
        return out


class KlaviyoE2E:
    name = "klaviyo"
    raw_warm_path = "/api/profiles?filter=equals(email,%22warm-up@example.test%22)"

    def __init__(self, st: Stack) -> None:
        self.st = st
        self.sim: BenchKlaviyo = st.kl_e2e
        self.tenants = st.e2e_kl
        self.accounts = st.kl_accounts
        self.merchants = [t.merchant for t in self.tenants]
        self.recorded: list[tuple[str, str, str, bytes, dict[str, str]]] = []  # the pipeline's requests
        self.reference: Counter[str] = Counter()  # the pipeline's payloads

    def reset(self) -> None:
        for account in self.accounts.values():
            self.sim.reset_account(account)
        self.sim.clear_requests()

    def _expected(self, t: Any) -> Counter[str]:
        return Counter({KLAVIYO_METRIC[k]: v for k, v in t.expected().items()})

    def expected(self) -> int:
        return sum(sum(self._expected(t).values()) for t in self.tenants)

    def events_in(self) -> int:
        return sum(len(a.events) for a in self.accounts.values())

    @staticmethod
    def events_of(r: RecordedRequest) -> int:
        if r.method != "POST" or r.status >= 300:
            return 0
        if r.path.rstrip("/") == kl_encoding.EVENTS_PATH:
            return 1
        if r.path.rstrip("/") == kl_encoding.BULK_EVENTS_PATH:
            entries = (body_json(r) or {})["data"]["attributes"]["events-bulk-create"]["data"]
            return sum(len(e["attributes"]["events"]["data"]) for e in entries)
        return 0

    def profiles_done(self) -> bool:
        """No bulk import job pending and every customer's profile carries the Smile balance
        (an event alone creates a profile without it)."""
        if self.sim.jobs_pending():
            return False
        with self.sim.lock:
            for t in self.tenants:
                have = {(p.get("email") or "").lower() for p in self.accounts[t.merchant].profiles.values()
                        if "Smile Points Balance" in (p.get("properties") or {})}
                if any(c["email"].lower() not in have for c in t.account.customers.values()):
                    return False
        return True

    def problems(self) -> list[str]:
        """Every expected event recorded once, nothing else; every customer's profile right."""
        self.sim.run_jobs()
        out = []
        for t in self.tenants:
            account = self.accounts[t.merchant]
            got, want = Counter(e["metric"] for e in account.events), self._expected(t)
            if missing := want - got:
                out.append(f"{t.merchant}: missing at Klaviyo: {dict(missing)}")
            if extra := got - want:
                out.append(f"{t.merchant}: unexpected at Klaviyo: {dict(extra)}")
            ids = Counter((e["metric"], e["email"], e["properties"].get("Transaction ID"),
                           e["properties"].get("Fulfillment ID")) for e in account.events)
            if dupes := _dupes(ids):
                out.append(f"{t.merchant}: {dupes} events recorded at Klaviyo more than once (different unique_id)")
            profiles = {(p.get("email") or "").lower(): p for p in account.profiles.values()}
            wrong = 0
            for c in t.account.customers.values():
                props = (profiles.get(c["email"].lower()) or {}).get("properties") or {}
                if (props.get("Smile Points Balance") != c["points_balance"]
                        or props.get("Enrolled in Smile") != (c["state"] == "member")):
                    wrong += 1
            if wrong:
                out.append(f"{t.merchant}: {wrong} of {len(t.account.customers)} Klaviyo profiles missing or "
                           f"not matching Smile")
        return out

    def extra(self, log: list[tuple[float, RecordedRequest]]) -> dict[str, Any]:
        """Resends Klaviyo dropped as repeats of a unique_id, and events per bulk request."""
        sizes = [self.events_of(r) for _, r in log if r.path.rstrip("/") == kl_encoding.BULK_EVENTS_PATH]
        return {"resent_deduplicated": sum(a.deduplicated for a in self.accounts.values()),
                "bulk_event_requests": len(sizes), "events_per_bulk_request_mean": round(sum(sizes) / len(sizes), 1)
                if sizes else None, "bulk_request_sizes": dict(sorted(Counter(sizes).items()))}

    @staticmethod
    def limiter_bound_secs(log: list[tuple[float, RecordedRequest]]) -> float:
        """The least time the pipeline's own limiter needs for these requests, as configured for
        this section (every window lifted by ``rate_scale``), paced per account and endpoint class
        at the windows' interval (GCRA, burst of one): ~0 unless the limiter binds."""
        per: Counter[tuple[str, str]] = Counter(
            (r.headers.get("authorization", ""), endpoint_class("klaviyo", r.path)) for _, r in log)
        bound = 0.0
        for (_, cls), n in per.items():
            windows = windows_for("klaviyo", cls, rate_per_s=UNLIMITED, scale=UNLIMITED_SCALE)
            interval = max(w.interval_us for w in windows) / 1e6
            bound = max(bound, (n - 1) * interval)
        return round(bound, 2)

    def naive_start(self) -> None:
        for t in self.tenants:
            self.st.napp.send_task("naive.sync_klaviyo", args=(f"{self.st.smile.base_url}/v1", t.account.api_key,
                                                               self.sim.base_url, self.accounts[t.merchant].api_key))

    def naive_done(self) -> bool:
        return self.events_in() >= self.expected() and self.profiles_done()

    def payloads(self) -> Counter[str]:
        """Accepted events (metric, profile, properties, time; unique_id aside) and profile
        attributes, whether sent one by one or in bulk."""
        out: Counter[str] = Counter()

        def event(attrs: dict[str, Any], profile: dict[str, Any]) -> None:
            out["event " + json.dumps([attrs["metric"]["data"]["attributes"]["name"], profile,
                                       attrs.get("properties"), attrs.get("time")], sort_keys=True)] += 1
        for _, r in self.sim.log():
            if r.method != "POST" or r.status >= 300:
                continue
            data, path = (body_json(r) or {}).get("data") or {}, r.path.rstrip("/")
            if path == kl_encoding.EVENTS_PATH:
                event(data["attributes"], data["attributes"]["profile"]["data"]["attributes"])
            elif path == kl_encoding.BULK_EVENTS_PATH:
                for entry in data["attributes"]["events-bulk-create"]["data"]:
                    for ev in entry["attributes"]["events"]["data"]:
                        event(ev["attributes"], entry["attributes"]["profile"]["data"]["attributes"])
            elif path == kl_encoding.PROFILE_IMPORT_PATH:
                out["profile " + json.dumps(data["attributes"], sort_keys=True)] += 1
            elif path == kl_encoding.BULK_PROFILE_IMPORT_PATH:
                for p in data["attributes"]["profiles"]["data"]:
                    out["profile " + json.dumps(p["attributes"], sort_keys=True)] += 1
        return out


def replay_line(method: str, path: str, query: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """One line of bench/raw.py's input."""
    return {"m": method, "u": path + (f"?{query}" if query else ""), "b": body.decode() if body else None,
            "h": {k: v for k, v in headers.items() if k in _REPLAYED_HEADERS and (body or k != "content-type")}}
