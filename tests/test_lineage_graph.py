"""The embedded store's lineage (graphtrail.store.lineage) reads as the networkx graph did.

Every seeded question walks ``store.lineage``. It was a ``networkx.MultiDiGraph``; it is now
a :class:`~graphtrail.store.lineage.Lineage` that makes a relation's data when it is read.
Here both are built from the same stored lineage and compared for every node and every
relation, values and order: the order in which a question meets the relations is the
order of the lists it answers with.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from graphtrail.store.lineage import Lineage
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.identities import build_identities
from tests.conftest import ingest_paths


@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    root = tmp_path_factory.mktemp("lineage-identities")
    build_identities(root / "logs", seed=5, noise_sessions=20)
    return MemoryStore(ingest_paths([str(root / "logs")], root / "case"))


def _networkx(store: MemoryStore):
    """The lineage as the store built it before: a MultiDiGraph of the same table."""
    return store._graph(store.case.graph_table("lineage"), only_edge_nodes=True)


def _same_as_networkx(store: MemoryStore) -> int:
    fresh = MemoryStore(store.case)
    ours, theirs = fresh.lineage, _networkx(fresh)
    assert isinstance(ours, Lineage)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert list(ours.nodes) == list(theirs.nodes)
    assert list(ours.nodes(data=True)) == list(theirs.nodes(data=True))
    for n in theirs:
        assert n in ours
        assert ours.nodes[n] == theirs.nodes[n], n
        for keys in (False, True):
            assert list(ours.out_edges(n, keys=keys)) == list(theirs.out_edges(n, keys=keys)), n
            assert list(ours.in_edges(n, keys=keys)) == list(theirs.in_edges(n, keys=keys)), n
            assert list(ours.out_edges(n, keys=keys, data=True)) == \
                list(theirs.out_edges(n, keys=keys, data=True)), n
            assert list(ours.in_edges(n, keys=keys, data=True)) == \
                list(theirs.in_edges(n, keys=keys, data=True)), n
        assert list(ours.successors(n)) == list(theirs.successors(n))
        assert list(ours.predecessors(n)) == list(theirs.predecessors(n))
    assert list(ours.edges(keys=True, data=True)) == list(theirs.edges(keys=True, data=True))
    assert list(ours.edges()) == list(theirs.edges())
    assert ours.number_of_edges() == theirs.number_of_edges()
    assert "no such node" not in ours and list(ours.out_edges("no such node")) == []
    with pytest.raises(KeyError):
        ours.nodes["no such node"]
    return theirs.number_of_edges()


def test_the_demo_incidents_lineage_reads_as_networkx(scenario):
    store, _ = scenario
    assert _same_as_networkx(store) > 50


def test_every_identity_kinds_lineage_reads_as_networkx(identities):
    """Console and Identity Center sign-ins, workloads, SAML and federation."""
    assert _same_as_networkx(identities) > 20


def test_the_shared_datasets_lineage_reads_as_networkx(datasets_case):
    assert _same_as_networkx(datasets_case) > 0


def test_two_rows_of_one_relation_are_one_relation_updated_by_the_later():
    edges = pa.table({
        "src": ["user:a", "user:a", "user:a"], "dst": ["key:K", "key:K", "sess:1"],
        "kind": ["CREATED", "CREATED", "ISSUED"], "first_seen": [5, 9, 7], "last_seen": [5, 9, 7],
        "count": [1, 1, 1], "event_ids": [["e1"], ["e2"], None], "event_names": [["CreateAccessKey"], None, None],
        "props": ['{"created_type": "AccessKey", "tags": ["x"]}', '{"status": "Active"}', None]})
    g = Lineage(edges, {"user:a": {"kind": "User", "label": "a", "account": "1", "props": {"arn": "u"}}})
    out = list(g.out_edges("user:a", keys=True, data=True))
    assert [(u, v, k) for u, v, k, _ in out] == [("user:a", "key:K", "CREATED"), ("user:a", "sess:1", "ISSUED")]
    created = out[0][3]
    assert created["first_seen"] == 9 and created["event_ids"] == ["e2"] and created["event_names"] == []
    assert created["created_type"] == "AccessKey" and created["status"] == "Active"
    assert out[1][3]["event_ids"] == [] and list(g.in_edges("sess:1")) == [("user:a", "sess:1")]
    assert g.nodes["user:a"] == {"kind": "User", "label": "a", "account": "1", "arn": "u"}
    assert g.nodes["key:K"] == {"kind": "Resource", "label": "key:K", "account": None}
    # the data a question reads is made once: the same dict each time
    assert next(g.out_edges("user:a", keys=True, data=True))[3] is created
