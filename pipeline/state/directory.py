"""Customer identities per provider, so activity records (which carry only a customer id)
can be addressed to a platform by email or phone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import redis
from redis.typing import EncodableT

from pipeline import keys
from pipeline.types import Customer

__all__ = ["CustomerDirectory", "MemoryCustomerDirectory", "RedisCustomerDirectory"]


class CustomerDirectory(Protocol):
    def put_many(self, merchant: str, provider: str, customers: Iterable[Customer]) -> None: ...

    def get_many(self, merchant: str, provider: str, ids: Sequence[str]) -> dict[str, Customer]:
        """The known customers among ``ids`` (unknown ids are absent from the result)."""
        ...


class RedisCustomerDirectory:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def put_many(self, merchant: str, provider: str, customers: Iterable[Customer]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for c in customers:
            fields: dict[EncodableT, EncodableT] = {k: v for k, v in (("email", c.email), ("phone", c.phone)) if v}
            key = keys.customer(merchant, provider, c.provider_id)
            pipe.delete(key)
            if fields:
                pipe.hset(key, mapping=fields)
            else:
                pipe.hset(key, "none", "1")
        pipe.execute()

    def get_many(self, merchant: str, provider: str, ids: Sequence[str]) -> dict[str, Customer]:
        pipe = self._redis.pipeline(transaction=False)
        for cid in ids:
            pipe.hgetall(keys.customer(merchant, provider, cid))
        found: dict[str, Customer] = {}
        for cid, raw in zip(ids, pipe.execute(), strict=True):
            if raw:
                data: Mapping[bytes, bytes] = raw
                found[cid] = Customer(provider_id=cid, email=_text(data.get(b"email")), phone=_text(data.get(b"phone")))
        return found


def _text(value: bytes | None) -> str | None:
    return value.decode() if value else None


class MemoryCustomerDirectory:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str], Customer] = {}

    def put_many(self, merchant: str, provider: str, customers: Iterable[Customer]) -> None:
        for c in customers:
            self._data[merchant, provider, c.provider_id] = c

    def get_many(self, merchant: str, provider: str, ids: Sequence[str]) -> dict[str, Customer]:
        return {cid: self._data[merchant, provider, cid] for cid in ids if (merchant, provider, cid) in self._data}
