"""Architecture rules that must not erode."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_pipeline_never_imports_celery() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in _imports(path) if n.split(".")[0] in {"celery", "workers"})
        for path in (ROOT / "pipeline").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(ROOT)): n for p in [*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]
           if (n := len(p.read_text().splitlines())) > 400}
    assert big == {}


def test_procfile_declares_worker_and_beat() -> None:
    kinds = {line.split(":", 1)[0] for line in (ROOT / "Procfile").read_text().splitlines() if ":" in line}
    assert {"worker", "beat"} <= kinds


def test_redis_keys_come_only_from_keys_module() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in [*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]
                 if p.name != "keys.py" and ('"lp:' in p.read_text() or "f\"lp:" in p.read_text())]
    assert offenders == []


def test_worker_consumes_every_queue_the_app_declares() -> None:
    from workers.config import queue_names

    workers = [line for line in (ROOT / "Procfile").read_text().splitlines() if "celery -A workers.app worker" in line]
    consumed = [q for line in workers for q in line.split("-Q", 1)[1].split()[0].split(",")]
    assert sorted(consumed) == sorted(queue_names())  # every queue consumed, each by one pool
