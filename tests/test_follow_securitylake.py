"""``ingest --follow`` over Amazon Security Lake: the lineage read from OCSF Parquet.

The generated incident is written as Security Lake stores it (OCSF 1.1 API Activity Parquet,
one object per account and region: the generator of tests/test_inputs_securitylake.py).

* Following a seed with DuckDB over that folder answers as a full ingest of the same files
  (blast radius and chains), fetching a small part of it.
* The Athena text for Security Lake's OCSF table, transpiled by sqlglot to DuckDB and run over
  a table of the same Parquet, returns the DuckDB engine's rows, round after round.
* A store that kept no response data: the rounds stop at the issuing call, and the summary's
  linking gaps and notes say so.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from typer.testing import CliRunner

from graphtrail.cli.main import app
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore
from loaders.engines.athena import AthenaEngine
from loaders.engines.ocsf import OcsfDuckDBEngine, ocsf_parquet, ocsf_records
from loaders.engines.query import lineage_query
from loaders.engines.select import engine_for
from loaders.follow.lineage import FollowSet, grow
from loaders.sources.base import SourceError
from tests.athena_server import Script, Table
from tests.test_follow import answer, follow_case
from tests.test_follow_engines import athena_text, fake_athena  # noqa: F401 (local AWS)
from tests.test_inputs_securitylake import lake_folders


@pytest.fixture(scope="module")
def lake(scenario, tmp_path_factory):
    """(truth, Security Lake folder, lean folder, MemoryStore of a full ingest of the folder)."""
    store, truth = scenario
    root = tmp_path_factory.mktemp("lake-follow")
    full = lake_folders(store, root)
    return truth, root / "full", root / "lean", MemoryStore(full)


def _seeds(truth) -> dict[str, tuple[FollowSet, str]]:
    return {
        "leaked key": (FollowSet.of(keys=[truth.leaked_key]), truth.leaked_key),
        "second hop": (FollowSet.of(keys=[truth.session_keys[1]["key"]]),
                       truth.session_keys[1]["key"]),
        "backdoor key": (FollowSet.of(keys=[truth.created[1]["id"]]), truth.created[1]["id"]),
        "recycled key id": (FollowSet.of(keys=[truth.recycled_key["key"]]),
                            truth.recycled_key["key"]),
        "leaked user": (FollowSet.of(principals=[truth.leaked_user]), truth.leaked_user),
    }


@pytest.fixture(scope="module")
def followed(lake, tmp_path_factory):
    truth, folder, _, _ = lake
    engine = engine_for([str(folder)])
    assert isinstance(engine, OcsfDuckDBEngine)
    out = {}
    try:
        for i, (name, (seeds, seed)) in enumerate(_seeds(truth).items()):
            root = tmp_path_factory.mktemp(f"lake-follow{i}")
            out[name] = (seed, *follow_case(engine, seeds, root / "case"))
    finally:
        engine.close()
    return out


@pytest.mark.parametrize("name", ["leaked key", "second hop", "backdoor key", "recycled key id",
                                  "leaked user"])
def test_following_security_lake_answers_as_its_full_ingest(lake, followed, name):
    full = lake[3]
    seed, store, stats = followed[name]
    assert stats.complete and stats.rounds >= 2
    got = answer(store, seed)
    assert got == answer(full, seed)
    assert ("refused" in got) == (name == "recycled key id")  # two sessions: name one


def test_following_security_lake_fetches_the_lineage_and_little_else(lake, followed):
    truth, folder, _, full = lake
    _, store, stats = followed["leaked key"]
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in folder.rglob("*.parquet"))
    kept = set(store.case.events(["event_id"]).column("event_id").to_pylist())
    assert truth.attacker_event_ids <= kept
    assert not kept & set(truth.benign_event_ids)
    assert len(kept) < full.case.event_count() / 5
    assert stats.rows_scanned == stats.rounds * rows  # each round, every row


def _documented_ocsf(con: duckdb.DuckDBPyConnection, folder) -> None:
    """Security Lake's Athena table over the same files: the OCSF columns, and the
    ``eventday`` partition of its folders."""
    con.execute("CREATE TABLE amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0 AS "
                "SELECT * EXCLUDE (eventDay, region, accountId), CAST(eventDay AS VARCHAR) "
                "AS eventday FROM read_parquet(?, hive_partitioning = true, "
                "hive_types_autocast = false, union_by_name = true)",
                [[str(f) for f in sorted(folder.rglob("*.parquet"))]])


def test_athena_ocsf_text_transpiled_returns_the_duckdb_engines_rows(lake):
    truth, folder, _, _ = lake
    table = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"
    engine = OcsfDuckDBEngine(ocsf_parquet([str(folder)]))
    con = duckdb.connect()
    _documented_ocsf(con, folder)
    since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    current, fetched, rounds = FollowSet.of(keys=[truth.leaked_key]), [], 0
    try:
        while current.size() and rounds < 16:
            athena = lineage_query(current, dialect="athena", ocsf=True, table=table,
                                   since=since, until=until)
            assert f"FROM {table} WHERE eventday >= " in athena
            duck = sqlglot.transpile(athena, read="athena", write="duckdb")[0]
            cur = con.execute(duck)
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            by_athena = sorted(r["eventID"] for r in ocsf_records(rows))
            by_engine = sorted(r["eventID"] for r in engine.run(current, since, until).records)
            assert by_athena == by_engine and by_engine
            fetched.extend(ocsf_records(rows))
            nxt = grow(current, fetched)
            current, rounds = nxt.minus(current), rounds + 1
    finally:
        engine.close()
    assert rounds >= 2


def _follow_cli(folder, key: str, case) -> dict:
    """``graphtrail ingest FOLDER --follow KEY``'s JSON summary (it must answer)."""
    res = CliRunner().invoke(app, ["ingest", str(folder), "--follow", key, "--case", str(case),
                                   "--format", "json", "--workers", "0"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_cli_follow_over_a_security_lake_download(lake, tmp_path):
    truth, folder, _, _ = lake
    summary = _follow_cli(folder, truth.leaked_key, tmp_path / "case")
    assert summary["follow"]["engine"] == "duckdb" and summary["follow"]["complete"]
    queries = [m["query"] for m in Case.open(tmp_path / "case").manifest() if m.get("query")]
    assert queries and f"actor.\"user\".credential_uid IN ('{truth.leaked_key}')" in queries[0]["sql"]
    assert summary["events_added"] < summary["follow"]["rows_scanned"] / 5


def test_lean_store_follow_says_the_issued_credentials_are_missing(lake, tmp_path):
    truth, _, lean, _ = lake
    summary = _follow_cli(lean, truth.leaked_key, tmp_path / "case")
    gaps = {g["field"] for g in summary["linking_gaps"]}
    assert "responseElements.credentials" in gaps
    assert any("responseElements.credentials" in n for n in summary["notes"])
    assert any("--follow" in n and "response data" in n for n in summary["notes"])


def test_ocsf_beside_other_parquet_is_refused(lake, tmp_path):
    _, folder, _, _ = lake
    pq.write_table(pa.table({"eventid": ["e"]}), tmp_path / "other.parquet")
    with pytest.raises(SourceError, match="not OCSF API Activity"):
        engine_for([str(folder), str(tmp_path)])


def test_athena_over_security_lake_table_asks_ocsf_and_reads_its_rows(lake, fake_athena):  # noqa: F811
    """Athena's API flow against the local server: the table's name makes it OCSF; the rows,
    rendered as Athena renders OCSF structs, come back as the records the Parquet holds."""
    truth, folder, _, _ = lake
    table = pq.read_table(ocsf_parquet([str(folder)]))
    mine = [r for r in table.to_pylist()
            if ((r.get("actor") or {}).get("user") or {}).get("credential_uid") == truth.leaked_key]
    names = [n for n in table.column_names if n != "time_dt"]
    fake_athena.scripts = [Script(table=Table(names, [
        [athena_text(_rendered(r[n])) if r[n] is not None else None for n in names]
        for r in mine]))]
    engine = AthenaEngine.of_uri(
        "athena://primary/amazon_security_lake_glue_db_us_east_1."
        "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0",
        session=boto3.Session(region_name="us-east-1"), output="s3://athena-results/follow/")
    engine.poll_interval = 0
    result = engine.run(FollowSet.of(keys=[truth.leaked_key]),
                        datetime(2024, 6, 12, tzinfo=UTC), datetime(2024, 6, 13, tzinfo=UTC))
    assert "eventday >= '20240611'" in result.sql and "actor.user.credential_uid IN" in result.sql
    want = {r["eventID"]: r for r in ocsf_records(mine)}
    got = {r["eventID"]: r for r in result.records}
    assert set(got) == set(want) and got
    for eid, r in want.items():
        g = got[eid]
        assert g["userIdentity"] == r["userIdentity"] and g["eventTime"] == r["eventTime"]
        assert g.get("responseElements") == r.get("responseElements")
        assert g.get("sourceIPAddress") == r.get("sourceIPAddress")


def _rendered(v):
    """A map column (pairs) as the dict Athena renders as ``{k=v}``."""
    if isinstance(v, list) and v and all(isinstance(x, tuple) for x in v):
        return dict(v)
    return v
