"""Every Redis key the pipeline uses, in one place.

All keys start with ``lp:``. Personal data never appears in a key: customer emails are
hashed (``identity_hash``) before they become part of one.
"""

from __future__ import annotations

import hashlib

PREFIX = "lp"


def identity_hash(value: str) -> str:
    """A stable, non-reversible token for an email or phone, safe to put in keys and logs."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:24]


def cursor(merchant: str, provider: str, stream: str) -> str:
    """Hash: incremental-sync state of one stream (watermark, in-progress window)."""
    return f"{PREFIX}:cursor:{merchant}:{provider}:{stream}"


def seen(merchant: str, provider: str, stream: str, record_version: str) -> str:
    """String with TTL: this record version was already handed to transform."""
    return f"{PREFIX}:seen:{merchant}:{provider}:{stream}:{record_version}"


def customer(merchant: str, provider: str, customer_id: str) -> str:
    """Hash: the provider customer's identity (email/phone) for joining activity records."""
    return f"{PREFIX}:customer:{merchant}:{provider}:{customer_id}"


def delivered(merchant: str, platform: str, delivery_id: str) -> str:
    """String with TTL: the platform acknowledged this delivery; never send it again."""
    return f"{PREFIX}:delivered:{merchant}:{platform}:{delivery_id}"


def subscriber(merchant: str, platform: str, identity: str) -> str:
    """String with TTL: platform subscriber id for an identity hash."""
    return f"{PREFIX}:subscriber:{merchant}:{platform}:{identity}"


def dlq(merchant: str, platform: str) -> str:
    """Stream: dead-lettered deliveries of one (merchant, platform)."""
    return f"{PREFIX}:dlq:{merchant}:{platform}"


def quarantine(provider: str) -> str:
    """Stream: provider records that failed validation."""
    return f"{PREFIX}:quarantine:{provider}"


def skipped(merchant: str, platform: str) -> str:
    """Stream: deliveries deliberately not sent (e.g. unknown subscriber), with the reason."""
    return f"{PREFIX}:skipped:{merchant}:{platform}"


def stats(merchant: str) -> str:
    """Hash: counters (pulled, transformed, delivered, ...) of one merchant."""
    return f"{PREFIX}:stats:{merchant}"


def rate_limit(scope: str) -> str:
    """Hash: one limiter scope's state (AIMD factor, hold); ``<key>:w<limit>/<period>`` is a
    window's GCRA theoretical arrival time (string), ``...:log`` a burst window's last slots (list)."""
    return f"{PREFIX}:rl:{scope}"


def lock(name: str) -> str:
    """String with TTL: a mutual-exclusion lock."""
    return f"{PREFIX}:lock:{name}"


def snapshot(merchant: str, provider: str, stream: str) -> str:
    """Hash: record id → JSON of the fields diffed between versions (tier, state, ...)."""
    return f"{PREFIX}:snapshot:{merchant}:{provider}:{stream}"


def webhook_seen(provider: str, merchant: str, message_id: str) -> str:
    """String with TTL: this webhook message id was accepted (replay protection)."""
    return f"{PREFIX}:webhook:{provider}:{merchant}:{message_id}"


def sequence(merchant: str, provider: str, resource: str) -> str:
    """Hash: record id → highest webhook sequenceNumber applied."""
    return f"{PREFIX}:sequence:{merchant}:{provider}:{resource}"


def credential(merchant: str, role: str, kind: str) -> str:
    """Hash: status of one connection's credential (failing since, reason)."""
    return f"{PREFIX}:credential:{merchant}:{role}:{kind}"


def due(platform: str) -> str:
    """Sorted set: batch id → when to look at it next (due, or the end of a worker's lease)."""
    return f"{PREFIX}:due:{platform}"


def due_bodies(platform: str) -> str:
    """Hash: batch id → the batch (JSON) of every batch in ``due(platform)``."""
    return f"{PREFIX}:duebody:{platform}"


def due_holders(platform: str) -> str:
    """Hash: batch id → the message (Celery task id) holding its lease, while one does."""
    return f"{PREFIX}:dueholder:{platform}"


def batch_done(platform: str, batch_id: str) -> str:
    """String with TTL: this batch was finished; a late copy of its message does nothing."""
    return f"{PREFIX}:batchdone:{platform}:{batch_id}"


def pause(merchant: str, platform: str) -> str:
    """Hash: why and until when a platform connection is paused."""
    return f"{PREFIX}:pause:{merchant}:{platform}"


def dead_streak(merchant: str, platform: str) -> str:
    """String: dead-letters in a row of one platform connection (the DLQ guard)."""
    return f"{PREFIX}:deadstreak:{merchant}:{platform}"


