"""Coverage of a long span: the unlogged windows and counts come from the hours delivered,
the per-hour rows are written as they are made, and the answer is the one the per-hour
walk gives (a naive reference below), byte for byte on the command's JSON."""

import json
import random

import pytest

from graphtrail.cli.output import emit_json, emit_json_streaming
from graphtrail.queries.coverage import bucket_names, coverage, hour_of, parse_parameters

HOUR = 3600


def _naive(delivered):
    """Every account x region x hour of the span, walked one by one (the old road)."""
    seen = {}
    for account, region, moment, how in delivered:
        seen.setdefault((account, region), {}).setdefault(int(moment // HOUR), set()).add(how)
    hours = [h for per in seen.values() for h in per]
    first, last = min(hours), max(hours)
    rows, unlogged = [], []
    for (account, region), per in sorted(seen.items()):
        run = None
        for hour in range(first, last + 1):
            how = per.get(hour)
            rows.append({"account": account, "region": region, "hour": hour_of(hour * HOUR),
                         "delivered": bool(how), "evidence": ", ".join(sorted(how)) if how else ""})
            if how:
                run = None
            elif run is None:
                run = {"account": account, "region": region, "from": hour_of(hour * HOUR),
                       "to": hour_of((hour + 1) * HOUR), "hours": 1}
                unlogged.append(run)
            else:
                run["to"], run["hours"] = hour_of((hour + 1) * HOUR), run["hours"] + 1
    return rows, unlogged


def _delivered(seed: int):
    rng = random.Random(seed)
    pairs = [(a, r) for a in ("111122223333", "444455556666") for r in ("us-east-1", "eu-west-1")]
    start = 1_700_000_000
    out = []
    for account, region in rng.sample(pairs, rng.randint(1, len(pairs))):
        for _ in range(rng.randint(1, 40)):
            out.append((account, region, float(start + rng.randint(0, 300) * HOUR + rng.randint(0, 3599)),
                        rng.choice(["events", "digest", "log files"])))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_windows_and_counts_are_the_per_hour_walks(seed):
    delivered = _delivered(seed)
    rows, unlogged = _naive(delivered)
    full = coverage(delivered, [])
    lean = coverage(delivered, [], every_hour=False)
    assert full.hours == rows and list(lean.every_hour()) == rows and lean.hours == []
    assert full.unlogged == lean.unlogged == unlogged
    assert full.summary == lean.summary
    assert full.summary["hours"] == len(rows)
    assert full.summary["unlogged_hours"] == sum(not r["delivered"] for r in rows)


def test_years_in_many_places_cost_what_was_delivered():
    # 40 account x region pairs, one call each at the start and the end of ten years:
    # 3.5 million account-region-hours, four windows... made without walking them
    delivered = [(f"{a:012d}", r, float(t), "events") for a in range(10)
                 for r in ("us-east-1", "eu-west-1", "ap-south-1", "sa-east-1")
                 for t in (0, 10 * 365 * 24 * HOUR)]
    cov = coverage(delivered, [], every_hour=False)
    span = 10 * 365 * 24 + 1
    assert cov.summary["hours"] == 40 * span
    assert cov.summary["unlogged_hours"] == 40 * (span - 2)
    assert [(u["from"], u["hours"]) for u in cov.unlogged[:1]] == [("1970-01-01T01:00:00Z", span - 2)]
    assert len(cov.unlogged) == 40 and cov.hours == []


@pytest.mark.parametrize("seed", range(6))
def test_the_streamed_json_is_the_json(seed, capsys):
    rng = random.Random(seed)
    texts = ["", "é", "a\"b\\c", "\x00\x1f", "line\nbreak", "\u2028", "😀", "plain"]
    rows = [{"account": rng.choice(texts), "region": rng.choice(texts), "n": rng.randint(-5, 10**12),
             "delivered": rng.random() < 0.5, "none": None,
             **({"nested": {"k": [1, {"x": rng.choice(texts)}], "e": {}}} if rng.random() < 0.3 else {}),
             **({"f": rng.choice([1.5, float("nan"), -0.0])} if rng.random() < 0.3 else {})}
            for _ in range(rng.randint(0, 9000))]
    obj = {"span": {"from": "x", "accounts": [rng.choice(texts)]}, "unlogged": [], "hours": [],
           "summary": {"hours": len(rows)}, "hours_after": {"hours": "\x00"}}
    emit_json({**obj, "hours": rows})
    whole = capsys.readouterr().out
    emit_json_streaming(obj, "hours", iter(rows))
    streamed = capsys.readouterr().out
    assert streamed == whole
    assert json.loads(streamed)["hours"] == json.loads(whole)["hours"]
    # nested, as `verify --coverage` prints it: the rows two levels down
    outer = {"valid": True, "coverage": obj, "after": [1]}
    emit_json({**outer, "coverage": {**obj, "hours": rows}})
    whole = capsys.readouterr().out
    emit_json_streaming(outer, ("coverage", "hours"), iter(rows))
    assert capsys.readouterr().out == whole
    assert outer["coverage"]["hours"] == []  # the caller's object is left as it was


def test_bucket_names_read_as_json_reads_them():
    texts = ['{"bucketName": "logs", "key": "a/b"}', None, "", "[1]", '"text"', "{not json",
             '{"bucketName": "b", "n": NaN}', '{"bucketName": "\\ud800"}', '{"bucketName": 1e400}',
             '{"bucket\\u004eame": "escaped"}', '{"bucketName": "x", "bucketName": "last"}',
             '{"bucketName": {"nested": 1}}', '{"other": 1}']
    assert bucket_names(texts) == [parse_parameters(t).get("bucketName") for t in texts]


def _events(seed: int, n: int = 2000):
    import pyarrow as pa

    rng = random.Random(seed)
    t0 = 1_700_000_000_000_000
    names = ["GetObject", "StopLogging", "StartLogging", "PutEventSelectors", "ListBuckets"]
    sources = {"GetObject": "s3.amazonaws.com", "ListBuckets": "s3.amazonaws.com"}
    rows = []
    for i in range(n):
        name = rng.choice(names)
        rows.append({
            "time": t0 + rng.randint(0, 200) * 3_600_000_000 + rng.randint(0, 10**9),
            "recipient_account_id": rng.choice(["111122223333", None, ""]),
            "account_id": rng.choice(["444455556666", None]),
            "region": rng.choice(["us-east-1", "eu-west-1", None]),
            "event_source": sources.get(name, "cloudtrail.amazonaws.com"),
            "event_name": name,
            "event_category": "Data" if name == "GetObject" else "Management",
            "error_code": rng.choice([None, None, None, "AccessDenied"]),
            "event_id": f"e{i}",
            "request_parameters": rng.choice([
                json.dumps({"bucketName": rng.choice(["logs", "data", "x"]), "key": "k"}),
                json.dumps({"name": f"trail-{rng.randint(0, 2)}"}), None, "[1]", '{"bucketName": 7}'])})
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("time", pa.timestamp("us", tz="UTC")), *[(c, pa.string()) for c in (
            "recipient_account_id", "account_id", "region", "event_source", "event_name",
            "event_category", "error_code", "event_id", "request_parameters")]]))
    return table


@pytest.mark.parametrize("seed", range(4))
def test_a_case_read_in_batches_gives_the_answer_of_the_whole_table(seed):
    import pyarrow as pa

    from graphtrail.queries.coverage import coverage_of_case

    table = _events(seed)
    whole = coverage_of_case(table).as_dict()
    coded = table
    for name in ("recipient_account_id", "region", "event_source", "event_name"):  # as a case reads them
        i = coded.schema.get_field_index(name)
        coded = coded.set_column(i, name, coded.column(i).dictionary_encode())
    batches = coded.to_batches(max_chunksize=97)
    assert len(batches) > 10
    assert coverage_of_case(iter(batches)).as_dict() == whole
    lean = coverage_of_case(iter(batches), every_hour=False)
    assert {**lean.as_dict(), "hours": list(lean.every_hour())} == whole
    assert whole["data_events"] and whole["stopped"]
    assert isinstance(table, pa.Table)
