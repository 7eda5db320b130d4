"""Thin task shells: decode, call ``pipeline``, map outcomes to Celery."""

from workers.tasks.deliver import deliver_batch
from workers.tasks.ingest import sync_connection

__all__ = ["deliver_batch", "sync_connection"]
