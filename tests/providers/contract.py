"""One contract every provider connector honours, run against its simulator over loopback HTTP.

A subclass per provider says how to start its simulator, add records to one stream, and
build the connector; the tests are shared (arroyo's mixin pattern)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from pipeline.clock import FrozenClock
from pipeline.config import ProviderAccount, Secret
from pipeline.errors import AuthError
from pipeline.http.client import build_client
from pipeline.providers.http import HttpProvider
from pipeline.providers.registry import PROVIDERS
from pipeline.state.directory import MemoryCustomerDirectory
from pipeline.state.snapshots import MemorySnapshotStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class ProviderContract(ABC):
    kind: str
    stream: str
    credential: str = "contract-credential"
    page_size: int = 3
    #: whether ``since`` filters this stream (Okendo's reconciliation reads every known member)
    filters_by_since: bool = True

    @abstractmethod
    def start(self) -> Any:
        """Start the simulator (with rate limits off) and return it."""

    @abstractmethod
    def base_url(self, sim: Any) -> str: ...

    @abstractmethod
    def add(self, sim: Any, n: int, *, at: datetime) -> list[str]:
        """Add ``n`` records of ``stream`` updated at ``at``; return their record ids."""

    def prepare(self, sim: Any, snapshots: MemorySnapshotStore) -> None:
        """Anything the connector needs besides the simulator's data."""

    @pytest.fixture
    def sim(self) -> Iterator[Any]:
        server = self.start()
        try:
            yield server
        finally:
            server.stop()

    def connector(self, sim: Any, *, credential: str | None = None) -> tuple[HttpProvider, FrozenClock]:
        account = ProviderAccount(kind=self.kind, base_url=self.base_url(sim), credential_env="X",
                                  credential=Secret(credential or self.credential), rate_per_s=1000.0,
                                  page_size=self.page_size)
        cls = PROVIDERS[self.kind]
        clock = FrozenClock(T0 + timedelta(days=1))
        client = build_client(base_url=account.base_url, headers=cls.auth_headers(account), timeout_s=5)
        snapshots = getattr(self, "_snapshots", MemorySnapshotStore())
        return cls(merchant="m", account=account, client=client, directory=MemoryCustomerDirectory(),
                   snapshots=snapshots, clock=clock), clock

    def read(self, provider: HttpProvider, *, since: datetime | None = None,
             cursor: str | None = None) -> list[str]:
        return [r.record_id for page in provider.pages(self.stream, since=since, cursor=cursor) for r in page.records
                if r.stream == self.stream]

    def setup_data(self, sim: Any, n: int, at: datetime = T0) -> list[str]:
        self._snapshots = MemorySnapshotStore()
        ids = self.add(sim, n, at=at)
        self.prepare(sim, self._snapshots)
        return ids

    def test_reads_every_record_across_pages(self, sim: Any) -> None:
        ids = self.setup_data(sim, 7)
        provider, _ = self.connector(sim)
        assert sorted(self.read(provider)) == sorted(ids)

    def test_since_is_an_inclusive_lower_bound(self, sim: Any) -> None:
        old = self.setup_data(sim, 2, at=T0)
        new = self.add(sim, 3, at=T0 + timedelta(hours=1))
        self.prepare(sim, self._snapshots)
        provider, _ = self.connector(sim)
        got = set(self.read(provider, since=T0 + timedelta(hours=1)))
        if self.filters_by_since:
            assert got == set(new)
        else:
            assert got == set(old) | set(new)

    def test_resumes_from_a_checkpointed_cursor(self, sim: Any) -> None:
        ids = self.setup_data(sim, 7)
        provider, _ = self.connector(sim)
        pages = provider.pages(self.stream, since=None, cursor=None)
        first = next(pages)
        assert first.next_cursor is not None
        rest = self.read(self.connector(sim)[0], cursor=first.next_cursor)
        seen = [r.record_id for r in first.records if r.stream == self.stream] + rest
        assert sorted(set(seen)) == sorted(ids)

    def test_429_and_5xx_are_retried(self, sim: Any) -> None:
        ids = self.setup_data(sim, 4)
        sim.fail_next(2, 429)
        sim.fail_next(1, 503)
        provider, clock = self.connector(sim)
        assert sorted(self.read(provider)) == sorted(ids)
        assert clock.monotonic() > 0  # it backed off (on the injected clock)

    def test_a_refused_credential_is_an_auth_error(self, sim: Any) -> None:
        self.setup_data(sim, 1)
        provider, _ = self.connector(sim, credential="wrong:credential")
        with pytest.raises(AuthError) as info:
            self.read(provider)
        assert "wrong" not in str(info.value)
