"""The windows of streams whose pages are handed over by parallel tasks (and sync runs: runs.py).

A window (``keys.ingest_window``) is opened by the stream's fetcher, which alone holds the
stream's lease. For every page it fetches, one atomic step keeps the page's raw records pending
*and* checkpoints the cursor past it (``add_page``): a fetcher killed after that step resumes at
the next page, and the page is handed over by its own task whatever happens to the fetcher.
A page task hands its page over, then ``page_done`` drops the page and keeps its newest
``updated_at``. Whichever step leaves the window with every page fetched and none pending is
told ``CLOSE``, once (the window is then marked closing); the closer moves the watermark to the
newest of all pages and removes the window in one step (``close``). A closer that dies leaves a
closing window, which the next fetcher or page task of that stream closes again (the same
watermark: closing twice never moves it twice).

The fetch is held back so that the pages waiting in Redis stay few (memory stays flat on a
first sync of a large account): once ``max_pending`` pages are pending, ``add_page`` marks the
window paused and tells the fetcher to stop (PAUSE); the page task that leaves at most
``resume_at`` pending is told, once, to start a fetcher again (RESUME), which continues from
the checkpoint.

Every step names the window's id: a step of a window that is no longer the current one
(a stale fetcher, a late copy of a page task) is refused (``STALE``) and changes nothing.

The same store keeps merchants' sync runs (pipeline/state/runs.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

import redis

from pipeline import keys
from pipeline.state.cursors import CursorState, MemoryCursorStore, dump_state
from pipeline.state.runs import MemoryRuns, RedisRuns, Runs

__all__ = ["MemoryWindows", "RedisWindows", "Step", "Window", "Windows"]


class Step(enum.Enum):
    OK = "ok"
    CLOSE = "close"  # every page fetched and handed over: the caller closes the window (once)
    STALE = "stale"  # the window is another one now, or gone: nothing was changed
    PAUSE = "pause"  # (add_page) enough pages wait to be handed over: the fetcher stops here, for now
    RESUME = "resume"  # (page_done) the paused fetch may go on: the caller starts a fetcher (once)


@dataclass(frozen=True)
class Window:
    id: str
    next_index: int
    fetched: bool
    closing: bool
    pending: tuple[int, ...]
    newest: tuple[str, ...] = field(default=())  # each handed-over page's newest updated_at
    paused: bool = False  # the fetch stopped with enough pages pending; a page task resumes it


class Windows(Runs, Protocol):
    def open(self, merchant: str, provider: str, stream: str, *, window_id: str, state: CursorState) -> bool:
        """Open a window and checkpoint ``state`` (its lower bound), unless one is open (False)."""
        ...

    def get(self, merchant: str, provider: str, stream: str) -> Window | None: ...

    def add_page(
        self,
        merchant: str,
        provider: str,
        stream: str,
        *,
        window_id: str,
        index: int,
        body: str | None,
        state: CursorState,
        last: bool,
        max_pending: int = 0,
    ) -> Step:
        """Keep page ``index`` pending (``body`` None: an empty page, nothing to hand over) and
        checkpoint ``state``, atomically; ``last``: no page follows. With ``max_pending``, PAUSE
        once that many pages are pending (the window is marked paused)."""
        ...

    def page(self, merchant: str, provider: str, stream: str, *, window_id: str, index: int) -> str | None:
        """The pending page's raw records (None: handed over already, or another window)."""
        ...

    def page_done(
        self,
        merchant: str,
        provider: str,
        stream: str,
        *,
        window_id: str,
        index: int,
        newest: str | None,
        resume_at: int = 0,
    ) -> Step:
        """Page ``index`` was handed over; ``newest`` is its newest ``updated_at`` (ISO). RESUME
        (once) when the window is paused and at most ``resume_at`` pages are left pending."""
        ...

    def close(self, merchant: str, provider: str, stream: str, *, window_id: str, state: CursorState) -> bool:
        """Checkpoint ``state`` (the new watermark) and remove the window, if it is still ``window_id``."""
        ...


