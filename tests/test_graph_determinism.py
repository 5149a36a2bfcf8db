"""The graph tables of a case do not depend on the process: the same trail ingested by two
``graphtrail`` processes with different string hash seeds gives the same tables, row for row
(an investigator comparing two builds, or a test comparing before and after a change, must
see no difference that is only an accident of Python's set order)."""

from __future__ import annotations

import os
import re
import subprocess

import pyarrow.parquet as pq

from graphtrail.synth.trails import write_trail
from tests.conftest import GRAPHTRAIL


def test_graph_tables_are_the_same_whatever_the_hash_seed(tmp_path):
    trail = tmp_path / "trail"
    write_trail(trail, 3000, seed=5, records_per_file=500, workers=1)
    graphs = []
    for seed in ("1", "2"):
        case = tmp_path / f"case-{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        env.pop("GRAPHTRAIL_CASE", None)
        done = subprocess.run([GRAPHTRAIL, "ingest", str(trail), "--case", str(case),
                               "--workers", "0", "--format", "json"],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        graphs.append(case / "graph")
    names = sorted(p.name for p in graphs[0].glob("*.parquet"))
    assert "nodes.parquet" in names and "edges.parquet" in names
    assert names == sorted(p.name for p in graphs[1].glob("*.parquet"))
    kinds = pq.read_table(graphs[0] / "nodes.parquet", columns=["kind"]).column("kind").to_pylist()
    assert kinds.count("Account") >= 2  # several accounts: their order is what a set would shuffle
    for name in names:
        first, second = (pq.read_table(g / name) for g in graphs)
        assert first.equals(second), f"{name} differs between two builds of one trail"


def test_report_and_view_pages_are_the_same_whatever_the_hash_seed(scenario, tmp_path):
    """The same question asked twice gives the same page, byte for byte but the time it was
    made: the drawn graph's nodes and relations came out in the order of a Python set (the
    subgraph of a report's lineage, the nodes kept when a view is cut down), which the hash
    seed changes from one process to the next."""
    store, truth = scenario
    pages: dict[str, list[str]] = {"report": [], "view": []}
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        env.pop("GRAPHTRAIL_CASE", None)
        for what, args in (("report", ["report", "--access-key", truth.leaked_key]),
                           ("view", ["view", "--max-nodes", "40"])):
            out = tmp_path / f"{what}-{seed}.html"
            done = subprocess.run([GRAPHTRAIL, *args, "--case", str(store.case.path), "--out", str(out)],
                                  capture_output=True, text=True, env=env, timeout=300)
            assert done.returncode == 0, done.stderr
            pages[what].append(re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "", out.read_text()))
    for what, (first, second) in pages.items():
        assert first == second, f"two `graphtrail {what}` pages of one case differ"
        assert 'data-graphtrail="gt-' in first


_ALIKE = r"""
import json
import networkx as nx
from graphtrail.views.graph.aggregate import reduce_graph

g = nx.MultiDiGraph()
g.add_node("key:K", kind="AccessKey", label="K", account="1")
for role in ("roleA", "roleB"):  # two roles, each with two sessions that did nothing else
    g.add_node(role, kind="Role", label=role, account="1")
    for i in range(2):
        s = f"session:{role}{i}"
        g.add_node(s, kind="Session", label=s, account="1")
        g.add_edge("key:K", s, kind="ISSUED", first_seen=i + 1, last_seen=i + 1, count=1,
                   event_ids=[f"issue-{role}{i}"], event_names=["AssumeRole"])
        g.add_edge(s, role, kind="OF_ROLE", first_seen=i + 1, last_seen=i + 1, count=1,
                   event_ids=[f"of-{role}{i}"], event_names=[])
for j in range(40):  # most of the graph: objects the key read alike
    o = f"arn:aws:s3:::b/o{j}"
    g.add_node(o, kind="Resource", label=o, account="1")
    g.add_edge("key:K", o, kind="ACTED_ON", first_seen=j + 1, last_seen=j + 1, count=1,
               event_ids=[f"get-{j}"], event_names=["GetObject"])
small, reduction = reduce_graph(g, 5)
print(json.dumps([list(small.nodes(data=True)), [list(e) for e in small.edges(data=True)],
                  reduction.summary_nodes], default=str))
"""


def test_summaries_are_the_same_whatever_the_hash_seed():
    """Collapsing the objects leaves fewer than half the nodes: networkx then walked what
    stayed in a set's order, and the sessions collapsed next listed their evidence in it."""
    import sys

    outs = set()
    for seed in ("1", "2", "3", "4"):
        done = subprocess.run([sys.executable, "-c", _ALIKE], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}, timeout=120)
        assert done.returncode == 0, done.stderr
        outs.add(done.stdout)
    assert len(outs) == 1, "the reduced graph changes with the hash seed"
    assert '"issue-roleB0", "issue-roleB1"' in outs.pop()  # in the order the graph holds them
