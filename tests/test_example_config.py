"""The example connections file stays valid."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.config import load_connections

ROOT = Path(__file__).resolve().parents[1]


def test_example_connections_file_loads() -> None:
    text = (ROOT / "connections.example.toml").read_text()
    env = {name: "user:secret" for name in re.findall(r'_env = "([A-Z0-9_]+)"', text)}
    env["BRAVO_OKENDO_WEBHOOK_SECRET"] = "whsec_c2VjcmV0"
    connections = load_connections(ROOT / "connections.example.toml", env)
    assert {c.provider.kind for c in connections.values()} == {"smile", "okendo", "omneo", "rediem"}
    assert connections["bravo"].provider.webhook_secret is not None
