"""The demo's merchants: one class per provider, each seeding its simulator, declaring its
connection, feeding pushes, and saying which Postscript events must arrive.

Every merchant delivers to Postscript, except a Smile merchant given other ``platforms`` (e.g.
``("klaviyo",)``): it is then connected to those platforms only, each as a ``Fanout``."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from pipeline.clock import SystemClock
from pipeline.destinations.encoding import ENCODINGS
from pipeline.providers.resources import decode
from sandbox.sim import OkendoSimulator, OmneoSimulator, PostscriptSimulator, RediemSimulator, SmileSimulator
from sandbox.sim.seed import seed_demo, seed_okendo, seed_omneo, seed_rediem
from sandbox.sim.webhooks import OMNEO_TRIGGER_OF, OkendoWebhookSender, OmneoWebhookSender
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.sequences import MemorySequenceStore
from pipeline.state.contributions import MemoryContributions
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.transform.mapper import Mapper
from pipeline.transform.okendo_stats import OkendoMapper
from pipeline.types import Event, Item, Record, goes_to
from pipeline.webhooks.intake import WebhookIntake

__all__ = ["OkendoTenant", "OmneoTenant", "RediemTenant", "SmileTenant", "Tenant"]


def _env_prefix(merchant: str) -> str:
    return merchant.upper().replace("-", "_")


def expected_types(items: Iterable[Item], platform: str = "postscript") -> Counter[str]:
    """Event names, as ``platform`` spells them, that the items must produce there."""
    name = ENCODINGS[platform].event_name
    return Counter(name(i.name) for i in items
                   if isinstance(i, Event) and goes_to(i, platform) and (i.customer.email or i.customer.phone))


class Fanout:
    """A second platform connected to a demo merchant (Attentive or Klaviyo)."""

    def __init__(self, kind: str, sim: Any, merchant: str) -> None:
        self.kind, self.sim = kind, sim
        self.key = f"{kind}_demo_{merchant}"
        self.account = sim.add_account(self.key)
        self.env = f"{_env_prefix(merchant)}_{kind.upper()}_API_KEY"

    def received(self) -> Counter[str]:
        field = "type" if self.kind == "attentive" else "metric"
        return Counter(e[field] for e in self.account.events)

    def toml(self, merchant: str) -> str:
        return (f"\n[[merchants.{merchant}.platforms]]\nkind = \"{self.kind}\"\nbase_url = \"{self.sim.base_url}\"\n"
                f"credential_env = \"{self.env}\"\n")


class Tenant:
    """One demo merchant: a provider account on its simulator and a Postscript shop (connected
    unless ``on_postscript`` is False: then nothing is expected there)."""

    provider: ClassVar[str]
    pulls: ClassVar[bool] = True

    def __init__(self, merchant: str, shop_key: str, postscript: PostscriptSimulator) -> None:
        self.merchant = merchant
        self.shop = postscript.add_shop(shop_key)
        self.env: dict[str, str] = {f"{_env_prefix(merchant)}_POSTSCRIPT_API_KEY": shop_key}
        self.pushed = 0
        self.fanout: list[Fanout] = []
        self.on_postscript = True

    def connect(self, kind: str, sim: Any) -> None:
        """Also deliver this merchant's events to ``kind`` (fan-out)."""
        fan = Fanout(kind, sim, self.merchant)
        self.fanout.append(fan)
        self.env[fan.env] = fan.key

    def items(self) -> list[Item]:
        """Everything the seeded data must produce (for the fan-out checks)."""
        return []

    def subscribe(self, emails: Sequence[str], share: float = 0.8) -> None:
        for email in emails[: int(len(emails) * share)]:
            self.shop.add_subscriber(email=email)

    def provider_toml(self) -> str:
        raise NotImplementedError

    def toml(self, postscript_url: str, rate_per_s: float) -> str:
        prefix = _env_prefix(self.merchant)
        postscript = (f"\n[[merchants.{self.merchant}.platforms]]\nkind = \"postscript\"\nbase_url = \"{postscript_url}\"\n"
                      f"credential_env = \"{prefix}_POSTSCRIPT_API_KEY\"\nrate_per_s = {rate_per_s}\n")
        return (f"\n[merchants.{self.merchant}.provider]\n{self.provider_toml()}"
                + (postscript if self.on_postscript else "") + "".join(f.toml(self.merchant) for f in self.fanout))

    def expected_at(self, kind: str) -> Counter[str]:
        """Events, as ``kind`` names them, that a fan-out platform must record."""
        return expected_types(self.items(), kind)

    def fanout_problems(self, lenient: tuple[str, ...] = ()) -> list[str]:
        out = []
        for fan in self.fanout:
            want, got = self.expected_at(fan.kind), fan.received()
            for name in set(want) | set(got):
                ok = (0 < got[name] <= want[name]) if name in lenient else got[name] == want[name]
                if not ok:
                    out.append(f"{self.merchant}: {fan.kind}: {name}: {got[name]} received, expected {want[name]}")
        return out

    def push(self, web_url: str) -> None:
        """Send what this provider pushes (webhooks) once the web process is up."""

    def expected(self) -> Counter[str]:
        raise NotImplementedError

    def problems(self) -> list[str]:
        """Compare what the simulated Postscript shop accepted with what was seeded."""
        got = Counter(e["type"] for e in self.shop.events)
        want = self.expected()
        out = []
        dupes = sum(len(v) - 1 for v in self.shop.events_by_external_id.values() if len(v) > 1)
        if dupes:
            out.append(f"{self.merchant}: {dupes} events reached Postscript more than once")
        missing = want - got
        extra = got - want
        if missing:
            out.append(f"{self.merchant}: missing at Postscript: {dict(missing)}")
        if extra:
            out.append(f"{self.merchant}: unexpected at Postscript: {dict(extra)}")
        return out


