"""No import cycle inside ``pipeline/`` or ``workers/``, read from the import graph.

The graph is built with ``ast`` over the source files, so nothing is imported to build it.
Every import statement counts wherever it stands: at module level, under ``if TYPE_CHECKING:``
and inside functions (a cycle broken only by deferring an import is still a knot to untie).
``from a.b import c`` is an edge to the module ``a.b.c`` when there is one, else to ``a.b``
(a name from its ``__init__``); the parent packages an import initialises on the way are not
counted, or every re-exporting ``__init__`` would close a cycle with its own modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "workers")

#: Cycles outside the delivery area, left to the issue-13 moves that own those files (composition,
#: sim/demo package, console). A cycle may shrink or vanish; it may not grow or appear elsewhere.
def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → source file, for every module of ``PACKAGES``."""
    found: dict[str, Path] = {}
    for top in PACKAGES:
        for path in (root / top).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The modules of ``known`` that ``name`` (at ``path``) imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                if f"{module}.{alias.name}" in known:
                    yield f"{module}.{alias.name}"
                elif module in known:
                    yield module


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: set(imported(name, path, known)) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    (tmp_path / "pipeline" / "sub").mkdir(parents=True)
    (tmp_path / "workers").mkdir()
    (tmp_path / "pipeline" / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "sub" / "__init__.py").write_text("from pipeline.sub.a import A\n")
    (tmp_path / "pipeline" / "sub" / "a.py").write_text("from . import b\nA = 1\n")
    (tmp_path / "pipeline" / "sub" / "b.py").write_text("def f():\n    from pipeline.sub.a import A\n")
    (tmp_path / "pipeline" / "c.py").write_text("from pipeline.sub import A\n")
    (tmp_path / "workers" / "__init__.py").write_text("import pipeline.c\n")
    edges = graph(tmp_path)
    assert edges["pipeline.c"] == {"pipeline.sub"} and edges["workers"] == {"pipeline.c"}
    assert cycles(edges) == [frozenset({"pipeline.sub.a", "pipeline.sub.b"})]


def test_no_import_cycles() -> None:
    assert [sorted(c) for c in cycles(graph())] == []