def profile_state(merchant: str, platform: str, identity: str) -> str:
    """Hash: property → [source time, value hash] last delivered (last write wins, diff sync)."""
    return f"{PREFIX}:profile:{merchant}:{platform}:{identity}"


def inflight(merchant: str, platform: str, delivery_id: str) -> str:
    """String with TTL: a worker is sending this delivery now (no one else may)."""
    return f"{PREFIX}:inflight:{merchant}:{platform}:{delivery_id}"


def bulk(merchant: str) -> str:
    """Hash: progress of the merchant's latest bulk customer sync, for ``status``."""
    return f"{PREFIX}:bulk:{merchant}"


def heartbeat(worker: str) -> str:
    """String: when this worker last consumed a heartbeat task (liveness that proves consumption)."""
    return f"{PREFIX}:heartbeat:{worker}"


def contributions(merchant: str, provider: str, kind: str, identity: str) -> str:
    """Hash: one customer's contributions of a kind (reviews, survey responses, referrals) by
    id → JSON, the source of their aggregate profile properties; ``identity`` is hashed."""
    return f"{PREFIX}:contrib:{merchant}:{provider}:{kind}:{identity}"


def missing_scopes(merchant: str, provider: str) -> str:
    """Hash: provider stream → JSON {scope, since, reason} while the key lacks that stream's scope."""
    return f"{PREFIX}:scopes:{merchant}:{provider}"


def leases(kind: str) -> str:
    """Sorted set: name → when its lease runs out, of one kind of lease ("sync", "balances", "beat")."""
    return f"{PREFIX}:lease:{kind}"


def lease_holders(kind: str) -> str:
    """Hash: name → who holds its lease (``leases(kind)``)."""
    return f"{PREFIX}:leaseholder:{kind}"


# --- operator console (issue 16) ---------------------------------------------------------


def activity(merchant: str, scope: str, granularity: str, bucket: int) -> str:
    """Hash with TTL: counters of one (merchant, platform or ``ingest``) in one time bucket
    (``granularity`` ``m``: a minute, ``h``: an hour; ``bucket``: its start, Unix seconds)."""
    return f"{PREFIX}:activity:{merchant}:{scope}:{granularity}:{bucket}"


def trail(identity: str) -> str:
    """Sorted set with TTL: what happened to one customer's deliveries (score: when). ``identity``
    is ``identity_hash(email or phone)``: no plaintext."""
    return f"{PREFIX}:trail:{identity}"


# --- webhook intake (issue 12): a delivery's raw body, passed to the task by reference --------------------
def webhook_body(provider: str, merchant: str, message_id: str) -> str:
    """Hash with TTL: an accepted webhook's raw body and event name, until its task has run."""
    return f"{PREFIX}:webhook-body:{provider}:{merchant}:{message_id}"


def heartbeats() -> str:
    """Sorted set: worker → when it last consumed a heartbeat (read by /metrics without a SCAN)."""
    return f"{PREFIX}:heartbeats"


def console_replay(job_id: str) -> str:
    """Set with TTL: the dead-letter entries (``merchant/platform/id``) one console replay sent,
    for its progress page."""
    return f"{PREFIX}:console:replay:{job_id}"


# --- scheduled jobs (issue 13): once per time slot ---------------------------------------------------------
def job_slot(job: str, merchant: str, slot: int) -> str:
    """String with TTL: claimed by the first run of ``job`` (``sync``, ``balances``) for ``merchant`` in
    time slot ``slot``; a second beat's copy finds it taken."""
    return lock(f"slot:{job}:{merchant}:{slot}")


# --- parallel ingest (issue 14) ------------------------------------------------------------------------
def seen_versions(merchant: str, provider: str, stream: str) -> str:
    """Sorted set with TTL: the record versions of one stream already handed to transform (score: when
    the marker runs out). Checked and marked one page at a time (pipeline/state/seen.py)."""
    return f"{PREFIX}:seen-versions:{merchant}:{provider}:{stream}"


def ingest_window(merchant: str, provider: str, stream: str) -> str:
    """Hash: the window of one stream whose pages are handed over by parallel tasks (its id, the next
    page's number, whether every page was fetched, each pending page's raw records, each handed-over
    page's newest ``updated_at``). Gone once the window closed (its watermark moved)."""
    return f"{PREFIX}:ingest-window:{merchant}:{provider}:{stream}"


def sync_run(merchant: str) -> str:
    """Hash with TTL: the streams of a merchant's sync run that have not finished (stream → first, then,
    run). Its existence is the run: one at a time per merchant."""
    return f"{PREFIX}:sync-run:{merchant}"
