"""This process's Runtime, installed by ``workers.app.create_app``.

Tasks, signal handlers and the beat scheduler read it here when they run, so none of them
imports the Celery app (and the app imports none of them: ``Celery(include=[...])``)."""

from __future__ import annotations

from workers.wiring import Runtime

__all__ = ["install", "runtime"]

_installed: list[Runtime] = []


def install(rt: Runtime) -> None:
    """Make ``rt`` this process's Runtime (the last app created wins, as with Celery's current app)."""
    _installed[:] = [rt]


def runtime() -> Runtime:
    """This process's Runtime; an error naming the fix if no app was created yet."""
    if not _installed:
        raise RuntimeError("no Runtime installed: create the Celery app first (workers.app.create_app(settings))")
    return _installed[0]