_OPEN = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'next', 0, 'pending', 0)
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""
# KEYS: cursor, window; ARGV: id, index, cursor state, body ('' = empty page), last (0/1), max pending (0: none)
_ADD_PAGE = """
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[1] then return -1 end
local index = tonumber(ARGV[2])
if tonumber(redis.call('HGET', KEYS[2], 'next')) ~= index then return -1 end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], 'next', index + 1)
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'p:' .. index, ARGV[4])
  redis.call('HINCRBY', KEYS[2], 'pending', 1)
end
if ARGV[5] == '1' then redis.call('HSET', KEYS[2], 'fetched', 1) end
local pending = tonumber(redis.call('HGET', KEYS[2], 'pending'))
if redis.call('HGET', KEYS[2], 'fetched') == '1' and pending == 0
   and redis.call('HSETNX', KEYS[2], 'closing', 1) == 1 then
  return 2
end
local max_pending = tonumber(ARGV[6])
if ARGV[5] ~= '1' and max_pending > 0 and pending >= max_pending then
  redis.call('HSET', KEYS[2], 'paused', 1)
  return 3
end
redis.call('HDEL', KEYS[2], 'paused')  -- a fetcher is at work: no page task is to start another
return 1
"""
# KEYS: window; ARGV: id, index, newest ('' = none), resume at (pending pages)
_PAGE_DONE = """
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return -1 end
if redis.call('HDEL', KEYS[1], 'p:' .. ARGV[2]) == 0 then return 1 end
local pending = redis.call('HINCRBY', KEYS[1], 'pending', -1)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'n:' .. ARGV[2], ARGV[3]) end
if redis.call('HGET', KEYS[1], 'fetched') == '1' and pending == 0
   and redis.call('HSETNX', KEYS[1], 'closing', 1) == 1 then
  return 2
end
if pending <= tonumber(ARGV[4]) and redis.call('HDEL', KEYS[1], 'paused') == 1 then return 4 end
return 1
"""
_CLOSE = """
if redis.call('HGET', KEYS[2], 'id') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
"""
_STEPS = {-1: Step.STALE, 1: Step.OK, 2: Step.CLOSE, 3: Step.PAUSE, 4: Step.RESUME}


def _window(raw: dict[str, str]) -> Window | None:
    """A window from its hash (Redis) or dict (memory): the same fields in both twins."""
    if "id" not in raw:
        return None
    return Window(
        id=raw["id"],
        next_index=int(raw.get("next", 0)),
        fetched=raw.get("fetched") == "1",
        closing=raw.get("closing") == "1",
        pending=tuple(sorted(int(k[2:]) for k in raw if k.startswith("p:"))),
        newest=tuple(v for k, v in raw.items() if k.startswith("n:")),
        paused=raw.get("paused") == "1",
    )


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisWindows(RedisRuns):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._open = client.register_script(_OPEN)
        self._add_page = client.register_script(_ADD_PAGE)
        self._page_done = client.register_script(_PAGE_DONE)
        self._close = client.register_script(_CLOSE)

    @staticmethod
    def _keys(merchant: str, provider: str, stream: str) -> list[str]:
        return [keys.cursor(merchant, provider, stream), keys.ingest_window(merchant, provider, stream)]

    def open(self, merchant: str, provider: str, stream: str, *, window_id: str, state: CursorState) -> bool:
        return bool(self._open(keys=self._keys(merchant, provider, stream), args=[window_id, dump_state(state)]))

    def get(self, merchant: str, provider: str, stream: str) -> Window | None:
        raw = {_s(k): _s(v) for k, v in self._redis.hgetall(keys.ingest_window(merchant, provider, stream)).items()}
        return _window(raw)

    def add_page(
        self,
        merchant: str,
        provider: str,
        stream: str,
        *,
        window_id: str,
        index: int,
        body: str | None,
        state: CursorState,
        last: bool,
        max_pending: int = 0,
    ) -> Step:
        step = self._add_page(
            keys=self._keys(merchant, provider, stream),
            args=[window_id, index, dump_state(state), body or "", "1" if last else "0", int(max_pending)],
        )
        return _STEPS[int(step)]

    def page(self, merchant: str, provider: str, stream: str, *, window_id: str, index: int) -> str | None:
        current, body = self._redis.hmget(keys.ingest_window(merchant, provider, stream), ["id", f"p:{index}"])
        if current is None or _s(current) != window_id or body is None:
            return None
        return _s(body)

    def page_done(
        self,
        merchant: str,
        provider: str,
        stream: str,
        *,
        window_id: str,
        index: int,
        newest: str | None,
        resume_at: int = 0,
    ) -> Step:
        step = self._page_done(
            keys=[keys.ingest_window(merchant, provider, stream)], args=[window_id, index, newest or "", resume_at]
        )
        return _STEPS[int(step)]

    def close(self, merchant: str, provider: str, stream: str, *, window_id: str, state: CursorState) -> bool:
        return bool(self._close(keys=self._keys(merchant, provider, stream), args=[window_id, dump_state(state)]))


