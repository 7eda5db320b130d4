"""Housekeeping tasks write no INFO line each (workers/quiet.py); the minute's summary counts them."""

from __future__ import annotations

import logging

import pytest

from workers.quiet import CELERY_LOGGERS, HousekeepingFilter, install


def _trace(name: str, level: int = logging.INFO) -> logging.LogRecord:
    context = {"id": "abc", "name": name, "return_value": None, "runtime": 0.001}
    record = logging.LogRecord("celery.app.trace", level, __file__, 1, "Task %(name)s[%(id)s] succeeded in %(runtime)ss",
                               (context,), None)
    record.data = context
    return record


def _beat(entry: str, task: str) -> logging.LogRecord:
    return logging.LogRecord("celery.beat", logging.INFO, __file__, 1, "Scheduler: Sending due task %s (%s)",
                             (entry, task), None)


def test_housekeeping_info_lines_are_counted_not_written_and_the_rest_pass() -> None:
    f = HousekeepingFilter()
    assert not f.filter(_trace("lp.heartbeat"))
    assert not f.filter(_trace("lp.release_due"))
    assert not f.filter(_beat("heartbeat:ingest", "lp.heartbeat"))
    assert f.filter(_trace("lp.deliver_batch"))
    assert f.filter(_beat("sync:acme", "lp.sync_connection"))
    assert f.filter(_trace("lp.heartbeat", logging.WARNING))  # trouble is always written
    assert f.take() == {"lp.heartbeat": 2, "lp.release_due": 1}
    assert f.take() == {}


def test_a_day_of_heartbeats_writes_nothing_through_celerys_loggers(caplog: pytest.LogCaptureFixture) -> None:
    f = HousekeepingFilter()
    install(f)
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(8640):  # a day of one queue's heartbeats, every 10 s
                logging.getLogger("celery.app.trace").info("Task %(name)s[%(id)s] succeeded in %(runtime)ss",
                                                           {"id": "x", "name": "lp.heartbeat", "runtime": 0.001},
                                                           extra={"data": {"name": "lp.heartbeat"}})
            logging.getLogger("celery.app.trace").info("Task %(name)s[%(id)s] succeeded in %(runtime)ss",
                                                       {"id": "y", "name": "lp.deliver_batch", "runtime": 0.1},
                                                       extra={"data": {"name": "lp.deliver_batch"}})
        assert [r.getMessage() for r in caplog.records] == ["Task lp.deliver_batch[y] succeeded in 0.1s"]
        assert f.take() == {"lp.heartbeat": 8640}
    finally:
        for name in CELERY_LOGGERS:
            logging.getLogger(name).removeFilter(f)
