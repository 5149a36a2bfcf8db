"""Printing answers: table, JSON or CSV, the same way for every command.

The output is a contract: JSON is strict (a missing or non-finite number is ``null``, never
``NaN``), CSV leaves a missing cell empty, text never shows Python's ``None`` or ``nan``, and
times are ISO 8601 UTC with ``Z`` in all three.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from pathlib import PurePath
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from graphtrail.cli.table import RICH_ROWS, print_table
from graphtrail.safe_text import csv_cell, markup_text, terminal_text

__all__ = ["Format", "emit_json", "emit_rows", "console", "err_console", "jsonable", "cell",
           "iso_z",
           "graph_progress"]

console = Console(emoji=False)
err_console = Console(stderr=True, soft_wrap=True, emoji=False)  # messages are never hard-wrapped


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def iso_z(t: datetime) -> str:
    """A time as ISO 8601 UTC with ``Z`` (a naive time is taken as UTC).

    >>> iso_z(datetime(2024, 8, 1, 13, 42, 21, tzinfo=UTC))
    '2024-08-01T13:42:21Z'
    """
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if t.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return t.strftime(fmt)


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return not math.isfinite(v)
    pd = sys.modules.get("pandas")  # no pandas loaded: no pandas value to meet
    return pd is not None and (v is pd.NaT or v is pd.NA)


def jsonable(obj: Any) -> Any:
    """``obj`` with only JSON values: missing -> None, times -> ISO Z, numpy -> Python.

    >>> jsonable({"a": float("nan"), "b": [1.5, float("inf")], "t": datetime(2024, 8, 1)})
    {'a': None, 'b': [1.5, None], 't': '2024-08-01T00:00:00Z'}
    """
    t = type(obj)
    if t is str or t is int or t is bool:  # most values: no test below changes them
        return obj
    # strings inline, not a call each (an answer holds hundreds of thousands)
    if t is dict:
        return {k if type(k) is str else str(k): v if type(v) is str else jsonable(v)
                for k, v in obj.items()}
    if t is list:
        return [v if type(v) is str else jsonable(v) for v in obj]
    if _missing(obj):
        return None
    if isinstance(obj, bool | int | str):
        return obj.value if isinstance(obj, Enum) else obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, datetime):
        return iso_z(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted(jsonable(v) for v in obj)
    if isinstance(obj, PurePath | Enum):
        return str(obj.value if isinstance(obj, Enum) else obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return jsonable(obj.item())
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays
        return jsonable(obj.tolist())
    return str(obj)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON (no NaN or Infinity)."""
    sys.stdout.write(dumps_indented(jsonable(obj)) + "\n")


def dumps_indented(obj: Any) -> str:
    """``json.dumps(obj, indent=2, allow_nan=False)``, several times faster: the json module
    encodes in Python when it indents, so the C encoder writes the text on one line and
    msgspec re-indents it (it copies strings and numbers as they are written: the same
    escapes, the same digits).

    >>> v = {"a": [1, 2.5, None, True, "é\\n\\x7f"], "b": {}, "c": [], "d": {"e": [{"f": -0.0}]}}
    >>> dumps_indented(v) == json.dumps(v, indent=2, allow_nan=False)
    True
    >>> w = [{1: {"x": None}, True: []}, [[]], [{}], "s", 1e300, 12345678901234567890123]
    >>> dumps_indented(w) == json.dumps(w, indent=2, allow_nan=False)
    True
    >>> dumps_indented({"n": float("nan")})
    Traceback (most recent call last):
    ...
    ValueError: Out of range float values are not JSON compliant...
    """
    import msgspec  # about 5 ms: only for a command that writes JSON

    return msgspec.json.format(json.dumps(obj, allow_nan=False), indent=2)


def emit_json_streaming(obj: dict, path: str | tuple[str, ...], rows: Iterable[dict]) -> None:
    """Print what ``emit_json`` prints of ``obj`` with the list ``rows`` at ``path`` (a key,
    or the keys down to it: ``("coverage", "hours")``), byte for byte, writing the rows as
    they are made: an answer of millions of rows is never held whole, as objects or as text.
    ``rows``: flat dicts of text, booleans, integers and None (anything else is written by
    :func:`dumps_indented`, the same way, only slower).
    """
    import uuid

    keys = (path,) if isinstance(path, str) else tuple(path)
    marker = f"\x00{uuid.uuid4().hex}\x00"  # no value of the answer can be it
    whole = inner = dict(obj)
    for k in keys[:-1]:
        inner[k] = dict(inner[k])
        inner = inner[k]
    inner[keys[-1]] = marker
    text = dumps_indented(jsonable(whole))
    key = json.dumps(keys[-1])
    head, tail = text.split(f"{key}: {json.dumps(marker)}", 1)
    pad = "  " * len(keys)  # the list's own indentation; its rows one step further
    out = sys.stdout
    out.write(f"{head}{key}: ")
    chunk: list[str] = []
    written = False
    for row in rows:
        chunk.append(_row_text(row, pad + "  "))
        if len(chunk) >= 4096:
            out.write(("[\n" if not written else ",\n") + ",\n".join(chunk))
            written, chunk = True, []
    if chunk:
        out.write(("[\n" if not written else ",\n") + ",\n".join(chunk))
        written = True
    out.write((f"\n{pad}]" if written else "[]") + tail + "\n")


