"""``graphtrail view`` of a whole case, cut down on the case's tables (``case_view.py``).

The page must be the page drawn from the whole networkx graph, byte for byte, whenever the
tables' cut answers; and it must not answer when the drawing would hold summary nodes.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.trails import write_trail
from graphtrail.views.graph import case_view
from graphtrail.views.graph.aggregate import reduce_graph
from graphtrail.views.graph.case_view import reduced_case
from graphtrail.views.graph.html import render_case_view, render_graph
from tests.conftest import ingest_paths

runner = CliRunner()


@pytest.fixture(scope="module")
def trail_case(tmp_path_factory):
    """A generated organization trail (no two resources or sessions linked alike)."""
    root = tmp_path_factory.mktemp("case-view")
    write_trail(root / "logs", 20_000, seed=3, workers=1)
    return ingest_paths([str(root / "logs")], root / "case").path


@pytest.mark.parametrize("max_nodes", [10, 60, 150, 400])
def test_the_tables_cut_draws_the_page_of_the_whole_graph(trail_case, max_nodes):
    whole = MemoryStore.open(trail_case).graph
    assert whole.number_of_nodes() > max_nodes
    reduced = reduced_case(MemoryStore.open(trail_case), max_nodes)
    assert reduced is not None
    _, reduction = reduce_graph(whole, max_nodes)
    assert reduced.reduction == reduction and reduction.omitted_nodes > 0
    assert reduced.drawn.number_of_nodes() == max_nodes
    assert render_case_view(reduced, title="t") == render_graph(whole, title="t", max_nodes=max_nodes)


def test_a_case_drawn_whole_is_not_cut(trail_case):
    n = MemoryStore.open(trail_case).graph.number_of_nodes()
    assert reduced_case(MemoryStore.open(trail_case), n) is None
    assert reduced_case(MemoryStore.open(trail_case), n - 1) is not None


def test_alike_nodes_leave_the_cut_to_the_whole_graph(scenario):
    """The demo incident reads objects alike: summary nodes, which only the whole graph
    draws."""
    store, _ = scenario
    max_nodes = 20
    _, reduction = reduce_graph(store.graph, max_nodes)
    assert reduction.summary_nodes > 0
    assert reduced_case(MemoryStore.open(store.case.path), max_nodes) is None


def test_each_doubt_falls_back(trail_case, monkeypatch):
    """A relation whose props would set its kind, and a repeated relation: not cut."""
    store = MemoryStore.open(trail_case)
    edges = store.edges
    props = edges.column("props").to_pylist()
    props[0] = '{"kind": "ISSUED"}'
    import pyarrow as pa

    store.__dict__["edges"] = edges.set_column(edges.schema.get_field_index("props"), "props",
                                               pa.array(props, pa.string()))
    assert reduced_case(store, 10) is None
    again = MemoryStore.open(trail_case)
    again.__dict__["edges"] = pa.concat_tables([again.edges, again.edges.slice(0, 1)])
    assert reduced_case(again, 10) is None
    monkeypatch.setattr(case_view, "_any_alike", lambda *a: True)
    assert reduced_case(MemoryStore.open(trail_case), 10) is None


def test_view_of_a_whole_case_is_the_same_page_either_way(trail_case, tmp_path, monkeypatch):
    fast, slow = tmp_path / "fast.html", tmp_path / "slow.html"
    args = ["view", "--case", str(trail_case), "--max-nodes", "60"]
    r = runner.invoke(app, [*args, "--out", str(fast)])
    assert r.exit_code == 0, r.output
    monkeypatch.setattr("graphtrail.cli.report.reduced_case", lambda *a, **k: None)
    r2 = runner.invoke(app, [*args, "--out", str(slow)])
    assert r2.exit_code == 0, r2.output
    assert fast.read_bytes() == slow.read_bytes()
    assert r.output.replace(str(fast), "") == r2.output.replace(str(slow), "")
    assert "summarised to 60 at most" in r.output
