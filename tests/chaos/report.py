"""The chaos results table (issue 15): one row per scenario, printed at the end of the chaos run.

A chaos test calls :func:`record` once with what it measured. The terminal summary hook in
``tests/chaos/conftest.py`` prints every row recorded in the session, and :func:`write_json` keeps them
in ``CHAOS_RESULTS`` (default ``chaos-results.json``) so docs/reliability.md can be refreshed from a run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChaosRow:
    scenario: str
    events: int
    lost: int
    duplicates_explained: int
    duplicates_unexplained: int
    longest_stall_s: float
    recover_s: float


ROWS: list[ChaosRow] = []

COLUMNS = ("scenario", "events", "lost", "dup (explained)", "dup (unexplained)", "longest stall s", "recover s")


def record(scenario: str, *, events: int, lost: int, duplicates_explained: int = 0, duplicates_unexplained: int = 0,
           longest_stall_s: float = 0.0, recover_s: float = 0.0) -> ChaosRow:
    """Adds one scenario's figures to the session's table (call it before the test's assertions)."""
    row = ChaosRow(scenario, events, lost, duplicates_explained, duplicates_unexplained,
                   round(longest_stall_s, 1), round(recover_s, 1))
    ROWS.append(row)
    return row


def table(rows: list[ChaosRow]) -> str:
    """A Markdown table of ``rows`` (what the terminal shows and docs/reliability.md keeps)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        values = (r.scenario, r.events, r.lost, r.duplicates_explained, r.duplicates_unexplained,
                  r.longest_stall_s, r.recover_s)
        lines.append("| " + " | ".join(str(v) for v in values) + " |")
    return "\n".join(lines)


def write_json(rows: list[ChaosRow], path: Path | None = None) -> Path:
    target = path or Path(os.environ.get("CHAOS_RESULTS", "chaos-results.json"))
    target.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return target


def read_json(path: Path) -> list[ChaosRow]:
    return [ChaosRow(**row) for row in json.loads(path.read_text())]


if __name__ == "__main__":  # python -m tests.chaos.report [chaos-results.json]: the table for docs/reliability.md
    import sys

    print(table(read_json(Path(sys.argv[1] if len(sys.argv) > 1 else "chaos-results.json"))))