#: seed 002: the scopes Postscript's own Smile integration asks for
SEED_002_SCOPES = ("customer:read",)


class SmileTenant(Tenant):
    """``platforms``: where this merchant delivers, "postscript" and/or "klaviyo" (a simulator for
    each in ``sims``). The Postscript shop is seeded (its subscribers) either way. ``scopes``:
    the key's Smile scopes (None: every read scope); with ``SEED_002_SCOPES`` the merchant gets the
    seed-002 properties and none of the points or reward events."""

    provider = "smile"
    PLATFORMS: ClassVar[tuple[str, ...]] = ("postscript", "klaviyo")

    def __init__(self, merchant: str, shop_key: str, postscript: PostscriptSimulator, smile: SmileSimulator, *,
                 customers: int, transactions: int, seed: int, sync_interval_s: float,
                 platforms: Sequence[str] = ("postscript",), sims: Mapping[str, Any] | None = None,
                 scopes: tuple[str, ...] | None = None) -> None:
        super().__init__(merchant, shop_key, postscript)
        if not platforms or set(platforms) - set(self.PLATFORMS) or len(set(platforms)) != len(platforms):
            raise ValueError(f"Smile platforms must be distinct, among {self.PLATFORMS}; got {tuple(platforms)}")
        key = f"smile_demo_{merchant}"
        self.account = smile.add_account(key, scopes)
        self.summary = seed_demo(self.account, self.shop, customers=customers, transactions=transactions, seed=seed)
        self.url, self.interval = f"{smile.base_url}/v1", sync_interval_s
        self.env[f"{_env_prefix(merchant)}_SMILE_API_KEY"] = key
        self.on_postscript = "postscript" in platforms
        for kind in platforms:
            if kind != "postscript":
                self.connect(kind, (sims or {})[kind])

    def provider_toml(self) -> str:
        p = _env_prefix(self.merchant)
        return (f"kind = \"smile\"\nbase_url = \"{self.url}\"\ncredential_env = \"{p}_SMILE_API_KEY\"\n"
                f"sync_interval_s = {self.interval}\n")

    def _expected_events(self) -> Counter[str]:
        """An independent statement of the catalog's Smile rules (display names), so the demo checks them too."""
        def name(txn: dict[str, Any]) -> str:
            if txn.get("internal_note"):
                return "Smile Points Adjusted"
            return "Smile Points Earned" if txn["points_change"] > 0 else "Smile Points Redeemed"
        issued = [f for f in self.account.reward_fulfillments.values() if f["fulfillment_status"] == "issued"
                  and self.account.has_scope("reward_fulfillment:read")]
        txns = self.account.points_transactions.values() if self.account.has_scope("points_transaction:read") else ()
        return Counter(name(t) for t in txns) + Counter({"Smile Reward Fulfilled": len(issued)} if issued else {})

    def expected(self) -> Counter[str]:
        return self.expected_at("postscript") if self.on_postscript else Counter()

    def expected_at(self, kind: str) -> Counter[str]:
        rename = ENCODINGS[kind].event_name
        return Counter({rename(name): n for name, n in self._expected_events().items()})

    def problems(self) -> list[str]:
        out = super().problems()
        wrong = 0
        if self.on_postscript:
            subscribers = {s["email"]: s for s in self.shop.subscribers.values() if s.get("email")}
            read_only = not self.account.has_scope("points_transaction:read")
            for customer in self.account.customers.values():
                sub = subscribers.get(customer["email"])
                props = (sub or {}).get("properties")
                # a customer:read-only merchant gets nothing but profiles: every subscriber must have them
                if (props is not None or (read_only and sub)) and not self._profile_matches(props or {}, customer):
                    wrong += 1
            if wrong:
                out.append(f"{self.merchant}: {wrong} subscriber profiles do not match Smile")
        for fan in self.fanout:
            if fan.kind == "klaviyo":  # policy "create": every customer has a profile
                wrong = sum(1 for c in self.account.customers.values()
                            if not self._profile_matches((fan.account.profile_by_email(c["email"]) or {}).get(
                                "properties") or {}, c))
                if wrong:
                    out.append(f"{self.merchant}: {wrong} Klaviyo profiles do not match Smile")
        return out + self.fanout_problems()

    @staticmethod
    def _profile_matches(props: Mapping[str, Any], customer: Mapping[str, Any]) -> bool:
        return (props.get("Smile Points Balance") == customer["points_balance"]
                and props.get("Enrolled in Smile") == (customer["state"] == "member"))


