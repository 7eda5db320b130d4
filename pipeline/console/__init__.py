"""The operator console: a server-rendered web app over the library the CLI uses.

Overview (flow per merchant × platform for the last hour and day, sync lag, pauses,
credentials, limiters, queue and due-set depth, live), dead letters (filter, inspect, replay
with a dry-run preview and the CLI's paced replay, purge with confirmation), quarantine
(browse, re-drive), customer lookup (the customer trail, by hashed email or phone) and
connections (resume). No Celery here: ``workers/console.py`` wires and serves it.
"""

from pipeline.console.app import Console
from pipeline.console.auth import ConsoleAuth, require_credentials
from pipeline.console.data import ConsoleDeps
from pipeline.console.pages import make_console

__all__ = ["Console", "ConsoleAuth", "ConsoleDeps", "make_console", "require_credentials"]
