"""The engines of ``--follow``: the Athena text is right, Athena's API flow, Spark's answer.

* The Athena SQL, transpiled by sqlglot to DuckDB and run over a table of the documented
  CloudTrail schema (built here, independently, from the generated records), returns the
  same rows as the DuckDB engine over the raw files, round after round.
* The Athena API flow (start, poll, page, a query that ends cancelled, Ctrl-C) against
  moto's server over HTTP, with its canned results rendered as Athena renders rows.
* Spark (local mode) fetches the same lineage as DuckDB and answers the same.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import boto3
import duckdb
import pytest
import sqlglot

from loaders.engines.athena import AthenaEngine
from loaders.engines.duckdb import DuckDBEngine
from loaders.engines.query import lineage_query
from loaders.follow.lineage import FollowSet, grow
from tests.athena_server import FakeAthena, Script, Table
from tests.athena_server import athena_server as serve_athena
from tests.conftest import fake_aws_env
from tests.test_follow import _moment, answer, follow_case, identities  # noqa: F401
from tests.test_sources_api import fake, server  # noqa: F401 (the local CloudTrail API)

# The documented table ("Creating the table for CloudTrail logs in Athena using partition
# projection"), in DuckDB's types.
_TEXT = "VARCHAR"
DOCUMENTED_TABLE = f"""
CREATE TABLE cloudtrail_logs_pp (
  eventversion {_TEXT},
  useridentity STRUCT(type {_TEXT}, principalid {_TEXT}, arn {_TEXT}, accountid {_TEXT},
    invokedby {_TEXT}, accesskeyid {_TEXT}, username {_TEXT},
    onbehalfof STRUCT(userid {_TEXT}, identitystorearn {_TEXT}),
    sessioncontext STRUCT(attributes STRUCT(mfaauthenticated {_TEXT}, creationdate {_TEXT}),
      sessionissuer STRUCT(type {_TEXT}, principalid {_TEXT}, arn {_TEXT}, accountid {_TEXT},
                           username {_TEXT}),
      ec2roledelivery {_TEXT},
      webidfederationdata STRUCT(federatedprovider {_TEXT}, attributes MAP({_TEXT}, {_TEXT})))),
  eventtime {_TEXT}, eventsource {_TEXT}, eventname {_TEXT}, awsregion {_TEXT},
  sourceipaddress {_TEXT}, useragent {_TEXT}, errorcode {_TEXT}, errormessage {_TEXT},
  requestparameters {_TEXT}, responseelements {_TEXT}, additionaleventdata {_TEXT},
  requestid {_TEXT}, eventid {_TEXT}, readonly {_TEXT},
  resources STRUCT(arn {_TEXT}, accountid {_TEXT}, type {_TEXT})[],
  eventtype {_TEXT}, apiversion {_TEXT}, recipientaccountid {_TEXT},
  serviceeventdetails {_TEXT}, sharedeventid {_TEXT}, vpcendpointid {_TEXT},
  vpcendpointaccountid {_TEXT}, eventcategory {_TEXT},
  addendum STRUCT(reason {_TEXT}, updatedfields {_TEXT}, originalrequestid {_TEXT},
                  originaleventid {_TEXT}),
  sessioncredentialfromconsole {_TEXT}, edgedevicedetails {_TEXT},
  tlsdetails STRUCT(tlsversion {_TEXT}, ciphersuite {_TEXT}, clientprovidedhostheader {_TEXT}),
  "timestamp" {_TEXT}
)"""


def raw_records(logs: Path) -> list[dict]:
    out = []
    for f in sorted(logs.rglob("*.json*")):
        if "CloudTrail-Digest" in str(f) or "CloudTrail-Insight" in str(f):
            continue
        data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        out.extend(json.loads(data).get("Records", []))
    return out


def documented_row(r: dict) -> dict:
    """One record as a row of the documented table (what Athena's JSON SerDe makes of it)."""
    ui = r.get("userIdentity") or {}
    sc = ui.get("sessionContext") or {}

    def text(v):
        return None if v is None else (v if isinstance(v, str) else json.dumps(v)
                                       if isinstance(v, (dict, list)) else str(v).lower()
                                       if isinstance(v, bool) else str(v))

    def pick(d, **names):
        return {col: text((d or {}).get(field)) for col, field in names.items()}

    wif = sc.get("webIdFederationData") or {}
    return {
        "eventversion": text(r.get("eventVersion")),
        "useridentity": {
            **pick(ui, type="type", principalid="principalId", arn="arn", accountid="accountId",
                   invokedby="invokedBy", accesskeyid="accessKeyId", username="userName"),
            "onbehalfof": pick(ui.get("onBehalfOf"), userid="userId",
                               identitystorearn="identityStoreArn"),
            "sessioncontext": {
                "attributes": pick(sc.get("attributes"), mfaauthenticated="mfaAuthenticated",
                                   creationdate="creationDate"),
                "sessionissuer": pick(sc.get("sessionIssuer"), type="type",
                                      principalid="principalId", arn="arn",
                                      accountid="accountId", username="userName"),
                "ec2roledelivery": text(sc.get("ec2RoleDelivery")),
                "webidfederationdata": {"federatedprovider": text(wif.get("federatedProvider")),
                                        "attributes": {k: text(v) for k, v in
                                                       (wif.get("attributes") or {}).items()}},
            },
        },
        **{c: text(r.get(f)) for c, f in (
            ("eventtime", "eventTime"), ("eventsource", "eventSource"), ("eventname", "eventName"),
            ("awsregion", "awsRegion"), ("sourceipaddress", "sourceIPAddress"),
            ("useragent", "userAgent"), ("errorcode", "errorCode"),
            ("errormessage", "errorMessage"), ("requestparameters", "requestParameters"),
            ("responseelements", "responseElements"),
            ("additionaleventdata", "additionalEventData"), ("requestid", "requestID"),
            ("eventid", "eventID"), ("readonly", "readOnly"), ("eventtype", "eventType"),
            ("apiversion", "apiVersion"), ("recipientaccountid", "recipientAccountId"),
            ("serviceeventdetails", "serviceEventDetails"), ("sharedeventid", "sharedEventID"),
            ("vpcendpointid", "vpcEndpointId"), ("vpcendpointaccountid", "vpcEndpointAccountId"),
            ("eventcategory", "eventCategory"),
            ("sessioncredentialfromconsole", "sessionCredentialFromConsole"),
            ("edgedevicedetails", "edgeDeviceDetails"))},
        "resources": [pick(x, arn="ARN", accountid="accountId", type="type")
                      for x in r.get("resources") or []] or None,
        "addendum": None, "tlsdetails": None,
        "timestamp": r["eventTime"][:10].replace("-", "/"),
    }


@pytest.fixture(scope="module")
def incident_logs(scenario):
    store, truth = scenario
    return store, truth, store.case.path.parent / "logs"


@pytest.fixture(scope="module")
def documented_table(incident_logs):
    _, _, logs = incident_logs
    records = raw_records(logs)
    con = duckdb.connect()
    con.execute(DOCUMENTED_TABLE)
    rows = [documented_row(r) for r in records]
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    con.executemany(f"INSERT INTO cloudtrail_logs_pp ({names}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    [[row[c] for c in columns] for row in rows])
    return con, records


def _asks(truth) -> list[FollowSet]:
    """The sets a real follow asks for, round after round, from several seeds."""
    seeds = [FollowSet.of(keys=[truth.leaked_key]), FollowSet.of(principals=[truth.leaked_user]),
             FollowSet.of(ips=truth.attacker_ips), FollowSet.of(keys=[truth.recycled_key["key"]])]
    return seeds


def test_athena_text_transpiled_to_duckdb_returns_the_engines_rows(incident_logs, documented_table):
    _, truth, logs = incident_logs
    con, records = documented_table
    engine = DuckDBEngine([str(logs)])
    try:
        compared = 0
        for seeds in _asks(truth):
            current, fetched = seeds, []
            for _ in range(8):  # each round's whole set, as Athena would be asked it
                athena_sql = lineage_query(current, dialect="athena", table="cloudtrail_logs_pp")
                duck_sql = sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]
                from_table = sorted(r[0] for r in con.execute(
                    f"SELECT eventid FROM ({duck_sql}) AS q").fetchall())
                from_files = sorted(r["eventID"] for r in engine.run(current, None, None).records)
                assert from_table == from_files and from_table
                compared += 1
                fetched = [r for r in records if r["eventID"] in set(from_table)]
                bigger = grow(current, fetched)
                if bigger == current:
                    break
                current = bigger
        assert compared >= 8
    finally:
        engine.close()


def test_duckdb_reads_parquet_of_the_documented_table(incident_logs, documented_table, tmp_path):
    """A Parquet copy of the documented table (an Athena CTAS or UNLOAD) answers like the
    raw files; records are rebuilt from its columns."""
    _, truth, logs = incident_logs
    con, records = documented_table
    (tmp_path / "parquet").mkdir()
    con.execute(f"COPY cloudtrail_logs_pp TO '{tmp_path / 'parquet' / 'trail.parquet'}' "
                "(FORMAT parquet)")
    seeds = FollowSet.of(keys=[truth.leaked_key])
    from_parquet, from_files = DuckDBEngine([str(tmp_path / "parquet")]), DuckDBEngine([str(logs)])
    try:
        a = {r["eventID"]: r for r in from_parquet.run(seeds, None, None).records}
        b = {r["eventID"]: r for r in from_files.run(seeds, None, None).records}
    finally:
        from_parquet.close()
        from_files.close()
    assert a.keys() == b.keys() and a
    for eid, r in b.items():
        assert a[eid]["userIdentity"]["accessKeyId"] == r["userIdentity"]["accessKeyId"]
        assert a[eid].get("responseElements") == r.get("responseElements")
        assert a[eid]["eventTime"] == r["eventTime"]


# -- Athena's API flow, against moto's server -------------------------------------------

def athena_text(v) -> str | None:
    """A value as Athena renders it in GetQueryResults: structs as {k=v, ...}."""
    if v is None:
        return None
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={athena_text(x) if x is not None else 'null'}"
                               for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(athena_text(x) or "null" for x in v) + "]"
    return str(v)


def canned(records: list[dict]) -> Table:
    """The records as the documented table's rows, rendered as Athena renders them."""
    rows = [documented_row(r) for r in records]
    names = list(rows[0])
    return Table(names, [[athena_text(row[n]) if row[n] is not None else None for n in names]
                         for row in rows])


@pytest.fixture
def fake_athena(monkeypatch):
    """Athena's API over real HTTP (tests/athena_server.py: both protocols botocore speaks
    to it; moto's Athena answers only the older one), boto3 pointed at it."""
    athena = FakeAthena()
    with serve_athena(athena) as url:
        fake_aws_env(monkeypatch, url)
        yield athena


def _engine(**kw) -> AthenaEngine:
    return AthenaEngine("primary", "security", "cloudtrail_logs_pp",
                        session=boto3.Session(region_name="us-east-1"),
                        output="s3://athena-results/follow/", poll_interval=0, **kw)


def test_athena_flow_start_poll_page_and_records(incident_logs, fake_athena):
    _, truth, logs = incident_logs
    mine = [r for r in raw_records(logs)
            if (r.get("userIdentity") or {}).get("accessKeyId") == truth.leaked_key]
    fake_athena.scripts = [Script(table=canned(mine))]
    from datetime import UTC, datetime
    result = _engine().run(FollowSet.of(keys=[truth.leaked_key]),
                           datetime(2024, 6, 12, tzinfo=UTC), datetime(2024, 6, 13, tzinfo=UTC))
    assert sorted(r["eventID"] for r in result.records) == sorted(r["eventID"] for r in mine)
    got = {r["eventID"]: r for r in result.records}
    for r in mine:  # what the documented table carries comes back as the record had it
        g = got[r["eventID"]]
        assert g["userIdentity"]["accessKeyId"] == truth.leaked_key
        assert g["userIdentity"]["arn"] == r["userIdentity"]["arn"]
        assert g["eventTime"] == r["eventTime"] and g["eventName"] == r["eventName"]
        assert g.get("responseElements") == r.get("responseElements")
        assert g.get("requestParameters") == r.get("requestParameters")
    execution = boto3.client("athena", region_name="us-east-1").get_query_execution(
        QueryExecutionId=result.query_id)["QueryExecution"]
    assert execution["Query"] == result.sql
    assert "\"timestamp\" >= '2024/06/11'" in result.sql  # the window as partitions
    assert "\"timestamp\" <= '2024/06/14'" in result.sql
    assert execution["WorkGroup"] == "primary" and result.bytes_scanned == 0


# -- Spark, local mode ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark", reason="the Spark engine's tests need pyspark ('.[spark]')")
    from loaders.engines.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.mark.parametrize("name", ["console", "identity_center", "lambda", "federation"])
def test_spark_follow_answers_as_the_whole_trail(identities, spark, name):  # noqa: F811
    """Spark over the identity trail (one file: Spark's cost here is its start, not the data)."""
    from loaders.engines.spark import SparkEngine

    store, truth, root, _ = identities
    lin = truth.lineages[name]
    followed, stats = follow_case(SparkEngine([str(root / "logs")], session=spark),
                                  FollowSet.of(keys=[lin.seed]), root / f"spark-{name}",
                                  _moment(lin.since), _moment(lin.until))
    assert stats.engine == "spark" and stats.complete and stats.rounds >= 2
    assert (answer(followed, lin.seed, lin.since, lin.until)
            == answer(store, lin.seed, lin.since, lin.until))


# -- CloudTrail Lake, against the tests' local CloudTrail API ------------------------------

def test_lake_engine_runs_the_query_rewritten_for_lake(fake):  # noqa: F811
    from datetime import timedelta

    from loaders.engines.lake import LakeEngine
    from tests.test_sources_api import DAY, STORE, assumed_role_record, lake_row

    records = [assumed_role_record(n) for n in range(5)]
    fake.lake_rows = [lake_row(r) for r in records]
    key = records[0]["userIdentity"]["accessKeyId"]
    result = LakeEngine(STORE, poll_interval=0.01).run(FollowSet.of(keys=[key]), DAY,
                                                       DAY + timedelta(hours=1))
    (start,) = fake.of("StartQuery")
    statement = start.body["QueryStatement"]
    assert statement == result.sql and result.engine == "lake"
    assert statement.startswith(f"SELECT * FROM {STORE.rsplit('/', 1)[-1]} WHERE "
                                "eventtime >= '2024-05-01 00:00:00'")
    assert "JSON_EXTRACT_SCALAR(ELEMENT_AT(responseelements, 'credentials'), '$.accessKeyId')" \
        in statement and '"timestamp"' not in statement
    assert result.records == records  # every page, rows back into records