class RediemTenant(Tenant):
    provider = "rediem"

    def __init__(self, merchant: str, shop_key: str, postscript: PostscriptSimulator, rediem: RediemSimulator, *,
                 members: int, activities: int, seed: int, sync_interval_s: float) -> None:
        super().__init__(merchant, shop_key, postscript)
        key = f"rediem_demo_{merchant}"
        self.program = rediem.add_program(key)
        seed_rediem(self.program, members=members, activities=activities, seed=seed)
        self.subscribe([m["email"] for m in self.program.members.values()])
        self.url, self.interval = rediem.base_url, sync_interval_s
        self.env[f"{_env_prefix(merchant)}_REDIEM_CREDENTIAL"] = key

    def provider_toml(self) -> str:
        p = _env_prefix(self.merchant)
        return (f"kind = \"rediem\"\nbase_url = \"{self.url}\"\ncredential_env = \"{p}_REDIEM_CREDENTIAL\"\n"
                f"sync_interval_s = {self.interval}\n")

    def items(self) -> list[Item]:
        mapper = Mapper()
        return [i for a in self.program.activities.values()
                for i in mapper.map(decode("rediem", "activities", a, merchant=self.merchant))]

    def expected(self) -> Counter[str]:
        return expected_types(self.items())

    def problems(self) -> list[str]:
        """Seed 000: every member is added to Postscript; one without a phone cannot be (it is
        recorded as skipped, with the reason, by the pipeline)."""
        phones = {re.sub(r"\D", "", s["phone_number"] or "") for s in self.shop.subscribers.values()}
        emails = {(s["email"] or "").lower() for s in self.shop.subscribers.values()}
        absent = [m for m in self.program.members.values()
                  if m["phone"] and re.sub(r"\D", "", m["phone"]) not in phones and m["email"].lower() not in emails]
        out = [f"{self.merchant}: {len(absent)} Rediem members with a phone were not added to Postscript"] if absent else []
        return super().problems() + out + self.fanout_problems()


class OmneoTenant(Tenant):
    """Pulls profiles (and balances), points, rewards and transactions; redemptions and tier
    changes, which Omneo has no list for, are pushed as signed webhooks."""

    provider = "omneo"
    PUSHED = ("redemptions", "tiers")

    def __init__(self, merchant: str, shop_key: str, postscript: PostscriptSimulator, omneo: OmneoSimulator, *,
                 profiles: int, events: int, seed: int, sync_interval_s: float) -> None:
        super().__init__(merchant, shop_key, postscript)
        key = f"omneo_demo_{merchant}"
        self.tenant = omneo.add_tenant(key)
        self.seeded = seed_omneo(self.tenant, profiles=profiles, events=events, seed=seed)
        self.subscribe([p["email"] for p in self.tenant.profiles.values()])
        self.url, self.interval = f"{omneo.base_url}/api/v3", sync_interval_s
        self.secret = f"omneo-webhook-secret-{merchant}"
        p = _env_prefix(merchant)
        self.env |= {f"{p}_OMNEO_TOKEN": key, f"{p}_OMNEO_WEBHOOK_SECRET": self.secret}

    def provider_toml(self) -> str:
        p = _env_prefix(self.merchant)
        return (f"kind = \"omneo\"\nbase_url = \"{self.url}\"\ncredential_env = \"{p}_OMNEO_TOKEN\"\n"
                f"webhook_secret_env = \"{p}_OMNEO_WEBHOOK_SECRET\"\nsync_interval_s = {self.interval}\n")

    def _pushed(self) -> list[tuple[str, dict[str, Any]]]:
        return [(kind, self.tenant.with_profile(record)) for kind, record in self.seeded if kind in self.PUSHED]

    def push(self, web_url: str) -> None:
        sender = OmneoWebhookSender(f"{web_url}/webhooks/omneo/{self.merchant}", self.secret)
        for kind, data in self._pushed():
            sender.send(OMNEO_TRIGGER_OF[kind], data)
            self.pushed += 1

    def expected(self) -> Counter[str]:
        mapper, t = Mapper(), self.tenant
        profiles = {pid: t.profile_ref(pid) for pid in t.profiles}
        pulled = [("points", r) for r in t.points.values()] + [("rewards", r) for r in t.rewards.values()] + \
                 [("transactions", r) for r in t.transactions.values()]
        records = [decode("omneo", kind, {**r, "profile": profiles[r["profile_id"]]}, merchant=self.merchant)
                   for kind, r in [*pulled, *self._pushed()]]
        return expected_types(i for r in records for i in mapper.map(r))