def _row_text(row: dict, pad: str) -> str:
    """One flat dict as ``dumps_indented`` writes it inside a list at depth ``pad``."""
    if not row:
        return pad + "{}"
    parts = []
    for k, v in row.items():
        t = type(v)
        if t is str:
            value = json.dumps(v)
        elif t is bool:
            value = "true" if v else "false"
        elif t is int:
            value = str(v)
        elif v is None:
            value = "null"
        else:  # nested or unusual: the slow road, re-indented to its depth
            value = dumps_indented(jsonable(v)).replace("\n", "\n" + pad + "  ")
        parts.append(f"{pad}  {json.dumps(k if type(k) is str else str(k))}: {value}")
    return pad + "{\n" + ",\n".join(parts) + "\n" + pad + "}"


def emit_rows(rows: Iterable[dict], fmt: Format, *, title: str | None = None,
              columns: list[str] | None = None, no_wrap: frozenset[str] = frozenset()) -> None:
    """Print a list of flat dicts as a rich table, JSON array or CSV.

    ``no_wrap``: table columns kept on one line (short codes); the others wrap.
    """
    if fmt == Format.csv and columns:  # written as made: ``rows`` may be a generator
        _emit_csv(rows, columns)
        return
    rows = rows if isinstance(rows, list) else list(rows)
    cols = columns or (list(rows[0].keys()) if rows else [])
    if fmt == Format.json:
        emit_json(rows)
    elif fmt == Format.csv:
        _emit_csv(rows, cols)
    elif len(rows) > RICH_ROWS:  # the same box, drawn from plain strings (graphtrail.cli.table)
        print_table(console, [terminal_text(c) for c in cols],
                    [[terminal_text(cell(r.get(c))) for c in cols] for r in rows],
                    title=terminal_text(title) if title else None, no_wrap=no_wrap)
    else:
        t = Table(title=markup_text(title) if title else None, show_lines=False,
                  header_style="bold")
        for c in cols:
            t.add_column(markup_text(c), overflow="fold", no_wrap=c in no_wrap)
        for r in rows:
            # attacker-controlled text: never markup, never a control sequence
            t.add_row(*[Text(terminal_text(cell(r.get(c)))) for c in cols])
        console.print(t)


def _emit_csv(rows: Iterable[dict], cols: list[str]) -> None:
    """CSV of ``rows``, written a few thousand rows at a time."""
    raw = csv_raw()
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for n, r in enumerate(rows, 1):
        w.writerow({k: csv_cell(cell(r.get(k)), raw=raw) for k in cols})
        if not n % 4096:
            sys.stdout.write(buf.getvalue())
            buf.seek(0)
            buf.truncate()
    sys.stdout.write(buf.getvalue())


def rate_column(unit: str, field: str | None = None):
    """A progress column: ``unit`` a second since the stage began (``12,345 events/s``),
    counted from ``task.fields[field]`` or, without ``field``, from the task's progress."""
    from rich.progress import ProgressColumn

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            done = task.fields.get(field, 0) if field else task.completed
            secs = task.elapsed or 0.0
            rate = f"{done / secs:,.0f}" if secs > 0 else "?"
            return Text(f"{rate} {unit}/s", style="progress.data.speed")

    return RateColumn()


@contextmanager
def stage_progress(unit: str = "events"):
    """Progress bars on stderr (only on a terminal), one a stage, each with its rate;
    yields ``tick(stage, done, total)``."""
    if not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn(unit), rate_column(unit), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def tick(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                for other in tasks.values():  # a new stage: the ones before it are done
                    bar.stop_task(other)
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield tick


@contextmanager
def graph_progress():
    """The graph build's stages on stderr, a third of its ``total`` each: linking
    credentials (who issued what), building the graph from every call, then writing the
    calls clustered by actor; yields ``tick(done, total)`` for
    :func:`graphtrail.wiring.build_case_graph`."""
    with stage_progress("events") as tick:
        if tick is None:
            yield None
            return

        def stages(done: int, total: int) -> None:
            third = total // 3
            if done <= third:
                tick("link credentials", done, third)
            elif done <= 2 * third:
                tick("build graph", done - third, third)
            else:
                tick("cluster calls by actor", done - 2 * third, total - 2 * third)

        yield stages


def cell(v: Any) -> str:
    """One value as text: missing -> empty, times ISO Z, lists joined with ``, ``.

    >>> [cell(None), cell(float("nan")), cell(["a", "b"]), cell(datetime(2024, 8, 1, tzinfo=UTC))]
    ['', '', 'a, b', '2024-08-01T00:00:00Z']
    """
    v = jsonable(v)
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join(cell(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, allow_nan=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def csv_raw() -> bool:
    """``graphtrail --raw`` (or ``GRAPHTRAIL_CSV_RAW=1``): CSV cells as they are, formulas too."""
    return os.environ.get("GRAPHTRAIL_CSV_RAW", "") not in ("", "0")
