"""Rows of the documented CloudTrail table back into CloudTrail records.

Where the engine kept the raw record (``_record``: DuckDB and Spark over trail files), it is
the record. Otherwise (Athena, Parquet) the record is rebuilt from the columns: names get
their CloudTrail spelling back from :data:`~loaders.engines.schema.CLOUDTRAIL_COLUMNS`,
JSON text is decoded, and a struct Athena renders as text (``{type=IAMUser, arn=...}``) is
read with the CloudTrail Lake parser. Fields the table does not carry are lost (the
summary's note says so).

>>> r = record_of_row({"eventid": "e1", "readonly": "true", "requestparameters": None,
...                    "useridentity": "{type=IAMUser, accesskeyid=AKIAEXAMPLE, arn=null}",
...                    "responseelements": '{"a": 1}'})
>>> r["userIdentity"], r["responseElements"], r["readOnly"], "requestParameters" in r
({'type': 'IAMUser', 'accessKeyId': 'AKIAEXAMPLE'}, {'a': 1}, 'true', False)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from loaders.engines.schema import CLOUDTRAIL_COLUMNS, RECORD_COLUMN, Column
from loaders.sources.lake import parse_lake_value

__all__ = ["records_of_rows", "record_of_row"]


def records_of_rows(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict]:
    """One record per row (``names`` are the column names, in order)."""
    out = []
    for row in rows:
        d = dict(zip(names, row, strict=True))
        raw = d.get(RECORD_COLUMN)
        out.append(json.loads(raw) if isinstance(raw, str) and raw else record_of_row(d))
    return out


def record_of_row(row: dict[str, Any]) -> dict[str, Any]:
    """A record from one row of the documented table (column names in any case)."""
    lower = {str(k).lower(): v for k, v in row.items()}
    record = {}
    for c in CLOUDTRAIL_COLUMNS:
        value = _value(c, lower.get(c.name))
        if value is not None:
            record[c.field] = value
    return record


def _value(c: Column, v: Any) -> Any:
    if v is None or v == "" or v == "null":
        return None
    if c.kind == "json":
        return _json(v)
    if c.kind == "map":
        v = parse_lake_value(v) if isinstance(v, str) else v
        return dict(v) if isinstance(v, (dict, list)) else None
    if c.kind in ("struct", "structs"):
        if isinstance(v, str):
            try:
                v = parse_lake_value(v)
            except ValueError:
                return None
        if c.kind == "structs":
            items = [_struct(c, item) for item in (v or []) if isinstance(item, dict)]
            return items or None
        return _struct(c, v) if isinstance(v, dict) else None
    return v if isinstance(v, str) else str(v)


def _struct(c: Column, v: dict) -> dict | None:
    lower = {str(k).lower(): x for k, x in v.items()}
    out = {}
    for f in c.fields:
        value = _value(f, lower.get(f.name))
        if value is not None:
            out[f.field] = value
    return out or None


def _json(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError:
        return v
