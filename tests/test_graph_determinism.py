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
