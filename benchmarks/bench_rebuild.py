"""The graph build (``graphtrail case rebuild``) of one case, before and after, alternated.

Each code tree (this checkout, and ``--before`` trees: ``git archive <commit> graphtrail
loaders cypher | tar -x -C /tmp/before``) rebuilds the graph of its own copy of the case, in
a process of its own, ``--rounds`` times, the trees alternated so a noisy machine weighs
on each alike. Each run gives the wall seconds and the CPU seconds (user and system) of the
process; the graph tables each tree wrote are compared with the first
tree's (the calls by actor with their dictionaries decoded).

Usage::

    python benchmarks/bench_rebuild.py /tmp/case --before /tmp/before [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_by_actor import same_rows  # noqa: E402  (a sibling script, not a package)


def rebuild(tree: Path, case: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # run from a folder outside both trees, the tree under test first on the path
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                    "sys.argv = ['graphtrail', 'case', 'rebuild', '--case', sys.argv[2]]; "
                    "from graphtrail.cli.main import app; app()", str(tree), str(case)],
                   check=True, capture_output=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_seconds": round(wall, 2),
            "cpu_seconds": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2)}


def same_graph(a: Path, b: Path) -> bool:
    """The same graph tables, row for row (dictionary columns compared by their values)."""
    names = sorted(p.name for p in (a / "graph").glob("*.parquet") if ".index." not in p.name)
    if names != sorted(p.name for p in (b / "graph").glob("*.parquet") if ".index." not in p.name):
        return False
    return all(same_rows(a / "graph" / n, b / "graph" / n) for n in names)


def alternated(trees: list[Path], rounds: int, run, cases: dict[Path, Path],
               first: str = "after") -> dict:
    """``run(tree, case)`` for every tree, ``rounds`` times, the trees alternated (this tree
    first in odd rounds, or ``first="before"``: the others first), each on its own case; every
    run printed as a JSON line. Returns the rows and whether each other tree's graph tables
    are this tree's."""
    rows = []
    for r in range(1, rounds + 1):
        order = trees if (r % 2) == (first == "after") else trees[::-1]
        for tree in order:
            row = {"tree": str(tree), "round": r, **run(tree, cases[tree])}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"rounds": rows,
            "same_graph_as_this_tree": {str(t): same_graph(cases[HERE], cases[t]) for t in trees[1:]}}


def emit(out: dict, path: Path | None) -> int:
    """Print ``out`` (and write it to ``path``); 0 when every tree built the same graph."""
    text = json.dumps(out, indent=2)
    if path:
        path.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0 if all(out["same_graph_as_this_tree"].values()) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", type=Path, help="a case folder (copied for each tree, not changed)")
    ap.add_argument("--before", type=Path, action="append", default=[], help="another tree")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    trees = [HERE, *args.before]
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        copies = {}
        for i, tree in enumerate(trees):
            copies[tree] = Path(tmp) / f"case{i}"
            shutil.copytree(args.case, copies[tree], symlinks=True)
        found = alternated(trees, args.rounds, rebuild, copies)
    return emit({"case": str(args.case), **found}, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
