"""Architecture rules that must not erode."""

from __future__ import annotations

import ast
import re
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


# --- the library is the library (issue 13): sandbox/ (simulators, demo, local Redis) sits beside it ---

#: The only workers/ modules allowed to import sandbox: the CLI commands that run the demo and the simulators.
SANDBOX_IN_WORKERS = {"workers/cli_sandbox.py"}


def _all_imports(path: Path) -> set[str]:
    """Top-level package of every absolute import, also those inside functions."""
    return {n.split(".")[0] for n in _imports(path)}


def test_pipeline_imports_neither_sandbox_nor_workers_nor_celery() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(_all_imports(p) & {"sandbox", "workers", "celery", "kombu"})
                 for p in (ROOT / "pipeline").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_sandbox_commands_import_sandbox_from_workers() -> None:
    importers = {str(p.relative_to(ROOT)) for p in (ROOT / "workers").rglob("*.py") if "sandbox" in _all_imports(p)}
    assert importers == SANDBOX_IN_WORKERS


def test_sandbox_imports_are_inside_the_commands_so_the_image_loads_the_cli() -> None:
    # the production image has no sandbox package: a module-level import would break every command there
    tree = ast.parse((ROOT / "workers" / "cli_sandbox.py").read_text())
    top = {n.split(".")[0] for node in tree.body
           for n in ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])}
    assert "sandbox" not in top


def _strings(path: Path) -> list[str]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docs = {id(body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and (body := node.body) and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]


def test_nothing_in_pipeline_starts_celery_or_gunicorn_by_name() -> None:
    # an argv element or a command line naming the program: "celery", "gunicorn -c ...", "-m celery"
    starts = re.compile(r"^(celery|gunicorn)(\s|$)|(^|\s)-m\s+(celery|gunicorn)\b")
    offenders = {str(p.relative_to(ROOT)): hits for p in (ROOT / "pipeline").rglob("*.py")
                 if (hits := [s for s in _strings(p) if starts.search(s.strip())])}
    assert offenders == {}


def test_the_image_copies_only_the_library_and_the_workers() -> None:
    copied = re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", (ROOT / "deploy" / "Dockerfile").read_text(), re.MULTILINE)
    sources = {s for line in copied for s in line.split()}
    assert "sandbox" not in " ".join(sources) and {"pipeline", "workers"} <= sources
    admitted = [line for line in (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
                if line.startswith("!")]
    assert not [line for line in admitted if "sandbox" in line] and "!pipeline" in admitted


def test_fakeredis_is_a_sandbox_extra_that_dev_includes_not_a_runtime_dependency() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = lambda deps: {d.split("[")[0].split(">")[0].split("=")[0].strip() for d in deps}  # noqa: E731
    assert "fakeredis" not in names(project["dependencies"])
    assert "fakeredis" in names(project["optional-dependencies"]["sandbox"])
    assert "loyalty-pipeline[sandbox]" in project["optional-dependencies"]["dev"]
