"""Golden answers: every question's answer on a case, as reviewed, diff-friendly JSON files.

``answer(store, question, seeds, logs)`` asks the questions a responder asks (blast radius, chains,
timeline with lineage, findings) and returns a JSON-ready object; nothing in
it depends on the run (source files are relative to the logs folder; no wall-clock time).
:func:`check` compares an answer with ``tests/golden/<case>/<question>.json`` and fails with
a unified diff, or rewrites the file when updating (``pytest --update-goldens`` or
``GRAPHTRAIL_UPDATE_GOLDENS=1``). README, "Golden answers", says how to review a diff.
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path

import pytest

from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.findings import findings
from graphtrail.queries.timeline import timeline

GOLDEN = Path(__file__).resolve().parent / "golden"
QUESTIONS = ("blast_radius", "chains", "timeline", "findings")
_DIFF_LINES = 120


def seeds_of(store, *also: str) -> list[str]:
    """Every access key that issued a session (long-term or temporary), plus ``also``."""
    sess = store.session_info
    found = set(also)
    for s in sess.values():
        issuer = s["issuer"] or ""
        if issuer.startswith("key:"):
            found.add(issuer[4:])
        elif issuer in sess and sess[issuer]["access_key_id"]:
            found.add(sess[issuer]["access_key_id"])
    return sorted(found)


def answer(store, question: str, seeds: list[str], logs: Path) -> object:
    """The answer to ``question`` on ``store`` (JSON-ready, no run-dependent values)."""
    if question == "blast_radius":
        return {seed: blast_radius(store, seed).to_dict() for seed in seeds}
    if question == "chains":
        return {"all": [c.to_dict() for c in chains(store)],
                "cross_account": [c.to_dict() for c in chains(store, cross_account=True)]}
    if question == "timeline":
        prefixes = (str(logs) + "/", str(logs.resolve()) + "/")  # as given, and through links
        return {seed: [_clean(r, prefixes) for r in timeline(store, seed, lineage=True).to_dict("records")]
                for seed in seeds}
    if question == "findings":
        return [f.to_dict() for f in findings(store)]
    raise ValueError(f"no question {question!r}")


def _clean(row: dict, prefixes: tuple[str, ...]) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and math.isnan(v):
            v = None
        elif isinstance(v, str):
            for prefix in prefixes:
                if v.startswith(prefix):
                    v = v[len(prefix):]
                    break
        out[k] = v
    return out


def dumps(obj: object) -> str:
    """Pretty JSON, keys sorted, one list item a line (flat objects in a list on one line)."""
    return _dump(obj, 0, False) + "\n"


def _dump(obj: object, depth: int, in_list: bool) -> str:
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        if in_list and not any(isinstance(v, (dict, list)) and v for v in obj.values()):
            return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False)
        body = ",\n".join(f"{inner}{json.dumps(str(k), ensure_ascii=False)}: "
                          f"{_dump(obj[k], depth + 1, False)}" for k in sorted(obj))
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        body = ",\n".join(inner + _dump(v, depth + 1, True) for v in obj)
        return "[\n" + body + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def check(case: str, question: str, answer: object, update: bool) -> None:
    """Compare with (or, updating, rewrite) ``tests/golden/<case>/<question>.json``."""
    path = GOLDEN / case / f"{question}.json"
    text = dumps(answer)
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"no golden answer {path.relative_to(GOLDEN.parent.parent)}: run "
                    "`pytest tests/test_goldens.py --update-goldens`, review and commit it")
    old = path.read_text()
    if old != text:
        diff = list(difflib.unified_diff(old.splitlines(), text.splitlines(),
                                         f"golden/{case}/{question}.json", "this run", lineterm=""))
        more = f"\n... {len(diff) - _DIFF_LINES} more lines" if len(diff) > _DIFF_LINES else ""
        pytest.fail(f"the {question} answer on {case} changed:\n" + "\n".join(diff[:_DIFF_LINES])
                    + more + "\nIf the change is right, review it and run "
                    "`pytest tests/test_goldens.py --update-goldens` (README, Golden answers).",
                    pytrace=False)
