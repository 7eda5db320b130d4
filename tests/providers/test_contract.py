"""The provider contract, once per provider (see contract.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.providers.resources import decode, snapshot_of
from sandbox.sim import OkendoSimulator, OmneoSimulator, RediemSimulator, SmileSimulator
from sandbox.sim import okendo_resources
from pipeline.state.snapshots import MemorySnapshotStore
from tests.providers.contract import ProviderContract


class TestSmile(ProviderContract):
    kind, stream = "smile", "points_transactions"

    def start(self) -> Any:
        sim = SmileSimulator(rate_per_s=None).start()
        self.account = sim.add_account(self.credential)
        self.customer = self.account.add_customer(email="jane@example.test", state="member", points_balance=0)
        return sim

    def base_url(self, sim: Any) -> str:
        return f"{sim.base_url}/v1"

    def add(self, sim: Any, n: int, *, at: datetime) -> list[str]:
        return [str(self.account.add_transaction(self.customer["id"], 10, "Order", at=at)["id"]) for _ in range(n)]


class TestOmneo(ProviderContract):
    kind, stream = "omneo", "points"

    def start(self) -> Any:
        sim = OmneoSimulator(rate_per_s=None).start()
        self.tenant = sim.add_tenant(self.credential)
        self.profile = self.tenant.add_profile("jane@example.test", "Jane", "Doe")
        return sim

    def base_url(self, sim: Any) -> str:
        return f"{sim.base_url}/api/v3"

    def add(self, sim: Any, n: int, *, at: datetime) -> list[str]:
        return [str(self.tenant.award_points(self.profile["id"], 100, at=at)["id"]) for _ in range(n)]


class TestRediem(ProviderContract):
    kind, stream = "rediem", "activities"

    def start(self) -> Any:
        sim = RediemSimulator(rate_per_s=None).start()
        self.program = sim.add_program(self.credential)
        self.member = self.program.add_member("jane@example.test")
        return sim

    def base_url(self, sim: Any) -> str:
        return sim.base_url

    def add(self, sim: Any, n: int, *, at: datetime) -> list[str]:
        return [str(self.program.record(self.member["id"], "points_earned", points=10, at=at)["id"]) for _ in range(n)]


class TestOkendo(ProviderContract):
    kind, stream = "okendo", "loyalty_customer"
    credential = "user-1:okendo-key"
    filters_by_since = False  # reconciliation reads every member the webhooks made known

    def start(self) -> Any:
        sim = OkendoSimulator(rate_per_s=1000, burst=1000).start()
        self.store = sim.add_store("user-1", "okendo-key")
        self.member_ids: list[str] = []
        return sim

    def base_url(self, sim: Any) -> str:
        return f"{sim.base_url}/enterprise"

    def add(self, sim: Any, n: int, *, at: datetime) -> list[str]:
        new = [self.store.enroll(f"member{len(self.member_ids) + i}@example.test", at=at)["loyaltyCustomerId"]
               for i in range(n)]
        self.member_ids += new
        return new

    def prepare(self, sim: Any, snapshots: MemorySnapshotStore) -> None:
        """The webhooks that made these members known left their snapshots."""
        for member_id in self.member_ids:
            resource = okendo_resources.loyalty_customer(member=self.store.members[member_id])
            record = decode("okendo", "loyalty_customer", resource, merchant="m",
                            extra={"_received_at": datetime.fromisoformat("2026-01-01T00:00:00+00:00")})
            snapshots.put_many("m", "okendo", "loyalty_customer", {member_id: snapshot_of(record)})
