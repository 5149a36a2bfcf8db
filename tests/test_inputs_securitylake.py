"""Security Lake inputs: the scenario's records written as OCSF 1.1 API Activity Parquet, the
way Security Lake stores CloudTrail, ingest to the S3 trail's events minus what OCSF cannot
carry; a store that kept less is said to lack it, in the summary and in the answers.

What AWS's mapping cannot carry (graphtrail.synth.securitylake writes it that way):
``issuer_principal_id`` (the session issuer keeps its ARN only). ``source_identity`` and
``on_behalf_of`` are dropped too, but the scenario has none, so they compare equal.
The "lean" store keeps only the explicit mapping, without response data: it also lacks
``response_elements`` (so ``issued_key``, ``issued_expiration``), ``shared_event_id``,
``read_only``, ``from_console``, ``additional_event_data``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from graphtrail.cli.main import app
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.seeds import Seed
from graphtrail.store.memory import MemoryStore
from graphtrail.synth import cloudwatch as cw
from graphtrail.synth.securitylake import write_security_lake
from loaders.securitylake import read_ocsf
from tests.clirunner import cli_runner
from tests.conftest import ingest_paths
from tests.test_inputs_cloudwatch import by_event_id

LOST = {"issuer_principal_id"}
LOST_LEAN = LOST | {"response_elements", "issued_key", "issued_expiration", "shared_event_id",
                    "read_only", "from_console", "additional_event_data"}


def _lake(records: list[dict], folder, *, lean: bool = False) -> None:
    """One object per account and region, as Security Lake partitions them; small row groups."""
    parts: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        parts.setdefault((r["recipientAccountId"], r["awsRegion"]), []).append(r)
    for (account, region), recs in parts.items():
        write_security_lake(folder / f"region={region}" / f"accountId={account}" /
                            "eventDay=20240612" / "part-0.zstd.parquet", recs, lean=lean,
                            row_group_size=200)


def lake_folders(store, root: Path):
    """The scenario's S3 records written as Security Lake Parquet under ``root/full`` and as a
    lean store (no response data) under ``root/lean``; the full folder ingested (its case)."""
    records = cw.trail_records(store.case.path.parent / "logs")
    _lake(records, root / "full")
    _lake(records, root / "lean", lean=True)
    return ingest_paths([str(root / "full")], root / "full-case")


@pytest.fixture(scope="module")
def lakes(scenario, tmp_path_factory):
    """(S3 store, truth, Security Lake case, lean case, lean ingest summary)."""
    store, truth = scenario
    root = tmp_path_factory.mktemp("lake")
    full = lake_folders(store, root)
    res = cli_runner().invoke(app, ["ingest", str(root / "lean"), "--case", str(root / "lean-case"),
                                   "--format", "json", "--workers", "0"])
    assert res.exit_code == 0, res.output
    from graphtrail.store.case import Case

    return store, truth, full, Case.open(root / "lean-case"), json.loads(res.stdout)


def _differs(got, expected) -> set[str]:
    return {c for c in expected.column_names if not got.column(c).equals(expected.column(c))}


def test_security_lake_ingests_to_the_s3_events_minus_the_issuer_id(lakes):
    store, _, full, _, _ = lakes
    expected, got = by_event_id(store.case.events()), by_event_id(full.events())
    assert got.num_rows == expected.num_rows
    assert _differs(got, expected) == LOST
    assert got.column("issuer_principal_id").null_count == got.num_rows
    assert expected.column("issuer_principal_id").null_count < expected.num_rows


def test_lean_store_lacks_exactly_what_it_did_not_keep(lakes):
    store, _, _, lean, _ = lakes
    expected, got = by_event_id(store.case.events()), by_event_id(lean.events())
    assert _differs(got, expected) == LOST_LEAN


def test_same_blast_radius_as_the_s3_trail(lakes):
    store, truth, full, _, _ = lakes
    seed = Seed.of("access_key", truth.leaked_key)
    want = blast_radius(store, seed).to_dict()
    got = blast_radius(MemoryStore(full), seed).to_dict()
    assert got == want
    assert full.linking_gaps() and not any(g["lineage"] for g in full.linking_gaps())


def test_summary_says_which_linking_fields_the_lean_store_lacks(lakes):
    _, _, _, lean, summary = lakes
    gaps = {g["field"]: g for g in summary["linking_gaps"]}
    assert set(gaps) == {"responseElements.credentials", "sharedEventID",
                         "sessionContext.sessionIssuer.principalId"}
    creds = gaps["responseElements.credentials"]
    assert creds["missing"] == creds["of"] > 0 and creds["lineage"]
    assert any(n.startswith("responseElements.credentials missing in") for n in summary["notes"])
    info = lean.info()
    assert any("sharedEventID" in g for g in info["linking_gaps"])


def test_answers_on_the_lean_store_say_their_lineage_may_be_incomplete(lakes):
    _, truth, _, lean, _ = lakes
    case = str(lean.path)
    runner = cli_runner()
    res = runner.invoke(app, ["blast-radius", "--access-key", truth.leaked_key, "--case", case,
                              "--format", "json"])
    assert res.exit_code == 0, res.output
    br = json.loads(res.stdout)
    assert [g.split(" ")[0] for g in br["linking_gaps"]] == ["responseElements.credentials",
                                                             "sharedEventID"]
    assert br["roles"] == []  # no session can be tied to the leaked key without the credentials
    res = runner.invoke(app, ["chains", "--case", case, "--format", "json"])
    assert json.loads(res.stdout)["linking_gaps"] == br["linking_gaps"]
    res = runner.invoke(app, ["blast-radius", "--access-key", truth.leaked_key, "--case", case])
    assert "note: lineage may be incomplete: responseElements.credentials" in res.output
    res = runner.invoke(app, ["timeline", "--access-key", truth.leaked_key, "--lineage",
                              "--case", case, "--format", "json"])
    assert isinstance(json.loads(res.stdout), list)  # rows only; the note is on stderr
    assert "note: lineage may be incomplete: sharedEventID" in res.stderr


def test_answers_on_a_complete_store_carry_no_gap_note(lakes):
    _, truth, full, _, _ = lakes
    res = cli_runner().invoke(app, ["blast-radius", "--access-key", truth.leaked_key,
                                   "--case", str(full.path), "--format", "json"])
    assert "linking_gaps" not in json.loads(res.stdout)


def test_reading_streams_one_row_group_at_a_time(tmp_path, scenario):
    store, _ = scenario
    records = cw.trail_records(store.case.path.parent / "logs")[:1000]
    path = write_security_lake(tmp_path / "x.parquet", records, row_group_size=100)
    assert pq.ParquetFile(path).num_row_groups == 10
    batches = list(read_ocsf(str(path), batch_rows=100))
    assert len(batches) == 10 and all(len(b.records) == 100 for b in batches)


def test_corrupt_row_group_names_the_file_and_keeps_the_rows_before_it(tmp_path, scenario):
    store, _ = scenario
    records = cw.trail_records(store.case.path.parent / "logs")[:600]
    path = write_security_lake(tmp_path / "in" / "x.parquet", records, row_group_size=200)
    meta = pq.ParquetFile(path).metadata.row_group(1)
    first = meta.column(0)  # the second row group's first column chunk: its pages garbled
    start = first.dictionary_page_offset or first.data_page_offset
    raw = bytearray(path.read_bytes())
    raw[start:start + first.total_compressed_size] = b"\xff" * first.total_compressed_size
    path.write_bytes(bytes(raw))
    res = cli_runner().invoke(app, ["ingest", str(path.parent), "--case", str(tmp_path / "c"),
                                   "--format", "json", "--workers", "0"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    [failed] = summary["files_failed"]
    assert failed["path"] == str(path)
    assert failed["error"].startswith("not readable Parquet after row 200: "), failed["error"]
    assert summary["events_added"] == 200


def test_a_row_without_time_is_named(tmp_path, scenario):
    store, _ = scenario
    records = cw.trail_records(store.case.path.parent / "logs")[:10]
    path = write_security_lake(tmp_path / "in" / "x.parquet", records)
    t = pq.read_table(path)
    times = t.column("time").to_pylist()
    times[3] = None
    t = t.set_column(t.schema.get_field_index("time"), "time", [times])
    t = t.set_column(t.schema.get_field_index("time_dt"), "time_dt",
                     [[None if i == 3 else v for i, v in enumerate(t.column("time_dt").to_pylist())]])
    pq.write_table(t, path)
    res = cli_runner().invoke(app, ["ingest", str(path), "--case", str(tmp_path / "c"),
                                   "--format", "json", "--workers", "0"])
    summary = json.loads(res.stdout)
    assert summary["files_failed"] == [{"path": str(path),
                                        "error": "row 4: no time (neither time nor time_dt is set)"}]
    assert summary["events_added"] == 9


def test_parquet_that_is_not_ocsf_is_skipped_not_damaged(tmp_path):
    import pyarrow as pa

    path = tmp_path / "flows.parquet"
    pq.write_table(pa.table({"srcaddr": ["10.0.0.1"], "dstaddr": ["10.0.0.2"]}), path)
    res = cli_runner().invoke(app, ["ingest", str(tmp_path), "--case", str(tmp_path / "c"),
                                   "--format", "json", "--workers", "0"])
    summary = json.loads(res.stdout)
    assert summary["files_failed"] == []
    assert summary["files_skipped"][0]["reason"].startswith("Parquet, but not OCSF")


def test_security_lake_bucket_over_s3(lakes, tmp_path):
    """The Parquet objects under Security Lake's layout in moto's S3, read with ``s3://``
    (each object fetched whole, then streamed by row group): the same events as from disk."""
    import boto3

    from tests.conftest import moto_s3

    _, _, full, _, _ = lakes
    folder = full.path.parent / "full"
    prefix = "aws/CLOUD_TRAIL_MGMT/2.0"
    with moto_s3():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="aws-security-data-lake-us-east-1-example")
        for p in folder.rglob("*.parquet"):
            s3.put_object(Bucket="aws-security-data-lake-us-east-1-example",
                          Key=f"{prefix}/{p.relative_to(folder).as_posix()}", Body=p.read_bytes())
        res = cli_runner().invoke(app, [
            "ingest", f"s3://aws-security-data-lake-us-east-1-example/{prefix}/",
            "--case", str(tmp_path / "c"), "--format", "json", "--workers", "0"])
    assert res.exit_code == 0, res.output
    from graphtrail.store.case import Case

    got, want = by_event_id(Case.open(tmp_path / "c").events()), by_event_id(full.events())
    assert _differs(got, want) == set() and got.num_rows == want.num_rows


def test_csv_summary_names_the_gaps(lakes, tmp_path):
    _, _, _, lean, _ = lakes
    import csv
    import io

    res = cli_runner().invoke(app, ["ingest", str(lean.path.parent / "lean"), "--case",
                                   str(tmp_path / "c"), "--format", "csv", "--workers", "0"])
    [row] = list(csv.DictReader(io.StringIO(res.stdout)))
    assert row["linking_gaps"].split() == ["responseElements.credentials", "sharedEventID",
                                           "sessionContext.sessionIssuer.principalId"]
    assert "sharedEventID missing in" in row["notes"] and "None" not in res.stdout
