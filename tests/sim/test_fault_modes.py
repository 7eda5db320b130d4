"""SimServer fault modes on the older simulators: on_page hooks and duplicate_across_pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from sandbox.sim import PostscriptSimulator, SmileSimulator


def test_smile_on_page_and_duplicates(clock: Any) -> None:
    with SmileSimulator(rate_per_s=None, now=clock, duplicate_across_pages=True) as sim:
        account = sim.add_account("k")
        customer = account.add_customer(email="a@b.com")
        ids = []
        for _ in range(5):
            clock.t += timedelta(seconds=1)
            ids.append(account.add_transaction(customer["id"], 10, "Placed an order")["id"])
        seen: list[int] = []
        sim.on_page(lambda req, page: seen.append(len(page)))
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer k"}, timeout=5) as c:
            body = c.get("/v1/points_transactions", params={"limit": 2}).json()
            got = [t["id"] for t in body["points_transactions"]]
            while body["metadata"]["next_cursor"]:
                body = c.get("/v1/points_transactions",
                             params={"limit": 2, "cursor": body["metadata"]["next_cursor"]}).json()
                got += [t["id"] for t in body["points_transactions"]]
        newest_first = ids[::-1]
        assert got == [newest_first[0], newest_first[1], newest_first[1], newest_first[2], newest_first[3],
                       newest_first[3], newest_first[4]]
        assert seen == [2, 3, 2]


def test_postscript_on_page_and_duplicates() -> None:
    with PostscriptSimulator(rate_per_s=None, page_size=2) as sim:
        shop = sim.add_shop("sk")
        subs = [shop.add_subscriber(email=f"s{i}@x.com")["id"] for i in range(5)]
        inserted: list[str] = []

        def insert(req: Any, page: list[dict[str, Any]]) -> None:
            if req.arg("page") in (None, "1"):
                inserted.append(shop.add_subscriber(email="late@x.com")["id"])

        sim.on_page(insert)
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer sk"}, timeout=5) as c:
            sim.duplicate_across_pages = True
            pages = [c.get("/api/v2/subscribers", params={"page": n}).json() for n in (1, 2, 3)]
        got = [s["id"] for p in pages for s in p["subscribers"]]
        assert got == [subs[0], subs[1], subs[1], subs[2], subs[3], subs[3], subs[4], inserted[0]]
        assert pages[-1]["page_info"]["total_pages"] == 3
