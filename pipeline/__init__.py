"""loyalty-pipeline: the library. Providers → transform → destinations, with the state,
rate limiting and dead-letter handling they need. It never imports Celery (``workers/``
is the only Celery code)."""

__version__ = "0.1.0"
