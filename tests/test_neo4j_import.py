"""`graphtrail neo4j export-import`: the neo4j-admin import files hold the graph `neo4j push` writes.

Neo4j cannot run here, so the files are read back by :func:`read_import`, written for this test
from neo4j-admin's documented header format (operations manual, "Import": ``name:type``,
``:ID(group)``, ``:START_ID(group)``, ``:END_ID(group)``, ``:TYPE``, ``:LABEL``, ``[]`` arrays
split on ``--array-delimiter``, an empty field is no property, ``""`` an empty string, quotes
doubled inside a quoted field), and compared with what the Bolt server holds after a push.
"""

from __future__ import annotations

import gzip
import json
import re
import shlex
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.store.case import Case
from graphtrail.store.neo4j import Neo4jStore
from graphtrail.store.neo4j_case import push_case
from graphtrail.synth.scenarios import build_scenario
from graphtrail.times import iso
from tests.conftest import GRAPHTRAIL, ingest_paths

pytestmark = pytest.mark.neo4j

HOSTILE = 'Boto3/1.34 "quoted", comma;semi|pipe^caret~tilde\nnext line\r\nand ""doubled""'


def _fields(text: str, delim: str = ",", quote: str = '"'):
    """Records of (value, quoted) cells: RFC 4180 with newlines inside quotes."""
    i, n, row, out = 0, len(text), [], []
    while i < n:
        if text[i] == quote:
            j, buf = i + 1, []
            while True:
                k = text.index(quote, j)
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == quote:
                    buf.append(quote)
                    j = k + 2
                    continue
                i = k + 1
                break
            row.append(("".join(buf), True))
        else:
            m = re.compile(f"[{re.escape(delim)}\r\n]").search(text, i)
            end = m.start() if m else n
            row.append((text[i:end], False))
            i = end
        if i >= n or text[i] in "\r\n":
            out.append(row)
            row = []
            i += 2 if text.startswith("\r\n", i) else 1
        else:
            assert text[i] == delim, f"expected {delim!r} at {i}: {text[i:i + 20]!r}"
            i += 1
    return out


def _value(raw: str, kind: str, array_delim: str):
    if kind.endswith("[]"):
        return [_value(x, kind[:-2], array_delim) for x in raw.split(array_delim)]
    if kind in ("long", "int", "short", "byte"):
        return int(raw)
    if kind in ("double", "float"):
        return float(raw)
    if kind == "boolean":
        assert raw in ("true", "false"), raw
        return raw == "true"
    if kind == "datetime":  # spelt as Neo4jStore.run gives a DATETIME back
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return iso(round(dt.timestamp() * 1e6))
    assert kind == "string", kind
    return raw


def read_import(paths: list[Path], array_delim: str, relationships: bool):
    """Nodes ``{(group, id): (labels, props)}`` or relationships ``{(group, start, type, group, end, props)}``."""
    nodes, rels = {}, []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as f:  # "\r\n" inside a value stays
            (head, *rows) = _fields(f.read())
        cols = []
        for cell, _ in head:
            name, _, kind = cell.partition(":")
            m = re.fullmatch(r"(ID|START_ID|END_ID)\((\w+)\)", kind)
            cols.append((name, m.group(1) if m else (kind or "string"), m.group(2) if m else None))
        for row in rows:
            assert len(row) == len(cols), (path, row)
            props, labels, ends, rtype = {}, [], {}, None
            for (name, kind, group), (raw, quoted) in zip(cols, row, strict=True):
                if raw == "" and not quoted:
                    continue  # no property
                if kind == "ID":
                    ends["id"] = (group, raw)
                    if name:
                        props[name] = raw
                elif kind in ("START_ID", "END_ID"):
                    ends[kind] = (group, raw)
                elif kind == "LABEL":
                    labels = raw.split(array_delim)
                elif kind == "TYPE":
                    rtype = raw
                else:
                    props[name] = _value(raw, kind, array_delim)
            if relationships:
                rels.append((*ends["START_ID"], rtype, *ends["END_ID"], json.dumps(props, sort_keys=True)))
            else:
                assert ends["id"] not in nodes, ends["id"]
                nodes[ends["id"]] = (sorted(labels), props)
    return sorted(rels) if relationships else nodes


def _on_server(server: Neo4jStore):
    """The graph as the server holds it; an empty list is no property (neo4j-admin cannot write one)."""
    def clean(p):
        return {k: v for k, v in p.items() if v != []}
    nodes = {}
    for r in server.run("MATCH (n:Graphtrail) RETURN labels(n) AS labels, properties(n) AS p"):
        group = next(label for label in r["labels"] if label != "Graphtrail")
        nodes[(group, r["p"]["id"])] = (sorted(r["labels"]), clean(r["p"]))
    rels = sorted(
        (r["sl"], r["s"], r["t"], r["el"], r["e"], json.dumps(clean(r["p"]), sort_keys=True))
        for r in server.run(
            "MATCH (a:Graphtrail)-[r]->(b:Graphtrail) RETURN [x IN labels(a) WHERE x <> 'Graphtrail'][0] AS sl, "
            "a.id AS s, type(r) AS t, [x IN labels(b) WHERE x <> 'Graphtrail'][0] AS el, b.id AS e, "
            "properties(r) AS p"))
    return nodes, rels


