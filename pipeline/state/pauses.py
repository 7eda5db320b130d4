"""Paused platform connections: a refused credential (rechecked after a while) or the
dead-letter guard (until an operator resumes it). A paused connection's deliveries wait in
the due set; they are not dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import redis

from pipeline import keys
from pipeline.redistext import text_map

__all__ = ["MemoryPauses", "Pause", "Pauses", "RedisPauses"]


@dataclass(frozen=True)
class Pause:
    reason: str
    since: datetime
    until: datetime | None  # None: until resumed by an operator


class Pauses(Protocol):
    def get(self, merchant: str, platform: str) -> Pause | None: ...

    def pause(self, merchant: str, platform: str, *, reason: str, since: datetime, until: datetime | None) -> None: ...

    def resume(self, merchant: str, platform: str) -> None: ...

    def streak(self, merchant: str, platform: str, *, dead: int, delivered: int) -> int:
        """Add this batch's outcomes; returns the dead-letters in a row (0 after a success)."""
        ...


class RedisPauses:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, merchant: str, platform: str) -> Pause | None:
        raw = text_map(self._redis.hgetall(keys.pause(merchant, platform)))
        if not raw:
            return None
        return Pause(
            raw["reason"],
            datetime.fromisoformat(raw["since"]),
            datetime.fromisoformat(raw["until"]) if raw.get("until") else None,
        )

    def pause(self, merchant: str, platform: str, *, reason: str, since: datetime, until: datetime | None) -> None:
        self._redis.hset(
            keys.pause(merchant, platform),
            mapping={"reason": reason, "since": since.isoformat(), "until": until.isoformat() if until else ""},
        )

    def resume(self, merchant: str, platform: str) -> None:
        self._redis.delete(keys.pause(merchant, platform), keys.dead_streak(merchant, platform))

    def streak(self, merchant: str, platform: str, *, dead: int, delivered: int) -> int:
        key = keys.dead_streak(merchant, platform)
        if delivered:
            self._redis.set(key, dead)
            return dead
        return int(self._redis.incrby(key, dead)) if dead else int(self._redis.get(key) or 0)


class MemoryPauses:
    def __init__(self) -> None:
        self._pauses: dict[tuple[str, str], Pause] = {}
        self._streaks: dict[tuple[str, str], int] = {}

    def get(self, merchant: str, platform: str) -> Pause | None:
        return self._pauses.get((merchant, platform))

    def pause(self, merchant: str, platform: str, *, reason: str, since: datetime, until: datetime | None) -> None:
        self._pauses[merchant, platform] = Pause(reason, since, until)

    def resume(self, merchant: str, platform: str) -> None:
        self._pauses.pop((merchant, platform), None)
        self._streaks.pop((merchant, platform), None)

    def streak(self, merchant: str, platform: str, *, dead: int, delivered: int) -> int:
        key = (merchant, platform)
        self._streaks[key] = dead if delivered else self._streaks.get(key, 0) + dead
        return self._streaks[key]
