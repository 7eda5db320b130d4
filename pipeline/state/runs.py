"""Merchants' sync runs (``keys.sync_run``): the streams of one run that have not finished.

Identity streams are ``first``, the others ``then``: started once no ``first`` stream is left, so
activity is joined to identities already in the directory (``run`` once started). The run's
existence is the merchant's "one sync at a time"; it runs out after ``ttl_s`` whatever happens.
The windows store (pipeline/state/windows.py) is also the runs store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol

import redis

from pipeline import keys

__all__ = ["MemoryRuns", "RedisRuns", "Runs"]


class Runs(Protocol):
    def open_run(self, merchant: str, streams: Mapping[str, str], *, ttl_s: int) -> bool:
        """Start a run of ``streams`` (stream → ``first`` or ``then``) unless one runs (False)."""
        ...

    def run(self, merchant: str) -> dict[str, str]:
        """The streams of the merchant's run that have not finished (stream → first, then, run)."""
        ...

    def stream_done(self, merchant: str, stream: str) -> tuple[bool, list[str]]:
        """``stream`` finished: (the run finished with it, the ``then`` streams to start now)."""
        ...

    def end_run(self, merchant: str) -> None:
        """Give the run up (a refused credential): the next slot starts a new one."""
        ...


_OPEN_RUN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""
_STREAM_DONE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return {0} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {1} end
local all = redis.call('HGETALL', KEYS[1])
local later = {}
for i = 1, #all, 2 do
  if all[i + 1] == 'first' then return {0} end
  if all[i + 1] == 'then' then later[#later + 1] = all[i] end
end
for _, name in ipairs(later) do redis.call('HSET', KEYS[1], name, 'run') end
local out = {0}
for _, name in ipairs(later) do out[#out + 1] = name end
return out
"""


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisRuns:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._open_run = client.register_script(_OPEN_RUN)
        self._stream_done = client.register_script(_STREAM_DONE)

    def open_run(self, merchant: str, streams: Mapping[str, str], *, ttl_s: int) -> bool:
        args: list[str | int] = [int(ttl_s)]
        for name, state in streams.items():
            args += [name, state]
        return bool(self._open_run(keys=[keys.sync_run(merchant)], args=args))

    def run(self, merchant: str) -> dict[str, str]:
        return {_s(k): _s(v) for k, v in self._redis.hgetall(keys.sync_run(merchant)).items()}

    def stream_done(self, merchant: str, stream: str) -> tuple[bool, list[str]]:
        out = self._stream_done(keys=[keys.sync_run(merchant)], args=[stream])
        return bool(int(out[0])), [_s(n) for n in out[1:]]

    def end_run(self, merchant: str) -> None:
        self._redis.delete(keys.sync_run(merchant))


class MemoryRuns:
    """Run TTLs are not modelled."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def open_run(self, merchant: str, streams: Mapping[str, str], *, ttl_s: int) -> bool:
        with self._lock:
            if self._runs.get(merchant):
                return False
            self._runs[merchant] = dict(streams)
            return True

    def run(self, merchant: str) -> dict[str, str]:
        with self._lock:
            return dict(self._runs.get(merchant, {}))

    def stream_done(self, merchant: str, stream: str) -> tuple[bool, list[str]]:
        with self._lock:
            run = self._runs.get(merchant)
            if not run or run.pop(stream, None) is None:
                return False, []
            if not run:
                del self._runs[merchant]
                return True, []
            if "first" in run.values():
                return False, []
            later = [n for n, s in run.items() if s == "then"]
            run.update({n: "run" for n in later})
            return False, later

    def end_run(self, merchant: str) -> None:
        with self._lock:
            self._runs.pop(merchant, None)
