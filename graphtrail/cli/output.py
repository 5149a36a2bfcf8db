"""Printing answers: table, JSON or CSV, the same way for every command."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from graphtrail.safe_text import csv_cell, markup_text, terminal_text

__all__ = ["Format", "emit_json", "emit_rows", "console", "err_console"]

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # messages are never hard-wrapped


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, sort_keys=False) + "\n")


def emit_rows(rows: list[dict], fmt: Format, *, title: str | None = None,
              columns: list[str] | None = None) -> None:
    """Print a list of flat dicts as a rich table, JSON array or CSV."""
    cols = columns or (list(rows[0].keys()) if rows else [])
    if fmt == Format.json:
        emit_json(rows)
    elif fmt == Format.csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: csv_cell(_cell(r.get(k)), raw=csv_raw()) for k in cols})
        sys.stdout.write(buf.getvalue())
    else:
        t = Table(title=markup_text(title) if title else None, show_lines=False,
                  header_style="bold")
        for c in cols:
            t.add_column(markup_text(c), overflow="fold")
        for r in rows:
            # attacker-controlled text: never markup, never a control sequence
            t.add_row(*[Text(terminal_text(_cell(r.get(c)))) for c in cols])
        console.print(t)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple, set)):
        return ", ".join(str(x) for x in v)
    return str(v)


def csv_raw() -> bool:
    """``graphtrail --raw`` (or ``GRAPHTRAIL_CSV_RAW=1``): CSV cells as they are, formulas too."""
    return os.environ.get("GRAPHTRAIL_CSV_RAW", "") not in ("", "0")
