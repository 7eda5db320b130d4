"""The ``web`` process: the webhook endpoint as a WSGI app (``gunicorn workers.web:application``)."""

from __future__ import annotations

from pipeline.state.ledger import RedisLedger
from pipeline.webhooks.receiver import make_app
from workers.app import runtime
from workers.tasks.webhooks import handle_webhook

__all__ = ["application"]


def _accept(provider: str, merchant: str, body: str) -> None:
    handle_webhook.apply_async((provider, merchant, body), retry=True,
                               retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5})


application = make_app(resolve=runtime.webhook_endpoint, accept=_accept, replays=RedisLedger(runtime.redis),
                       clock=runtime.clock)
