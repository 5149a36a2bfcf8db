"""The direction of imports: the library never loads its CLI; the core never loads loaders."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded_after(module: str) -> list[str]:
    code = (f"import json, sys, {module}; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('graphtrail', 'loaders'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_python_api_does_not_load_the_cli():
    loaded = _loaded_after("graphtrail.api")
    assert "graphtrail.wiring" in loaded  # the composition root joins loaders to the case
    assert not [m for m in loaded if m.startswith("graphtrail.cli")]


@pytest.mark.parametrize("module", ["graphtrail.queries.blast_radius", "graphtrail.queries.chains",
                                    "graphtrail.queries.findings", "graphtrail.store.memory",
                                    "graphtrail.views.report"])
def test_store_queries_and_views_do_not_load_loaders(module):
    loaded = _loaded_after(module)
    assert not [m for m in loaded if m.startswith(("loaders", "graphtrail.cli"))], loaded


def _import_graph() -> dict[str, set[str]]:
    """Module -> the modules of graphtrail, loaders and cypher it imports (lazy imports too)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    modules = {}
    for top in ("graphtrail", "loaders", "cypher"):
        for path in (root / top).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        out = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out |= {resolve(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
                out |= subs  # ``from pkg import module`` depends on the module, not on pkg
                if len(subs) < len(node.names):
                    out.add(resolve(node.module))
        graph[name] = {m for m in out if m and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    import networkx as nx

    return sorted(nx.simple_cycles(nx.DiGraph([(a, b) for a, bs in graph.items() for b in bs])))


def test_no_import_cycles():
    """No module of graphtrail, loaders or cypher imports itself back, even lazily."""
    graph = _import_graph()
    assert "graphtrail.queries.findings.base" in graph["graphtrail.queries.findings.persistence"]
    assert not _cycles(graph), _cycles(graph)


def test_the_cycle_check_sees_a_cycle():
    assert [sorted(c) for c in _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}})] == [["a", "b", "c"]]


def test_the_core_does_not_import_loaders_or_the_cli():
    """Declarations, store, questions and views: never loaders, never the CLI (lazily either)."""
    graph = _import_graph()
    core = ("graphtrail.schema", "graphtrail.model", "graphtrail.ids", "graphtrail.families",
            "graphtrail.times", "graphtrail.store", "graphtrail.queries", "graphtrail.views")
    wrong = {(m, d) for m, deps in graph.items() if m.startswith(core) for d in deps
             if d.startswith(("loaders", "graphtrail.cli", "graphtrail.wiring", "graphtrail.api"))}
    assert not wrong, sorted(wrong)


def test_views_read_a_store_only_through_its_protocol():
    """The report and the graph view take a ViewStore: no store implementation is imported."""
    graph = _import_graph()
    allowed = {"graphtrail.store.protocol", "graphtrail.store.integrity"}  # the case's verdict file
    wrong = {(m, d) for m, deps in graph.items() if m.startswith("graphtrail.views")
             for d in deps if d.startswith("graphtrail.store") and d not in allowed}
    assert not wrong, sorted(wrong)


LEAF_HELPERS = ("graphtrail.arrays", "graphtrail.background", "graphtrail.bulk",
                "graphtrail.arrow_pool", "graphtrail.policy")


def test_leaf_helpers_import_nothing_of_graphtrail():
    """The helpers every layer may import (docs/ARCHITECTURE.md) stand alone: loaders and the
    store import them, so an import of graphtrail in one would tie the layers together."""
    graph = _import_graph()
    assert set(LEAF_HELPERS) <= set(graph)
    assert {m: sorted(graph[m]) for m in LEAF_HELPERS if graph[m]} == {}
