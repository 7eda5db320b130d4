"""The console in a real browser (Playwright driving Debian's chromium) over the real stack:
the Smile and Postscript simulators, the Procfile's worker and beat, Redis, and the
``loyalty-pipeline console`` process (started without any merchant credential).

Postscript refuses the customer's event once (400): the worker dead-letters it. The operator
signs in, loads the overview, finds the customer by email, opens the dead letter, replays it
(a dry run first: nothing sent; then for real), watches the progress page until the entry
leaves the queue, and sees it delivered: in the list (gone), at Postscript (received once,
with the delivery id as external_id) and in the customer lookup.

``UPDATE_SCREENSHOTS=1`` writes docs/console-overview.png and docs/console-dead-letter.png.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import redis

from pipeline import keys
from sandbox.sim import PostscriptSimulator, SmileSimulator
from pipeline.state.trail import RedisTrail
from tests.console.processes import free_port, spawn, stop, wait_for, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "console-test-token-0123456789"
EMAIL = "jane.doe@example.test"


def _browser_or_skip():  # type: ignore[no-untyped-def]
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem is None and not shutil.which(CHROMIUM):
        problem = f"no chromium at {CHROMIUM} (apt-get install chromium; scripts/test does it)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)
    return sync_playwright


def test_find_a_customer_and_replay_their_dead_letter_from_the_page(tmp_path: Path, redis_url: str,
                                                                   real_redis: redis.Redis) -> None:
    sync_playwright = _browser_or_skip()
    smile, postscript = SmileSimulator(rate_per_s=None).start(), PostscriptSimulator(rate_per_s=None).start()
    processes = {}
    try:
        account, shop = smile.add_account("smile_key"), postscript.add_shop("sk_shop")
        jane = account.add_customer(email=EMAIL, state="member", points_balance=150)
        account.add_transaction(jane["id"], 150, "Placed an order")
        shop.add_subscriber(email=EMAIL)
        postscript.fail_next(1, 400, path_prefix="/api/v2/events")
        (tmp_path / "connections.toml").write_text(f"""
[merchants.acme.provider]
kind = "smile"
base_url = "{smile.base_url}/v1"
credential_env = "ACME_SMILE_API_KEY"
sync_interval_s = 2

[[merchants.acme.platforms]]
kind = "postscript"
base_url = "{postscript.base_url}"
credential_env = "ACME_POSTSCRIPT_API_KEY"
""")
        env = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
               "LOG_LEVEL": "INFO"}
        env.pop("BROKER_URL", None)
        secrets = {"ACME_SMILE_API_KEY": "smile_key", "ACME_POSTSCRIPT_API_KEY": "sk_shop"}
        logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat", "console")}
        processes["worker"] = spawn(["-m", "celery", "-A", "workers.app", "worker", "-Q",
                                     "ingest,webhooks,deliver.postscript", "--pool", "threads", "-c", "4",
                                     "--without-gossip", "--without-mingle", "-n", "console-e2e@%h"],
                                    {**env, **secrets}, logs["worker"])
        processes["beat"] = spawn(["-m", "celery", "-A", "workers.app", "beat", "-s", str(tmp_path / "beat")],
                                  {**env, **secrets}, logs["beat"])
        port = free_port()
        processes["console"] = spawn(["-c", "from workers.cli import main; main()", "console", "--bind",
                                      f"127.0.0.1:{port}"], {**env, "CONSOLE_TOKEN": TOKEN}, logs["console"])
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", processes["console"], logs["console"])
        wait_for(lambda: real_redis.xlen(keys.dlq("acme", "postscript")) == 1, "the 400 to be dead-lettered",
                 timeout_s=90, logs=(logs["worker"], logs["beat"]))
        assert shop.events == []

        shots = tmp_path / "shots"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1360, "height": 860})
            page.set_default_timeout(30_000)
            page.goto(f"{base}/")
            assert page.url.endswith("/login")
            page.fill("input[name=token]", TOKEN)
            page.click("button:has-text(\"Sign in\")")

            # the overview: the flow of acme → postscript, with the dead letter counted
            page.wait_for_selector("#flows")
            flows = page.inner_text("#flows")
            assert "acme" in flows and "postscript" in flows
            page.wait_for_selector("#overview-live[data-refreshed]", state="attached")  # live refresh
            page.screenshot(path=str(shots / "console-overview.png"), full_page=True)

            # where is Jane's event? dead-lettered, with a link to the entry
            page.click("header >> text=Customers")
            page.fill("input[name=who]", EMAIL.upper())
            page.click("button:has-text(\"Look up\")")
            trail = page.inner_text("#trail")
            assert "dead-lettered" in trail and "Smile Points Earned" in trail and EMAIL not in page.content()
            page.click("text=open dead letter")

            # the dead letter: the delivery, the request summary, every attempt
            page.wait_for_selector("#attempts")
            entry = page.inner_text("#entry")
            assert "400" in entry and "j***@example.test" in entry and "postscript event for smile" in entry
            page.screenshot(path=str(shots / "console-dead-letter.png"), full_page=True)

            page.click("text=Replay (preview first)")
            assert "Would replay 1 entry" in page.inner_text("#preview")
            assert shop.events == [] and real_redis.zcard(keys.due("postscript")) == 0  # a dry run sends nothing
            page.click("#confirm-replay")
            page.wait_for_selector("text=left the dead-letter queue", timeout=60_000)  # live progress
            assert real_redis.xlen(keys.dlq("acme", "postscript")) == 0

            page.click("header >> text=Dead letters")
            assert "the dead-letter queue is empty" in page.inner_text("#dlq-table")
            page.click("header >> text=Customers")
            page.fill("input[name=who]", EMAIL)
            page.click("button:has-text(\"Look up\")")
            assert "delivered" in page.inner_text("#trail") and "dead-lettered" not in page.inner_text("#trail")
            browser.close()

        (event,) = shop.events  # delivered once, with our delivery id as Postscript's external_id
        assert event["type"] == "Smile_Points_Earned" and event["email"] == EMAIL
        trail = RedisTrail(real_redis, ttl_s=3600).lookup(keys.identity_hash(EMAIL))
        replayed = [e for e in trail if e.name == "Smile Points Earned"]
        assert [e.outcome for e in replayed] == ["delivered", "dead_lettered"]
        assert event["external_id"] == replayed[0].delivery_id
        if os.environ.get("UPDATE_SCREENSHOTS"):
            for shot in shots.iterdir():
                shutil.copy(shot, ROOT / "docs" / shot.name)
    finally:
        for process in processes.values():
            stop(process)
        smile.stop()
        postscript.stop()
