"""Thin task shells: decode, call ``pipeline``, map outcomes to Celery."""

from workers.tasks.deliver import deliver_batch
from workers.tasks.ingest import sync_connection
from workers.tasks.webhooks import handle_webhook

__all__ = ["deliver_batch", "handle_webhook", "sync_connection"]
