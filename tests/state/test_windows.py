"""Windows of parallel pages and sync runs (pipeline/state/windows.py): one contract, run against the
in-memory twin and against real Redis (the Lua scripts never run on fakeredis)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.state.cursors import CursorState, MemoryCursorStore, RedisCursorStore
from pipeline.state.windows import MemoryWindows, RedisWindows, Step

W = ("acme", "smile", "points_transactions")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def stores(request: pytest.FixtureRequest) -> tuple[Any, Any]:
    if request.param == "memory":
        cursors = MemoryCursorStore()
        return MemoryWindows(cursors), cursors
    r = request.getfixturevalue("real_redis")
    return RedisWindows(r), RedisCursorStore(r)


def test_pages_are_kept_with_their_checkpoint_and_the_window_closes_once(stores: tuple[Any, Any]) -> None:
    windows, cursors = stores
    start = CursorState(watermark="2026-03-01T00:00:00+00:00", window_start="2026-02-28T23:59:00+00:00")
    assert windows.open(*W, window_id="w", state=start)
    assert not windows.open(*W, window_id="w2", state=start)  # one window at a time
    assert (
        windows.add_page(
            *W, window_id="w", index=0, body='[{"id": 1}]', state=CursorState(page_cursor="c1"), last=False
        )
        is Step.OK
    )
    assert cursors.get(*W).page_cursor == "c1"  # checkpointed with the page
    assert windows.add_page(*W, window_id="w", index=1, body='[{"id": 2}]', state=CursorState(), last=True) is Step.OK
    w = windows.get(*W)
    assert (w.id, w.next_index, w.fetched, w.closing, w.pending) == ("w", 2, True, False, (0, 1))
    assert windows.page(*W, window_id="w", index=1) == '[{"id": 2}]'
    assert windows.page(*W, window_id="other", index=1) is None
    assert windows.page_done(*W, window_id="w", index=1, newest="2026-03-01T00:00:05+00:00") is Step.OK
    assert windows.page_done(*W, window_id="w", index=1, newest=None) is Step.OK  # again: nothing changes
    assert windows.page_done(*W, window_id="other", index=0, newest=None) is Step.STALE
    assert windows.page_done(*W, window_id="w", index=0, newest="2026-03-01T00:00:03+00:00") is Step.CLOSE
    assert windows.page_done(*W, window_id="w", index=0, newest=None) is Step.OK  # told to close once only
    w = windows.get(*W)
    assert (
        w.closing and w.pending == () and sorted(w.newest) == ["2026-03-01T00:00:03+00:00", "2026-03-01T00:00:05+00:00"]
    )
    assert windows.close(*W, window_id="w", state=CursorState(watermark="2026-03-01T00:00:05+00:00"))
    assert windows.get(*W) is None and cursors.get(*W).watermark == "2026-03-01T00:00:05+00:00"
    assert not windows.close(*W, window_id="w", state=CursorState(watermark="x"))  # gone: a second close is refused
    assert cursors.get(*W).watermark == "2026-03-01T00:00:05+00:00"


def test_an_empty_last_page_closes_a_window_with_nothing_pending(stores: tuple[Any, Any]) -> None:
    windows, _ = stores
    windows.open(*W, window_id="w", state=CursorState(window_start=""))
    assert (
        windows.add_page(*W, window_id="w", index=0, body=None, state=CursorState(window_start=""), last=True)
        is Step.CLOSE
    )


def test_a_run_starts_its_later_streams_once_no_identity_stream_is_left(stores: tuple[Any, Any]) -> None:
    windows, _ = stores
    plan = {"customers": "first", "points_transactions": "then", "reward_fulfillments": "then"}
    assert windows.open_run("acme", plan, ttl_s=60)
    assert not windows.open_run("acme", plan, ttl_s=60)  # one run at a time
    assert windows.stream_done("acme", "points_transactions") == (False, [])  # an identity stream is still on
    assert windows.stream_done("acme", "customers") == (False, ["reward_fulfillments"])
    assert windows.run("acme") == {"reward_fulfillments": "run"}
    assert windows.stream_done("acme", "customers") == (False, [])  # once
    assert windows.stream_done("acme", "reward_fulfillments") == (True, [])
    assert windows.open_run("acme", plan, ttl_s=60)
    windows.end_run("acme")
    assert windows.open_run("acme", plan, ttl_s=60)
