"""The calls clustered by actor (store/by_actor.py): the same calls, in the same order, as
the activity table gives; rebuilt with every graph build; the cold commands that read
them load neither pandas nor the loaders; and the neighbourhood a report draws, read from
the edges table, is the whole graph's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphtrail.cli.output import dumps_indented, jsonable
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.plain import plain
from graphtrail.store import by_actor
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore

COLUMNS = ["event_id", "time", "actor", "event_name", "source_ip", "error_code", "resource"]


def _from_activity(store: MemoryStore, actors: list[str], columns: list[str]) -> pa.Table:
    """What the calls were read as before: the whole activity table, filtered, in time order
    (ties in the table's order)."""
    t = store.case.graph_table("activity", list(dict.fromkeys([*columns, "time", "event_id"])))
    t = t.filter(pc.is_in(t.column("actor"), value_set=pa.array(actors, pa.string())))
    return t.sort_by([("time", "ascending"), ("event_id", "ascending")]).select(columns)


def test_every_call_is_in_the_clustered_table_once_with_its_row(scenario):
    store, _ = scenario
    path = store.case.graph_dir() / f"{by_actor.BY_ACTOR}.parquet"
    clustered = pq.read_table(path)
    activity = store.case.graph_table("activity")
    assert clustered.num_rows == activity.num_rows
    assert "detail" not in clustered.column_names
    back = clustered.sort_by(by_actor.SEQ)
    assert back.column(by_actor.SEQ).to_pylist() == list(range(activity.num_rows))
    for col in ("event_id", "actor", "time", "resource", "source_ip"):
        assert back.column(col).cast(activity.schema.field(col).type).to_pylist() == \
            activity.column(col).to_pylist(), col
    actors = [a for a in clustered.column("actor").to_pylist() if a is not None]
    roots = _roots(store)
    assert any(roots[s] != s for s in roots)  # sessions issued by a key or a principal
    # a lineage's calls sit together: sorted by (the credential it starts from, the actor)
    assert actors == sorted(actors, key=lambda a: (roots.get(a, a), a))
    _index_says_where_each_actor_is(path)


def _index_says_where_each_actor_is(path) -> None:
    ix = pq.read_table(by_actor.index_of(path)).to_pylist()
    groups = pq.ParquetFile(path)
    where = {}
    for g in range(groups.num_row_groups):
        for a in set(groups.read_row_group(g, ["actor"]).column("actor").to_pylist()) - {None}:
            where.setdefault(a, []).append(g)
    assert {r["actor"]: (r["first"], r["last"]) for r in ix} == {a: (min(g), max(g)) for a, g in where.items()}
    assert all(max(g) - min(g) + 1 == len(g) for g in where.values())  # an actor's groups: in a row


def _roots(store: MemoryStore) -> dict[str, str]:
    from types import SimpleNamespace

    from loaders.facts.build import session_roots

    rows = store.sessions.select(["session", "issuer"]).to_pylist()
    return session_roots([SimpleNamespace(**r) for r in rows])


def test_calls_of_actors_are_those_of_the_activity_table(scenario):
    store, truth = scenario
    counts = pc.value_counts(store.case.graph_table("activity", ["actor"]).column("actor")).to_pylist()
    busiest = [c["values"] for c in sorted(counts, key=lambda c: -c["counts"]) if c["values"]][:5]
    for actors in ([busiest[0]], busiest, [busiest[-1], "no-such-actor"], ["no-such-actor"]):
        got = store.calls(COLUMNS, actors=actors)
        assert got.to_pylist() == _from_activity(store, actors, COLUMNS).to_pylist()
    lo, hi = store.calls(["time"], actors=busiest).column("time").cast(pa.int64()).to_pylist()[1:3]
    windowed = store.calls(COLUMNS, actors=busiest, since=lo, until=hi)
    assert windowed.num_rows >= 1
    assert all(lo <= t <= hi for t in windowed.column("time").cast(pa.int64()).to_pylist())


def test_small_row_groups_hold_the_same_answer(scenario, tmp_path, monkeypatch):
    """Many row groups, each actor's calls split over several: the row groups chosen by
    their actor range miss none."""
    store, _ = scenario
    monkeypatch.setattr(by_actor, "ROWS_PER_GROUP", 7)
    monkeypatch.setattr(by_actor, "SORT_ROWS", 50)  # several slices, memory bounded
    out = tmp_path / "clustered.parquet"
    n = by_actor.write_by_actor(store.case.graph_dir() / "activity.parquet", out,
                                Case.GRAPH_DICTIONARY_COLUMNS)
    assert pq.ParquetFile(out).metadata.num_row_groups > 10
    actors = sorted({a for a in store.case.graph_table("activity", ["actor"]).column("actor").to_pylist() if a})
    some = actors[::3]
    got = by_actor.read_by_actor(out, some, COLUMNS)
    want = store.case.graph_table("activity", COLUMNS)
    want = want.filter(pc.is_in(want.column("actor"), value_set=pa.array(some, pa.string())))
    assert got.num_rows == want.num_rows and n == store.case.graph_table("activity", ["actor"]).num_rows
    assert sorted(got.column("event_id").to_pylist()) == sorted(want.column("event_id").to_pylist())


def test_many_slices_write_what_one_slice_writes(scenario, tmp_path, monkeypatch):
    """Beyond one slice the calls are read once and dealt to spill files: the table written
    is the one a single in-memory slice writes, row for row, and no spill file is left."""
    store, _ = scenario
    # many row groups (an actor's calls in several), and calls without an actor among them
    t = pq.read_table(store.case.graph_dir() / "activity.parquet")
    nobody = pa.array([i % 11 == 0 for i in range(t.num_rows)])
    t = t.set_column(t.schema.get_field_index("actor"), "actor",
                     pc.if_else(nobody, pa.scalar(None, pa.string()), t.column("actor")))
    activity = tmp_path / "activity.parquet"
    pq.write_table(t, activity, row_group_size=23)
    assert pq.ParquetFile(activity).metadata.num_row_groups > 5
    monkeypatch.setattr(by_actor, "ROWS_PER_GROUP", 7)
    one = tmp_path / "one" / "clustered.parquet"
    one.parent.mkdir()
    by_actor.write_by_actor(activity, one, Case.GRAPH_DICTIONARY_COLUMNS)
    monkeypatch.setattr(by_actor, "SORT_ROWS", 37)
    monkeypatch.setattr(by_actor, "SPILL_ROWS", 5)  # a flush after every row group
    many = tmp_path / "many" / "clustered.parquet"
    many.parent.mkdir()
    n = by_actor.write_by_actor(activity, many, Case.GRAPH_DICTIONARY_COLUMNS)
    assert n > 3 * 37  # several slices, several flushes each
    assert pq.read_table(many).to_pylist() == pq.read_table(one).to_pylist()
    for path in (one, many):
        _index_says_where_each_actor_is(path)
    assert sorted(p.name for p in many.parent.iterdir()) == ["clustered.index.parquet", "clustered.parquet"]
    back = pq.read_table(many, columns=[by_actor.SEQ]).column(by_actor.SEQ).to_pylist()
    assert sorted(back) == list(range(n))


@pytest.mark.parametrize("slice_rows", [None, 41], ids=["one slice", "spilled"])
def test_a_lineage_reads_few_row_groups_and_the_same_calls(scenario, tmp_path, monkeypatch, slice_rows):
    """Clustered by the credential a lineage starts from, the leaked key's lineage sits in
    fewer row groups than sorted by actor alone, and every way of choosing the row groups
    (the index, the statistics of a build without one) reads the calls the activity table
    holds."""
    from graphtrail.queries.blast_radius import lineage_of

    store, truth = scenario
    monkeypatch.setattr(by_actor, "ROWS_PER_GROUP", 16)
    if slice_rows:
        monkeypatch.setattr(by_actor, "SORT_ROWS", slice_rows)
    activity = store.case.graph_dir() / "activity.parquet"
    creds, _ = lineage_of(store, {f"key:{truth.leaked_key}"})
    lineage = sorted(creds)
    assert len(lineage) > 3
    groups = {}
    for name, clusters in (("by_actor", None), ("by_root", _roots(store))):
        out = tmp_path / name / "calls.parquet"
        out.parent.mkdir()
        by_actor.write_by_actor(activity, out, Case.GRAPH_DICTIONARY_COLUMNS, clusters=clusters)
        groups[name] = by_actor._indexed_groups(by_actor.index_of(out), lineage)
        want = _from_activity(store, lineage, COLUMNS)
        for indexed in (True, False):
            if not indexed:
                by_actor.index_of(out).unlink()
            got = by_actor.read_by_actor(out, lineage, COLUMNS)
            got = got.sort_by([("time", "ascending"), ("event_id", "ascending"), (by_actor.SEQ, "ascending")])
            assert got.select(COLUMNS).to_pylist() == want.to_pylist(), (name, indexed)
    assert len(groups["by_root"]) < len(groups["by_actor"])


def test_spilled_dictionary_columns_come_back_as_they_were():
    """The spill files carry codes into one dictionary per column for the whole file: row
    groups with dictionaries of their own (different values, different order, none at
    all, nulls) come back with the same values."""
    typ = pa.dictionary(pa.int32(), pa.string())
    groups = [
        pa.table({"actor": pa.array(["b", None, "a", "b"]).dictionary_encode(), "n": [1, 2, 3, 4]}),
        pa.table({"actor": pa.array([None, None], pa.string()).dictionary_encode(), "n": [5, 6]}),
        pa.table({"actor": pa.array(["c", "a", "c"]).dictionary_encode(), "n": [7, 8, 9]}),
    ]
    d = by_actor._Dictionaries(pa.schema([("actor", typ), ("n", pa.int64())]), ["actor", "n"])
    coded = [d.encode(g) for g in groups]
    assert all(c.schema.field("actor").type == pa.int32() for c in coded)
    back = d.decode(pa.concat_tables(coded))
    assert back.schema.field("actor").type == typ
    assert back.column("actor").to_pylist() == ["b", None, "a", "b", None, None, "c", "a", "c"]
    assert back.column("n").to_pylist() == list(range(1, 10))
    assert back.column("actor").chunk(0).dictionary.to_pylist() == ["b", "a", "c"]  # each once


@pytest.mark.parametrize("slice_rows", [None, 37], ids=["alongside", "after the edges"])
def test_the_graph_build_reports_its_three_stages(scenario, tmp_path, monkeypatch, slice_rows):
    """Progress: the two passes over the events, then the calls clustered by actor (in a
    thread alongside the edges, or after them beyond one slice), never going back, ending
    at the total."""
    from graphtrail.wiring import GRAPH_STAGES, build_case_graph

    store, _ = scenario
    if slice_rows is not None:
        monkeypatch.setattr(by_actor, "SORT_ROWS", slice_rows)
    shutil.copytree(store.case.path, tmp_path / "case", symlinks=True)
    case = Case.open(tmp_path / "case")
    events = case.event_count()
    ticks: list[tuple[int, int]] = []
    build_case_graph(case, progress=lambda done, total: ticks.append((done, total)))
    assert {t for _, t in ticks} == {events * GRAPH_STAGES}
    done = [d for d, _ in ticks]
    assert done == sorted(done) and done[-1] == events * GRAPH_STAGES
    clustering = [d for d in done if d > 2 * events]
    assert len(clustering) >= 2  # told as the row groups are written, not only at the end
    assert pq.read_metadata(case.graph_dir() / f"{by_actor.BY_ACTOR}.parquet").num_rows == \
        pq.read_metadata(case.graph_dir() / "activity.parquet").num_rows


def test_the_clustered_calls_are_part_of_every_graph_build(scenario, tmp_path):
    """A rebuilt graph gets its own clustered table, in its own folder: none is left over
    from an older build."""
    from graphtrail.wiring import build_case_graph

    store, _ = scenario
    shutil.copytree(store.case.path, tmp_path / "case", symlinks=True)
    case = Case.open(tmp_path / "case")
    before = case.graph_dir()
    build_case_graph(case)
    after = case.graph_dir()
    assert after != before
    assert (after / f"{by_actor.BY_ACTOR}.parquet").exists()
    assert pq.read_metadata(after / f"{by_actor.BY_ACTOR}.parquet").num_rows == \
        pq.read_metadata(after / "activity.parquet").num_rows
    assert case.graph_is_current()


def test_plain_and_the_json_writer_give_what_asdict_and_json_give(scenario):
    from dataclasses import asdict

    store, truth = scenario
    br = blast_radius(store, truth.leaked_key)
    assert plain(br) == asdict(br)
    doc = jsonable(br.to_dict())
    assert dumps_indented(doc) == json.dumps(doc, indent=2, allow_nan=False)
    with pytest.raises(ValueError):
        dumps_indented({"x": [float("nan")]})


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # any code point: controls, non-ASCII, lone surrogates (attacker text)
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES)
def test_the_json_writer_writes_what_json_dumps_writes(value):
    """The answers' JSON is a contract: byte for byte what ``json.dumps(indent=2)`` writes."""
    assert dumps_indented(value) == json.dumps(value, indent=2, allow_nan=False)