class OkendoTenant(Tenant):
    """Webhooks only (Svix-signed, in Okendo's documented shapes), delivered once the web process
    is up. Seed 001: events reach Postscript only for existing subscribers (80% of members)."""

    provider = "okendo"
    pulls = False

    def __init__(self, merchant: str, shop_key: str, postscript: PostscriptSimulator, okendo: OkendoSimulator, *,
                 members: int, seed: int) -> None:
        super().__init__(merchant, shop_key, postscript)
        user, key = f"user-{merchant}", f"okendo-key-{merchant}"
        self.store = okendo.add_store(user, key)
        self.deliveries = seed_okendo(self.store, members=members, seed=seed)
        self.subscribe([m["email"] for m in self.store.members.values()])
        self.url = f"{okendo.base_url}/enterprise"
        self.secret = "whsec_" + base64.b64encode(f"okendo-demo-{merchant}".encode()).decode()
        p = _env_prefix(merchant)
        self.env |= {f"{p}_OKENDO_CREDENTIAL": f"{user}:{key}", f"{p}_OKENDO_WEBHOOK_SECRET": self.secret}

    def provider_toml(self) -> str:
        p = _env_prefix(self.merchant)
        return (f"kind = \"okendo\"\nbase_url = \"{self.url}\"\ncredential_env = \"{p}_OKENDO_CREDENTIAL\"\n"
                f"webhook_secret_env = \"{p}_OKENDO_WEBHOOK_SECRET\"\nsync_interval_s = 86400\n")

    def push(self, web_url: str) -> None:
        sender = OkendoWebhookSender(f"{web_url}/webhooks/okendo/{self.merchant}", self.secret)
        statuses = sender.deliver_all(self.deliveries)
        self.pushed = sum(1 for s in statuses if s == 202)

    #: Events derived from a member's state changes: workers may process two updates of one
    #: member concurrently, and the older is then dropped as stale (last write wins), which can
    #: fold two transitions into one. These must arrive, but possibly fewer times.
    DERIVED = ("Enrolled_in_Okendo_Loyalty", "Okendo_Loyalty_Tier_Changed")

    def problems(self) -> list[str]:
        got = Counter(e["type"] for e in self.shop.events)
        want = self.expected()
        out = [p for p in super().problems() if "missing" not in p and "unexpected" not in p]
        for name in set(want) | set(got):
            ok = (0 < got[name] <= want[name]) if name in self.DERIVED else got[name] == want[name]
            if not ok:
                out.append(f"{self.merchant}: {name}: {got[name]} at Postscript, expected {want[name]}")
        strangers = {(e.get("email") or "").lower() for e in self.shop.events} - self._subscribers()
        if strangers:
            out.append(f"{self.merchant}: {len(strangers)} non-subscribers got events at Postscript (seed 001)")
        return out + self.fanout_problems(lenient=("Enrolled in Okendo Loyalty", "Okendo Loyalty Tier Changed"))

    def _subscribers(self) -> set[str]:
        return {str(s["email"]).lower() for s in self.shop.subscribers.values() if s.get("email")}

    def items(self) -> list[Item]:
        """Replays the deliveries through an in-memory intake, in order, as the worker does."""
        records: list[Record] = []
        clock = SystemClock()
        intake = WebhookIntake(merchant=self.merchant, provider="okendo", hand_over=records.extend,
                               snapshots=MemorySnapshotStore(), sequences=MemorySequenceStore(),
                               quarantine_journal=MemoryJournal(clock), counters=MemoryCounters(), clock=clock)
        sequence: Counter[str] = Counter()
        for kind, topic, resource in self.deliveries:
            sequence[kind] += 1
            intake.process(json.dumps({"resource": resource, "resourceType": kind,
                                       "sequenceNumber": str(sequence[kind]), "topic": topic, "version": "2025-02-01"}))
        mapper = OkendoMapper(MemoryContributions(), clock)
        return [i for r in records for i in mapper.map(r)]

    def expected(self) -> Counter[str]:
        """Seed 001: only existing Postscript subscribers get Okendo's events."""
        subscribers = self._subscribers()
        return expected_types(i for i in self.items() if (i.customer.email or "").lower() in subscribers)
