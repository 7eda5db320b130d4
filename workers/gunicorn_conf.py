"""gunicorn settings of the ``web`` process: ``gunicorn -c python:workers.gunicorn_conf workers.web:application``.

Two listeners (``workers.listeners``; issue 12, issue 15):

* public, ``$WEB_HOST:$PORT`` (default ``0.0.0.0:8000``): ``POST /webhooks/...`` and ``GET /healthz``;
* operational, ``$OPS_HOST:$OPS_PORT`` (default ``127.0.0.1:9180``, loopback): ``/metrics`` and
  ``/readyz``. Set ``OPS_HOST=0.0.0.0`` only where the network keeps that port private (a pod
  port that no Service exposes, a container port that is not published).

**Slow clients.** The worker class is gevent: one greenlet per connection (up to
``worker_connections``), so a client sending its headers or body a byte at a time holds a
greenlet, not one of a few threads, and signed deliveries keep being answered. Its request line
and headers must arrive within ``keepalive`` seconds (gunicorn's gevent worker reads them under a
``gevent.Timeout`` of that length) and its body within ``WEBHOOK_READ_TIMEOUT_S``
(``workers.web``), else the connection is closed or answered 400. Chosen over a buffering reverse
proxy because the defence then lives in the process itself: the same under the Procfile,
compose, k8s and systemd, and tested (tests/webhooks/test_web_process.py). A TLS proxy or load
balancer in front is still expected on the internet; it is not what keeps the process answering.

gevent patches the standard library here, in the master, before ``preload_app`` imports the app,
so every socket and lock the app creates is cooperative. ``preload_app`` makes a configuration
error (bad connections.toml, a missing credential) end gunicorn with status 2 instead of
respawning failing workers forever. One worker per container: scale with replicas (the
process-local counters on ``/metrics`` are then that process's, as Prometheus expects).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

from workers.listeners import listeners  # noqa: E402  (after patching)

_listen = listeners()
bind = _listen.binds
worker_class = "gevent"
workers = 1
worker_connections = 1000
preload_app = True
keepalive = 5  # seconds to send the request line and headers (and to idle between requests)
timeout = 30  # a worker whose event loop is blocked this long is restarted
graceful_timeout = 30
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
control_socket_disable = True  # gunicorn >= 25.1: no control socket (it fails in a read-only container)