@pytest.mark.parametrize("command", ["blast-radius", "chains"])
def test_cold_questions_load_neither_pandas_nor_the_loaders(scenario, command):
    store, truth = scenario
    args = [command, "--case", str(store.case.path), "--format", "json"]
    if command == "blast-radius":
        args[1:1] = ["--access-key", truth.leaked_key]
    code = ("import sys, json\n"
            "from graphtrail.cli.main import app\n"
            f"sys.argv = ['graphtrail', *{args!r}]\n"
            "try:\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
            "loaded = sorted(m for m in ('pandas', 'pyarrow.dataset', 'loaders') if m in sys.modules)\n"
            "print(json.dumps(loaded), file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)
    assert answer["calls"] > 0 if command == "blast-radius" else answer["chains"]
    assert json.loads(res.stderr.strip().splitlines()[-1]) == []


def _as_sets(g) -> tuple[list, list]:
    nodes = sorted((n, repr(sorted(d.items()))) for n, d in g.nodes(data=True))
    edges = sorted((u, v, k, repr(sorted(d.items()))) for u, v, k, d in g.edges(keys=True, data=True))
    return nodes, edges


def test_the_neighbourhood_read_from_the_edges_is_the_whole_graphs(scenario):
    """What a report draws, read around the lineage, is the subgraph of the whole graph."""
    from graphtrail.queries.blast_radius import lineage_of
    from graphtrail.queries.seeds import Seed, seed_credentials
    from graphtrail.views.graph.focus import neighbourhood

    store, truth = scenario
    creds = set(lineage_of(store, seed_credentials(store, Seed.of("access_key", truth.leaked_key)))[0])
    fresh = MemoryStore(Case.open(store.case.path))  # no whole graph built yet
    around = fresh.neighbourhood_graph(creds | {"no-such-node"})
    assert "graph" not in fresh.__dict__
    whole = fresh.graph
    cut = whole.subgraph(neighbourhood(whole, creds, 1)).copy()
    assert around.number_of_edges() > len(creds)
    assert _as_sets(around) == _as_sets(cut)
    assert _as_sets(fresh.neighbourhood_graph(creds)) == _as_sets(cut)  # cut from the built graph


def test_actor_order_is_the_order_of_the_strings(tmp_path):
    """The calls are ranked by their actor's place among the distinct actors (not by the
    strings): the same order as a stable sort of the strings, nulls last, across row groups
    whose dictionaries differ."""
    actors = ["b", None, "a", "ab", "b", "", None, "a", "é", "B"] * 7
    path = tmp_path / "activity.parquet"
    pq.write_table(pa.table({"actor": actors}), path, row_group_size=9)
    expected = pc.sort_indices(pa.table({"actor": actors}), sort_keys=[("actor", "ascending")])
    for dictionary in ([], ["actor"]):
        pf = pq.ParquetFile(path, read_dictionary=dictionary)
        assert by_actor._actor_order(pf).to_pylist() == expected.to_pylist()


def test_a_failed_write_beyond_one_slice_leaves_no_spill_file(scenario, tmp_path, monkeypatch):
    """Beyond one slice, the next slice is read back while one is written: a write that
    fails (here its progress report) is raised as it was, and the spill files go with it."""
    store, _ = scenario
    monkeypatch.setattr(by_actor, "ROWS_PER_GROUP", 11)
    monkeypatch.setattr(by_actor, "SORT_ROWS", 43)
    out = tmp_path / "failing" / "calls.parquet"
    out.parent.mkdir()
    written = []

    def fail(rows):
        written.append(rows)
        if len(written) == 9:  # in the third slice of 43 calls (row groups of 11)
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        by_actor.write_by_actor(store.case.graph_dir() / "activity.parquet", out,
                                Case.GRAPH_DICTIONARY_COLUMNS, progress=fail, clusters=_roots(store))
    assert sum(written) < pq.read_metadata(store.case.graph_dir() / "activity.parquet").num_rows
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".by-actor-spill-")]


