"""gunicorn settings of the ``web`` process: ``gunicorn -c python:workers.gunicorn_conf workers.web:application``.

Two listeners (issue 12, issue 15):

* public, ``0.0.0.0:$PORT`` (default 8000): ``POST /webhooks/...`` and ``GET /healthz`` only;
* operational, ``$OPS_HOST:$OPS_PORT`` (default ``127.0.0.1:9100``, loopback): ``/metrics`` and
  ``/readyz``. Set ``OPS_HOST=0.0.0.0`` only where the network keeps that port private (a pod
  port that no Service exposes); ``workers.web`` routes by the listener a request arrived on.

Slow clients: the worker class is **gevent** (one greenlet per connection, ``worker_connections``
of them), so a client sending its headers or body a byte at a time holds a greenlet, not one of
a few threads, and signed deliveries keep being answered. Its header read is bounded by
``keepalive`` seconds (gunicorn's gevent worker wraps every request-line and header read in a
``gevent.Timeout`` of that length) and its body read by ``WEBHOOK_READ_TIMEOUT_S``
(``workers.web``). Chosen over a buffering reverse proxy so that the defence is in the process
itself, the same in the Procfile, compose, k8s and systemd, and tested (tests/webhooks/test_slow_clients.py);
a proxy or load balancer in front remains welcome. One worker per container: scale with
replicas (the process-local counters of ``/metrics`` are then one worker's, as Prometheus expects).
"""

from __future__ import annotations

import os

PORT = int(os.environ.get("PORT") or 8000)
OPS_HOST = os.environ.get("OPS_HOST") or "127.0.0.1"
OPS_PORT = int(os.environ.get("OPS_PORT") or 9100)

bind = [f"0.0.0.0:{PORT}", f"{OPS_HOST}:{OPS_PORT}"]
worker_class = "gevent"
workers = int(os.environ.get("WEB_WORKERS") or 1)
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS") or 1000)
keepalive = 5            # seconds to send a request line and headers (and to idle between requests)
timeout = 30             # a worker silent this long is restarted
graceful_timeout = 20
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = "-"
control_socket_disable = True  # gunicorn >= 25.1: no control socket (it fails in a read-only container)
