"""What the linker's first pass keeps of the events, as one small table per part.

Pass one of the graph build (:class:`loaders.facts.credentials.Linker`) needs, of every
call, only its identity signature and time (each signature's first and last use), and the
few rows that issue credentials, open console sessions or hand out Identity Center
permission sets. :func:`first_pass_facts` makes that table from a batch or a whole part.

The ingest workers make it for the part they write, from the columns they hold, and the
case keeps it beside the part (``linking/``): the build reads a few kB a part instead of
reading back and grouping every call. A part without it (an older case, or a part whose
duplicates were dropped when it was adopted) is read as before: a batch's facts are the
same table, whichever process made them, and absorbing the parts' tables in the case's
order leaves the linker as observing every batch in that order did.

>>> import pyarrow as pa
>>> from graphtrail.model import event_schema
>>> t = event_schema().empty_table()
>>> first_pass_facts(t).schema.metadata[b"rows"]
b'0'
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from graphtrail.model import event_schema
from loaders.facts.credentials import (
    CONSOLE,
    CONSOLE_COLUMNS,
    FACT_KINDS,
    PORTAL,
    PORTAL_COLUMNS,
    PORTAL_NAMES,
    SIG_COLUMNS,
    SPAN,
    STS,
    STS_COLUMNS,
    STS_NAMES,
    signatures,
)

__all__ = ["first_pass_facts", "FACT_KINDS", "FIRST_PASS_COLUMNS", "facts_schema", "rows_of"]

_ROW_COLUMNS = tuple(dict.fromkeys((*STS_COLUMNS, *CONSOLE_COLUMNS, *PORTAL_COLUMNS)))


def facts_schema() -> pa.Schema:
    """The table's columns: ``kind``, ``sig``, the span (``lo``, ``hi``: µs), and the event
    columns of the rows kept whole (types as in the events table, text never a dictionary)."""
    ev = event_schema()
    return pa.schema([pa.field("kind", pa.string()), pa.field("sig", pa.string()),
                      pa.field("lo", pa.int64()), pa.field("hi", pa.int64()),
                      *(ev.field(c) for c in _ROW_COLUMNS)])


_SCHEMA = facts_schema()
# the event columns pass one reads from a part that has no facts beside it
FIRST_PASS_COLUMNS = tuple(dict.fromkeys(
    (*SIG_COLUMNS, "time", "event_name", "error_code", *_ROW_COLUMNS)))


def first_pass_facts(batch: pa.Table | pa.RecordBatch) -> pa.Table:
    """Pass one's facts of ``batch``: one ``span`` row per identity signature (its first
    and last call), then, in the batch's order, the ``sts`` rows (with their signature),
    the successful ``console`` sign-ins and the ``portal`` calls. The schema's metadata
    ``rows`` is the number of calls they were made from."""
    n = batch.num_rows
    # grouped by the identity columns themselves, the signature joined once a group (a
    # null and an empty field join alike: a signature may come twice, absorbed as one)
    keys = pa.table({c: _plain(batch.column(c)) for c in (*SIG_COLUMNS, "time")})
    agg = keys.group_by(list(SIG_COLUMNS), use_threads=False).aggregate(
        [("time", "min"), ("time", "max")])
    pieces = [_piece(SPAN, {"sig": signatures(agg), "lo": agg.column("time_min").cast(pa.int64()),
                            "hi": agg.column("time_max").cast(pa.int64())}, agg.num_rows)]
    names = _plain(batch.column("event_name"))
    ok = pc.is_null(batch.column("error_code"))
    for kind, mask, cols in (
            (STS, pc.is_in(names, STS_NAMES), STS_COLUMNS),
            (CONSOLE, pc.and_(pc.equal(names, "ConsoleLogin"), ok), CONSOLE_COLUMNS),
            (PORTAL, pc.and_(pc.is_in(names, PORTAL_NAMES), ok), PORTAL_COLUMNS)):
        mask = pc.fill_null(mask, False)
        if not pc.any(mask).as_py():
            continue
        rows = batch.filter(mask)
        found = {c: _plain(rows.column(c)) for c in cols}
        if kind == STS:
            found["sig"] = signatures(rows)
        pieces.append(_piece(kind, found, rows.num_rows))
    table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    return table.replace_schema_metadata({"rows": str(n)})


def rows_of(facts: pa.Table) -> int:
    """The number of calls ``facts`` was made from."""
    return int((facts.schema.metadata or {}).get(b"rows", b"0"))


def _piece(kind: str, cols: dict, n: int) -> pa.Table:
    arrays = [pa.array([kind] * n, pa.string()) if f.name == "kind"
              else _flat(cols[f.name]).cast(f.type) if f.name in cols
              else pa.nulls(n, f.type) for f in _SCHEMA]
    return pa.Table.from_arrays(arrays, schema=_SCHEMA)


def _plain(col):
    col = _flat(col)
    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


def _flat(col):
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