def _export(case: Path, out: Path) -> tuple[list[Path], list[Path], str, str]:
    res = CliRunner().invoke(app, ["neo4j", "export-import", "--case", str(case), "--out", str(out)])
    assert res.exit_code == 0, res.output
    command = res.stdout[res.stdout.index("neo4j-admin"):res.stdout.index("\n\nthen")]
    # bash's ANSI-C quoting (shlex has none) for the control-character delimiter
    words = shlex.split(command.replace("\\\n", " ").replace("$'\\x1f'", "'\x1f'"))
    assert words[:4] == ["neo4j-admin", "database", "import", "full"] and words[-1] == "neo4j"
    opts = [w.split("=", 1) for w in words[4:-1]]
    delim = dict(opts)["--array-delimiter"]
    assert "--overwrite-destination" not in dict(opts)
    return ([Path(v) for k, v in opts if k == "--nodes"], [Path(v) for k, v in opts if k == "--relationships"],
            delim, res.stdout)


def _same_graph(case_dir: Path, out: Path, bolt_server) -> str:
    server = Neo4jStore(bolt_server.uri, bolt_server.user, bolt_server.password, bolt_server.database)
    try:
        server.write("MATCH (n) DETACH DELETE n")
        push_case(Case.open(case_dir), server)
        want_nodes, want_rels = _on_server(server)
    finally:
        server.close()
    node_files, rel_files, delim, stdout = _export(case_dir, out)
    assert sorted(node_files + rel_files) == sorted(out.glob("*.csv"))
    got_nodes = read_import(node_files, delim, relationships=False)
    got_rels = read_import(rel_files, delim, relationships=True)
    assert got_nodes.keys() == want_nodes.keys()
    for key, want in want_nodes.items():
        assert got_nodes[key] == want, key
    assert got_rels == want_rels
    assert {r[2] for r in got_rels} >= {"DERIVES", "MADE", "ISSUED"}
    return delim


def test_demo_case_files_hold_the_pushed_graph(scenario, bolt_server, tmp_path):
    store, _ = scenario
    delim = _same_graph(store.case.path, tmp_path / "import", bolt_server)
    assert delim == "|"  # user agents hold ';'


def test_hostile_values_round_trip(bolt_server, tmp_path):
    """User agents with quotes, commas, newlines and every preferred array delimiter."""
    logs = tmp_path / "logs"
    build_scenario(logs, seed=1, noise_events=200)
    for f in logs.rglob("*.json*"):
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
        if not isinstance(doc, dict) or "Records" not in doc:
            continue  # digest files
        for i, rec in enumerate(doc["Records"]):
            if i % 3 == 0:
                rec["userAgent"] = HOSTILE + str(i)
        with opener(f, "wt", encoding="utf-8") as fh:
            json.dump(doc, fh)
    case = ingest_paths([str(logs)], tmp_path / "case")
    delim = _same_graph(case.path, tmp_path / "import", bolt_server)
    assert delim == "\x1f"
    text = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "import").glob("nodes_*.csv"))
    assert "nan" not in re.split(r"\W+", text) and "None" not in re.split(r"\W+", text)


def test_refuses_a_folder_with_csv_files(scenario, tmp_path):
    store, _ = scenario
    (tmp_path / "old.csv").write_text("x\n")
    res = CliRunner().invoke(app, ["neo4j", "export-import", "--case", str(store.case.path), "--out", str(tmp_path),
                                   "--overwrite-destination"])
    assert res.exit_code == 2 and "already holds CSV files" in res.output


def test_installed_command_without_calls(scenario, tmp_path):
    """As a user runs it: exit 0, no Call file, the overwrite flag only when asked."""
    store, _ = scenario
    res = subprocess.run([GRAPHTRAIL, "neo4j", "export-import", "--case", str(store.case.path),
                          "--out", str(tmp_path / "x"), "--no-calls", "--database", "ir 117",
                          "--overwrite-destination"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "--overwrite-destination=true" in res.stdout and "'ir 117'" in res.stdout
    assert "None" not in res.stdout and not (tmp_path / "x" / "nodes_Call.csv").exists()
    assert not list((tmp_path / "x").glob("rels_MADE_*.csv"))
    assert (tmp_path / "x" / "schema.cypher").read_text().count("CREATE CONSTRAINT") >= 10


def test_a_call_detail_never_holds_the_array_delimiter(tmp_path):
    """The array delimiter is chosen over the calls' lists too: a request kept as a call's
    detail holding ``;|^~`` (nothing else in the case does) must come back whole, not split."""
    from graphtrail.store.neo4j_import import write_import_files
    from tests.trails import ingest, rec, user

    doc = json.dumps({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "a;b|c^d~e"}]})
    store = ingest(tmp_path, [rec("PutUserPolicy", "iam.amazonaws.com", "2024-05-01T10:00:00Z",
                                  user("AKIAEXAMPLEDEV00001"), event_id="d-1",
                                  params={"userName": "kim", "policyName": "p", "policyDocument": doc})])
    files = write_import_files(Case.open(store.case.path), tmp_path / "import")
    assert files.array_delimiter == "\x1f"
    calls = read_import([p for p in files.nodes if "Call" in p.name], files.array_delimiter,
                        relationships=False)
    ((_, props),) = calls.values()
    assert [json.loads(d)["policyDocument"] for d in props["details"]] == [doc]
