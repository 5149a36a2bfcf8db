"""Property-based tests (Hypothesis) of what hostile input reaches: the record splitter, the
field cutter, the normalizer and the output writers. Each property holds for *any* input."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from graphtrail.safe_text import FORMULA_START, csv_cell, markup_text, terminal_text
from graphtrail.views.report.markdown import md_text
from loaders.bounded import FieldCutter
from loaders.events import EventBatch
from loaders.records import split_records
from loaders.schema import record_from_dict
from tests import shapes as S

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Any text, lone surrogates and control characters included.
anything = st.text(alphabet=st.characters(codec=None), max_size=60)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | anything
json_values = st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(anything, kids, max_size=4), max_leaves=20)


records = st.lists(st.fixed_dictionaries(
        {"eventName": anything, "eventSource": anything, "eventTime": anything,
         "userAgent": anything, "awsRegion": anything},
        optional={"userIdentity": json_values, "requestParameters": json_values,
                  "eventID": anything, "recipientAccountId": json_values}), max_size=6)


@SETTINGS
@given(st.binary(max_size=400))
def test_splitter_never_raises_on_any_bytes(data):
    out = split_records(data, "x.json")
    assert isinstance(out.records, list)
    assert out.error is None or isinstance(out.error, str)


@SETTINGS
@given(records, st.sampled_from(["delivery", "array", "lines", "concatenated"]))
def test_splitter_keeps_every_record_in_every_envelope(recs, envelope):
    text = {"delivery": lambda: json.dumps({"Records": recs}),
            "array": lambda: json.dumps(recs),
            "lines": lambda: "\n".join(json.dumps(r) for r in recs),
            "concatenated": lambda: "".join(json.dumps(r) for r in recs)}[envelope]()
    name = "x.jsonl" if envelope == "lines" else "x.json"
    out = split_records(text.encode(), name)
    if not recs:
        return
    assert out.error is None
    assert len(out.records) + sum(out.skipped.values()) == len(recs)
    if not out.skipped:
        assert [r.eventName for r in out.records] == [r["eventName"] for r in recs]


@SETTINGS
@given(json_values, st.integers(min_value=1, max_value=40), st.integers(min_value=1, max_value=64))
def test_field_cutter_keeps_json_valid_and_short_strings_whole(value, limit, step):
    text = json.dumps(value).encode()
    cutter = FieldCutter(limit)
    for i in range(0, len(text), step):
        cutter.feed(text[i:i + step])
    out = json.loads(cutter.value())
    if all(_encoded(s) <= limit for s in _strings(value)):  # measured as JSON text
        assert out == value and cutter.cut == 0
    for s in _strings(out):
        assert _encoded(s) <= limit + 60


def _encoded(s: str) -> int:
    return len(json.dumps(s)) - 2


def _strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from _strings(x)


@SETTINGS
@given(records, st.integers(min_value=8, max_value=64))
def test_normalizer_never_raises_and_bounds_every_field(recs, limit):
    batch = EventBatch(limit)
    built = []
    for r in recs:
        try:
            built.append(record_from_dict(r))
        except (TypeError, ValueError):
            continue  # the splitter counts these as unusable records
    batch.add_many(built, "x.json")
    table = batch.to_table()
    assert table.num_rows <= len(built)
    for f in table.schema:
        if pa.types.is_string(f.type) and f.name != "source_file":
            for v in table.column(f.name).to_pylist():
                assert v is None or len(v.encode()) <= limit + 80  # head + marker


@SETTINGS
@given(st.lists(st.lists(anything, min_size=1, max_size=4), max_size=5))
def test_csv_cells_never_start_a_formula(rows):
    buf = io.StringIO()
    w = csv.writer(buf)
    for row in rows:
        w.writerow([csv_cell(c) for c in row])
    back = list(csv.reader(io.StringIO(buf.getvalue())))
    for row in back:
        for cell in row:
            assert not cell.startswith(FORMULA_START)


@SETTINGS
@given(anything)
def test_terminal_and_markup_text_have_no_controls_and_render_as_written(text):
    for shown in (terminal_text(text), md_text(text)):
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in shown)
    console = Console(file=io.StringIO(), width=10_000, color_system=None, highlight=False,
                      emoji=False)
    console.print(f"[bold]{markup_text(text)}[/bold]", end="", soft_wrap=True)
    assert console.file.getvalue() == terminal_text(text)


def test_story_round_trips_through_the_splitter():
    out = split_records(S.s3_delivery(S.story()), "x.json")
    assert len(out.records) == len(S.story())
