"""The Cypher library: one parameterised file per question, readable in Neo4j Browser.

Each file starts with a header of ``//`` comments: what it answers, its parameters and an
example ``:params {...}`` line to paste into Neo4j Browser before the query. No query is ever
assembled from user input: everything variable is a parameter.

>>> "calls" in names()
True
>>> header("calls")["answers"].startswith("Every API call")
True
"""

from __future__ import annotations

from importlib import resources

__all__ = ["load", "names", "header", "statements"]


def load(name: str) -> str:
    """The text of ``cypher/<name>.cypher``."""
    return resources.files(__package__).joinpath(f"{name}.cypher").read_text(encoding="utf-8")


def names() -> list[str]:
    return sorted(p.name[:-7] for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".cypher"))


def header(name: str) -> dict:
    """{"id": the library's question id, "answers": first comment line after it, "params":
    [...], "example": ":params {...}"}."""
    lines = [ln[2:].strip() for ln in load(name).splitlines() if ln.startswith("//")]
    qid = lines.pop(0)[3:].strip() if lines and lines[0].startswith("id:") else None
    out = {"id": qid, "answers": lines[0] if lines else "", "params": [], "example": ""}
    for ln in lines:
        if ln.startswith((":params", ":param ")):
            out["example"] = ln
        elif ln.startswith("$"):
            out["params"].append(ln.split()[0][1:])
    return out


def statements(name: str) -> list[str]:
    """The statements of a file that holds several, separated by ``;`` at the end of a line
    (Neo4j Browser runs them in turn; a driver takes one at a time)."""
    body = "\n".join(ln for ln in load(name).splitlines() if not ln.startswith("//"))
    return [s.strip() for s in body.split(";\n") if s.strip().rstrip(";")]