def test_a_build_beyond_one_slice_clusters_the_calls_one_slice_clusters(scenario, tmp_path, monkeypatch):
    """A graph build whose calls are more than one slice clusters them after its edges,
    through spill files: the clustered table is the one a build within one slice writes,
    and no spill folder is left in the graph."""
    from graphtrail.wiring import build_case_graph

    store, _ = scenario
    built = {}
    for name, slice_rows in (("one", None), ("many", 29)):
        if slice_rows is not None:
            monkeypatch.setattr(by_actor, "SORT_ROWS", slice_rows)
            monkeypatch.setattr(by_actor, "SPILL_ROWS", 100)
        shutil.copytree(store.case.path, tmp_path / name, symlinks=True)
        case = Case.open(tmp_path / name)
        build_case_graph(case)
        built[name] = case.graph_dir()
    assert pq.read_metadata(built["many"] / "activity.parquet").num_rows > 10 * 29
    table = f"{by_actor.BY_ACTOR}.parquet"
    assert pq.read_table(built["many"] / table).to_pylist() == pq.read_table(built["one"] / table).to_pylist()
    _index_says_where_each_actor_is(built["many"] / table)  # its row groups end with each slice
    assert not [p for p in built["many"].iterdir() if p.name.startswith(".by-actor-spill-")]