class MemoryWindows(MemoryRuns):
    """The in-memory twin; checkpoints go to ``cursors`` (a MemoryCursorStore), as the Redis version
    writes the cursor key in the same script. Run TTLs are not modelled."""

    def __init__(self, cursors: MemoryCursorStore) -> None:
        self._cursors = cursors
        self._windows: dict[tuple[str, str, str], dict[str, str]] = {}
        super().__init__()

    def open(self, merchant: str, provider: str, stream: str, *, window_id: str, state: CursorState) -> bool:
        with self._lock:
            if (merchant, provider, stream) in self._windows:
                return False
            self._windows[merchant, provider, stream] = {"id": window_id, "next": "0", "pending": "0"}
            self._cursors.put(merchant, provider, stream, state)
            return True

    def get(self, merchant: str, provider: str, stream: str) -> Window | None:
        with self._lock:
            raw = dict(self._windows.get((merchant, provider, stream), {}))
        return _window(raw)

    def _closes(self, w: dict[str, str]) -> bool:
        if w.get("fetched") == "1" and w["pending"] == "0" and "closing" not in w:
            w["closing"] = "1"
            return True
        return False

    def add_page(
        self,
        merchant: str,
        provider: str,
        stream: str,
        *,
        window_id: str,
        index: int,
        body: str | None,
        state: CursorState,
        last: bool,
        max_pending: int = 0,
    ) -> Step:
        with self._lock:
            w = self._windows.get((merchant, provider, stream))
            if w is None or w["id"] != window_id or int(w["next"]) != index:
                return Step.STALE
            self._cursors.put(merchant, provider, stream, state)
            w["next"] = str(index + 1)
            if body:
                w[f"p:{index}"] = body
                w["pending"] = str(int(w["pending"]) + 1)
            if last:
                w["fetched"] = "1"
            if self._closes(w):
                return Step.CLOSE
            if not last and max_pending > 0 and int(w["pending"]) >= max_pending:
                w["paused"] = "1"
                return Step.PAUSE
            w.pop("paused", None)
            return Step.OK

    def page(self, merchant: str, provider: str, stream: str, *, window_id: str, index: int) -> str | None:
        with self._lock:
            w = self._windows.get((merchant, provider, stream))
            return w.get(f"p:{index}") if w is not None and w["id"] == window_id else None

    def page_done(
        self,
        merchant: str,
        provider: str,
        stream: str,
        *,
        window_id: str,
        index: int,
        newest: str | None,
        resume_at: int = 0,
    ) -> Step:
        with self._lock:
            w = self._windows.get((merchant, provider, stream))
            if w is None or w["id"] != window_id:
                return Step.STALE
            if w.pop(f"p:{index}", None) is None:
                return Step.OK
            w["pending"] = str(int(w["pending"]) - 1)
            if newest:
                w[f"n:{index}"] = newest
            if self._closes(w):
                return Step.CLOSE
            if int(w["pending"]) <= resume_at and w.pop("paused", None) is not None:
                return Step.RESUME
            return Step.OK

    def close(self, merchant: str, provider: str, stream: str, *, window_id: str, state: CursorState) -> bool:
        with self._lock:
            w = self._windows.get((merchant, provider, stream))
            if w is None or w["id"] != window_id:
                return False
            self._cursors.put(merchant, provider, stream, state)
            del self._windows[merchant, provider, stream]
            return True
