"""The schema is declared once: the case's files, the graph facts and the Cypher library follow it."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cypher
from graphtrail import schema
from graphtrail.schema import EDGES, NODE_PROPERTIES, EdgeKind, NodeKind

_COMMENT = re.compile(r"//.*$", re.M)
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
# (var:Label:Other ...) and (:Label)
_NODE_PATTERN = re.compile(r"\(\s*\w*\s*((?::\s*\w+\s*)+)")
# var:Label in a WHERE (seed:Session)
_LABEL_TEST = re.compile(r"\b\w+((?::[A-Z]\w*)+)(?=\s|\)|$)")
# -[r:TYPE|OTHER*0..12]->
_REL_PATTERN = re.compile(r"\[\s*\w*\s*:\s*([A-Z_|]+)")
_PROPERTY = re.compile(r"\b[a-z_]\w*\.([a-z_]\w*)\b")
_MAP_KEYS = re.compile(r"\(\s*\w*(?::\w+)*\s*\{([^}]*)\}")
_REL_BODY = re.compile(r"\[[^\]]*\]")  # -[d:DERIVES {via: 'x'}]-: a type, not a label
# keys of a map literal the query builds itself ({prin: ..., hops: [...]}): its own names,
# read back as acc.hops, never a property of the graph
_OWN_MAP_KEY = re.compile(r"[{,]\s*([a-z_]\w*)\s*:(?!\w)")
_CYPHER_FUNCTIONS = {"datetime", "date", "duration"}  # datetime.epochmillis etc. are not properties


def _code(name: str) -> str:
    return _STRING.sub("''", _COMMENT.sub("", cypher.load(name)))


def _labels(code: str) -> set[str]:
    out = set()
    code = _REL_BODY.sub("[]", code)
    for m in _NODE_PATTERN.finditer(code):
        out |= {x.strip() for x in m.group(1).split(":") if x.strip()}
    for m in _LABEL_TEST.finditer(code):
        out |= {x for x in m.group(1).split(":") if x}
    return out


def _properties(code: str) -> set[str]:
    graph_maps = {m.group(1) for m in _MAP_KEYS.finditer(code)}
    own = {k for k in _OWN_MAP_KEY.findall(_MAP_KEYS.sub("()", code))} - {
        k.split(":")[0].strip() for body in graph_maps for k in body.split(",") if ":" in k}
    out = {m.group(1) for m in _PROPERTY.finditer(code)} - own
    out -= {p for p in out if any(f"{fn}.{p}" in code for fn in _CYPHER_FUNCTIONS)}
    for m in _MAP_KEYS.finditer(code):
        out |= {k.split(":")[0].strip() for k in m.group(1).split(",") if ":" in k}
    return out


_KNOWN_LABELS = {k.value for k in NodeKind} | {schema.OWN_LABEL}
_KNOWN_TYPES = {k.value for k in EdgeKind}
_KNOWN_PROPERTIES = (schema.node_properties() | set(schema.EDGE_CORE) | set(schema.EDGE_PUSHED)
                     | {p for spec in EDGES.values() for p in spec.props})


@pytest.mark.parametrize("name", cypher.names())
def test_cypher_names_only_what_the_schema_declares(name):
    code = _code(name)
    assert _labels(code) <= _KNOWN_LABELS, f"{name}.cypher: unknown labels"
    types = {t for m in _REL_PATTERN.finditer(code) for t in m.group(1).split("|") if t}
    assert types <= _KNOWN_TYPES, f"{name}.cypher: unknown relationship types {types - _KNOWN_TYPES}"
    props = _properties(code)
    assert props <= _KNOWN_PROPERTIES, f"{name}.cypher: undeclared properties {props - _KNOWN_PROPERTIES}"


def test_the_cypher_check_sees_a_wrong_name():
    code = "MATCH (a:Sesion)-[:ISSUES]->(b) WHERE a.acess_key = $k RETURN b.id"
    assert "Sesion" in _labels(code) - _KNOWN_LABELS
    assert _properties(code) - _KNOWN_PROPERTIES == {"acess_key"}
    assert {m.group(1) for m in _REL_PATTERN.finditer(code)} == {"ISSUES"}


def _plain(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _same(actual: pa.Schema, declared: pa.Schema) -> None:
    assert actual.names == declared.names
    for f in declared:
        assert _plain(actual.field(f.name).type) == f.type, f.name


def test_the_case_files_have_the_declared_schemas(scenario):
    store, _ = scenario
    case = store.case
    graph = case.graph_dir()
    _same(pq.read_schema(graph / "activity.parquet"), schema.call_schema())
    _same(case.graph_table("sessions").schema, schema.session_schema())
    _same(case.graph_table("nodes").schema, schema.node_schema())
    _same(case.graph_table("edges").schema, schema.edge_schema())
    _same(case.events().schema, schema.event_schema())


def _facts_follow_the_schema(case) -> None:
    nodes = case.graph_table("nodes").to_pylist()
    kind = {n["id"]: NodeKind(n["kind"]) for n in nodes}
    for n in nodes:
        extra = set(json.loads(n["props"] or "{}")) - NODE_PROPERTIES[kind[n["id"]]]
        assert not extra, f"{n['kind']} {n['id']}: undeclared properties {extra}"
    for e in case.graph_table("edges").to_pylist():
        spec = EDGES[EdgeKind(e["kind"])]
        assert kind[e["src"]] in spec.src, f"{e['kind']} from {kind[e['src']]}: {e['src']}"
        assert kind[e["dst"]] in spec.dst, f"{e['kind']} to {kind[e['dst']]}: {e['dst']}"
        extra = set(json.loads(e["props"] or "{}")) - spec.props
        assert not extra, f"{e['kind']}: undeclared properties {extra}"


def test_graph_facts_follow_the_declared_edges_and_properties(scenario):
    _facts_follow_the_schema(scenario[0].case)


def test_graph_facts_of_the_real_datasets_follow_the_schema(datasets_case):
    _facts_follow_the_schema(datasets_case.case)


def test_session_nodes_carry_the_sessions_table():
    # what neo4j_case pushes and cypher_store reads back: one declaration, renamed in one place
    from graphtrail.store import neo4j_case

    t = pa.Table.from_pylist([{c.name: None for c in schema.SESSION_COLUMNS}
                              | {"session": "session:ASIA1@x", "issued": 5, "expires": 9,
                                 "event_ids": ["e1"], "console": False}],
                             schema=schema.session_schema())
    nodes = pa.table({"id": ["session:ASIA1@x"], "kind": ["Session"], "label": ["s"],
                      "account": ["1"], "props": ["{}"]}, schema=schema.node_schema())
    props = json.loads(neo4j_case.session_nodes(nodes, t).column("props")[0].as_py())
    assert props["issued_us"] == 5 and props["expires_us"] == 9 and props["issue_event_ids"] == ["e1"]
    assert set(props) <= NODE_PROPERTIES[NodeKind.SESSION]
    assert "id" not in props and "account" not in props


def test_the_id_grammar_builds_and_parses_back():
    from graphtrail import ids
    from graphtrail.ids import IdPrefix

    built = {IdPrefix.KEY: ids.key_id("AKIA1"), IdPrefix.ACCOUNT: ids.account_id("111122223333"),
             IdPrefix.SERVICE: ids.service_id("ec2.amazonaws.com"), IdPrefix.IP: ids.ip_id("2001:db8::1"),
             IdPrefix.IDP: ids.idp_id("arn:aws:iam::1:saml-provider/Okta"),
             IdPrefix.IDC_USER: ids.identity_center_user_id("u-1"),
             IdPrefix.SESSION: ids.session_id("ASIA1", 0),
             IdPrefix.LOGIN_PROFILE: ids.login_profile_id("arn:aws:iam::1:user/bob"),
             IdPrefix.CALL: ids.call_id("e1", 5)}
    assert set(built) == set(IdPrefix)  # every prefix has its builder
    for prefix, nid in built.items():
        assert ids.parse_id(nid).prefix is prefix
    assert ids.parse_id(built[IdPrefix.IP]).value == "2001:db8::1"
    assert ids.key_of(built[IdPrefix.KEY]) == "AKIA1" and ids.key_of(built[IdPrefix.IP]) is None
    assert ids.account_of(built[IdPrefix.ACCOUNT]) == "111122223333"
    assert ids.parse_id("arn:aws:iam::1:user/bob").prefix is None


def test_no_module_parses_an_id_prefix_by_hand():
    # the grammar lives in graphtrail/ids.py; everything else calls parse_id, key_of...
    from pathlib import Path

    from graphtrail.ids import IdPrefix

    root = Path(__file__).resolve().parents[1]
    marks = tuple(f'"{p.mark}' for p in IdPrefix)
    found = []
    for top in ("graphtrail", "loaders"):
        for path in (root / top).rglob("*.py"):
            if path.name == "ids.py" or "synth" in path.parts:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#")[0]
                if code.lstrip().startswith((">>>", "...")):
                    continue  # doctest examples spell ids as a user sees them
                if any(m in code for m in marks):
                    found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_embedded_store_is_what_the_views_take(scenario):
    from graphtrail.store.protocol import GraphStore, ViewStore

    store, _ = scenario
    assert isinstance(store, GraphStore) and isinstance(store, ViewStore)
