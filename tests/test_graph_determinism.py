"""The graph tables of a case do not depend on the process: the same trail ingested by two
``graphtrail`` processes with different string hash seeds gives the same tables, row for row
(an investigator comparing two builds, or a test comparing before and after a change, must
see no difference that is only an accident of Python's set order)."""

from __future__ import annotations

import os
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
